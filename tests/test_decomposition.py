"""Behaviour of nmfkit.NMF / non_negative_factorization as a scikit-learn drop-in."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import decomposition as skd
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from nmfkit import NMF, non_negative_factorization


def planted(m=120, n=80, k=5, noise=0.01, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    W = rng.gamma(1.0, 1.0, (m, k))
    H = rng.gamma(1.0, 1.0, (k, n))
    H[rng.rand(k, n) < 0.3] = 0.0
    X = W @ H + noise * rng.rand(m, n)
    return X.astype(dtype), W, H


def rel_err(X, W, H):
    return np.linalg.norm(X - W @ H) / np.linalg.norm(X)


@parametrize_with_checks(
    [
        NMF(max_iter=500),
        NMF(missing_values=None, max_iter=500),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- agreement
@pytest.mark.parametrize(
    "solver, beta_loss",
    [("cd", "frobenius"), ("mu", "frobenius"), ("mu", "kullback-leibler"),
     ("mu", 1.5), ("mu", "itakura-saito")],
)
def test_loss_same_or_lower_than_sklearn(solver, beta_loss):
    X = load_digits().data[:600]
    if beta_loss == "itakura-saito":
        X = X + 1.0
    params = dict(n_components=10, solver=solver, beta_loss=beta_loss,
                  init="nndsvda", max_iter=400, tol=1e-4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = NMF(**params).fit(X)
        theirs = skd.NMF(**params).fit(X)
    assert ours.reconstruction_err_ <= theirs.reconstruction_err_ * (1 + 1e-3)
    # our reported error is the beta-divergence of our factors
    W = ours.transform(X)
    assert np.isfinite(W).all()


def test_reconstruction_err_matches_sklearn_definition():
    X, _, _ = planted()
    model = NMF(n_components=5, random_state=0).fit(X)
    W = model.fit_transform(X)
    expected = np.linalg.norm(X - W @ model.components_)
    assert model.reconstruction_err_ == pytest.approx(expected, rel=1e-6)


def test_functional_api_matches_estimator():
    X, _, _ = planted()
    W, H, n_iter = non_negative_factorization(X, n_components=5, random_state=0)
    model = NMF(n_components=5, random_state=0)
    W2 = model.fit_transform(X)
    np.testing.assert_allclose(W, W2)
    np.testing.assert_allclose(H, model.components_)
    assert n_iter == model.n_iter_
    # update_H=False solves for W only, with H fixed
    W3, H3, _ = non_negative_factorization(X, H=H, n_components=5, update_H=False)
    np.testing.assert_array_equal(H3, H)
    assert rel_err(X, W3, H) <= rel_err(X, W, H) + 1e-9


# ---------------------------------------------------------------- recovery
@pytest.mark.parametrize("fmt", ["dense", "csr", "csc"])
def test_planted_recovery(fmt):
    X, W0, H0 = planted(noise=0.0)
    Xin = X if fmt == "dense" else getattr(sp, f"{fmt}_matrix")(X)
    model = NMF(n_components=5, tol=1e-8, max_iter=2000, random_state=0)
    W = model.fit_transform(Xin)
    assert rel_err(X, W, model.components_) < 1e-3


def test_planted_recovery_with_missing_entries():
    X, W0, H0 = planted(noise=0.0, m=200, n=100)
    rng = np.random.RandomState(1)
    missing = rng.rand(*X.shape) < 0.3
    X_nan = X.copy()
    X_nan[missing] = np.nan
    model = NMF(n_components=5, tol=1e-8, max_iter=3000, random_state=0)
    W = model.fit_transform(X_nan)
    WH = W @ model.components_
    # the hidden entries are predicted, not only the observed ones fitted
    assert np.linalg.norm((WH - X)[missing]) / np.linalg.norm(X[missing]) < 0.02
    assert np.isfinite(model.reconstruction_err_)


def test_sparse_mask_marks_unobserved_entries():
    X, _, _ = planted(noise=0.0, m=150, n=90, k=4)
    rng = np.random.RandomState(2)
    observed = rng.rand(*X.shape) < 0.6
    X_obs = sp.csr_matrix(np.where(observed, X, 0.0))
    M = sp.csr_matrix(observed)
    model = NMF(n_components=4, tol=1e-8, max_iter=3000, random_state=0)
    W = model.fit_transform(X_obs, mask=M)
    WH = W @ model.components_
    assert np.linalg.norm((WH - X)[~observed]) / np.linalg.norm(X[~observed]) < 0.05
    # treating the absent entries as zeros instead gives a much worse prediction
    W0 = NMF(n_components=4, max_iter=500, random_state=0).fit_transform(X_obs)
    assert np.linalg.norm((W0 @ NMF(n_components=4).fit(X_obs).components_ - X)[~observed]) > 0.3 * np.linalg.norm(X[~observed])


def test_dense_mask_equals_nan():
    X, _, _ = planted()
    rng = np.random.RandomState(3)
    observed = rng.rand(*X.shape) < 0.8
    X_nan = np.where(observed, X, np.nan)
    a = NMF(n_components=5, random_state=0).fit(X_nan)
    b = NMF(n_components=5, random_state=0).fit(np.where(observed, X, 0.0), mask=observed)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- dtypes etc.
@pytest.mark.parametrize("solver, beta", [("cd", 2), ("mu", 1)])
@pytest.mark.parametrize("sparse", [False, True])
def test_float32_preserved(solver, beta, sparse):
    X, _, _ = planted(dtype=np.float32)
    Xin = sp.csr_matrix(X) if sparse else X
    model = NMF(n_components=5, solver=solver, beta_loss=beta, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(Xin)
    assert W.dtype == np.float32
    assert model.components_.dtype == np.float32
    assert model.transform(Xin).dtype == np.float32


def test_huge_sparse_input_fits_without_densifying():
    # dense form would need 10^6 * 10^5 * 8 bytes = 800 GB
    rng = np.random.RandomState(0)
    m, n, nnz = 10**6, 10**5, 10**6
    rows = rng.randint(0, m, nnz)
    cols = rng.randint(0, n, nnz)
    X = sp.csr_matrix((rng.rand(nnz), (rows, cols)), shape=(m, n))
    model = NMF(n_components=3, init="random", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W = model.fit_transform(X)
    assert W.shape == (m, 3)
    assert np.isfinite(model.reconstruction_err_)
    assert np.all(W >= 0) and np.all(model.components_ >= 0)


def test_pickle_clone_and_determinism():
    X, _, _ = planted()
    model = NMF(n_components=5, init="random", random_state=42).fit(X)
    again = clone(model).fit(X)
    np.testing.assert_array_equal(model.components_, again.components_)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    assert clone(model).get_params() == model.get_params()


def test_set_output_pandas_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, _, _ = planted()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = NMF(n_components=3, random_state=0).set_output(transform="pandas")
    out = model.fit_transform(df)
    assert list(out.columns) == ["nmf0", "nmf1", "nmf2"]
    assert list(model.feature_names_in_) == list(df.columns)


def test_transform_is_row_independent():
    X, _, _ = planted()
    model = NMF(n_components=5, random_state=0).fit(X)
    full = model.transform(X)
    part = model.transform(X[:7])
    np.testing.assert_allclose(full[:7], part, atol=1e-7)


def test_convergence_warning():
    X, _, _ = planted()
    with pytest.warns(ConvergenceWarning):
        NMF(n_components=5, max_iter=1, random_state=0).fit(X)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "X, params, err, match",
    [
        (-np.ones((4, 3)), {}, ValueError, "Negative values"),
        (np.full((4, 3), np.inf), {}, ValueError, "infinity"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), {"missing_values": None}, ValueError,
         "NaN"),
        (np.empty((0, 3)), {}, ValueError, "0 sample"),
        (np.empty((3, 0)), {}, ValueError, "0 feature"),
        (np.array([["a", "b"], ["c", "d"]]), {}, ValueError, "convert|string"),
        (np.ones((4, 3)), {"n_components": 0}, ValueError, "n_components"),
        (np.ones((4, 3)), {"solver": "cd", "beta_loss": 1}, ValueError, "beta_loss"),
        (np.ones((4, 3)), {"missing_values": 0}, ValueError, "missing_values"),
        (np.array([[0.0, 1.0], [1.0, 1.0]]), {"solver": "mu", "beta_loss": 0},
         ValueError, "beta_loss <= 0"),
    ],
)
def test_bad_input(X, params, err, match):
    with pytest.raises(err, match=match):
        NMF(**{"n_components": 2, **params}).fit(X)


def test_bad_mask_shape():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="mask has shape"):
        NMF(n_components=2).fit(X, mask=np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="mask has shape"):
        NMF(n_components=2).fit(sp.csr_matrix(X), mask=sp.csr_matrix(np.ones((4, 2))))


def test_bad_custom_factors():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="wrong first dimension"):
        NMF(n_components=2, init="custom").fit(X, W=np.ones((5, 2)), H=np.ones((2, 3)))
    with pytest.raises(ValueError, match="wrong second dimension"):
        NMF(n_components=2, init="custom").fit(X, W=np.ones((4, 2)), H=np.ones((2, 4)))
    with pytest.raises(ValueError, match="Negative"):
        NMF(n_components=2, init="custom").fit(X, W=-np.ones((4, 2)), H=np.ones((2, 3)))
    with pytest.raises(TypeError, match="same dtype"):
        NMF(n_components=2, init="custom").fit(
            X, W=np.ones((4, 2), dtype=np.float32), H=np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="full of zeros"):
        NMF(n_components=2, init="custom").fit(X, W=np.zeros((4, 2)), H=np.ones((2, 3)))


def test_custom_init_and_auto_components():
    X, _, _ = planted()
    rng = np.random.RandomState(0)
    W0 = rng.rand(X.shape[0], 4)
    H0 = rng.rand(4, X.shape[1])
    model = NMF(init="custom", max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, W=W0, H=H0)
    assert model.n_components_ == 4
    assert NMF().fit(np.ones((5, 3))).n_components_ == 3


# ---------------------------------------------------------------- degenerate
@pytest.mark.parametrize("solver, beta", [("cd", 2), ("mu", 2), ("mu", 1)])
@pytest.mark.parametrize(
    "X, k",
    [
        (np.zeros((5, 4)), 2),
        (np.full((5, 4), 3.0), 2),
        (np.vstack([np.zeros((1, 4)), np.arange(1.0, 17).reshape(4, 4)]), 2),
        (np.hstack([np.zeros((5, 1)), np.arange(1.0, 21).reshape(5, 4)]), 3),
        (np.array([[2.0]]), 1),
        (np.arange(1.0, 13).reshape(3, 4), 7),
    ],
    ids=["all-zero", "constant", "zero-row", "zero-col", "1x1", "k>min"],
)
def test_degenerate_inputs_are_finite(X, k, solver, beta):
    model = NMF(n_components=k, solver=solver, beta_loss=beta, max_iter=300,
                random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = model.fit_transform(X)
        W2 = model.transform(X)
    for A in (W, W2, model.components_):
        assert np.isfinite(A).all() and (A >= 0).all()
    assert np.isfinite(model.reconstruction_err_)


def test_row_with_all_entries_missing():
    X, _, _ = planted()
    X[3] = np.nan
    model = NMF(n_components=5, random_state=0)
    W = model.fit_transform(X)
    assert np.isfinite(W).all() and np.isfinite(model.components_).all()
    assert np.allclose(W[3], 0.0)


# ---------------------------------------------------------------- scoring
def test_score_is_heldout_and_peaks_near_true_rank():
    rng = np.random.RandomState(0)
    k_true = 4
    W = rng.rand(200, k_true)
    H = rng.rand(k_true, 60)
    X = W @ H + 0.1 * rng.rand(200, 60)
    search = GridSearchCV(NMF(max_iter=500, tol=1e-5, random_state=0),
                          {"n_components": list(range(1, 10))}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X)
    assert abs(search.best_params_["n_components"] - k_true) <= 1
    scores = search.cv_results_["mean_test_score"]
    # the score is not the training error: it gets worse well past the true rank
    assert scores[-1] < scores[k_true - 1]


def test_score_sparse_and_kl():
    X, _, _ = planted(m=150, n=60, k=3, noise=0.05)
    Xs = sp.csr_matrix(np.where(X > 1.0, X, 0.0))
    for beta in ("frobenius", "kullback-leibler"):
        solver = "cd" if beta == "frobenius" else "mu"
        s = [NMF(n_components=k, solver=solver, beta_loss=beta, max_iter=300,
                 random_state=0).fit(Xs).score(Xs) for k in (1, 3)]
        assert all(np.isfinite(s))
        assert s[1] > s[0]


def test_shared_compression_path_matches_sklearn_loss():
    # large enough for the randomized compression (shared with the NNDSVD
    # initialisation) to be used; the exact polish must still reach a loss at
    # least as good as scikit-learn's coordinate descent
    X, _, _ = planted(m=800, n=400, k=6, noise=0.05, seed=4)
    from nmfkit._core.hals import plan_compression
    assert plan_compression(X, 6) is not None
    ours = NMF(n_components=6, random_state=0).fit(X)
    theirs = skd.NMF(n_components=6, random_state=0).fit(X)
    assert ours.reconstruction_err_ <= theirs.reconstruction_err_ * (1 + 1e-3)


def test_random_start_uses_extrapolated_hals():
    """From a random start the cd solver extrapolates (Ang & Gillis): as good
    as scikit-learn from the same starts (local minima differ from start to
    start, so compare the mean over starts) in far fewer iterations."""
    from nmfkit._core.hals import fit_hals
    from nmfkit._core.init import initialize

    X = load_digits().data
    ours = NMF(12, init="random", random_state=3, max_iter=1000).fit(X)
    W0, H0 = initialize(X, 12, "random", random_state=3)
    W, H, n_iter = fit_hals(X, W0, H0, tol=1e-4, max_iter=1000, extrapolate=True)
    assert ours.n_iter_ == n_iter
    np.testing.assert_allclose(ours.components_, H, rtol=1e-10, atol=1e-12)

    errs, iters = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(5):
            fits = [cls(12, init="random", random_state=seed, max_iter=1000).fit(X)
                    for cls in (NMF, skd.NMF)]
            errs.append([f.reconstruction_err_ for f in fits])
            iters.append([f.n_iter_ for f in fits])
    errs, iters = np.mean(errs, axis=0), np.sum(iters, axis=0)
    assert errs[0] <= errs[1] * (1 + 1e-3)
    assert iters[0] < 0.5 * iters[1]


# ---------------------------------------------------------------- fidelity
@pytest.mark.parametrize("init", ["nndsvd", "nndsvda", "nndsvdar"])
def test_nndsvd_with_too_many_components_raises_as_sklearn(init):
    from nmfkit import MiniBatchNMF

    A = np.ones((2, 2))
    msg = (f"init = '{init}' can only be used when n_components <= "
           "min(n_samples, n_features)")
    for Estimator in (NMF, MiniBatchNMF, skd.NMF):
        with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            Estimator(3, init=init).fit(A)


def test_penalties_that_zero_the_components_give_zero_coefficients():
    """Strong L2 drives the fit to exactly W = H = 0 (the minimiser, lower than
    scikit-learn's point); the fixed-H solve and transform then return zeros
    instead of rejecting H as a starting point 'full of zeros'."""
    rng = np.random.RandomState(42)
    A = np.abs(rng.randn(10, 10))
    A[:, 2 * np.arange(5)] = 0
    kw = dict(init="random", solver="cd", max_iter=500, alpha_W=1.0, alpha_H=1.0,
              random_state=1, tol=1e-2)
    W, H, _ = non_negative_factorization(A, **kw)
    obj = 0.5 * ((A - W @ H) ** 2).sum() + 5.0 * ((W ** 2).sum() + (H ** 2).sum())
    Ws, Hs, _ = skd.non_negative_factorization(A, **kw)
    obj_sk = 0.5 * ((A - Ws @ Hs) ** 2).sum() + 5.0 * ((Ws ** 2).sum() + (Hs ** 2).sum())
    assert obj <= obj_sk
    W2, _, _ = non_negative_factorization(A, H=H, update_H=False, **kw)
    model = NMF(**kw)
    np.testing.assert_array_equal(W2, model.fit(A).transform(A))
    assert np.isfinite(W2).all()
    # a zero *starting point* is still rejected, as in scikit-learn
    with pytest.raises(ValueError, match="full of zeros"):
        non_negative_factorization(A, A, 0 * A, 10, init="custom")
