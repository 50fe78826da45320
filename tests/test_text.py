"""Behaviour of nmfkit.text: cooccurrence, sppmi, SeNMF and SeNMFk."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.metrics import normalized_mutual_info_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from nmfkit import NMF
from nmfkit._core.init import initialize
from nmfkit._core.losses import beta_divergence
from nmfkit._core.mu import fit_mu
from nmfkit._core.stacked import SparseKLBlock, fit_stacked_kl, stacked_kl_divergence
from nmfkit.datasets import make_topic_corpus
from nmfkit.text import SeNMF, SeNMFk, cooccurrence, sppmi


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def planted_corpus(n_docs=240, k=4, words_per_topic=15, n_background=10,
                   doc_length=60, seed=0):
    """Counts of documents drawn from ``k`` topics over disjoint word blocks.

    Each topic puts 90% of its mass on its own block (Zipf-like weights) and
    10% on background words shared by all topics; each document takes 90% of
    its words from one dominant topic. Returns ``(X, phi, labels)`` with
    ``phi`` the ``(k, n_words)`` planted topic-word distributions.
    """
    rng = np.random.default_rng(seed)
    n_words = k * words_per_topic + n_background
    phi = np.zeros((k, n_words))
    zipf = 1.0 / np.arange(1, words_per_topic + 1)
    for t in range(k):
        block = slice(t * words_per_topic, (t + 1) * words_per_topic)
        phi[t, block] = 0.9 * zipf / zipf.sum()
    phi[:, k * words_per_topic:] = 0.1 / n_background
    labels = rng.integers(0, k, n_docs)
    theta = np.full((n_docs, k), 0.1 / (k - 1))
    theta[np.arange(n_docs), labels] = 0.9
    X = rng.poisson(doc_length * theta @ phi).astype(float)
    return X, phi, labels


def match_topics(planted, found):
    """Cosine similarities of the planted topics to their matched found ones."""
    a = planted / np.linalg.norm(planted, axis=1, keepdims=True)
    b = found / np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-300)
    cos = a @ b.T
    rows, cols = linear_sum_assignment(-cos)
    return cos[rows, cols]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def brute_force_sppmi(C, shift, alpha=1.0):
    C = np.asarray(C, dtype=float)
    total = C.sum()
    r = C.sum(axis=1, keepdims=True)
    c = C.sum(axis=0, keepdims=True)
    p_context = c**alpha / np.sum(c**alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log((C / total) / ((r / total) * p_context))
    pmi[~np.isfinite(pmi)] = -np.inf
    return np.maximum(pmi - np.log(shift), 0.0)


@pytest.mark.parametrize("shift", [1.0, 2.0, 0.5])
def test_sppmi_matches_brute_force(shift):
    rng = np.random.default_rng(1)
    X = rng.poisson(0.7, (30, 9)) * (rng.random((30, 9)) < 0.6)
    C = cooccurrence(X)
    S = sppmi(C, shift=shift)
    assert sp.issparse(S)
    np.testing.assert_allclose(S.toarray(), brute_force_sppmi(C.toarray(), shift),
                               rtol=1e-12, atol=1e-12)
    # only positive entries are stored
    assert np.all(S.data > 0)
    # dense input gives the same sparse answer
    np.testing.assert_allclose(sppmi(C.toarray(), shift=shift).toarray(), S.toarray())


@pytest.mark.parametrize("alpha", [0.75, 0.5])
def test_sppmi_context_smoothing_matches_brute_force(alpha):
    rng = np.random.default_rng(5)
    C = rng.poisson(1.0, (12, 12)) * (rng.random((12, 12)) < 0.5)
    C[:, 3] = 0  # a context that never occurs
    S = sppmi(C, shift=2.0, context_smoothing=alpha)
    np.testing.assert_allclose(S.toarray(), brute_force_sppmi(C, 2.0, alpha),
                               rtol=1e-12, atol=1e-12)
    # smoothing raises the probability of rare contexts: their PMI drops
    rare = np.argmin(np.where(C.sum(0) > 0, C.sum(0), np.inf))
    assert S[:, rare].sum() <= sppmi(C, shift=2.0)[:, rare].sum()
    with pytest.raises(ValueError, match="context_smoothing"):
        sppmi(C, context_smoothing=0)


def test_sppmi_asymmetric_window_counts_and_dtype():
    rng = np.random.default_rng(2)
    C = rng.poisson(2.0, (7, 7)).astype(np.float32)
    S = sppmi(sp.csr_matrix(C), shift=1.5)
    assert S.dtype == np.float32
    np.testing.assert_allclose(S.toarray(), brute_force_sppmi(C, 1.5), rtol=1e-5,
                               atol=1e-6)


def test_sppmi_degenerate():
    S = sppmi(sp.csr_matrix((4, 4)))
    assert S.shape == (4, 4) and S.nnz == 0
    S = sppmi(np.array([[3.0]]))  # one word: PMI log(3*3/(3*3)) = 0
    assert S.nnz == 0
    with pytest.raises(ValueError, match="shift"):
        sppmi(np.eye(2), shift=0)
    with pytest.raises(ValueError, match="Negative"):
        sppmi(-np.eye(2))


def test_cooccurrence_counts_documents():
    rng = np.random.default_rng(3)
    X = rng.poisson(0.8, (25, 6)).astype(float)
    B = (X > 0).astype(float)
    expected = B.T @ B
    np.fill_diagonal(expected, 0)
    for data in (X, sp.csr_matrix(X), sp.csc_matrix(X)):
        C = cooccurrence(data)
        assert sp.isspmatrix_csr(C) or isinstance(C, sp.csr_array)
        np.testing.assert_array_equal(C.toarray(), expected)
    weighted = X.T @ X
    np.fill_diagonal(weighted, 0)
    np.testing.assert_allclose(cooccurrence(X, binary=False).toarray(), weighted)
    assert cooccurrence(X.astype(np.float32)).dtype == np.float32


# --------------------------------------------------------------------------
# scikit-learn compatibility
# --------------------------------------------------------------------------
@parametrize_with_checks(
    [
        SeNMF(n_components=3, max_iter=500),
        SeNMF(n_components=2, beta_loss="frobenius", solver="cd", max_iter=500),
        SeNMFk(n_components_range=(1, 2), n_perturbs=2, max_iter=500),
    ]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


# --------------------------------------------------------------------------
# recovery of planted topics
# --------------------------------------------------------------------------
@pytest.mark.parametrize("sparse", [False, True])
def test_senmf_recovers_planted_topics(sparse):
    X, phi, labels = planted_corpus()
    data = sp.csr_matrix(X) if sparse else X
    model = SeNMF(n_components=4, random_state=0, max_iter=400)
    W = model.fit_transform(data)
    assert W.shape == (X.shape[0], 4)
    assert np.isfinite(W).all() and np.isfinite(model.components_).all()
    # the SPPMI rows pull H a little away from the planted (Zipf-shaped)
    # distributions -- plain NMF of X reaches ~0.99 here, SeNMF ~0.9
    assert match_topics(phi, model.components_).min() > 0.85
    # each found topic puts most of its topic-word mass on one planted block
    blocks = (phi[:, :60] > 0).astype(float)
    H = model.components_[:, :60]
    assert ((H @ blocks.T).max(axis=1) / H.sum(axis=1)).min() > 0.85
    # each planted topic's 5 top words are the top words of a found topic
    planted_top = [set(np.argsort(-p)[:5]) for p in phi]
    found_top = [set(np.argsort(-h)[:5]) for h in model.components_]
    for top in planted_top:
        assert max(len(top & f) for f in found_top) >= 4
    # dominant topic of each document = its planted topic (up to relabelling)
    assert normalized_mutual_info_score(labels, W.argmax(axis=1)) > 0.9
    # topic weights of documents are per-document: transform agrees with fit
    np.testing.assert_allclose(model.transform(data), W, rtol=0.05, atol=0.05 * W.max())


def test_senmfk_chooses_planted_number_of_topics():
    X, phi, labels = planted_corpus(k=4, seed=1)
    model = SeNMFk(n_components_range=range(2, 7), n_perturbs=6, random_state=0,
                   max_iter=300)
    W = model.fit_transform(sp.csr_matrix(X))
    assert model.n_components_ == 4
    assert model.components_.shape == (4, X.shape[1])
    assert W.shape == (X.shape[0], 4)
    assert match_topics(phi, model.components_).min() > 0.85
    assert normalized_mutual_info_score(labels, W.argmax(axis=1)) > 0.9
    assert list(model.n_components_range_) == [2, 3, 4, 5, 6]
    # past the planted number the topics are not reproducible at all
    worst = np.minimum(model.silhouettes_["components_min"],
                       model.silhouettes_["coefficients_min"])
    assert worst[2] > 0.8 and worst[3:].max() < 0.0
    # Note: the choice itself depends on the seeds. KL multiplicative updates
    # from a random start end, in about 1 run in 12 on this corpus, in a local
    # minimum that merges two planted topics (its error is ~30% higher); one
    # such run among the perturbations pulls the minimum silhouette of k=4
    # down to ~0.5 and NMFk then keeps a smaller k. These seeds have no such
    # run; in every seed we tried k=4 stays far above k=5 and 6 (checked above).
    assert list(model.get_feature_names_out()) == [f"senmfk{i}" for i in range(4)]


def test_precomputed_cooccurrence_is_used():
    X, _, _ = planted_corpus(n_docs=80, seed=2)
    a = SeNMF(n_components=3, random_state=0).fit(X)
    b = SeNMF(n_components=3, random_state=0, cooccurrence=cooccurrence(X)).fit(X)
    np.testing.assert_allclose(a.components_, b.components_)
    np.testing.assert_allclose(a.sppmi_.toarray(), b.sppmi_.toarray())
    # a different co-occurrence (e.g. sliding windows) changes the SPPMI rows
    other = np.ones((X.shape[1], X.shape[1])) + np.eye(X.shape[1]) * 50
    c = SeNMF(n_components=3, random_state=0, cooccurrence=other).fit(X)
    np.testing.assert_allclose(c.sppmi_.toarray(), sppmi(other).toarray())
    assert not np.allclose(c.sppmi_.toarray(), a.sppmi_.toarray())


def test_sppmi_weight_scales_the_word_rows():
    X, _, _ = planted_corpus(n_docs=80, seed=3)
    model = SeNMF(n_components=3, sppmi_weight=0.0, random_state=0).fit(X)
    # with weight 0 the word rows are zero and their factor vanishes
    assert model.sppmi_scale_ == 0.0
    assert np.allclose(model.word_factor_, 0.0, atol=1e-6)
    model = SeNMF(n_components=3, sppmi_weight=2.0, random_state=0).fit(X)
    # the SPPMI block gets twice the mass of X
    assert model.sppmi_scale_ * model.sppmi_.sum() == pytest.approx(2.0 * X.sum())
    assert model.word_factor_.shape == (X.shape[1], 3)
    assert model.word_factor_.max() > 0


def test_topics_do_not_depend_on_the_scale_of_X():
    # the SPPMI block follows the mass of X, so counts and scaled counts
    # (e.g. a TF-IDF-like rescaling) give the same topics
    X, _, _ = planted_corpus(n_docs=80, seed=8)
    a = SeNMF(n_components=3, random_state=0).fit(X)
    b = SeNMF(n_components=3, random_state=0).fit(X * 0.01)
    assert b.sppmi_scale_ == pytest.approx(0.01 * a.sppmi_scale_)
    unit = lambda H: H / np.linalg.norm(H, axis=1, keepdims=True)  # noqa: E731
    # equal up to the solver's stopping point (entries of unit vectors)
    np.testing.assert_allclose(unit(a.components_), unit(b.components_), atol=5e-3)


def test_float32_preserved():
    X, _, _ = planted_corpus(n_docs=60, seed=4)
    X32 = sp.csr_matrix(X.astype(np.float32))
    model = SeNMF(n_components=3, random_state=0)
    W = model.fit_transform(X32)
    assert W.dtype == np.float32 and model.components_.dtype == np.float32
    assert model.transform(X32).dtype == np.float32
    assert model.sppmi_.dtype == np.float32


# --------------------------------------------------------------------------
# pipelines on raw text
# --------------------------------------------------------------------------
DOCS = [
    "the cat chased the dog around the pet shop",
    "a dog and a cat are common pets",
    "my pet cat sleeps while the dog barks",
    "the stock market fell as prices dropped",
    "investors sold stock when market prices rose",
    "bond and stock prices move the market",
    "the galaxy and the star emit light",
    "a telescope observed the distant galaxy",
    "star formation in the galaxy cluster",
] * 4


@pytest.mark.parametrize("vectorizer", [CountVectorizer, TfidfVectorizer])
def test_pipeline_on_raw_strings(vectorizer):
    pipe = make_pipeline(
        vectorizer(stop_words="english"),
        SeNMFk(n_components_range=range(2, 5), n_perturbs=4, random_state=0),
    )
    W = pipe.fit_transform(DOCS)
    model = pipe[-1]
    assert model.n_components_ == 3
    assert W.shape == (len(DOCS), 3)
    topics = model.top_words(3, feature_names=pipe[0])
    themes = [{"cat", "dog", "pet"}, {"stock", "market", "prices"},
              {"galaxy", "star", "telescope"}]
    for theme in themes:
        assert any(len(theme & set(t)) >= 2 for t in topics), topics
    # new documents get the topic of their theme
    new = pipe.transform(["cat and dog", "stock market prices", "galaxy star"])
    assert len(set(new.argmax(axis=1))) == 3
    # the vocabulary given at construction is used too
    model.set_params(feature_names=pipe[0].get_feature_names_out())
    assert model.top_words(3) == topics


def test_top_words_names():
    X, _, _ = planted_corpus(n_docs=60, seed=5)
    model = SeNMF(n_components=2, random_state=0).fit(X)
    default = model.top_words(2)
    assert len(default) == 2 and all(w.startswith("x") for t in default for w in t)
    names = [f"w{j}" for j in range(X.shape[1])]
    named = model.top_words(2, feature_names=names)
    assert [[w.replace("w", "x") for w in t] for t in named] == default
    assert len(model.top_words(10**6)[0]) == X.shape[1]
    with pytest.raises(ValueError, match="feature_names has 3 names"):
        model.top_words(2, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="n_words"):
        model.top_words(0)
    with pytest.raises(ValueError, match="vectorizer that is not fitted"):
        model.top_words(2, feature_names=CountVectorizer())


def test_pandas_column_names_are_words():
    pd = pytest.importorskip("pandas")
    X, _, _ = planted_corpus(n_docs=60, k=2, seed=6)
    cols = [f"word{j}" for j in range(X.shape[1])]
    model = SeNMF(n_components=2, random_state=0).fit(pd.DataFrame(X, columns=cols))
    assert all(w.startswith("word") for t in model.top_words(3) for w in t)
    out = model.set_output(transform="pandas").transform(pd.DataFrame(X, columns=cols))
    assert list(out.columns) == ["senmf0", "senmf1"]


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [SeNMF, SeNMFk])
def test_empty_documents_warn_and_stay_finite(Est):
    X, _, _ = planted_corpus(n_docs=60, k=2, seed=7)
    X[[3, 10, 11]] = 0.0
    params = ({"n_components": 2} if Est is SeNMF
              else {"n_components_range": [2], "n_perturbs": 2})
    model = Est(random_state=0, **params)
    with pytest.warns(UserWarning, match="3 of 60 documents have no words"):
        W = model.fit_transform(sp.csr_matrix(X))
    assert np.isfinite(W).all() and np.isfinite(model.components_).all()
    np.testing.assert_allclose(W[[3, 10, 11]], 0.0, atol=1e-8)


@pytest.mark.parametrize("Est", [SeNMF, SeNMFk])
def test_all_documents_empty_is_an_error(Est):
    with pytest.raises(ValueError, match="all 5 documents are empty"):
        Est().fit(sp.csr_matrix((5, 4)))


def test_one_word_vocabulary_warns_and_stays_finite():
    X = np.array([[1.0], [3.0], [1.0], [2.0]])
    for model in (SeNMF(n_components=1, random_state=0),
                  SeNMFk(n_components_range=[1], n_perturbs=2, random_state=0)):
        with pytest.warns(UserWarning, match="single word"):
            W = model.fit_transform(X)
        assert np.isfinite(W).all() and np.isfinite(model.components_).all()
        assert model.top_words(5, feature_names=["only"]) == [["only"]]


@pytest.mark.parametrize("Est", [SeNMF, SeNMFk])
def test_cooccurrence_of_wrong_shape(Est):
    X = np.abs(np.random.default_rng(0).normal(size=(10, 4)))
    with pytest.raises(ValueError, match=r"cooccurrence has shape \(3, 3\).*4 words"):
        Est(cooccurrence=np.ones((3, 3))).fit(X)
    with pytest.raises(ValueError, match=r"cooccurrence has shape \(4, 5\)"):
        Est(cooccurrence=np.ones((4, 5))).fit(X)
    with pytest.raises(ValueError, match="Negative"):
        Est(cooccurrence=-np.ones((4, 4))).fit(X)


def test_invalid_parameters():
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="shift"):
        SeNMF(shift=0).fit(X)
    with pytest.raises(ValueError, match="sppmi_weight"):
        SeNMF(sppmi_weight=-1).fit(X)
    with pytest.raises(ValueError, match="beta_loss"):
        SeNMF(beta_loss="itakura-saito").fit(X)
    with pytest.raises(ValueError, match="Negative values"):
        SeNMF().fit(-X)


# --------------------------------------------------------------------------
# the solver of the stack [X; gamma S] (nmfkit._core.stacked)
# --------------------------------------------------------------------------
def stack_problem(seed=0, k=4):
    X, _, _ = planted_corpus(n_docs=120, k=k, seed=seed)
    X = sp.csr_matrix(X)
    S = sppmi(cooccurrence(X))
    S = S * (X.sum() / S.sum())
    Z = sp.vstack([X, S], format="csr")
    W0, H0 = initialize(Z, k, "random", random_state=seed)
    return X, S, Z, W0, H0


@pytest.mark.parametrize("dense_gather", [False, True])
@pytest.mark.parametrize("penalties", [(0.0, 0.0, 0.0, 0.0), (0.1, 0.2, 0.3, 0.05)])
def test_stacked_solver_is_mu_on_the_stack(dense_gather, penalties):
    # the block representation (model values from dense row blocks or
    # gathered) runs the multiplicative updates of the stacked matrix
    X, S, Z, W0, H0 = stack_problem()
    l1_W, l2_W, l1_H, l2_H = penalties
    W_ref, H_ref, n_ref = fit_mu(Z, W0.copy(), H0.copy(), beta=1.0, tol=1e-4,
                                 max_iter=150, l1_W=l1_W, l2_W=l2_W, l1_H=l1_H,
                                 l2_H=l2_H)
    n = X.shape[0]
    blocks = [SparseKLBlock(X, np.float64, dense_gather=dense_gather),
              SparseKLBlock(S, np.float64, dense_gather=dense_gather)]
    Ws, H, n_iter = fit_stacked_kl(
        blocks, [W0[:n].copy(), W0[n:].copy()], H0.copy(), tol=1e-4,
        max_iter=150, l1_W=l1_W, l2_W=l2_W, l1_H=l1_H, l2_H=l2_H)
    assert n_iter == n_ref
    np.testing.assert_allclose(np.vstack(Ws), W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=1e-9, atol=1e-12)
    # and its divergence is the stack's
    assert stacked_kl_divergence(blocks, Ws, H) == pytest.approx(
        beta_divergence(Z, W_ref, H_ref, 1.0), rel=1e-10)


@pytest.mark.parametrize("update", ["alternating", "coupled"])
def test_stacked_solver_objective_never_rises(update):
    X, S, Z, W0, H0 = stack_problem(seed=1)
    n = X.shape[0]
    blocks = [SparseKLBlock(X, np.float64), SparseKLBlock(S, np.float64)]
    Ws, H = [W0[:n].copy(), W0[n:].copy()], H0.copy()
    objective = [beta_divergence(Z, W0, H0, 1.0)]
    for _ in range(60):
        Ws, H, _ = fit_stacked_kl(blocks, Ws, H, tol=0, max_iter=1, update=update,
                                  inner=3)
        objective.append(beta_divergence(Z, np.vstack(Ws), H, 1.0))
    steps = np.diff(objective)
    assert np.all(steps <= 1e-10 * objective[0]), steps.max()
    assert objective[-1] < 0.5 * objective[0]


def test_coupled_update_reaches_the_alternating_objective():
    # a different path to a minimum of the same objective
    X, S, Z, W0, H0 = stack_problem(seed=2)
    n = X.shape[0]
    final = {}
    for update in ("alternating", "coupled"):
        blocks = [SparseKLBlock(X, np.float64), SparseKLBlock(S, np.float64)]
        Ws, H, _ = fit_stacked_kl(blocks, [W0[:n].copy(), W0[n:].copy()],
                                  H0.copy(), tol=0, max_iter=400, update=update,
                                  inner=4)
        final[update] = stacked_kl_divergence(blocks, Ws, H)
    assert final["coupled"] == pytest.approx(final["alternating"], rel=2e-3)
    with pytest.raises(ValueError, match="penalties"):
        fit_stacked_kl(blocks, [W0[:n].copy(), W0[n:].copy()], H0.copy(),
                       update="coupled", l1_H=0.1)


@pytest.mark.parametrize("mode", ["gather", "dense_gather", "dense"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_ratio_products_are_the_ratio_and_its_two_products(mode, threads):
    # one pass (per thread a row range, in dense mode BLAS on dense row
    # blocks) gives what the ratio and two sparse products give
    rng = np.random.default_rng(0)
    A = sp.random(300, 200, density=0.2, random_state=1, format="csr")
    A.data[:5] = 1e-12  # entries below eps count in the ratio, not the loss
    W, H = rng.random((300, 3)), rng.random((3, 200))
    W[:7] = 0.0  # model values of zero are floored at eps
    block = SparseKLBlock(A, np.float64, dense_gather=mode != "gather",
                          dense=mode == "dense")
    assert (block.dense is not None) == (mode == "dense")
    reference = SparseKLBlock(A, np.float64, dense_gather=False, dense=False)
    for _ in range(2):  # the second call overwrites the ratio of the first
        R = reference.update_ratio(W, H)
        RHt, RtW = block.ratio_products(W, H, threads=threads)
        np.testing.assert_allclose(RHt, R @ H.T, rtol=1e-12)
        np.testing.assert_allclose(RtW, R.T @ W, rtol=1e-12)
        np.testing.assert_allclose(block.R.data, R.data, rtol=1e-15)
        assert block.kl_x_terms() == pytest.approx(reference.kl_x_terms(), rel=1e-12)
        W, H = 1.3 * W + 0.1, 0.7 * H
    # the dense mode may skip copying the ratio out when no loss is needed
    last = block.R.data.copy()
    block.ratio_products(2 * W, H, threads=threads, store_ratio=False)
    if mode == "dense":
        np.testing.assert_array_equal(block.R.data, last)
    else:
        np.testing.assert_allclose(block.R.data, reference.update_ratio(2 * W, H).data,
                                   rtol=1e-15)


def test_dense_block_is_chosen_from_its_stored_fraction():
    dense_ish = sp.random(100, 100, density=0.3, random_state=0, format="csr")
    sparse = sp.random(100, 100, density=0.03, random_state=0, format="csr")
    assert SparseKLBlock(dense_ish, np.float32).dense is not None
    assert SparseKLBlock(sparse, np.float32).dense is None
    # the container does not matter, the stored fraction does
    assert SparseKLBlock(dense_ish.toarray(), np.float32).dense is not None


@pytest.mark.parametrize("relax", [1.5, 6.0])
def test_over_relaxed_coupled_updates_descend_between_checks(relax):
    # Longer multiplicative steps, undone at the next check (every 10
    # iterations) if the divergence rose there: the divergence at the checks
    # never rises, and a mild over-relaxation gets lower in as many steps.
    X, S, Z, W0, H0 = stack_problem(seed=5)
    n = X.shape[0]
    final = {}
    for omega in (1.0, relax):
        blocks = [SparseKLBlock(X, np.float64), SparseKLBlock(S, np.float64)]
        Ws, H = [W0[:n].copy(), W0[n:].copy()], H0.copy()
        checks = [stacked_kl_divergence(blocks, Ws, H)]
        for _ in range(8):
            Ws, H, n_iter = fit_stacked_kl(blocks, Ws, H, tol=1e-12, max_iter=10,
                                           update="coupled", relax=omega)
            assert n_iter == 10
            checks.append(stacked_kl_divergence(blocks, Ws, H))
        assert np.all(np.isfinite(np.vstack(Ws))) and np.all(np.isfinite(H))
        assert np.all(np.diff(checks) <= 1e-12 * checks[0]), np.diff(checks)
        final[omega] = checks[-1]
    if relax < 2:
        assert final[relax] < final[1.0]
    # within one call, an overshoot is caught at the next check and undone
    blocks = [SparseKLBlock(X, np.float64), SparseKLBlock(S, np.float64)]
    Ws, H, _ = fit_stacked_kl(blocks, [W0[:n].copy(), W0[n:].copy()], H0.copy(),
                              tol=0, max_iter=60, update="coupled", relax=relax)
    assert stacked_kl_divergence(blocks, Ws, H) < beta_divergence(Z, W0, H0, 1.0)


def test_float32_sppmi_block_changes_only_rounding():
    X, S, Z, W0, H0 = stack_problem(seed=3)
    n = X.shape[0]
    out = []
    for dtype in (np.float64, np.float32):
        blocks = [SparseKLBlock(X, np.float64), SparseKLBlock(S, dtype)]
        Ws, H, _ = fit_stacked_kl(blocks, [W0[:n].copy(), W0[n:].copy()],
                                  H0.copy(), tol=0, max_iter=50, update="coupled")
        assert Ws[0].dtype == H.dtype == np.float64
        out.append((np.vstack(Ws), H, beta_divergence(Z, np.vstack(Ws), H, 1.0)))
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-3, atol=1e-6)
    assert out[1][2] == pytest.approx(out[0][2], rel=1e-6)


def test_senmf_matches_the_nmf_of_the_stack():
    # SeNMF's solver against the SeNMF of before: nmfkit's NMF of the stack.
    # With penalties both run the same updates (the SPPMI block in float32).
    X, _, _ = planted_corpus(n_docs=120, seed=4)
    kw = dict(n_components=4, init="random", random_state=0, alpha_W=0.01,
              alpha_H=0.01, l1_ratio=0.5, max_iter=300)
    model = SeNMF(**kw).fit(X)
    stacked = sp.vstack([sp.csr_matrix(X), model.sppmi_ * model.sppmi_scale_],
                        format="csr")
    nmf = NMF(solver="mu", beta_loss="kullback-leibler",
              **{k: v for k, v in kw.items()}).fit(stacked)
    assert model.n_iter_ == nmf.n_iter_
    np.testing.assert_allclose(model.components_, nmf.components_, rtol=1e-3,
                               atol=1e-6)
    assert model.reconstruction_err_ == pytest.approx(nmf.reconstruction_err_,
                                                      rel=1e-6)
    # without penalties (the coupled update): the same or a lower divergence
    kw.update(alpha_W=0.0, alpha_H=0.0)
    model = SeNMF(**kw).fit(X)
    nmf = NMF(solver="mu", beta_loss="kullback-leibler", **kw).fit(stacked)
    assert model.reconstruction_err_ <= nmf.reconstruction_err_ * (1 + 1e-3)


def test_senmf_dense_and_sparse_input_agree():
    X, _, _ = planted_corpus(n_docs=150, seed=6)
    for kw in ({}, {"alpha_W": 0.01}):
        a = SeNMF(n_components=4, random_state=0, **kw)
        b = SeNMF(n_components=4, random_state=0, **kw)
        Wa = a.fit_transform(X)
        Wb = b.fit_transform(sp.csr_matrix(X))
        np.testing.assert_allclose(a.components_, b.components_, rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_allclose(Wa, Wb, rtol=1e-12, atol=1e-14)
        assert a.n_iter_ == b.n_iter_


@pytest.mark.slow
def test_senmfk_early_stopping_chooses_planted_and_stops():
    X, phi, labels = planted_corpus(k=4, seed=1)
    kw = dict(n_components_range=range(2, 12), n_perturbs=6, random_state=0,
              max_iter=300)
    model = SeNMFk(early_stopping=True, **kw).fit(X)
    assert model.n_components_ == 4
    # stopped once k = 5, 6, 7 were all far from stable: 8..11 never fitted
    assert model.n_components_range_.tolist() == [2, 3, 4, 5, 6, 7]
    assert model.nmfk_.n_iter_.shape == (6, 6)
    assert match_topics(phi, model.components_).min() > 0.85
    # a patience of 1 stops right after the first unstable candidate
    short = SeNMFk(early_stopping=True, n_iter_no_change=1, **kw).fit(X)
    assert short.n_components_range_.tolist() == [2, 3, 4, 5]
    assert short.n_components_ == 4


def test_make_topic_corpus():
    X, labels, topics, theta = make_topic_corpus(
        n_documents=300, n_words=200, n_topics=3, random_state=0)
    assert sp.issparse(X) and X.shape == (300, 200)
    assert np.all(X.data > 0) and np.all(X.data == np.round(X.data))
    np.testing.assert_allclose(topics.sum(axis=1), 1.0)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0)
    np.testing.assert_array_equal(labels, theta.argmax(axis=1))
    # mean document length as asked (a mean of 300 Poisson-gamma lengths)
    assert 40 < X.sum() / 300 < 60
    # frequent words are shared by the topics, rare ones specific to one
    specificity = topics.max(axis=0) / topics.min(axis=0)
    assert specificity[:10].max() < 10 < 50 < specificity[-10:].min()
    # and the draw is reproducible
    X2, labels2, _, _ = make_topic_corpus(
        n_documents=300, n_words=200, n_topics=3, random_state=0)
    assert (X != X2).nnz == 0 and np.array_equal(labels, labels2)
    # the planted topics are what a topic model finds
    model = SeNMF(n_components=3, random_state=0).fit(X)
    assert match_topics(topics, model.components_).min() > 0.8
    assert normalized_mutual_info_score(labels, model.transform(X).argmax(1)) > 0.5
    with pytest.raises(ValueError, match="n_topics"):
        make_topic_corpus(n_topics=0)


# --------------------------------------------------------------------------
# real data (skipped, with the reason, when ../shared/data is absent)
# --------------------------------------------------------------------------
def test_arxiv_abstracts_topics_follow_archives(shared_data_dir):
    pd = pytest.importorskip("pandas")
    path = shared_data_dir / "text" / "arxiv_2007_abstracts" / "arxiv_data.csv"
    if not path.is_file():
        pytest.skip(f"arXiv abstracts not found at {path}")
    df = pd.read_csv(path, usecols=["categories", "abstract"]).iloc[:400]
    archive = df["categories"].str.split().str[0].str.split(".").str[0]
    vec = TfidfVectorizer(min_df=5, max_df=0.5, stop_words="english")
    X = vec.fit_transform(df["abstract"])
    model = SeNMF(n_components=6, shift=5.0, random_state=0, max_iter=60,
                  tol=1e-3, feature_names=vec)
    W = model.fit_transform(X)
    assert np.isfinite(W).all()
    # dominant topics carry real information about the archive
    assert normalized_mutual_info_score(archive, W.argmax(axis=1)) > 0.2
    topics = model.top_words(10)
    assert len(topics) == 6 and all(len(set(t)) == 10 for t in topics)


# ------------------------------------------------ SeNMF: score and GridSearchCV
@pytest.mark.slow
def test_senmf_gridsearch_finds_the_planted_number_of_topics_without_a_scorer():
    from sklearn.model_selection import GridSearchCV, KFold

    X = make_topic_corpus(n_documents=300, n_words=200, n_topics=4, doc_length=60,
                          random_state=0)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(SeNMF(random_state=0, max_iter=100),
                              {"n_components": [2, 3, 4, 5, 6]},
                              cv=KFold(2, shuffle=True, random_state=0)).fit(X)
    assert search.best_params_["n_components"] == 4, \
        search.cv_results_["mean_test_score"]


def test_senmf_score_is_the_heldout_divergence_of_its_topics():
    from nmfkit._core.heldout import heldout_score

    X = make_topic_corpus(n_documents=60, n_words=40, n_topics=2, doc_length=30,
                          random_state=0)[0]
    model = SeNMF(2, random_state=0, max_iter=30).fit(X)
    expected = heldout_score(X, model.components_, beta=1.0, fraction=0.2,
                             random_state=0, tol=model.tol, max_iter=model.max_iter)
    assert model.score(X) == pytest.approx(expected, rel=1e-6)
    assert model.score(X) < 0
    frob = SeNMF(2, beta_loss="frobenius", solver="cd", random_state=0,
                 max_iter=30).fit(X)
    assert frob.score(X) == pytest.approx(
        heldout_score(X, frob.components_, beta=2.0, fraction=0.2, random_state=0,
                      tol=frob.tol, max_iter=frob.max_iter), rel=1e-6)
    with pytest.raises(ValueError, match="39 features, but SeNMF is expecting 40"):
        model.score(X[:, :39])


# --------------------------------------------------------------------------
# SeNMFk: built as NMFk, selection rules, score
# --------------------------------------------------------------------------
def test_senmfk_has_senmf_parameters_and_defaults():
    import inspect

    senmf = inspect.signature(SeNMF).parameters
    senmfk = inspect.signature(SeNMFk).parameters
    for name, p in senmf.items():
        if name == "n_components":
            continue
        assert name in senmfk, name
        assert senmfk[name].default == p.default, name


def test_senmfk_estimator_route_matches_the_flat_parameters():
    X, _, _ = planted_corpus(n_docs=120, k=3, seed=5)
    kw = dict(n_components_range=[2, 3, 4], n_perturbs=4, random_state=0)
    flat = SeNMFk(max_iter=150, **kw).fit(X)
    routed = SeNMFk(estimator=SeNMF(max_iter=150), **kw).fit(X)
    assert flat.n_components_ == routed.n_components_ == 3
    np.testing.assert_allclose(flat.components_, routed.components_, rtol=1e-6)
    # the co-occurrence is computed once and handed to the runs
    np.testing.assert_allclose(routed.cooccurrence_.toarray(),
                               cooccurrence(X).toarray())
    assert routed.estimator_.cooccurrence is not None


def test_senmfk_selection_rules_and_criteria():
    X, phi, labels = planted_corpus(k=4, seed=1)
    model = SeNMFk(n_components_range=range(2, 7), n_perturbs=4, random_state=0,
                   max_iter=150, selection="components").fit(X)
    assert model.n_components_ == 4
    assert model.selection_rule_ == model.decided_by_ == "components"
    assert model.nmfk_.run_params_ == {"init": "random"}  # SeNMF's init=None varied
    # (the cophenetic correlation of the documents' dominant topics stays
    # near 1 past k = 4 here: documents keep their dominant topic when a
    # minor one splits; it is the weakest rule on topic models)
    for rule in ("minimum", "mean", "quantile", "components", "dispersion",
                 "combined"):
        assert model.picks_[rule] == 4, rule
    # SeNMF has a held-out score now, so the held-out rule is reported too;
    # on this corpus it over-splits (k = 5), one reason it is not the default
    assert "heldout" in model.picks_
    assert np.all(np.isfinite(np.asarray(model.criteria_["heldout"], dtype=float)))
    assert set(model.criteria_) >= {"cophenetic", "dispersion", "components_quantile"}
    with pytest.raises(ValueError, match="selection"):
        SeNMFk(selection="biggest").fit(X)


def test_senmfk_score_is_a_heldout_score_that_prefers_the_planted_rank():
    X, _, _ = planted_corpus(n_docs=160, k=3, seed=7)
    kw = dict(n_perturbs=3, random_state=0, max_iter=150)
    good = SeNMFk(n_components_range=[3], **kw).fit(X)
    poor = SeNMFk(n_components_range=[1], **kw).fit(X)
    s_good, s_poor = good.score(X), poor.score(X)
    assert np.isfinite(s_good) and s_good <= 0.0
    assert s_good > s_poor
    assert good.score(X) == s_good  # the same entries are hidden every time
    with pytest.raises(ValueError, match=f"{X.shape[1] - 1} features.*expecting "
                       f"{X.shape[1]} features"):
        good.score(X[:, :-1])


def test_senmfk_unusable_memory_fails_before_any_fit(tmp_path):
    X, _, _ = planted_corpus(n_docs=60, k=2, seed=8)
    path = tmp_path / "a-file"
    path.write_text("x")
    with pytest.raises(ValueError, match="memory=.*cannot be used"):
        SeNMFk(n_components_range=[2], n_perturbs=2, memory=str(path)).fit(X)
