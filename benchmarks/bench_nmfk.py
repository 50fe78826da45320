"""Benchmark: NMFk rank selection on the arXiv 2007 abstracts (TF-IDF).

Scans k = 2..20 with 20 perturbations per k (380 fits) on the TF-IDF matrix of
the 2,000 abstracts (``min_df=5, max_df=0.5``, English stop words: 2,000 x
3,733, ~89,000 stored entries), and times in the same process:

* ``naive``: a plain Python loop of the same 380 fits with scikit-learn's
  ``NMF`` (its defaults) on perturbed copies, no alignment -- the floor any
  NMFk built on scikit-learn pays;
* ``nmfkit full``: ``NMFk`` over the whole range;
* ``nmfkit early``: ``NMFk(early_stopping=True)``;
* optionally the same with the joblib ``loky`` (process) backend instead of
  threads (``--backends threading,loky``).

LANL's T-ELF NMFk was timed on this machine on the same matrix (78-83 s with
its defaults, 28 s in its best setting, k=4 chosen); it is not installed here,
so its numbers are quoted, not re-measured.

Usage (from the repository root)::

    python benchmarks/bench_nmfk.py            # everything
    python benchmarks/bench_nmfk.py --quick    # skip the naive scikit-learn loop

The data are read from ``../shared/data/text/arxiv_2007_abstracts`` (or
``$NMFKIT_DATA/text/arxiv_2007_abstracts``); they are research/test data and
must not be copied into the repository.
"""

import argparse
import csv
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from joblib import parallel_config  # noqa: E402
from sklearn.decomposition import NMF as SkNMF  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from nmfkit.rank import NMFk  # noqa: E402

TELF = {"defaults": 80.5, "best": 28.0, "k": 4}


def load_arxiv():
    base = os.environ.get("NMFKIT_DATA", str(ROOT.parent / "shared" / "data"))
    path = Path(base) / "text" / "arxiv_2007_abstracts" / "arxiv_data.csv"
    with open(path, newline="", encoding="utf-8") as f:
        docs = [row["abstract"] for row in csv.DictReader(f)]
    vec = TfidfVectorizer(min_df=5, max_df=0.5, stop_words="english")
    return vec.fit_transform(docs).tocsr()


def naive_loop(X, ks, n_perturbs, epsilon=0.015, seed=0):
    rng = np.random.default_rng(seed)
    for k in ks:
        for _ in range(n_perturbs):
            Xp = X.copy()
            Xp.data *= rng.uniform(1 - epsilon, 1 + epsilon, size=Xp.data.shape)
            SkNMF(n_components=k, random_state=int(rng.integers(2**31))).fit(Xp)


def run_nmfk(X, ks, n_perturbs, backend, **kw):
    model = NMFk(
        n_components_range=ks, n_perturbs=n_perturbs, n_jobs=-1, random_state=0, **kw
    )
    with parallel_config(backend=backend):
        tic = time.perf_counter()
        model.fit(X)
        elapsed = time.perf_counter() - tic
    return model, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the naive loop")
    parser.add_argument("--kmax", type=int, default=20)
    parser.add_argument("--perturbs", type=int, default=20)
    parser.add_argument("--backends", default="threading",
                        help="comma-separated joblib backends for NMFk (threading,loky)")
    args = parser.parse_args()

    warnings.simplefilter("ignore", ConvergenceWarning)
    X = load_arxiv()
    ks = range(2, args.kmax + 1)
    P = args.perturbs
    print(f"arXiv TF-IDF: {X.shape[0]} x {X.shape[1]}, {X.nnz} stored entries; "
          f"k = {ks.start}..{ks.stop - 1}, {P} perturbations ({len(ks) * P} fits), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    rows = []
    if not args.quick:
        tic = time.perf_counter()
        naive_loop(X, ks, P)
        rows.append(("scikit-learn NMF, plain loop (no alignment)", time.perf_counter() - tic, "-", "-"))

    full_model = None
    for backend in args.backends.split(","):
        for early in (False, True):
            model, t = run_nmfk(X, ks, P, backend, early_stopping=early)
            it = model.n_iter_
            conv = f"{np.mean(it < model.estimator_.max_iter):.0%} converged, " \
                   f"median {int(np.median(it))} it."
            label = f"nmfkit NMFk, {'early stopping' if early else 'full scan'}, {backend}"
            rows.append((label, t, model.n_components_, conv))
            if full_model is None and not early:
                full_model = model

    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print()
    print("| run | time (s) | vs T-ELF best (28 s) | chosen k | fits |")
    print("|---|---|---|---|---|")
    for label, t, k, conv in rows:
        print(f"| {label} | {t:.1f} | {TELF['best'] / t:.1f}x | {k} | {conv} |")
    print(f"| T-ELF NMFk (quoted) defaults / best | 78-83 / 28 | 1.0x | {TELF['k']} | |")
    print()
    print("full scan, per k:")
    s, e = full_model.silhouettes_, full_model.errors_
    print("| k | min sil. H | min sil. W | mean sil. H | mean sil. W | rel. error |")
    print("|---|---|---|---|---|---|")
    for i, k in enumerate(full_model.n_components_range_):
        print(f"| {k} | {s['components_min'][i]:.3f} | {s['coefficients_min'][i]:.3f} | "
              f"{s['components_mean'][i]:.3f} | {s['coefficients_mean'][i]:.3f} | "
              f"{e['mean'][i]:.4f} +- {e['std'][i]:.4f} |")


if __name__ == "__main__":
    main()
