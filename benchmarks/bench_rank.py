"""Benchmark: which NMFk selection rule finds the known rank?

Every case has a known answer. One NMFk scan per case computes every
criterion; ``NMFk.picks_`` holds the rank each selection rule picks from that
same scan, so the rules are compared on identical fits. The cases:

* planted dense matrices ``X = W H + noise`` (sparse exponential factors,
  uniform noise of 1% to 20% of the mean entry), ranks 3 to 6;
* planted sparse matrices (scipy CSR: only the non-zeros of ``W H`` plus
  noise are stored), ranks 3 and 5;
* generated topic corpora (:func:`nmfkit.datasets.make_topic_corpus`) of 4, 6
  and 8 topics with different document lengths and vocabularies, through
  :class:`~nmfkit.text.SeNMFk`;
* the arXiv abstracts of April 2007 (``../shared/data/text/
  arxiv_2007_abstracts/``), through SeNMFk: the documents whose primary
  archive (``hep-*`` merged into ``hep``) has at least 100 documents --
  astro-ph, math, cond-mat, hep, physics, quant-ph: 6 classes;
* the Samson scene (``../shared/data/hyperspectral/samson/``, 3 endmembers),
  through ``NMFk(SSNMF(image_shape=...))``;
* planted non-negative CP tensors (samples x 10 x 8) of ranks 3 and 4,
  through ``NMFk(NonnegativeCP(tensor_shape=...))``.

A pick is a hit when it equals the planted rank (planted matrices and
tensors), or lies within +-1 of the known count (generated corpora, arXiv,
Samson: data whose "rank" is a class count). The table gives every rule's
pick per case and its hit rate; the default of ``NMFk(selection=...)`` is
the rule with the best hit rate over all cases.

For SeNMFk it also reports the NMI of each document's dominant topic against
the labels at the chosen k, beside plain KL-NMF's at the same k (nmfkit's
``NMF(solver="mu", beta_loss="kullback-leibler", init="random")``, mean of
three seeds).

Rerun it after any solver change: the picks depend on the solvers' fits.

Run from the repository root::

    python benchmarks/bench_rank.py            # the full table (writes docs/)
    python benchmarks/bench_rank.py --quick    # a smoke run, writes nothing
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
try:
    import nmfkit  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    command_line,
    load_average,
    markdown_table,
    update_doc_section,
    utc_now,
)
from sklearn.metrics import normalized_mutual_info_score  # noqa: E402

from nmfkit import NMF, NonnegativeCP, SSNMF  # noqa: E402
from nmfkit.datasets import make_topic_corpus  # noqa: E402
from nmfkit.rank import SELECTION_RULES, NMFk, NMFkDisplay, select_rank  # noqa: E402
from nmfkit.text import SeNMFk  # noqa: E402

DOC_PAGE = REPO / "docs" / "rank_selection.md"
IMG = REPO / "docs" / "img" / "rank_criteria.png"


def data_root():
    root = os.environ.get("NMFKIT_DATA")
    return Path(root) if root else REPO.parent / "shared" / "data"


# ----------------------------------------------------------------- cases
def planted_matrix(n, m, k, noise, seed, sparse=False):
    rng = np.random.RandomState(seed)
    W = rng.exponential(size=(n, k)) * (rng.rand(n, k) < 0.5)
    H = rng.exponential(size=(k, m)) * (rng.rand(k, m) < 0.4)
    W[rng.randint(n, size=k), np.arange(k)] += 1.0
    H[np.arange(k), rng.randint(m, size=k)] += 1.0
    X = W @ H
    E = noise * X.mean() * rng.rand(n, m)
    if sparse:
        return sp.csr_matrix(np.where(X > 0, X + E, 0.0))
    return X + E


def planted_tensor(n, shape, k, noise, seed):
    rng = np.random.RandomState(seed)
    A = rng.exponential(size=(n, k)) * (rng.rand(n, k) < 0.6)
    A[rng.randint(n, size=k), np.arange(k)] += 1.0
    B = rng.exponential(size=(shape[0], k))
    C = rng.exponential(size=(shape[1], k)) * (rng.rand(shape[1], k) < 0.6)
    C[rng.randint(shape[1], size=k), np.arange(k)] += 1.0
    T = np.einsum("ir,jr,kr->ijk", A, B, C).reshape(n, -1)
    return T + noise * T.mean() * rng.rand(*T.shape)


def arxiv_case():
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    path = data_root() / "text" / "arxiv_2007_abstracts" / "arxiv_data.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, usecols=["categories", "abstract"])
    archive = df["categories"].str.split().str[0].str.split(".").str[0]
    archive = archive.where(~archive.str.startswith("hep"), "hep")
    counts = archive.value_counts()
    keep = archive.isin(counts[counts >= 100].index).to_numpy()
    vec = TfidfVectorizer(min_df=5, max_df=0.5, stop_words="english")
    X = vec.fit_transform(df["abstract"][keep])
    labels = archive[keep].to_numpy()
    return X, labels, int((counts >= 100).sum())


def cases(quick):
    """(name, kind, truth, tolerance, make_model, X, labels)."""
    P = 4 if quick else 12
    out = []

    def nmfk(base=None, ks=range(2, 9), **kw):
        return lambda: NMFk(base, n_components_range=ks, n_perturbs=P,
                            random_state=0, n_jobs=2, **kw)

    dense = [(120, 80, 3, 0.01), (150, 100, 5, 0.05), (100, 90, 4, 0.1),
             (160, 120, 6, 0.2)]
    for i, (n, m, k, noise) in enumerate(dense[:2] if quick else dense):
        out.append((f"planted dense {n}x{m}, k={k}, noise {noise:.0%}", "planted",
                    k, 0, nmfk(), planted_matrix(n, m, k, noise, seed=10 + i), None))
    sparse = [(200, 150, 3, 0.05), (300, 200, 5, 0.1)]
    for i, (n, m, k, noise) in enumerate(sparse[:1] if quick else sparse):
        out.append((f"planted sparse {n}x{m}, k={k}, noise {noise:.0%}", "planted",
                    k, 0, nmfk(), planted_matrix(n, m, k, noise, seed=20 + i,
                                                 sparse=True), None))
    tensors = [(80, (10, 8), 3, 0.02), (100, (10, 8), 4, 0.05)]
    for i, (n, shape, k, noise) in enumerate(tensors[:1] if quick else tensors):
        out.append((f"planted tensor {n}x{shape[0]}x{shape[1]}, k={k}, noise "
                    f"{noise:.0%}", "planted", k, 0,
                    nmfk(NonnegativeCP(tensor_shape=shape, max_iter=300, tol=1e-5),
                         ks=range(2, 8)),
                    planted_tensor(n, shape, k, noise, seed=30 + i), None))
    corpora = [(4, 800, 1000, 60.0), (6, 1200, 2000, 100.0), (8, 1500, 1500, 40.0)]
    for i, (t, d, v, length) in enumerate(corpora[:1] if quick else corpora):
        X, labels, _, _ = make_topic_corpus(n_documents=d, n_words=v, n_topics=t,
                                            doc_length=length, random_state=40 + i)
        out.append((f"topic corpus {d} docs x {v} words, {t} topics, "
                    f"{length:.0f} words/doc", "labelled", t, 1,
                    lambda: SeNMFk(n_components_range=range(2, 11), n_perturbs=P,
                                   random_state=0, n_jobs=2),
                    X, labels))
    if not quick:
        arxiv = arxiv_case()
        if arxiv is not None:
            X, labels, n_classes = arxiv
            out.append((f"arXiv 2007 abstracts ({X.shape[0]} docs, {n_classes} "
                        "archives)", "labelled", n_classes, 1,
                        lambda: SeNMFk(n_components_range=range(2, 11),
                                       n_perturbs=P, random_state=0, n_jobs=2),
                        X, labels))
        samson = data_root() / "hyperspectral" / "samson"
        if (samson / "Samson.mat").is_file():
            from nmfkit.datasets import load_samson

            scene = load_samson(samson)
            out.append(("Samson 95x95 pixels, 156 bands (3 endmembers)", "labelled",
                        3, 1, nmfk(SSNMF(image_shape=scene.image_shape,
                                         max_iter=200), ks=range(2, 7)),
                        scene.data, None))
    return out


def kl_nmf_nmi(X, labels, k):
    scores = []
    for seed in range(3):
        m = NMF(n_components=k, solver="mu", beta_loss="kullback-leibler",
                init="random", max_iter=200, random_state=seed)
        W = m.fit_transform(X)
        scores.append(normalized_mutual_info_score(labels, W.argmax(axis=1)))
    return float(np.mean(scores))


# ----------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 5 small cases, 4 perturbations, no docs")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--from-json", default=None,
                        help="rebuild the report from a --dump file (no fits)")
    parser.add_argument("--dump", default=None,
                        help="also write every case's criteria to this JSON file")
    args = parser.parse_args(argv)
    command = command_line()
    load_start = load_average()
    started = utc_now()
    tic_all = time.perf_counter()
    results = []
    if args.from_json:
        import json

        results = json.loads(Path(args.from_json).read_text())
        command = results[0].get("command", command)
        started = results[0].get("started", started)
        load_start = results[0].get("load_start", load_start)
        for row in results:  # the picks of the rules as they are now
            crit = {k: np.asarray(v, dtype=float) for k, v in row["criteria"].items()}
            row["picks"] = {
                r: row["ks"][select_rank(crit, r, row["threshold"], row["ks"])[0]]
                for r in SELECTION_RULES
                if r != "heldout" or np.any(np.isfinite(crit["heldout"]))}
    for name, kind, truth, tol, make, X, labels in (
            [] if args.from_json else cases(args.quick)):
        model = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tic = time.perf_counter()
            W = model.fit_transform(X)
            seconds = time.perf_counter() - tic
        nmfk = model.nmfk_ if hasattr(model, "nmfk_") else model
        row = dict(name=name, kind=kind, truth=truth, tol=tol, picks=dict(nmfk.picks_),
                   seconds=seconds, chosen=model.n_components_,
                   decided_by=nmfk.decided_by_,
                   ks=nmfk.n_components_range_.tolist(),
                   criteria={k: v.tolist() for k, v in nmfk.criteria_.items()},
                   errors={k: v.tolist() for k, v in nmfk.errors_.items()},
                   threshold=nmfk.silhouette_threshold)
        if labels is not None:
            row["nmi"] = normalized_mutual_info_score(labels, W.argmax(axis=1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row["nmi_kl"] = kl_nmf_nmi(X, labels, model.n_components_)
        results.append(row)
        picks = ", ".join(f"{r}={k}" for r, k in row["picks"].items())
        extra = (f"  NMI {row['nmi']:.3f} (KL-NMF {row['nmi_kl']:.3f})"
                 if "nmi" in row else "")
        print(f"{name}: truth {truth}; {picks}; {seconds:.1f} s{extra}", flush=True)

    rules = [r for r in SELECTION_RULES]
    hits = {r: [] for r in rules}
    for row in results:
        for r in rules:
            k = row["picks"].get(r)
            hits[r].append(None if k is None else abs(k - row["truth"]) <= row["tol"])
    rates = {}
    for r in rules:
        scored = [h for h in hits[r] if h is not None]
        rates[r] = (sum(scored), len(scored))
    # ties: the smaller mean distance |pick - known| over the cases, then
    # the order of SELECTION_RULES
    def mean_miss(r):
        d = [abs(row["picks"][r] - row["truth"]) for row in results
             if r in row["picks"]]
        return float(np.mean(d)) if d else np.inf

    # the default must apply to every base estimator: a rule that some cases
    # cannot use (heldout: no score) competes with its hits over all cases
    best = min(rules, key=lambda r: (-rates[r][0] / len(results),
                                     mean_miss(r), rules.index(r)))
    print("hit rates:", {r: f"{a}/{b}" for r, (a, b) in rates.items()},
          "best:", best)
    total = (results[0].get("total", 0.0) if args.from_json
             else time.perf_counter() - tic_all)
    if results:
        import nmfkit.rank as rank_module

        results[0].update(command=command, started=started, load_start=load_start,
                          total=total)
        # runs whose held-out score was measured (5 in the run of 2026-12-03,
        # whose dump predates this field)
        results[0].setdefault("scored_runs", 5 if args.from_json
                              else rank_module._N_SCORED_RUNS)
    if args.dump:
        import json

        Path(args.dump).write_text(json.dumps(results, indent=1, default=float))
    if args.quick or args.no_write:
        return results
    body = report(results, rules, rates, best, command, started, load_start, total)
    update_doc_section("bench_rank", "## NMFk rank selection rules "
                       "(`bench_rank.py`)\n\n" + body)
    write_page(results, rules, rates, best, body)
    print(f"wrote docs/benchmarks.md, {DOC_PAGE.relative_to(REPO)}, "
          f"{IMG.relative_to(REPO)}")
    return results


def report(results, rules, rates, best, command, started, load_start, total):
    import re

    # the dump file is a local path: not part of the command to quote
    command = re.sub(r" --(dump|from-json) \S+", "", command)
    head = ["case", "known"] + rules + ["s"]
    rows = []
    for row in results:
        cells = [row["name"], f"{row['truth']}" + (" ±1" if row["tol"] else "")]
        for r in rules:
            k = row["picks"].get(r)
            if k is None:
                cells.append("–")
            else:
                ok = abs(k - row["truth"]) <= row["tol"]
                cells.append(f"**{k}**" if ok else f"{k} ✗")
        cells.append(f"{row['seconds']:.0f}")
        rows.append(cells)
    rows.append(["**hit rate**", ""] + [
        f"**{a}/{b} = {a / max(b, 1):.0%}**" for a, b in (rates[r] for r in rules)
    ] + [""])
    nmi_rows = [
        [row["name"], row["truth"], row["chosen"], f"{row['nmi']:.3f}",
         f"{row['nmi_kl']:.3f}", f"{row['nmi'] - row['nmi_kl']:+.3f}",
         "yes" if (abs(row["chosen"] - row["truth"]) <= 1
                   and row["nmi"] >= row["nmi_kl"] - 0.02) else "no"]
        for row in results if "nmi" in row
    ]
    lines = [
        f"Command (from the repository root): `{command}`  ",
        f"Run: {started}, {total / 60:.1f} min in all, `nice`d on a machine shared "
        f"by several jobs (load average at start {load_start}; times are only "
        "indicative).",
        "",
        "One NMFk scan per case (12 perturbations per rank, `random_state=0`, "
        "`n_jobs=2`); every rule's pick comes from that same scan "
        "(`NMFk.picks_`). Bold: a hit (planted: the planted rank; "
        "labelled data: within ±1 of the class count). `heldout` needs a "
        "base estimator with a `score` (SeNMF has none here: –, left out of "
        "its rate; it competes for the default with its hits over all cases, "
        "as the default must work for every base). The held-out score is the "
        f"mean over the first {results[0].get('scored_runs', 5)} runs of each "
        "rank.",
        "",
        *markdown_table(head, rows),
        "",
        f"Best rule over all cases: **{best}** "
        f"({rates[best][0]}/{len(results)}; ties are broken by the mean "
        "distance |pick - known| over the cases, then by the order of "
        "`SELECTION_RULES`, which lists the historical rule first: a new "
        "default needs a better rate, not an equal one). "
        + ("It is `NMFk`'s default `selection`." if NMFk().selection == best
           else f"`NMFk`'s default `selection` is `{NMFk().selection}`: "
           "rerun after changing it."),
        "",
        "SeNMFk (its default rule) on the corpora: NMI of each document's dominant "
        "topic against the labels at the chosen k, beside plain KL-NMF's at "
        "the same k (mean of 3 seeds); goal: within ±1 of the count and NMI "
        "no worse than KL-NMF's minus 0.02.",
        "",
        *markdown_table(["case", "known", "SeNMFk k", "SeNMFk NMI",
                         "KL-NMF NMI at that k", "difference", "goal met"],
                        nmi_rows),
    ]
    return "\n".join(lines)


def write_page(results, rules, rates, best, body):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    default = NMFk().selection  # the chosen k drawn: the default rule's pick
    shown = [r for r in results if r["name"].startswith(
        ("planted dense 160", "planted sparse 300", "topic corpus 1200", "arXiv",
         "Samson", "planted tensor 100"))][:6] or results[:6]
    n = len(shown)
    cols = 3 if n > 4 else 2
    rows_ = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows_, cols, figsize=(6 * cols, 4 * rows_),
                             squeeze=False)
    for ax, row in zip(axes.ravel(), shown):
        crit = {k: np.asarray(v) for k, v in row["criteria"].items()}
        NMFkDisplay(
            np.asarray(row["ks"]),
            {k: v for k, v in crit.items() if k.startswith(("comp", "coef"))},
            {k: np.asarray(v) for k, v in row["errors"].items()},
            row["picks"][default], row["threshold"], criteria=crit,
            decided_by=default).plot(ax=ax)
        ax.set_title(f"{row['name']}\nknown: {row['truth']}", fontsize="small")
        ax.get_legend().set_visible(ax is axes.ravel()[0])
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    IMG.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMG, dpi=90)
    plt.close(fig)
    text = DOC_PAGE.read_text() if DOC_PAGE.exists() else ""
    marker_start, marker_end = "<!-- bench_rank:start -->", "<!-- bench_rank:end -->"
    block = f"{marker_start}\n{body}\n\n![Every criterion against the rank, six " \
            f"cases](img/{IMG.name})\n{marker_end}"
    if marker_start in text:
        i, j = text.index(marker_start), text.index(marker_end) + len(marker_end)
        text = text[:i] + block + text[j:]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC_PAGE.write_text(text)


if __name__ == "__main__":
    main()
