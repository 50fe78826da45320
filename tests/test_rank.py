"""Tests of nmfkit.rank: NMFk rank selection and its display."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.decomposition import NMF as SkNMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from nmfkit import NMF
from nmfkit import rank as rank_module
from nmfkit.rank import NMFk, NMFkDisplay, _relative_errors


def planted(n_samples, n_features, k, noise=0.01, seed=0, density=(0.5, 0.4)):
    """``X = W H + noise``, with sparse exponential planted factors of rank k."""
    rng = np.random.RandomState(seed)
    W = rng.exponential(size=(n_samples, k)) * (rng.rand(n_samples, k) < density[0])
    H = rng.exponential(size=(k, n_features)) * (rng.rand(k, n_features) < density[1])
    # every component present somewhere, so the planted rank is exactly k
    W[rng.randint(n_samples, size=k), np.arange(k)] += 1.0
    H[np.arange(k), rng.randint(n_features, size=k)] += 1.0
    X = W @ H
    return X + noise * X.mean() * rng.rand(n_samples, n_features)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _small(**kw):
    params = dict(n_perturbs=6, random_state=0)
    params.update(kw)
    return NMFk(**params)


# ---------------------------------------------------------------- estimator checks


@parametrize_with_checks(
    [NMFk(n_components_range=[1, 2], n_perturbs=3, random_state=0)]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


# ---------------------------------------------------------------- planted ranks


def _recovered(n_samples, n_features, k, noise, seed):
    X = planted(n_samples, n_features, k, noise=noise, seed=seed)
    model = NMFk(
        n_components_range=range(max(1, k - 2), k + 3),
        n_perturbs=8,
        n_jobs=2,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X)
    return model.n_components_ == k


@pytest.mark.parametrize(
    "shape, k, noise",
    [((80, 60), 2, 0.01), ((60, 100), 3, 0.05), ((120, 90), 5, 0.02)],
)
def test_recovers_planted_rank(shape, k, noise):
    assert _recovered(*shape, k, noise, seed=k)


@pytest.mark.slow
def test_planted_rank_success_rate():
    # true k from 2 to 15 on three shapes (tall, wide, square), the noise
    # level alternating between 1% and 5% of the mean entry: 21 problems
    cases = [
        (shape, k, (0.01, 0.05)[i % 2])
        for i, (shape, k) in enumerate(
            (shape, k)
            for shape in [(150, 100), (100, 160), (200, 200)]
            for k in [2, 4, 6, 8, 10, 12, 15]
        )
    ]
    hits = [_recovered(*shape, k, noise, seed=i) for i, (shape, k, noise) in enumerate(cases)]
    rate = np.mean(hits)
    misses = [c for c, h in zip(cases, hits) if not h]
    assert rate >= 0.9, f"success rate {rate:.2f}; missed {misses}"


def test_attributes_explain_the_choice():
    X = planted(80, 60, 3, seed=1)
    model = _small(n_components_range=range(1, 7)).fit(X)
    ks = model.n_components_range_
    np.testing.assert_array_equal(ks, np.arange(1, 7))
    assert model.n_components_ == 3
    assert set(model.silhouettes_) == {
        "components_min", "components_mean", "coefficients_min", "coefficients_mean",
    }
    for v in model.silhouettes_.values():
        assert v.shape == ks.shape and np.all(np.isfinite(v))
    s = model.silhouettes_
    assert np.all(s["components_min"] <= s["components_mean"] + 1e-12)
    chosen = np.flatnonzero(ks == 3)[0]
    assert min(s["components_min"][chosen], s["coefficients_min"][chosen]) >= 0.8
    # ranks above the truth are unstable
    assert np.all(np.minimum(s["components_min"], s["coefficients_min"])[ks > 3] < 0.8)
    e = model.errors_
    assert set(e) == {"mean", "std", "min", "max"}
    assert np.all(e["min"] <= e["mean"]) and np.all(e["mean"] <= e["max"])
    # the error falls until the planted rank, then stays at the noise level
    assert e["mean"][chosen] < 0.05 < e["mean"][chosen - 1]
    assert model.n_iter_.shape == (6, 6)
    assert model.components_.shape == (3, 60)
    assert model.estimator_.components_ is model.components_


def test_final_components_match_the_planted_ones():
    rng = np.random.RandomState(0)
    k = 4
    W = rng.exponential(size=(100, k)) * (rng.rand(100, k) < 0.5)
    H = rng.exponential(size=(k, 70)) * (rng.rand(k, 70) < 0.4)
    X = W @ H
    model = _small(n_components_range=[3, 4, 5]).fit(X)
    assert model.n_components_ == 4
    from nmfkit._core.align import cosine_similarity_matrix

    S = cosine_similarity_matrix(model.components_, H)
    assert np.all(S.max(axis=1) > 0.99)
    err = np.linalg.norm(X - model.inverse_transform(model.transform(X))) / np.linalg.norm(X)
    assert err < 0.02


def test_early_stopping_scans_fewer_and_agrees():
    X = planted(90, 70, 3, seed=2)
    full = _small(n_components_range=range(2, 8)).fit(X)
    early = _small(n_components_range=range(2, 8), early_stopping=True).fit(X)
    assert early.n_components_ == full.n_components_ == 3
    assert len(early.n_components_range_) < len(full.n_components_range_)
    # the scanned prefix is identical (same random streams per k)
    n = len(early.n_components_range_)
    for key in full.silhouettes_:
        np.testing.assert_allclose(early.silhouettes_[key], full.silhouettes_[key][:n])
    # it stops right after n_iter_no_change candidates well below the threshold
    worst = np.minimum(full.silhouettes_["components_min"],
                       full.silhouettes_["coefficients_min"])[:n]
    assert np.all(worst[-early.n_iter_no_change:] < 0.6)
    patient = _small(n_components_range=range(2, 8), early_stopping=True,
                     n_iter_no_change=10).fit(X)
    np.testing.assert_array_equal(patient.n_components_range_, full.n_components_range_)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_parallel_early_stopping_matches_serial_and_is_quiet(backend):
    """Fits of later ranks run ahead in the workers; stopping cancels them
    without a warning, and the answer is the serial one."""
    from joblib import parallel_config

    X = planted(90, 70, 3, seed=2)
    serial = _small(n_components_range=range(2, 9), early_stopping=True,
                    n_iter_no_change=2).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with parallel_config(backend=backend):
            par = _small(n_components_range=range(2, 9), early_stopping=True,
                         n_iter_no_change=2, n_jobs=2).fit(X)
    assert not [w for w in caught if "cancelled" in str(w.message)]
    assert len(par.n_components_range_) < 7
    np.testing.assert_array_equal(par.n_components_range_, serial.n_components_range_)
    np.testing.assert_allclose(par.components_, serial.components_)
    for key in serial.silhouettes_:
        np.testing.assert_allclose(par.silhouettes_[key], serial.silhouettes_[key])


def test_no_rank_passes_warns_and_takes_best():
    X = planted(40, 30, 2, noise=0.05, seed=3)
    model = _small(n_components_range=[2, 3, 4], silhouette_threshold=1.0)
    with pytest.warns(UserWarning, match="silhouette_threshold"):
        model.fit(X)
    worst = np.minimum(
        model.silhouettes_["components_min"], model.silhouettes_["coefficients_min"]
    )
    assert model.n_components_ == model.n_components_range_[np.argmax(worst)]


# ---------------------------------------------------------------- sparse input


def _forbid_densify(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("a sparse X was densified")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.csc_array):
        monkeypatch.setattr(cls, "toarray", boom)
        monkeypatch.setattr(cls, "todense", boom)


def test_sparse_rank_chosen_without_densifying(monkeypatch):
    rng = np.random.RandomState(0)
    k = 3
    W = sp.random(150, k, density=0.3, random_state=rng, format="csr") * 5
    H = sp.random(k, 200, density=0.2, random_state=rng, format="csr") * 5
    X = sp.csr_matrix(W @ H)
    dense_model = _small(n_components_range=range(2, 6), n_perturbs=4).fit(X.toarray())
    _forbid_densify(monkeypatch)
    model = _small(n_components_range=range(2, 6), n_perturbs=4).fit(X)
    assert model.n_components_ == k == dense_model.n_components_
    Wt = model.transform(X)
    assert Wt.shape == (150, k)


def test_sparse_huge_shape():
    # a 20,000 x 15,000 sparse matrix with 3,000 stored entries (2.4 GB dense)
    rng = np.random.RandomState(1)
    n, m = 20_000, 15_000
    rows = rng.randint(n, size=3000)
    cols = np.where(rng.rand(3000) < 0.5, rng.randint(0, 50, 3000), rng.randint(50, 100, 3000))
    vals = 1.0 + rng.rand(3000)
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, m))
    model = NMFk(
        SkNMF(init="random", max_iter=100),
        n_components_range=[1, 2, 3], n_perturbs=3, n_jobs=2, random_state=0,
    ).fit(X)
    assert model.components_.shape == (model.n_components_, m)
    assert np.all(np.isfinite(model.errors_["mean"]))
    # the components live on the 100 columns that hold data, and only there
    assert np.all(model.components_[:, 100:] == 0)
    assert np.count_nonzero(model.components_[:, :100].max(axis=0)) >= 90
    assert np.all(np.diff(model.errors_["mean"]) < 0)  # more rank, less error


def test_sparse_errors_match_dense():
    rng = np.random.RandomState(0)
    X = sp.random(30, 20, density=0.3, random_state=rng, format="csr")
    Ws = [rng.rand(30, 3) for _ in range(2)]
    Hs = [rng.rand(3, 20) for _ in range(2)]
    x2 = float(np.sum(X.data**2))
    got = _relative_errors(X, Ws, Hs, x2)
    expected = [
        np.linalg.norm(X.toarray() - W @ H) / np.sqrt(x2) for W, H in zip(Ws, Hs)
    ]
    np.testing.assert_allclose(got, expected)
    np.testing.assert_allclose(_relative_errors(X.toarray(), Ws, Hs, x2), expected)


# ---------------------------------------------------------------- randomness


def test_deterministic_and_independent_of_n_jobs():
    X = planted(60, 50, 3, seed=4)
    a = _small(n_components_range=range(2, 5)).fit(X)
    b = _small(n_components_range=range(2, 5)).fit(X)
    c = _small(n_components_range=range(2, 5), n_jobs=2).fit(X)
    for other in (b, c):
        np.testing.assert_array_equal(a.components_, other.components_)
        for key in a.silhouettes_:
            np.testing.assert_array_equal(a.silhouettes_[key], other.silhouettes_[key])
        np.testing.assert_array_equal(a.errors_["mean"], other.errors_["mean"])


def test_each_k_and_perturbation_gets_its_own_noise(monkeypatch):
    X = planted(20, 15, 2, seed=5)
    seen = []
    original = rank_module._perturb

    def spy(X, epsilon, rng):
        Xp = original(X, epsilon, rng)
        seen.append(Xp / X)
        return Xp

    monkeypatch.setattr(rank_module, "_perturb", spy)
    _small(n_components_range=[2, 3], n_perturbs=3, epsilon=0.05).fit(X)
    assert len(seen) == 6
    factors = np.stack(seen)
    assert np.all(factors >= 1 - 0.05 - 1e-12) and np.all(factors <= 1 + 0.05 + 1e-12)
    for i in range(6):
        for j in range(i + 1, 6):
            assert not np.allclose(factors[i], factors[j])
    # roughly uniform: mean ~1, spread ~ eps / sqrt(3)
    assert abs(factors.mean() - 1) < 0.005
    assert abs(factors.std() - 0.05 / np.sqrt(3)) < 0.005


def test_sparse_perturbation_touches_stored_entries_only():
    rng = np.random.default_rng(0)
    X = sp.random(40, 30, density=0.1, random_state=0, format="csr")
    Xp = rank_module._perturb(X, 0.1, rng)
    assert sp.issparse(Xp)
    np.testing.assert_array_equal(Xp.indices, X.indices)
    ratio = Xp.data / X.data
    assert np.all((ratio >= 0.9) & (ratio <= 1.1)) and ratio.std() > 0.01
    assert X.data is not Xp.data


class _SpyNMF(SkNMF):
    """scikit-learn's NMF reporting the BLAS threads it may use.

    The count is returned as ``n_iter_``, which NMFk collects from every run
    (worker processes do not share class state with the test)."""

    def fit_transform(self, X, y=None, W=None, H=None):
        from threadpoolctl import threadpool_info

        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        W = super().fit_transform(X, y, W=W, H=H)
        self.n_iter_ = max(blas, default=1)
        return W


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_parallel_fits_use_one_blas_thread_each(backend):
    from joblib import parallel_config
    from threadpoolctl import threadpool_info

    def blas_now():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_now()
    X = planted(40, 30, 2, seed=14)
    with parallel_config(backend=backend):
        model = NMFk(_SpyNMF(init="random"), n_components_range=[2, 3], n_perturbs=4,
                     n_jobs=2, random_state=0).fit(X)
    assert model.n_iter_.shape == (2, 4)
    assert np.all(model.n_iter_ == 1)
    assert blas_now() == before  # restored afterwards


def test_verbose_reports_each_rank(capsys):
    X = planted(40, 30, 2, seed=15)
    _small(n_components_range=[1, 2, 3], verbose=1).fit(X)
    out = capsys.readouterr().out
    for k in (1, 2, 3):
        assert f"[NMFk] k={k}: silhouette" in out


# ---------------------------------------------------------------- base estimators


def test_other_base_estimator_and_loss():
    X = planted(60, 40, 3, seed=6)
    base = SkNMF(init="random", solver="mu", beta_loss="kullback-leibler", max_iter=400)
    model = NMFk(base, n_components_range=[2, 3, 4, 5], n_perturbs=6, random_state=0).fit(X)
    assert model.n_components_ == 3
    assert isinstance(model.estimator_, SkNMF)
    assert model.estimator_.get_params()["beta_loss"] == "kullback-leibler"
    # the user's estimator is left untouched
    assert base.get_params()["n_components"] == "auto"
    assert not hasattr(base, "components_")


def test_default_estimator_is_nmfkit_nmf():
    from nmfkit.decomposition import NMF

    X = planted(40, 30, 2, seed=7)
    model = _small(n_components_range=[1, 2, 3]).fit(X)
    assert isinstance(model.estimator_, NMF)
    assert model.n_components_ == 2


def test_transform_inverse_transform_and_names():
    X = planted(50, 30, 2, seed=8)
    model = _small(n_components_range=[1, 2, 3])
    W = model.fit_transform(X)
    assert W.shape == (50, model.n_components_)
    np.testing.assert_allclose(W, model.transform(X), rtol=1e-6, atol=1e-8)
    Xr = model.inverse_transform(W)
    assert Xr.shape == X.shape
    assert np.linalg.norm(X - Xr) / np.linalg.norm(X) < 0.05
    names = model.get_feature_names_out()
    assert list(names) == [f"nmfk{i}" for i in range(model.n_components_)]


def test_missing_values_are_left_out():
    # nmfkit's NMF treats NaN as missing; NMFk passes them through and its
    # errors count the observed entries only
    X = planted(70, 50, 3, noise=0.02, seed=0)
    X[np.random.RandomState(0).rand(*X.shape) < 0.1] = np.nan
    model = _small(n_components_range=range(2, 6), n_perturbs=4).fit(X)
    assert model.n_components_ == 3
    assert np.all(np.isfinite(model.errors_["mean"]))
    assert model.errors_["mean"][1] < 0.02
    assert np.all(np.isfinite(model.transform(X)))
    with pytest.raises(ValueError, match="NaN"):
        NMFk(SkNMF(), n_components_range=[2], n_perturbs=2).fit(X)


def test_float32_preserved():
    X = planted(40, 30, 2, seed=9).astype(np.float32)
    model = _small(n_components_range=[1, 2, 3]).fit(X)
    assert model.components_.dtype == np.float32
    assert model.transform(X).dtype == np.float32


def test_score_delegates_when_available():
    X = planted(40, 30, 2, seed=10)
    model = _small(n_components_range=[1, 2, 3]).fit(X)
    assert model.score(X) == pytest.approx(model.estimator_.score(X))
    plain = NMFk(SkNMF(init="random"), n_components_range=[2], n_perturbs=2)
    assert not hasattr(plain, "score")  # scikit-learn's NMF has no score


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_components_range=[]), "n_components_range is empty"),
        (dict(n_components_range=[0, 1]), "positive integers"),
        (dict(n_components_range=[1.5, 2]), "positive integers"),
        (dict(n_components_range=["a"]), "positive integers"),
        (dict(n_components_range=[[1, 2]]), "1-d"),
        (dict(n_components_range=[50, 60]), "exceeds min"),
        (dict(n_perturbs=1), "n_perturbs"),
        (dict(epsilon=0.0), "epsilon"),
        (dict(epsilon=1.0), "epsilon"),
        (dict(epsilon=-0.1), "epsilon"),
        (dict(silhouette_threshold=1.5), "silhouette_threshold"),
        (dict(estimator="nmf"), "estimator"),
    ],
)
def test_bad_parameters(params, match):
    X = planted(20, 15, 2, seed=11)
    with pytest.raises(ValueError, match=match):
        _small(**params).fit(X)


def test_estimator_without_n_components():
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(ValueError, match="n_components"):
        NMFk(StandardScaler(), n_components_range=[2], n_perturbs=2).fit(np.ones((5, 4)))


def test_ranks_above_the_data_are_skipped_with_warning():
    X = planted(20, 4, 2, seed=12)
    with pytest.warns(UserWarning, match=r"\[5, 6\].*exceed"):
        model = _small(n_components_range=[2, 3, 5, 6]).fit(X)
    np.testing.assert_array_equal(model.n_components_range_, [2, 3])


def test_negative_and_degenerate_data():
    with pytest.raises(ValueError, match="Negative values"):
        _small(n_components_range=[1]).fit(-np.ones((5, 4)))
    # all zeros, a 1x1 matrix: finite answers
    for X in (np.zeros((6, 5)), np.array([[3.0]])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _small(n_components_range=[1, 2]).fit(X)
        assert model.n_components_ == 1
        assert np.all(np.isfinite(model.components_))
        for v in list(model.silhouettes_.values()) + list(model.errors_.values()):
            assert np.all(np.isfinite(v))


# ---------------------------------------------------------------- display


def test_display():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    X = planted(50, 40, 3, seed=13)
    model = _small(n_components_range=range(1, 6)).fit(X)
    disp = NMFkDisplay.from_estimator(model)
    assert disp.ax_.figure is disp.figure_
    assert set(disp.lines_) >= {"components_min", "coefficients_min", "error", "chosen"}
    np.testing.assert_array_equal(
        disp.lines_["components_min"].get_xdata(), model.n_components_range_
    )
    np.testing.assert_allclose(
        disp.lines_["coefficients_min"].get_ydata(), model.silhouettes_["coefficients_min"]
    )
    assert disp.lines_["chosen"].get_xdata()[0] == model.n_components_
    fig, ax = plt.subplots()
    disp2 = NMFkDisplay.from_estimator(model, ax=ax)
    assert disp2.ax_ is ax
    plt.close("all")


def test_display_needs_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        NMFkDisplay.from_estimator(NMFk())


def test_clone_keeps_parameters():
    model = NMFk(SkNMF(init="random"), n_components_range=[2, 3], n_perturbs=4)
    c = clone(model)
    assert c.get_params()["n_perturbs"] == 4
    assert c.estimator is not model.estimator


def test_unconverged_runs_give_one_summary_warning():
    X = planted(60, 50, 3, seed=5)
    model = NMFk(NMF(init="random", max_iter=3), n_components_range=[2, 3, 4],
                 n_perturbs=4, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert "12 of 12 perturbation fits" in str(conv[0].message)
    assert np.all(model.n_iter_ == 3)
