"""Hyperspectral unmixing: SS-NMF against VCA+FCLS, plain NMF and its own ablations.

Scenes:

* Samson (95 x 95 pixels, 156 bands, 3 endmembers; ``../shared/data/hyperspectral/samson``,
  or ``$NMFKIT_DATA/hyperspectral/samson``), clean and with white Gaussian
  noise at 30 and 20 dB SNR (several noise seeds);
* a generated scene the defaults were not chosen on
  (:func:`nmfkit.datasets.make_hyperspectral_scene`, 60 x 80 pixels, 120
  bands, 6 endmembers, shading 0.3, seeds 10+; the defaults were set on 50 x 50,
  100-band, 4-endmember scenes without shading, seeds 0-2), at 30 and 20 dB.

Methods (all with ``random_state`` = the seed):

* ``VCA+FCLS``: :func:`nmfkit.unmixing.vca` endmembers, :func:`fcls` abundances;
* ``NMF+ASC``: plain NMF with the sum-to-one constraint (``SSNMF(lam=0, mu=0,
  dispersion=0, normalize=False)``: the textbook baseline on the raw pixels);
* ``NMF+ASC (norm.)``: the same on unit-norm pixels (``normalize=True``);
* ``graph only`` (``mu=0``), ``L1 only`` (``lam=0``), ``no dispersion``
  (``dispersion=0``: the objective of Zhu et al. alone) -- ablations of
* ``SS-NMF``: ``SSNMF`` with its defaults.

Metrics: mean spectral angle (degrees) and abundance RMSE, both after
Hungarian matching to the reference endmembers; fit time (seconds, one BLAS
thread, best of one). Writes the ``bench_unmixing`` section of
``docs/benchmarks.md`` and the report section of ``docs/unmixing.md``, and
the abundance maps to ``docs/img/unmixing_samson.png``.

    python benchmarks/bench_unmixing.py [--quick] [--seeds 3] [--no-write]
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    command_line,
    load_average,
    machine_table,
    markdown_table,
    update_doc_section,
    utc_now,
)

from nmfkit import SSNMF  # noqa: E402
from nmfkit.datasets import load_samson, make_hyperspectral_scene  # noqa: E402
from nmfkit.unmixing import (  # noqa: E402
    abundance_rmse,
    fcls,
    spectral_angle_distance,
    vca,
)

METHODS = [
    ("VCA+FCLS", None),
    ("NMF+ASC", dict(lam=0, mu=0, dispersion=0, normalize=False)),
    ("NMF+ASC (norm.)", dict(lam=0, mu=0, dispersion=0)),
    ("graph only", dict(mu=0)),
    ("L1 only", dict(lam=0)),
    ("no dispersion", dict(dispersion=0)),
    ("SS-NMF", dict()),
]


def add_noise(X, snr_db, seed):
    if snr_db is None:
        return X
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(np.mean(X**2) / 10 ** (snr_db / 10))
    return X + sigma * rng.standard_normal(X.shape)


def run_method(params, X, k, image_shape, seed):
    t0 = time.perf_counter()
    if params is None:
        E, _ = vca(np.maximum(X, 0), k, random_state=seed)
        A = fcls(X, E)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # negative noisy values are clipped
            model = SSNMF(k, image_shape=image_shape, random_state=seed, **params)
            A = model.fit_transform(X)
        E = model.components_
    return E, A, time.perf_counter() - t0


def evaluate(X, A_ref, M_ref, image_shape, seed, keep=None):
    out = {}
    for name, params in METHODS:
        E, A, t = run_method(params, X, M_ref.shape[0], image_shape, seed)
        sad = spectral_angle_distance(M_ref, E)[1]
        rmse = abundance_rmse(A_ref, A, reference_endmembers=M_ref, endmembers=E)[1]
        out[name] = (sad, rmse, t)
        if keep is not None:
            keep[name] = (E, A)
    return out


def summarize(runs):
    """{name: [(sad, rmse, t), ...]} -> {name: (mean sad, sd, mean rmse, sd, mean t, max t)}."""
    res = {}
    for name, vals in runs.items():
        v = np.asarray(vals)
        res[name] = (v[:, 0].mean(), v[:, 0].std(), v[:, 1].mean(), v[:, 1].std(),
                     v[:, 2].mean(), v[:, 2].max())
    return res


def table(results, levels):
    headers = ["method"] + [f"{lvl}: SAD (deg)" for lvl in levels] + \
        [f"{lvl}: RMSE" for lvl in levels] + ["time (s)"]
    rows = []
    for name, _ in METHODS:
        row = [f"**{name}**" if name == "SS-NMF" else name]
        for lvl in levels:
            s = results[lvl][name]
            row.append(f"{s[0]:.2f} ± {s[1]:.2f}" if s[1] > 0 else f"{s[0]:.2f}")
        for lvl in levels:
            s = results[lvl][name]
            row.append(f"{s[2]:.4f} ± {s[3]:.4f}" if s[3] > 0 else f"{s[2]:.4f}")
        row.append(f"{np.mean([results[lvl][name][4] for lvl in levels]):.2f}")
        rows.append(row)
    return markdown_table(headers, rows)


def goals(results, levels, scene):
    lines = []
    for lvl in levels:
        r = results[lvl]
        ss = r["SS-NMF"]
        for other in ("VCA+FCLS", "NMF+ASC"):
            o = r[other]
            ok_sad, ok_rmse = ss[0] < o[0], ss[2] < o[2]
            verdict = "met" if ok_sad and ok_rmse else "**not met**"
            lines.append(
                f"- {scene}, {lvl}: SS-NMF vs {other}: SAD {ss[0]:.2f} vs {o[0]:.2f}, "
                f"RMSE {ss[2]:.4f} vs {o[2]:.4f} -- {verdict}")
    return lines


def save_maps(keep, A_ref, image_shape, names, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no abundance maps")
        return None
    from nmfkit._core.align import match_components

    shown = ["VCA+FCLS", "NMF+ASC", "SS-NMF"]
    k = A_ref.shape[1]
    fig, axes = plt.subplots(len(shown) + 1, k, figsize=(2.4 * k, 2.4 * (len(shown) + 1)),
                             squeeze=False)
    for j in range(k):
        axes[0, j].imshow(A_ref[:, j].reshape(image_shape), vmin=0, vmax=1)
        axes[0, j].set_title(f"{names[j]}: reference", fontsize=9)
    for i, name in enumerate(shown, start=1):
        E, A = keep[name]
        A = A[:, match_components(A_ref.T, A.T)]
        for j in range(k):
            axes[i, j].imshow(A[:, j].reshape(image_shape), vmin=0, vmax=1)
            axes[i, j].set_title(f"{names[j]}: {name}", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one seed, clean and 20 dB Samson, a smaller generated scene")
    parser.add_argument("--seeds", type=int, default=3, help="noise seeds per level")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    seeds = 1 if args.quick else args.seeds
    data = Path(os.environ.get("NMFKIT_DATA", REPO_ROOT.parent / "shared" / "data"))
    samson = load_samson(data / "hyperspectral" / "samson")
    X0, A_ref, M_ref = samson.data, samson.abundances, samson.endmembers
    shape = samson.image_shape
    levels = ["clean", "20 dB"] if args.quick else ["clean", "30 dB", "20 dB"]
    snr = {"clean": None, "30 dB": 30.0, "20 dB": 20.0}

    def scan(label, scenes, keep=None):
        """Evaluate every method on ``(seed, X, A, M, shape)`` scenes; summarize."""
        runs = {name: [] for name, _ in METHODS}
        for seed, X, A, M, image_shape in scenes:
            out = evaluate(X, A, M, image_shape, seed, keep=keep)
            for name, v in out.items():
                runs[name].append(v)
            print(f"{label} seed {seed}: " + ", ".join(
                f"{n} {v[0]:.2f}/{v[1]:.4f}/{v[2]:.1f}s" for n, v in out.items()),
                flush=True)
        return summarize(runs)

    results, keep = {}, {}
    gen_levels = ["30 dB", "20 dB"]
    gen_results = {}
    gshape = (40, 50) if args.quick else (60, 80)
    with threadpool_limits(limits=1, user_api="blas"):
        for lvl in levels:
            scenes = ((s, add_noise(X0, snr[lvl], s), A_ref, M_ref, shape)
                      for s in range(1 if lvl == "clean" else seeds))
            results[lvl] = scan(f"Samson {lvl}", scenes,
                                keep=keep if lvl == "clean" else None)
        for lvl in gen_levels:
            scenes = ((s, *make_hyperspectral_scene(
                *gshape, n_bands=120, n_endmembers=6, snr=snr[lvl], shading=0.3,
                random_state=10 + s), gshape) for s in range(seeds))
            gen_results[lvl] = scan(f"generated {lvl}", scenes)

    ss_times = [results[lvl]["SS-NMF"][5] for lvl in levels]
    clean_sad = results["clean"]["SS-NMF"][0]
    goal_lines = goals(results, levels, "Samson") + goals(gen_results, gen_levels,
                                                          "generated")
    goal_lines.append(
        f"- Samson clean: SS-NMF mean SAD {clean_sad:.2f} deg (goal <= 3) -- "
        + ("met" if clean_sad <= 3 else "**not met**"))
    goal_lines.append(
        f"- Samson fit time: at most {max(ss_times):.2f} s per SS-NMF fit (goal < 10 s, "
        "one BLAS thread, machine shared) -- "
        + ("met" if max(ss_times) < 10 else "**not met**"))
    img = None
    if not args.no_write:
        img = save_maps(keep, A_ref, shape, samson.target_names,
                        REPO_ROOT / "docs" / "img" / "unmixing_samson.png")

    body = [
        "## Hyperspectral unmixing (`bench_unmixing.py`)",
        "",
        f"Command: `{command_line()}` -- {utc_now()}, load average {load_average()}.",
        f"Noise seeds per noisy level: {seeds}. Mean ± standard deviation over the "
        "seeds; SAD = mean spectral angle to the reference endmembers (degrees), "
        "RMSE = abundance RMSE, both after Hungarian matching; time = mean seconds "
        "per fit (one BLAS thread).",
        "",
        "### Samson (95 x 95 pixels, 156 bands, 3 endmembers)",
        "",
        *table(results, levels),
        "",
        f"### Generated scene, not used to set the defaults ({gshape[0]} x {gshape[1]} "
        "pixels, 120 bands, 6 endmembers, shading 0.3)",
        "",
        *table(gen_results, gen_levels),
        "",
        "### Goals",
        "",
        *goal_lines,
        "",
    ]
    if img is not None:
        body += ["![Samson abundance maps](img/unmixing_samson.png)", ""]
    body += ["<details><summary>machine</summary>", "", *machine_table(), "",
             "</details>"]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        update_doc_section("bench_unmixing", text)
        update_doc_section("bench_unmixing", text,
                           path=REPO_ROOT / "docs" / "unmixing.md",
                           title="# Hyperspectral unmixing with SS-NMF")


if __name__ == "__main__":
    main()
