"""Scratch timing of the HALS core against scikit-learn's cd solver (same process).

Run from the repository root: ``python benchmarks/scratch_hals.py [a] [b] [c]``.
Both solvers start from scikit-learn's nndsvda init; times are the best of
``REPEATS`` runs.
"""
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.getcwd())
try:
    from nmfkit._core.hals import fit_hals
except ImportError:  # package __init__ in flux: load the core alone
    import types
    for _k in [k for k in sys.modules if k.startswith("nmfkit")]:
        del sys.modules[_k]
    for name, sub in (("nmfkit", ""), ("nmfkit._core", "_core")):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(os.getcwd(), "nmfkit", sub)]
        sys.modules[name] = mod
    from nmfkit._core.hals import fit_hals
from sklearn.decomposition._nmf import _fit_coordinate_descent, _initialize_nmf

REPEATS = 3


def loss(X, W, H):
    if sp.issparse(X):
        xx = X.multiply(X).sum()
        cross = np.sum(np.asarray(X @ H.T) * W)
        return 0.5 * (xx - 2 * cross + np.sum((W.T @ W) * (H @ H.T)))
    return 0.5 * np.sum((X - W @ H) ** 2)


def best(f, rep=REPEATS):
    ts = []
    for _ in range(rep):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return min(ts), out


def sk_cd(X, W0, H0, max_iter=200):
    return _fit_coordinate_descent(
        X, W0.copy(), H0.copy(), tol=1e-4, max_iter=max_iter, l1_reg_W=0,
        l1_reg_H=0, l2_reg_W=0, l2_reg_H=0, shuffle=False, random_state=None)


def case(name, X, k, rep=REPEATS, **kw):
    W0, H0 = _initialize_nmf(X, k, init="nndsvda", random_state=0)
    t_sk, (Ws, Hs, it_sk) = best(lambda: sk_cd(X, W0, H0), rep)
    t_us, (Wu, Hu, it_us) = best(
        lambda: fit_hals(X, W0.copy(), H0.copy(), tol=1e-4, max_iter=200,
                         random_state=0, **kw), rep)
    ls, lu = loss(X, Ws, Hs), loss(X, Wu, Hu)
    print(f"{name} {kw}: sklearn {t_sk*1e3:.1f} ms ({it_sk} it) | nmfkit "
          f"{t_us*1e3:.1f} ms ({it_us} it) | speedup {t_sk/t_us:.2f}x | "
          f"loss nmfkit/sklearn {lu/ls:.6f}", flush=True)


def products_ratio(X, k):
    rng = np.random.default_rng(0)
    m, n = X.shape
    W = rng.random((m, k))
    H = rng.random((k, n))
    tp, _ = best(lambda: (X @ H.T, X.T @ W), 10)
    ti, _ = best(lambda: fit_hals(X, W.copy(), H.copy(), max_iter=1, compress=False), 10)
    print(f"  one exact iteration {ti*1e3:.2f} ms, products X H^T + W^T X "
          f"{tp*1e3:.2f} ms, ratio {ti/tp:.2f}", flush=True)


def data_a(rng):
    m, n, k = 5000, 1000, 20
    return rng.random((m, k)) @ rng.random((k, n)) + 0.1 * np.abs(rng.standard_normal((m, n)))


def data_b(rng):
    X = sp.random(20000, 5000, density=0.005, format="csr", random_state=0)
    X.data = np.log1p(rng.integers(1, 20, X.nnz)) * 1.0
    norms = np.sqrt(np.asarray(X.multiply(X).sum(1)).ravel())
    return sp.csr_matrix(sp.diags(1 / np.maximum(norms, 1e-12)) @ X)


def data_c():
    """TF-IDF of the 2,000 arXiv abstracts of ../shared/data/text (2000 x 3733)."""
    import csv
    from sklearn.feature_extraction.text import TfidfVectorizer
    path = os.path.join("..", "shared", "data", "text", "arxiv_2007_abstracts", "arxiv_data.csv")
    csv.field_size_limit(10**8)
    with open(path, newline="", encoding="utf-8") as f:
        docs = [r["abstract"] for r in csv.DictReader(f)]
    return TfidfVectorizer(stop_words="english", min_df=5).fit_transform(docs)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    which = sys.argv[1:] or ["a", "b", "c"]
    if "a" in which:
        X = data_a(rng)
        case("(a) dense 5000x1000 k=20", X, 20)
        case("(a) dense 5000x1000 k=20", X, 20, compress=False)
        case("(a) dense 5000x1000 k=20", X, 20, compress=False, accelerate=False)
        case("(a) float32", X.astype(np.float32), 20)
        products_ratio(X, 20)
    if "b" in which:
        X = data_b(rng)
        case("(b) sparse 20000x5000 k=20", X, 20, rep=1)
        case("(b) sparse 20000x5000 k=20", X, 20, rep=1, accelerate=False)
        products_ratio(X, 20)
    if "c" in which:
        X = data_c()
        for k in (2, 10, 20):
            case(f"(c) arXiv TF-IDF {X.shape} k={k}", X, k, rep=5)
