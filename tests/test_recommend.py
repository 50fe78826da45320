"""NBMF (nmfkit.recommend) and its QUBO solvers (nmfkit._core.qubo, _core.nbmf)."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from nmfkit import NBMF
from nmfkit.recommend import ratings_matrix
from nmfkit._core.nbmf import (
    _h_step,
    _transposed,
    _w_step,
    binary_start,
    certified_optimal,
    fit_nbmf,
    make_qubo_solver,
    nbmf_objective,
)
from nmfkit._core.nnls import nnls
from nmfkit._core.qubo import (
    qubo_energy,
    qubo_from_gram,
    solve_anneal,
    solve_descent,
    solve_exact,
    solve_sampler,
)


# ------------------------------------------------------------------ helpers
def planted(m=60, n=30, k=3, missing=0.0, noise=0.0, seed=0):
    """Ratings ``W @ H`` with W >= 0 and binary H; NaN = unrated."""
    rng = np.random.RandomState(seed)
    W = rng.uniform(0.5, 2.0, (m, k))
    H = (rng.rand(k, n) < 0.5).astype(float)
    H[np.arange(k), rng.choice(n, k, replace=False)] = 1.0  # no empty feature
    X = W @ H + noise * rng.randn(m, n)
    X = np.maximum(X, 0)
    if missing:
        X[rng.rand(m, n) < missing] = np.nan
    return X, W, H


def match_rows(H_true, H_fit):
    """Permutation of the rows of H_fit closest (Hamming) to those of H_true."""
    cost = np.abs(H_true[:, None, :] - H_fit[None, :, :]).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return cols, cost[rows, cols].sum()


def brute_force(Q):
    k = Q.shape[-1]
    states = np.array(list(itertools.product([0.0, 1.0], repeat=k)))
    E = np.einsum("sa,cab,sb->cs", states, Q, states)
    return E.min(axis=1)


class RecordingSampler:
    """A dimod-style sampler: records every QUBO, answers by brute force."""

    def __init__(self, answer="best"):
        self.calls = []
        self.answer = answer

    def sample_qubo(self, Q, num_reads=1):
        self.calls.append((dict(Q), num_reads))
        k = 1 + max(max(key) for key in Q)
        Qm = np.zeros((k, k))
        for (a, b), v in Q.items():
            Qm[a, b] += v
        states = list(itertools.product([0, 1], repeat=k))
        energies = [np.array(s) @ Qm @ np.array(s) for s in states]
        if self.answer == "best":
            chosen = [states[int(np.argmin(energies))]]
        else:  # the worst state: the solver must not accept it
            chosen = [states[int(np.argmax(energies))]]
        return _SampleSet([{a: v for a, v in enumerate(s)} for s in chosen])


class _SampleSet:
    def __init__(self, samples):
        self._samples = samples

    def samples(self):
        return list(self._samples)


# -------------------------------------------------- scikit-learn compliance
@parametrize_with_checks(
    [
        NBMF(n_components=3, random_state=0),
        NBMF(n_components=2, solver="exact", init="random", random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# -------------------------------------------------------------- QUBO core
@pytest.mark.parametrize("k", [1, 2, 5, 8, 11, 13])
def test_exact_matches_brute_force(k):
    rng = np.random.RandomState(k)
    Q = rng.randn(40, k, k)
    S, E = solve_exact(Q, low_bits=4)  # forces the Gray-code part for k > 4
    np.testing.assert_allclose(E, brute_force(Q), atol=1e-10)
    np.testing.assert_allclose(qubo_energy(Q, S), E, atol=1e-10)
    assert set(np.unique(S)) <= {0.0, 1.0}


@pytest.mark.parametrize("k", [3, 6, 9])
def test_annealer_matches_exact_on_small_qubos(k):
    # binary least-squares QUBOs, as NBMF builds them
    rng = np.random.RandomState(10 + k)
    V = rng.uniform(0, 2, (300, 12, k))
    x = rng.uniform(1, 5, (300, 12))
    Q = qubo_from_gram(np.einsum("cia,cib->cab", V, V), np.einsum("cia,ci->ca", V, x))
    _, E_exact = solve_exact(Q)
    _, E_anneal = solve_anneal(Q, random_state=0)
    hit = np.isclose(E_anneal, E_exact, rtol=1e-9, atol=1e-9)
    assert hit.mean() == 1.0, f"annealer missed {np.sum(~hit)} of {hit.size} optima"
    assert np.all(E_anneal >= E_exact - 1e-9)


def test_qubo_from_gram_is_binary_least_squares():
    rng = np.random.RandomState(0)
    V = rng.rand(7, 4)
    x = rng.rand(7)
    Q = qubo_from_gram((V.T @ V)[None], (V.T @ x)[None])
    assert np.allclose(np.tril(Q[0], -1), 0)
    for s in itertools.product([0.0, 1.0], repeat=4):
        s = np.array(s)
        assert np.isclose(qubo_energy(Q, s[None])[0] + x @ x, np.sum((x - V @ s) ** 2))


@pytest.mark.parametrize("solve", ["exact", "anneal", "sampler"])
def test_solvers_never_return_worse_than_init(solve):
    rng = np.random.RandomState(1)
    Q = rng.randn(50, 5, 5)
    _, E_best = solve_exact(Q)
    init = np.zeros((50, 5))
    init[np.arange(50) % 2 == 0] = 1.0
    if solve == "exact":
        S, E = solve_exact(Q, init=init)
    elif solve == "anneal":
        S, E = solve_anneal(Q, init=init, num_reads=1, n_sweeps=1, random_state=0)
    else:
        S, E = solve_sampler(Q, RecordingSampler(answer="worst"), init=init)
        np.testing.assert_array_equal(S, init)  # every worst answer is refused
    assert np.all(E <= qubo_energy(Q, init) + 1e-12)
    assert np.all(E >= E_best - 1e-9)


def test_sampler_stub_receives_the_item_qubos():
    X, W_true, _ = planted(m=12, n=6, k=3, missing=0.3, seed=3)
    Xo = np.where(np.isnan(X), 0, X)
    observed = ~np.isnan(X)
    rng = np.random.RandomState(0)
    W = rng.rand(12, 3)
    H = np.zeros((3, 6))
    sampler = RecordingSampler()
    XT, obsT = _transposed(Xo, observed)
    _h_step(XT, W, H, obsT, make_qubo_solver(sampler, num_reads=7))
    assert len(sampler.calls) == 6
    for j, (qdict, num_reads) in enumerate(sampler.calls):
        assert num_reads == 7
        raters = observed[:, j]
        Wr, x = W[raters], Xo[raters, j]
        for a in range(3):
            assert qdict[(a, a)] == pytest.approx(np.sum(Wr[:, a] * (Wr[:, a] - 2 * x)))
            for b in range(a + 1, 3):
                assert qdict[(a, b)] == pytest.approx(2 * np.sum(Wr[:, a] * Wr[:, b]))
        assert set(qdict) == {(a, b) for a in range(3) for b in range(a, 3)}


def test_sampler_stub_fit_equals_exact_fit():
    X, _, _ = planted(m=25, n=8, k=2, missing=0.2, noise=0.1, seed=4)
    sampler = RecordingSampler()
    with_stub = NBMF(n_components=2, solver=sampler, random_state=0).fit(X)
    exact = NBMF(n_components=2, solver="exact", random_state=0).fit(X)
    assert len(sampler.calls) >= X.shape[1]
    np.testing.assert_array_equal(with_stub.components_, exact.components_)
    np.testing.assert_allclose(with_stub.user_weights_, exact.user_weights_)


def test_real_dimod_sampler_plugs_in():
    samplers = pytest.importorskip(
        "dwave.samplers", reason="dwave-samplers (the 'qubo' extra) is not installed")
    # From a random start the fit takes several H steps, each one QUBO of 2^3
    # states per item: dwave's simulated annealer must find the same ground
    # states as the exact solver, so the whole fit path is the exact one.
    X, _, _ = planted(m=30, n=12, k=3, missing=0.2, seed=5)
    kw = dict(n_components=3, alpha=1e-8, init="random", max_iter=50, random_state=0)
    real = NBMF(solver=samplers.SimulatedAnnealingSampler(), num_reads=5, **kw).fit(X)
    exact = NBMF(solver="exact", **kw).fit(X)
    assert real.n_iter_ == exact.n_iter_ >= 2
    np.testing.assert_array_equal(real.components_, exact.components_)
    np.testing.assert_allclose(real.user_weights_, exact.user_weights_, rtol=1e-10)
    assert real.reconstruction_err_ == pytest.approx(exact.reconstruction_err_)
    # the annealer declares a `seed` parameter: random_state makes the fit
    # reproducible (the annealer alone misses a ground state about 1 fit in 20)
    again = NBMF(solver=samplers.SimulatedAnnealingSampler(), num_reads=5, **kw).fit(X)
    np.testing.assert_array_equal(again.user_weights_, real.user_weights_)
    # from the default (NMF) start it recovers the planted binary features
    X, W_true, H_true = planted(m=20, n=8, k=2, missing=0.2, seed=5)
    model = NBMF(n_components=2, alpha=1e-8, solver=samplers.SimulatedAnnealingSampler(),
                 num_reads=5, random_state=0).fit(X)
    perm, distance = match_rows(H_true, model.components_)
    assert distance == 0, model.components_
    np.testing.assert_allclose(model.user_weights_[:, perm], W_true, rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------ the NBMF fit
@pytest.mark.parametrize("missing", [0.0, 0.3])
@pytest.mark.parametrize("solver", ["exact", "anneal"])
def test_planted_factors_are_recovered(missing, solver):
    X, W_true, H_true = planted(m=60, n=30, k=3, missing=missing, seed=2)
    model = NBMF(n_components=3, alpha=1e-8, solver=solver, n_init=3,
                 random_state=0)
    W = model.fit_transform(X)
    perm, distance = match_rows(H_true, model.components_)
    assert distance == 0, model.components_
    np.testing.assert_allclose(W[:, perm], W_true, rtol=1e-3, atol=1e-3)
    # the unrated entries are predicted
    full = W_true @ H_true
    np.testing.assert_allclose(model.inverse_transform(W), full, rtol=1e-3, atol=1e-3)


def test_sparse_and_dense_inputs_agree():
    X, _, _ = planted(m=40, n=20, k=3, missing=0.4, noise=0.1, seed=6)
    rows, cols = np.nonzero(~np.isnan(X))
    Xs = sp.csr_matrix((X[rows, cols], (rows, cols)), shape=X.shape)
    dense = NBMF(n_components=3, solver="exact", random_state=0).fit(X)
    sparse = NBMF(n_components=3, solver="exact", random_state=0).fit(Xs)
    np.testing.assert_array_equal(dense.components_, sparse.components_)
    np.testing.assert_allclose(dense.user_weights_, sparse.user_weights_, rtol=1e-6,
                               atol=1e-8)
    assert dense.ridge_ == pytest.approx(sparse.ridge_)


def test_unobserved_entries_change_nothing():
    X, _, _ = planted(m=40, n=20, k=3, missing=0.0, noise=0.1, seed=7)
    mask = np.random.RandomState(0).rand(*X.shape) > 0.3
    X_other = X.copy()
    X_other[~mask] = 100.0 * np.random.RandomState(1).rand(np.sum(~mask))
    X_nan = np.where(mask, X, np.nan)
    fits = [NBMF(n_components=3, random_state=0).fit(Z, mask=M)
            for Z, M in ((X, mask), (X_other, mask), (X_nan, None))]
    # sparse X with a mask: stored values off the mask are ignored too
    fits.append(NBMF(n_components=3, random_state=0).fit(sp.csr_matrix(X_other),
                                                        mask=sp.csr_matrix(mask)))
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].components_, other.components_)
        np.testing.assert_allclose(fits[0].user_weights_, other.user_weights_,
                                   rtol=1e-6, atol=1e-8)
    W1 = fits[0].transform(X, mask=mask)
    W2 = fits[0].transform(X_other, mask=mask)
    np.testing.assert_allclose(W1, W2)


@pytest.mark.parametrize("solver", ["anneal", "exact"])
@pytest.mark.parametrize("init", ["random", "nmf"])
def test_objective_never_rises(solver, init):
    X, _, _ = planted(m=50, n=40, k=4, missing=0.5, noise=0.3, seed=8)
    observed = ~np.isnan(X)
    Xo = np.where(observed, X, 0)
    l2 = 0.5
    solve = make_qubo_solver(solver, num_reads=2, n_sweeps=20, random_state=0)
    # every half step on its own: the H step (QUBOs) and the W step (NNLS)
    H = binary_start(Xo, observed, 5, init=init, random_state=0)
    W = nnls(Xo, H, observed=observed, l2=l2)
    XT, obsT = _transposed(Xo, observed)
    values = [nbmf_objective(Xo, W, H, observed, l2)]
    for _ in range(8):
        H = _h_step(XT, W, H, obsT, solve)
        values.append(nbmf_objective(Xo, W, H, observed, l2))
        W = nnls(Xo, H, W=W.copy(), observed=observed, l2=l2)
        values.append(nbmf_objective(Xo, W, H, observed, l2))
    steps = np.diff(values)
    assert np.all(steps <= 1e-9 * values[0]), steps
    assert steps.min() < 0  # the steps did move
    # the driver: its history is the same kind of sequence, and it ends at the
    # objective of the pair it returns
    H0 = binary_start(Xo, observed, 5, init=init, random_state=0)
    W, H, n_iter, history = fit_nbmf(Xo, None, H0, observed=observed, l2=l2,
                                     solve=solve, max_iter=50, tol=0)
    assert len(history) >= 3
    assert np.all(np.diff(history) <= 0)
    assert history[-1] == pytest.approx(nbmf_objective(Xo, W, H, observed, l2))
    assert history[-1] <= values[0]


def test_bad_sampler_answers_are_refused_and_objective_does_not_rise():
    X, _, _ = planted(m=30, n=10, k=2, missing=0.3, noise=0.2, seed=9)
    observed = ~np.isnan(X)
    Xo = np.where(observed, X, 0)
    H = binary_start(Xo, observed, 2, random_state=0)
    W, H_out, n_iter, history = fit_nbmf(
        Xo, None, H.copy(), observed=observed, l2=0.1,
        solve=make_qubo_solver(RecordingSampler(answer="worst")), max_iter=10)
    np.testing.assert_array_equal(H_out, H)  # nothing worse was accepted
    assert n_iter == 1 and len(history) == 1


@pytest.mark.slow
def test_gridsearch_picks_the_planted_rank():
    X, _, _ = planted(m=120, n=60, k=4, missing=0.3, noise=0.2, seed=11)
    search = GridSearchCV(
        NBMF(solver="exact", alpha=1e-3, random_state=0),
        {"n_components": [1, 2, 3, 4, 5, 6, 7]}, cv=3)
    search.fit(X)
    assert abs(search.best_params_["n_components"] - 4) <= 1, search.cv_results_[
        "mean_test_score"]


def test_ridge_default_follows_ratings_per_user():
    X, _, _ = planted(m=30, n=20, k=2, missing=0.5, seed=12)
    X[0] = np.nan  # a user without ratings does not count
    model = NBMF(n_components=2, alpha=0.2, random_state=0).fit(X)
    n_rated = np.sum(~np.isnan(X))
    assert model.ridge_ == pytest.approx(0.2 * 2 * n_rated / 29)
    # the same rule on a rescaled rating matrix gives the same factors, scaled
    scaled = NBMF(n_components=2, alpha=0.2, random_state=0).fit(10 * X)
    np.testing.assert_array_equal(model.components_, scaled.components_)
    np.testing.assert_allclose(10 * model.user_weights_, scaled.user_weights_,
                               rtol=1e-6)


# -------------------------------------------- predictions and recommendations
def test_predict_ratings_recommend_and_transform():
    X, _, _ = planted(m=40, n=25, k=3, missing=0.4, noise=0.2, seed=13)
    model = NBMF(n_components=3, random_state=0)
    W = model.fit_transform(X)
    np.testing.assert_allclose(model.transform(X), W, rtol=1e-5, atol=1e-6)
    full = model.inverse_transform(W)
    lo, hi = model.rating_range_
    assert (lo, hi) == (np.nanmin(X), np.nanmax(X))
    users, items = np.nonzero(np.ones_like(X))
    pred = model.predict_ratings(users, items)
    np.testing.assert_allclose(pred, np.clip(full[users, items], lo, hi))
    np.testing.assert_array_equal(model.item_n_ratings_, np.sum(~np.isnan(X), axis=0))
    top = model.recommend(X, n=5)
    assert top.shape == (40, 5)
    for u in range(40):
        unrated = np.flatnonzero(np.isnan(X[u]))
        counts = model.item_n_ratings_[unrated]
        expected = unrated[np.lexsort((-counts, -full[u, unrated]))][:5]
        got = top[u][top[u] >= 0]
        np.testing.assert_array_equal(got, expected)
        assert np.all(top[u][len(expected):] == -1)
    # float32 stays float32
    model32 = NBMF(n_components=3, random_state=0).fit(X.astype(np.float32))
    assert model32.components_.dtype == np.float32
    assert model32.transform(X.astype(np.float32)).dtype == np.float32


def test_users_and_items_without_ratings_get_finite_documented_answers():
    X, _, _ = planted(m=30, n=12, k=2, missing=0.2, noise=0.1, seed=14)
    X[:, 5] = np.nan  # an item nobody rated
    X[3] = np.nan  # a user without ratings
    model = NBMF(n_components=2, solver="exact", random_state=0).fit(X)
    W = model.user_weights_
    np.testing.assert_allclose(W[3], model.cold_start_weights_)
    np.testing.assert_allclose(model.cold_start_weights_,
                               np.delete(W, 3, axis=0).mean(axis=0))
    pred_item = model.predict_ratings(np.arange(30), 5)
    assert np.all(np.isfinite(pred_item))
    # the unrated item's column is the best binary predictor of the mean rating
    mean = np.nanmean(X)
    Wa = np.delete(W, 3, axis=0)
    errors = {s: np.sum((mean - Wa @ np.array(s)) ** 2)
              for s in itertools.product([0.0, 1.0], repeat=2)}
    best = min(errors, key=errors.get)
    np.testing.assert_array_equal(model.components_[:, 5], best)
    # transform of a user without any rating
    W_new = model.transform(np.full((2, 12), np.nan))
    np.testing.assert_allclose(W_new, np.tile(model.cold_start_weights_, (2, 1)))
    assert np.all(np.isfinite(model.recommend(np.full((1, 12), np.nan), n=3)))


# ---------------------------------------------------------------- bad input
def test_bad_input_is_rejected_clearly():
    X, _, _ = planted(m=20, n=10, k=2, missing=0.2, seed=15)
    with pytest.raises(ValueError, match="Negative values"):
        NBMF().fit(np.where(np.isnan(X), np.nan, X - 1.5))
    with pytest.raises(ValueError, match="mask has shape"):
        NBMF().fit(X, mask=np.ones((5, 5), dtype=bool))
    with pytest.raises(ValueError, match="n_components"):
        NBMF(n_components=0).fit(X)
    with pytest.raises(TypeError, match="sample_qubo"):
        NBMF(solver=object()).fit(X)
    with pytest.raises(ValueError, match="solver"):
        NBMF(solver="quantum").fit(X)
    with pytest.raises(ValueError, match="above its limit"):
        NBMF(n_components=21, solver="exact").fit(X)
    with pytest.raises(ValueError, match="no rated entry"):
        NBMF().fit(np.full((4, 3), np.nan))
    Xs = sp.csr_matrix(np.nan_to_num(X))
    Xs.data[0] = np.nan
    with pytest.raises(ValueError, match="sparse and contains NaN"):
        NBMF().fit(Xs)
    model = NBMF(n_components=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="users must be indices"):
        model.predict_ratings([20], [0])
    with pytest.raises(TypeError, match="integer"):
        model.predict_ratings([0.5], [0])
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.recommend(X, n=0)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :5])


def test_score_prefers_the_planted_rank_to_rank_one():
    X, _, _ = planted(m=80, n=40, k=3, missing=0.3, noise=0.05, seed=16)
    scores = {k: NBMF(n_components=k, solver="exact", alpha=1e-3, n_init=2,
                      random_state=0).fit(X).score(X) for k in (1, 3)}
    assert scores[3] > scores[1]
    assert all(np.isfinite(s) and s <= 0 for s in scores.values())


# ---------------------------------------- ratings tables (scikit-surprise users)
def _table(seed=0):
    """A (user, item, rating) log with string ids, from a planted matrix."""
    X, _, _ = planted(m=40, n=15, k=3, missing=0.3, seed=seed)
    rows, cols = np.nonzero(~np.isnan(X))
    users = np.array([f"u{i:03d}" for i in range(X.shape[0])])
    items = np.array([f"film{j:02d}" for j in range(X.shape[1])])
    return X, users[rows], items[cols], X[rows, cols]


def test_ratings_matrix_from_an_array_and_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, u, i, r = _table()
    order = np.random.default_rng(0).permutation(len(r))  # a log in any order
    df = pd.DataFrame({"rating": r[order], "userID": u[order], "itemID": i[order]})
    R, users, items = ratings_matrix(df, columns=("userID", "itemID", "rating"))
    assert sp.issparse(R) and R.format == "csr" and R.shape == X.shape
    assert R.nnz == len(r)
    dense = np.full(X.shape, np.nan)
    rr, cc = np.repeat(np.arange(R.shape[0]), np.diff(R.indptr)), R.indices
    dense[rr, cc] = R.data
    np.testing.assert_array_equal(dense, X)  # rows/columns in sorted id order
    assert users[0] == "u000" and items[-1] == "film14"
    # the same table as an object array of (user, item, rating) rows
    table = np.empty((len(r), 3), dtype=object)
    table[:, 0], table[:, 1], table[:, 2] = u, i, r
    R2, users2, items2 = ratings_matrix(table)
    assert (R2 != R).nnz == 0
    np.testing.assert_array_equal(users2, users)
    # a test log over the training index: same rows and columns
    R3, _, _ = ratings_matrix(table[:10], user_ids=users, item_ids=items)
    assert R3.shape == R.shape and R3.nnz == 10


def test_ratings_matrix_keeps_explicit_zero_ratings_and_refuses_bad_tables():
    R, users, items = ratings_matrix([(1, 10, 0.0), (2, 10, 3.0), (1, 11, 5.0)])
    assert R.nnz == 3 and R[0, 0] == 0  # a rating of 0 is a rating
    assert users.tolist() == [1, 2] and items.tolist() == [10, 11]
    with pytest.raises(ValueError, match=r"\(user 1, item 10\) is rated more than once"):
        ratings_matrix([(1, 10, 1.0), (1, 10, 2.0)])
    with pytest.raises(ValueError, match="NaN or infinity"):
        ratings_matrix([(1, 10, np.nan)])
    with pytest.raises(ValueError, match="not in item_ids"):
        ratings_matrix([(1, 12, 1.0)], user_ids=users, item_ids=items)
    with pytest.raises(ValueError, match="at least 3 columns"):
        ratings_matrix(np.ones((4, 2)))
    with pytest.raises(ValueError, match="must be numbers"):
        ratings_matrix([(1, 10, "good")])


def test_predict_pairs_by_id_agrees_with_predict_ratings():
    pd = pytest.importorskip("pandas")
    _, u, i, r = _table(seed=1)
    R, users, items = ratings_matrix(np.column_stack([u, i, r]).astype(object))
    model = NBMF(n_components=3, alpha=1e-6, solver="exact", random_state=0).fit(R)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, R.shape[0], 50), rng.integers(0, R.shape[1], 50)
    expected = model.predict_ratings(rows, cols)
    pairs = pd.DataFrame({"item": items[cols], "user": users[rows]})
    got = model.predict_pairs(pairs, user_ids=users, item_ids=items,
                              columns=("user", "item"))
    np.testing.assert_allclose(got, expected)
    # by indices, with extra columns (a test table's true ratings) ignored
    np.testing.assert_allclose(
        model.predict_pairs(np.column_stack([rows, cols, np.ones(50)])), expected)
    # a user unseen in training gets the cold-start weights
    cold = model.predict_pairs([("new-user", items[2])], user_ids=users,
                               item_ids=items)
    want = np.clip(model.cold_start_weights_ @ model.components_[:, 2],
                   *model.rating_range_)
    np.testing.assert_allclose(cold, [want])
    with pytest.raises(ValueError, match="item id that is not in item_ids"):
        model.predict_pairs([(users[0], "no-such-film")], user_ids=users,
                            item_ids=items)
    with pytest.raises(ValueError, match="both user_ids and item_ids"):
        model.predict_pairs([(users[0], items[0])], user_ids=users)
    with pytest.raises(ValueError, match="user_ids has 3 ids but the model was fit "
                                         "on 40 users"):
        model.predict_pairs([(users[0], items[0])], user_ids=users[:3],
                            item_ids=items)
    with pytest.raises(ValueError, match="items must be indices in"):
        model.predict_pairs([(0, 99)])


def test_inverse_transform_checks_the_width():
    X, _, _ = planted(m=20, n=8, k=2, missing=0.2, seed=0)
    model = NBMF(n_components=2, random_state=0).fit(X)
    np.testing.assert_allclose(model.inverse_transform(model.transform(X)),
                               model.transform(X) @ model.components_)
    with pytest.raises(ValueError, match="X has 3 columns .* NBMF has 2 components"):
        model.inverse_transform(np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.inverse_transform(np.full((5, 2), np.nan))

# ------------------------------------------------- fast paths of the fit (issue 21)
def _gram_qubos(c=300, n_raters=6, k=6, seed=0):
    rng = np.random.RandomState(seed)
    V = rng.uniform(0, 1.5, (c, n_raters, k)) * (rng.rand(c, n_raters, k) < 0.7)
    x = rng.choice(np.arange(1, 6), (c, n_raters)).astype(float)
    G = np.einsum("cia,cib->cab", V, V)
    b = np.einsum("cia,ci->ca", V, x)
    return G, b, qubo_from_gram(G, b)


def test_certified_columns_are_global_minima():
    G, b, Q = _gram_qubos()
    S_opt, E_opt = solve_exact(Q)
    # every certified state is optimal: the optima are certified where the
    # relaxation's conditions hold, and random states only where optimal
    assert certified_optimal(G, b, S_opt).any()
    rng = np.random.RandomState(1)
    for S in (S_opt, (rng.rand(*b.shape) < 0.5).astype(float)):
        ok = certified_optimal(G, b, S)
        np.testing.assert_allclose(qubo_energy(Q, S)[ok], E_opt[ok], rtol=1e-12,
                                   atol=1e-9)
    # and a state with an improving single flip is never certified
    S = S_opt.copy()
    S[:, 0] = 1.0 - S[:, 0]
    worse = qubo_energy(Q, S) > E_opt + 1e-9
    assert not certified_optimal(G, b, S)[worse].any()


def test_descent_is_a_pair_flip_local_minimum_never_above_init():
    G, b, Q = _gram_qubos(seed=2)
    rng = np.random.RandomState(3)
    init = (rng.rand(*b.shape) < 0.5).astype(float)
    S, E = solve_descent(Q, init=init)
    assert np.all(E <= qubo_energy(Q, init) + 1e-12)
    np.testing.assert_allclose(E, qubo_energy(Q, S))
    k = S.shape[1]
    for a in range(k):
        for c in range(a, k):
            T = S.copy()
            T[:, a] = 1.0 - T[:, a]
            if c != a:
                T[:, c] = 1.0 - T[:, c]
            assert np.all(qubo_energy(Q, T) >= E - 1e-9)
    # a warm start that is already optimal stays put
    S_opt, _ = solve_exact(Q)
    np.testing.assert_array_equal(solve_descent(Q, init=S_opt)[0], S_opt)


@pytest.mark.parametrize("kind", ["stored", "mask", "full"])
def test_w_step_is_the_exact_nnls_cold_and_warm(kind):
    X, _, H = planted(m=50, n=40, k=4, missing=0.0 if kind == "full" else 0.4,
                      noise=0.3, seed=13)
    observed = ~np.isnan(X)
    Xo = np.where(observed, X, 0)
    if kind == "stored":
        rows, cols = np.nonzero(observed)
        Xo = sp.csr_matrix((X[rows, cols], (rows, cols)), shape=X.shape)
        observed = "stored"
    elif kind == "full":
        observed = None
    W_cold = _w_step(Xo, H, None, observed, 0.7)
    np.testing.assert_allclose(W_cold, nnls(Xo, H, observed=observed, l2=0.7),
                               rtol=1e-9, atol=1e-12)
    H2 = H.copy()
    H2[0] = 1.0 - H2[0]  # another H: the warm start's support is wrong
    W_warm = _w_step(Xo, H2, W_cold.copy(), observed, 0.7)
    np.testing.assert_allclose(W_warm, nnls(Xo, H2, observed=observed, l2=0.7),
                               rtol=1e-9, atol=1e-12)


def test_certified_h_step_equals_the_plain_exact_h_step():
    X, _, _ = planted(m=40, n=60, k=4, missing=0.5, noise=0.3, seed=14)
    observed = ~np.isnan(X)
    Xo = np.where(observed, X, 0)
    H = binary_start(Xo, observed, 4, random_state=0)
    W = nnls(Xo, H, observed=observed, l2=0.5)
    XT, obsT = _transposed(Xo, observed)
    solve = make_qubo_solver("exact")
    for _ in range(2):  # a few iterations in: columns near their optima
        H = _h_step(XT, W, H, obsT, solve)
        W = nnls(Xo, H, W=W, observed=observed, l2=0.5)
    stats = []
    H_cert = _h_step(XT, W, H, obsT, solve, certify=True, stats=stats)
    np.testing.assert_array_equal(H_cert, _h_step(XT, W, H, obsT, solve))
    assert stats[0] < H.shape[1]  # some items were certified and skipped


def test_anneal_fit_is_not_worse_than_before_on_planted_data():
    # the annealed first step plus descent recovers the planted factors as the
    # annealer on every step did (test_planted_factors_are_recovered), and the
    # objective it reaches is no worse than annealing at every step
    X, _, _ = planted(m=80, n=50, k=4, missing=0.3, noise=0.2, seed=15)
    observed = ~np.isnan(X)
    Xo = np.where(observed, X, 0)
    H0 = binary_start(Xo, observed, 4, random_state=0)
    every = fit_nbmf(Xo, None, H0.copy(), observed=observed, l2=0.1, tol=0,
                     solve=make_qubo_solver("anneal", random_state=0))
    first = fit_nbmf(Xo, None, H0.copy(), observed=observed, l2=0.1, tol=0,
                     solve=make_qubo_solver("anneal", random_state=0),
                     solve_next=make_qubo_solver("descent"), certify=True)
    assert first[3][-1] <= every[3][-1] * (1 + 1e-3)
    assert np.all(np.diff(first[3]) <= 0)
