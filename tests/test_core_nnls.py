"""Tests of the exact non-negative least squares core."""

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nmfkit._core.nnls import nnls


def scipy_rows(X, H, mask=None, l2=0.0):
    """Row-by-row reference with scipy.optimize.nnls (loop allowed in tests)."""
    k = H.shape[0]
    out = []
    for i, x in enumerate(X):
        keep = np.ones(len(x), bool) if mask is None else mask[i]
        Hm = H.T[keep]
        xm = x[keep]
        if l2:
            Hm = np.vstack([Hm, np.sqrt(l2) * np.eye(k)])
            xm = np.concatenate([xm, np.zeros(k)])
        out.append(so.nnls(Hm, xm)[0] if len(xm) else np.zeros(k))
    return np.array(out)


def kkt_residual(X, H, W, l1, l2, mask=None):
    """Largest violation of the KKT conditions of the penalized problem."""
    M = np.ones_like(X, bool) if mask is None else mask
    R = np.where(M, W @ H - X, 0)
    grad = R @ H.T + l1 + l2 * W
    return max(float(np.max(-np.minimum(W, 0))), float(np.max(-np.minimum(grad, 0))),
               float(np.max(np.abs(W * grad))))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 15), n=st.integers(2, 12),
       k=st.integers(1, 6), l2=st.sampled_from([0.0, 0.5]))
# regression: k > n (singular Gram), coordinate descent stopped short of the
# minimum (row 4: residual 4.44e-4 against scipy's 2.20e-4)
@example(seed=667, m=14, n=2, k=3, l2=0.0)
def test_matches_scipy_nnls(seed, m, n, k, l2):
    rng = np.random.default_rng(seed)
    X = rng.random((m, n))
    H = rng.random((k, n)) + 0.05
    W = nnls(X, H, l2=l2)
    ref = scipy_rows(X, H, l2=l2)
    if k <= n or l2:
        np.testing.assert_allclose(W, ref, atol=1e-7, rtol=1e-6)
    else:  # minimiser not unique: compare the fitted values
        np.testing.assert_allclose(W @ H, ref @ H, atol=1e-5)
    assert np.all(W >= 0)


@pytest.mark.parametrize("kind", ["mask", "stored"])
def test_masked_matches_scipy(kind):
    rng = np.random.default_rng(1)
    X = rng.random((40, 25))
    H = rng.random((4, 25))
    mask = rng.random(X.shape) < 0.6
    if kind == "mask":
        W = nnls(np.where(mask, X, 0), H, observed=mask)
    else:
        W = nnls(sp.csr_matrix(np.where(mask, X, 0)), H, observed="stored")
    np.testing.assert_allclose(W, scipy_rows(X, H, mask), atol=1e-8)


def test_sparse_matches_dense():
    rng = np.random.default_rng(2)
    X = sp.random(60, 30, density=0.3, random_state=0, format="csr")
    H = rng.random((5, 30))
    np.testing.assert_allclose(nnls(X, H), nnls(X.toarray(), H), atol=1e-10)
    np.testing.assert_allclose(nnls(X.tocsc(), H), nnls(X.toarray(), H), atol=1e-10)


@pytest.mark.parametrize("observed", [None, "mask"])
def test_l1_l2_kkt(observed):
    rng = np.random.default_rng(3)
    X = rng.random((50, 20))
    H = rng.random((6, 20))
    mask = rng.random(X.shape) < 0.7 if observed else None
    W = nnls(X, H, observed=mask, l1=0.4, l2=0.3)
    assert kkt_residual(X, H, W, 0.4, 0.3, mask) < 1e-8


@pytest.mark.parametrize("observed", [None, "mask", "stored"])
def test_row_independence(observed):
    """transform on a subset of rows equals transform on the whole."""
    rng = np.random.default_rng(4)
    X = rng.random((300, 30)) * (rng.random((300, 30)) < 0.5)
    H = rng.random((8, 30))
    mask = None
    if observed == "mask":
        mask = rng.random(X.shape) < 0.8
    elif observed == "stored":
        X = sp.csr_matrix(X)
        mask = "stored"
    W_all = nnls(X, H, observed=mask)
    idx = np.array([5, 17, 123, 299])
    sub_mask = mask[idx] if isinstance(mask, np.ndarray) else mask
    W_sub = nnls(X[idx], H, observed=sub_mask)
    np.testing.assert_allclose(W_sub, W_all[idx], atol=1e-9, rtol=0)


def test_warm_start_in_place_and_float32():
    rng = np.random.default_rng(5)
    X = rng.random((20, 10)).astype(np.float32)
    H = rng.random((3, 10)).astype(np.float32)
    W0 = rng.random((20, 3)).astype(np.float32)
    W = nnls(X, H, W=W0)
    assert W is W0 and W.dtype == np.float32
    ref = scipy_rows(X.astype(np.float64), H.astype(np.float64))
    np.testing.assert_allclose(W, ref, atol=1e-4)


@pytest.mark.parametrize("case", ["zero_X", "zero_row", "k_large", "one_by_one",
                                  "unobserved_row", "zero_H_row"])
def test_degenerate(case):
    rng = np.random.default_rng(6)
    X = rng.random((6, 5))
    H = rng.random((3, 5))
    mask = None
    if case == "zero_X":
        X[:] = 0
    elif case == "zero_row":
        X[2] = 0
    elif case == "k_large":
        H = rng.random((9, 5))
    elif case == "one_by_one":
        X, H = np.array([[3.0]]), np.array([[2.0]])
    elif case == "unobserved_row":
        mask = np.ones_like(X, bool)
        mask[1] = False
    elif case == "zero_H_row":
        H[1] = 0
    W = nnls(X, H, observed=mask)
    assert np.all(np.isfinite(W)) and np.all(W >= 0)
    if case in ("zero_X",):
        np.testing.assert_array_equal(W, 0)
    if case == "zero_row":
        np.testing.assert_array_equal(W[2], 0)
    if case == "unobserved_row":
        np.testing.assert_array_equal(W[1], 0)
    if case == "one_by_one":
        np.testing.assert_allclose(W, [[1.5]])
    if case == "zero_H_row":
        np.testing.assert_array_equal(W[:, 1], 0)
    if case == "k_large":
        ref = scipy_rows(X, H)
        np.testing.assert_allclose(W @ H, ref @ H, atol=1e-5)


def test_stored_grams_from_pair_products_match_the_gathered_ones():
    # the "stored" per-row Grams come from one sparse product with the pair
    # products of H when they fit the budget; the gathered path is the fallback
    from nmfkit._core.nnls import _RowProblems

    rng = np.random.default_rng(7)
    X = sp.random(70, 90, density=0.2, random_state=1, format="csr")
    H = rng.random((6, 90))
    fast = _RowProblems(X, H, "stored")
    assert fast.HH is not None
    slow = _RowProblems(X, H, "stored")
    slow.HH = None
    for start, stop in fast.chunks():
        for got, want in zip(fast.get(start, stop), slow.get(start, stop)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
