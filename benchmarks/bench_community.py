"""Community detection: SymNMF and DeepNMF against Louvain and spectral clustering.

One run, side by side on the same graphs:

1. **Quality given the number of communities**: normalised mutual information
   (NMI) with the planted communities of ``SymNMF(k)`` (on the adjacency and
   on ``normalize_adjacency(A)``), ``DeepNMF(k)`` (on the adjacency),
   scikit-learn's ``SpectralClustering(k, affinity="precomputed")`` and
   networkx's Louvain (``louvain_communities``, which chooses its own
   count; reported), on stochastic block models and LFR graphs with mixing
   0.1 to 0.5, several seeds: mean and worst.
2. **Choosing the count** on SBMs with 3 to 8 blocks, grid 2..12:
   ``GridSearchCV(SymNMF(), cv=EdgeSplit(3))`` (edge cross-validation) and
   ``NMFk`` over SymNMF (stability of the memberships).
3. **Scale**: a sparse SBM with 100,000 nodes, average degree 20, 10
   communities: SymNMF's time on two threads and peak traced memory
   (tracemalloc), and Louvain's time on the same graph.

Run from the repository root (niced: the machine is shared)::

    nice python benchmarks/bench_community.py          # full, writes docs/benchmarks.md
    nice python benchmarks/bench_community.py --quick  # small, prints only

NMFk's perturbations must keep ``A`` symmetric; until nmfkit's NMFk does so
for pairwise estimators, the count selection wraps SymNMF in a subclass that
symmetrises its input, ``(A + A.T) / 2`` (the average of two independent
perturbation factors of each pair).
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    command_line,
    load_average,
    machine_table,
    markdown_table,
    peak_memory_mb,
    update_doc_section,
    utc_now,
)
from sklearn.cluster import SpectralClustering  # noqa: E402
from sklearn.metrics import normalized_mutual_info_score as nmi  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from nmfkit import DeepNMF, NMFk, SymNMF  # noqa: E402
from nmfkit.community import EdgeSplit, normalize_adjacency  # noqa: E402
from nmfkit.datasets.graphs import make_lfr, make_sbm  # noqa: E402


class SymmetrisedSymNMF(SymNMF):
    """SymNMF of ``(A + A.T) / 2``: NMFk's perturbed copies made symmetric."""

    def fit_transform(self, X, y=None):
        X = sp.csr_matrix(X)
        return super().fit_transform((X + X.T) * 0.5)


def louvain(A, seed):
    import networkx as nx

    G = nx.from_scipy_sparse_array(A)
    comms = nx.community.louvain_communities(G, seed=seed)
    labels = np.empty(A.shape[0], dtype=np.intp)
    for c, nodes in enumerate(comms):
        labels[list(nodes)] = c
    return labels


def _louvain_child(A, seed, queue):
    queue.put(louvain(A, seed))


def louvain_limited(A, seed, limit_s):
    """Louvain in a child process, stopped after ``limit_s`` seconds (None if so)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_louvain_child, args=(A, seed, queue))
    proc.start()
    try:
        labels = queue.get(timeout=limit_s)
    except Exception:  # queue.Empty: time limit reached
        labels = None
    proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()
        proc.join()
    return labels


def methods(k, seed):
    def symnmf(A):
        return SymNMF(k, random_state=seed).fit_predict(A)

    def symnmf_norm(A):
        return SymNMF(k, random_state=seed).fit_predict(normalize_adjacency(A))

    def deep(A):
        return DeepNMF(k, random_state=seed).fit_predict(A)

    def spectral(A):
        return SpectralClustering(k, affinity="precomputed", random_state=seed,
                                  assign_labels="kmeans").fit_predict(A)

    return {"SymNMF": symnmf, "SymNMF norm": symnmf_norm, "DeepNMF": deep,
            "Spectral": spectral,
            "Louvain": lambda A: louvain(A, seed)}


def quality(n, mixings, seeds):
    rows = []
    names = ["SymNMF", "SymNMF norm", "DeepNMF", "Spectral", "Louvain"]
    for family in ("SBM", "LFR"):
        for mu in mixings:
            scores = {m: [] for m in names}
            times = {m: 0.0 for m in names}
            counts, planted_k = [], []
            for seed in seeds:
                if family == "SBM":
                    A, labels = make_sbm([n // 5] * 5, average_degree=20, mixing=mu,
                                         shuffle=True, random_state=seed)
                else:
                    A, labels = make_lfr(n, mixing=mu, random_state=seed)
                k = int(labels.max()) + 1
                planted_k.append(k)
                for name, fit in methods(k, seed).items():
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pred = fit(A)
                    times[name] += time.perf_counter() - t0
                    scores[name].append(nmi(labels, pred))
                    if name == "Louvain":
                        counts.append(int(pred.max()) + 1)
            cells = [family, f"{mu:.1f}", f"{np.mean(planted_k):.1f}"]
            for m in names:
                s = np.array(scores[m])
                cells.append(f"{s.mean():.3f} / {s.min():.3f}")
            cells.append(f"{np.mean(counts):.1f}")
            cells.append(" / ".join(f"{times[m] / len(seeds):.2f}" for m in names))
            rows.append(cells)
            print(" | ".join(cells), flush=True)
    headers = ["graph", "mixing", "planted k (mean)", "SymNMF NMI mean / worst",
               "SymNMF on D^-1/2 A D^-1/2", "DeepNMF", "Spectral", "Louvain",
               "Louvain's k", "s per graph (same order)"]
    return markdown_table(headers, rows)


def choose_count(blocks, size, mixing, grid, n_perturbs, seed=0):
    rows = []
    hits_gs = hits_nmfk = 0
    for kb in blocks:
        A, _ = make_sbm([size] * kb, average_degree=20, mixing=mixing, shuffle=True,
                        random_state=100 + kb)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            gs = GridSearchCV(SymNMF(random_state=seed), {"n_components": grid},
                              cv=EdgeSplit(3)).fit(A)
            t_gs = time.perf_counter() - t0
            t0 = time.perf_counter()
            nk = NMFk(SymmetrisedSymNMF(), n_components_range=grid,
                      n_perturbs=n_perturbs, n_jobs=1, random_state=seed).fit(A)
            t_nk = time.perf_counter() - t0
        k_gs = gs.best_params_["n_components"]
        k_nk = int(nk.n_components_)
        hits_gs += k_gs == kb
        hits_nmfk += k_nk == kb
        cells = [kb, kb * size, k_gs, f"{t_gs:.1f}", k_nk, f"{t_nk:.1f}"]
        rows.append(cells)
        print(" | ".join(map(str, cells)), flush=True)
    headers = ["planted k", "nodes", "GridSearchCV(EdgeSplit(3)) k", "s",
               f"NMFk ({n_perturbs} perturbations) k", "s"]
    summary = (f"GridSearchCV found the planted count on {hits_gs} of {len(blocks)} "
               f"graphs, NMFk on {hits_nmfk} of {len(blocks)}.")
    return markdown_table(headers, rows), summary


def scale(n, k, with_louvain, louvain_limit_s=900):
    A, labels = make_sbm([n // k] * k, average_degree=20, mixing=0.3, shuffle=True,
                         random_state=0)
    A_mb = (A.data.nbytes + A.indices.nbytes + A.indptr.nbytes) / 2**20
    model = SymNMF(k, random_state=0)
    with threadpool_limits(2), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model.fit(A)
        t_fit = time.perf_counter() - t0
        peak, _ = peak_memory_mb(lambda: SymNMF(k, random_state=0).fit(A))
    q = nmi(labels, model.labels_)
    rows = [["SymNMF", f"{t_fit:.1f}", f"{peak:.0f}", f"{q:.3f}", k, model.n_iter_]]
    print(rows[-1], flush=True)
    if with_louvain:
        t0 = time.perf_counter()
        lab = louvain_limited(A, 0, louvain_limit_s)
        t_l = time.perf_counter() - t0
        if lab is None:
            rows.append(["Louvain (networkx)", f"> {louvain_limit_s} (stopped)", "", "",
                         "", ""])
        else:
            rows.append(["Louvain (networkx)", f"{t_l:.1f}", "",
                         f"{nmi(labels, lab):.3f}", int(lab.max()) + 1, ""])
        print(rows[-1], flush=True)
    headers = ["method", "fit s", "peak traced MB", "NMI", "k", "iterations"]
    note = (f"SBM: {n} nodes, {k} communities, average degree 20, mixing 0.3; "
            f"{A.nnz} stored entries ({A_mb:.0f} MB as CSR); n k float64 = "
            f"{n * k * 8 / 2**20:.0f} MB.")
    return markdown_table(headers, rows), note


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small graphs, one seed, no docs update")
    parser.add_argument("--louvain-limit", type=float, default=900,
                        help="seconds Louvain may take on the scale graph (it did not "
                        "finish the 100,000-node graph in 22 min here)")
    args = parser.parse_args()
    quick = args.quick
    load_before = load_average()
    t_all = time.perf_counter()
    if quick:
        q = quality(500, [0.1, 0.3, 0.5], [0])
        c, c_sum = choose_count([3, 5], 80, 0.2, list(range(2, 9)), 6)
        s, s_note = scale(10_000, 10, True, args.louvain_limit)
    else:
        q = quality(1000, [0.1, 0.2, 0.3, 0.4, 0.5], [0, 1, 2])
        c, c_sum = choose_count([3, 4, 5, 6, 7, 8], 100, 0.2, list(range(2, 13)), 10)
        s, s_note = scale(100_000, 10, True, args.louvain_limit)
    total = time.perf_counter() - t_all
    body = "\n".join([
        "## Community detection (`benchmarks/bench_community.py`)",
        "",
        f"Command: `nice {command_line()}` ({utc_now()}, {total / 60:.1f} min; "
        f"load average before {load_before}, after {load_average()} on 2 cores "
        "shared by other jobs: times are noisy, compare within a row).",
        "",
        "### Quality given the number of communities",
        "",
        "NMI with the planted communities, mean / worst over "
        f"{'1 seed' if quick else '3 seeds'}; SBM: 5 equal blocks, average degree 20; "
        "LFR (networkx): tau1 = 3, tau2 = 1.5, average degree 20, communities of "
        "20 to n/5 nodes. SymNMF, DeepNMF and spectral clustering are given the "
        "planted count; Louvain chooses its own (mean reported).",
        "",
        *q,
        "",
        "### Choosing the number of communities",
        "",
        "SBMs with equal blocks, average degree 20, mixing 0.2, grid "
        f"{'2..8' if quick else '2..12'}. {c_sum}",
        "",
        *c,
        "",
        "### Scale",
        "",
        s_note + " SymNMF on two BLAS threads (its sparse products on two threads);"
        " Louvain is networkx's pure-Python implementation on one core.",
        "",
        *s,
        "",
        "Machine:",
        "",
        *machine_table(),
    ])
    print(body)
    if not quick:
        update_doc_section("bench_community", body)


if __name__ == "__main__":
    main()
