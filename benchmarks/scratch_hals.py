"""Scratch timing of the HALS core against scikit-learn's cd solver (same process)."""
import sys, time
import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF
from sklearn.decomposition._nmf import _initialize_nmf, _fit_coordinate_descent
try:
    from nmfkit._core.hals import fit_hals
except ImportError:  # package __init__ in flux: load the core alone
    import types, os
    for name, sub in (("nmfkit", ""), ("nmfkit._core", "_core")):
        mod = types.ModuleType(name); mod.__path__ = [os.path.join("nmfkit", sub)]
        sys.modules[name] = mod
    from nmfkit._core.hals import fit_hals


def loss(X, W, H):
    if sp.issparse(X):
        WH_X = (X.multiply(W @ H) if False else None)
        xx = X.multiply(X).sum()
        cross = np.einsum('ij,ij->', np.asarray((X @ H.T)), W)
        return 0.5 * (xx - 2 * cross + np.sum((W.T @ W) * (H @ H.T)))
    return 0.5 * np.sum((X - W @ H) ** 2)


def best(f, rep=3):
    ts = []
    for _ in range(rep):
        t = time.perf_counter(); out = f(); ts.append(time.perf_counter() - t)
    return min(ts), out


def case(name, X, k, **kw):
    W0, H0 = _initialize_nmf(X, k, init="nndsvda", random_state=0)
    t_sk, (Ws, Hs, it_sk) = best(lambda: _fit_coordinate_descent(X, W0.copy(), H0.copy(), tol=1e-4, max_iter=200, l1_reg_W=0, l1_reg_H=0, l2_reg_W=0, l2_reg_H=0, shuffle=False, random_state=None))
    t_us, (Wu, Hu, it_us) = best(lambda: fit_hals(X, W0.copy(), H0.copy(), tol=1e-4, max_iter=200, **kw))
    ls, lu = loss(X, Ws, Hs), loss(X, Wu, Hu)
    print(f"{name}: sklearn {t_sk*1e3:.1f} ms ({it_sk} it) loss {ls:.8g} | nmfkit {t_us*1e3:.1f} ms ({it_us} it) loss {lu:.8g} | speedup {t_sk/t_us:.2f}x  loss ratio {lu/ls:.8f}")
    return X, Wu, Hu


def products_ratio(X, k):
    rng = np.random.default_rng(0)
    m, n = X.shape
    W = rng.random((m, k)); H = rng.random((k, n))
    from nmfkit._core.hals import fit_hals as f
    tp, _ = best(lambda: (X @ H.T, W.T @ X), 10)
    ti, _ = best(lambda: f(X, W.copy(), H.copy(), max_iter=1, compress=False), 10)
    print(f"  one exact plain iteration {ti*1e3:.2f} ms, products XH^T + W^TX {tp*1e3:.2f} ms, ratio {ti/tp:.2f}")


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    which = sys.argv[1:] or ["a", "b", "c"]
    if "a" in which:
        m, n, k = 5000, 1000, 20
        X = rng.random((m, k)) @ rng.random((k, n)) + 0.1 * np.abs(rng.standard_normal((m, n)))
        case("(a) dense 5000x1000 k=20", X, k)
        case("(a) no compress", X, k, compress=False)
        case("(a) plain", X, k, compress=False, accelerate=False)
        products_ratio(X, k)
    if "b" in which:
        X = sp.random(20000, 5000, density=0.005, format="csr", random_state=0)
        X.data = np.log1p(rng.integers(1, 20, X.nnz)) * 1.0
        X = sp.csr_matrix(X.multiply(1 / np.sqrt(X.multiply(X).sum(1))))
        case("(b) sparse 20000x5000 k=20", X, 20)
        case("(b) plain", X, 20, accelerate=False)
        products_ratio(X, 20)
    if "c" in which:
        X = sp.random(2000, 3700, density=89000/(2000*3700), format="csr", random_state=1)
        X.data = rng.random(X.nnz)
        for k in (2, 10, 20):
            case(f"(c) small sparse 2000x3700 k={k}", X, k)
