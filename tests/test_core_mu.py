"""Multiplicative updates of nmfkit._core.mu."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.decomposition import non_negative_factorization
from sklearn.decomposition._nmf import _beta_divergence

from nmfkit._core.losses import beta_divergence, penalized_objective
from nmfkit._core.mu import fit_mu, mu_gamma, mu_update_H, mu_update_W

BETAS = [0, 0.5, 1, 1.5, 2, 3]


def _planted(seed=0, n=50, m=30, k=3, noise=0.05):
    rng = np.random.default_rng(seed)
    X = rng.random((n, k)) @ rng.random((k, m)) + noise * rng.random((n, m))
    return X, rng.random((n, k)) + 0.1, rng.random((k, m)) + 0.1


# Itakura-Saito is undefined at the zeros of sparse data: dense only
@pytest.mark.parametrize("beta, sparse", [(b, s) for b in BETAS for s in (False, True)
                                          if not (s and b <= 0)])
def test_agrees_with_sklearn(beta, sparse):
    X, W0, H0 = _planted(1)
    if sparse:
        X = X.copy()
        X[X < 0.6] = 0
        X = sp.csr_matrix(X)
    Ws, Hs, ns = non_negative_factorization(
        X, W0.copy(), H0.copy(), n_components=3, init="custom", solver="mu",
        beta_loss=beta, max_iter=50, tol=0, alpha_W=0.0, alpha_H=0.0)
    W, H, n_iter = fit_mu(X, W0.copy(), H0.copy(), beta=beta, max_iter=50, tol=0)
    assert n_iter == ns == 50
    assert beta_divergence(X, W, H, beta) == pytest.approx(_beta_divergence(X, Ws, Hs, beta), rel=1e-6)
    np.testing.assert_allclose(W @ H, Ws @ Hs, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("beta", [1, 2, 0.5])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_agrees_with_sklearn_penalized_and_stopping(beta):
    X, W0, H0 = _planted(2)
    n, m = X.shape
    alpha, ratio = 0.01, 0.5
    W, H, n_iter = fit_mu(X, W0.copy(), H0.copy(), beta=beta, max_iter=300, tol=1e-4,
                          l1_W=alpha * ratio * m, l2_W=alpha * (1 - ratio) * m,
                          l1_H=alpha * ratio * n, l2_H=alpha * (1 - ratio) * n)
    Ws, Hs, ns = non_negative_factorization(
        X, W0.copy(), H0.copy(), n_components=3, init="custom", solver="mu",
        beta_loss=beta, max_iter=300, tol=1e-4, alpha_W=alpha, alpha_H="same",
        l1_ratio=ratio)
    assert n_iter == ns
    np.testing.assert_allclose(W, Ws, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(H, Hs, rtol=1e-6, atol=1e-10)


def test_update_H_false_keeps_H_and_matches_sklearn():
    X, _, H0 = _planted(3)
    # scikit-learn starts W at sqrt(mean(X) / k) when H is fixed
    W0 = np.full((X.shape[0], 3), np.sqrt(X.mean() / 3))
    Hc = H0.copy()
    W, H, _ = fit_mu(X, W0.copy(), Hc, beta=1, max_iter=40, tol=0, update_H=False)
    np.testing.assert_array_equal(Hc, H0)
    Ws, _, _ = non_negative_factorization(
        X, W0.copy(), H0.copy(), n_components=3, init="custom", update_H=False,
        solver="mu", beta_loss=1, max_iter=40, tol=0)
    np.testing.assert_allclose(W, Ws, rtol=1e-8)


def test_recovers_planted_factors():
    rng = np.random.default_rng(4)
    W_true = rng.random((80, 3)) * (rng.random((80, 3)) < 0.6)
    H_true = rng.random((3, 40)) * (rng.random((3, 40)) < 0.6)
    X = W_true @ H_true
    W, H, _ = fit_mu(X, rng.random((80, 3)), rng.random((3, 40)), beta=1,
                     max_iter=3000, tol=0)
    assert np.linalg.norm(X - W @ H) < 1e-2 * np.linalg.norm(X)


matrices = st.tuples(st.integers(2, 7), st.integers(2, 7), st.integers(1, 4),
                     st.integers(0, 2**31 - 1))


def _objective_trace(X, W, H, beta, obs, pen, n=6):
    gamma = mu_gamma(beta)
    l1W, l2W, l1H, l2H = pen
    vals = [penalized_objective(X, W, H, beta, *pen, observed=obs)]
    for _ in range(n):
        mu_update_W(X, W, H, beta, l1=l1W, l2=l2W, gamma=gamma, observed=obs)
        vals.append(penalized_objective(X, W, H, beta, *pen, observed=obs))
        mu_update_H(X, W, H, beta, l1=l1H, l2=l2H, gamma=gamma, observed=obs)
        vals.append(penalized_objective(X, W, H, beta, *pen, observed=obs))
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
        assert W.min() >= 0 and H.min() >= 0
    return np.array(vals)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("kind", ["dense", "sparse", "masked", "stored"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=matrices, penalized=st.booleans())
def test_monotone_objective(beta, kind, params, penalized):
    n, m, k, seed = params
    rng = np.random.default_rng(seed)
    # strictly positive observed data for IS; zeros allowed otherwise
    X = rng.random((n, m)) + (0.1 if beta <= 0 else 0.0)
    if kind in ("sparse", "stored"):
        if beta <= 0 and kind == "sparse":
            return  # IS undefined at the implicit zeros
        X[rng.random((n, m)) < 0.4] = 0
        X = sp.csr_matrix(X)
        obs = "stored" if kind == "stored" else None
    elif kind == "masked":
        obs = rng.random((n, m)) < 0.7
        X = np.where(obs, X, 5.0)
    else:
        obs = None
    W, H = rng.random((n, k)) + 0.05, rng.random((k, m)) + 0.05
    pen = tuple(rng.random(4) * 0.3) if penalized else (0.0,) * 4
    vals = _objective_trace(X, W, H, beta, obs, pen)
    assert np.all(np.diff(vals) <= 1e-9 * np.abs(vals[:-1]) + 1e-12)


@pytest.mark.parametrize("beta", BETAS)
def test_float32_stays_float32(beta):
    X, W0, H0 = _planted(5)
    X, W0, H0 = (a.astype(np.float32) for a in (X, W0, H0))
    W, H, _ = fit_mu(X, W0.copy(), H0.copy(), beta=beta, max_iter=30, tol=0)
    assert W.dtype == np.float32 and H.dtype == np.float32
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    assert beta_divergence(X, W, H, beta) < 0.9 * beta_divergence(X, W0, H0, beta)
    # same iterates as in float64, up to float32 rounding
    W64, H64, _ = fit_mu(X.astype(np.float64), W0.astype(np.float64),
                         H0.astype(np.float64), beta=beta, max_iter=30, tol=0)
    np.testing.assert_allclose(W @ H, W64 @ H64, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("case", ["zeros", "zero_rows_cols", "one_by_one", "k_large"])
def test_degenerate_inputs(beta, case):
    rng = np.random.default_rng(6)
    if case == "zeros":
        X, k = np.zeros((4, 5)), 2
    elif case == "zero_rows_cols":
        X = rng.random((6, 5)) + 0.1
        X[2] = 0
        X[:, 3] = 0
        k = 2
    elif case == "one_by_one":
        X, k = np.full((1, 1), 2.0), 1
    else:
        X, k = rng.random((3, 4)), 6
    for Xin, obs in [(X, None), (sp.csr_matrix(X), None), (sp.csr_matrix(X), "stored"),
                     (X, rng.random(X.shape) < 0.5)]:
        W, H = rng.random((X.shape[0], k)), rng.random((k, X.shape[1]))
        W, H, _ = fit_mu(Xin, W, H, beta=beta, max_iter=30, tol=1e-4, observed=obs,
                         l1_W=0.1, l2_H=0.1)
        assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
        assert W.min() >= 0 and H.min() >= 0
        assert np.isfinite(beta_divergence(Xin, W, H, beta, observed=obs))


def test_masked_ignores_unobserved_values_and_fits_observed():
    X, W0, H0 = _planted(7, noise=0.0)
    M = np.random.default_rng(8).random(X.shape) < 0.7
    Xa, Xb = np.where(M, X, 0.0), np.where(M, X, 50.0)
    Wa, Ha, _ = fit_mu(Xa, W0.copy(), H0.copy(), beta=1, max_iter=300, tol=0, observed=M)
    Wb, Hb, _ = fit_mu(Xb, W0.copy(), H0.copy(), beta=1, max_iter=300, tol=0, observed=M)
    np.testing.assert_allclose(Wa, Wb)
    # the missing entries are predicted from the observed ones
    err = np.abs((Wa @ Ha - X)[~M]).mean() / X.mean()
    assert err < 0.1


def test_stored_equals_dense_mask():
    X, W0, H0 = _planted(9)
    rng = np.random.default_rng(10)
    M = rng.random(X.shape) < 0.5
    Xs = sp.csr_matrix(np.where(M, X, 0.0))
    for beta in BETAS:
        Wd, Hd, _ = fit_mu(np.where(M, X, 0.0), W0.copy(), H0.copy(), beta=beta,
                           max_iter=20, tol=0, observed=M)
        Ws, Hs, _ = fit_mu(Xs, W0.copy(), H0.copy(), beta=beta, max_iter=20, tol=0,
                           observed="stored")
        np.testing.assert_allclose(Wd, Ws, rtol=1e-8)
        np.testing.assert_allclose(Hd, Hs, rtol=1e-8)


def test_verbose_prints(capsys):
    X, W0, H0 = _planted(11)
    fit_mu(X, W0, H0, beta=2, max_iter=20, tol=1e-12, verbose=1)
    assert "error" in capsys.readouterr().out
