"""NonnegativeCP, PANTHER, their core (nmfkit._core.cp) and make_pathway_cohort."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from nmfkit import PANTHER, NonnegativeCP
from nmfkit._core.align import match_components
from nmfkit._core.cp import (
    DenseProducts,
    MaskedDenseProducts,
    PantherProducts,
    fit_cp,
    init_cp,
    khatri_rao_rows,
    mttkrp,
    nnls_gram,
    reconstruct,
)
from nmfkit.datasets import make_pathway_cohort
from nmfkit.tensor import drop_redundant_pathways, select_mutated_genes


def planted_cp(shape, k, seed=0, noise=0.0):
    """Factors with a sparse, well separated pattern, and their tensor."""
    rng = np.random.default_rng(seed)
    factors = []
    for I in shape:
        F = rng.random((I, k))
        F[rng.random((I, k)) < 0.3] = 0  # distinct supports: unique CP
        factors.append(F)
    T = reconstruct(factors)
    if noise:
        T = np.maximum(T + noise * T.std() * rng.standard_normal(T.shape), 0)
    return T, factors


def congruence(true, fitted):
    """Per mode, the smallest cosine between matched true and fitted columns."""
    k = true[0].shape[1]
    # match on the concatenated unit columns of all non-sample modes
    def stack(fs):
        return np.vstack([F / np.maximum(np.linalg.norm(F, axis=0), 1e-300)
                          for F in fs]).T
    perm = match_components(stack(true), stack(fitted))
    out = []
    for Ft, Ff in zip(true, fitted):
        a = Ft / np.linalg.norm(Ft, axis=0)
        b = Ff[:, perm] / np.maximum(np.linalg.norm(Ff[:, perm], axis=0), 1e-300)
        out.append(float(np.min(np.einsum("ij,ij->j", a, b))))
    assert len(out) == len(true) and k == len(perm)
    return out


# --------------------------------------------------------------------------
# core
# --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7, 5), (6, 5, 4), (5, 4, 3, 6)])
def test_mttkrp_matches_the_unfolding_definition(shape):
    rng = np.random.default_rng(1)
    k = 3
    T = rng.random(shape)
    factors = [rng.random((I, k)) for I in shape]
    N = len(shape)
    letters = "abcdefg"[:N]
    for mode in range(N):
        subs = ",".join(letters[j] + "r" for j in range(N) if j != mode)
        ref = np.einsum(f"{letters},{subs}->{letters[mode]}r", T,
                        *[factors[j] for j in range(N) if j != mode])
        np.testing.assert_allclose(mttkrp(T, factors, mode), ref, rtol=1e-12)
        # the reused partial contraction of one iteration gives the same
        prod = DenseProducts(T)
        prod.begin(factors)
        for n in range(mode):
            prod.mttkrp(n, factors)
        np.testing.assert_allclose(prod.mttkrp(mode, factors), ref, rtol=1e-12)
    # the row-wise Khatri-Rao rows rebuild the tensor
    np.testing.assert_allclose(
        reconstruct(factors).reshape(shape[0], -1),
        factors[0] @ khatri_rao_rows(factors[1:]), rtol=1e-12)


def test_panther_implicit_products_equal_the_materialised_tensor():
    rng = np.random.default_rng(0)
    n_s, n_p, n_g, k = 9, 5, 8, 3
    X = rng.poisson(0.7, size=(n_s, n_g)).astype(float)
    P = (rng.random((n_p, n_g)) < 0.4).astype(float)
    T = np.einsum("sg,pg->spg", X, P)
    factors = [rng.random((n, k)) for n in (n_s, n_p, n_g)]
    for Xin in (X, sp.csr_matrix(X)):
        implicit = PantherProducts(Xin, sp.csr_matrix(P))
        assert implicit.norm2 == pytest.approx(float(np.sum(T * T)), rel=1e-12)
        for mode in range(3):
            np.testing.assert_allclose(implicit.mttkrp(mode, factors),
                                       mttkrp(T, factors, mode), rtol=1e-12)
    # and the fits agree: same init, same iterates, dense tensor vs implicit
    init = init_cp(DenseProducts(T), T.shape, k, "random", 0, np.float64)
    F_dense, _, h_dense = fit_cp(DenseProducts(T), [F.copy() for F in init],
                                 max_iter=12, tol=0)
    F_impl, _, h_impl = fit_cp(PantherProducts(X, P), [F.copy() for F in init],
                               max_iter=12, tol=0)
    np.testing.assert_allclose(h_dense, h_impl, rtol=1e-9)
    for a, b in zip(F_dense, F_impl):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("case", ["plain", "extrapolated", "penalized", "missing",
                                  "panther-ortho"])
def test_objective_never_rises(case):
    T, _ = planted_cp((25, 8, 7), 3, seed=2, noise=0.05)
    k = 4
    kw = dict(tol=0, max_iter=60)
    if case == "plain":
        prod, kw["extrapolate"] = DenseProducts(T), False
    elif case == "extrapolated":
        prod = DenseProducts(T)
    elif case == "penalized":
        prod = DenseProducts(T)
        kw.update(l1=[0.1, 0.0, 0.5], l2=[0.0, 1.0, 0.2])
    elif case == "missing":
        obs = np.random.default_rng(0).random(T.shape) > 0.3
        prod = MaskedDenseProducts(T, obs)
    else:
        c = make_pathway_cohort(n_samples=60, n_genes=80, n_pathways=15, n_groups=2,
                                pathways_per_group=3, random_state=0)
        prod = PantherProducts(c.data, c.pathways)
        kw.update(ortho=0.5 * prod.norm2, unit_mode=0)
    shape = getattr(prod, "shape", T.shape)
    factors = init_cp(prod, shape, k, "random", 3, np.float64)
    if case == "panther-ortho":
        factors[0] /= np.linalg.norm(factors[0], axis=0)
    history = []
    fit_cp(prod, factors, callback=lambda i, f: history.append(f), **kw)
    h = np.array(history)
    assert h.size >= 10 and np.all(np.isfinite(h))
    assert np.all(np.diff(h) <= 1e-10 * abs(h[0])), np.diff(h).max()
    assert h[-1] < h[0]


def test_nnls_gram_matches_the_matrix_nnls():
    from nmfkit._core.nnls import nnls

    rng = np.random.default_rng(0)
    X, H = rng.random((20, 12)), rng.random((4, 12))
    W = nnls_gram(X @ H.T, H @ H.T)
    np.testing.assert_allclose(W, nnls(X, H), atol=1e-9)


# --------------------------------------------------------------------------
# NonnegativeCP
# --------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["svd", "random"])
def test_planted_cp_factors_are_recovered(init):
    T, true = planted_cp((40, 12, 10), 3, seed=0, noise=0.0)
    cp = NonnegativeCP(n_components=3, init=init, random_state=0, tol=1e-9,
                       max_iter=2000).fit(T)
    assert cp.reconstruction_err_ < 1e-3 * np.linalg.norm(T)
    assert min(congruence(true, cp.factors_)) > 0.999
    np.testing.assert_allclose(np.linalg.norm(cp.factors_[1], axis=0), 1.0)
    # weights * unit factors rebuild the data
    np.testing.assert_allclose(reconstruct(cp.factors_, cp.weights_), T,
                               atol=2e-3 * T.max())


def test_planted_cp_factors_are_recovered_with_missing_entries():
    T, true = planted_cp((40, 12, 10), 3, seed=0, noise=0.0)
    rng = np.random.default_rng(1)
    T_nan = T.copy()
    T_nan[rng.random(T.shape) < 0.3] = np.nan
    cp = NonnegativeCP(n_components=3, random_state=0, tol=1e-9, max_iter=3000)
    cp.fit(T_nan)
    assert min(congruence(true, cp.factors_)) > 0.995
    # the hidden entries are predicted
    R = reconstruct(cp.factors_, cp.weights_)
    hidden = np.isnan(T_nan)
    err = np.linalg.norm(R[hidden] - T[hidden]) / np.linalg.norm(T[hidden])
    assert err < 0.02
    # an explicit mask is the same as NaN
    cp2 = NonnegativeCP(n_components=3, random_state=0, tol=1e-9, max_iter=3000)
    cp2.fit(np.nan_to_num(T_nan), mask=~hidden)
    np.testing.assert_allclose(cp2.weights_, cp.weights_, rtol=1e-6)


def test_four_way_and_flattened_input_agree():
    T, true = planted_cp((30, 5, 4, 6), 2, seed=3)
    cp_nd = NonnegativeCP(n_components=2, random_state=0, tol=1e-9).fit(T)
    cp_2d = NonnegativeCP(n_components=2, tensor_shape=(5, 4, 6), random_state=0,
                          tol=1e-9).fit(T.reshape(30, -1))
    assert cp_nd.tensor_shape_ == cp_2d.tensor_shape_ == (5, 4, 6)
    np.testing.assert_allclose(cp_nd.weights_, cp_2d.weights_, rtol=1e-10)
    assert min(congruence(true, cp_nd.factors_)) > 0.999
    # transform and inverse_transform: N-way in, N-way out
    W = cp_nd.transform(T[:5])
    np.testing.assert_allclose(W, cp_nd.factors_[0][:5], rtol=1e-4,
                               atol=1e-8)
    assert cp_nd.inverse_transform(W).shape == (5, 5, 4, 6)
    assert cp_2d.inverse_transform(W).shape == (5, 120)
    np.testing.assert_allclose(cp_nd.inverse_transform(W), T[:5], atol=1e-3 * T.max())


def test_float32_stays_float32():
    T, _ = planted_cp((20, 6, 5), 2)
    cp = NonnegativeCP(n_components=2, random_state=0).fit(T.astype(np.float32))
    assert cp.components_.dtype == np.float32
    assert cp.transform(T.astype(np.float32)).dtype == np.float32


@pytest.mark.slow
def test_gridsearch_over_rank_picks_the_planted_rank():
    true_k = 3
    T, _ = planted_cp((80, 10, 9), true_k, seed=5, noise=0.1)
    X = T.reshape(80, -1)
    pipe = Pipeline([("cp", NonnegativeCP(tensor_shape=(10, 9), random_state=0,
                                          tol=1e-6, max_iter=300))])
    search = GridSearchCV(pipe, {"cp__n_components": [1, 2, 3, 4, 5, 6]},
                          cv=KFold(3, shuffle=True, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X)
    best = search.best_params_["cp__n_components"]
    scores = search.cv_results_["mean_test_score"]
    assert abs(best - true_k) <= 1, scores
    assert scores[-1] < scores.max()  # larger ranks are not always better


def test_cp_rank_larger_than_data_and_degenerate_input_are_finite():
    X = np.zeros((3, 2, 2))
    cp = NonnegativeCP(n_components=5, random_state=0).fit(X)
    assert np.all(np.isfinite(cp.weights_)) and np.all(cp.weights_ == 0)
    assert all(np.all(np.isfinite(F)) for F in cp.factors_)
    one = np.random.default_rng(0).random((1, 3, 4))
    cp = NonnegativeCP(n_components=4, random_state=0).fit(one)
    assert np.all(np.isfinite(cp.transform(one)))


def test_cp_bad_input():
    T, _ = planted_cp((10, 4, 3), 2)
    with pytest.raises(ValueError, match="Negative values"):
        NonnegativeCP().fit(-T)
    with pytest.raises(ValueError, match="tensor_shape"):
        NonnegativeCP(tensor_shape=(5, 3)).fit(T.reshape(10, -1))
    with pytest.raises(ValueError, match="tensor_shape"):
        NonnegativeCP(tensor_shape=(3, 4)).fit(T)
    with pytest.raises(ValueError, match="tensor_shape"):
        NonnegativeCP(tensor_shape=(4, 0)).fit(T.reshape(10, -1))
    with pytest.raises(ValueError, match="mask has shape"):
        NonnegativeCP().fit(T, mask=np.ones((10, 12), dtype=bool))
    with pytest.raises(ValueError, match="l1"):
        NonnegativeCP(l1=[0.1, 0.2]).fit(T)
    cp = NonnegativeCP(random_state=0).fit(T)
    with pytest.raises(ValueError, match="shape"):
        cp.transform(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="missing_values"):
        NonnegativeCP(missing_values=0.0).fit(T)


# --------------------------------------------------------------------------
# PANTHER
# --------------------------------------------------------------------------
@parametrize_with_checks([NonnegativeCP(max_iter=200), NonnegativeCP(missing_values=None),
                          PANTHER(max_iter=200)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def cohort():
    return make_pathway_cohort(n_samples=160, n_genes=200, n_pathways=30, n_groups=3,
                               noise_gene_fraction=0.0, effect=8, random_state=0)


def test_panther_dense_and_sparse_give_the_same_answer(cohort):
    dense = PANTHER(pathways=cohort.pathways, n_components=3, random_state=0).fit(
        cohort.data)
    sparse = PANTHER(pathways=cohort.pathways.toarray(), n_components=3,
                     random_state=0).fit(sp.csr_matrix(cohort.data))
    np.testing.assert_allclose(dense.pathway_factors_, sparse.pathway_factors_,
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dense.transform(cohort.data),
                               sparse.transform(sp.csr_matrix(cohort.data)),
                               rtol=1e-6, atol=1e-9)


def test_panther_ortho_lowers_the_off_diagonal_mass_of_the_sample_gram(cohort):
    def off_diagonal(model):
        A = model.sample_factors_
        G = A.T @ A  # unit columns: cosines
        return float(G.sum() - np.trace(G))

    kw = dict(pathways=cohort.pathways, n_components=5, random_state=0)
    free = PANTHER(ortho=0.0, **kw).fit(cohort.data)
    ortho = PANTHER(ortho=1.0, **kw).fit(cohort.data)
    assert off_diagonal(ortho) < 0.5 * off_diagonal(free)
    assert np.all(np.diff(ortho.objective_) <= 1e-10 * abs(ortho.objective_[0]))


def test_panther_names_the_pathway_groups(cohort):
    import pandas as pd

    names = [f"path{i}" for i in range(cohort.pathways.shape[0])]
    genes = [f"g{j}" for j in range(cohort.pathways.shape[1])]
    P = pd.DataFrame(cohort.pathways.toarray(), index=names, columns=genes)
    model = PANTHER(pathways=P, n_components=3, n_top=4, random_state=0).fit(
        cohort.data)
    assert len(model.top_pathways_) == 3
    assert all(1 <= len(t) <= 4 and all(n in names for n in t)
               for t in model.top_pathways_)
    assert all(all(g in genes for g in t) for t in model.top_genes_)
    # the top pathways are listed by decreasing weight
    idx = [names.index(n) for n in model.top_pathways_[0]]
    assert np.all(np.diff(model.pathway_factors_[idx, 0]) <= 0)


def test_panther_recovers_the_planted_pathway_groups(cohort):
    """Each planted group is one component, in all three modes: its class's
    samples load on it, its pathways and its core genes rank first in it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_score

    # PANTHER starts at random; every start finds one component per group
    # (before the unpenalised first part of the fit, 2 of these 4 starts
    # ended in a local minimum that merged two groups), and the best
    # objective is the model kept, as a user would
    fits = [PANTHER(pathways=cohort.pathways, n_components=4, random_state=seed)
            .fit(cohort.data) for seed in range(4)]
    n_groups = len(cohort.group_pathways)

    def components(model):  # the component of group g: where its class loads most
        A = model.sample_factors_
        return [int(np.argmax(A[cohort.target == g + 1].mean(axis=0)))
                for g in range(n_groups)]

    for model in fits:
        assert len(set(components(model))) == n_groups, components(model)
    model = min(fits, key=lambda m: m.objective_[-1])
    comp = components(model)
    B, C = model.pathway_factors_, model.gene_factors_
    for g, r in enumerate(comp):
        in_group = np.zeros(B.shape[0], dtype=bool)
        in_group[cohort.group_pathways[g]] = True
        core = np.zeros(C.shape[0], dtype=bool)
        core[cohort.group_genes[g]] = True
        assert roc_auc_score(in_group, B[:, r]) > 0.9, (g, B[:, r])
        assert roc_auc_score(core, C[:, r]) > 0.95, (g, C[:, r])
    # the samples of each disease class are told apart by their components:
    # mostly by the largest of the groups' features, and all but a few by a
    # classifier on the features (what transform is for)
    disease = cohort.target > 0
    F = model.transform(cohort.data)[disease]
    assigned = np.argmax(F[:, comp], axis=1) + 1
    assert np.mean(assigned == cohort.target[disease]) > 0.85
    accuracy = cross_val_score(LogisticRegression(max_iter=1000), F,
                               cohort.target[disease], cv=5).mean()
    assert accuracy > 0.95, accuracy


@pytest.mark.slow
def test_panther_pipeline_gridsearch_over_rank(cohort):
    # Accuracy cannot pick one planted rank here: extra components never hurt
    # a classifier much (scores 0.48, 0.74, 0.89, 0.84, 0.92 for ranks 1, 2, 3,
    # 4, 6). What it must do: reject ranks below the 3 planted groups, which
    # cannot separate 4 classes, and classify far above chance (0.25).
    pipe = Pipeline([("panther", PANTHER(pathways=cohort.pathways, random_state=0)),
                     ("clf", LogisticRegression(max_iter=1000))])
    grid = [1, 2, 3, 4, 6]
    search = GridSearchCV(pipe, {"panther__n_components": grid}, cv=3)
    search.fit(cohort.data, cohort.target)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_["panther__n_components"] >= 3, scores
    assert search.best_score_ > 0.85, scores
    assert max(scores[:2]) < search.best_score_ - 0.1, scores
    features = search.best_estimator_[:-1].transform(cohort.data)
    assert np.all(np.isfinite(features)) and np.all(features >= 0)


def test_panther_bad_input(cohort):
    X, P = cohort.data, cohort.pathways.toarray()
    with pytest.raises(ValueError, match="Negative values"):
        PANTHER(pathways=P).fit(-X)
    bad = P.copy()
    bad[0, 0] = 2
    with pytest.raises(ValueError, match="binary"):
        PANTHER(pathways=bad).fit(X)
    with pytest.raises(ValueError, match="genes"):
        PANTHER(pathways=P[:, :-1]).fit(X)
    empty = P.copy()
    empty[0] = 0
    with pytest.warns(UserWarning, match="pathways have no genes"):
        model = PANTHER(pathways=empty, random_state=0).fit(X)
    assert np.all(model.pathway_factors_[0] == 0)
    lonely = P.copy()
    lonely[:, 0] = 0
    with pytest.warns(UserWarning, match="in no pathway"):
        model = PANTHER(pathways=lonely, random_state=0).fit(X)
    assert np.all(model.gene_factors_[0] == 0)
    assert all(np.all(np.isfinite(F)) for F in (model.sample_factors_,
                                                model.pathway_factors_))
    with pytest.raises(ValueError):
        PANTHER(pathways=np.full_like(P, np.nan)).fit(X)
    # all-zero counts: finite (zero) features
    model = PANTHER(pathways=P, random_state=0).fit(np.zeros_like(X))
    assert np.all(model.transform(X) == 0) and np.all(model.weights_ == 0)


# --------------------------------------------------------------------------
# preprocessing and the generator
# --------------------------------------------------------------------------
def test_drop_redundant_pathways():
    P = np.array([[1, 1, 0, 0, 0],
                  [1, 1, 1, 0, 0],
                  [0, 0, 1, 1, 0],
                  [1, 1, 1, 0, 0],
                  [0, 0, 0, 0, 0],
                  [0, 0, 0, 1, 1]])
    expected = [False, True, True, False, False, True]
    assert drop_redundant_pathways(P).tolist() == expected
    assert drop_redundant_pathways(sp.csr_matrix(P)).tolist() == expected
    with pytest.raises(ValueError, match="binary"):
        drop_redundant_pathways(P * 3)


def test_select_mutated_genes():
    rng = np.random.default_rng(0)
    X = (rng.random((200, 30)) < np.linspace(0, 0.2, 30)).astype(float)
    keep = select_mutated_genes(X)
    np.testing.assert_array_equal(keep, (X > 0).mean(axis=0) >= 0.05)
    np.testing.assert_array_equal(select_mutated_genes(sp.csr_matrix(X)), keep)
    with pytest.raises(ValueError, match="min_fraction"):
        select_mutated_genes(X, min_fraction=2)


def test_make_pathway_cohort_plants_what_it_says():
    c = make_pathway_cohort(n_samples=400, n_genes=500, n_pathways=60, n_groups=3,
                            noise_gene_fraction=0.1, random_state=0)
    X, y, P = c.data, c.target, c.pathways
    assert X.shape == (400, 500) and P.shape == (60, 500)
    assert set(np.unique(P.data)) == {1.0}
    assert 0.005 < (X > 0).mean() < 0.1  # sparse like variant data
    assert np.bincount(y).min() >= 99  # balanced classes 0..3
    # noise genes are in no pathway, every other gene in at least one
    in_pathway = np.asarray(P.sum(axis=0)).ravel() > 0
    assert not in_pathway[c.noise_genes].any()
    assert in_pathway.sum() == 500 - c.noise_genes.size
    for g, (paths, genes) in enumerate(zip(c.group_pathways, c.group_genes)):
        # the group's pathways overlap on its genes ...
        sub = P[paths][:, genes].toarray()
        assert sub.mean() > 5 * P.toarray().mean()
        # ... and its class mutates them more than the controls do
        rate = (X[:, genes] > 0).mean(axis=1)
        assert rate[y == g + 1].mean() > 2 * rate[y == 0].mean()
    sparse = make_pathway_cohort(n_samples=400, n_genes=500, n_pathways=60,
                                 sparse=True, random_state=0)
    assert sp.issparse(sparse.data)
    np.testing.assert_array_equal(sparse.data.toarray(), X)
    with pytest.raises(ValueError, match="n_pathways"):
        make_pathway_cohort(n_pathways=5, n_groups=3, pathways_per_group=4)


# --------------------------------------------------------------------------
# one API across the families (issue 17) and the issue-18 defects
# --------------------------------------------------------------------------
def planted_panther(seed=0, k=3, n=150, n_pathways=6, size=10, scale=10.0):
    """Poisson counts whose PANTHER tensor has CP rank exactly ``k``.

    Disjoint pathways of ``size`` genes; component ``r`` lives on the genes of
    pathway ``r`` only, so ``X[s, g] P[p, g] = sum_r A[s, r] C[g, r] [p = r]``
    is a sum of ``k`` rank-one terms; the other pathways carry no signal.
    """
    rng = np.random.RandomState(seed)
    n_genes = n_pathways * size
    P = np.zeros((n_pathways, n_genes))
    for p in range(n_pathways):
        P[p, p * size:(p + 1) * size] = 1
    C = np.zeros((n_genes, k))
    for r in range(k):
        C[r * size:(r + 1) * size, r] = rng.uniform(0.5, 1.5, size)
    A = rng.uniform(0, 0.2, (n, k))
    A[np.arange(n), rng.randint(k, size=n)] += 1
    return rng.poisson(scale * A @ C.T).astype(float), P


@pytest.mark.slow
@pytest.mark.parametrize("ortho", [0.0, 0.1])
@pytest.mark.parametrize("seed", [0, 1])
def test_panther_gridsearch_finds_the_planted_rank_without_a_scorer(seed, ortho):
    # PANTHER.score (held-out tensor entries) is what GridSearchCV maximises,
    # with and without the default orthogonality penalty (with it, before the
    # unpenalised first part, seed 0 picked 5: fits stuck at poor points)
    X, P = planted_panther(seed)
    search = GridSearchCV(PANTHER(pathways=P, ortho=ortho, random_state=0),
                          {"n_components": [1, 2, 3, 4, 5, 6]},
                          cv=KFold(3, shuffle=True, random_state=0)).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_["n_components"] == 3, scores


@pytest.mark.parametrize("seed", [0, 2])
def test_panther_with_the_default_penalty_reaches_one_objective_from_any_start(seed):
    # from a random start the penalised fit alone stopped at 2.7-4.4x the
    # best objective for 9 of 15 (cohort, seed) pairs; the unpenalised first
    # part takes every start to the same point
    X, P = planted_panther(seed)
    objectives = [PANTHER(pathways=P, n_components=3, random_state=rs).fit(X)
                  .objective_[-1] for rs in range(5)]
    assert max(objectives) < 1.01 * min(objectives), objectives


def test_panther_score_matches_the_materialised_tensor():
    # the implicit score equals a brute-force one on the formed tensor
    from nmfkit._core.heldout import _split_dense
    from nmfkit._core.nnls import nnls

    X, P = planted_panther(0, n=40)
    model = PANTHER(pathways=P, n_components=2, ortho=0.0, random_state=0).fit(X)
    rng = np.random.RandomState(0)
    _, visible, rows, cols, vals, _ = _split_dense(X, None, 0.2, rng)
    T = X[:, None, :] * P[None]
    B, C, w = model.pathway_factors_, model.gene_factors_, model.weights_
    comps = np.einsum("pr,gr,r->rpg", B, C, w).reshape(2, -1)
    obs = np.broadcast_to(visible[:, None, :], T.shape).reshape(len(X), -1)
    Tf = T.reshape(len(X), -1)
    W = nnls(np.where(obs, Tf, 0), comps, observed=obs)
    pred = (W @ comps).reshape(T.shape)
    err = ((T - pred) ** 2)[rows, :, cols]
    assert model.score(X) == pytest.approx(-err.mean(), rel=1e-6)


def test_panther_components_and_inverse_transform(cohort):
    model = PANTHER(pathways=cohort.pathways, n_components=3, random_state=0)
    F = model.fit_transform(cohort.data)
    H = model.components_
    assert H.shape == (3, cohort.data.shape[1]) and H.min() >= 0
    # for a gene of d pathways, the mean over them of the model's entries
    B, C, w = model.pathway_factors_, model.gene_factors_, model.weights_
    P = cohort.pathways.toarray()
    g = int(np.argmax(P.sum(axis=0)))
    model_entries = np.einsum("sr,pr,r->sp", F, B, C[g] * w)[:, P[:, g] > 0]
    np.testing.assert_allclose(model.inverse_transform(F)[:, g],
                               model_entries.mean(axis=1), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="4 columns .* 3 components"):
        model.inverse_transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="201 features.*expecting 200"):
        model.score(np.ones((5, 201)))


def test_panther_without_pathways_names_the_parameter(cohort):
    X = cohort.data
    for P in (np.zeros((0, X.shape[1])), sp.csr_matrix((0, X.shape[1]))):
        with pytest.raises(ValueError, match=r"pathways has shape \(0, 200\)"):
            PANTHER(pathways=P).fit(X)


def test_cp_em_objective_is_that_of_the_returned_model():
    # missing entries: objective_[-1] was measured one update before the end
    T, _ = planted_cp((30, 6, 5), 2, seed=1, noise=0.1)
    obs = np.random.default_rng(0).random(T.shape) > 0.3
    X = np.where(obs, T, np.nan)
    for max_iter in (1, 5, 500):  # stopped by max_iter, and by tol
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            cp = NonnegativeCP(2, max_iter=max_iter, tol=1e-6, random_state=0).fit(X)
        R = reconstruct(cp.factors_, cp.weights_)
        fit = 0.5 * np.sum(((T - R) ** 2)[obs])
        assert len(cp.objective_) == cp.n_iter_
        assert cp.objective_[-1] == pytest.approx(fit, rel=1e-9), max_iter
    assert cp.n_iter_ < 500


def test_cp_transform_applies_penalties_at_the_scale_of_the_fit():
    # the training samples' transform is the fit's own sample factor
    T, _ = planted_cp((40, 6, 5), 3, seed=0, noise=0.05)
    cp = NonnegativeCP(3, l1=0.5, l2=0.5, tol=1e-10, max_iter=3000,
                       extrapolate=False, random_state=0).fit(T)
    assert cp.n_iter_ < 3000
    # (at the unit-norm scale the rows were off by 5e-3 of a max of 0.32)
    np.testing.assert_allclose(cp.transform(T), cp.factors_[0], atol=1e-5)
    # the same holds for the held-out score's inner fit (no hidden entry)
    assert np.isfinite(cp.score(T))
