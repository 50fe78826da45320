r"""Non-negative tensor factorization: N-way CP, and PANTHER pathway features.

* :class:`NonnegativeCP` -- non-negative CP (PARAFAC) of an ``N``-way array
  whose first mode is samples, by extrapolated HALS; ``transform`` gives the
  sample-mode factor of new samples, ``score`` a held-out-entry score for
  choosing the rank with :class:`~sklearn.model_selection.GridSearchCV`.
* :class:`PANTHER` -- samples x genes counts ``X`` and a binary pathway map
  ``P`` (pathways x genes) define the tensor ``T[s, p, g] = X[s, g] P[p, g]``,
  factorized by non-negative CP with an orthogonality penalty on the sample
  factor, without ever forming ``T``; ``transform`` gives per-sample features
  for a downstream classifier.
* :func:`drop_redundant_pathways`, :func:`select_mutated_genes`: the
  preprocessing of the PANTHER paper.

The math (MTTKRPs, the HALS loop, the implicit PANTHER products) lives in
:mod:`nmfkit._core.cp`.
"""

import math
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
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._core.cp import (
    DenseProducts,
    MaskedDenseProducts,
    PantherProducts,
    fit_cp,
    init_cp,
    khatri_rao_rows,
    nnls_gram,
    normalize_cp,
    panther_heldout_score,
    reconstruct,
)
from ._core.heldout import heldout_score
from ._core.nnls import nnls
from ._conventions import check_inverse_input, solver_verbose
from ._validation import check_nonnegative, check_observed, resolve_observed

__all__ = ["NonnegativeCP", "PANTHER", "drop_redundant_pathways",
           "select_mutated_genes"]


def _is_nan(value):
    return isinstance(value, float) and math.isnan(value)


def _per_mode(value, n_modes, name):
    """A float or a sequence of ``n_modes`` non-negative floats, as a list."""
    if np.ndim(value) == 0:
        return [float(value)] * n_modes
    values = [float(v) for v in np.asarray(value, dtype=float).ravel()]
    if len(values) != n_modes:
        raise ValueError(
            f"{name} must be a float or have one value per mode ({n_modes}); "
            f"got {len(values)} values."
        )
    if any(not np.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{name} must hold finite non-negative values; got {values}.")
    return values


class _TensorBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    @property
    def _n_features_out(self):
        return self.n_components_

    def _report(self, n_iter, history, t0):
        if self.verbose:
            last = f", objective {history[-1]:.8g}" if history else ""
            print(f"{type(self).__name__}: {n_iter} iterations in "
                  f"{time.perf_counter() - t0:.3f} s{last}")

    def _warn_convergence(self, n_iter):
        if n_iter >= self.max_iter and self.tol > 0:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. Increase "
                "it to improve convergence.",
                ConvergenceWarning,
            )

    def fit(self, X, y=None, **params):
        """Fit the model to ``X`` (see :meth:`fit_transform`); returns ``self``."""
        self._fit(X, **params)
        return self

    def fit_transform(self, X, y=None, **params):
        """Fit the model, then return :meth:`transform` of the training data.

        The sample-mode coefficients of the training samples are those
        :meth:`transform` gives, so ``fit_transform(X)`` and
        ``fit(X).transform(X)`` agree.
        """
        self._fit(X, **params)
        return self.transform(X, **params)


# --------------------------------------------------------------------------
# NonnegativeCP
# --------------------------------------------------------------------------
class NonnegativeCP(_TensorBase):
    r"""Non-negative CP (PARAFAC) decomposition of an N-way array of samples.

    Finds non-negative factors :math:`F_0` (samples), :math:`F_1, \dots,
    F_{N-1}` with unit-norm columns and weights :math:`\lambda` such that

    .. math::

        X[s, i_1, \dots, i_{N-1}] \approx \sum_{r=1}^{k} \lambda_r
        F_0[s, r] F_1[i_1, r] \cdots F_{N-1}[i_{N-1}, r],

    minimising :math:`\tfrac12 \|M \circ (X - [\![\lambda; F]\!])\|_F^2 +
    \sum_n l_1^{(n)} |F_n|_1 + \tfrac12 l_2^{(n)} \|F_n\|_F^2` (``M`` = observed
    entries) by hierarchical ALS [1]_: each mode is the HALS sweep of the
    matrix case with the MTTKRP of that mode and the Hadamard product of the
    other modes' Gram matrices, computed without unfolding the tensor (two
    passes over it per iteration), with extrapolation between mode updates
    [2]_. Missing entries (NaN) are handled by expectation-maximisation
    (filled with the current model at each iteration), which never raises
    the objective on the observed entries.

    Input is either the ``N``-way array itself (``X.shape = (n_samples,
    I_1, ..., I_{N-1})``), or -- so that the estimator fits in a
    :class:`~sklearn.pipeline.Pipeline` -- a 2-D array of flattened samples
    (C order) with ``tensor_shape=(I_1, ..., I_{N-1})``. A 2-D array without
    ``tensor_shape`` is a matrix (a 2-way CP is an NMF).

    Parameters
    ----------
    n_components : int, default=2
        Rank of the decomposition.
    tensor_shape : tuple of int or None, default=None
        Shape of one sample when ``X`` is given flattened (2-D). ``None``:
        taken from an N-way ``X``, or ``(n_features,)`` for a 2-D ``X``.
    init : {'svd', 'random'}, default='svd'
        ``'svd'``: per mode, the leading eigenvectors of the Gram matrix of
        the mode unfolding (positive parts); ``'random'``: uniform factors.
        Both are scaled to fit the data best.
    l1, l2 : float or sequence of float, default=0.0
        L1 and L2 penalties, one value for every mode or one per mode
        (samples first), on the factors as they are during the fit (the
        scale of the components is shared equally between the modes).
    tol : float, default=1e-6
        Stop when an iteration lowers the objective by at most ``tol`` times
        its value.
    max_iter : int, default=500
        Maximum number of iterations.
    extrapolate : bool, default=True
        Extrapolate the factors between mode updates (not used with missing
        entries).
    missing_values : np.nan or None, default=np.nan
        ``np.nan``: NaN entries are missing and left out of the loss.
        ``None``: NaN raises a ``ValueError``.
    random_state : int, RandomState instance or None, default=None
        Seed of the random initialisation (and of the random columns of
        ``'svd'`` when a mode is shorter than the rank).
    verbose : int, default=0
        0: silent; 1: one summary line per fit (iterations, objective,
        time); 2: also the objective after every iteration.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Weights :math:`\lambda` of the components.
    factors_ : list of ndarray
        ``factors_[n]`` of shape ``(I_n, n_components)``, unit-norm columns;
        ``factors_[0]`` are the training samples.
    components_ : ndarray of shape (n_components, n_features_in_)
        The flattened rank-one components ``lambda_r F_1[:, r] o ... o
        F_{N-1}[:, r]``: ``X_flat ~ transform(X) @ components_``.
    n_components_ : int
        Number of components.
    tensor_shape_ : tuple of int
        Shape of one sample.
    reconstruction_err_ : float
        Frobenius norm of the residual on the observed training entries.
    n_iter_ : int
        Number of iterations run.
    objective_ : list of float
        Objective after each iteration (non-increasing).
    n_features_in_ : int
        Number of (flattened) features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only for string column names).

    See Also
    --------
    PANTHER : CP of the pathway-augmented samples x pathways x genes tensor.
    nmfkit.NMF : the matrix case.

    References
    ----------
    .. [1] A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
       nonnegative matrix and tensor factorizations", IEICE Trans.
       Fundamentals, 2009.
    .. [2] A. M. S. Ang and N. Gillis, "Accelerating nonnegative matrix
       factorization algorithms using extrapolation", Neural Computation, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import NonnegativeCP
    >>> rng = np.random.default_rng(0)
    >>> A, B, C = rng.random((30, 2)), rng.random((6, 2)), rng.random((5, 2))
    >>> X = np.einsum("ir,jr,kr->ijk", A, B, C)          # 30 samples of 6 x 5
    >>> cp = NonnegativeCP(n_components=2, random_state=0).fit(X)
    >>> [F.shape for F in cp.factors_]
    [(30, 2), (6, 2), (5, 2)]
    >>> bool(cp.reconstruction_err_ < 1e-3 * np.linalg.norm(X))
    True
    >>> cp.transform(X[:3]).shape
    (3, 2)
    >>> cp.inverse_transform(cp.transform(X[:3])).shape  # N-way in, N-way out
    (3, 6, 5)

    Flattened samples with ``tensor_shape`` (for a Pipeline):

    >>> cp2 = NonnegativeCP(n_components=2, tensor_shape=(6, 5), random_state=0)
    >>> cp2.fit_transform(X.reshape(30, -1)).shape
    (30, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tensor_shape": [None, "array-like"],
        "init": [StrOptions({"svd", "random"})],
        "l1": [Interval(Real, 0, None, closed="left"), "array-like"],
        "l2": [Interval(Real, 0, None, closed="left"), "array-like"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "extrapolate": ["boolean"],
        "missing_values": [None, Real],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_components=2, *, tensor_shape=None, init="svd", l1=0.0,
                 l2=0.0, tol=1e-6, max_iter=500, extrapolate=True,
                 missing_values=np.nan, random_state=None, verbose=0):
        self.n_components = n_components
        self.tensor_shape = tensor_shape
        self.init = init
        self.l1 = l1
        self.l2 = l2
        self.tol = tol
        self.max_iter = max_iter
        self.extrapolate = extrapolate
        self.missing_values = missing_values
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.allow_nan = _is_nan(getattr(self, "missing_values", None))
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------ validation
    def _sample_shape_param(self):
        if self.tensor_shape is None:
            return None
        shape = tuple(np.asarray(self.tensor_shape).ravel().tolist())
        if not shape or any(not isinstance(s, Integral) or s < 1 for s in shape):
            raise ValueError(
                "tensor_shape must be a tuple of positive integers (the shape of "
                f"one sample); got {self.tensor_shape!r}."
            )
        return shape

    def _validate(self, X, mask, reset):
        """``(X_2d, observed_2d)``; sets ``tensor_shape_`` when ``reset``."""
        mv = self.missing_values
        if mv is not None and not _is_nan(mv):
            raise ValueError(
                "missing_values must be None (no missing values) or np.nan "
                f"(NaN entries are missing); got {mv!r}."
            )
        allow_missing = mv is not None
        nd_shape = None
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        if isinstance(X, np.ndarray) and X.ndim > 2:
            nd_shape = X.shape[1:]
            in_shape = X.shape
            X = X.reshape(X.shape[0], -1)
        else:
            in_shape = None  # the 2-D shape, known after validation
        param = self._sample_shape_param()
        if reset:
            if nd_shape is not None and param is not None and param != nd_shape:
                raise ValueError(
                    f"tensor_shape={param} does not match the shape of the samples "
                    f"of X, {nd_shape}."
                )
        X = validate_data(
            self, X, dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if allow_missing else True, reset=reset,
        )
        check_nonnegative(X, f"{type(self).__name__} (input X)")
        if reset:
            shape = nd_shape or param or (X.shape[1],)
            if int(np.prod(shape)) != X.shape[1]:
                raise ValueError(
                    f"tensor_shape={shape} holds {int(np.prod(shape))} entries but X "
                    f"has {X.shape[1]} features per sample; their product must "
                    "equal the number of features."
                )
            self.tensor_shape_ = tuple(int(s) for s in shape)
            self._nway_input = nd_shape is not None
        elif nd_shape is not None and tuple(nd_shape) != self.tensor_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(nd_shape)} but the model was fit "
                f"on samples of shape {self.tensor_shape_}."
            )
        if mask is not None:
            mask = mask.toarray() if sp.issparse(mask) else np.asarray(mask)
            in_shape = X.shape if in_shape is None else in_shape
            if mask.shape != tuple(in_shape):
                raise ValueError(
                    f"mask has shape {mask.shape} but X has shape {tuple(in_shape)}; "
                    "they must be equal."
                )
            mask = mask.reshape(X.shape)
        X, observed = resolve_observed(X, mask, allow_missing, type(self).__name__)
        return X, observed

    # ----------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, mask=None):
        X, observed = self._validate(X, mask, reset=True)
        check_observed(X, type(self).__name__, observed)
        n = X.shape[0]
        shape = (n,) + self.tensor_shape_
        N = len(shape)
        l1 = _per_mode(self.l1, N, "l1")
        l2 = _per_mode(self.l2, N, "l2")
        k = self.n_components
        T = X.reshape(shape)
        if isinstance(observed, np.ndarray):
            products = MaskedDenseProducts(T, observed.reshape(shape))
        else:
            products = DenseProducts(T)
        T_init = T
        if isinstance(observed, np.ndarray):  # the SVD sees missing entries as the mean
            T_init = np.where(observed.reshape(shape), T,
                              T[observed.reshape(shape)].mean() if observed.any() else 0)
        t0 = time.perf_counter()
        factors = init_cp(products, shape, k, self.init, self.random_state, X.dtype,
                          T=T_init)
        factors, n_iter, history = fit_cp(
            products, factors, l1=l1, l2=l2, tol=self.tol, max_iter=self.max_iter,
            extrapolate=self.extrapolate, verbose=solver_verbose(self.verbose))
        self._report(n_iter, history, t0)
        self._warn_convergence(n_iter)
        # the scale of the sample factor in the fit, where the penalties apply
        scale = np.sqrt(np.einsum("ij,ij->j", factors[0], factors[0],
                                  dtype=np.float64))
        self._sample_scale = np.where(scale > 0, scale, 1.0)
        weights, factors = normalize_cp(factors)
        self.weights_ = weights
        self.factors_ = factors
        self.n_components_ = k
        self.n_iter_ = n_iter
        self.objective_ = history
        comp = khatri_rao_rows(factors[1:]) if N > 1 else np.ones((k, 1), X.dtype)
        self.components_ = (comp * weights[:, None]).astype(X.dtype)
        R = reconstruct(factors, weights).reshape(n, -1)
        resid = X - R
        if isinstance(observed, np.ndarray):
            resid[~observed] = 0
        self.reconstruction_err_ = float(np.linalg.norm(resid))
        return self

    def fit(self, X, y=None, mask=None):
        """Fit the CP model.

        Parameters
        ----------
        X : array-like of shape (n_samples, I_1, ..., I_{N-1}) or \
                (n_samples, n_features)
            Non-negative data: N-way, or flattened samples (see
            ``tensor_shape``). NaN entries are missing.
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like of bool of X's shape, default=None
            Observed entries (``True``); the others are missing.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return super().fit(X, mask=mask)

    def fit_transform(self, X, y=None, mask=None):
        """Fit the model and return the sample-mode coefficients of ``X``.

        Parameters
        ----------
        X : array-like, N-way or flattened
            Training data (see :meth:`fit`).
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like of bool of X's shape, default=None
            Observed entries.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            ``transform(X)`` of the training samples.
        """
        return super().fit_transform(X, mask=mask)

    def transform(self, X, mask=None):
        """Sample-mode factor of ``X`` with the other modes fixed.

        Each sample's coefficients on ``components_`` are the exact
        non-negative least squares solution on its observed entries (with the
        sample-mode penalties), independent of the other samples.

        Parameters
        ----------
        X : array-like, N-way or flattened
            Samples of the fitted shape.
        mask : array-like of bool of X's shape, default=None
            Observed entries.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X, observed = self._validate(X, mask, reset=False)
        H, l1, l2, scale = self._sample_problem(X.dtype)
        return nnls(X, H, observed=observed, l1=l1, l2=l2) / scale

    def _sample_problem(self, dtype):
        """Components and sample-mode penalties at the scale of the fit.

        The fit penalises the sample factor at its own scale (the columns'
        norms ``_sample_scale``), not at the unit-norm scale of
        ``factors_[0]``: solve there, then divide by the scale.
        """
        N = len(self.tensor_shape_) + 1
        l1 = _per_mode(self.l1, N, "l1")[0]
        l2 = _per_mode(self.l2, N, "l2")[0]
        scale = np.ones(self.n_components_)
        if l1 or l2:
            scale = getattr(self, "_sample_scale", scale)
        scale = scale.astype(dtype)
        H = (self.components_ / scale[:, None]).astype(dtype, copy=False)
        return H, l1, l2, scale

    def inverse_transform(self, X):
        """Rebuild samples from their coefficients, in the input's shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        X_original : ndarray
            ``(n_samples, I_1, ..., I_{N-1})`` when the model was fit on an
            N-way array, else ``(n_samples, n_features)``.
        """
        check_is_fitted(self)
        W = check_inverse_input(self, X)
        out = W @ self.components_
        if self._nway_input:
            out = out.reshape((W.shape[0],) + self.tensor_shape_)
        return out

    def score(self, X, y=None, mask=None):
        """Held-out-entry score (higher is better): use it to choose the rank.

        A fixed random 20% of the observed entries of ``X`` is hidden, each
        sample's coefficients are fit on the others with the components
        fixed, and the score is minus the mean squared error on the hidden
        entries (bi-cross-validation, as :meth:`nmfkit.NMF.score`).

        Parameters
        ----------
        X : array-like, N-way or flattened
            Data.
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like of bool of X's shape, default=None
            Observed entries.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X, observed = self._validate(X, mask, reset=False)
        H, l1, l2, _ = self._sample_problem(X.dtype)
        return heldout_score(X, H, beta=2.0, observed=observed, fraction=0.2,
                             random_state=0, l1=l1, l2=l2)


# --------------------------------------------------------------------------
# PANTHER
# --------------------------------------------------------------------------
def _as_binary_pathways(P, whom="pathways"):
    """Validated sparse CSR pathway matrix (0/1), with names if a DataFrame."""
    names = genes = None
    if hasattr(P, "iloc"):
        names = np.asarray(P.index).astype(str)
        genes = np.asarray(P.columns).astype(str)
    if np.ndim(P) == 2 and 0 in np.shape(P):
        raise ValueError(
            f"{whom} has shape {np.shape(P)}: it needs at least one pathway (row) "
            "and one gene (column). Pass pathways=None to make every gene its "
            "own pathway.")
    P = check_array(P, accept_sparse=("csr", "csc", "coo"), dtype=np.float64,
                    input_name=whom)
    P = sp.csr_matrix(P)
    P.sum_duplicates()
    P.eliminate_zeros()
    if P.nnz and not np.all(P.data == 1):
        bad = P.data[P.data != 1][0]
        raise ValueError(
            f"{whom} must be a binary (0/1) pathways x genes membership matrix; "
            f"found the value {bad!r}."
        )
    return P, names, genes


def drop_redundant_pathways(pathways):
    """Which pathways to keep: drop those whose genes are a subset of another's.

    A pathway whose gene set is contained in (or equal to) the gene set of
    another pathway is dropped; of several equal pathways the first is kept.
    Empty pathways are dropped too. This is the pathway preprocessing of the
    PANTHER paper.

    Parameters
    ----------
    pathways : {array-like, sparse matrix} of shape (n_pathways, n_genes)
        Binary membership matrix.

    Returns
    -------
    keep : ndarray of bool of shape (n_pathways,)

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.tensor import drop_redundant_pathways
    >>> P = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [1, 1, 1, 0]])
    >>> drop_redundant_pathways(P).tolist()  # 0 is inside 1; 3 equals 1
    [False, True, True, False]
    """
    P, _, _ = _as_binary_pathways(pathways)
    size = np.asarray(P.sum(axis=1)).ravel()
    overlap = (P @ P.T).tocoo()
    i, j, v = overlap.row, overlap.col, overlap.data
    off = i != j
    i, j, v = i[off], j[off], v[off]
    # i is inside j when all its genes are shared; equal sets: drop the later
    inside = (v == size[i]) & ((size[i] < size[j]) | (i > j))
    keep = size > 0
    keep[np.unique(i[inside])] = False
    return keep


def select_mutated_genes(X, min_fraction=0.05):
    """Which genes to keep: those mutated (non-zero) in enough samples.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_genes)
        Counts.
    min_fraction : float, default=0.05
        Keep genes non-zero in at least this fraction of the samples (the
        PANTHER paper keeps genes mutated in at least 5% of the samples).

    Returns
    -------
    keep : ndarray of bool of shape (n_genes,)

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.tensor import select_mutated_genes
    >>> X = np.array([[1, 0, 0], [0, 0, 2], [1, 0, 0], [0, 0, 0]])
    >>> select_mutated_genes(X, min_fraction=0.5).tolist()
    [True, False, False]
    """
    X = check_array(X, accept_sparse=("csr", "csc"), dtype=None, input_name="X")
    if not 0 <= min_fraction <= 1:
        raise ValueError(f"min_fraction must be in [0, 1]; got {min_fraction}.")
    if sp.issparse(X):
        X = sp.csc_matrix(X)
        X.eliminate_zeros()
        counts = np.diff(X.indptr)
    else:
        counts = np.count_nonzero(X, axis=0)
    return counts >= min_fraction * X.shape[0]


def _unit_samples(factors):
    """Scale the sample factor's columns to unit norm (the scale to the genes')."""
    A = factors[0]
    nrm = np.linalg.norm(A, axis=0)
    A /= np.where(nrm > 0, nrm, 1)
    factors[2] *= nrm.astype(factors[2].dtype)


class PANTHER(_TensorBase):
    r"""Pathway-augmented non-negative tensor factorization (PANTHER).

    From a samples x genes count matrix ``X`` (e.g. variant counts) and a
    binary pathway membership matrix ``P`` (pathways x genes), PANTHER [1]_
    builds the tensor :math:`T[s, p, g] = X[s, g] P[p, g]` and factorizes it by
    non-negative CP, :math:`T \approx \sum_r \lambda_r a_r \circ b_r \circ c_r`,
    with an orthogonality penalty on the sample factor :math:`A`:

    .. math::

        \tfrac12 \|T - [\![A, B, C]\!]\|_F^2 + \tfrac{\omega}{2}
        \frac{\|T\|_F^2}{k} \sum_{r \ne s} a_r^T a_s, \qquad
        A, B, C \ge 0,\ \|a_r\| = 1,

    (``omega = ortho``; with unit-norm columns the penalty is the total cosine
    similarity of the sample factors). Components group pathways that act
    together (``pathway_factors_``, ``top_pathways_``) and ``transform(X)``
    gives per-sample features for a classifier.

    The tensor is never formed (a 5,000 x 2,000 x 20,000 one would take 1.6
    TB): every product comes from ``X`` and ``P`` -- sample mode
    :math:`X((P^T B) * C)`, pathway mode :math:`P((X^T A) * C)`, gene mode
    :math:`(X^T A) * (P^T B)` -- so memory is
    ``O(nnz(X) + nnz(P) + k (samples + pathways + genes))``. Each mode is a
    HALS sweep (the sample mode an exact sweep on the unit sphere), with
    extrapolation between mode updates.

    Parameters
    ----------
    pathways : {array-like, sparse matrix, DataFrame} of shape \
            (n_pathways, n_genes), default=None
        Binary membership. A DataFrame's index and columns name the pathways
        and genes in ``top_pathways_`` / ``top_genes_``. ``None``: every gene
        is its own pathway (identity), a plain 3-way CP of the diagonal
        tensor. Pathways without genes and genes in no pathway are allowed
        with a warning: they take no part in the tensor (their factor rows
        are 0).
    n_components : int, default=2
        Rank ``k``.
    ortho : float, default=0.1
        Weight ``omega`` of the orthogonality penalty (relative to
        ``||T||^2 / k``, see above); 0 for a plain non-negative CP. With
        ``ortho > 0`` the fit first runs without the penalty (from a random
        start the penalised fit alone often stops at a poor point, with
        components pushed apart before they fit the data), then with it
        from there; both parts share ``max_iter``.
    tol : float, default=1e-5
        Stop when an iteration lowers the objective by at most ``tol`` times
        its value.
    max_iter : int, default=300
        Maximum number of iterations.
    extrapolate : bool, default=True
        Extrapolate between mode updates.
    n_top : int, default=10
        Number of pathways and genes listed per component.
    random_state : int, RandomState instance or None, default=None
        Seed of the random initialisation.
    verbose : int, default=0
        0: silent; 1: one summary line per fit (iterations, objective,
        time); 2: also the objective after every iteration.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Component weights :math:`\lambda`.
    sample_factors_ : ndarray of shape (n_samples, n_components)
        Unit-norm sample factor :math:`A` of the training samples.
    pathway_factors_ : ndarray of shape (n_pathways, n_components)
        Unit-norm pathway factor :math:`B`: the pathway groups.
    gene_factors_ : ndarray of shape (n_genes, n_components)
        Unit-norm gene factor :math:`C`.
    components_ : ndarray of shape (n_components, n_genes)
        Gene profile of each component,
        :math:`\lambda_r c_{gr} (P^T b_r)_g / |\{p \ni g\}|`: since
        :math:`T[s, p, g] = X[s, g]` on the pathways of gene ``g``, the mean
        over them of the model's entries is its estimate of ``X[s, g]``, and
        ``transform(X) @ components_`` (:meth:`inverse_transform`) predicts
        the counts. Zero for genes in no pathway.
    top_pathways_ : list of list
        Per component, the (up to ``n_top``) pathways of largest weight
        (names, or indices when the pathways have no names), with non-zero
        weight only.
    top_genes_ : list of list
        The same for genes (names from ``pathways``' columns or ``X``'s
        feature names, else indices).
    n_components_ : int
        Number of components.
    n_iter_ : int
        Number of iterations run (both parts with ``ortho > 0``).
    objective_ : list of float
        Objective after each iteration of the penalised part
        (non-increasing); with ``ortho=0``, of the whole fit.
    n_features_in_ : int
        Number of genes.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only for string column names).

    See Also
    --------
    NonnegativeCP : CP of a dense N-way array.
    drop_redundant_pathways, select_mutated_genes : the paper's preprocessing.

    References
    ----------
    .. [1] Y. Luo and C. Mao, "PANTHER: Pathway Augmented Nonnegative Tensor
       factorization for HighER-order feature learning", AAAI 2021.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from nmfkit import PANTHER
    >>> from nmfkit.datasets import make_pathway_cohort
    >>> cohort = make_pathway_cohort(n_samples=120, n_genes=150, n_pathways=30,
    ...                              noise_gene_fraction=0.0, random_state=0)
    >>> model = PANTHER(pathways=cohort.pathways, n_components=4, n_top=3,
    ...                 random_state=0)
    >>> features = model.fit_transform(cohort.data)
    >>> features.shape, model.pathway_factors_.shape
    ((120, 4), (30, 4))
    >>> [len(top) for top in model.top_pathways_]   # 3 pathways per component
    [3, 3, 3, 3]
    >>> clf = make_pipeline(PANTHER(pathways=cohort.pathways, n_components=4,
    ...                             random_state=0), LogisticRegression())
    >>> clf.fit(cohort.data, cohort.target).predict(cohort.data[:5]).shape
    (5,)
    """

    _parameter_constraints: dict = {
        "pathways": [None, "array-like", "sparse matrix"],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "ortho": [Interval(Real, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "extrapolate": ["boolean"],
        "n_top": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, pathways=None, n_components=2, *, ortho=0.1, tol=1e-5,
                 max_iter=300, extrapolate=True, n_top=10, random_state=None,
                 verbose=0):
        self.pathways = pathways
        self.n_components = n_components
        self.ortho = ortho
        self.tol = tol
        self.max_iter = max_iter
        self.extrapolate = extrapolate
        self.n_top = n_top
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate_X(self, X, reset):
        X = validate_data(self, X, accept_sparse=("csr", "csc"),
                          dtype=[np.float64, np.float32], reset=reset)
        check_nonnegative(X, f"{type(self).__name__} (input X)")
        return X

    def _pathway_matrix(self, n_genes, dtype, warn):
        """The validated pathway matrix for ``n_genes`` genes, and its names."""
        name = type(self).__name__
        if self.pathways is None:
            return sp.identity(n_genes, dtype=dtype, format="csr"), None, None
        P, pnames, gnames = _as_binary_pathways(self.pathways)
        if P.shape[1] != n_genes:
            raise ValueError(
                f"pathways has {P.shape[1]} genes (columns) but X has {n_genes} "
                "genes (features); they must match."
            )
        if warn:
            empty = int(np.count_nonzero(np.diff(P.indptr) == 0))
            if empty:
                warnings.warn(
                    f"{name}: {empty} of {P.shape[0]} pathways have no genes; "
                    "their pathway factor rows are 0.", UserWarning)
            lonely = int(np.count_nonzero(np.bincount(P.indices, minlength=n_genes)
                                          == 0))
            if lonely:
                warnings.warn(
                    f"{name}: {lonely} of {n_genes} genes are in no pathway and take "
                    "no part in the tensor (their gene factor rows are 0); "
                    "drop them beforehand to silence this warning.", UserWarning)
        return P.astype(dtype), pnames, gnames

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X):
        X = self._validate_X(X, reset=True)
        P, pnames, gnames = self._pathway_matrix(X.shape[1], X.dtype, warn=True)
        products = PantherProducts(X, P)
        k = self.n_components
        shape = products.shape
        factors = init_cp(products, shape, k, "random", self.random_state, X.dtype)
        _unit_samples(factors)
        ortho = self.ortho * products.norm2 / k
        t0 = time.perf_counter()
        n_first = 0
        if ortho > 0:
            # From a random start the penalised fit converges, for most
            # seeds, to a poor point: components pushed apart before they
            # fit anything (9 of 15 fits of the planted cohorts of the tests,
            # at 2.7-4.4x the best objective). Fitting without the penalty
            # first, then with it, reached the best objective in 15 of 15.
            factors, n_first, _ = fit_cp(
                products, factors, tol=self.tol, max_iter=self.max_iter,
                extrapolate=self.extrapolate, unit_mode=0,
                verbose=solver_verbose(self.verbose))
            _unit_samples(factors)
        factors, n_iter, history = fit_cp(
            products, factors, tol=self.tol, max_iter=max(1, self.max_iter - n_first),
            extrapolate=self.extrapolate, ortho=ortho, unit_mode=0,
            verbose=solver_verbose(self.verbose))
        n_iter = min(n_first + n_iter, self.max_iter)  # both parts share max_iter
        self._report(n_iter, history, t0)
        self._warn_convergence(n_iter)
        weights, (A, B, C) = normalize_cp(factors)
        # gene profiles: a sample's T[s, p, g] = x_g for the pathways p of g,
        # so the model's least-squares estimate of x_g is the mean of its
        # predictions over those pathways
        degree = np.asarray(P.sum(axis=0), dtype=np.float64).ravel()
        PtB = np.asarray(P.T @ B, dtype=np.float64)
        self.components_ = ((C * PtB * weights).T
                            / np.where(degree > 0, degree, 1.0)).astype(X.dtype)
        self.weights_ = weights
        self.sample_factors_ = A
        self.pathway_factors_ = B
        self.gene_factors_ = C
        self.n_components_ = k
        self.n_iter_ = n_iter
        self.objective_ = history
        if gnames is None and hasattr(self, "feature_names_in_"):
            gnames = self.feature_names_in_
        self.top_pathways_ = _top(B, self.n_top, pnames)
        self.top_genes_ = _top(C, self.n_top, gnames)
        self._P = P
        return self

    def fit(self, X, y=None):
        """Fit the PANTHER model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_genes)
            Non-negative counts.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return super().fit(X)

    def fit_transform(self, X, y=None):
        """Fit the model and return the per-sample features of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_genes)
            Non-negative counts.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        features : ndarray of shape (n_samples, n_components)
            ``transform(X)``.
        """
        return super().fit_transform(X)

    def transform(self, X):
        """Per-sample features: the sample-mode factor with the others fixed.

        For each sample ``s`` the non-negative least squares coefficients of
        its slice ``T[s] = X[s] * P`` on the rank-one components
        ``lambda_r b_r o c_r`` (exact, independent of the other samples),
        computed from ``X`` and ``P`` without forming the tensor.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_genes)
            Non-negative counts.

        Returns
        -------
        features : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        P = self._P
        B = self.pathway_factors_.astype(X.dtype, copy=False)
        C = self.gene_factors_.astype(X.dtype, copy=False)
        w = self.weights_.astype(X.dtype)
        A = np.asarray(X @ (np.asarray(P.T @ B) * C)) * w
        G = (np.dot(B.T, B) * np.dot(C.T, C)) * np.outer(w, w)
        return nnls_gram(np.asarray(A, dtype=X.dtype), G.astype(X.dtype))

    def inverse_transform(self, X):
        """Gene counts predicted from per-sample features: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Features, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_genes)
            For each gene, the mean over its pathways of the model's tensor
            entries (0 for genes in no pathway).
        """
        check_is_fitted(self)
        return check_inverse_input(self, X) @ self.components_

    def score(self, X, y=None):
        """Held-out-entry score of the tensor model (higher is better).

        Use it to choose ``n_components`` with
        :class:`~sklearn.model_selection.GridSearchCV` (no custom scorer
        needed). A fixed random 20% of the (sample, gene) entries of ``X`` is
        hidden -- for a sparse ``X``, 20% of the stored entries and a weighted
        sample of the zeros, as :meth:`nmfkit.NMF.score` -- which hides the
        tensor entries ``T[s, :, g]`` of every pathway. Each sample's features
        are the exact non-negative least squares fit of its visible tensor
        entries with the components fixed, and the score is minus the mean
        squared error of the prediction of the hidden tensor entries
        (bi-cross-validation), computed from ``X`` and ``pathways`` without
        forming the tensor. The same entries are hidden for every model, so
        scores of different ranks are comparable.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_genes)
            Non-negative counts.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Minus the mean held-out squared error per tensor entry.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return panther_heldout_score(X, self._P, self.weights_, self.pathway_factors_,
                                     self.gene_factors_, fraction=0.2, random_state=0)


def _top(F, n_top, names):
    out = []
    n_top = min(int(n_top), F.shape[0])
    order = np.argsort(-F, axis=0, kind="stable")[:n_top]
    for r in range(F.shape[1]):
        idx = [int(i) for i in order[:, r] if F[i, r] > 0]
        out.append([str(names[i]) for i in idx] if names is not None else idx)
    return out
