"""Tests of nmfkit.rank: NMFk rank selection and its display."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import NMF as SkNMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions
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
        "components_min", "components_mean", "components_quantile",
        "coefficients_min", "coefficients_mean", "coefficients_quantile",
    }
    assert set(model.criteria_) == set(model.silhouettes_) | {
        "cophenetic", "dispersion", "heldout", "error"}
    assert model.selection_rule_ == model.decided_by_ == "combined"
    assert model.picks_["combined"] == model.picks_["minimum"] == 3
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


def test_no_rank_passes_warns_with_numbers_and_secondary_rule_decides():
    X = planted(40, 30, 2, noise=0.05, seed=3)
    model = _small(n_components_range=[2, 3, 4], silhouette_threshold=1.0,
                   selection="minimum")
    with pytest.warns(UserWarning, match=r"silhouette_threshold=1.0 under "
                      r"selection='minimum' \(k=2: 1\.000, k=3: .*secondary"):
        model.fit(X)
    s = model.silhouettes_
    mean = np.minimum(s["components_mean"], s["coefficients_mean"])
    assert model.n_components_ == model.n_components_range_[np.argmax(mean)] == 2
    assert model.decided_by_ == "minimum -> secondary: highest mean silhouette"
    assert model.selection_rule_ == "minimum"


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

    def spy(X, epsilon, rng, symmetric=False):
        Xp = original(X, epsilon, rng, symmetric)
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
    for i, k in enumerate((1, 2, 3), start=1):
        assert f"[NMFk] rank {i} of 3 (k={k}) done: fits {6 * i}/18, elapsed" in out
        assert f"k={k}: silhouette min H=" in out
    assert "s left" in out


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


# ---------------------------------------------------------------- criteria


@pytest.fixture(scope="module")
def planted_scan_cache(tmp_path_factory):
    """A cache shared by the rule tests: the scan is fitted once."""
    return str(tmp_path_factory.mktemp("nmfk-cache"))


@pytest.mark.parametrize("rule", rank_module.SELECTION_RULES)
def test_each_rule_finds_the_planted_rank(rule, planted_scan_cache):
    X = planted(80, 60, 3, noise=0.05, seed=1)
    model = _small(n_components_range=range(1, 7), selection=rule,
                   memory=planted_scan_cache).fit(X)
    assert model.picks_[rule] == 3
    assert model.n_components_ == 3
    assert model.selection_rule_ == model.decided_by_ == rule


def test_criteria_behave_as_documented_on_a_planted_scan(planted_scan_cache):
    X = planted(80, 60, 3, noise=0.05, seed=1)
    model = _small(n_components_range=range(1, 7), memory=planted_scan_cache).fit(X)
    c = model.criteria_
    ks = model.n_components_range_
    # stable up to the planted rank, unstable past it
    for key in ("cophenetic", "dispersion", "components_quantile",
                "coefficients_quantile"):
        assert np.all(c[key][ks <= 3] > 0.99), key
        assert c[key][ks == 4][0] < c[key][ks == 3][0] - 0.005, key
    assert np.all(c["components_quantile"] <= c["components_mean"] + 1e-12)
    # the held-out score improves steeply up to the planted rank, then levels
    gain = np.diff(c["heldout"])
    assert gain[1] > 0.1 and abs(gain[3:]).max() < 1e-3


def test_consensus_and_cophenetic_against_a_hand_computed_example():
    from nmfkit._core.consensus import (
        assign_samples,
        consensus_matrix,
        cophenetic_correlation,
        dispersion,
    )

    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 1, 1]])
    C = consensus_matrix(labels)
    third = 1.0 / 3.0
    expected = np.array([[1, 2 * third, 0, 0],
                         [2 * third, 1, third, third],
                         [0, third, 1, 1],
                         [0, third, 1, 1]])
    np.testing.assert_allclose(C, expected)
    # sum of 4 (C - 1/2)^2: 10 ones (diagonal, the four 0s, the 2-3 pair) and
    # 6 ninths (the thirds and two-thirds)
    assert dispersion(C) == pytest.approx((10 + 6 / 9) / 16)
    # distances 01: 1/3, 02 = 03: 1, 12 = 13: 2/3, 23: 0; average linkage
    # merges 2-3 at 0, then 0-1 at 1/3, then the two pairs at 5/6
    d = np.array([1 / 3, 1, 1, 2 / 3, 2 / 3, 0])
    coph = np.array([1 / 3, 5 / 6, 5 / 6, 5 / 6, 5 / 6, 0])
    assert cophenetic_correlation(C) == pytest.approx(np.corrcoef(d, coph)[0, 1])
    assert cophenetic_correlation(C) == pytest.approx(np.sqrt(210 / 246))
    # a perfectly stable clustering
    stable = consensus_matrix(np.array([[0, 0, 1], [1, 1, 0]]))
    assert cophenetic_correlation(stable) == pytest.approx(1.0)
    assert dispersion(stable) == 1.0
    # a sample with no coefficient is in no cluster
    np.testing.assert_array_equal(
        assign_samples(np.array([[0.0, 2.0], [0.0, 0.0], [3.0, 1.0]])), [1, -1, 0])


def test_member_silhouettes_average_to_the_cluster_silhouettes():
    from nmfkit._core.align import cluster_silhouettes
    from nmfkit._core.consensus import member_silhouettes

    A = np.random.RandomState(0).rand(5, 3, 8)
    np.testing.assert_allclose(member_silhouettes(A).mean(axis=0),
                               cluster_silhouettes(A))
    np.testing.assert_allclose(member_silhouettes(A[:, :1]).mean(axis=0),
                               cluster_silhouettes(A[:, :1]))


# ---------------------------------------------------------------- bad input


def test_unknown_selection_lists_the_choices():
    X = planted(20, 15, 2, seed=11)
    with pytest.raises(ValueError, match=r"selection.*combined.*|selection.*"
                       r"cophenetic"):
        _small(selection="best").fit(X)


def test_heldout_selection_needs_a_score():
    X = planted(20, 15, 2, seed=11)
    with pytest.raises(ValueError, match="selection='heldout' needs a base "
                       "estimator with a score"):
        NMFk(SkNMF(), selection="heldout", n_perturbs=2).fit(X)


# ---------------------------------------------------------------- long scans


class _CountingNMF(BaseEstimator):
    """An NMF that logs its fits and can be told to raise KeyboardInterrupt."""

    fitted = []  # ranks fitted, in order (same process: n_jobs=None)
    interrupt_at = None  # rank whose fit raises KeyboardInterrupt

    def __init__(self, n_components=2, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit_transform(self, X, y=None):
        if self.n_components == type(self).interrupt_at:
            raise KeyboardInterrupt
        type(self).fitted.append(self.n_components)
        self._nmf = NMF(self.n_components, init="random", max_iter=300,
                        random_state=self.random_state)
        W = self._nmf.fit_transform(X)
        self.components_ = self._nmf.components_
        return W

    def transform(self, X):
        return self._nmf.transform(X)


@pytest.fixture
def counting():
    _CountingNMF.fitted, _CountingNMF.interrupt_at = [], None
    yield _CountingNMF
    _CountingNMF.fitted, _CountingNMF.interrupt_at = [], None


def test_interrupted_scan_keeps_the_finished_ranks(counting):
    X = planted(50, 40, 2, seed=21)
    counting.interrupt_at = 4
    model = NMFk(counting(), n_components_range=[2, 3, 4, 5], n_perturbs=4,
                 random_state=0)
    with pytest.warns(UserWarning, match=r"interrupted after 2 of 4 ranks.*\[2, 3\]"):
        model.fit(X)
    assert model.interrupted_
    np.testing.assert_array_equal(model.n_components_range_, [2, 3])
    assert model.n_components_ == 2
    assert model.transform(X).shape == (50, 2)
    # interrupted before any rank finished: nothing to keep
    counting.interrupt_at = 2
    with pytest.raises(KeyboardInterrupt):
        NMFk(counting(), n_components_range=[2, 3], n_perturbs=2).fit(X)


def test_memory_rerun_fits_nothing_for_finished_ranks(counting, tmp_path):
    X = planted(50, 40, 2, seed=22)
    params = dict(n_components_range=[2, 3, 4], n_perturbs=4, random_state=0,
                  memory=str(tmp_path / "cache"))
    counting.interrupt_at = 4
    with pytest.warns(UserWarning, match="interrupted.*resume"):
        NMFk(counting(), **params).fit(X)
    assert sorted(set(counting.fitted)) == [2, 3]
    # the rerun fits rank 4 only: ranks 2 and 3 come from the cache
    counting.fitted, counting.interrupt_at = [], None
    first = NMFk(counting(), **params).fit(X)
    assert counting.fitted == [4] * 4
    # and a third run fits nothing at all, with the same result
    counting.fitted = []
    again = NMFk(counting(), **params).fit(X)
    assert counting.fitted == []
    assert again.n_components_ == first.n_components_ == 2
    for key in first.criteria_:
        np.testing.assert_allclose(again.criteria_[key], first.criteria_[key])
    # other data: fitted again
    NMFk(counting(), **params).fit(X * 2.0)
    assert len(counting.fitted) == 12


def test_unusable_memory_fails_before_any_fit(counting, tmp_path):
    X = planted(20, 15, 2, seed=23)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(ValueError, match="memory=.*cannot be used as a cache folder"):
        NMFk(counting(), n_components_range=[2], n_perturbs=2,
             memory=str(not_a_folder)).fit(X)
    assert counting.fitted == []
    with pytest.raises(ValueError, match="memory"):
        NMFk(counting(), n_components_range=[2], n_perturbs=2, memory=3).fit(X)
    assert counting.fitted == []


def test_memory_accepts_a_joblib_memory(tmp_path):
    from joblib import Memory

    X = planted(30, 20, 2, seed=24)
    mem = Memory(str(tmp_path), verbose=0)
    a = _small(n_components_range=[1, 2, 3], memory=mem).fit(X)
    b = _small(n_components_range=[1, 2, 3], memory=mem).fit(X)
    np.testing.assert_allclose(a.components_, b.components_)


# ---------------------------------------------------------------- varied starts


class _InitRecorder(BaseEstimator):
    """Records the start each run is given."""

    starts = []
    _parameter_constraints = {"init": [StrOptions({"nndsvd", "vca", "random"})]}

    def __init__(self, n_components=2, init="nndsvd", random_state=None):
        self.n_components = n_components
        self.init = init
        self.random_state = random_state

    def fit_transform(self, X, y=None):
        type(self).starts.append((self.init, self.random_state))
        self._nmf = NMF(self.n_components, init="random",
                        random_state=self.random_state)
        W = self._nmf.fit_transform(X)
        self.components_ = self._nmf.components_
        return W

    def transform(self, X):
        return self._nmf.transform(X)


@pytest.mark.parametrize("init", ["nndsvd", "vca"])
def test_deterministic_starts_are_varied_per_run(init):
    X = planted(30, 20, 2, seed=25)
    base = _InitRecorder(init=init)
    _InitRecorder.starts = []
    varied = NMFk(base, n_components_range=[2], n_perturbs=4, random_state=0).fit(X)
    assert varied.run_params_ == {"init": "random"}
    assert base.init == init  # the user's estimator is untouched
    inits, seeds = zip(*_InitRecorder.starts)
    assert set(inits) == {"random"} and len(set(seeds)) == 4
    _InitRecorder.starts = []
    fixed = NMFk(base, n_components_range=[2], n_perturbs=4, vary_init=False,
                 random_state=0).fit(X)
    assert fixed.run_params_ == {}
    assert {i for i, _ in _InitRecorder.starts} == {init}
    _InitRecorder.starts = []
    # a random init is left alone; nmfkit's NMF default start is varied
    assert NMFk(NMF(init="random"), n_components_range=[2], n_perturbs=2,
                random_state=0).fit(X).run_params_ == {}
    assert NMFk(NMF(), n_components_range=[2], n_perturbs=2,
                random_state=0).fit(X).run_params_ == {"init": "random"}


# ---------------------------------------------------------------- graphs


class _PairwiseNMF(BaseEstimator):
    """A stub symmetric factorization of a square X that records its input."""

    seen = []

    def __init__(self, n_components=2, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = True
        tags.input_tags.sparse = True
        return tags

    def fit_transform(self, X, y=None):
        type(self).seen.append(X.copy())
        self._nmf = NMF(self.n_components, init="random",
                        random_state=self.random_state)
        W = self._nmf.fit_transform(X)
        self.components_ = self._nmf.components_
        return W

    def transform(self, X):
        return self._nmf.transform(X)


@pytest.mark.parametrize("sparse", [False, True])
def test_pairwise_base_gets_symmetric_perturbations(sparse):
    rng = np.random.RandomState(26)
    B = rng.rand(30, 2) * (rng.rand(30, 2) < 0.6)
    A = B @ B.T
    A[A < 0.2] = 0.0
    X = sp.csr_matrix(A) if sparse else A
    _PairwiseNMF.seen = []
    NMFk(_PairwiseNMF(), n_components_range=[2], n_perturbs=3,
         random_state=0).fit(X)
    assert len(_PairwiseNMF.seen) == 3
    for Xp in _PairwiseNMF.seen:
        D = Xp.toarray() if sparse else Xp
        np.testing.assert_allclose(D, D.T, rtol=0, atol=0)
        assert not np.allclose(D, A)  # perturbed
        np.testing.assert_array_equal(D != 0, A != 0)  # the same pattern
        ratio = D[A > 0] / A[A > 0]
        assert np.all(np.abs(ratio - 1) <= 0.015 + 1e-12)
        assert np.unique(np.round(ratio, 12)).size > 10  # not one factor
    with pytest.raises(ValueError, match="pairwise"):
        NMFk(_PairwiseNMF(), n_components_range=[2], n_perturbs=2).fit(A[:, :20])
    _PairwiseNMF.seen = []


# ---------------------------------------------------------------- display


def test_display_shows_every_criterion(planted_scan_cache):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    X = planted(80, 60, 3, noise=0.05, seed=1)
    model = _small(n_components_range=range(1, 7), memory=planted_scan_cache).fit(X)
    disp = NMFkDisplay.from_estimator(model)
    assert len(disp.axes_) == 3
    for key, values in model.criteria_.items():
        if key == "error":
            continue
        line = disp.lines_[key]
        np.testing.assert_allclose(line.get_ydata(), values, err_msg=key)
        np.testing.assert_array_equal(line.get_xdata(), model.n_components_range_)
    for ax in disp.axes_:  # the chosen rank is marked on every panel
        assert any(list(ln.get_xdata()) == [3, 3] for ln in ax.get_lines())
    assert "(combined)" in disp.lines_["chosen"].get_label()
    plt.close("all")
