"""Tests of the HALS / coordinate-descent core and the randomized compression."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition._nmf import _fit_coordinate_descent, _initialize_nmf

from nmfkit._core.hals import (
    _fold_penalties,
    _half_objective,
    _prescale,
    _squared_norm,
    fit_hals,
    hals_sweep,
)
from nmfkit._core.losses import penalized_objective
from nmfkit._core.randomized import compress, randomized_range


def objective(X, W, H, l1_W=0.0, l2_W=0.0, l1_H=0.0, l2_H=0.0, observed=None):
    """Penalized objective, computed densely (test data are small)."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
    R = Xd - W @ H
    if isinstance(observed, str):
        R = np.where(_stored_mask(X), R, 0)
    elif observed is not None:
        R = np.where(observed, R, 0)
    return (0.5 * np.sum(R.astype(np.float64) ** 2) + l1_W * W.sum()
            + 0.5 * l2_W * np.sum(W**2) + l1_H * H.sum() + 0.5 * l2_H * np.sum(H**2))


@pytest.mark.parametrize("kind", ["dense", "sparse", "mask", "stored"])
def test_objective_helper_matches_losses_module(kind):
    rng = np.random.default_rng(12)
    X = rng.random((9, 7)) * (rng.random((9, 7)) < 0.6)
    observed = None
    if kind in ("sparse", "stored"):
        X = sp.csr_matrix(X)
        observed = "stored" if kind == "stored" else None
    elif kind == "mask":
        observed = rng.random(X.shape) < 0.7
    W, H = rng.random((9, 2)), rng.random((2, 7))
    ours = objective(X, W, H, 0.1, 0.2, 0.3, 0.4, observed=observed)
    theirs = penalized_objective(X, W, H, 2, 0.1, 0.2, 0.3, 0.4, observed=observed)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def _stored_mask(X):
    P = X.copy().tocsr()
    P.data = np.ones_like(P.data)
    return P.toarray().astype(bool)


def planted(rng, m, n, k, noise=0.0):
    W = rng.random((m, k))
    H = rng.random((k, n))
    X = W @ H + noise * np.abs(rng.standard_normal((m, n)))
    return X, W, H


# ---------------------------------------------------------------- sweeps
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 12), n=st.integers(1, 12),
       k=st.integers(1, 5), l1=st.sampled_from([0.0, 0.3]),
       l2=st.sampled_from([0.0, 0.7]))
def test_sweep_nonnegative_and_monotone(seed, m, n, k, l1, l2):
    rng = np.random.default_rng(seed)
    X = rng.random((m, n))
    W = rng.random((m, k))
    H = rng.random((k, n))
    A = H @ X.T
    B = H @ H.T
    before = objective(X, W, H, l1_W=l1, l2_W=l2)
    Wt = np.ascontiguousarray(W.T)
    viol = hals_sweep(Wt, A, B, l1=l1, l2=l2, order=rng.permutation(k))
    after = objective(X, Wt.T, H, l1_W=l1, l2_W=l2)
    assert np.all(Wt >= 0)
    assert viol >= 0
    assert after <= before * (1 + 1e-10) + 1e-12
    # A and B untouched
    np.testing.assert_array_equal(A, H @ X.T)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["dense", "sparse", "mask", "stored"]),
       l1=st.sampled_from([0.0, 0.2]), l2=st.sampled_from([0.0, 0.5]))
def test_iterations_monotone(seed, kind, l1, l2):
    rng = np.random.default_rng(seed)
    m, n, k = 15, 11, 3
    X = rng.random((m, n)) * (rng.random((m, n)) < 0.6)
    observed = None
    if kind == "sparse":
        X = sp.csr_matrix(X)
    elif kind == "mask":
        observed = rng.random((m, n)) < 0.7
    elif kind == "stored":
        X = sp.csr_matrix(X)
        observed = "stored"
    W = rng.random((m, k))
    H = rng.random((k, n))
    pen = dict(l1_W=l1, l2_W=l2, l1_H=l2, l2_H=l1)
    prev = objective(X, W, H, observed=observed, **pen)
    for _ in range(5):
        fit_hals(X, W, H, max_iter=1, observed=observed, **pen)
        cur = objective(X, W, H, observed=observed, **pen)
        assert np.all(W >= 0) and np.all(H >= 0)
        assert cur <= prev * (1 + 1e-10) + 1e-12
        prev = cur


# ---------------------------------------------------------------- recovery
@pytest.mark.parametrize("kind", ["dense", "sparse", "mask", "stored"])
def test_planted_recovery(kind):
    rng = np.random.default_rng(0)
    m, n, k = 80, 50, 4
    W0 = rng.random((m, k)) * (rng.random((m, k)) < 0.7)
    H0 = rng.random((k, n)) * (rng.random((k, n)) < 0.7)
    X = W0 @ H0
    observed = None
    Xin = X
    if kind == "sparse":
        Xin = sp.csr_matrix(X)
    elif kind == "mask":
        observed = rng.random((m, n)) >= 0.3
        Xin = np.where(observed, X, 0)
    elif kind == "stored":
        observed = "stored"
        mask = rng.random((m, n)) >= 0.3
        Xin = sp.csr_matrix(np.where(mask, X, 0))
    W = rng.random((m, k))
    H = rng.random((k, n))
    W, H, n_iter = fit_hals(Xin, W, H, tol=1e-10, max_iter=3000, observed=observed)
    rel = np.linalg.norm(X - W @ H) / np.linalg.norm(X)
    assert rel < 1e-2, (kind, rel, n_iter)


# ---------------------------------------------------------------- scikit-learn
def _sklearn_cd(X, W, H, **kw):
    args = dict(tol=1e-4, max_iter=200, l1_reg_W=0, l1_reg_H=0, l2_reg_W=0,
                l2_reg_H=0, shuffle=False, random_state=None)
    args.update(kw)
    return _fit_coordinate_descent(X, W.copy(), H.copy(), **args)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_loss_not_worse_than_sklearn(sparse, shuffle):
    rng = np.random.default_rng(1)
    X, _, _ = planted(rng, 300, 120, 6, noise=0.2)
    if sparse:
        X = X * (rng.random(X.shape) < 0.2)
        X = sp.csr_matrix(X)
    W0, H0 = _initialize_nmf(X, 6, init="nndsvda", random_state=0)
    Ws, Hs, _ = _sklearn_cd(X, W0, H0, shuffle=shuffle, random_state=0)
    W, H, _ = fit_hals(X, W0.copy(), H0.copy(), shuffle=shuffle, random_state=0)
    assert objective(X, W, H) <= objective(X, Ws, Hs) * (1 + 1e-6)


@pytest.mark.parametrize("extrapolate", [False, True])
def test_loss_not_worse_than_sklearn_penalized(extrapolate):
    rng = np.random.default_rng(2)
    X, _, _ = planted(rng, 200, 90, 5, noise=0.3)
    W0, H0 = _initialize_nmf(X, 5, init="nndsvda", random_state=0)
    pen = dict(l1_W=0.5, l2_W=1.0, l1_H=2.0, l2_H=0.3)
    Ws, Hs, _ = _sklearn_cd(X, W0, H0, l1_reg_W=0.5, l2_reg_W=1.0, l1_reg_H=2.0,
                            l2_reg_H=0.3, max_iter=2000)
    W, H, _ = fit_hals(X, W0.copy(), H0.copy(), max_iter=2000,
                       extrapolate=extrapolate, **pen)
    assert objective(X, W, H, **pen) <= objective(X, Ws, Hs, **pen) * (1 + 1e-6)


def test_plain_mode_reproduces_sklearn():
    """Without acceleration and compression the iterates are scikit-learn's."""
    rng = np.random.default_rng(3)
    X, _, _ = planted(rng, 100, 70, 4, noise=0.1)
    W0, H0 = _initialize_nmf(X, 4, init="nndsvda", random_state=0)
    Ws, Hs, it_s = _sklearn_cd(X, W0, H0, tol=1e-2)
    W, H, it = fit_hals(X, W0.copy(), H0.copy(), tol=1e-2, accelerate=False,
                        compress=False)
    assert it == it_s < 200
    np.testing.assert_allclose(W, Ws, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(H, Hs, rtol=1e-8, atol=1e-10)


def test_compressed_path_meets_exact_rule():
    rng = np.random.default_rng(4)
    X, _, _ = planted(rng, 1200, 300, 5, noise=0.05)
    W0, H0 = _initialize_nmf(X, 5, init="nndsvda", random_state=0)
    Ws, Hs, it_s = _sklearn_cd(X, W0, H0, tol=1e-3, max_iter=1000)
    W, H, it = fit_hals(X, W0.copy(), H0.copy(), tol=1e-3, max_iter=1000,
                        compress=True, random_state=0)
    assert it < 1000 and it_s < 1000
    assert objective(X, W, H) <= objective(X, Ws, Hs) * (1 + 1e-6)


# ---------------------------------------------------------------- extrapolation
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), sparse=st.booleans(),
       l1=st.sampled_from([0.0, 0.2]), l2=st.sampled_from([0.0, 0.5]))
def test_extrapolated_objective_never_rises(seed, sparse, l1, l2):
    """The pair returned after j iterations is the best kept so far: its
    objective does not rise with j (the same trajectory, cut later)."""
    rng = np.random.default_rng(seed)
    m, n, k = 15, 11, 3
    X = rng.random((m, n)) * (rng.random((m, n)) < 0.6)
    if sparse:
        X = sp.csr_matrix(X)
    W0, H0 = rng.random((m, k)), rng.random((k, n))
    pen = dict(l1_W=l1, l2_W=l2, l1_H=l2, l2_H=l1)
    prev = np.inf
    for max_iter in range(1, 9):
        W, H, _ = fit_hals(X, W0.copy(), H0.copy(), tol=0.0, max_iter=max_iter,
                           extrapolate=True, **pen)
        cur = objective(X, W, H, **pen)
        assert np.all(W >= 0) and np.all(H >= 0)
        assert cur <= prev * (1 + 1e-10) + 1e-12
        prev = cur


@pytest.mark.parametrize("sparse", [False, True])
def test_half_objective_is_the_penalized_objective(sparse):
    """The objective the extrapolation compares is computed from the
    prescaled, penalty-folded products of the H half-step."""
    rng = np.random.default_rng(20)
    X = rng.random((15, 11)) * (rng.random((15, 11)) < 0.5)
    if sparse:
        X = sp.csr_matrix(X)
    W, H = rng.random((15, 3)), rng.random((3, 11))
    W[:, 2] = 0.0  # a dead component: its row of B has a zero diagonal
    pen = dict(l1_W=0.2, l2_W=0.5, l1_H=0.3, l2_H=0.7)
    A = np.asarray(X.T @ W).T if sparse else W.T @ X
    B = W.T @ W
    _fold_penalties(A, B, pen["l1_H"], pen["l2_H"])
    h = _prescale(A, B)
    x_norm2 = _squared_norm(X)
    f = (_half_objective(A, B, h, H, x_norm2)[0]
         + pen["l1_W"] * W.sum() + 0.5 * pen["l2_W"] * np.sum(W**2))
    np.testing.assert_allclose(f, objective(X, W, H, **pen), rtol=1e-10)


def _random_start(X, k, seed):
    rng = np.random.default_rng(seed)
    scale = np.sqrt(X.mean() / k)
    return (np.abs(scale * rng.standard_normal((X.shape[0], k))),
            np.abs(scale * rng.standard_normal((k, X.shape[1]))))


@pytest.mark.parametrize("sparse", [False, True])
def test_extrapolated_fit_recovers_planted_factors(sparse):
    rng = np.random.default_rng(21)
    X, W_true, H_true = planted(rng, 120, 80, 5)
    if sparse:
        X = sp.csr_matrix(X)
    W, H = _random_start(X, 5, 0)
    W, H, n_iter = fit_hals(X, W, H, tol=1e-6, max_iter=3000, extrapolate=True)
    assert n_iter < 3000
    Xd = X.toarray() if sparse else X
    assert np.linalg.norm(Xd - W @ H) / np.linalg.norm(Xd) < 1e-4
    assert W.min() >= 0 and H.min() >= 0


def test_extrapolation_cuts_iterations_from_random_starts():
    """Same stopping rule, same starts: fewer outer iterations (passes over
    X), and a final objective as good as the plain solver's."""
    rng = np.random.default_rng(22)
    X, _, _ = planted(rng, 300, 200, 8, noise=0.3)
    X = sp.csr_matrix(X * (rng.random(X.shape) < 0.3))
    plain = extra = 0
    for seed in range(4):
        W0, H0 = _random_start(X, 8, seed)
        Wp, Hp, it_p = fit_hals(X, W0.copy(), H0.copy(), tol=1e-5, max_iter=2000)
        We, He, it_e = fit_hals(X, W0.copy(), H0.copy(), tol=1e-5, max_iter=2000,
                                extrapolate=True)
        assert it_e < 2000 and it_p < 2000
        assert objective(X, We, He) <= objective(X, Wp, Hp) * (1 + 1e-3)
        plain += it_p
        extra += it_e
    assert extra < 0.75 * plain


def test_extrapolated_fit_converges_in_float32():
    """float32 products make the objective coarse (~1e-7 relative); the
    extrapolation must fade there instead of wandering along flat
    directions, so the violation rule is still met."""
    rng = np.random.default_rng(24)
    X, _, _ = planted(rng, 300, 200, 8, noise=0.3)
    X = sp.csr_matrix((X * (rng.random(X.shape) < 0.3)).astype(np.float32))
    for seed in range(3):
        W0, H0 = (F.astype(np.float32) for F in _random_start(X, 8, seed))
        W, H, n_iter = fit_hals(X, W0.copy(), H0.copy(), tol=1e-4, max_iter=1000,
                                extrapolate=True)
        Wp, Hp, _ = fit_hals(X, W0.copy(), H0.copy(), tol=1e-4, max_iter=1000)
        assert n_iter < 1000
        assert W.dtype == H.dtype == np.float32
        assert objective(X, W, H) <= objective(X, Wp, Hp) * (1 + 1e-3)


# ---------------------------------------------------------------- API details
def test_update_H_false_and_in_place():
    rng = np.random.default_rng(5)
    X, _, H_true = planted(rng, 40, 30, 3)
    W = rng.random((40, 3))
    H = H_true.copy()
    W_out, H_out, _ = fit_hals(X, W, H, update_H=False, tol=1e-10, max_iter=2000)
    assert W_out is W and H_out is H
    np.testing.assert_array_equal(H, H_true)
    assert np.linalg.norm(X - W @ H) / np.linalg.norm(X) < 1e-6


@pytest.mark.parametrize("kind", ["dense", "sparse", "mask"])
def test_float32_kept(kind):
    rng = np.random.default_rng(6)
    X = rng.random((30, 20)).astype(np.float32)
    observed = None
    if kind == "sparse":
        X = sp.csr_matrix(X * (X > 0.5))
    elif kind == "mask":
        observed = rng.random(X.shape) > 0.2
    W = rng.random((30, 3)).astype(np.float32)
    H = rng.random((3, 20)).astype(np.float32)
    W, H, _ = fit_hals(X, W, H, observed=observed)
    assert W.dtype == np.float32 and H.dtype == np.float32
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))


def test_csc_input_same_as_csr():
    rng = np.random.default_rng(7)
    X = sp.random(50, 40, density=0.2, random_state=0, format="csr")
    W0 = rng.random((50, 3))
    H0 = rng.random((3, 40))
    Wa, Ha, _ = fit_hals(X, W0.copy(), H0.copy())
    Wb, Hb, _ = fit_hals(X.tocsc(), W0.copy(), H0.copy())
    np.testing.assert_allclose(Wa, Wb, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(Ha, Hb, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- degenerate
@pytest.mark.parametrize("case", ["zero_rows_cols", "one_by_one", "k_large", "all_zero"])
@pytest.mark.parametrize("kind", ["dense", "sparse", "mask"])
def test_degenerate_inputs_finite(case, kind):
    rng = np.random.default_rng(8)
    if case == "zero_rows_cols":
        X = rng.random((10, 8))
        X[3] = 0
        X[:, 5] = 0
        k = 3
    elif case == "one_by_one":
        X = np.array([[2.0]])
        k = 1
    elif case == "k_large":
        X = rng.random((4, 3))
        k = 6
    else:
        X = np.zeros((5, 4))
        k = 2
    observed = None
    if kind == "sparse":
        X = sp.csr_matrix(X)
    elif kind == "mask":
        observed = rng.random(X.shape) > 0.3
    W = rng.random((X.shape[0], k))
    H = rng.random((k, X.shape[1]))
    W, H, _ = fit_hals(X, W, H, observed=observed)
    for F in (W, H):
        assert np.all(np.isfinite(F)) and np.all(F >= 0)


def test_unobserved_row_gets_zero():
    rng = np.random.default_rng(9)
    X = rng.random((10, 6))
    observed = np.ones_like(X, dtype=bool)
    observed[4] = False
    W = rng.random((10, 2))
    H = rng.random((2, 6))
    W, H, _ = fit_hals(X, W, H, observed=observed)
    np.testing.assert_array_equal(W[4], 0)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))


# ---------------------------------------------------------------- randomized
@pytest.mark.parametrize("sparse", [False, True])
def test_compress_low_rank_exact(sparse):
    rng = np.random.default_rng(10)
    X = rng.random((200, 5)) @ rng.random((5, 80))
    if sparse:
        X = sp.csr_matrix(X)
    Q, B = compress(X, 10, random_state=0)
    assert Q.shape == (200, 10) and B.shape == (10, 80)
    np.testing.assert_allclose(Q.T @ Q, np.eye(10), atol=1e-10)
    Xd = X.toarray() if sparse else X
    assert np.linalg.norm(Xd - Q @ B) <= 1e-8 * np.linalg.norm(Xd)


def test_randomized_range_float32_and_clipping():
    rng = np.random.default_rng(11)
    X = rng.random((6, 40)).astype(np.float32)
    Q = randomized_range(X, 10, random_state=0)
    assert Q.dtype == np.float32 and Q.shape == (6, 6)
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-5)
