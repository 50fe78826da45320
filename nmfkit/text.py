r"""Topic models of documents: semantic NMF (SeNMF) and SeNMFk.

SeNMF factorizes a documents x words matrix ``X`` (counts or TF-IDF) jointly
with the shifted positive pointwise mutual information (SPPMI) of the words,
the word-topic factor being shared:

.. math::

    \min_{W, W_c, H \ge 0}\;
    D_\beta(X \,\|\, W H) + D_\beta(\gamma S \,\|\, \gamma W_c H),
    \qquad \gamma = \lambda\, \frac{\sum_{dw} X_{dw}}{\sum_{ij} S_{ij}}

where :math:`S` is the ``(n_words, n_words)`` SPPMI matrix and
:math:`\lambda` the ``sppmi_weight`` (relative to the mass of ``X``, so the
same value means the same balance for counts and for TF-IDF). This is one
NMF of the stacked matrix :math:`[X; \gamma S] \approx [W; W_c] H`. With the
Kullback-Leibler divergence and multiplicative updates (the defaults) it is
solved by :func:`nmfkit._core.stacked.fit_stacked_kl`, which treats the two
blocks apart (the SPPMI block holds a fifth to a third of the vocabulary
squared); otherwise by nmfkit's :class:`~nmfkit.NMF` on the stacked matrix
(sparse, nothing densified). The
co-occurrence term pulls words that appear in the same contexts into the same
topics, which helps short documents. SeNMFk chooses the number of topics with
:class:`~nmfkit.NMFk` (stability of the topics under perturbations of ``X``).

The pure helpers :func:`cooccurrence` and :func:`sppmi` build the word-word
matrices; both take and return ``scipy.sparse`` matrices and only ever touch
stored entries.
"""

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import check_array
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_non_negative, validate_data

from ._conventions import check_inverse_input, solver_verbose
from ._core.init import initialize
from ._core.losses import beta_loss_to_float
from ._core.stacked import SparseKLBlock, fit_stacked_kl, stacked_kl_divergence

__all__ = ["SeNMF", "SeNMFk", "cooccurrence", "sppmi"]

#: Document-block steps per pass over the SPPMI block (coupled update). More
#: steps need fewer passes (4: ~1.5x faster fits) but pull the topics towards
#: the documents: on the arXiv report (docs/senmfk_arxiv.md) the NPMI of the
#: top words fell (SeNMFk 0.165 -> 0.143; single fits, seeds 0-3, 0.153 ->
#: 0.146 on average) while NMI rose a little. With 1 step the topics are those
#: of the alternating updates (NPMI 0.162, 0.151, 0.141, 0.158 vs 0.162,
#: 0.149, 0.141, 0.158).
_DOCUMENT_STEPS = 1

#: Over-relaxation of the coupled update (``fit_stacked_kl(relax=...)``).
#: Measured on the arXiv abstracts (k = 5, seeds 0-4, one BLAS thread) against
#: plain majorization-minimization (1.0): 120-150 iterations instead of
#: 120-170, a lower divergence on every seed, NMI within 0.006, NPMI of the
#: top words 0.030 / 0.046 / 0.100 / 0.130 / 0.052 against 0.044 / 0.054 /
#: 0.100 / 0.119 / 0.037; on the generated corpus of
#: ``benchmarks/bench_senmf_speed.py`` 60-67 iterations instead of 70-77,
#: the same topics. 1.8 took 10 fewer iterations on seeds 0-1, but the NPMI
#: of seed 0 fell to 0.005; growing it at each check stopped later (see
#: docs/benchmarks.md).
_RELAX = 1.5

#: HALS iterations of the warm start without penalties (NMF's is 50, kept
#: with penalties, where SeNMF runs NMF's updates on the stack). Measured with the
#: defaults, seeds 0-4, one BLAS thread: on the generated corpus of
#: ``benchmarks/bench_senmf_speed.py`` 1.95 s -> 1.47 s per fit (median), the
#: same divergence and topics; on the arXiv abstracts the same time (the
#: multiplicative phase is as long), NMI 0.407 -> 0.413, NPMI 0.071 -> 0.080,
#: the divergence lower on two seeds of five and higher on three. With 10
#: the fits got slower again and the generated corpus's NMI fell to 0.773.
_WARM_START_ITERATIONS = 20


_EMPTY_DOCS_MSG = "documents have no words"


# --------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------
def _float_dtype(A):
    return A.dtype if A.dtype in (np.float32, np.float64) else np.float64


def cooccurrence(X, *, binary=True):
    r"""Word-word co-occurrence counts with documents as contexts.

    .. math::

        C = B^\top B, \qquad B_{dw} = [X_{dw} > 0]

    so :math:`C_{ij}` is the number of documents that contain both word
    :math:`i` and word :math:`j`. The diagonal (a word with itself) is
    dropped: it carries no information about word association and would
    dominate the PMI of rare words.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_documents, n_words)
        Non-negative document-word counts or weights (e.g. TF-IDF).
    binary : bool, default=True
        Count documents (``True``). With ``False`` the weights of ``X`` are
        used, :math:`C = X^\top X` off the diagonal.

    Returns
    -------
    C : scipy.sparse.csr_matrix of shape (n_words, n_words)
        Symmetric co-occurrence matrix with an empty diagonal, of ``X``'s
        floating dtype (float64 for integer input).

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.text import cooccurrence
    >>> X = np.array([[1, 2, 0], [0, 1, 1], [3, 1, 0]])
    >>> cooccurrence(X).toarray()
    array([[0., 2., 0.],
           [2., 0., 1.],
           [0., 1., 0.]])
    """
    B = sp.csr_matrix(X)
    dtype = _float_dtype(B)
    B = B.astype(dtype, copy=True)
    B.eliminate_zeros()
    if binary:
        B.data[:] = 1.0
    C = B.T.tocsr() @ B  # CSR @ CSR: the result needs no conversion
    # the product leaves the columns of each row unsorted; C is symmetric, so
    # its transpose converted back to CSR is C with sorted columns, by a
    # linear-time counting pass (sorting row by row costs several times more)
    C = C.T.tocsr()
    return _keep_entries(C, _csr_rows(C) != C.indices)


def _csr_rows(A):
    """Row index of each stored entry of the CSR matrix ``A``."""
    return np.repeat(np.arange(A.shape[0], dtype=A.indices.dtype), np.diff(A.indptr))


def _keep_entries(A, keep, data=None):
    """CSR ``A`` restricted to the stored entries where ``keep``, no re-sorting.

    ``data`` replaces ``A.data`` (same length) when given.
    """
    data = A.data if data is None else data
    kept = np.zeros(A.nnz + 1, dtype=np.int64)
    np.cumsum(keep, out=kept[1:])
    indptr = kept[A.indptr]  # entries kept before each row start
    where = np.flatnonzero(keep)
    return sp.csr_matrix((data.take(where), A.indices.take(where), indptr),
                         shape=A.shape)


def sppmi(C, shift=1.0, *, context_smoothing=1.0):
    r"""Shifted positive pointwise mutual information of a co-occurrence matrix.

    With :math:`N = \sum_{ij} C_{ij}`, row sums :math:`r_i` and column sums
    :math:`c_j`,

    .. math::

        \mathrm{PMI}_{ij} = \log \frac{C_{ij}\, N}{r_i\, c_j}, \qquad
        \mathrm{SPPMI}_{ij} = \max(\mathrm{PMI}_{ij} - \log s,\ 0)

    with :math:`s` the ``shift`` (Levy and Goldberg's number of negative
    samples). With ``context_smoothing`` :math:`\alpha < 1` the context
    probability :math:`c_j / N` is replaced by
    :math:`c_j^\alpha / \sum_l c_l^\alpha` (context distribution smoothing,
    Levy, Goldberg and Dagan 2015), which lowers the PMI that rare context
    words get and so their weight in the topics.

    The PMI is computed on the stored entries of ``C`` only
    (:math:`C_{ij} = 0` gives :math:`-\infty`, hence 0), so a sparse input
    stays sparse and is never densified.

    Parameters
    ----------
    C : {array-like, sparse matrix} of shape (n_words, n_contexts)
        Non-negative co-occurrence counts, e.g. from :func:`cooccurrence` or
        from sliding windows.
    shift : float, default=1.0
        The shift :math:`s > 0`; ``1`` gives the positive PMI.
    context_smoothing : float, default=1.0
        Exponent :math:`\alpha \in (0, 1]` of the context counts; ``1`` is
        the plain PMI above (0.75 is word2vec's value).

    Returns
    -------
    S : scipy.sparse.csr_matrix of shape (n_words, n_contexts)
        The SPPMI, with only its positive entries stored, of ``C``'s floating
        dtype (float64 for integer input). An all-zero ``C`` gives an
        all-zero ``S``.

    References
    ----------
    .. [1] Levy, O. and Goldberg, Y. "Neural word embedding as implicit
       matrix factorization." NeurIPS (2014).
    .. [2] Levy, O., Goldberg, Y. and Dagan, I. "Improving distributional
       similarity with lessons learned from word embeddings." TACL 3 (2015).

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.text import sppmi
    >>> C = np.array([[0, 4, 1], [4, 0, 1], [1, 1, 0]])
    >>> sppmi(C).toarray().round(3)
    array([[0.   , 0.652, 0.182],
           [0.652, 0.   , 0.182],
           [0.182, 0.182, 0.   ]])
    >>> sppmi(C, shift=2).nnz  # log 2 > every PMI here
    0
    """
    if not shift > 0:
        raise ValueError(f"shift must be > 0, got {shift!r}.")
    if not 0 < context_smoothing <= 1:
        raise ValueError(
            f"context_smoothing must be in (0, 1], got {context_smoothing!r}."
        )
    C = sp.csr_matrix(C)
    dtype = _float_dtype(C)
    C = C.astype(np.float64, copy=False)
    if not C.has_canonical_format:  # duplicates summed on a copy
        C = C.copy()
        C.sum_duplicates()
    if C.nnz and C.data.min() < 0:
        raise ValueError("Negative values in the co-occurrence matrix passed to sppmi.")
    row_sums = np.asarray(C.sum(axis=1)).ravel()
    col_sums = np.bincount(C.indices, weights=C.data, minlength=C.shape[1])
    a = float(context_smoothing)
    # sum_l c_l^a over the contexts that occur (N itself when a = 1)
    norm = col_sums.sum() if a == 1.0 else np.sum(col_sums[col_sums > 0] ** a)
    if not norm > 0:
        return sp.csr_matrix(C.shape, dtype=dtype)
    # a stored entry > 0 has row and column sums > 0; stored zeros give -inf
    # (not kept). The logs of the sums are taken once per word.
    with np.errstate(divide="ignore"):
        log_rows = np.log(row_sums)
        log_cols = a * np.log(col_sums)
        pmi = np.log(C.data)
    pmi += np.log(norm) - np.log(shift)
    pmi -= log_rows[_csr_rows(C)]
    pmi -= log_cols[C.indices]
    with np.errstate(invalid="ignore"):  # -inf - (-inf) of empty rows
        keep = pmi > 0
    return _keep_entries(C, keep, pmi.astype(dtype, copy=False))


def _vstack_csr(A, B):
    """``[A; B]`` for CSR matrices of the same dtype, by concatenation."""
    indptr = np.concatenate([A.indptr[:-1].astype(np.int64),
                             B.indptr.astype(np.int64) + A.nnz])
    return sp.csr_matrix(
        (np.concatenate([A.data, B.data.astype(A.dtype, copy=False)]),
         np.concatenate([A.indices, B.indices]), indptr),
        shape=(A.shape[0] + B.shape[0], A.shape[1]),
    )


def _top_words(H, n_words, names):
    """Top ``n_words`` names of each row of ``H``, by decreasing weight."""
    n_words = min(int(n_words), H.shape[1])
    order = np.argsort(-H, axis=1, kind="stable")[:, :n_words]
    return [[str(names[j]) for j in row] for row in order]


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------
class _TopicMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """Validation, co-occurrence handling and ``top_words`` of SeNMF/SeNMFk."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        """Number of topics."""
        return self.components_.shape[0]

    def _validate_X(self, X, reset):
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
            reset=reset,
        )
        check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    def _check_documents(self, X):
        """Refuse an all-empty corpus, warn about empty documents / 1 word."""
        name = type(self).__name__
        doc_sums = np.asarray(X.sum(axis=1)).ravel()
        n_empty = int(np.count_nonzero(doc_sums == 0))
        if n_empty == X.shape[0]:
            raise ValueError(
                f"{name}: all {X.shape[0]} documents are empty (X has no "
                "non-zero entry); there are no words to build topics from."
            )
        if n_empty:
            warnings.warn(
                f"{name}: {n_empty} of {X.shape[0]} {_EMPTY_DOCS_MSG}; their "
                "topic weights are zero.",
                UserWarning,
            )
        if X.shape[1] == 1:
            warnings.warn(
                f"{name}: the vocabulary has a single word; the word "
                "co-occurrence carries no information and every topic is that "
                "word.",
                UserWarning,
            )

    def _cooccurrence_for(self, X):
        """The co-occurrence counts: precomputed (validated) or from ``X``."""
        if self.cooccurrence is None:
            return cooccurrence(X)
        n_words = X.shape[1]
        C = check_array(self.cooccurrence, accept_sparse=("csr", "csc", "coo"),
                        dtype=[np.float64, np.float32], input_name="cooccurrence")
        if C.shape != (n_words, n_words):
            raise ValueError(
                f"cooccurrence has shape {C.shape} but X has {n_words} words; "
                f"expected a ({n_words}, {n_words}) word-word matrix."
            )
        check_non_negative(C, f"{type(self).__name__} (cooccurrence)")
        return sp.csr_matrix(C, dtype=X.dtype)

    def _feature_names(self, feature_names):
        if feature_names is None:
            feature_names = self.feature_names
        if feature_names is None:
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                names = np.array([f"x{j}" for j in range(self.n_features_in_)],
                                 dtype=object)
            return names
        if hasattr(feature_names, "get_feature_names_out"):
            try:
                feature_names = feature_names.get_feature_names_out()
            except NotFittedError as exc:
                raise ValueError(
                    "feature_names is a vectorizer that is not fitted (clone() "
                    "and GridSearchCV copy estimator parameters unfitted); pass "
                    "the fitted vectorizer to top_words, or its "
                    "get_feature_names_out() array as feature_names."
                ) from exc
        names = np.asarray(feature_names, dtype=object).ravel()
        if names.shape[0] != self.n_features_in_:
            raise ValueError(
                f"feature_names has {names.shape[0]} names but the model was "
                f"fitted on {self.n_features_in_} words."
            )
        return names

    def top_words(self, n_words=10, feature_names=None):
        """The ``n_words`` heaviest words of each topic.

        Parameters
        ----------
        n_words : int, default=10
            Number of words per topic.
        feature_names : array-like of str or fitted vectorizer, default=None
            The vocabulary, or a fitted ``CountVectorizer``/``TfidfVectorizer``
            (its ``get_feature_names_out()`` is used). ``None`` uses the
            ``feature_names`` parameter, else the column names seen in
            :meth:`fit` (``feature_names_in_``), else ``x0, x1, ...``.

        Returns
        -------
        topics : list of list of str
            ``topics[t]`` lists the words of topic ``t`` by decreasing weight
            in ``components_[t]``.
        """
        check_is_fitted(self)
        if not (isinstance(n_words, Integral) and n_words >= 1):
            raise ValueError(f"n_words must be a positive integer, got {n_words!r}.")
        return _top_words(self.components_, n_words, self._feature_names(feature_names))


_SHARED_CONSTRAINTS = {
    "sppmi_weight": [Interval(Real, 0, None, closed="left")],
    "shift": [Interval(Real, 0, None, closed="neither")],
    "context_smoothing": [Interval(Real, 0, 1, closed="right")],
    "cooccurrence": ["array-like", "sparse matrix", None],
    # beta <= 0 is undefined at the zeros every text matrix has
    "beta_loss": [StrOptions({"frobenius", "kullback-leibler"}),
                  Interval(Real, 0, None, closed="neither")],
    "solver": [StrOptions({"mu", "cd"})],
    "init": [StrOptions({"random", "nndsvd", "nndsvda", "nndsvdar"}), None],
    "tol": [Interval(Real, 0, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "feature_names": ["array-like", HasMethods(["get_feature_names_out"]), None],
}


class SeNMF(_TopicMixin, BaseEstimator):
    r"""Semantic NMF topic model with a fixed number of topics.

    Factorizes the documents x words matrix ``X`` jointly with the SPPMI of
    its words, sharing the topics ``H`` (``components_``):

    .. math::

        \min_{W, W_c, H \ge 0}\;
        D_\beta(X \,\|\, W H) + D_\beta(\gamma S \,\|\, \gamma W_c H),
        \qquad \gamma = \lambda\, \frac{\sum_{dw} X_{dw}}{\sum_{ij} S_{ij}}

    with :math:`S = \mathrm{SPPMI}(C)` (:func:`sppmi`) of the word-word
    co-occurrence :math:`C` (:func:`cooccurrence`, documents as contexts,
    unless ``cooccurrence`` is given) and :math:`\lambda` = ``sppmi_weight``.
    It is one NMF of the sparse stacked matrix :math:`[X; \gamma S]`. With
    ``beta_loss='kullback-leibler'`` and ``solver='mu'`` (the defaults) the
    two blocks are solved apart, at the cost of a corpus-sized SPPMI block:
    its model values come from dense row blocks of :math:`W_c H` (BLAS)
    rather than entry by entry, it is held in float32 (the factors stay in
    ``X``'s dtype), and without penalties each iteration makes one pass over
    it -- a majorization of its divergence minimized jointly in :math:`W_c`
    and :math:`H` -- and one multiplicative step on the documents; with
    penalties the iterations are exactly those of :class:`~nmfkit.NMF` on
    the stack. Both start, like :class:`~nmfkit.NMF`, from a short
    Frobenius HALS fit of the stack. Other losses and ``solver='cd'`` run
    :class:`~nmfkit.NMF` on the stacked matrix. The scale :math:`\gamma`
    (``sppmi_scale_``) gives
    the SPPMI block :math:`\lambda` times the total mass of ``X``: raw SPPMI
    values (a few nats per stored pair, millions of pairs) would otherwise
    swamp a TF-IDF matrix, and the balance would change between counts and
    TF-IDF. For the Kullback-Leibler divergence the second term equals
    :math:`\gamma D_{KL}(S \| W_c H)` (the divergence is 1-homogeneous); for
    the Frobenius loss it is :math:`\gamma^2` times it. ``sppmi_weight=0``
    gives a plain NMF of ``X``.

    :meth:`transform` solves for the document-topic weights of new
    documents with the topics fixed; a document's row does not depend on the
    co-occurrence term, so ``fit_transform(X)`` and ``fit(X).transform(X)``
    agree at convergence.

    Parameters
    ----------
    n_components : int, default=10
        Number of topics.
    sppmi_weight : float, default=1.0
        Weight :math:`\lambda \ge 0` of the SPPMI rows, relative to ``X``:
        the SPPMI block is scaled to ``sppmi_weight`` times the sum of ``X``.
    shift : float, default=1.0
        SPPMI shift :math:`s > 0` (subtracts :math:`\log s` from the PMI).
    context_smoothing : float, default=1.0
        Exponent :math:`\alpha \in (0, 1]` of the context counts in the PMI
        (see :func:`sppmi`); below 1 it damps the weight of rare words.
    cooccurrence : {array-like, sparse matrix} of shape (n_words, n_words), \
            default=None
        Precomputed word-word co-occurrence counts (e.g. from sliding
        windows). ``None`` counts documents containing both words.
    beta_loss : {'kullback-leibler', 'frobenius'} or float > 0, \
            default='kullback-leibler'
        Beta-divergence :math:`D_\beta`.
    solver : {'mu', 'cd'}, default='mu'
        Solver of the inner :class:`~nmfkit.NMF` (``'cd'``: Frobenius only).
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar'}, default=None
        Initialisation of the inner NMF (``None``: its default).
    max_iter : int, default=200
        Maximum number of iterations (the HALS start included; for the
        Kullback-Leibler solver one iteration is one pass over the SPPMI
        block).
    tol : float, default=1e-4
        Tolerance of the stopping condition.
    alpha_W, alpha_H, l1_ratio : float
        Regularisation of the inner NMF (see :class:`~nmfkit.NMF`).
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.
    verbose : int, default=0
        0: silent; 1: one summary line per fit (iterations, error, time);
        2: also the solver's progress at each check of its stopping rule.
    feature_names : array-like of str or fitted vectorizer, default=None
        Vocabulary used by :meth:`top_words` (a fitted ``CountVectorizer``
        or ``TfidfVectorizer`` works). Only read by :meth:`top_words`.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_words)
        The topics ``H``.
    n_components_ : int
        Number of topics.
    sppmi_ : scipy.sparse.csr_matrix of shape (n_words, n_words)
        The SPPMI matrix that was factorized (before weighting).
    sppmi_scale_ : float
        The factor :math:`\gamma` applied to ``sppmi_`` in the stacked matrix
        (0 when the SPPMI is empty).
    word_factor_ : ndarray of shape (n_words, n_components)
        :math:`W_c`, the factor of the SPPMI rows (word embeddings).
    nmf_ : nmfkit.NMF
        The inner NMF fitted on the stacked matrix.
    reconstruction_err_ : float
        ``nmf_.reconstruction_err_``: the divergence on the stacked matrix.
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of words seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the words seen during fit (when ``X`` has column names).

    See Also
    --------
    SeNMFk : SeNMF with the number of topics chosen by NMFk.
    sppmi, cooccurrence : The word-word matrices.

    References
    ----------
    .. [1] Vangara, R., Skau, E., Chennupati, G., Djidjev, H., Tierney, T.,
       Smith, J. P., Bhattarai, M., Stanev, V. G. and Alexandrov, B. S.
       "Semantic nonnegative matrix factorization with automatic model
       determination for topic modeling." ICMLA (2020).
    .. [2] Levy, O. and Goldberg, Y. "Neural word embedding as implicit
       matrix factorization." NeurIPS (2014).

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.text import SeNMF
    >>> rng = np.random.RandomState(0)
    >>> X = np.zeros((40, 8))
    >>> X[:20, :4] = rng.poisson(3, (20, 4))
    >>> X[20:, 4:] = rng.poisson(3, (20, 4))
    >>> model = SeNMF(n_components=2, random_state=0)
    >>> W = model.fit_transform(X)
    >>> sorted(sorted(t) for t in model.top_words(4))
    [['x0', 'x1', 'x2', 'x3'], ['x4', 'x5', 'x6', 'x7']]
    >>> model.get_feature_names_out()
    array(['senmf0', 'senmf1'], dtype=object)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        **_SHARED_CONSTRAINTS,
        "alpha_W": [Interval(Real, 0, None, closed="left")],
        "alpha_H": [Interval(Real, 0, None, closed="left"), StrOptions({"same"})],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        n_components=10,
        *,
        sppmi_weight=1.0,
        shift=1.0,
        context_smoothing=1.0,
        cooccurrence=None,
        beta_loss="kullback-leibler",
        solver="mu",
        init=None,
        max_iter=200,
        tol=1e-4,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        random_state=None,
        verbose=0,
        feature_names=None,
    ):
        self.n_components = n_components
        self.sppmi_weight = sppmi_weight
        self.shift = shift
        self.context_smoothing = context_smoothing
        self.cooccurrence = cooccurrence
        self.beta_loss = beta_loss
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.random_state = random_state
        self.verbose = verbose
        self.feature_names = feature_names

    def _nmf_params(self):
        return dict(
            solver=self.solver, beta_loss=self.beta_loss, tol=self.tol,
            max_iter=self.max_iter, alpha_W=self.alpha_W, alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio, random_state=self.random_state,
            # level 1 is SeNMF's own summary line; from 2 the inner solver's
            verbose=self.verbose if self.verbose >= 2 else 0,
        )

    def fit(self, X, y=None):
        """Fit the topic model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
            Non-negative document-word counts or TF-IDF.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self.fit_transform(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit the topic model and return the document-topic weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
            Non-negative document-word counts or TF-IDF.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        W : ndarray of shape (n_documents, n_components)
            Document-topic weights.
        """
        from .decomposition import NMF

        X = self._validate_X(X, reset=True)
        self._check_documents(X)
        S = sppmi(self._cooccurrence_for(X), shift=self.shift,
                  context_smoothing=self.context_smoothing)
        n_docs = X.shape[0]
        s_sum = float(S.sum())
        scale = self.sppmi_weight * float(X.sum()) / s_sum if s_sum > 0 else 0.0
        X = sp.csr_matrix(X)
        S_scaled = S * X.dtype.type(scale)
        S_scaled.eliminate_zeros()  # sppmi_weight=0 leaves stored zeros
        stacked = _vstack_csr(X, S_scaled)
        nmf = NMF(n_components=self.n_components, init=self.init, **self._nmf_params())
        t0 = time.perf_counter()
        if self.solver == "mu" and beta_loss_to_float(self.beta_loss) == 1.0:
            W_all = self._fit_kl(nmf, X, S_scaled, stacked)
        else:
            W_all = nmf.fit_transform(stacked)
        self.nmf_ = nmf
        self.sppmi_ = S
        self.sppmi_scale_ = scale
        self.components_ = nmf.components_
        self.n_components_ = nmf.components_.shape[0]
        self.word_factor_ = np.ascontiguousarray(W_all[n_docs:])
        self.reconstruction_err_ = nmf.reconstruction_err_
        self.n_iter_ = nmf.n_iter_
        if self.verbose:
            print(f"SeNMF: {self.n_iter_} iterations in {time.perf_counter() - t0:.3f} "
                  f"s, error {self.reconstruction_err_:.6g}")
        return np.ascontiguousarray(W_all[:n_docs])

    def _fit_kl(self, nmf, X, S, stacked):
        """Kullback-Leibler fit of the stack with the co-occurrence-aware solver.

        The same objective as ``nmf.fit(stacked)``, solved by
        :func:`nmfkit._core.stacked.fit_stacked_kl` on the two blocks: the
        SPPMI block (a fifth to a third of the vocabulary squared is stored)
        in float32 with its model values from dense row blocks, and, without
        penalties, the coupled update (one pass over the SPPMI block per
        iteration instead of two). Sets the fitted
        attributes of ``nmf`` as its own ``fit`` would.
        """
        k = self.n_components
        init = self.init
        if init is None:
            init = "nndsvda" if k <= min(stacked.shape) else "random"
        W_all, H = initialize(stacked, k, init, random_state=self.random_state)
        nmf._check_params(stacked)
        l1_W, l1_H, l2_W, l2_H = nmf._compute_regularization(stacked)
        penalised = any(v > 0 for v in (l1_W, l1_H, l2_W, l2_H))
        dtype = X.dtype
        n_docs = X.shape[0]
        blocks = [SparseKLBlock(X, dtype), SparseKLBlock(S, np.float32)]
        Ws = [np.ascontiguousarray(W_all[:n_docs]),
              np.ascontiguousarray(W_all[n_docs:])]
        # NMF's start for multiplicative updates: a short Frobenius HALS fit
        # of the stack, kept if its divergence is lower. It makes the random
        # starts of SeNMFk's runs land in the same topics (without it the
        # topic silhouettes of docs/senmfk_arxiv.md fall from 0.9 to 0.5). Its
        # sparse products run on a float32 copy of the stack, at half the cost.
        # The divergences that decide whether the start is kept are the
        # blocks' (model values from dense row blocks), not the stack's.
        def error(W, H):
            d = stacked_kl_divergence(blocks, [W[:n_docs], W[n_docs:]], H)
            return float(np.sqrt(2.0 * max(d, 0.0)))

        W_all, H, error_scale, n_warm = nmf._warm_start_mu(
            stacked.astype(np.float32), np.vstack(Ws).astype(np.float32),
            H.astype(np.float32), None, l1_W, l2_W, l1_H, l2_H, error=error,
            # with penalties: NMF's start, so the updates stay NMF's on the stack
            **({} if penalised else {"budget": _WARM_START_ITERATIONS}))
        Ws = [np.ascontiguousarray(W_all[:n_docs], dtype=dtype),
              np.ascontiguousarray(W_all[n_docs:], dtype=dtype)]
        H = np.ascontiguousarray(H, dtype=dtype)
        Ws, H, n_iter = fit_stacked_kl(
            blocks, Ws, H, tol=self.tol, max_iter=max(self.max_iter - n_warm, 1),
            l1_W=l1_W, l2_W=l2_W, l1_H=l1_H, l2_H=l2_H,
            update="alternating" if penalised else "coupled",
            inner=_DOCUMENT_STEPS, verbose=solver_verbose(self.verbose),
            error_scale=error_scale,
            relax=_RELAX if not penalised else 1.0,
        )
        n_iter += n_warm
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. Increase "
                "it to improve convergence.",
                ConvergenceWarning,
            )
        nmf.components_ = H
        nmf.n_components_ = k
        nmf.n_iter_ = n_iter
        nmf.n_features_in_ = stacked.shape[1]
        nmf.reconstruction_err_ = float(np.sqrt(2.0 * max(
            stacked_kl_divergence(blocks, Ws, H), 0.0)))
        return np.vstack(Ws)

    def transform(self, X):
        """Document-topic weights of documents, the topics fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
            Documents over the fitted vocabulary.

        Returns
        -------
        W : ndarray of shape (n_documents, n_components)
            Document-topic weights.
        """
        from .decomposition import non_negative_factorization

        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        H = np.ascontiguousarray(self.components_, dtype=X.dtype)
        W, _, _ = non_negative_factorization(
            X, H=H, n_components=H.shape[0], update_H=False, **self._nmf_params()
        )
        return W

    def inverse_transform(self, X):
        """Documents rebuilt from their topic weights: ``X @ components_``.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_documents, n_components)
            Document-topic weights, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_documents, n_words)
            The model's word weights of each document.
        """
        check_is_fitted(self)
        return check_inverse_input(self, X, accept_sparse=True) @ self.components_

    def score(self, X, y=None):
        """Held-out-entry score of the topics (higher is better).

        The score of :meth:`nmfkit.NMF.score` with the model's loss: a fixed
        random 20% of the entries of ``X`` is hidden (for a sparse ``X``, 20%
        of the stored words and a weighted sample of the zeros), the
        document-topic weights are fit on the rest with the topics fixed, and
        the score is minus the mean beta-divergence (generalised
        Kullback-Leibler by default) of the hidden entries from their
        prediction (bi-cross-validation). The same entries are hidden for
        every model, so ``GridSearchCV(SeNMF(), {"n_components": ...})``
        compares numbers of topics without a custom scorer.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
            Documents over the fitted vocabulary.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Minus the mean held-out divergence.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self.nmf_.score(X)


class SeNMFk(_TopicMixin, BaseEstimator):
    r"""Semantic NMF topic model with the number of topics chosen by NMFk.

    :class:`~nmfkit.NMFk` runs :class:`SeNMF` on ``n_perturbs`` perturbed
    copies of ``X`` for each candidate number of topics, clusters the topics
    of the runs and picks the number of topics by the rule ``selection``
    (default ``"combined"``, NMFk's default: see :class:`~nmfkit.NMFk` for
    the rules, the criteria and the secondary rule used when no candidate
    passes a threshold).

    SeNMFk is built the way NMFk is: either give a configured
    :class:`SeNMF` as ``estimator`` (its ``n_components`` and
    ``random_state`` are set per run), or leave ``estimator=None`` and set
    SeNMF's own parameters here, with SeNMF's defaults. As in NMFk, a
    deterministic start (``init=None``, NNDSVD) is replaced by a random one
    per run (``vary_init``), so the silhouettes measure the stability of the
    topics, not of the start.

    The word co-occurrence is computed once, from the unperturbed ``X``, and
    handed to every run as SeNMF's precomputed ``cooccurrence``: NMFk
    perturbs the non-zero entries of ``X`` multiplicatively, which leaves the
    document co-occurrence counts (built from the pattern of non-zeros)
    unchanged, so recomputing it per run would cost ``X^T X`` each time for
    the same matrix. The perturbation therefore acts on the documents rows
    only.

    Parameters
    ----------
    n_components_range : array-like of int or range, \
            default=(2, 3, 4, 5, 6, 7, 8, 9, 10)
        Candidate numbers of topics (a tuple default, as scikit-learn wants
        plain default values; any ``range`` works).
    estimator : SeNMF, default=None
        The topic model of every run. ``None``: a :class:`SeNMF` with the
        SeNMF parameters below. When given, those parameters of SeNMFk are
        not used (except ``feature_names`` for :meth:`top_words`).
    n_perturbs : int, default=20
        Perturbed runs per candidate (at least 2).
    epsilon : float, default=0.015
        Half-width of the multiplicative noise on the entries of ``X``.
    selection : str, default="combined"
        The rule that picks the number of topics (see
        :class:`~nmfkit.NMFk`; ``"components"`` judges the topics' stability
        alone).
    silhouette_threshold : float, default=0.8
        Silhouette a candidate needs under the threshold rules.
    vary_init : bool, default=True
        Replace a deterministic ``init`` by ``"random"`` for the runs.
    memory : str, path or joblib.Memory, default=None
        Cache of the runs' fits (see :class:`~nmfkit.NMFk`).
    early_stopping : bool, default=False
        Stop the scan over ``n_components_range`` once a number of topics
        has been accepted and ``n_iter_no_change`` consecutive larger
        candidates are well below ``silhouette_threshold`` (NMFk's
        ``early_stopping``, see :class:`~nmfkit.NMFk` for the caveats). The
        attributes then cover the candidates scanned.
    n_iter_no_change : int, default=3
        Patience of ``early_stopping``.
    sppmi_weight, shift, context_smoothing, cooccurrence, beta_loss, solver, \
            init, max_iter, tol, alpha_W, alpha_H, l1_ratio
        Parameters of each :class:`SeNMF` run, with SeNMF's defaults (see
        there); ``init=None`` is SeNMF's default start, which NMFk varies
        per run.
    n_jobs : int, default=None
        Parallel runs of NMFk (joblib, worker processes).
    random_state : int, RandomState instance or None, default=None
        Seed of the perturbations and initialisations.
    verbose : int, default=0
        Verbosity of NMFk (``1``: progress, rank i of n, time left).
    feature_names : array-like of str or fitted vectorizer, default=None
        Vocabulary used by :meth:`top_words`.

    Attributes
    ----------
    n_components_ : int
        The chosen number of topics.
    components_ : ndarray of shape (n_components_, n_words)
        The topics (medians of the stable topic clusters).
    criteria_ : dict of ndarray of shape (n_candidates,)
        Every rank criterion per candidate (``nmfk_.criteria_``).
    picks_ : dict of str to int
        The number of topics each selection rule picks (``nmfk_.picks_``).
    selection_rule_, decided_by_ : str
        The rule asked for and the rule that decided (``nmfk_``'s).
    silhouettes_ : dict of ndarray of shape (n_candidates,)
        Minimum, mean and 10% quantile of the cluster silhouettes of the
        topics and of the document weights per candidate
        (``nmfk_.silhouettes_``).
    errors_ : dict of ndarray of shape (n_candidates,)
        Relative reconstruction error of ``X`` per candidate: mean, std, min,
        max over the runs (``nmfk_.errors_``).
    n_components_range_ : ndarray of int
        The candidates fitted, in the order of ``criteria_``.
    interrupted_ : bool
        Whether the scan was interrupted (``nmfk_.interrupted_``).
    n_iter_ : int
        Most iterations run by a run at the chosen number of topics (all runs:
        ``nmfk_.n_iter_``).
    cooccurrence_ : scipy.sparse.csr_matrix of shape (n_words, n_words)
        The co-occurrence counts shared by the runs.
    estimator_ : SeNMF
        A fitted run at the chosen number of topics, holding the median
        topics (``nmfk_.estimator_``).
    nmfk_ : nmfkit.NMFk
        The fitted NMFk (plot it with ``NMFkDisplay.from_estimator``).
    n_features_in_ : int
        Number of words seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the words seen during fit (when ``X`` has column names).

    See Also
    --------
    SeNMF : The fixed-k model.
    nmfkit.NMFk : The rank selection, for any factorization.

    References
    ----------
    .. [1] Vangara, R., Bhattarai, M., Skau, E., Chennupati, G., Djidjev, H.,
       Tierney, T., Smith, J. P., Stanev, V. G. and Alexandrov, B. S.
       "Finding the number of latent topics with semantic non-negative
       matrix factorization." IEEE Access 9 (2021): 117217-117231.
    .. [2] Alexandrov, B. S. and Vesselinov, V. V. "Blind source separation
       for groundwater pressure analysis based on nonnegative matrix
       factorization." Water Resources Research 50.9 (2014).

    Examples
    --------
    >>> from sklearn.feature_extraction.text import CountVectorizer
    >>> from sklearn.pipeline import make_pipeline
    >>> from nmfkit.text import SeNMF, SeNMFk
    >>> docs = ["cat dog pet", "dog pet cat cat", "pet cat dog",
    ...         "stock market price", "market price stock stock",
    ...         "price stock market"] * 5
    >>> pipe = make_pipeline(CountVectorizer(), SeNMFk(
    ...     n_components_range=[1, 2, 3], n_perturbs=4, random_state=0))
    >>> W = pipe.fit_transform(docs)
    >>> pipe[-1].n_components_
    2
    >>> sorted(sorted(t) for t in pipe[-1].top_words(3, feature_names=pipe[0]))
    [['cat', 'dog', 'pet'], ['market', 'price', 'stock']]

    The same with a configured SeNMF, as ``NMFk(estimator)``:

    >>> model = SeNMFk([1, 2, 3], estimator=SeNMF(max_iter=300), n_perturbs=4,
    ...                random_state=0)
    >>> model.fit(CountVectorizer().fit_transform(docs)).n_components_
    2
    """

    _parameter_constraints: dict = {
        "n_components_range": ["array-like"],
        "estimator": [HasMethods(["fit_transform", "set_params"]), None],
        "n_perturbs": [Interval(Integral, 2, None, closed="left")],
        "epsilon": [Interval(Real, 0, 1, closed="neither")],
        "selection": [StrOptions({
            "minimum", "mean", "quantile", "components", "cophenetic",
            "dispersion", "heldout", "combined"})],
        "silhouette_threshold": [Interval(Real, -1, 1, closed="both")],
        "vary_init": ["boolean"],
        "memory": [None, str, HasMethods(["cache"])],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        **_SHARED_CONSTRAINTS,
        "alpha_W": [Interval(Real, 0, None, closed="left")],
        "alpha_H": [Interval(Real, 0, None, closed="left"), StrOptions({"same"})],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        n_components_range=(2, 3, 4, 5, 6, 7, 8, 9, 10),
        *,
        estimator=None,
        n_perturbs=20,
        epsilon=0.015,
        selection="combined",
        silhouette_threshold=0.8,
        vary_init=True,
        memory=None,
        early_stopping=False,
        n_iter_no_change=3,
        sppmi_weight=1.0,
        shift=1.0,
        context_smoothing=1.0,
        cooccurrence=None,
        beta_loss="kullback-leibler",
        solver="mu",
        init=None,
        max_iter=200,
        tol=1e-4,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        n_jobs=None,
        random_state=None,
        verbose=0,
        feature_names=None,
    ):
        self.n_components_range = n_components_range
        self.estimator = estimator
        self.n_perturbs = n_perturbs
        self.epsilon = epsilon
        self.selection = selection
        self.silhouette_threshold = silhouette_threshold
        self.vary_init = vary_init
        self.memory = memory
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.sppmi_weight = sppmi_weight
        self.shift = shift
        self.context_smoothing = context_smoothing
        self.cooccurrence = cooccurrence
        self.beta_loss = beta_loss
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.feature_names = feature_names

    def _base(self, X):
        """The SeNMF of the runs, with the co-occurrence computed once."""
        if self.estimator is not None:
            from sklearn.base import clone

            base = clone(self.estimator)
            given = base.get_params().get("cooccurrence")
            if given is None and "cooccurrence" in base.get_params():
                C = cooccurrence(X)
                base.set_params(cooccurrence=C)
            else:
                C = given
            return base, C
        C = self._cooccurrence_for(X)
        base = SeNMF(
            n_components=1, sppmi_weight=self.sppmi_weight,
            shift=self.shift, context_smoothing=self.context_smoothing,
            cooccurrence=C, beta_loss=self.beta_loss,
            solver=self.solver, init=self.init, max_iter=self.max_iter,
            tol=self.tol, alpha_W=self.alpha_W, alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio,
        )
        return base, C

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Choose the number of topics and fit the topic model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
            Non-negative document-word counts or TF-IDF.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        from .rank import NMFk, _check_memory

        _check_memory(self.memory)  # an unusable cache folder fails first
        X = self._validate_X(X, reset=True)
        self._check_documents(X)
        base, C = self._base(X)
        nmfk = NMFk(
            base, n_components_range=self.n_components_range,
            n_perturbs=self.n_perturbs, epsilon=self.epsilon,
            selection=self.selection,
            silhouette_threshold=self.silhouette_threshold,
            vary_init=self.vary_init, memory=self.memory,
            early_stopping=self.early_stopping,
            n_iter_no_change=self.n_iter_no_change, n_jobs=self.n_jobs,
            random_state=self.random_state, verbose=self.verbose,
        )
        with warnings.catch_warnings():
            # already said once above, not once per run
            warnings.filterwarnings("ignore", message=f".*{_EMPTY_DOCS_MSG}")
            warnings.filterwarnings("ignore", message=".*vocabulary has a single word")
            nmfk.fit(X)
        self.nmfk_ = nmfk
        self.cooccurrence_ = C
        self.n_components_ = int(nmfk.n_components_)
        self.components_ = np.asarray(nmfk.components_, dtype=X.dtype)
        self.estimator_ = nmfk.estimator_
        self.criteria_ = nmfk.criteria_
        self.picks_ = nmfk.picks_
        self.selection_rule_ = nmfk.selection_rule_
        self.decided_by_ = nmfk.decided_by_
        self.interrupted_ = nmfk.interrupted_
        self.silhouettes_ = nmfk.silhouettes_
        self.errors_ = nmfk.errors_
        self.n_components_range_ = nmfk.n_components_range_
        chosen = int(np.flatnonzero(nmfk.n_components_range_ == self.n_components_)[0])
        self.n_iter_ = int(np.max(nmfk.n_iter_[chosen]))
        return self

    def transform(self, X):
        """Document-topic weights of documents, the chosen topics fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
            Documents over the fitted vocabulary.

        Returns
        -------
        W : ndarray of shape (n_documents, n_components_)
            Document-topic weights.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        W = self.nmfk_.transform(X)
        return np.asarray(W, dtype=X.dtype)

    def score(self, X, y=None):
        """Held-out-entry score of documents at the chosen number of topics.

        A fixed random 20% of the entries of the documents matrix ``X``
        (stored entries and a weighted sample of its zeros) is hidden, the
        documents' topic weights are fitted on the rest with the topics
        fixed, and the score is minus the mean beta-divergence (SeNMF's
        ``beta_loss``) of the hidden entries from their prediction (as
        :meth:`nmfkit.NMF.score`; higher is better). When :class:`SeNMF` has
        a ``score`` the fitted run's is used.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
            Documents over the fitted vocabulary.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Minus the mean held-out divergence.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        if hasattr(self.estimator_, "score"):
            return float(self.estimator_.score(X))
        from ._core.heldout import heldout_score

        base = self.estimator_
        H = self.components_.astype(X.dtype, copy=False)
        return heldout_score(
            X, H, beta=beta_loss_to_float(getattr(base, "beta_loss", self.beta_loss)),
            fraction=0.2, random_state=0, tol=getattr(base, "tol", self.tol),
            max_iter=max(getattr(base, "max_iter", self.max_iter), 200),
        )
