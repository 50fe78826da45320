"""Tests of nmfkit.MiniBatchNMF (online HALS / mini-batch MU)."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import MiniBatchNMF as SkMiniBatchNMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from nmfkit._core.online import OnlineStats, minibatch_step
from nmfkit.minibatch import MiniBatchNMF


def _planted(rng, m=600, n=40, k=4, noise=0.0):
    W = rng.random((m, k))
    H = rng.random((k, n))
    H[H < 0.4] = 0.0  # distinct, partly sparse components
    X = W @ H
    if noise:
        X += noise * rng.random((m, n))
    return X, W, H


def _rel_err(X, W, H, observed=None):
    R = X - W @ H
    if observed is not None:
        R = np.where(observed, R, 0.0)
        return np.linalg.norm(R) / np.linalg.norm(np.where(observed, X, 0.0))
    return np.linalg.norm(R) / np.linalg.norm(X)


def _match_components(H_true, H_est):
    """Best cosine similarity of each true component with an estimated one."""
    a = H_true / np.linalg.norm(H_true, axis=1, keepdims=True)
    b = H_est / np.maximum(np.linalg.norm(H_est, axis=1, keepdims=True), 1e-12)
    return (a @ b.T).max(axis=1)


# --------------------------------------------------------------- sklearn API
@parametrize_with_checks([
    MiniBatchNMF(n_components=2, max_iter=20, random_state=0),
    MiniBatchNMF(n_components=2, max_iter=20, random_state=0, missing_values=None),
])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_constructor_matches_sklearn():
    ours = MiniBatchNMF().get_params()
    theirs = SkMiniBatchNMF().get_params()
    assert ours.pop("missing_values") is np.nan
    assert ours == theirs


# ---------------------------------------------------------- planted factors
@pytest.mark.parametrize("kind", ["dense", "sparse", "nan"])
def test_planted_recovery(kind):
    rng = np.random.default_rng(0)
    X, _, H_true = _planted(rng)
    observed = None
    if kind == "sparse":
        X[X < np.quantile(X, 0.3)] = 0.0
        X = sp.csr_matrix(X)
    elif kind == "nan":
        observed = rng.random(X.shape) > 0.2
        X = np.where(observed, X, np.nan)
    est = MiniBatchNMF(n_components=4, batch_size=100, max_iter=300, tol=1e-6,
                       max_no_improvement=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
    H = est.components_
    assert np.isfinite(W).all() and np.isfinite(H).all()
    Xd = X.toarray() if sp.issparse(X) else np.nan_to_num(X)
    err = _rel_err(Xd, W, H, observed)
    if kind == "sparse":  # thresholded data is not exactly rank 4
        assert err < 0.2
    else:
        assert err < 0.02
        assert _match_components(H_true, H).min() > 0.98
    # transform of the training data agrees with fit_transform's W
    W2 = est.transform(X)
    assert _rel_err(Xd, W2, H, observed) <= err * 1.05 + 1e-12


def test_mask_argument_equals_nan():
    rng = np.random.default_rng(1)
    X, _, _ = _planted(rng, m=300, n=20, k=3)
    observed = rng.random(X.shape) > 0.3
    a = MiniBatchNMF(3, batch_size=64, max_iter=30, random_state=0)
    b = clone(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Wa = a.fit_transform(np.where(observed, X, np.nan))
        Wb = b.fit_transform(np.where(observed, X, 123.0), mask=observed)
    np.testing.assert_allclose(Wa, Wb, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-6, atol=1e-8)


def test_missing_entries_do_not_matter():
    """Values at masked entries are ignored: garbage there changes nothing."""
    rng = np.random.default_rng(2)
    X, _, _ = _planted(rng, m=200, n=15, k=3)
    observed = rng.random(X.shape) > 0.25
    X1 = np.where(observed, X, 0.0)
    X2 = np.where(observed, X, 50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m1 = MiniBatchNMF(3, batch_size=50, max_iter=20, random_state=0,
                          init="random").fit(X1, mask=observed)
        m2 = MiniBatchNMF(3, batch_size=50, max_iter=20, random_state=0,
                          init="random").fit(X2, mask=observed)
    np.testing.assert_allclose(m1.components_, m2.components_, rtol=1e-6)


def test_sparse_with_mask_matches_dense_with_mask():
    rng = np.random.default_rng(3)
    X, _, _ = _planted(rng, m=200, n=15, k=3)
    observed = rng.random(X.shape) > 0.4
    Xs = sp.csr_matrix(np.where(observed, X, 0.0))
    mask_s = sp.csr_matrix(observed)
    kw = dict(n_components=3, batch_size=50, max_iter=15, random_state=0,
              init="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        md = MiniBatchNMF(**kw).fit(np.where(observed, X, 0.0), mask=observed)
        ms = MiniBatchNMF(**kw).fit(Xs, mask=mask_s)
    np.testing.assert_allclose(md.components_, ms.components_, rtol=1e-5,
                               atol=1e-6)


# ------------------------------------------------------------- online steps
def test_online_H_step_decreases_surrogate():
    """Each H update minimises the accumulated surrogate: it never rises."""
    rng = np.random.default_rng(4)
    X, _, _ = _planted(rng, m=400, n=30, k=3, noise=0.05)
    H = rng.random((3, 30))
    stats = OnlineStats(H, 2.0)
    for start in range(0, 400, 80):
        Xb = X[start:start + 80]
        Wb = rng.random((80, 3))
        minibatch_step(Xb, Wb, H, stats, rho=0.9)

        def surrogate(Hc):
            return 0.5 * np.vdot(Hc @ Hc.T, stats.A) - np.vdot(stats.B, Hc)

        before = surrogate(H)
        H_next = H.copy()
        minibatch_step(np.zeros((0, 30)), np.zeros((0, 3)), H_next, stats, rho=1.0)
        assert surrogate(H_next) <= before + 1e-9 * abs(before)


def test_partial_fit_converges_like_fit():
    rng = np.random.default_rng(5)
    X, _, _ = _planted(rng, m=800, n=30, k=3, noise=0.01)
    full = MiniBatchNMF(3, batch_size=100, random_state=0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full.fit(X)
    online = MiniBatchNMF(3, batch_size=100, random_state=0)
    for _ in range(10):
        for start in range(0, 800, 100):
            online.partial_fit(X[start:start + 100])
    assert online.n_steps_ == 80
    loss_full = _rel_err(X, full.transform(X), full.components_)
    loss_online = _rel_err(X, online.transform(X), online.components_)
    assert loss_online < 0.05
    assert loss_online <= 1.5 * loss_full + 0.01


def test_partial_fit_with_nan():
    rng = np.random.default_rng(6)
    X, _, _ = _planted(rng, m=400, n=20, k=3)
    Xn = np.where(rng.random(X.shape) > 0.2, X, np.nan)
    est = MiniBatchNMF(3, random_state=0)
    for _ in range(8):
        for start in range(0, 400, 100):
            est.partial_fit(Xn[start:start + 100])
    observed = ~np.isnan(Xn)
    W = est.transform(Xn)
    assert np.isfinite(W).all()
    assert _rel_err(np.nan_to_num(Xn), W, est.components_, observed) < 0.05


# ------------------------------------------------------------ vs scikit-learn
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_loss_not_worse_than_sklearn_on_digits(beta_loss):
    X = load_digits().data[:1000]
    if beta_loss != "frobenius":
        X = X + 0.01
    kw = dict(n_components=10, batch_size=200, random_state=0, max_iter=50,
              beta_loss=beta_loss, init="nndsvda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MiniBatchNMF(**kw).fit(X)
        theirs = SkMiniBatchNMF(**kw).fit(X)
    assert ours.reconstruction_err_ <= theirs.reconstruction_err_ * 1.001


@pytest.mark.parametrize("alpha_W, l1_ratio", [(0.001, 0.5), (0.01, 0.0)])
def test_penalized_objective_not_worse_than_sklearn(alpha_W, l1_ratio):
    from nmfkit._core.losses import penalized_objective

    X = load_digits().data[:600]
    m, n = X.shape
    kw = dict(n_components=8, batch_size=200, random_state=0, max_iter=30,
              alpha_W=alpha_W, l1_ratio=l1_ratio)
    pen = (n * alpha_W * l1_ratio, n * alpha_W * (1 - l1_ratio),
           m * alpha_W * l1_ratio, m * alpha_W * (1 - l1_ratio))
    objectives = []
    for cls in (MiniBatchNMF, SkMiniBatchNMF):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = cls(**kw)
            W = est.fit_transform(X)
        objectives.append(penalized_objective(X, W, est.components_, 2.0, *pen))
    assert objectives[0] <= objectives[1]


def test_kl_same_algorithm_as_sklearn():
    """Beta != 2 runs scikit-learn's mini-batch MU scheme: same result."""
    rng = np.random.default_rng(7)
    X = rng.random((120, 12)) + 0.1
    kw = dict(n_components=3, batch_size=30, random_state=0, max_iter=20,
              beta_loss="kullback-leibler", init="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MiniBatchNMF(**kw).fit(X)
        theirs = SkMiniBatchNMF(**kw).fit(X)
    assert ours.n_steps_ == theirs.n_steps_
    np.testing.assert_allclose(ours.components_, theirs.components_, rtol=1e-6)


@pytest.mark.parametrize("beta_loss", [0.5, "itakura-saito", 3.0])
def test_other_beta_losses_finite_and_decreasing(beta_loss):
    rng = np.random.default_rng(8)
    X, _, _ = _planted(rng, m=200, n=15, k=3)
    X += 0.1
    short = MiniBatchNMF(3, batch_size=50, random_state=0, max_iter=1,
                         beta_loss=beta_loss, init="random", tol=0)
    long = clone(short).set_params(max_iter=40, max_no_improvement=None)
    short.fit(X)
    long.fit(X)
    assert np.isfinite(long.components_).all()
    assert long.reconstruction_err_ < short.reconstruction_err_


# ---------------------------------------------------------------- properties
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_float32_preserved(beta_loss):
    rng = np.random.default_rng(9)
    X = (rng.random((100, 10)) + 0.1).astype(np.float32)
    est = MiniBatchNMF(3, batch_size=30, max_iter=5, random_state=0,
                       beta_loss=beta_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
    assert W.dtype == np.float32
    assert est.components_.dtype == np.float32
    assert est.transform(X).dtype == np.float32
    est.partial_fit(X[:30])
    assert est.components_.dtype == np.float32


def test_pickle_clone_and_determinism():
    rng = np.random.default_rng(10)
    X, _, _ = _planted(rng, m=200, n=12, k=3)
    est = MiniBatchNMF(3, batch_size=40, max_iter=10, random_state=42,
                       init="random")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W1 = est.fit_transform(X)
        W2 = clone(est).fit_transform(X)
    np.testing.assert_array_equal(W1, W2)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.transform(X), est.transform(X))
    np.testing.assert_array_equal(restored.components_, est.components_)
    restored.partial_fit(X[:40])  # statistics survive pickling
    assert restored.n_steps_ == est.n_steps_ + 1


def test_fitted_attributes_and_convergence_warning():
    rng = np.random.default_rng(11)
    X, _, _ = _planted(rng, m=250, n=12, k=3)
    est = MiniBatchNMF(3, batch_size=100, max_iter=2, tol=1e-12,
                       max_no_improvement=None, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum number of iterations"):
        est.fit(X)
    assert est.n_iter_ == 2
    assert est.n_steps_ == 6
    assert est.n_components_ == 3
    assert est.n_features_in_ == 12
    with pytest.warns(ConvergenceWarning):
        W = est.fit_transform(X)
    np.testing.assert_allclose(est.reconstruction_err_,
                               np.linalg.norm(X - W @ est.components_), rtol=1e-6)


def test_fresh_restarts_and_custom_init():
    rng = np.random.default_rng(12)
    X, W0, H0 = _planted(rng, m=300, n=20, k=3)
    est = MiniBatchNMF(3, init="custom", batch_size=60, fresh_restarts=True,
                       random_state=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X, W=W0 + 0.1, H=H0 + 0.1)
    assert _rel_err(X, W, est.components_) < 0.05


def test_feature_names_and_pandas_output():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(13)
    X = pd.DataFrame(rng.random((50, 4)), columns=list("abcd"))
    est = MiniBatchNMF(2, batch_size=20, max_iter=5, random_state=0)
    est.set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = est.fit_transform(X)
    assert list(out.columns) == ["minibatchnmf0", "minibatchnmf1"]
    assert list(est.feature_names_in_) == list("abcd")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "params, X, match",
    [
        ({}, -np.ones((5, 3)), "Negative values"),
        ({}, np.array([[1.0, np.inf], [1.0, 2.0]]), "[Ii]nf"),
        ({"missing_values": None}, np.array([[1.0, np.nan], [1.0, 2.0]]), "NaN"),
        ({}, np.empty((0, 3)), "0 sample"),
        ({"n_components": 0}, np.ones((5, 3)), "n_components"),
        ({"batch_size": 0}, np.ones((5, 3)), "batch_size"),
        ({"forget_factor": 1.5}, np.ones((5, 3)), "forget_factor"),
        ({"max_no_improvement": 0}, np.ones((5, 3)), "max_no_improvement"),
        ({"beta_loss": "foo"}, np.ones((5, 3)), "beta_loss"),
        ({"beta_loss": 0}, np.zeros((5, 3)) + np.eye(5, 3), "beta_loss <= 0"),
        ({"missing_values": 0.0}, np.ones((5, 3)), "missing_values"),
    ],
)
def test_bad_input(params, X, match):
    params = {"n_components": 2, **params}
    with pytest.raises(ValueError, match=match):
        MiniBatchNMF(**params).fit(X)


def test_bad_custom_factors_and_mask():
    X = np.ones((6, 4))
    est = MiniBatchNMF(2, init="custom")
    with pytest.raises(ValueError, match="input W"):
        est.fit(X, W=np.ones((5, 2)), H=np.ones((2, 4)))
    with pytest.raises(ValueError, match="input H"):
        est.fit(X, W=np.ones((6, 2)), H=np.ones((2, 3)))
    with pytest.raises(ValueError, match="Negative"):
        est.fit(X, W=np.ones((6, 2)), H=-np.ones((2, 4)))
    with pytest.raises(TypeError, match="dtype"):
        est.fit(X, W=np.ones((6, 2), np.float32), H=np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="mask"):
        MiniBatchNMF(2).fit(X, mask=np.ones((6, 3), bool))
    with pytest.raises(ValueError, match="mask"):
        MiniBatchNMF(2).partial_fit(X, mask=np.ones((5, 4), bool))
    fitted = MiniBatchNMF(2, max_iter=5, tol=0).fit(X + np.eye(6, 4))
    with pytest.raises(ValueError, match="features"):
        fitted.partial_fit(np.ones((3, 5)))
    with pytest.raises(ValueError, match="features"):
        fitted.transform(np.ones((3, 5)))


@pytest.mark.parametrize("missing", [False, True])
def test_subsampled_init_recovery(missing):
    """Many batches: NNDSVD on a row subsample, W from a flat start."""
    rng = np.random.default_rng(15)
    X, _, H_true = _planted(rng, m=2000, n=30, k=4)
    observed = None
    if missing:
        observed = rng.random(X.shape) > 0.2
        X = np.where(observed, X, np.nan)
    est = MiniBatchNMF(4, batch_size=100, max_iter=100, tol=0,
                       max_no_improvement=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = est.fit_transform(X)
    assert _rel_err(np.nan_to_num(X), W, est.components_, observed) < 0.02
    assert _match_components(H_true, est.components_).min() > 0.98


def test_duplicate_components_float32_finite():
    """Singular Gram matrices (identical components) stay finite."""
    rng = np.random.default_rng(16)
    X = rng.random((400, 8)).astype(np.float32)
    H = np.ones((3, 8), dtype=np.float32)
    W = np.ones((400, 3), dtype=np.float32)
    est = MiniBatchNMF(3, init="custom", batch_size=40, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Wout = est.fit_transform(X, W=W, H=H)
    assert np.isfinite(Wout).all() and np.isfinite(est.components_).all()
    assert est.reconstruction_err_ < np.linalg.norm(X)


# -------------------------------------------------------------- degenerate
@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize("case", ["zero_rows", "1x1", "k_large", "row_missing",
                                  "all_zero"])
def test_degenerate_inputs_finite(case, beta_loss):
    rng = np.random.default_rng(14)
    X = rng.random((30, 6))
    k = 2
    if case == "zero_rows":
        X[::3] = 0.0
    elif case == "1x1":
        X = np.array([[2.0]])
        k = 1
    elif case == "k_large":
        k = 10
    elif case == "row_missing":
        X[4] = np.nan
        X[7, :5] = np.nan
    elif case == "all_zero":
        X = np.zeros((10, 4))
    est = MiniBatchNMF(k, batch_size=8, max_iter=20, random_state=0,
                       beta_loss=beta_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning / init warnings
        W = est.fit_transform(X)
        est.partial_fit(X)
        W2 = est.transform(X)
    assert est.components_.shape == (k, X.shape[1])
    for a in (W, W2, est.components_):
        assert np.isfinite(a).all() and (a >= 0).all()
    assert np.isfinite(est.reconstruction_err_)


# ---------------------------------------------------------------- fidelity
def _low_rank_with_zero_rows():
    """15 x 10, rank 5, rows 5.. all zero (scikit-learn's true-reconstruction data)."""
    rng = np.random.RandomState(42)
    W = np.zeros((15, 5))
    w = np.abs(rng.randn(15))
    for j in range(5):
        W[j, j] = w[j]
    H = np.zeros((5, 10))
    h = np.abs(rng.randn(5))
    for j in range(10):
        H[j % 5, j] = h[j % 5]
    return W @ H


@pytest.mark.parametrize("beta_loss", [2, 1, 0.5])
def test_exact_low_rank_is_reconstructed(beta_loss):
    """Batches of zero rows are no evidence of convergence (they once stopped KL
    after 3 steps at reconstruction_err_ 1.84; scikit-learn gets 0.057)."""
    X = _low_rank_with_zero_rows()
    est = MiniBatchNMF(n_components=5, beta_loss=beta_loss, batch_size=3,
                       max_iter=1000, random_state=0)
    W = est.fit_transform(X)
    # (scikit-learn: 0.25 for beta 2 and 7.8 for beta 0.5, stopped by the
    # zero batches; 0.057 for KL)
    assert est.reconstruction_err_ < (0.2 if beta_loss == 0.5 else 0.1)
    np.testing.assert_allclose(W @ est.components_, X, atol=1e-2)
    if beta_loss == 1:  # the KL path is scikit-learn's scheme: same result
        ref = SkMiniBatchNMF(n_components=5, beta_loss=1, batch_size=3,
                             max_iter=1000, random_state=0).fit(X)
        assert est.reconstruction_err_ <= ref.reconstruction_err_ * (1 + 1e-6)


@pytest.mark.parametrize("beta_loss", [2, 1, 0.5])
@pytest.mark.parametrize("sparse", [False, True])
def test_fit_one_epoch_equals_partial_fit(beta_loss, sparse):
    """fit (one epoch, fresh restarts) and partial_fit on the same batches agree.

    ``forget_factor=1``: partial_fit cannot know the size of the stream, so
    its per-batch forgetting is ``forget_factor`` where fit's is
    ``forget_factor ** (batch_size / n_samples)``; they coincide at 1.
    """
    rng = np.random.RandomState(0)
    X = np.abs(rng.randn(95, 8))
    X[X < 0.3] = 0
    if sparse:
        X = sp.csr_matrix(X)
    H0 = np.abs(rng.randn(4, 8))
    W0 = np.ones((95, 4))
    common = dict(n_components=4, init="custom", beta_loss=beta_loss, batch_size=10,
                  forget_factor=1.0, alpha_W=0.05, l1_ratio=0.5,
                  fresh_restarts_max_iter=30)
    one_epoch = MiniBatchNMF(max_iter=1, tol=0, max_no_improvement=None,
                             fresh_restarts=True, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one_epoch.fit(X, W=W0, H=H0)
    stream = MiniBatchNMF(**common)
    for start in range(0, 95, 10):
        stream.partial_fit(X[start:start + 10], W=W0[:10], H=H0)
    assert one_epoch.n_steps_ == stream.n_steps_ == 10
    np.testing.assert_allclose(one_epoch.components_, stream.components_,
                               rtol=1e-10, atol=1e-12)
    # and the caller's H was not written into
    assert np.abs(H0 - stream.components_).max() > 1e-3
