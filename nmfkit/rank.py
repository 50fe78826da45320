"""Automatic rank selection: NMFk.

:class:`NMFk` chooses the number of components of a non-negative matrix
factorization by its *stability*: for each candidate rank ``k`` it factorizes
many slightly perturbed copies of the data, aligns the ``k`` components of all
runs, and keeps the largest ``k`` whose components (and coefficients) are found
again by every run (Alexandrov & Vesselinov 2014; Vangara et al. 2021).
:class:`NMFkDisplay` plots the evidence.
"""

import inspect
import numbers
import os
import time
import warnings

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._core.align import align_runs, cluster_silhouettes
from .distributed import on_cluster

__all__ = ["NMFk", "NMFkDisplay"]

#: "well below the threshold" for early stopping: this far under it.
_EARLY_STOP_MARGIN = 0.2


def _default_estimator():
    """The base factorization used when ``estimator=None``: nmfkit's NMF."""
    try:
        from .decomposition import NMF
    except ImportError:  # pragma: no cover - only while the package is assembled
        from sklearn.decomposition import NMF
    return NMF(init="random", max_iter=500)


# --------------------------------------------------------------------------
# Work done for one (k, perturbation) pair -- runs in a joblib worker.
# --------------------------------------------------------------------------


def _perturb(X, epsilon, rng):
    """``X`` with every (stored) entry multiplied by an independent U(1-eps, 1+eps)."""
    if sp.issparse(X):
        Xp = X.copy()
        noise = rng.random(Xp.data.shape[0], dtype=np.float64)
        Xp.data *= (1.0 - epsilon + 2.0 * epsilon * noise).astype(X.dtype)
        return Xp
    noise = rng.random(X.shape, dtype=np.float64)
    return X * (1.0 - epsilon + 2.0 * epsilon * noise).astype(X.dtype)


def _fit_one(estimator, X, k, seed, epsilon, keep):
    """Fit ``estimator`` with ``k`` components to one perturbed copy of ``X``.

    Returns ``(W, H, n_iter, fitted estimator or None)``.
    """
    noise_seed, est_seed = seed.spawn(2)
    rng = np.random.default_rng(noise_seed)
    Xp = _perturb(X, epsilon, rng)
    est = clone(estimator).set_params(
        n_components=k, random_state=int(est_seed.generate_state(1)[0] >> 1)
    )
    W = est.fit_transform(Xp)
    H = est.components_
    n_iter = getattr(est, "n_iter_", -1)
    return np.asarray(W), np.asarray(H), n_iter, (est if keep else None)


def _fit_chunk(estimator, X, k, seeds, epsilon, first, parent_pid):
    """:func:`_fit_one` for several perturbations (one joblib task).

    ``first`` is the index of the first perturbation of the chunk; the fitted
    estimator of perturbation 0 is kept.
    """
    def fits():
        return [
            _fit_one(estimator, X, k, seed, epsilon, first + i == 0)
            for i, seed in enumerate(seeds)
        ]

    if os.getpid() != parent_pid:
        # a separate worker process: one BLAS thread, joblib runs one per core;
        # the fits' ConvergenceWarnings are summed up by NMFk in the parent
        with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fits()
    return fits()


# joblib >= 1.3 hands results out while later tasks run: the fits of rank
# k + 1 start while the last fits of rank k finish, instead of the workers
# idling at a barrier after every rank.
_GENERATOR = (
    {"return_as": "generator"}
    if "return_as" in inspect.signature(Parallel).parameters
    else {}
)


def _runs_by_rank(parallel, base, X, ks, n_perturbs, entropy, epsilon, parent,
                  n_jobs):
    """Yield ``(k, runs)`` rank by rank, the fits of all ranks in one stream.

    Every ``(k, perturbation)`` fit gets its own stream
    ``SeedSequence(entropy, spawn_key=(k, p))``. With a lazy joblib (results
    handed out in order while later tasks run) the workers never wait at the
    end of a rank; stopping the iteration early cancels the fits not started.
    """
    # four tasks per worker and rank: fewer dispatches (and pickles of X for
    # process workers) than one task per fit, balanced, and little work lost
    # when early stopping cancels the tasks dispatched ahead
    n_chunks = min(n_perturbs, 4 * max(n_jobs, 1))
    bounds = np.linspace(0, n_perturbs, n_chunks + 1).astype(int)

    def tasks(k):
        seeds = [np.random.SeedSequence(entropy, spawn_key=(int(k), p))
                 for p in range(n_perturbs)]
        return [
            delayed(_fit_chunk)(base, X, int(k), seeds[lo:hi], epsilon, lo, parent)
            for lo, hi in zip(bounds[:-1], bounds[1:])
        ]

    def flat(chunks):
        return [run for chunk in chunks for run in chunk]

    if not _GENERATOR:  # old joblib: one batch per rank
        for k in ks:
            yield k, flat(parallel(tasks(k)))
        return
    results = parallel(task for k in ks for task in tasks(k))
    try:
        for k in ks:
            yield k, flat(next(results) for _ in range(n_chunks))
    finally:
        with warnings.catch_warnings():
            # early stopping cancels the fits dispatched ahead: expected
            warnings.filterwarnings(
                "ignore", message=".*still being processed by the workers",
                category=UserWarning)
            results.close()


def _relative_errors(X, Ws, Hs, x_norm2):
    """``|X - W_r H_r|_F / |X|_F`` for each run, never densifying ``X``.

    Uses ``|X - WH|^2 = |X|^2 - 2 <W, X H^T> + <W^T W, H H^T>``; with NaN in a
    dense ``X`` only the observed entries count.
    """
    errs = np.empty(len(Ws))
    dense_nan = not sp.issparse(X) and np.isnan(X).any()
    for r, (W, H) in enumerate(zip(Ws, Hs)):
        W = W.astype(np.float64, copy=False)
        H = H.astype(np.float64, copy=False)
        if dense_nan:
            R = X - W @ H
            r2 = np.nansum(R * R)
        else:
            cross = np.sum(np.asarray(X @ H.T) * W)
            gram = np.sum((W.T @ W) * (H @ H.T))
            r2 = max(x_norm2 - 2.0 * cross + gram, 0.0)
        errs[r] = np.sqrt(r2 / x_norm2) if x_norm2 > 0 else np.sqrt(r2)
    return errs


def _aligned_medians(aligned):
    """Elementwise median of aligned components, each normalised first.

    The scale of a component is arbitrary (it trades with its coefficients),
    so every run's component is scaled to unit norm, the medians are taken,
    and the median is given back the median norm of its cluster.
    """
    norms = np.linalg.norm(aligned, axis=2)  # (n_runs, k)
    safe = np.where(norms > 0, norms, 1.0)
    med = np.median(aligned / safe[:, :, None], axis=0)
    med_norm = np.linalg.norm(med, axis=1)
    scale = np.median(norms, axis=0) / np.where(med_norm > 0, med_norm, 1.0)
    return med * scale[:, None]


class NMFk(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Non-negative matrix factorization with automatic rank selection.

    For every candidate rank ``k`` the base factorization is fitted to
    ``n_perturbs`` copies of ``X`` whose entries (the stored entries for a
    sparse ``X``) are multiplied by independent :math:`U(1-\epsilon,
    1+\epsilon)` noise. The ``k`` components of the runs are aligned (optimal
    one-to-one matching to the cluster centroids by cosine similarity,
    iterated until no assignment changes) and the silhouette of each of the
    ``k`` clusters is computed under the cosine distance, for the components
    ``H`` and, after the *same* alignment, for the coefficients ``W``. A rank
    whose components are reproducible has every cluster tight and apart from
    the others (silhouettes near 1); past the true rank, runs split or merge
    components differently and the smallest silhouette collapses.

    The chosen rank is the largest ``k`` whose minimum cluster silhouette
    reaches ``silhouette_threshold`` for both factors; if none does, the ``k``
    with the best minimum silhouette is taken, with a warning. The final
    components are the element-wise medians of the aligned clusters; the
    coefficients of any ``X`` are fitted with them fixed.

    Parameters
    ----------
    estimator : estimator object, default=None
        The base factorization: any estimator with an ``n_components`` and a
        ``random_state`` parameter, ``fit_transform`` returning the
        coefficients ``W`` and a ``components_`` attribute, whose
        ``transform`` fits ``W`` with ``components_`` fixed (every nmfkit
        factorization estimator, or :class:`sklearn.decomposition.NMF`).
        ``None`` means ``nmfkit.NMF(init="random", max_iter=500)``: random
        initialisations let the runs disagree when a rank is not supported
        by the data.
    n_components_range : array-like of int or range, default=(2, 3, ..., 10)
        The candidate ranks (scanned in increasing order), e.g. ``range(2, 21)``.
        (A tuple rather than ``range(2, 11)`` as default value, because
        scikit-learn requires default values of plain types.)
    n_perturbs : int, default=20
        Number of perturbed copies (runs) per candidate rank, at least 2.
    epsilon : float, default=0.015
        Half-width of the multiplicative noise, in ``(0, 1)``.
    silhouette_threshold : float, default=0.8
        Minimum cluster silhouette a rank needs, for both factors, to be
        accepted.
    early_stopping : bool, default=False
        Stop the scan once some rank has been accepted and the minimum
        silhouette of ``n_iter_no_change`` consecutive larger candidates lies
        more than 0.2 below ``silhouette_threshold``. Saves most of the time
        of a wide scan (the attributes then cover only the scanned
        candidates), but it is a heuristic: ranks *below* a large true rank
        can be unstable for several consecutive ``k`` too (different runs
        merge different pairs of components), so with true ranks of 10 or
        more it can stop too early; raise ``n_iter_no_change`` there.
    n_iter_no_change : int, default=3
        Patience of ``early_stopping``: how many consecutive candidates well
        below the threshold end the scan.
    n_jobs : int, default=None
        Number of perturbation fits run in parallel (joblib; ``None`` means 1
        unless in a :func:`joblib.parallel_config` context, ``-1`` all
        cores). With more than one job every fit uses one BLAS thread, so the
        cores are not oversubscribed. joblib's default backend runs the fits
        in worker processes: a fit is many small numpy operations, which
        threads would serialise on the GIL (on the arXiv scan of
        ``docs/nmfk.md`` threads were 1.3x slower, on small matrices up to
        2.8x); ``joblib.parallel_config(backend="threading")`` selects
        threads.
    random_state : int, RandomState instance or None, default=None
        Seeds an independent random stream for every ``(k, perturbation)``
        pair (its noise and the base estimator's ``random_state``), so that
        results do not depend on ``n_jobs`` and different ranks see different
        noise. Pass an int for reproducible results.
    verbose : int, default=0
        ``1`` prints one line per candidate rank; ``2`` or more also shows
        joblib's progress over the perturbation fits.

    Attributes
    ----------
    n_components_ : int
        The chosen rank.
    components_ : ndarray of shape (n_components_, n_features)
        Element-wise medians of the aligned components at the chosen rank.
    estimator_ : estimator object
        A fitted base estimator at the chosen rank whose ``components_`` are
        the medians; ``transform``, ``inverse_transform`` and ``score``
        delegate to it.
    n_components_range_ : ndarray of int of shape (n_candidates,)
        The candidate ranks that were fitted (fewer than asked with
        ``early_stopping`` or when some exceed ``min(n_samples, n_features)``).
    silhouettes_ : dict of ndarray of shape (n_candidates,)
        ``"components_min"``, ``"components_mean"``, ``"coefficients_min"``,
        ``"coefficients_mean"``: the minimum and the mean over the ``k``
        clusters of the cluster silhouettes of ``H`` and ``W``.
    errors_ : dict of ndarray of shape (n_candidates,)
        Relative reconstruction error :math:`\|X - W_r H_r\|_F / \|X\|_F` of the
        runs against the unperturbed ``X``: ``"mean"``, ``"std"``, ``"min"``,
        ``"max"`` over the runs.
    n_iter_ : ndarray of int of shape (n_candidates, n_perturbs)
        The base estimator's ``n_iter_`` for every run (-1 if it has none).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    NMFkDisplay : Plot silhouettes and errors against the rank.

    References
    ----------
    .. [1] B. S. Alexandrov and V. V. Vesselinov, "Blind source separation for
       groundwater pressure analysis based on nonnegative matrix
       factorization", Water Resources Research 50 (2014), 7332-7347.
    .. [2] R. Vangara, M. Bhattarai, E. Skau, G. Chennupati, H. Djidjev,
       T. Tierney, J. P. Smith, V. G. Stanev and B. S. Alexandrov, "Finding the
       number of latent topics with semantic non-negative matrix
       factorization", IEEE Access 9 (2021), 117217-117231.
    .. [3] P. J. Rousseeuw, "Silhouettes: a graphical aid to the
       interpretation and validation of cluster analysis", J. Comput. Appl.
       Math. 20 (1987), 53-65.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.rank import NMFk
    >>> rng = np.random.RandomState(0)
    >>> W = rng.exponential(size=(60, 3)) * (rng.rand(60, 3) < 0.5)
    >>> H = rng.exponential(size=(3, 40)) * (rng.rand(3, 40) < 0.4)
    >>> X = W @ H + 0.01 * rng.rand(60, 40)
    >>> model = NMFk(n_components_range=range(1, 7), n_perturbs=8, random_state=0)
    >>> model.fit(X).n_components_
    3
    >>> model.transform(X).shape
    (60, 3)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit_transform", "set_params"]), None],
        "n_components_range": ["array-like"],
        "n_perturbs": [Interval(numbers.Integral, 2, None, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, 1, closed="neither")],
        "silhouette_threshold": [Interval(numbers.Real, -1, 1, closed="both")],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        n_components_range=(2, 3, 4, 5, 6, 7, 8, 9, 10),
        *,
        n_perturbs=20,
        epsilon=0.015,
        silhouette_threshold=0.8,
        early_stopping=False,
        n_iter_no_change=3,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_components_range = n_components_range
        self.n_perturbs = n_perturbs
        self.epsilon = epsilon
        self.silhouette_threshold = silhouette_threshold
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ tags
    def _base(self):
        return _default_estimator() if self.estimator is None else self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        try:
            base_tags = self._base().__sklearn_tags__()
            tags.input_tags.allow_nan = base_tags.input_tags.allow_nan
        except AttributeError:  # pragma: no cover - not a scikit-learn estimator
            pass
        tags.input_tags.positive_only = True
        return tags

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    # ------------------------------------------------------------ validation
    def _candidate_ranks(self, n_samples, n_features):
        raw = self.n_components_range
        if isinstance(raw, (str, bytes)) or np.ndim(raw) != 1:
            raise ValueError(
                "n_components_range must be a 1-d sequence (e.g. a range or a "
                f"list) of positive integers; got {raw!r}."
            )
        ks = np.asarray(list(raw))
        if ks.size == 0:
            raise ValueError(
                f"n_components_range is empty ({raw!r}); give at least one rank."
            )
        if ks.dtype.kind == "f" and np.all(np.isfinite(ks)) and np.all(ks == np.round(ks)):
            ks = ks.astype(int)
        if ks.dtype.kind not in "iu" or np.any(ks < 1):
            raise ValueError(
                "n_components_range must hold positive integers; got "
                f"{list(raw)!r}."
            )
        ks = np.unique(ks.astype(int))
        limit = min(n_samples, n_features)
        too_big = ks[ks > limit]
        ks = ks[ks <= limit]
        if ks.size == 0:
            raise ValueError(
                "Every rank in n_components_range exceeds min(n_samples, "
                f"n_features) = {limit} (n_samples={n_samples}, "
                f"n_features={n_features}); give ranks of at most {limit}."
            )
        if too_big.size:
            warnings.warn(
                f"Ranks {too_big.tolist()} of n_components_range exceed "
                f"min(n_samples, n_features) = {limit} and are skipped.",
                UserWarning,
            )
        return ks

    def _validate_X(self, X, reset):
        allow_nan = self.__sklearn_tags__().input_tags.allow_nan
        X = validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if allow_nan else True,
        )
        data = X.data if sp.issparse(X) else X
        if data.size and np.nanmin(data) < 0:
            raise ValueError("Negative values in data passed to NMFk (input X).")
        return X

    # ------------------------------------------------------------------- fit
    def fit(self, X, y=None):
        """Choose the rank and fit the factorization at that rank.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data; never densified when sparse.
        y : Ignored

        Returns
        -------
        self : NMFk
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit, then return the coefficients ``W`` of ``X`` at the chosen rank.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        W : ndarray of shape (n_samples, n_components_)
        """
        X = self._fit(X)
        return self.estimator_.transform(X)

    def _fit(self, X):
        self._validate_params()
        base = self._base()
        params = base.get_params()
        for name in ("n_components", "random_state"):
            if name not in params:
                raise ValueError(
                    f"The estimator {base!r} has no {name!r} parameter; NMFk "
                    "needs a factorization estimator with n_components and "
                    "random_state."
                )
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        ks = self._candidate_ranks(n_samples, n_features)

        rng = check_random_state(self.random_state)
        entropy = [int(v) for v in rng.randint(0, 2**31 - 1, size=4)]
        P = self.n_perturbs
        if sp.issparse(X):
            x_norm2 = float(np.dot(X.data.astype(np.float64), X.data))
        else:
            x_norm2 = float(np.nansum(X.astype(np.float64) ** 2))

        n_jobs = effective_n_jobs(self.n_jobs)
        parent = os.getpid()
        stats = {
            key: []
            for key in (
                "components_min",
                "components_mean",
                "coefficients_min",
                "coefficients_mean",
                "err_mean",
                "err_std",
                "err_min",
                "err_max",
            )
        }
        n_iters, medians, kept, scanned = [], [], [], []
        accepted_any, n_bad = False, 0
        limits = (
            threadpool_limits(limits=1, user_api="blas") if n_jobs > 1 else None
        )
        try:
            with warnings.catch_warnings(), Parallel(
                n_jobs=self.n_jobs, verbose=max(self.verbose - 1, 0) * 5,
                # one task ahead per worker: no idle worker, little work thrown
                # away when early stopping ends the scan
                pre_dispatch="n_jobs", **_GENERATOR,
            ) as parallel:
                # one summary after the scan instead of a warning per fit
                warnings.simplefilter("ignore", ConvergenceWarning)
                tic = time.perf_counter()
                for k, runs in _runs_by_rank(parallel, base, on_cluster(X), ks,
                                             P, entropy,
                                             self.epsilon, parent, n_jobs):
                    Ws = [r[0] for r in runs]
                    Hs = np.stack([r[1] for r in runs])
                    perms, _ = align_runs(Hs)
                    H_al = np.take_along_axis(Hs, perms[:, :, None], axis=1)
                    W_al = np.take_along_axis(
                        np.stack([W.T for W in Ws]), perms[:, :, None], axis=1
                    )
                    sil_h = cluster_silhouettes(H_al)
                    sil_w = cluster_silhouettes(W_al)
                    errs = _relative_errors(X, Ws, Hs, x_norm2)
                    stats["components_min"].append(sil_h.min())
                    stats["components_mean"].append(sil_h.mean())
                    stats["coefficients_min"].append(sil_w.min())
                    stats["coefficients_mean"].append(sil_w.mean())
                    stats["err_mean"].append(errs.mean())
                    stats["err_std"].append(errs.std())
                    stats["err_min"].append(errs.min())
                    stats["err_max"].append(errs.max())
                    n_iters.append([r[2] for r in runs])
                    medians.append(_aligned_medians(H_al).astype(X.dtype))
                    kept.append(runs[0][3])
                    scanned.append(int(k))
                    worst = min(sil_h.min(), sil_w.min())
                    if self.verbose:
                        print(
                            f"[NMFk] k={k}: silhouette min H={sil_h.min():.3f} "
                            f"W={sil_w.min():.3f}, mean H={sil_h.mean():.3f} "
                            f"W={sil_w.mean():.3f}; relative error "
                            f"{errs.mean():.4f} +- {errs.std():.4f} "
                            f"({time.perf_counter() - tic:.2f} s since the "
                            "previous rank)"
                        )
                    tic = time.perf_counter()
                    if worst >= self.silhouette_threshold:
                        accepted_any, n_bad = True, 0
                    elif worst < self.silhouette_threshold - _EARLY_STOP_MARGIN:
                        n_bad += 1
                    else:
                        n_bad = 0
                    if (
                        self.early_stopping
                        and accepted_any
                        and n_bad >= self.n_iter_no_change
                    ):
                        if self.verbose:
                            print(f"[NMFk] early stopping after k={k}")
                        break
        finally:
            if limits is not None:
                limits.restore_original_limits()

        self.n_components_range_ = np.asarray(scanned)
        self.silhouettes_ = {
            key: np.asarray(stats[key])
            for key in (
                "components_min",
                "components_mean",
                "coefficients_min",
                "coefficients_mean",
            )
        }
        self.errors_ = {
            key: np.asarray(stats["err_" + key]) for key in ("mean", "std", "min", "max")
        }
        self.n_iter_ = np.asarray(n_iters, dtype=int)
        self._warn_unconverged(params.get("max_iter"))

        worst = np.minimum(
            self.silhouettes_["components_min"], self.silhouettes_["coefficients_min"]
        )
        ok = np.flatnonzero(worst >= self.silhouette_threshold)
        if ok.size:
            best = ok[-1]
        else:
            best = int(np.argmax(worst))
            warnings.warn(
                "No rank of n_components_range reached silhouette_threshold="
                f"{self.silhouette_threshold} for both factors (best minimum "
                f"silhouette {worst[best]:.3f} at k={scanned[best]}); choosing "
                f"k={scanned[best]}. Consider smaller ranks, a lower threshold "
                "or more data.",
                UserWarning,
            )
        self.n_components_ = scanned[best]
        self.components_ = medians[best]
        est = kept[best]
        est.components_ = self.components_
        self.estimator_ = est
        return X

    def _warn_unconverged(self, max_iter):
        """One ConvergenceWarning for the runs that stopped at ``max_iter``."""
        if not isinstance(max_iter, numbers.Integral) or max_iter <= 0:
            return
        stuck = self.n_iter_ >= max_iter
        if not stuck.any():
            return
        where = ", ".join(
            f"k={k}: {n}" for k, n in zip(self.n_components_range_, stuck.sum(axis=1))
            if n
        )
        warnings.warn(
            f"{int(stuck.sum())} of {stuck.size} perturbation fits stopped at the "
            f"estimator's max_iter={max_iter} before meeting its tol ({where}); "
            "n_iter_ has every run's count. Increase the estimator's max_iter if "
            "the ranks concerned matter.",
            ConvergenceWarning,
        )

    # ------------------------------------------------------------- transform
    def transform(self, X):
        """Coefficients ``W`` of ``X`` with the chosen components fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        W : ndarray of shape (n_samples, n_components_)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self.estimator_.transform(X)

    def inverse_transform(self, X):
        """Map coefficients back to data space: ``X W H``-style reconstruction.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_components_)
            Coefficients ``W``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            ``W @ components_``.
        """
        check_is_fitted(self)
        return self.estimator_.inverse_transform(X)

    def _base_has_score(self):
        return hasattr(self._base(), "score")

    @available_if(_base_has_score)
    def score(self, X, y=None):
        """The base estimator's score of ``X`` at the chosen rank.

        For nmfkit's NMF this is a held-out-entry (bi-cross-validation)
        score; larger is better.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self.estimator_.score(X)


class NMFkDisplay:
    """Silhouettes and relative error of an :class:`NMFk` scan against the rank.

    Create it with :meth:`from_estimator`; it needs matplotlib (``pip install
    nmfkit[plot]``).

    Parameters
    ----------
    n_components : ndarray of int
        The candidate ranks.
    silhouettes : dict of ndarray
        As :attr:`NMFk.silhouettes_`.
    errors : dict of ndarray
        As :attr:`NMFk.errors_`.
    chosen : int
        The chosen rank.
    threshold : float
        The silhouette threshold.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The silhouette axes.
    error_ax_ : matplotlib Axes
        The twin axes holding the relative error.
    figure_ : matplotlib Figure
    lines_ : dict of matplotlib artists
        ``"components_min"``, ``"components_mean"``, ``"coefficients_min"``,
        ``"coefficients_mean"``, ``"error"``, ``"threshold"``, ``"chosen"``.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from nmfkit.rank import NMFk, NMFkDisplay
    >>> X = np.random.RandomState(0).rand(30, 12)
    >>> model = NMFk(n_components_range=[1, 2, 3], n_perturbs=3, random_state=0)
    >>> display = NMFkDisplay.from_estimator(model.fit(X))
    >>> int(display.lines_["chosen"].get_xdata()[0]) == model.n_components_
    True
    """

    def __init__(self, n_components, silhouettes, errors, chosen, threshold):
        self.n_components = n_components
        self.silhouettes = silhouettes
        self.errors = errors
        self.chosen = chosen
        self.threshold = threshold

    @classmethod
    def from_estimator(cls, nmfk, ax=None):
        """Plot the scan of a fitted :class:`NMFk`.

        Parameters
        ----------
        nmfk : NMFk
            A fitted instance.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when ``None``.

        Returns
        -------
        display : NMFkDisplay
        """
        check_is_fitted(nmfk)
        display = cls(
            n_components=nmfk.n_components_range_,
            silhouettes=nmfk.silhouettes_,
            errors=nmfk.errors_,
            chosen=nmfk.n_components_,
            threshold=nmfk.silhouette_threshold,
        )
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the silhouettes (left axis) and the relative error (right).

        Parameters
        ----------
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : NMFkDisplay
            ``self``, with ``ax_``, ``error_ax_``, ``figure_`` and ``lines_``.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "NMFkDisplay needs matplotlib; install it with "
                "`pip install nmfkit[plot]` (or `pip install matplotlib`)."
            ) from exc
        if ax is None:
            _, ax = plt.subplots()
        k = np.asarray(self.n_components)
        s = self.silhouettes
        lines = {}
        (lines["components_min"],) = ax.plot(
            k, s["components_min"], "o-", color="C0", label="components, min"
        )
        (lines["components_mean"],) = ax.plot(
            k, s["components_mean"], "o--", color="C0", alpha=0.5,
            label="components, mean",
        )
        (lines["coefficients_min"],) = ax.plot(
            k, s["coefficients_min"], "s-", color="C1", label="coefficients, min"
        )
        (lines["coefficients_mean"],) = ax.plot(
            k, s["coefficients_mean"], "s--", color="C1", alpha=0.5,
            label="coefficients, mean",
        )
        lines["threshold"] = ax.axhline(
            self.threshold, color="gray", lw=0.8, ls=":", label="threshold"
        )
        lines["chosen"] = ax.axvline(
            self.chosen, color="k", lw=1.0, ls="-.", label=f"chosen k={self.chosen}"
        )
        ax.set_xlabel("number of components k")
        ax.set_ylabel("silhouette (cosine)")
        ax.set_ylim(min(-0.05, float(np.nanmin([np.min(v) for v in s.values()])) - 0.05), 1.05)
        ax2 = ax.twinx()
        lines["error"] = ax2.errorbar(
            k, self.errors["mean"], yerr=self.errors["std"], color="C2",
            marker="^", label="relative error",
        )
        ax2.set_ylabel("relative reconstruction error", color="C2")
        handles = [lines[n] for n in (
            "components_min", "components_mean", "coefficients_min",
            "coefficients_mean", "threshold", "chosen",
        )] + [lines["error"]]
        ax.legend(handles=handles, loc="best", fontsize="small")
        self.ax_ = ax
        self.error_ax_ = ax2
        self.figure_ = ax.figure
        self.lines_ = lines
        return self
