"""Losses of nmfkit._core.losses against scikit-learn and brute force."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition._nmf import _beta_divergence

from nmfkit._core.losses import (beta_divergence, beta_loss_to_float,
                                 penalized_objective, wh_at)

BETAS = [0, 0.5, 1, 1.5, 2, 3]
EPS = np.finfo(np.float32).eps


def _data(seed=0, shape=(40, 25), k=4, density=0.6):
    rng = np.random.default_rng(seed)
    X = rng.random(shape)
    X[rng.random(shape) > density] = 0
    return X, rng.random((shape[0], k)), rng.random((k, shape[1]))


def _brute(X, Y, beta):
    """Entrywise beta-divergence with scikit-learn's zero conventions (1-D inputs)."""
    keep = X > EPS
    x, yc = X[keep], np.maximum(Y[keep], EPS)
    if beta == 2:
        return 0.5 * np.sum((X - Y) ** 2)
    if beta == 1:
        return np.sum(x * np.log(x / yc)) - x.sum() + Y.sum()
    if beta == 0:
        return np.sum(x / yc - np.log(x / yc)) - X.size
    return (np.sum(x ** beta) - beta * np.sum(x * yc ** (beta - 1))
            + (beta - 1) * np.sum(Y ** beta)) / (beta * (beta - 1))


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("sparse", [False, True])
def test_agrees_with_sklearn(beta, sparse):
    X, W, H = _data()
    Xin = sp.csr_matrix(X) if sparse else X
    ref = _beta_divergence(Xin, W, H, beta)
    assert beta_divergence(Xin, W, H, beta) == pytest.approx(ref, rel=1e-10)
    ref_sq = _beta_divergence(Xin, W, H, beta, square_root=True)
    assert beta_divergence(Xin, W, H, beta, square_root=True) == pytest.approx(ref_sq, rel=1e-10)


@pytest.mark.parametrize("beta", BETAS)
def test_sparse_csc_and_dense_agree(beta):
    X, W, H = _data(1)
    d = beta_divergence(X, W, H, beta)
    assert beta_divergence(sp.csc_matrix(X), W, H, beta) == pytest.approx(d, rel=1e-10)


@pytest.mark.parametrize("beta", BETAS)
def test_masked_matches_brute_force(beta):
    X, W, H = _data(2)
    rng = np.random.default_rng(3)
    M = rng.random(X.shape) < 0.7
    Xm = np.where(M, X, 123.0)  # unobserved values must not matter
    Y = W @ H
    ref = _brute(X[M], Y[M], beta)
    assert beta_divergence(Xm, W, H, beta, observed=M) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("beta", BETAS)
def test_stored_matches_brute_force(beta):
    X, W, H = _data(4, density=0.3)
    Xs = sp.csr_matrix(X)
    Xs.data[::7] = 0.0  # explicit zeros are observed entries
    coo = Xs.tocoo()
    M = np.zeros(X.shape, dtype=bool)
    M[coo.row, coo.col] = True
    ref = _brute(Xs.toarray()[M], (W @ H)[M], beta)
    assert beta_divergence(Xs, W, H, beta, observed="stored") == pytest.approx(ref, rel=1e-10)


def test_masked_all_observed_equals_unmasked():
    X, W, H = _data(5)
    M = np.ones(X.shape, dtype=bool)
    for beta in BETAS:
        assert beta_divergence(X, W, H, beta, observed=M) == pytest.approx(
            beta_divergence(X, W, H, beta), rel=1e-10)


@pytest.mark.parametrize("density", [0.02, 0.4])
@pytest.mark.parametrize("k", [0, 1, 7])
def test_wh_at_both_ways_give_the_entries_of_wh(density, k):
    # dense enough and in row order: taken from dense row blocks of W @ H;
    # otherwise (or shuffled) gathered one component at a time
    rng = np.random.default_rng(k)
    X = sp.random(300, 90, density=density, random_state=k, format="csr")
    rows = np.repeat(np.arange(300), np.diff(X.indptr)).astype(np.int32)
    cols = X.indices
    W, H = rng.random((300, k)), rng.random((k, 90))
    expected = (W @ H)[rows, cols]
    np.testing.assert_allclose(wh_at(W, H, rows, cols), expected, rtol=1e-13)
    perm = rng.permutation(rows.size)
    np.testing.assert_allclose(wh_at(W, H, rows[perm], cols[perm]), expected[perm],
                               rtol=1e-13)
    # mixed dtypes give the wider one
    got = wh_at(W.astype(np.float32), H, rows, cols)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, (W.astype(np.float32) @ H)[rows, cols], rtol=1e-6)


def test_wh_at_and_chunks():
    rng = np.random.default_rng(0)
    W, H = rng.random((30, 5)), rng.random((5, 17))
    rows, cols = rng.integers(0, 30, 200), rng.integers(0, 17, 200)
    np.testing.assert_allclose(wh_at(W, H, rows, cols, chunk=7), (W @ H)[rows, cols])
    assert wh_at(W, H, rows[:0], cols[:0]).shape == (0,)


def test_beta_loss_to_float():
    assert beta_loss_to_float("frobenius") == 2
    assert beta_loss_to_float("kullback-leibler") == 1
    assert beta_loss_to_float("itakura-saito") == 0
    assert beta_loss_to_float(1.5) == 1.5


def test_penalized_objective():
    X, W, H = _data(6)
    d = beta_divergence(X, W, H, 1)
    expected = d + 0.1 * W.sum() + 0.5 * 0.2 * (W ** 2).sum() + 0.3 * H.sum() + 0.5 * 0.4 * (H ** 2).sum()
    assert penalized_objective(X, W, H, 1, 0.1, 0.2, 0.3, 0.4) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("beta", BETAS)
def test_degenerate_inputs_are_finite(beta):
    Z = np.zeros((3, 4))
    for X, W, H in [(Z, np.zeros((3, 2)), np.zeros((2, 4))),
                    (np.ones((1, 1)), np.zeros((1, 1)), np.zeros((1, 1))),
                    (sp.csr_matrix(Z), np.ones((3, 5)), np.ones((5, 4)))]:
        assert np.isfinite(beta_divergence(X, W, H, beta))


def test_float32_input():
    X, W, H = _data(7)
    v = beta_divergence(X.astype(np.float32), W.astype(np.float32), H.astype(np.float32), 1)
    assert v == pytest.approx(beta_divergence(X, W, H, 1), rel=1e-4)
