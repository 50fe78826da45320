"""Community detection and graph clustering: symmetric and deep NMF.

:class:`SymNMF` factorizes a symmetric non-negative ``n x n`` matrix (a
graph's adjacency, or any similarity) as ``A ~ W W^T``; row ``i`` of ``W`` is
node ``i``'s membership in the ``k`` communities. :class:`DeepNMF` factorizes
any non-negative matrix through several layers, ``X ~ H Z_L ... Z_1``, and
with a graph (the adjacency as ``X``, or node attributes as ``X`` and the
adjacency as ``graph``) finds hierarchical communities. :class:`EdgeSplit` is
the cross-validation splitter that keeps every node, for choosing the number
of communities of :class:`SymNMF` with ``GridSearchCV``.
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
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._conventions import check_inverse_input
from ._core.heldout import heldout_score
from ._core.nnls import nnls
from ._core.symnmf import (
    fit_symnmf,
    symmetric_heldout_score,
    symnmf_init,
    symnmf_objective,
    top_eigenvalue,
)
from ._validation import check_nonnegative

__all__ = ["SymNMF", "DeepNMF", "EdgeSplit", "normalize_adjacency"]

#: ``A`` counts as symmetric when ``max |A - A^T| <= _SYM_RTOL * max |A|``
#: (plus a few units of the dtype's rounding); it is then symmetrised exactly.
_SYM_RTOL = 1e-6


def _labels_from(W):
    """Argmax membership per row; ``-1`` for a row of zeros (no community)."""
    if W.shape[1] == 0:
        return np.full(W.shape[0], -1, dtype=np.intp)
    labels = np.argmax(W, axis=1).astype(np.intp)
    labels[~(W > 0).any(axis=1)] = -1
    return labels


def _check_square_graph(A, whom):
    """Square, symmetric within tolerance, non-negative; returns symmetrised A."""
    n, m = A.shape
    if n != m:
        raise ValueError(
            f"{whom} needs a square (n_nodes, n_nodes) adjacency or similarity "
            f"matrix; got shape {A.shape}.")
    check_nonnegative(A, whom)
    if sp.issparse(A):
        A = A.tocsr()
        D = A - A.T
        diff = float(abs(D).max()) if D.nnz else 0.0
        top = float(A.max()) if A.nnz else 0.0
    else:
        diff = float(np.max(np.abs(A - A.T))) if A.size else 0.0
        top = float(A.max()) if A.size else 0.0
    eps = float(np.finfo(A.dtype).eps)
    if diff > (_SYM_RTOL + 16 * eps) * top:
        raise ValueError(
            f"{whom} needs a symmetric matrix: max |A - A.T| = {diff:.3g} exceeds "
            f"{_SYM_RTOL:g} times the largest entry ({top:.3g}). Symmetrise it "
            "first, e.g. (A + A.T) / 2 or A.maximum(A.T).")
    if diff > 0:
        A = (A + A.T) * 0.5
        if sp.issparse(A):
            A = A.tocsr()
    if sp.issparse(A):
        A.sum_duplicates()
        A.sort_indices()
    return A


class SymNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Symmetric NMF :math:`A \approx W W^T` for graph clustering.

    Factorizes a symmetric non-negative ``n x n`` matrix ``A`` -- a graph's
    adjacency or any similarity -- into memberships :math:`W \ge 0` of the
    ``n`` nodes in ``n_components`` communities, minimising
    :math:`\tfrac12\|A - WW^T\|_F^2`. The solver is the penalised
    nonsymmetric HALS of Kuang, Ding & Park / Zhu et al.: alternate exact
    HALS sweeps on :math:`\tfrac12\|A - WH^T\|_F^2 + \tfrac{\alpha}{2}\|W-H\|_F^2`.
    A sparse ``A`` is never densified: time ``O(nnz k + n k^2)`` per
    iteration, memory ``O(nnz + n k)``.

    Read more in the :doc:`community detection guide </community>`.

    Parameters
    ----------
    n_components : int, default=2
        Number of communities ``k`` (at most the number of nodes).
    init : {"nndsvda", "random"}, default="nndsvda"
        Start of the first run: ``"nndsvda"`` (deterministic, from the
        leading singular vectors; on LFR graphs it reached NMI 1.000 where
        random starts averaged 0.963, at two to five times the cost of a
        fit on a 1000-node graph) or ``"random"`` (Kuang et al.'s
        :math:`2\sqrt{\bar a / k}\,U(0, 1)`). Further runs of ``n_init``
        start at random.
    alpha : float or "auto", default="auto"
        Weight of the coupling :math:`\tfrac{\alpha}{2}\|W - H\|^2`.
        ``"auto"``: 0.6 times the largest eigenvalue of ``A`` -- above half of
        it the stationary points of the penalised problem are symmetric (Zhu
        et al. 2018); on stochastic block models any value from 0.1 to 1 times
        it gives the same communities.
    n_init : int, default=1
        Number of runs (the first from ``init``, the others from random
        starts); the one of lowest objective is kept.
    tol : float, default=1e-5
        Stop when an iteration lowers the objective by at most ``tol`` times
        its value after the first iteration (at ``1e-4`` one random start in
        eight stopped in a worse local minimum on a mixed SBM; ``1e-5`` costs
        about 30% more iterations).
    max_iter : int, default=200
        Maximum number of iterations per start.
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts and the order of the component updates.
    verbose : int, default=0

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_nodes)
        :math:`W^T`: row ``t`` is community ``t``'s membership profile over
        the nodes of the fitted graph.
    labels_ : ndarray of int of shape (n_nodes,)
        Community of each node (argmax of its row of ``W``); ``-1`` for a node
        with zero membership everywhere (an isolated node; every node of an
        empty graph).
    reconstruction_err_ : float
        :math:`\|A - WW^T\|_F`.
    alpha_ : float
        The coupling weight used.
    n_iter_ : int
        Iterations of the kept start.
    n_components_ : int
    n_features_in_ : int
        Number of nodes of the fitted graph.
    feature_names_in_ : ndarray of str
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    DeepNMF : multi-layer NMF, also for community detection.
    EdgeSplit : cross-validation over node pairs for ``GridSearchCV``.
    nmfkit.NMFk : chooses ``n_components`` by stability.

    Notes
    -----
    The input tag ``pairwise`` is set: scikit-learn's cross-validation then
    slices ``X[train][:, train]`` for ``fit`` and ``X[test][:, train]`` for
    ``score`` (see :meth:`score`). Isolated nodes get a zero row of ``W``
    (the exact optimum of their row) and the label ``-1``; an empty graph
    gives ``W = 0``, every label ``-1`` and ``n_iter_ = 0``.

    References
    ----------
    D. Kuang, C. Ding and H. Park, "Symmetric nonnegative matrix
    factorization for graph clustering", SIAM SDM, 2012.

    D. Kuang, S. Yun and H. Park, "SymNMF: nonnegative low-rank
    approximation of a similarity matrix for graph clustering", J. Global
    Optimization 62, 2015.

    Z. Zhu, X. Li, K. Liu and Q. Li, "Dropping symmetry for fast symmetric
    nonnegative matrix factorization", NeurIPS, 2018.

    T. Li, E. Levina and J. Zhu, "Network cross-validation by edge
    sampling", Biometrika 107, 2020.

    Examples
    --------
    >>> from nmfkit import SymNMF
    >>> from nmfkit.datasets.graphs import make_sbm
    >>> A, planted = make_sbm([40, 40, 40], p_in=0.3, p_out=0.02, random_state=0)
    >>> model = SymNMF(n_components=3, random_state=0)
    >>> labels = model.fit_predict(A)
    >>> from sklearn.metrics import adjusted_rand_score
    >>> round(adjusted_rand_score(planted, labels), 2)
    1.0
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "init": [StrOptions({"nndsvda", "random"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_components=2, *, init="nndsvda", alpha="auto", n_init=1,
                 tol=1e-5, max_iter=200, random_state=None, verbose=0):
        self.n_components = n_components
        self.init = init
        self.alpha = alpha
        self.n_init = n_init
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = True  # X is (n_nodes, n_nodes)
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _validate(self, X, reset):
        return validate_data(self, X, accept_sparse=("csr", "csc"),
                             dtype=[np.float64, np.float32], reset=reset)

    def _alpha(self, A):
        if self.alpha != "auto":
            return float(self.alpha)
        return 0.6 * top_eigenvalue(A)

    def fit(self, X, y=None):
        """Fit the memberships of the nodes of the graph X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_nodes, n_nodes)
            Symmetric non-negative adjacency or similarity matrix.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X):
        A = self._validate(X, reset=True)
        A = _check_square_graph(A, "SymNMF")
        n = A.shape[0]
        k = self.n_components
        if k > n:
            raise ValueError(
                f"n_components={k} exceeds the number of nodes n_samples={n} of "
                "the graph; choose n_components <= n_nodes.")
        dtype = A.dtype
        rng = check_random_state(self.random_state)
        t0 = time.perf_counter()
        nnz = A.nnz if sp.issparse(A) else int(np.count_nonzero(A))
        if nnz == 0:  # empty graph: W = 0 is the exact optimum
            W, n_iter, alpha = np.zeros((n, k), dtype=dtype), 0, 0.0
        else:
            alpha = self._alpha(A)
            a_norm2 = float(np.sum(A.data ** 2)) if sp.issparse(A) else float(
                np.einsum("ij,ij->", A, A, dtype=np.float64))
            best = None
            for run in range(self.n_init):
                W0 = symnmf_init(A, k, rng, dtype,
                                 init=self.init if run == 0 else "random")
                W, n_iter, info = fit_symnmf(
                    A, W0, alpha=alpha, tol=self.tol, max_iter=self.max_iter,
                    random_state=rng, verbose=self.verbose)
                degree = np.asarray(abs(A).sum(axis=1)).ravel()
                W[degree == 0] = 0  # exact optimum of an isolated node's row
                f = symnmf_objective(A, W, a_norm2=a_norm2)
                if best is None or f < best[0]:
                    best = (f, W, n_iter)
            _, W, n_iter = best
            if n_iter == self.max_iter and self.tol > 0:
                warnings.warn(
                    f"Maximum number of iterations {self.max_iter} reached. "
                    "Increase it to improve convergence.", ConvergenceWarning)
        if self.verbose:
            print(f"SymNMF: {n_iter} iterations in {time.perf_counter() - t0:.3f} s")
        self.components_ = np.ascontiguousarray(W.T)
        self.labels_ = _labels_from(W)
        self.reconstruction_err_ = float(np.sqrt(2.0 * symnmf_objective(A, W)))
        self.alpha_ = alpha
        self.n_iter_ = n_iter
        self.n_components_ = k
        return W

    def fit_transform(self, X, y=None):
        """Fit the model and return the memberships of the nodes of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_nodes, n_nodes)
            Symmetric non-negative adjacency or similarity matrix.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        W : ndarray of shape (n_nodes, n_components)
            ``transform(X)``: the least-squares memberships given
            ``components_``, as for new nodes (so that ``fit_transform`` and
            ``fit().transform`` agree). The fitted symmetric factor itself is
            ``components_.T``; ``labels_`` come from it.
        """
        self._fit(X)
        return self.transform(X)

    def fit_predict(self, X, y=None):
        """Fit the model and return the community of every node.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_nodes, n_nodes)
            Symmetric non-negative adjacency or similarity matrix.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        labels : ndarray of int of shape (n_nodes,)
            ``labels_``: argmax membership, ``-1`` for a node without any.
        """
        self._fit(X)
        return self.labels_

    def transform(self, X):
        """Memberships of nodes given their links to the fitted graph's nodes.

        Row ``i`` of ``X`` holds node ``i``'s links (or similarities) to the
        ``n_features_in_`` nodes of the fitted graph; its membership ``w``
        solves ``min_{w >= 0} ||x - w components_||`` exactly. For the fitted
        graph itself this is close to, not equal to, the fitted ``W`` (which
        is the symmetric optimum, not a least-squares projection).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_nodes_new, n_features_in_)
            Non-negative links to the fitted graph's nodes.

        Returns
        -------
        W : ndarray of shape (n_nodes_new, n_components)
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        check_nonnegative(X, "SymNMF.transform")
        return nnls(X, self.components_.astype(X.dtype, copy=False))

    def predict(self, X):
        """Community of nodes given their links to the fitted graph's nodes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_nodes_new, n_features_in_)
            Non-negative links to the fitted graph's nodes.

        Returns
        -------
        labels : ndarray of int of shape (n_nodes_new,)
            Argmax of :meth:`transform`; ``-1`` for a row of zeros.
        """
        return _labels_from(self.transform(X))

    def inverse_transform(self, X):
        """Links predicted from memberships: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_nodes_new, n_components)

        Returns
        -------
        A_pred : ndarray of shape (n_nodes_new, n_features_in_)
        """
        check_is_fitted(self)
        return check_inverse_input(self, X) @ self.components_

    def score(self, X, y=None):
        """Held-out-entry score (higher is better) for choosing ``n_components``.

        Two cases, told apart by the shape of ``X``:

        * ``X`` is the fitted graph (square, ``n_features_in_`` nodes,
          symmetric): **edge cross-validation** (Li, Levina & Zhu 2020). A
          fixed random 10% of the node pairs that are linked, and ten times
          as many unlinked pairs, are hidden -- both ``(i, j)`` and ``(j, i)``, so
          the visible graph stays symmetric --; the model is refit on the
          visible graph from the same random start with the hidden entries
          left out of the loss (imputed, EM), and the score is minus the
          weighted mean squared error of :math:`(WW^T)_{ij}` on them (the
          unlinked pairs weighted to stand for all unlinked pairs of a 10%
          sample). This is what :class:`EdgeSplit` folds compute.
        * Otherwise ``X`` holds the links of other nodes to the fitted
          graph's nodes, ``(n_test, n_features_in_)`` -- what scikit-learn's
          pairwise slicing ``X[test][:, train]`` gives with a node split
          (``cv=KFold(...)``): 20% of its entries are hidden, the test nodes'
          memberships fit on the rest with ``components_`` fixed, and the
          score is minus the mean squared error on the hidden entries
          (bi-cross-validation, as :meth:`nmfkit.NMF.score`).

        The hidden entries are the same for every model, so scores of
        different ``n_components`` are comparable.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_nodes, n_features_in_)
            The fitted graph, or links of other nodes to its nodes.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Minus the mean held-out squared error.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        check_nonnegative(X, "SymNMF.score")
        n = self.n_features_in_
        if X.shape[0] == n and _is_symmetric(X):
            A = _check_square_graph(X, "SymNMF.score")
            nnz = A.nnz if sp.issparse(A) else int(np.count_nonzero(A))
            if nnz == 0:
                return 0.0
            seed = 0 if self.random_state is None else self.random_state
            W0 = symnmf_init(A, self.n_components_, check_random_state(seed), A.dtype,
                             init="random")
            return symmetric_heldout_score(
                A, W0, alpha=self._alpha(A), fraction=0.1, random_state=0,
                tol=self.tol, max_iter=self.max_iter)
        H = self.components_.astype(X.dtype, copy=False)
        return heldout_score(X, H, beta=2.0, fraction=0.2, random_state=0)


def normalize_adjacency(A):
    r"""Degree-normalised adjacency :math:`D^{-1/2} A D^{-1/2}`.

    The similarity Kuang et al. factor for graph clustering: it keeps
    high-degree nodes from dominating :math:`\|A - WW^T\|`. On LFR graphs
    (power-law degrees) at mixing 0.4 it raised SymNMF's NMI from 0.72 to
    0.84 (3 seeds, ``benchmarks/bench_community.py``). Isolated nodes keep a
    zero row. A sparse ``A`` stays sparse.

    Parameters
    ----------
    A : {array-like, sparse matrix} of shape (n_nodes, n_nodes)
        Symmetric non-negative adjacency.

    Returns
    -------
    A_norm : ndarray or scipy.sparse.csr_matrix of shape (n_nodes, n_nodes)
    """
    if sp.issparse(A):
        A = sp.csr_matrix(A, dtype=np.result_type(A.dtype, np.float32))
    else:
        A = np.asarray(A, dtype=np.result_type(np.asarray(A).dtype, np.float32))
    A = _check_square_graph(A, "normalize_adjacency")
    d = np.asarray(A.sum(axis=1)).ravel()
    inv = np.zeros_like(d)
    np.divide(1.0, np.sqrt(d), out=inv, where=d > 0)
    if sp.issparse(A):
        D = sp.diags(inv.astype(A.dtype))
        return sp.csr_matrix(D @ A @ D)
    return (inv[:, None] * A * inv[None, :]).astype(A.dtype, copy=False)


def _is_symmetric(X):
    if X.shape[0] != X.shape[1]:
        return False
    if sp.issparse(X):
        D = (X - X.T).tocsr()
        diff = float(abs(D).max()) if D.nnz else 0.0
        top = float(abs(X).max()) if X.nnz else 0.0
    else:
        diff = float(np.max(np.abs(X - X.T))) if X.size else 0.0
        top = float(np.max(np.abs(X))) if X.size else 0.0
    eps = float(np.finfo(X.dtype).eps)
    return diff <= (_SYM_RTOL + 16 * eps) * top


class EdgeSplit:
    """Cross-validation folds over node pairs that keep every node.

    For pairwise estimators such as :class:`SymNMF`. scikit-learn slices a
    pairwise ``X`` as ``X[train][:, train]`` to fit and ``X[test][:, train]``
    to score; here every fold's ``train`` and ``test`` are one random
    permutation of all the nodes, so the model is fit on the whole graph
    (relabelled) and :meth:`SymNMF.score` runs edge cross-validation on it:
    its fixed pattern of hidden pairs falls on different node pairs of the
    graph in each fold. Use it as ``GridSearchCV(SymNMF(), {...},
    cv=EdgeSplit(3))``.

    A node split (``cv=KFold(5, shuffle=True)``) also works with
    :meth:`SymNMF.score` (bi-cross-validation of the test nodes' links), but
    it fits on subgraphs, which are sparser than the graph.

    Parameters
    ----------
    n_splits : int, default=3
        Number of folds.
    random_state : int, RandomState instance or None, default=0
        Seeds the permutations.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from nmfkit import SymNMF
    >>> from nmfkit.community import EdgeSplit
    >>> from nmfkit.datasets.graphs import make_sbm
    >>> A, _ = make_sbm([30] * 3, p_in=0.4, p_out=0.03, random_state=1)
    >>> search = GridSearchCV(SymNMF(random_state=0), {"n_components": [2, 3, 4, 5]},
    ...                       cv=EdgeSplit(2)).fit(A)
    >>> search.best_params_
    {'n_components': 3}
    """

    def __init__(self, n_splits=3, *, random_state=0):
        if not isinstance(n_splits, Integral) or n_splits < 1:
            raise ValueError(f"n_splits must be a positive integer; got {n_splits!r}.")
        self.n_splits = n_splits
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Yield ``(perm, perm)`` index pairs, one random permutation per fold.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_nodes, n_nodes)
        y, groups : Ignored

        Yields
        ------
        train, test : ndarray of int of shape (n_nodes,)
            The same permutation of all nodes.
        """
        n = X.shape[0]
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            perm = rng.permutation(n)
            yield perm, perm

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds."""
        return self.n_splits

    def __repr__(self):
        return (f"EdgeSplit(n_splits={self.n_splits}, "
                f"random_state={self.random_state!r})")


class DeepNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Deep (multi-layer) NMF :math:`X \approx H Z_L \cdots Z_1`.

    Factorizes a non-negative ``n_samples x n_features`` matrix through
    ``L`` layers: :math:`Z_1` (``k_1 x n_features``) holds fine parts,
    :math:`Z_2` (``k_2 x k_1``) combines them into coarser ones, and so on;
    :math:`H` (``n_samples x k_L``) represents every sample by the coarsest
    ``k_L = n_components`` parts, and :math:`H Z_L \cdots Z_{l+1}` by the
    ``k_l`` parts of layer ``l``. Every layer is pre-trained by a HALS NMF of
    the previous layer's representation, then all layers are fine-tuned
    jointly on :math:`\tfrac12\|X - HZ_L\cdots Z_1\|_F^2` (Trigeorgis et al.,
    non-negative throughout), optionally plus a graph term
    :math:`\tfrac{\lambda}{2}\operatorname{tr}(H^T L H)` that makes linked
    samples' representations alike (DANMF, CDNMF).

    For community detection pass the adjacency matrix as ``X``
    (``DeepNMF(k).fit_predict(A)``), or node attributes as ``X`` and the
    adjacency as ``graph`` with ``alpha_graph > 0``; ``labels_`` are the
    argmax of ``H``.

    Read more in the :doc:`community detection guide </community>`.

    Parameters
    ----------
    n_components : int, default=2
        Size ``k_L`` of the last (coarsest) layer: the number of communities.
    hidden_sizes : tuple of int or None, default=None
        Sizes ``k_1, ..., k_{L-1}`` of the layers before the last, from the
        finest. ``None``: one hidden layer of ``min(n_features, 2 *
        n_components)`` parts (a two-layer model); ``()``: a plain NMF.
    alpha_graph : float, default=0.0
        Weight :math:`\lambda` of the graph term (used only when ``fit`` gets
        a ``graph``).
    tol : float, default=1e-4
        Fine-tuning stops when an iteration lowers the objective by at most
        ``tol`` times its value after the first iteration; also the
        pre-training NMFs' tolerance.
    max_iter : int, default=200
        Maximum number of fine-tuning iterations.
    pretrain_max_iter : int, default=200
        Maximum number of iterations of each layer's pre-training NMF.
    init : {"nndsvda", "random"}, default="nndsvda"
        Initialisation of the pre-training NMFs.
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    layers_ : list of ndarray
        ``[Z_1, ..., Z_L]``, ``Z_1`` of shape ``(k_1, n_features)``, ``Z_l``
        of shape ``(k_l, k_{l-1})``.
    components_ : ndarray of shape (n_components, n_features)
        :math:`C = Z_L \cdots Z_1`: the coarsest parts in feature space.
    embedding_ : ndarray of shape (n_samples, n_components)
        The fitted :math:`H`.
    labels_ : ndarray of int of shape (n_samples,)
        Argmax of each row of ``embedding_``; ``-1`` for a zero row.
    objective_ : list of float
        The fine-tuning objective after every iteration (non-increasing).
    reconstruction_err_ : float
        :math:`\|X - HC\|_F`.
    n_iter_ : int
        Fine-tuning iterations run.
    n_components_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when ``X`` has feature names that are all strings.

    See Also
    --------
    SymNMF : symmetric NMF of a graph, ``A ~ W W^T``.

    References
    ----------
    G. Trigeorgis, K. Bousmalis, S. Zafeiriou and B. Schuller, "A deep
    semi-NMF model for learning hidden representations", ICML, 2014.

    G. Trigeorgis, K. Bousmalis, S. Zafeiriou and B. W. Schuller, "A deep
    matrix factorization method for learning attribute representations",
    IEEE TPAMI 39, 2017.

    F. Ye, C. Chen and Z. Zheng, "Deep autoencoder-like nonnegative matrix
    factorization for community detection", CIKM, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import DeepNMF
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(50, 3) @ rng.rand(3, 6) @ rng.rand(6, 20)
    >>> model = DeepNMF(n_components=3, hidden_sizes=(6,), random_state=0)
    >>> H = model.fit_transform(X)
    >>> [Z.shape for Z in model.layers_]
    [(6, 20), (3, 6)]
    >>> bool(model.reconstruction_err_ < 1e-2 * np.linalg.norm(X))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": ["array-like", None],
        "alpha_graph": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "pretrain_max_iter": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"nndsvda", "random"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_components=2, *, hidden_sizes=None, alpha_graph=0.0,
                 tol=1e-4, max_iter=200, pretrain_max_iter=200, init="nndsvda",
                 random_state=None, verbose=0):
        self.n_components = n_components
        self.hidden_sizes = hidden_sizes
        self.alpha_graph = alpha_graph
        self.tol = tol
        self.max_iter = max_iter
        self.pretrain_max_iter = pretrain_max_iter
        self.init = init
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _validate(self, X, reset):
        return validate_data(self, X, accept_sparse=("csr", "csc"),
                             dtype=[np.float64, np.float32], reset=reset)

    def _sizes(self, n_samples, n_features):
        k = self.n_components
        if self.hidden_sizes is None:
            hidden = (min(n_features, 2 * k),)
        else:
            hidden = tuple(np.asarray(self.hidden_sizes).ravel().tolist())
            if any(not isinstance(h, Integral) or isinstance(h, bool) or h < 1
                   for h in hidden):
                raise ValueError(
                    "hidden_sizes must hold positive integers; got "
                    f"{self.hidden_sizes!r}.")
        sizes = hidden + (k,)
        top = min(n_samples, n_features)
        if k > top:
            raise ValueError(
                f"n_components={k} exceeds min(n_samples, n_features)={top}.")
        return sizes

    def fit(self, X, y=None, graph=None):
        """Fit the layers to the data X (and the graph, if given).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data: an adjacency matrix, node attributes, or both
            side by side.
        y : Ignored
            Not used, present for API consistency by convention.
        graph : {array-like, sparse matrix} of shape (n_samples, n_samples), \
                default=None
            Symmetric non-negative affinity of the samples (adjacency);
            with ``alpha_graph > 0`` it adds the graph term.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._fit(X, graph)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, graph):
        from ._core.deep import deep_objective, fit_deep, pretrain_deep

        X = self._validate(X, reset=True)
        check_nonnegative(X, "DeepNMF")
        n, d = X.shape
        sizes = self._sizes(n, d)
        S = None
        if graph is not None:
            from sklearn.utils import check_array

            S = check_array(graph, accept_sparse=("csr", "csc"),
                            dtype=[np.float64, np.float32], input_name="graph")
            if S.shape != (n, n):
                raise ValueError(
                    f"graph must be (n_samples, n_samples) = ({n}, {n}); got "
                    f"shape {S.shape}.")
            S = sp.csr_matrix(_check_square_graph(S, "DeepNMF (graph)"), dtype=X.dtype)
            S.setdiag(0)
            S.eliminate_zeros()
        rng = check_random_state(self.random_state)
        lam = float(self.alpha_graph) if S is not None else 0.0
        if (X.nnz if sp.issparse(X) else np.count_nonzero(X)) == 0:
            H = np.zeros((n, sizes[-1]), dtype=X.dtype)
            prev = d
            Zs = []
            for k in sizes:
                Zs.append(np.zeros((k, prev), dtype=X.dtype))
                prev = k
            n_iter, history = 0, []
        else:
            H, Zs = pretrain_deep(X, sizes, init=self.init, tol=self.tol,
                                  max_iter=self.pretrain_max_iter, random_state=rng)
            H, Zs, n_iter, history = fit_deep(
                X, H, Zs, S=S, lam=lam, tol=self.tol, max_iter=self.max_iter,
                track=True, random_state=rng, verbose=self.verbose)
            if n_iter == self.max_iter and self.tol > 0:
                warnings.warn(
                    f"Maximum number of iterations {self.max_iter} reached. "
                    "Increase it to improve convergence.", ConvergenceWarning)
        C = Zs[0]
        for Z in Zs[1:]:
            C = Z @ C
        self.layers_ = Zs
        self.components_ = np.ascontiguousarray(C)
        self.embedding_ = H
        self.labels_ = _labels_from(H)
        self.objective_ = history
        self.reconstruction_err_ = float(np.sqrt(2.0 * deep_objective(X, H, Zs)))
        self.n_iter_ = n_iter
        self.n_components_ = sizes[-1]
        return X

    def fit_transform(self, X, y=None, graph=None):
        """Fit the model and return ``transform(X)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored
        graph : {array-like, sparse matrix} of shape (n_samples, n_samples), \
                default=None

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
            The least-squares representation given ``components_`` (as for
            new samples, so that ``fit_transform`` and ``fit().transform``
            agree); the fitted one, graph term included, is ``embedding_``.
        """
        X = self._fit(X, graph)
        return nnls(X, self.components_)

    def fit_predict(self, X, y=None, graph=None):
        """Fit the model and return ``labels_`` (argmax of ``embedding_``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored
        graph : {array-like, sparse matrix} of shape (n_samples, n_samples), \
                default=None

        Returns
        -------
        labels : ndarray of int of shape (n_samples,)
        """
        self._fit(X, graph)
        return self.labels_

    def transform(self, X):
        """Coarsest-layer representation: ``min_{h >= 0} ||x - h components_||``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        check_nonnegative(X, "DeepNMF.transform")
        return nnls(X, self.components_.astype(X.dtype, copy=False))

    def predict(self, X):
        """Argmax of :meth:`transform` (``-1`` for a zero row).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of int of shape (n_samples,)
        """
        return _labels_from(self.transform(X))

    def inverse_transform(self, X):
        """Map representations back to the data space: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        return check_inverse_input(self, X) @ self.components_

    def score(self, X, y=None):
        """Held-out-entry score (higher is better), as :meth:`nmfkit.NMF.score`.

        A fixed random 20% of the entries of ``X`` is hidden, the samples'
        representations are fit on the rest with ``components_`` fixed, and
        the score is minus the mean squared error on the hidden entries.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        check_nonnegative(X, "DeepNMF.score")
        H = self.components_.astype(X.dtype, copy=False)
        return heldout_score(X, H, beta=2.0, fraction=0.2, random_state=0)
