"""Initialisations of nmfkit._core.init."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition._nmf import _initialize_nmf

from nmfkit._core.init import initialize

INITS = ["random", "nndsvd", "nndsvda", "nndsvdar"]


def _planted(seed=0, n=60, m=40, k=4):
    rng = np.random.default_rng(seed)
    return rng.random((n, k)) @ rng.random((k, m))


def _check(W, H, shape, k, dtype):
    assert W.shape == (shape[0], k) and H.shape == (k, shape[1])
    assert W.dtype == dtype and H.dtype == dtype
    assert W.flags.c_contiguous and H.flags.c_contiguous
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    assert W.min() >= 0 and H.min() >= 0


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("sparse", [False, True])
def test_matches_sklearn(init, sparse):
    X = _planted()
    X[X < 0.5] = 0
    Xin = sp.csr_matrix(X) if sparse else X
    W, H = initialize(Xin, 4, init, random_state=0)
    _check(W, H, X.shape, 4, np.float64)
    Ws, Hs = _initialize_nmf(Xin, 4, init, random_state=0)
    if init == "random" or sparse:  # same randomized SVD -> identical
        np.testing.assert_allclose(W, Ws, atol=1e-12)
        np.testing.assert_allclose(H, Hs, atol=1e-12)
    else:  # exact SVD here, randomized in scikit-learn: same start, close
        assert np.linalg.norm(W @ H - Ws @ Hs) < 1e-2 * np.linalg.norm(Ws @ Hs)


def test_nndsvd_of_exact_rank_one():
    rng = np.random.default_rng(1)
    u, v = rng.random(20), rng.random(15)
    X = np.outer(u, v)
    W, H = initialize(X, 1, "nndsvd")
    np.testing.assert_allclose(W @ H, X, rtol=1e-10)


@pytest.mark.parametrize("init", INITS)
def test_float32_kept(init):
    X = _planted(2).astype(np.float32)
    W, H = initialize(X, 3, init, random_state=0)
    _check(W, H, X.shape, 3, np.float32)
    W, H = initialize(sp.csr_matrix(X), 3, init, random_state=0)
    _check(W, H, X.shape, 3, np.float32)


@pytest.mark.parametrize("init", INITS)
def test_degenerate(init):
    for X in [np.zeros((5, 4)), np.ones((1, 1)), sp.csr_matrix((6, 3)), _planted(3, 3, 8)]:
        for k in [1, 3, 10]:  # k > min(shape) padded, not an error
            W, H = initialize(X, k, init, random_state=0)
            _check(W, H, X.shape, k, np.float64)
    X = _planted(3, 3, 8)
    W, H = initialize(X, 6, init, random_state=0)
    if init != "nndsvd":
        assert W[:, 3:].max() > 0 and H[3:].max() > 0  # padded components alive


def test_mask_fill_and_mean():
    X = _planted(4)
    M = np.random.default_rng(5).random(X.shape) < 0.8
    Xbad = np.where(M, X, 1e6)  # values at missing entries must not matter
    W, H = initialize(Xbad, 4, "nndsvda", observed=M)
    _check(W, H, X.shape, 4, np.float64)
    # NNDSVD of the column-mean filled matrix: a start about as good as the
    # one of the complete matrix, unaffected by the values at missing entries
    W, H = initialize(Xbad, 4, "nndsvd", observed=M)
    W0, H0 = initialize(X, 4, "nndsvd")
    err, err0 = np.linalg.norm(W @ H - X), np.linalg.norm(W0 @ H0 - X)
    assert err < max(2 * err0, 0.1 * np.linalg.norm(X))
    Wr, Hr = initialize(Xbad, 4, "random", observed=M, random_state=0)
    assert Wr.max() < 10 and Hr.max() < 10


def test_stored():
    X = sp.random(50, 30, density=0.2, random_state=0, format="csr")
    W, H = initialize(X, 5, "nndsvda", observed="stored", random_state=0)
    _check(W, H, X.shape, 5, np.float64)
    Wr, Hr = initialize(X, 5, "random", observed="stored", random_state=0)
    scale = np.sqrt(X.data.mean() / 5)  # mean over stored entries only
    assert Wr.mean() == pytest.approx(scale * np.sqrt(2 / np.pi), rel=0.2)


def test_invalid_init():
    with pytest.raises(ValueError, match="init"):
        initialize(np.ones((3, 3)), 2, "bogus")
