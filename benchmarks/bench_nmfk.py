"""Benchmark: NMFk rank selection on the arXiv 2007 abstracts (TF-IDF).

Scans k = 2..20 with 20 perturbations per k (380 fits) on the TF-IDF matrix of
the 2,000 abstracts (``min_df=5, max_df=0.5``, English stop words: 2,000 x
3,733, ~89,000 stored entries), and times in the same process:

* ``naive``: a plain Python loop of the same 380 fits with scikit-learn's
  ``NMF`` (its defaults) on perturbed copies, no alignment -- the floor any
  NMFk built on scikit-learn pays;
* ``nmfkit full``: ``NMFk`` over the whole range;
* ``nmfkit early``: ``NMFk(early_stopping=True)``;
* both with joblib's ``loky`` backend (worker processes, NMFk's default) and
  with threads (``--backends loky,threading``, the default of this script);
  the CPU column counts the main process only, so it is left empty for loky.

LANL's T-ELF NMFk was timed on this machine on the same matrix (78-83 s with
its defaults, 28 s in its best setting, k=4 chosen); it is not installed here,
so its numbers are quoted, not re-measured.

Usage (from the repository root)::

    python benchmarks/bench_nmfk.py            # everything
    python benchmarks/bench_nmfk.py --quick    # skip the naive scikit-learn loop
    python benchmarks/bench_nmfk.py --planted  # success rate on planted ranks
    python benchmarks/bench_nmfk.py --breakdown  # serial scan, time in sparse products

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


def load_arxiv(with_labels=False):
    base = os.environ.get("NMFKIT_DATA", str(ROOT.parent / "shared" / "data"))
    path = Path(base) / "text" / "arxiv_2007_abstracts" / "arxiv_data.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    vec = TfidfVectorizer(min_df=5, max_df=0.5, stop_words="english")
    X = vec.fit_transform([row["abstract"] for row in rows]).tocsr()
    if not with_labels:
        return X
    # primary archive: first category, before the dot ("math.CO" -> "math")
    archives = np.array([row["categories"].split()[0].split(".")[0] for row in rows])
    return X, archives, vec.get_feature_names_out()


def describe_topics(model, X, archives, words, n_words=8):
    """Top words of each component and the archives of its documents."""
    W = model.transform(X)
    owner = np.argmax(W, axis=1)
    for c, comp in enumerate(model.components_):
        top = ", ".join(words[np.argsort(comp)[::-1][:n_words]])
        members = archives[owner == c]
        names, counts = np.unique(members, return_counts=True)
        order = np.argsort(counts)[::-1][:3]
        mix = ", ".join(f"{names[i]} {counts[i]}" for i in order)
        print(f"  topic {c}: {len(members)} docs ({mix}): {top}")


def naive_loop(X, ks, n_perturbs, epsilon=0.015, seed=0):
    rng = np.random.default_rng(seed)
    for k in ks:
        for _ in range(n_perturbs):
            Xp = X.copy()
            Xp.data *= rng.uniform(1 - epsilon, 1 + epsilon, size=Xp.data.shape)
            SkNMF(n_components=k, random_state=int(rng.integers(2**31))).fit(Xp)


def planted(n_samples, n_features, k, noise, seed):
    """``W H`` with sparse exponential factors of rank ``k`` plus uniform noise."""
    rng = np.random.RandomState(seed)
    W = rng.exponential(size=(n_samples, k)) * (rng.rand(n_samples, k) < 0.5)
    H = rng.exponential(size=(k, n_features)) * (rng.rand(k, n_features) < 0.4)
    W[rng.randint(n_samples, size=k), np.arange(k)] += 1.0
    H[np.arange(k), rng.randint(n_features, size=k)] += 1.0
    X = W @ H
    return X + noise * X.mean() * rng.rand(n_samples, n_features)


def planted_grid():
    """Success rate of NMFk on 96 planted-rank problems."""
    shapes = [(150, 100), (100, 160), (200, 200), (400, 120)]
    ks = [2, 3, 4, 6, 8, 10, 12, 15]
    noises = [0.01, 0.05, 0.1]
    hits, tic = [], time.perf_counter()
    for i, (shape, k, noise) in enumerate(
        (s, k, n) for s in shapes for k in ks for n in noises
    ):
        X = planted(*shape, k, noise, seed=100 + i)
        model = NMFk(n_components_range=range(max(1, k - 2), k + 3), n_perturbs=8,
                     n_jobs=-1, random_state=i).fit(X)
        hits.append(model.n_components_ == k)
        if not hits[-1]:
            print(f"  missed: shape {shape}, k={k}, noise {noise}: chose {model.n_components_}")
    print(f"planted ranks: {sum(hits)}/{len(hits)} recovered ({np.mean(hits):.0%}); "
          f"shapes {shapes}, k in {ks}, noise {noises} x mean entry, 8 perturbations, "
          f"candidates k-2..k+2; {time.perf_counter() - tic:.0f} s")


def breakdown(X, ks, n_perturbs):
    """Serial full scan, and the share of it the sparse products take.

    The products are timed apart (median of 20 of ``X @ H.T`` plus
    ``X.T @ W`` at each k, one BLAS thread) and multiplied by the two
    products each HALS iteration of the scan needs.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    XT = X.T.tocsr()
    with threadpool_limits(1):
        tic = time.perf_counter()
        model = NMFk(n_components_range=ks, n_perturbs=n_perturbs, n_jobs=1,
                     random_state=0).fit(X)
        wall = time.perf_counter() - tic
        per_k = {}
        for k in ks:
            H, W = rng.random((k, X.shape[1])), rng.random((X.shape[0], k))
            times = []
            for _ in range(20):
                t = time.perf_counter()
                X @ H.T
                XT @ W
                times.append(time.perf_counter() - t)
            per_k[k] = float(np.median(times))
    iters = model.n_iter_.sum(axis=1)
    products = sum(per_k[k] * n for k, n in zip(model.n_components_range_, iters))
    n_products = 2 * int(iters.sum())
    print(f"serial full scan (n_jobs=1, one BLAS thread): {wall:.1f} s, k={model.n_components_}, "
          f"{int(iters.sum())} HALS iterations ({iters.sum() / model.n_iter_.size:.1f} per fit); "
          f"its {n_products} sparse products take about {products:.1f} s "
          f"({products / n_products * 1e3:.2f} ms each, {products / wall:.0%} of the scan); "
          f"split over {os.cpu_count()} cores they alone need {products / os.cpu_count():.1f} s")


def run_nmfk(X, ks, n_perturbs, backend, **kw):
    model = NMFk(
        n_components_range=ks, n_perturbs=n_perturbs, n_jobs=-1, random_state=0, **kw
    )
    with parallel_config(backend=backend):
        model.fit(X)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the naive loop")
    parser.add_argument("--planted", action="store_true",
                        help="only the planted-rank success rate")
    parser.add_argument("--breakdown", action="store_true",
                        help="only a serial full scan and the time its sparse products take")
    parser.add_argument("--kmax", type=int, default=20)
    parser.add_argument("--perturbs", type=int, default=20)
    parser.add_argument("--backends", default="loky,threading",
                        help="comma-separated joblib backends for NMFk; loky (worker "
                             "processes) is NMFk's default")
    args = parser.parse_args()

    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", message="No rank of n_components_range")
    if args.planted:
        planted_grid()
        return
    X, archives, words = load_arxiv(with_labels=True)
    ks = range(2, args.kmax + 1)
    P = args.perturbs
    if args.breakdown:
        breakdown(X, ks, P)
        return
    print(f"arXiv TF-IDF: {X.shape[0]} x {X.shape[1]}, {X.nnz} stored entries; "
          f"k = {ks.start}..{ks.stop - 1}, {P} perturbations ({len(ks) * P} fits), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    rows = []

    def record(label, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append((label, wall, cpu, out))
        k = "-" if out is None else out.n_components_
        print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, k={k}", flush=True)
        return out

    full_model = None
    for backend in args.backends.split(","):
        for early in (True, False):
            label = (f"nmfkit NMFk, {'early stopping' if early else 'full scan'}, "
                     f"{backend}{' (default)' if backend == 'loky' else ''}")
            model = record(label, lambda: run_nmfk(X, ks, P, backend, early_stopping=early))
            if full_model is None and not early:
                full_model = model
    if not args.quick:
        record("scikit-learn NMF, plain loop of the same fits (no alignment)",
               lambda: naive_loop(X, ks, P))

    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print()
    print("| run | wall (s) | CPU (s) | T-ELF best (28 s) / wall | chosen k | fits converged (< max_iter) | median iterations |")
    print("|---|---|---|---|---|---|---|")
    for label, wall, cpu, model in rows:
        if model is None:
            print(f"| {label} | {wall:.1f} | {cpu:.1f} | {TELF['best'] / wall:.1f}x | - | - | - |")
            continue
        # loky: the fits ran in worker processes, the main process's CPU
        # time says nothing
        cpu = "-" if "loky" in label else f"{cpu:.1f}"
        it = model.n_iter_
        conv = np.mean(it < model.estimator_.max_iter)
        print(f"| {label} | {wall:.1f} | {cpu} | {TELF['best'] / wall:.1f}x | "
              f"{model.n_components_} | {conv:.0%} of {it.size} | {int(np.median(it))} |")
    print(f"| T-ELF NMFk (quoted, not re-run) defaults / best | 78-83 / 28 | | 1.0x | {TELF['k']} | | |")
    print()
    print("full scan, per k:")
    s, e = full_model.silhouettes_, full_model.errors_
    print("| k | min sil. H | min sil. W | mean sil. H | mean sil. W | rel. error |")
    print("|---|---|---|---|---|---|")
    for i, k in enumerate(full_model.n_components_range_):
        print(f"| {k} | {s['components_min'][i]:.3f} | {s['coefficients_min'][i]:.3f} | "
              f"{s['components_mean'][i]:.3f} | {s['coefficients_mean'][i]:.3f} | "
              f"{e['mean'][i]:.4f} +- {e['std'][i]:.4f} |")
    print()
    print(f"topics at the chosen k={full_model.n_components_}:")
    describe_topics(full_model, X, archives, words)
    if full_model.n_components_ != TELF["k"]:
        k4 = NMFk(n_components_range=[TELF["k"]], n_perturbs=P, n_jobs=-1,
                  random_state=0).fit(X)
        print(f"topics at T-ELF's k={TELF['k']}:")
        describe_topics(k4, X, archives, words)


if __name__ == "__main__":
    main()
