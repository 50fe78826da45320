"""Mini-batch NMF: a faster drop-in for scikit-learn's MiniBatchNMF.

For the Frobenius loss the components are learned by online HALS on
accumulated sufficient statistics (Mairal et al. 2010) instead of mini-batch
multiplicative updates; the other beta-divergences use scikit-learn's
mini-batch multiplicative scheme. Missing entries (NaN, or a ``mask``) are
left out of the loss.
"""

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from ._conventions import solver_verbose
from ._core.init import initialize
from ._core.online import (
    FRESH_RTOL,
    OnlineStats,
    blas_for_batch,
    fit_online,
    fresh_W,
    minibatch_step,
    refresh_W,
)
from ._validation import check_observed
from .decomposition import _BaseNMF

__all__ = ["MiniBatchNMF"]


class MiniBatchNMF(_BaseNMF):
    r"""Mini-batch non-negative matrix factorization, a faster drop-in.

    Find two non-negative matrices ``W`` (``transform(X)``) and ``H``
    (``components_``) whose product approximates the non-negative ``X`` by
    minimising, one mini-batch of rows at a time,

    .. math::

        L(W, H) = D_\beta(X \| WH)
        + \alpha_W \rho\, n_{\text{features}} \|W\|_1
        + \tfrac{1}{2}\alpha_W (1-\rho)\, n_{\text{features}} \|W\|_F^2
        + \alpha_H \rho\, n_{\text{samples}} \|H\|_1
        + \tfrac{1}{2}\alpha_H (1-\rho)\, n_{\text{samples}} \|H\|_F^2

    (:math:`\rho` is ``l1_ratio``, :math:`D_2 = \tfrac12\|X-WH\|_F^2`, the
    divergence summed over the observed entries). Same parameters, defaults,
    attributes and errors as :class:`sklearn.decomposition.MiniBatchNMF`.

    For each mini-batch :math:`X_b` the coefficients :math:`W_b` are fitted
    with ``H`` fixed, then ``H`` is updated from statistics accumulated over
    the batches seen so far, older ones down-weighted by
    ``forget_factor ** (batch_size / n_samples)`` per step. For the Frobenius
    loss the statistics are :math:`A = \sum W_b^T W_b` and
    :math:`B = \sum W_b^T X_b`, and both :math:`W_b` and ``H`` are updated by
    exact coordinate descent (online HALS), which reaches a given loss in far
    fewer passes than multiplicative updates. Other beta-divergences use
    scikit-learn's mini-batch multiplicative updates. Beyond scikit-learn:
    missing entries (NaN, or a ``mask``) are left out of the loss, and
    :meth:`score` is a held-out-entry score for choosing ``n_components``.

    Parameters
    ----------
    n_components : int or {'auto'} or None, default='auto'
        Number of components. ``None`` or ``'auto'`` (without custom ``H``)
        keep all features; with ``init='custom'`` ``'auto'`` takes it from ``H``.
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'}, default=None
        Initialisation. ``None`` is ``'nndsvda'`` when
        ``n_components <= min(n_samples, n_features)``, else ``'random'``.
        For the Frobenius loss and more than ``8 * batch_size`` samples, the
        NNDSVD variants compute the initial components from a random
        subsample of ``4 * batch_size`` rows (seeded by ``random_state``) and
        ``W`` is solved batch by batch from a flat start.
    batch_size : int, default=1024
        Number of samples in each mini-batch.
    beta_loss : float or {'frobenius', 'kullback-leibler', 'itakura-saito'}, \
            default='frobenius'
        Beta-divergence to minimise (2, 1 and 0 respectively).
    tol : float, default=1e-4
        Stop when the relative change of ``H`` in one step
        (:math:`\|H - H_{\text{prev}}\|_F / \|H\|_F`) is at most ``tol``;
        ``0`` disables this rule.
    max_no_improvement : int or None, default=10
        Stop when an exponentially weighted average of the mini-batch costs
        has not improved for this many consecutive steps; ``None`` disables
        this rule.
    max_iter : int, default=200
        Maximum number of passes over the whole data set.
    alpha_W : float, default=0.0
        Regularisation of ``W`` (scaled by ``n_features``).
    alpha_H : float or 'same', default='same'
        Regularisation of ``H`` (scaled by the number of samples of each
        batch); ``'same'`` uses ``alpha_W``.
    l1_ratio : float, default=0.0
        Mix of L1 (1.0) and L2 (0.0) regularisation.
    forget_factor : float, default=0.7
        Weight of the past statistics after one pass over the data; ``1``
        keeps them all (finite data sets), smaller values suit streams.
    fresh_restarts : bool, default=False
        Refit ``W`` of each batch from scratch at every step (and all of ``W``
        at the end of :meth:`fit`), instead of warm-starting from its last
        value.
    fresh_restarts_max_iter : int, default=30
        Maximum number of passes on ``W`` in a fresh restart (also used by
        :meth:`partial_fit`).
    transform_max_iter : int, default=None
        Maximum number of iterations of :meth:`transform` (multiplicative
        updates for beta-divergences other than Frobenius); ``None`` uses
        ``max_iter``.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.
    verbose : int, default=0
        0: silent; 1: one summary line per fit; 2: also the mini-batch
        costs as the solver checks them.
    missing_values : np.nan or None, default=np.nan
        ``np.nan``: NaN entries of a dense ``X`` are missing and left out of
        the loss (scikit-learn rejects them). ``None``: NaN raises a
        ``ValueError`` as in scikit-learn. For a sparse ``X``, pass ``mask``
        instead.

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
        Number of started passes over the whole data set.
    n_steps_ : int
        Number of mini-batch steps run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when ``X`` has string
        feature names).

    See Also
    --------
    NMF : Non-negative matrix factorization on the whole data at once.

    Notes
    -----
    With missing entries and the Frobenius loss, ``H`` has one accumulated
    ``k x k`` Gram matrix per feature (memory ``n_features * k**2``).

    References
    ----------
    .. [1] Mairal, J., Bach, F., Ponce, J. and Sapiro, G. "Online learning for
       matrix factorization and sparse coding." Journal of Machine Learning
       Research 11 (2010): 19-60.
    .. [2] Cichocki, A. and Phan, A.-H. "Fast local algorithms for large scale
       nonnegative matrix and tensor factorizations." IEICE Transactions on
       Fundamentals 92.3 (2009): 708-721.
    .. [3] Lefevre, A., Bach, F. and Fevotte, C. "Online algorithms for
       nonnegative matrix factorization with the Itakura-Saito divergence."
       WASPAA (2011).
    .. [4] Fevotte, C. and Idier, J. "Algorithms for nonnegative matrix
       factorization with the beta-divergence." Neural Computation 23.9
       (2011).

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.minibatch import MiniBatchNMF
    >>> X = np.array([[1, 1], [2, 1], [3, 1.2], [4, 1], [5, 0.8], [6, 1]])
    >>> model = MiniBatchNMF(n_components=2, init="random", random_state=0)
    >>> W = model.fit_transform(X)
    >>> W.shape, model.components_.shape
    ((6, 2), (2, 2))

    Learning from a stream, one batch at a time:

    >>> model = MiniBatchNMF(n_components=2, init="random", random_state=0)
    >>> for batch in (X[:3], X[3:]):
    ...     model = model.partial_fit(batch)
    >>> model.n_steps_
    2
    """

    _parameter_constraints: dict = {
        **_BaseNMF._parameter_constraints,
        "max_no_improvement": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "forget_factor": [Interval(Real, 0, 1, closed="both")],
        "fresh_restarts": ["boolean"],
        "fresh_restarts_max_iter": [Interval(Integral, 1, None, closed="left")],
        "transform_max_iter": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_components="auto",
        *,
        init=None,
        batch_size=1024,
        beta_loss="frobenius",
        tol=1e-4,
        max_no_improvement=10,
        max_iter=200,
        alpha_W=0.0,
        alpha_H="same",
        l1_ratio=0.0,
        forget_factor=0.7,
        fresh_restarts=False,
        fresh_restarts_max_iter=30,
        transform_max_iter=None,
        random_state=None,
        verbose=0,
        missing_values=np.nan,
    ):
        self.n_components = n_components
        self.init = init
        self.batch_size = batch_size
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.max_iter = max_iter
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.forget_factor = forget_factor
        self.fresh_restarts = fresh_restarts
        self.fresh_restarts_max_iter = fresh_restarts_max_iter
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.missing_values = missing_values

    # ------------------------------------------------------------ parameters
    def _check_params(self, X):
        super()._check_params(X)
        self._batch_size = min(self.batch_size, X.shape[0])
        self._rho = self.forget_factor ** (self._batch_size / X.shape[0])

    def _transform_max_iter(self):
        if self.transform_max_iter is None:
            return self.max_iter
        return self.transform_max_iter

    # ------------------------------------------------------------------- fit

    def _fit_transform(self, X, W=None, H=None, observed=None):
        self._check_params(X)
        self._check_loss_data(X, observed)
        W, H, cold = self._init_factors(X, W, H, observed)
        W = np.ascontiguousarray(W, dtype=X.dtype)
        H = np.ascontiguousarray(H, dtype=X.dtype)
        l1_W, l1_H, l2_W, l2_H = self._compute_regularization(X)
        stats = OnlineStats(H, self._beta_loss)
        t0 = time.perf_counter()
        W, H, n_iter, n_steps = fit_online(
            X, W, H, stats, batch_size=self._batch_size, rho=self._rho,
            tol=self.tol, max_no_improvement=self.max_no_improvement,
            max_iter=self.max_iter, l1_W=l1_W, l2_W=l2_W, l1_H=l1_H, l2_H=l2_H,
            observed=observed, fresh_restarts=self.fresh_restarts,
            fresh_restarts_max_iter=self.fresh_restarts_max_iter,
            cold_start=cold, verbose=solver_verbose(self.verbose),
        )
        if self.fresh_restarts:
            W = self._transform_W_with(X, H, observed)
        else:
            # coefficients of the final components (Frobenius: one cheap pass)
            refresh_W(X, W, H, beta=self._beta_loss, batch_size=self._batch_size,
                      l1_W=l1_W, l2_W=l2_W, observed=observed)
        self._stats = stats
        if self.verbose:
            print(f"{type(self).__name__}: {n_steps} steps ({n_iter} passes) in "
                  f"{time.perf_counter() - t0:.3f} s")
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. "
                "Increase it to improve convergence.",
                ConvergenceWarning,
            )
        self.n_steps_ = n_steps
        return W, H, n_iter

    def _init_factors(self, X, W, H, observed):
        """Initial ``W, H``; returns ``(W, H, cold)``.

        For the Frobenius loss with an NNDSVD-family init and many samples,
        the SVD runs on a random subsample of ``4 * batch_size`` rows (the
        initial components only need the dominant right singular vectors),
        ``W`` starts flat and is solved accurately on the first visit of each
        batch (``cold=True``). This keeps the initialisation cheaper than a
        pass of power iterations over the whole data.
        """
        m, n = X.shape
        n_sub = 4 * self._batch_size
        k = self._n_components
        init = self.init
        if init is None and k != "auto" and k <= min(m, n):
            init = "nndsvda"
        if (self._beta_loss != 2 or init not in ("nndsvd", "nndsvda", "nndsvdar")
                or m <= 2 * n_sub or k > min(n_sub, n)):
            W, H = self._check_w_h(X, W, H, True, observed)
            return W, H, False
        rng = check_random_state(self.random_state)
        rows = np.sort(rng.choice(m, size=n_sub, replace=False))
        obs = observed[rows] if isinstance(observed, np.ndarray) else observed
        X_sub = X[rows]
        if W is not None or H is not None:
            warnings.warn(
                "When init!='custom', provided W or H are ignored. Set "
                " init='custom' to use them as initialization.",
                RuntimeWarning,
            )
        with blas_for_batch(n_sub, n, k):
            _, H = initialize(X_sub, k, init, random_state=rng, observed=obs)
        # flat start sqrt(mean(X) / k), the mean estimated on the subsample
        flat = fresh_W(X_sub, H, obs)[0, 0]
        return np.full((m, H.shape[0]), flat, dtype=H.dtype), H, True

    def _transform_W_with(self, X, H, observed):
        saved = getattr(self, "components_", None)
        self.components_ = H
        try:
            return self._transform_W(X, observed, self._transform_max_iter())
        finally:
            if saved is None:
                del self.components_
            else:
                self.components_ = saved

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, W=None, H=None, mask=None):
        """Update the model using the data in ``X`` as one mini-batch.

        Useful when the whole data set does not fit in memory or arrives as a
        stream. The coefficients of the batch are fitted from scratch (at
        most ``fresh_restarts_max_iter`` passes), then the components are
        updated from the accumulated statistics.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data of the batch. NaN entries are missing when
            ``missing_values=np.nan``.
        y : Ignored
            Not used, present for API consistency by convention.
        W : array-like of shape (n_samples, n_components), default=None
            Initial ``W`` when ``init='custom'`` (first call only; only its
            shape is checked, the batch coefficients are refitted).
        H : array-like of shape (n_components, n_features), default=None
            Initial ``H`` when ``init='custom'`` (first call only).
        mask : array-like or sparse matrix of bool, default=None
            Observed entries of the batch.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        has_components = hasattr(self, "components_")
        X, observed = self._validate_X(X, mask=mask, reset=not has_components)
        check_observed(X, type(self).__name__, observed)
        if not has_components:
            self._check_params(X)
            self._check_loss_data(X, observed)
            _, H = self._check_w_h(X, W, H, True, observed)
            H = np.ascontiguousarray(H, dtype=X.dtype)
            self._stats = OnlineStats(H, self._beta_loss)
            self.n_steps_ = 0
        else:
            self._check_loss_data(X, observed)
            H = self.components_
            if X.dtype != H.dtype:
                X = X.astype(H.dtype)
            if not hasattr(self, "_stats"):
                self._stats = OnlineStats(H, self._beta_loss)
        l1_W, l1_H, l2_W, l2_H = self._compute_regularization(X)
        Wb = fresh_W(X, H, observed)
        if sp.issparse(X):
            X = X.tocsr()
        minibatch_step(X, Wb, H, self._stats, rho=self._rho, l1_W=l1_W,
                       l2_W=l2_W, l1_H=l1_H, l2_H=l2_H, observed=observed,
                       update_H=True, w_iter=self.fresh_restarts_max_iter,
                       w_rtol=FRESH_RTOL, w_cold=True)
        self.components_ = H
        self.n_components_ = H.shape[0]
        self.n_steps_ += 1
        return self
