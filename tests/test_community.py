"""Tests of nmfkit.community (SymNMF, DeepNMF, EdgeSplit) and their cores."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from nmfkit import DeepNMF, NMFk, SymNMF
from nmfkit._core.align import cosine_similarity_matrix, match_components
from nmfkit._core.deep import deep_objective, fit_deep, pretrain_deep
from nmfkit._core.symnmf import (
    fit_symnmf,
    symmetric_split,
    symnmf_init,
    symnmf_objective,
    top_eigenvalue,
)
from nmfkit.community import EdgeSplit
from nmfkit.datasets.graphs import make_sbm


@parametrize_with_checks(
    [
        # pairwise tag: the checks pass square kernels X @ X.T
        SymNMF(random_state=0),
        DeepNMF(random_state=0),
        # three layers; short runs keep the suite fast (ConvergenceWarning only)
        DeepNMF(n_components=2, hidden_sizes=(4, 3), init="random", max_iter=20,
                pretrain_max_iter=20, random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_symnmf_tags():
    tags = SymNMF().__sklearn_tags__()
    assert tags.input_tags.pairwise
    assert tags.input_tags.sparse and tags.input_tags.positive_only
    assert not DeepNMF().__sklearn_tags__().input_tags.pairwise


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def test_make_sbm_is_a_simple_symmetric_graph():
    A, labels = make_sbm([60, 40], p_in=0.2, p_out=0.05, shuffle=True, random_state=0)
    assert A.shape == (100, 100) and (A != A.T).nnz == 0
    assert A.diagonal().sum() == 0 and set(np.unique(A.data)) == {1.0}
    same = labels[:, None] == labels[None, :]
    dense = A.toarray()
    # expected edge counts (i < j pairs): within 1770 + 780 pairs at 0.2,
    # between 2400 at 0.05; four standard deviations
    within = dense[same].sum() / 2
    between = dense[~same].sum() / 2
    assert abs(within - 0.2 * 2550) < 4 * np.sqrt(2550 * 0.16)
    assert abs(between - 0.05 * 2400) < 4 * np.sqrt(2400 * 0.0475)


def test_make_sbm_degree_and_mixing():
    A, labels = make_sbm([500] * 4, average_degree=20, mixing=0.3, random_state=1)
    deg = np.asarray(A.sum(axis=1)).ravel()
    assert abs(deg.mean() - 20) < 0.5
    r, c = A.nonzero()
    assert abs(np.mean(labels[r] != labels[c]) - 0.3) < 0.02


# --------------------------------------------------------------------------
# SymNMF
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sbm4():
    return make_sbm([50] * 4, average_degree=15, mixing=0.2, shuffle=True,
                    random_state=3)


def test_symnmf_recovers_planted_communities(sbm4):
    A, planted = sbm4
    labels = SymNMF(4, random_state=0).fit_predict(A)
    assert nmi(planted, labels) > 0.9
    # the spectral baseline on the same graph reaches the same level
    assert labels.min() >= 0


def test_symnmf_dense_and_sparse_same_answer(sbm4):
    A, _ = sbm4
    ms = SymNMF(4, random_state=0).fit(A)
    md = SymNMF(4, random_state=0).fit(A.toarray())
    np.testing.assert_allclose(ms.components_, md.components_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(ms.labels_, md.labels_)
    np.testing.assert_allclose(ms.transform(A), md.transform(A.toarray()),
                               rtol=1e-6, atol=1e-8)
    assert ms.score(A) == pytest.approx(md.score(A.toarray()), rel=1e-6)


def test_symnmf_float32_stays_float32(sbm4):
    A, planted = sbm4
    m = SymNMF(4, random_state=0).fit(A.astype(np.float32))
    assert m.components_.dtype == np.float32
    assert nmi(planted, m.labels_) > 0.9


def test_symnmf_objective_does_not_increase(sbm4):
    A, _ = sbm4
    W0 = symnmf_init(A, 4, 0, np.float64)
    alpha = 0.6 * top_eigenvalue(A)
    _, _, info = fit_symnmf(A, W0, alpha=alpha, tol=0, max_iter=60, track=True)
    hist = np.array(info["history"])
    assert hist.size > 20  # with tol=0 it stops only when F stops decreasing
    assert np.all(np.diff(hist) <= 1e-10 * hist[0])
    assert info["gap"] < 0.05  # W and H agree: a symmetric solution
    # the symmetric objective is far below the start's
    assert hist[-1] < 0.85 * symnmf_objective(A, W0)


def test_top_eigenvalue():
    A, _ = make_sbm([30, 30], p_in=0.3, p_out=0.05, random_state=0)
    assert top_eigenvalue(A, n_iter=200) == pytest.approx(
        np.linalg.eigvalsh(A.toarray())[-1], rel=1e-6)
    assert top_eigenvalue(sp.csr_matrix((5, 5))) == 0.0


@pytest.mark.parametrize("bad, match", [
    (np.ones((3, 4)), "square"),
    (np.array([[0.0, 1.0], [0.0, 0.0]]), "symmetric"),
    (np.array([[0.0, -1.0], [-1.0, 0.0]]), "Negative"),
    (np.array([[0.0, np.nan], [np.nan, 0.0]]), "NaN"),
    (np.array([[0.0, np.inf], [np.inf, 0.0]]), "infinity"),
])
def test_symnmf_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        SymNMF(1).fit(bad)


def test_symnmf_tolerates_rounding_asymmetry():
    A, _ = make_sbm([20, 20], p_in=0.5, p_out=0.05, random_state=0)
    A = A.toarray()
    A[0, 1] += 1e-9  # within the stated tolerance (1e-6 x the largest entry)
    SymNMF(2, random_state=0).fit(A)
    A[0, 1] += 1e-3
    with pytest.raises(ValueError, match="symmetric"):
        SymNMF(2).fit(A)


def test_symnmf_too_many_components():
    with pytest.raises(ValueError, match="n_components=5 exceeds the number of nodes"):
        SymNMF(5).fit(np.eye(4))


def test_symnmf_isolated_nodes_and_empty_graph(sbm4):
    A, planted = sbm4
    n = A.shape[0]
    # two isolated nodes appended
    A2 = sp.block_diag([A, sp.csr_matrix((2, 2))]).tocsr()
    m = SymNMF(4, random_state=0).fit(A2)
    assert np.all(m.components_[:, n:] == 0)
    assert np.all(m.labels_[n:] == -1)
    assert nmi(planted, m.labels_[:n]) > 0.9
    assert np.isfinite(m.score(A2))
    # empty graph: W = 0, labels -1, finite error and score
    E = sp.csr_matrix((6, 6))
    m = SymNMF(2).fit(E)
    assert np.all(m.components_ == 0) and np.all(m.labels_ == -1)
    assert m.reconstruction_err_ == 0.0 and m.n_iter_ == 0
    assert m.score(E) == 0.0
    np.testing.assert_array_equal(m.transform(E), np.zeros((6, 2)))


def test_symnmf_karate_club():
    pytest.importorskip("networkx")
    from nmfkit.datasets.graphs import load_karate_club

    A, factions, _ = load_karate_club()
    labels = SymNMF(2, n_init=5, random_state=0).fit_predict(A)
    agree = max(np.mean(labels == factions), np.mean(labels != factions))
    assert agree >= 0.9  # at most 3 of the 34 members on the wrong side


def test_symmetric_split_hides_pairs():
    A, _ = make_sbm([40, 40], p_in=0.3, p_out=0.05, random_state=0)
    rng = np.random.RandomState(0)
    A_vis, rows, cols, vals, w = symmetric_split(A, 0.1, rng)
    assert (A_vis != A_vis.T).nnz == 0
    hidden = set(zip(rows.tolist(), cols.tolist()))
    assert all((j, i) in hidden for i, j in hidden)
    assert np.all(rows != cols)
    # hidden edges are gone from the visible graph, and are edges of A
    assert np.all(np.asarray(A_vis[rows, cols]).ravel() == 0)
    np.testing.assert_array_equal(np.asarray(A[rows, cols]).ravel(), vals)
    n_edges = A.nnz // 2
    assert abs((vals > 0).sum() / 2 - 0.1 * n_edges) < 4 * np.sqrt(0.1 * n_edges)
    # a sampled non-edge stands for (0.1 x non-edges) / (number sampled)
    n_absent = 80 * 79 // 2 - n_edges
    assert w[vals == 0].sum() / 2 == pytest.approx(0.1 * n_absent)


@pytest.mark.slow
def test_gridsearch_edge_split_finds_planted_count(sbm4):
    A, _ = sbm4
    search = GridSearchCV(SymNMF(random_state=0),
                          {"n_components": [2, 3, 4, 5, 6, 7]}, cv=EdgeSplit(3))
    search.fit(A)
    assert search.best_params_["n_components"] == 4


def test_gridsearch_node_split_scores_rectangular_blocks(sbm4):
    # KFold: fit on X[train][:, train], score on X[test][:, train]
    A, _ = sbm4
    search = GridSearchCV(SymNMF(random_state=0), {"n_components": [2, 4, 7]},
                          cv=KFold(3, shuffle=True, random_state=0)).fit(A)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    assert search.best_params_["n_components"] == 4


class _SymmetrisedSymNMF(SymNMF):
    """SymNMF on ``(X + X.T) / 2``: NMFk's entrywise perturbations made symmetric.

    nmfkit's NMFk perturbs pairwise estimators' X symmetrically in the release
    (the rank module's own change); this stand-in tests the same selection on
    any version of it.
    """

    def fit_transform(self, X, y=None):
        X = sp.csr_matrix(X)
        return super().fit_transform((X + X.T) * 0.5)


def test_nmfk_chooses_planted_count(sbm4):
    A, _ = sbm4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NMFk(_SymmetrisedSymNMF(), n_components_range=range(2, 8),
                     n_perturbs=6, n_jobs=1, random_state=0).fit(A)
    assert model.n_components_ == 4


def test_nmfk_of_plain_symnmf(sbm4):
    # NMFk perturbs a pairwise estimator's X symmetrically (the pairwise tag),
    # so plain SymNMF accepts every perturbed copy and the scan finds the count
    A, _ = sbm4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NMFk(SymNMF(), n_components_range=range(2, 8), n_perturbs=6,
                     n_jobs=1, random_state=0).fit(A)
    assert model.n_components_ == 4


# --------------------------------------------------------------------------
# DeepNMF
# --------------------------------------------------------------------------
def _planted_hierarchy(seed, n=300, d=60, groups_k=3, per=2):
    """Samples in ``groups_k`` groups, each group mixing its own ``per`` parts.

    ``H1`` (n x 6): sample ``i`` of group ``g`` uses parts ``2g`` and
    ``2g + 1`` with proportions ``a``, ``1 - a`` (``a`` uniform: near-pure
    samples make the first layer identifiable); ``Z1`` (6 x d) the sparse
    parts. The second layer groups the parts: ``H1 ~ H2 Z2``.
    """
    rng = np.random.RandomState(seed)
    k1 = groups_k * per
    groups = rng.randint(0, groups_k, n)
    H1 = np.zeros((n, k1))
    a = rng.rand(n)
    H1[np.arange(n), groups * per] = a
    H1[np.arange(n), groups * per + 1] = 1 - a
    Z1 = rng.rand(k1, d) * (rng.rand(k1, d) < 0.3)
    Z1[np.arange(k1), np.arange(k1) * (d // k1)] += 1
    return groups, Z1, H1 @ Z1


@pytest.mark.parametrize("seed", [0, 1])
def test_deepnmf_recovers_planted_two_layers(seed):
    groups, Z1, X = _planted_hierarchy(seed)
    m = DeepNMF(3, hidden_sizes=(6,), random_state=0).fit(X)
    Z1_fit, Z2_fit = m.layers_
    assert Z1_fit.shape == (6, 60) and Z2_fit.shape == (3, 6)
    # layer 1: the six parts (fine-tuning on the rank-3 product moves them a
    # little from the pre-trained ones, which match to cosine 1.000)
    perm = match_components(Z1, Z1_fit)
    assert np.diag(cosine_similarity_matrix(Z1, Z1_fit[perm])).min() > 0.9
    # layer 2: each coarse part combines the two parts of one group only
    Z2 = Z2_fit[:, perm].reshape(3, 3, 2).sum(axis=2)
    assert np.all(Z2.max(axis=1) >= 0.99 * Z2.sum(axis=1))
    assert sorted(Z2.argmax(axis=1).tolist()) == [0, 1, 2]
    # the samples' groups
    assert nmi(groups, m.labels_) == pytest.approx(1.0)
    obj = np.array(m.objective_)
    assert np.all(np.diff(obj) <= 1e-12 * obj[0])


def test_pretrain_recovers_first_layer_exactly():
    _, Z1, X = _planted_hierarchy(0)
    _, Zs = pretrain_deep(X, (6, 3), tol=1e-6, max_iter=2000, random_state=0)
    perm = match_components(Z1, Zs[0])
    assert np.diag(cosine_similarity_matrix(Z1, Zs[0][perm])).min() > 0.999


def test_deepnmf_graph_term_objective_monotone_and_helps():
    # noisy node attributes; the graph carries the communities
    A, planted = make_sbm([60] * 3, p_in=0.25, p_out=0.01, random_state=0)
    rng = np.random.RandomState(0)
    centers = rng.rand(3, 30) * (rng.rand(3, 30) < 0.3)
    X = centers[planted] + 1.5 * rng.rand(180, 30)
    plain = DeepNMF(3, hidden_sizes=(6,), random_state=0).fit(X)
    graph = DeepNMF(3, hidden_sizes=(6,), alpha_graph=3.0, random_state=0).fit(
        X, graph=A)
    obj = np.array(graph.objective_)
    assert np.all(np.diff(obj) <= 1e-12 * obj[0])
    assert nmi(planted, graph.labels_) > nmi(planted, plain.labels_) + 0.1
    assert nmi(planted, graph.labels_) > 0.9
    # the reported objective is the core's
    f = deep_objective(X, graph.embedding_, graph.layers_,
                       S=A, degree=np.asarray(A.sum(axis=1)).ravel(), lam=3.0)
    assert f == pytest.approx(obj[-1], rel=1e-9)


def test_fit_deep_three_layers_monotone():
    rng = np.random.RandomState(0)
    X = rng.rand(80, 40)
    H, Zs = pretrain_deep(X, (10, 6, 3), max_iter=50, random_state=0)
    _, Zs, n_iter, hist = fit_deep(X, H, Zs, tol=0, max_iter=40, track=True)
    assert n_iter == 40
    assert np.all(np.diff(hist) <= 1e-12 * hist[0])


def test_deepnmf_dense_and_sparse_same_answer(sbm4):
    A, planted = sbm4
    ms = DeepNMF(4, random_state=0).fit(A)
    md = DeepNMF(4, random_state=0).fit(A.toarray())
    np.testing.assert_allclose(ms.components_, md.components_, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(ms.labels_, md.labels_)
    assert nmi(planted, ms.labels_) > 0.8


def test_deepnmf_bad_input():
    with pytest.raises(ValueError, match="Negative"):
        DeepNMF(1).fit(-np.ones((3, 3)))
    with pytest.raises(ValueError, match="n_components=5 exceeds"):
        DeepNMF(5).fit(np.ones((4, 10)))
    with pytest.raises(ValueError, match="hidden_sizes"):
        DeepNMF(2, hidden_sizes=(0,)).fit(np.ones((4, 10)))
    with pytest.raises(ValueError, match="graph must be"):
        DeepNMF(2).fit(np.ones((4, 10)), graph=np.ones((3, 3)))
    with pytest.raises(ValueError, match="symmetric"):
        DeepNMF(2).fit(np.ones((3, 10)), graph=np.triu(np.ones((3, 3))))
    m = DeepNMF(2).fit(np.zeros((5, 4)))  # all-zero data: a finite answer
    assert np.all(m.labels_ == -1) and m.reconstruction_err_ == 0.0


def test_normalize_adjacency():
    from nmfkit.community import normalize_adjacency

    A, _ = make_sbm([20, 20], p_in=0.4, p_out=0.05, random_state=0)
    A = sp.block_diag([A, sp.csr_matrix((1, 1))]).tocsr()  # an isolated node
    N = normalize_adjacency(A)
    d = np.asarray(A.sum(axis=1)).ravel()
    dense = A.toarray()
    expected = np.zeros_like(dense)
    nz = d > 0
    expected[np.ix_(nz, nz)] = dense[np.ix_(nz, nz)] / np.sqrt(np.outer(d[nz], d[nz]))
    np.testing.assert_allclose(N.toarray(), expected)
    np.testing.assert_allclose(normalize_adjacency(dense), expected)
    with pytest.raises(ValueError, match="symmetric"):
        normalize_adjacency(np.triu(np.ones((3, 3))))
