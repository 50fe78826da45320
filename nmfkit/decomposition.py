"""Drop-in replacements for scikit-learn's NMF, MiniBatchNMF and
non_negative_factorization: same parameters, attributes and errors, faster
solvers, missing values, and a held-out score for choosing the rank.
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
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._core.hals import fit_hals, plan_compression
from ._core.heldout import heldout_score
from ._core.init import initialize
from ._core.losses import beta_divergence, beta_loss_to_float
from ._core.mu import fit_mu
from ._core.nnls import nnls
from ._core.profile import effectively_dense
from ._conventions import check_inverse_input, solver_verbose
from ._validation import (check_factor, check_nonnegative, check_observed,
                          resolve_observed)
from .distributed import (fit_transform_dask, is_dask_collection, refuse_dask,
                          transform_dask)

__all__ = ["NMF", "non_negative_factorization"]

_EPS = np.finfo(np.float32).eps


def _is_nan(value):
    return isinstance(value, float) and math.isnan(value)


class _BaseNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Parameters, validation, scoring and tags shared by NMF and MiniBatchNMF."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None,
                         StrOptions({"auto"})],
        "init": [StrOptions({"random", "nndsvd", "nndsvda", "nndsvdar", "custom"}),
                 None],
        "beta_loss": [StrOptions({"frobenius", "kullback-leibler", "itakura-saito"}),
                      Real],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "alpha_W": [Interval(Real, 0, None, closed="left")],
        "alpha_H": [Interval(Real, 0, None, closed="left"), StrOptions({"same"})],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "verbose": ["verbose"],
        "missing_values": [None, Real],
    }

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = _is_nan(getattr(self, "missing_values", None))
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        """Number of transformed output features."""
        return self.components_.shape[0]

    # ------------------------------------------------------------ validation
    def _check_missing_values(self):
        mv = self.missing_values
        if mv is not None and not _is_nan(mv):
            raise ValueError(
                "missing_values must be None (no missing values) or np.nan "
                f"(NaN entries are missing); got {mv!r}."
            )
        return mv is not None

    def _validate_X(self, X, mask=None, reset=True):
        """Validate ``X`` and return ``(X, observed)`` in the core convention."""
        allow_missing = self._check_missing_values()
        X = validate_data(
            self,
            X,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if allow_missing else True,
            reset=reset,
        )
        if sp.issparse(X) and not np.isfinite(X.data[~np.isnan(X.data)]).all():
            raise ValueError("Input X contains infinity or a value too large.")
        check_nonnegative(X, f"{type(self).__name__} (input X)")
        return resolve_observed(X, mask, allow_missing, type(self).__name__)

    def _check_params(self, X):
        self._n_components = self.n_components
        if self._n_components is None:
            self._n_components = X.shape[1]
        self._beta_loss = beta_loss_to_float(self.beta_loss)
        k = self._n_components
        if (self.init in ("nndsvd", "nndsvda", "nndsvdar") and k != "auto"
                and k > min(X.shape)):
            # scikit-learn's error: NNDSVD gives at most min(X.shape) pairs
            raise ValueError(
                f"init = '{self.init}' can only be used when "
                "n_components <= min(n_samples, n_features)"
            )

    def _compute_regularization(self, X):
        """Penalties scaled by the data shape, as scikit-learn scales them."""
        n_samples, n_features = X.shape
        alpha_W = self.alpha_W
        alpha_H = self.alpha_W if self.alpha_H == "same" else self.alpha_H
        l1_W = n_features * alpha_W * self.l1_ratio
        l1_H = n_samples * alpha_H * self.l1_ratio
        l2_W = n_features * alpha_W * (1.0 - self.l1_ratio)
        l2_H = n_samples * alpha_H * (1.0 - self.l1_ratio)
        return l1_W, l1_H, l2_W, l2_H

    def _check_loss_data(self, X, observed):
        """Beta <= 0 divergences are undefined at observed zeros."""
        if self._beta_loss > 0:
            return
        if sp.issparse(X):
            values = X.data
            has_zero = (observed != "stored" and X.nnz < X.shape[0] * X.shape[1])
        else:
            values = X[observed] if isinstance(observed, np.ndarray) else X
            has_zero = False
        if has_zero or (values.size and values.min() == 0):
            raise ValueError(
                "When beta_loss <= 0 and X contains zeros, the solver may "
                "diverge. Please add small values to X, or use a positive "
                "beta_loss."
            )

    def _check_w_h(self, X, W, H, update_H, observed, svd=None):
        """Check the custom factors, or initialise them."""
        n_samples, n_features = X.shape
        name = type(self).__name__
        if self.init == "custom" and update_H:
            H = check_factor(H, (self._n_components, n_features), f"{name} (input H)",
                             X.dtype)
            W = check_factor(W, (n_samples, self._n_components), f"{name} (input W)",
                             X.dtype)
            if self._n_components == "auto":
                self._n_components = H.shape[0]
            if W.shape[1] != H.shape[0]:
                raise ValueError(
                    f"W has {W.shape[1]} columns but H has {H.shape[0]} rows; "
                    "they must match."
                )
        elif not update_H:
            if W is not None:
                warnings.warn(
                    "When update_H=False, the provided initial W is not used.",
                    RuntimeWarning,
                )
            H = check_factor(H, (self._n_components, n_features), f"{name} (input H)",
                             X.dtype, allow_zero=True)
            if self._n_components == "auto":
                self._n_components = H.shape[0]
            W = None
        else:
            if W is not None or H is not None:
                warnings.warn(
                    "When init!='custom', provided W or H are ignored. Set "
                    " init='custom' to use them as initialization.",
                    RuntimeWarning,
                )
            if self._n_components == "auto":
                self._n_components = X.shape[1]
            init = self.init
            if init is None:
                init = ("nndsvda" if self._n_components <= min(n_samples, n_features)
                        else "random")
            W, H = initialize(X, self._n_components, init,
                              random_state=self.random_state, observed=observed,
                              svd=svd)
        return W, H

    # --------------------------------------------------------------- methods
    def fit(self, X, y=None, W=None, H=None, mask=None):
        """Learn an NMF model for the data X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. NaN entries are missing when
            ``missing_values=np.nan``.
        y : Ignored
            Not used, present for API consistency by convention.
        W : array-like of shape (n_samples, n_components), default=None
            Initial ``W`` when ``init='custom'``.
        H : array-like of shape (n_components, n_features), default=None
            Initial ``H`` when ``init='custom'``.
        mask : array-like or sparse matrix of bool, default=None
            Observed entries: ``True`` (dense) or stored (sparse) entries take
            part in the loss, the others are missing. For a sparse ``X`` this
            is how unobserved entries (e.g. unrated items) are marked.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if is_dask_collection(X):
            # not through fit_transform: set_output would wrap (compute) W
            self._validate_params()
            fit_transform_dask(self, X, W=W, H=H, mask=mask, returns_W=False)
            return self
        self.fit_transform(X, W=W, H=H, mask=mask)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None, W=None, H=None, mask=None):
        """Learn an NMF model for the data X and return the transformed data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. NaN entries are missing when
            ``missing_values=np.nan``.
        y : Ignored
            Not used, present for API consistency by convention.
        W : array-like of shape (n_samples, n_components), default=None
            Initial ``W`` when ``init='custom'``.
        H : array-like of shape (n_components, n_features), default=None
            Initial ``H`` when ``init='custom'``.
        mask : array-like or sparse matrix of bool, default=None
            Observed entries (see :meth:`fit`).

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Transformed data.
        """
        if is_dask_collection(X):  # row blocks, never gathered
            return fit_transform_dask(self, X, W=W, H=H, mask=mask)
        X, observed = self._validate_X(X, mask=mask, reset=True)
        check_observed(X, type(self).__name__, observed)
        W, H, n_iter = self._fit_transform(X, W=W, H=H, observed=observed)
        self.reconstruction_err_ = beta_divergence(
            X, W, H, self._beta_loss, observed=observed, square_root=True
        )
        self.n_components_ = H.shape[0]
        self.components_ = H
        self.n_iter_ = n_iter
        return W

    def inverse_transform(self, X):
        """Transform data back to its original space.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_components)
            Transformed data matrix.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            ``X @ components_``, the data matrix of the original shape.
        """
        check_is_fitted(self)
        if is_dask_collection(X):  # stays lazy: check the width only
            check_inverse_input(self, np.zeros((1, X.shape[1])))
            return X @ self.components_
        X = check_inverse_input(self, X, accept_sparse=True)
        return X @ self.components_

    def _transform_W(self, X, observed, max_iter):
        """Coefficients of the rows of ``X`` for the fitted components."""
        H = self.components_
        if H.dtype != X.dtype:
            H = H.astype(X.dtype)
        if not H.any():
            # components all zero (e.g. penalties drove them there): W is
            # irrelevant to the loss and zero minimises any penalty
            return np.zeros((X.shape[0], H.shape[0]), dtype=X.dtype)
        l1_W, _, l2_W, _ = self._compute_regularization(X)
        if self._beta_loss == 2:
            return nnls(X, H, observed=observed, l1=l1_W, l2=l2_W)
        k = H.shape[0]
        n_obs = (X.nnz if (sp.issparse(X) and observed == "stored")
                 else (int(observed.sum()) if isinstance(observed, np.ndarray)
                       else X.shape[0] * X.shape[1]))
        avg = np.sqrt(max(X.sum() / max(n_obs, 1), _EPS) / k)
        W = np.full((X.shape[0], k), avg, dtype=X.dtype)
        W, _, _ = fit_mu(X, W, H, beta=self._beta_loss, tol=self.tol,
                         max_iter=max_iter, l1_W=l1_W, l2_W=l2_W, update_H=False,
                         observed=observed)
        return W

    def transform(self, X, mask=None):
        """Transform the data X according to the fitted NMF model.

        For the Frobenius loss this solves the non-negative least squares
        problem of each row exactly (to numerical precision), so a row's
        coefficients do not depend on the other rows of the batch.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data. NaN entries are missing when ``missing_values=np.nan``.
        mask : array-like or sparse matrix of bool, default=None
            Observed entries (``True`` / stored); others are left out.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Transformed data.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return transform_dask(self, X, mask=mask)
        X, observed = self._validate_X(X, mask=mask, reset=False)
        return self._transform_W(X, observed, self._transform_max_iter())

    def _transform_max_iter(self):
        return self.max_iter

    def score(self, X, y=None, mask=None):
        """Held-out-entry score: higher is better; use it to choose the rank.

        A fixed random 20% of the (observed) entries of ``X`` is hidden; the
        coefficients of the rows are fit on the remaining entries with
        ``components_`` fixed; the score is minus the mean beta-divergence
        (squared error for the Frobenius loss) between the hidden entries and
        their prediction ``W @ components_`` (bi-cross-validation). The same
        entries are hidden for every model, so the scores of different
        ``n_components`` are comparable: in :class:`~sklearn.model_selection.GridSearchCV`
        the best score falls at or near the true rank, whereas the training
        reconstruction error always improves with the rank.

        For a sparse ``X`` whose zeros are observed, a sample of the zero
        entries is hidden along with a fraction of the stored ones and
        weighted so the score estimates the mean over all hidden entries.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like or sparse matrix of bool, default=None
            Observed entries, as in :meth:`fit`.

        Returns
        -------
        score : float
            Minus the mean held-out divergence.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            refuse_dask(self, X, "score")
        X, observed = self._validate_X(X, mask=mask, reset=False)
        H = self.components_.astype(X.dtype, copy=False)
        l1_W, _, l2_W, _ = self._compute_regularization(X)
        return heldout_score(X, H, beta=self._beta_loss, observed=observed,
                             fraction=0.2, random_state=0, l1=l1_W, l2=l2_W,
                             tol=self.tol, max_iter=self._transform_max_iter())


class NMF(_BaseNMF):
    r"""Non-negative matrix factorization, a faster drop-in for scikit-learn's.

    Find two non-negative matrices, ``W`` (``transform(X)``) and ``H``
    (``components_``), whose product approximates the non-negative matrix
    ``X``, by minimising

    .. math::

        L(W, H) = D_\beta(X \| WH)
        + \alpha_W \rho\, n_{\text{features}} \|W\|_1
        + \tfrac{1}{2}\alpha_W (1-\rho)\, n_{\text{features}} \|W\|_F^2
        + \alpha_H \rho\, n_{\text{samples}} \|H\|_1
        + \tfrac{1}{2}\alpha_H (1-\rho)\, n_{\text{samples}} \|H\|_F^2

    where :math:`\rho` is ``l1_ratio`` and :math:`D_\beta` the beta-divergence
    summed over the observed entries (:math:`D_2 = \tfrac12\|X-WH\|_F^2`).

    Same parameters, defaults, attributes and errors as
    :class:`sklearn.decomposition.NMF`. ``solver="cd"`` runs an accelerated
    hierarchical ALS (coordinate descent on whole columns) that, on large dense
    inputs, first iterates on a randomized compression of ``X`` and then
    finishes with exact iterations, and from a random start extrapolates its
    iterates [5]_ (2-4x fewer iterations); ``solver="mu"`` runs multiplicative
    updates for any beta-divergence. Beyond scikit-learn: missing entries
    (NaN, or a ``mask``) are left out of the loss, and :meth:`score` is a
    held-out-entry score for choosing ``n_components`` with
    :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    n_components : int or {'auto'} or None, default='auto'
        Number of components. ``None`` or ``'auto'`` (without custom ``H``)
        keep all features; with ``init='custom'`` ``'auto'`` takes it from ``H``.
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'}, default=None
        Initialisation. ``None`` is ``'nndsvda'`` when
        ``n_components <= min(n_samples, n_features)``, else ``'random'``.
    solver : {'cd', 'mu'}, default='cd'
        ``'cd'``: accelerated HALS coordinate descent (Frobenius loss only).
        ``'mu'``: multiplicative updates (any ``beta_loss``).
    beta_loss : float or {'frobenius', 'kullback-leibler', 'itakura-saito'}, \
            default='frobenius'
        Beta-divergence to minimise (2, 1 and 0 respectively).
    tol : float, default=1e-4
        Tolerance of the stopping condition.
    max_iter : int, default=200
        Maximum number of iterations.
    random_state : int, RandomState instance or None, default=None
        Seed of the random initialisations, the randomized compression and
        the coordinate order when ``shuffle=True``.
    alpha_W : float, default=0.0
        Regularisation of ``W`` (scaled by ``n_features``).
    alpha_H : float or 'same', default='same'
        Regularisation of ``H`` (scaled by ``n_samples``); ``'same'`` uses
        ``alpha_W``.
    l1_ratio : float, default=0.0
        Mix of L1 (1.0) and L2 (0.0) regularisation.
    verbose : int, default=0
        0: silent; 1: one summary line per fit (iterations, time); 2: also
        the solver's progress at each check of its stopping rule.
    shuffle : bool, default=False
        Randomise the order of coordinates in the CD solver.
    missing_values : np.nan or None, default=np.nan
        ``np.nan``: NaN entries of a dense ``X`` are missing and left out of
        the loss (scikit-learn's NMF rejects them). ``None``: NaN raises a
        ``ValueError`` as in scikit-learn. For a sparse ``X``, pass ``mask``
        to :meth:`fit` instead.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Factorization matrix ``H``.
    n_components_ : int
        The number of components.
    reconstruction_err_ : float
        Beta-divergence between the training data and ``W @ H`` on the
        observed entries, as ``sqrt(2 * loss)`` (the Frobenius norm of the
        residual for the Frobenius loss).
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when ``X`` has string
        feature names).

    See Also
    --------
    MiniBatchNMF : Mini-batch variant for large inputs.
    non_negative_factorization : Functional interface.

    References
    ----------
    .. [1] Cichocki, A. and Phan, A.-H. "Fast local algorithms for large scale
       nonnegative matrix and tensor factorizations." IEICE Transactions on
       Fundamentals 92.3 (2009): 708-721.
    .. [2] Gillis, N. and Glineur, F. "Accelerated multiplicative updates and
       hierarchical ALS algorithms for nonnegative matrix factorization."
       Neural Computation 24.4 (2012): 1085-1105.
    .. [3] Erichson, N. B., Mendible, A., Wihlborn, S. and Kutz, J. N.
       "Randomized nonnegative matrix factorization." Pattern Recognition
       Letters 104 (2018): 1-7.
    .. [4] Fevotte, C. and Idier, J. "Algorithms for nonnegative matrix
       factorization with the beta-divergence." Neural Computation 23.9
       (2011).
    .. [5] Ang, A. M. S. and Gillis, N. "Accelerating nonnegative matrix
       factorization algorithms using extrapolation." Neural Computation
       31.2 (2019): 417-439.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import NMF
    >>> X = np.array([[1, 1], [2, 1], [3, 1.2], [4, 1], [5, 0.8], [6, 1]])
    >>> model = NMF(n_components=2, init="random", random_state=0)
    >>> W = model.fit_transform(X)
    >>> W.shape, model.components_.shape
    ((6, 2), (2, 2))
    >>> bool(model.reconstruction_err_ < 0.1)
    True

    Missing entries are left out of the loss:

    >>> X_missing = X.copy()
    >>> X_missing[0, 1] = np.nan
    >>> W = NMF(n_components=2, init="random", random_state=0).fit_transform(X_missing)
    >>> bool(np.isfinite(W).all())
    True
    """

    _parameter_constraints: dict = {
        **_BaseNMF._parameter_constraints,
        "solver": [StrOptions({"mu", "cd"})],
        "shuffle": ["boolean"],
    }

    def __init__(
        self,
        n_components="auto",
        *,
        init=None,
        solver="cd",
        beta_loss="frobenius",
        tol=1e-4,
        max_iter=200,
        random_state=None,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        verbose=0,
        shuffle=False,
        missing_values=np.nan,
    ):
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.verbose = verbose
        self.shuffle = shuffle
        self.missing_values = missing_values

    def _check_params(self, X):
        super()._check_params(X)
        if self.solver != "mu" and self._beta_loss != 2:
            raise ValueError(
                f"Invalid beta_loss parameter: solver {self.solver!r} does not "
                f"handle beta_loss = {self.beta_loss!r}"
            )
        if self.solver == "mu" and self.init == "nndsvd":
            warnings.warn(
                "The multiplicative update ('mu') solver cannot update zeros "
                "present in the initialization, and so leads to poorer results "
                "when used jointly with init='nndsvd'. You may try init='nndsvda' "
                "or init='nndsvdar' instead.",
                UserWarning,
            )

    def _fit_transform(self, X, W=None, H=None, update_H=True, observed=None):
        """Core call shared by ``fit_transform`` and the functional API."""
        self._check_params(X)
        self._check_loss_data(X, observed)
        qb = self._plan_compression(X, update_H, observed)
        W, H = self._check_w_h(X, W, H, update_H, observed,
                               svd=None if qb is None else qb[2])
        qb = None if qb is None else qb[:2]
        l1_W, l1_H, l2_W, l2_H = self._compute_regularization(X)
        t0 = time.perf_counter()
        if not update_H:
            W = self._transform_W_with(X, H, observed)
            n_iter = 0
        elif self.solver == "cd":
            W, H, n_iter = fit_hals(
                X, W, H, tol=self.tol, max_iter=self.max_iter, l1_W=l1_W,
                l2_W=l2_W, l1_H=l1_H, l2_H=l2_H, update_H=True, observed=observed,
                shuffle=self.shuffle, random_state=self.random_state,
                verbose=solver_verbose(self.verbose), qb=qb, extrapolate=self._extrapolate(X),
            )
        else:
            scale, n_warm = None, 0
            if self.init != "custom":
                W, H, scale, n_warm = self._warm_start_mu(
                    X, W, H, observed, l1_W, l2_W, l1_H, l2_H, qb)
            W, H, n_iter = fit_mu(
                X, W, H, beta=self._beta_loss, tol=self.tol,
                max_iter=max(self.max_iter - n_warm, 1), l1_W=l1_W, l2_W=l2_W,
                l1_H=l1_H, l2_H=l2_H, update_H=True, observed=observed,
                verbose=solver_verbose(self.verbose), error_scale=scale,
            )
            n_iter += n_warm
        if self.verbose:
            print(f"{type(self).__name__}: {n_iter} iterations in "
                  f"{time.perf_counter() - t0:.3f} s")
        if update_H and n_iter == self.max_iter and self.tol > 0:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. Increase "
                "it to improve convergence.",
                ConvergenceWarning,
            )
        return W, H, n_iter

    def _extrapolate(self, X):
        """Extrapolate the HALS iterates from random starts (Ang & Gillis).

        A random start is far from any solution, and there the extrapolated
        iterates need about half the iterations (NMFk's perturbation fits).
        So do sparse data from any start: there a half-step is one cheap
        sweep and the plain iterates zigzag (TF-IDF-like 5000 x 2000 and the
        arXiv TF-IDF, k = 20 / 10: 38 and 35 iterations to scikit-learn's
        final loss instead of 81 and 96). From an SVD-based start on dense
        data the plain accelerated iterates are already close, and they stay
        comparable with scikit-learn's. Decided from the data (its non-zeros),
        not from its container.
        """
        return (self.init == "random"
                or (self.init is None and self._n_components > min(X.shape))
                or not effectively_dense(X))

    def _warm_start_mu(self, X, W, H, observed, l1_W, l2_W, l1_H, l2_H, qb=None,
                       error=None, budget=50):
        """Start the multiplicative updates from a short Frobenius HALS fit.

        Multiplicative updates make slow progress from an SVD-based start;
        a few HALS iterations (each about as costly as one MU iteration)
        usually land much closer to the beta-divergence optimum. The HALS
        factors are floored away from zero (MU cannot move exact zeros) and
        kept only if their beta-divergence beats the initialisation's, so the
        warm start never makes the result worse. Returns the factors, the
        initialisation's error (the reference of the MU stopping rule, as for
        a cold start) and the number of HALS iterations spent. ``error(W, H)``
        computes that error where the caller has a cheaper way (SeNMF's
        blocks); by default it is the beta-divergence of ``X``. At most
        ``budget`` HALS iterations (and a quarter of ``max_iter``).
        """
        beta = self._beta_loss
        if error is None:
            def error(W, H):
                return beta_divergence(X, W, H, beta, observed=observed,
                                       square_root=True)
        err0 = error(W, H)
        if not np.isfinite(err0) or self.max_iter < 4:
            return W, H, None, 0
        W1, H1 = W.copy(), H.copy()
        budget = max(1, min(self.max_iter // 4, budget))
        W1, H1, n_warm = fit_hals(
            X, W1, H1, tol=self.tol, max_iter=budget, l1_W=l1_W,
            l2_W=l2_W, l1_H=l1_H, l2_H=l2_H, observed=observed,
            random_state=self.random_state, qb=qb,
        )
        for F in (W1, H1):
            floor = 1e-3 * float(F.mean()) if F.size else 0.0
            np.maximum(F, floor if floor > 0 else _EPS, out=F)
        err1 = error(W1, H1)
        if np.isfinite(err1) and err1 < err0:
            return W1, H1, err0, n_warm
        return W, H, err0, n_warm

    def _plan_compression(self, X, update_H, observed):
        """Share one randomized range finder between init and HALS.

        For a large dense ``X`` the HALS solver iterates on a randomized QB
        compression first; an NNDSVD initialisation needs a randomized SVD
        of the same ``X``. Computing the compression once and taking the SVD
        of its small factor saves several passes over ``X``.
        """
        if not update_H or observed is not None or self.init == "custom":
            return None
        k = self._n_components
        if k == "auto":
            k = X.shape[1]
        init = self.init
        if init is None:
            init = "nndsvda" if k <= min(X.shape) else "random"
        if init not in ("nndsvd", "nndsvda", "nndsvdar"):
            return None
        return plan_compression(X, k, random_state=check_random_state(self.random_state))

    def _transform_W_with(self, X, H, observed):
        saved = getattr(self, "components_", None)
        self.components_ = H
        try:
            return self._transform_W(X, observed, self.max_iter)
        finally:
            if saved is None:
                del self.components_
            else:
                self.components_ = saved


def non_negative_factorization(
    X,
    W=None,
    H=None,
    n_components="auto",
    *,
    init=None,
    update_H=True,
    solver="cd",
    beta_loss="frobenius",
    tol=1e-4,
    max_iter=200,
    alpha_W=0.0,
    alpha_H="same",
    l1_ratio=0.0,
    random_state=None,
    verbose=0,
    shuffle=False,
    missing_values=np.nan,
    mask=None,
):
    """Compute non-negative matrix factorization, as scikit-learn's function.

    Same parameters and returns as
    :func:`sklearn.decomposition.non_negative_factorization`, computed by
    :class:`NMF`'s solvers; plus ``missing_values`` and ``mask`` for missing
    entries (see :class:`NMF`).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data matrix.
    W : array-like of shape (n_samples, n_components), default=None
        Initial ``W`` when ``init='custom'``; ignored with ``update_H=False``.
    H : array-like of shape (n_components, n_features), default=None
        Initial ``H`` when ``init='custom'``; the fixed components when
        ``update_H=False``.
    n_components : int or {'auto'} or None, default='auto'
        Number of components.
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'}, default=None
        Initialisation (see :class:`NMF`).
    update_H : bool, default=True
        ``False`` solves for ``W`` only, with ``H`` fixed.
    solver : {'cd', 'mu'}, default='cd'
        Numerical solver.
    beta_loss : float or {'frobenius', 'kullback-leibler', 'itakura-saito'}, \
            default='frobenius'
        Beta-divergence to minimise.
    tol : float, default=1e-4
        Tolerance of the stopping condition.
    max_iter : int, default=200
        Maximum number of iterations.
    alpha_W, alpha_H, l1_ratio : float
        Regularisation (see :class:`NMF`).
    random_state : int, RandomState instance or None, default=None
        Seed.
    verbose : int, default=0
        0: silent; 1: one summary line per fit (iterations, time); 2: also
        the solver's progress at each check of its stopping rule.
    shuffle : bool, default=False
        Randomise the coordinate order of the CD solver.
    missing_values : np.nan or None, default=np.nan
        Whether NaN entries are missing (see :class:`NMF`).
    mask : array-like or sparse matrix of bool, default=None
        Observed entries.

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
    n_iter : int
        Number of iterations run.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import non_negative_factorization
    >>> X = np.array([[1, 1], [2, 1], [3, 1.2], [4, 1], [5, 0.8], [6, 1]])
    >>> W, H, n_iter = non_negative_factorization(
    ...     X, n_components=2, init="random", random_state=0)
    >>> W.shape, H.shape
    ((6, 2), (2, 2))
    """
    est = NMF(
        n_components=n_components, init=init, solver=solver, beta_loss=beta_loss,
        tol=tol, max_iter=max_iter, random_state=random_state, alpha_W=alpha_W,
        alpha_H=alpha_H, l1_ratio=l1_ratio, verbose=verbose, shuffle=shuffle,
        missing_values=missing_values,
    )
    est._validate_params()
    X, observed = est._validate_X(X, mask=mask, reset=True)
    if update_H:
        check_observed(X, "non_negative_factorization", observed)
    W, H, n_iter = est._fit_transform(X, W=W, H=H, update_H=update_H,
                                      observed=observed)
    return W, H, n_iter
