"""Automatic rank selection: NMFk.

:class:`NMFk` chooses the number of components of a non-negative matrix
factorization by its *stability*: for each candidate rank ``k`` it factorizes
many slightly perturbed copies of the data, aligns the ``k`` components of all
runs, and measures how reproducible they are (Alexandrov & Vesselinov 2014;
Vangara et al. 2021). Several criteria are computed from the same runs --
silhouettes of the components and coefficients (minimum, mean, low
quantile), the consensus matrix of the samples with its cophenetic
correlation (Brunet et al. 2004) and dispersion (Kim & Park 2007), the
base estimator's held-out score -- and ``selection`` names the rule that
picks the rank. :class:`NMFkDisplay` plots every criterion.
"""

import inspect
import numbers
import os
import time
import warnings

import numpy as np
import scipy.sparse as sp
from joblib import Memory, Parallel, delayed, effective_n_jobs
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._core.align import align_runs, cluster_silhouettes
from ._core.consensus import (
    assign_samples,
    consensus_matrix,
    cophenetic_correlation,
    dispersion,
    member_silhouettes,
)
from ._validation import check_coefficients, check_nonnegative, check_observed
from .distributed import on_cluster

__all__ = ["NMFk", "NMFkDisplay", "SELECTION_RULES"]

#: "well below the threshold" for early stopping: this far under it.
_EARLY_STOP_MARGIN = 0.2

#: The quantile of the member silhouettes behind ``selection="quantile"``.
_SILHOUETTE_QUANTILE = 0.1

#: At most this many samples (rows) enter the consensus matrix (a fixed
#: random subset beyond): the matrix and its average-linkage tree grow as the
#: square of the rows.
_CONSENSUS_MAX_SAMPLES = 1000

#: The held-out score is measured on the first runs of every rank only: it
#: costs a masked fit of the coefficients per run, which for nmfkit's NMF
#: took longer than the fit itself (0.57 s against 0.34 s on an 80 x 60
#: matrix); with 2 of 20 runs a default scan costs about 15% more.
_N_SCORED_RUNS = 2

#: A fall of the cophenetic correlation / dispersion smaller than this is
#: not a fall (``selection="cophenetic"`` / ``"dispersion"``).
_CONSENSUS_DROP = 0.005

#: ``selection="heldout"``: the smallest k whose held-out score is within
#: this fraction of the scan's score range from the best score. The score of
#: a base estimator fits its components on every entry, the hidden ones
#: included, so past the true rank it keeps creeping up by tiny amounts; its
#: maximum overshoots, its elbow does not.
_HELDOUT_TOLERANCE = 0.05

#: Start values that give the same start for every run; NMFk replaces them
#: by ``"random"`` (``vary_init=True``).
_DETERMINISTIC_INITS = (None, "nndsvd", "nndsvda", "nndsvdar", "vca", "svd")

#: The rules of ``NMFk(selection=...)`` (see the NMFk docstring).
SELECTION_RULES = (
    "minimum", "mean", "quantile", "components", "cophenetic", "dispersion",
    "heldout", "combined",
)

#: The rules whose vote makes ``"combined"``.
_COMBINED_RULES = ("mean", "quantile", "components", "cophenetic", "dispersion",
                   "heldout")


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


def _symmetric_noise(rows, cols, n, rng):
    """One noise value per unordered pair ``{i, j}``: the same for (i, j) and (j, i)."""
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    keys = lo.astype(np.int64) * n + hi
    uniq, inverse = np.unique(keys, return_inverse=True)
    return rng.random(uniq.shape[0], dtype=np.float64)[inverse.ravel()]


def _perturb(X, epsilon, rng, symmetric=False):
    """``X`` with every non-zero entry multiplied by an independent U(1-eps, 1+eps).

    The draws go to the non-zero entries in row-major order, dense or sparse
    alike, so a sparse ``X`` and its dense form get the same perturbations
    (and NMFk the same answer); zeros stay zero either way. With
    ``symmetric`` (a square pairwise ``X``, e.g. a graph's adjacency matrix)
    both entries of a pair ``{i, j}`` get the same factor, so the copy stays
    symmetric.
    """
    def factors(rows, cols, size):
        if symmetric:
            noise = _symmetric_noise(rows, cols, X.shape[0], rng)
        else:
            noise = rng.random(size, dtype=np.float64)
        return (1.0 - epsilon + 2.0 * epsilon * noise).astype(X.dtype)

    if sp.issparse(X):
        Xp = sp.csr_matrix(X, copy=True)
        Xp.sum_duplicates()  # also sorts the indices: row-major order
        Xp.eliminate_zeros()
        rows = np.repeat(np.arange(Xp.shape[0]), np.diff(Xp.indptr))
        Xp.data *= factors(rows, Xp.indices, Xp.nnz)
        return Xp.asformat(X.format)
    Xp = np.array(X, order="C", copy=True)
    flat = Xp.reshape(-1)
    idx = np.flatnonzero(flat)
    rows, cols = np.divmod(idx, X.shape[1]) if X.shape[1] else (idx, idx)
    flat[idx] *= factors(rows, cols, idx.size)
    return Xp


def _fit_one(estimator, X, k, seed, epsilon, keep, score, symmetric):
    """Fit ``estimator`` with ``k`` components to one perturbed copy of ``X``.

    Returns ``(W, H, n_iter, fitted estimator or None, held-out score or nan)``;
    the score (with ``score``) is the fitted estimator's ``score`` of the
    unperturbed ``X``.
    """
    noise_seed, est_seed = seed.spawn(2)
    rng = np.random.default_rng(noise_seed)
    Xp = _perturb(X, epsilon, rng, symmetric)
    est = clone(estimator).set_params(
        n_components=k, random_state=int(est_seed.generate_state(1)[0] >> 1)
    )
    W = est.fit_transform(Xp)
    H = est.components_
    n_iter = getattr(est, "n_iter_", -1)
    value = np.nan
    if score:
        value = float(est.score(X))
    return np.asarray(W), np.asarray(H), n_iter, (est if keep else None), value


def _fit_chunk(estimator, X, k, seeds, epsilon, first, symmetric, scored_runs,
               parent_pid):
    """:func:`_fit_one` for several perturbations (one joblib task).

    ``first`` is the index of the first perturbation of the chunk; the fitted
    estimator of perturbation 0 is kept, the runs below ``scored_runs`` are
    scored. This is the function ``NMFk(memory=...)`` caches (``parent_pid``
    is left out of the cache key).
    """
    def fits():
        return [
            _fit_one(estimator, X, k, seed, epsilon, first + i == 0,
                     first + i < scored_runs, symmetric)
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


def _runs_by_rank(parallel, fit_chunk, base, X, ks, n_perturbs, entropy, epsilon,
                  parent, n_jobs, symmetric, scored_runs, on_chunk):
    """Yield ``(k, runs)`` rank by rank, the fits of all ranks in one stream.

    Every ``(k, perturbation)`` fit gets its own stream
    ``SeedSequence(entropy, spawn_key=(k, p))``. With a lazy joblib (results
    handed out in order while later tasks run) the workers never wait at the
    end of a rank; stopping the iteration early cancels the fits not started.
    ``on_chunk(n_fits)`` is called as each task's fits come back.
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
            delayed(fit_chunk)(base, X, int(k), seeds[lo:hi], epsilon, int(lo),
                               symmetric, scored_runs, parent)
            for lo, hi in zip(bounds[:-1], bounds[1:])
        ]

    def collect(chunks):
        runs = []
        for chunk in chunks:
            runs.extend(chunk)
            on_chunk(len(chunk))
        return runs

    if not _GENERATOR:  # old joblib: one batch per rank
        for k in ks:
            yield k, collect(parallel(tasks(k)))
        return
    results = parallel(task for k in ks for task in tasks(k))
    try:
        for k in ks:
            yield k, collect(next(results) for _ in range(n_chunks))
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


def _rank_criteria(runs, X, x_norm2, sample_idx):
    """Every criterion of one rank from its runs, plus the medians."""
    Ws = [r[0] for r in runs]
    Hs = np.stack([r[1] for r in runs])
    perms, _ = align_runs(Hs)
    H_al = np.take_along_axis(Hs, perms[:, :, None], axis=1)
    W_al = np.take_along_axis(np.stack([W.T for W in Ws]), perms[:, :, None], axis=1)
    sil_h = cluster_silhouettes(H_al)
    sil_w = cluster_silhouettes(W_al)
    q_h = float(np.quantile(member_silhouettes(H_al), _SILHOUETTE_QUANTILE))
    q_w = float(np.quantile(member_silhouettes(W_al), _SILHOUETTE_QUANTILE))
    labels = np.stack([assign_samples(W[sample_idx]) for W in Ws])
    C = consensus_matrix(labels)
    errs = _relative_errors(X, Ws, Hs, x_norm2)
    scores = np.array([r[4] for r in runs], dtype=float)
    scores = scores[np.isfinite(scores)]
    crit = {
        "components_min": sil_h.min(), "components_mean": sil_h.mean(),
        "components_quantile": q_h,
        "coefficients_min": sil_w.min(), "coefficients_mean": sil_w.mean(),
        "coefficients_quantile": q_w,
        "cophenetic": cophenetic_correlation(C), "dispersion": dispersion(C),
        "heldout": float(scores.mean()) if scores.size else np.nan,
        "err_mean": errs.mean(), "err_std": errs.std(), "err_min": errs.min(),
        "err_max": errs.max(),
    }
    return crit, _aligned_medians(H_al)


def _last_before_first_fall(values):
    """Index of the candidate just before the curve first falls.

    Brunet et al.'s reading of the cophenetic correlation: the rank is where
    the curve begins to fall. A fall of at most ``_CONSENSUS_DROP`` does not
    count; with none, the last candidate.
    """
    v = np.asarray(values, dtype=float)
    falls = np.flatnonzero(v[:-1] - v[1:] > _CONSENSUS_DROP)
    return int(falls[0]) if falls.size else v.size - 1


def _heldout_elbow(values):
    """Smallest candidate within ``_HELDOUT_TOLERANCE`` of the best score."""
    h = np.asarray(values, dtype=float)
    finite = np.isfinite(h)
    best, worst = np.max(h[finite]), np.min(h[finite])
    near = finite & (h >= best - _HELDOUT_TOLERANCE * (best - worst))
    return int(np.flatnonzero(near)[0])


def _rule_statistic(c, rule):
    """The silhouette statistic a threshold rule compares to the threshold."""
    return {
        "minimum": lambda: np.minimum(c["components_min"], c["coefficients_min"]),
        "mean": lambda: np.minimum(c["components_mean"], c["coefficients_mean"]),
        "quantile": lambda: np.minimum(c["components_quantile"],
                                       c["coefficients_quantile"]),
        "components": lambda: np.asarray(c["components_min"]),
    }[rule]()


def _secondary_statistic(c, rule):
    """What the secondary rule maximises when no rank passes ``rule``."""
    if rule == "components":
        return np.asarray(c["components_mean"])
    return np.minimum(c["components_mean"], c["coefficients_mean"])


_SECONDARY_DESCRIPTION = {
    "minimum": "the smaller of the two factors' mean silhouettes",
    "mean": "the smaller of the two factors' mean silhouettes",
    "quantile": "the smaller of the two factors' mean silhouettes",
    "components": "the components' mean silhouette",
}


def select_rank(criteria, rule, threshold, ks=None):
    """Apply one selection rule to the criteria of a scan.

    Parameters
    ----------
    criteria : dict of ndarray of shape (n_candidates,)
        As :attr:`NMFk.criteria_`.
    rule : str
        One of :data:`SELECTION_RULES`.
    threshold : float
        The silhouette threshold of the threshold rules.
    ks : array-like of int, default=None
        The candidate ranks; a rank-1 candidate is left out of the
        consensus rules (one cluster: its consensus is trivially perfect).

    Returns
    -------
    index : int
        Index of the chosen candidate.
    decided_by : str
        ``rule``, or ``"<rule> -> secondary: highest mean silhouette"`` when no
        candidate passed the threshold, ``"combined: median of ..."``.
    passed : bool
        Whether the rule itself decided (``False``: the secondary rule did).
    """
    c = criteria
    if rule == "combined":
        picks = []
        for r in _COMBINED_RULES:
            if r == "heldout" and not np.any(np.isfinite(c["heldout"])):
                continue
            picks.append(select_rank(c, r, threshold, ks)[0])
        # the lower median of the votes
        idx = int(np.sort(picks)[(len(picks) - 1) // 2])
        return idx, "combined", True
    if rule in ("cophenetic", "dispersion"):
        start = 0
        if ks is not None and len(ks) > 1 and ks[0] == 1:
            start = 1
        return start + _last_before_first_fall(c[rule][start:]), rule, True
    if rule == "heldout":
        return _heldout_elbow(c["heldout"]), rule, True
    stat = _rule_statistic(c, rule)
    ok = np.flatnonzero(stat >= threshold)
    if ok.size:
        return int(ok[-1]), rule, True
    mean = _secondary_statistic(c, rule)
    best = np.flatnonzero(mean >= mean.max() - 1e-12)[0]
    return int(best), f"{rule} -> secondary: highest mean silhouette", False


def _check_memory(memory):
    """A usable :class:`joblib.Memory` (or ``None``) from ``memory``; fails early.

    A path is created if needed and written to once, so an unusable one
    (a file, a read-only folder) gets a ``ValueError`` before any fit.
    """
    if memory is None:
        return None
    if isinstance(memory, (str, os.PathLike)):
        location = os.fspath(memory)
        try:
            memory = Memory(location, verbose=0)
        except OSError as exc:
            raise ValueError(
                f"memory={location!r} cannot be used as a cache folder ({exc}); "
                "give a writable folder, a joblib.Memory or None."
            ) from exc
    elif isinstance(memory, Memory) or (
        hasattr(memory, "cache") and hasattr(memory, "location")
    ):
        location = memory.location
    else:
        raise ValueError(
            "memory must be None, a path (str) or a joblib.Memory; got "
            f"{memory!r}."
        )
    if location is None:
        return None
    location = os.fspath(location)
    try:
        os.makedirs(location, exist_ok=True)
        probe = os.path.join(location, f".nmfk-write-test-{os.getpid()}")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise ValueError(
            f"memory={location!r} cannot be used as a cache folder ({exc}); "
            "give a writable folder, a joblib.Memory or None."
        ) from exc
    return memory


class _Progress:
    """Progress of a scan: "rank i of n", fits done, elapsed, time left.

    A tqdm bar over the fits when tqdm is importable (never required), and
    one line per finished rank.
    """

    def __init__(self, n_ranks, n_perturbs, verbose):
        self.n_ranks = n_ranks
        self.n_perturbs = n_perturbs
        self.total = n_ranks * n_perturbs
        self.verbose = verbose
        self.done = 0
        self.start = time.perf_counter()
        self.bar = None
        if verbose:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=self.total, unit="fit", desc="NMFk",
                                leave=False)

    def fits_done(self, n):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def elapsed(self):
        return time.perf_counter() - self.start

    def left(self):
        if not self.done:
            return float("nan")
        return self.elapsed() / self.done * (self.total - self.done)

    def rank_done(self, i, k, crit):
        if not self.verbose:
            return
        left = self.left()
        line = (
            f"[NMFk] rank {i} of {self.n_ranks} (k={k}) done: fits "
            f"{self.done}/{self.total}, elapsed {self.elapsed():.1f} s, about "
            f"{left:.1f} s left | k={k}: silhouette min H="
            f"{crit['components_min']:.3f} W={crit['coefficients_min']:.3f}, mean "
            f"H={crit['components_mean']:.3f} W={crit['coefficients_mean']:.3f}, "
            f"cophenetic {crit['cophenetic']:.3f}, dispersion "
            f"{crit['dispersion']:.3f}, relative error {crit['err_mean']:.4f}"
        )
        if np.isfinite(crit["heldout"]):
            line += f", held-out score {crit['heldout']:.4g}"
        self.write(line)

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class NMFk(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Non-negative matrix factorization with automatic rank selection.

    For every candidate rank ``k`` the base factorization is fitted to
    ``n_perturbs`` copies of ``X`` whose entries (the stored entries for a
    sparse ``X``) are multiplied by independent :math:`U(1-\epsilon,
    1+\epsilon)` noise, each run from its own random start. The ``k``
    components of the runs are aligned (optimal one-to-one matching to the
    cluster centroids by cosine similarity, iterated until no assignment
    changes). From these runs, in one scan, NMFk computes every criterion of
    :attr:`criteria_`:

    * the silhouettes (cosine distance) of the ``k`` clusters of components
      ``H`` and, after the *same* alignment, of coefficients ``W``: their
      minimum and mean over the clusters, and the 10% quantile over all
      ``n_perturbs * k`` members;
    * the consensus matrix of the samples (each run assigns a sample to its
      largest coefficient; Brunet et al. 2004), its cophenetic correlation
      and its dispersion (Kim & Park 2007);
    * the base estimator's held-out score (its ``score`` of the unperturbed
      ``X``, averaged over the first 2 runs) when it has a ``score``;
    * the relative reconstruction error.

    ``selection`` names the rule that turns them into a rank:

    ``"minimum"``
        The largest ``k`` whose *minimum* cluster silhouette reaches
        ``silhouette_threshold`` for both factors (NMFk's historical rule).
    ``"mean"``
        The largest ``k`` whose *mean* cluster silhouette reaches the
        threshold for both factors.
    ``"quantile"``
        The largest ``k`` whose 10% quantile of member silhouettes reaches
        the threshold for both factors.
    ``"components"``
        The largest ``k`` whose minimum silhouette of the components ``H``
        alone reaches the threshold: topic models, whose document weights
        are less reproducible than their topics.
    ``"cophenetic"`` / ``"dispersion"``
        The ``k`` just before the cophenetic correlation (or the dispersion)
        first falls by more than 0.005 between consecutive candidates, where
        the curve "begins to fall" (Brunet et al.); the largest ``k`` if it
        never does. A rank-1 candidate is left out (one cluster: its
        consensus is trivially perfect).
    ``"heldout"``
        The smallest ``k`` whose held-out score comes within 5% of the
        scan's score range from the best score (only with a base estimator
        that has a ``score``). Not the best score itself: the base
        estimator's components are fitted on every entry, the hidden ones
        included, so past the true rank the score creeps up by tiny amounts.
    ``"combined"`` (default)
        The lower median of the picks of ``"mean"``, ``"quantile"``,
        ``"components"``, ``"cophenetic"``, ``"dispersion"`` and, when
        available, ``"heldout"``.

    The default is the rule with the best hit rate over the whole benchmark
    ``benchmarks/bench_rank.py`` (13 cases: planted dense, sparse and tensor
    data, generated corpora, arXiv abstracts, the Samson scene; see
    ``docs/rank_selection.md``), not tuned to any one case: ``"combined"``
    hits 12 of 13; ``"minimum"``, ``"quantile"``, ``"components"`` and
    ``"heldout"`` 11, ``"dispersion"`` 9, ``"mean"`` and ``"cophenetic"`` 8.

    **When no rank passes** the threshold of a threshold rule, the secondary
    rule decides, with a warning that gives the numbers: the ``k`` with the
    highest mean silhouette (the smaller of the two factors' means; the
    components' mean for ``"components"``), the smaller ``k`` on ties.
    :attr:`decided_by_` says which rule decided. The smallest rank is never
    taken silently.

    **Varied starts.** Stability is only measured if the runs can disagree.
    With ``vary_init=True`` (default) a base estimator whose ``init`` gives
    the same start every time (``None``, NNDSVD variants, VCA, SVD) is run
    with ``init="random"`` instead, seeded per run; :attr:`run_params_` lists
    what was changed.

    **Graphs.** When the base estimator declares pairwise input
    (``__sklearn_tags__().input_tags.pairwise``, e.g. a symmetric NMF of an
    adjacency matrix), the perturbation multiplies the upper triangle and
    mirrors it, so every perturbed copy stays symmetric (dense or sparse).

    **Long scans.** ``verbose=1`` shows the rank being scanned ("rank i of
    n"), fits done, elapsed and estimated time left (with a tqdm bar when
    tqdm is installed). Interrupting a scan (Ctrl-C, ``KeyboardInterrupt``)
    after at least one rank has finished ends it with a warning: the
    estimator is fitted on the finished ranks and :attr:`interrupted_` is
    ``True``. With ``memory`` every task's fits are cached on disk, so a
    rerun with the same data and parameters fits nothing for the ranks
    already done (and an interrupted scan resumes where it stopped).

    The final components are the element-wise medians of the aligned
    clusters at the chosen rank; the coefficients of any ``X`` are fitted
    with them fixed.

    Parameters
    ----------
    estimator : estimator object, default=None
        The base factorization: any estimator with an ``n_components`` and a
        ``random_state`` parameter, ``fit_transform`` returning the
        coefficients ``W`` and a ``components_`` attribute, whose
        ``transform`` fits ``W`` with ``components_`` fixed (every nmfkit
        factorization estimator, or :class:`sklearn.decomposition.NMF`).
        ``None`` means ``nmfkit.NMF(init="random", max_iter=500)``.
    n_components_range : array-like of int or range, default=(2, 3, ..., 10)
        The candidate ranks (scanned in increasing order), e.g. ``range(2, 21)``.
        (A tuple rather than ``range(2, 11)`` as default value, because
        scikit-learn requires default values of plain types.)
    n_perturbs : int, default=20
        Number of perturbed copies (runs) per candidate rank, at least 2.
    epsilon : float, default=0.015
        Half-width of the multiplicative noise, in ``(0, 1)``.
    selection : {"minimum", "mean", "quantile", "components", "cophenetic", \
            "dispersion", "heldout", "combined"}, default="combined"
        The rule that picks the rank (above). :attr:`picks_` holds every
        rule's pick of the same scan.
    silhouette_threshold : float, default=0.8
        The silhouette a rank needs under the threshold rules.
    vary_init : bool, default=True
        Replace a deterministic ``init`` of the base estimator by
        ``"random"`` (above).
    memory : str, path or joblib.Memory, default=None
        Cache of the fits (as :class:`~sklearn.pipeline.Pipeline`'s
        ``memory``): a folder or a :class:`joblib.Memory`. ``None``: no
        cache. A folder that cannot be written raises ``ValueError`` before
        any fit.
    early_stopping : bool, default=False
        Stop the scan once some rank has been accepted and the minimum
        silhouette of ``n_iter_no_change`` consecutive larger candidates lies
        more than 0.2 below ``silhouette_threshold``. Saves most of the time
        of a wide scan (the attributes then cover only the scanned
        candidates), but it is a heuristic: ranks *below* a large true rank
        can be unstable for several consecutive ``k`` too, so with true ranks
        of 10 or more it can stop too early; raise ``n_iter_no_change``.
    n_iter_no_change : int, default=3
        Patience of ``early_stopping``.
    n_jobs : int, default=None
        Number of perturbation fits run in parallel (joblib; ``None`` means 1
        unless in a :func:`joblib.parallel_config` context, ``-1`` all
        cores). With more than one job every fit uses one BLAS thread.
        joblib's default backend runs the fits in worker processes: a fit is
        many small numpy operations, which threads would serialise on the
        GIL (on the arXiv scan of ``docs/nmfk.md`` threads were 1.3x slower,
        on small matrices up to 2.8x);
        ``joblib.parallel_config(backend="threading")`` selects threads.
    random_state : int, RandomState instance or None, default=None
        Seeds an independent random stream for every ``(k, perturbation)``
        pair (its noise and the base estimator's ``random_state``), so that
        results do not depend on ``n_jobs``. Pass an int for reproducible
        results (and for ``memory`` to find its cached fits).
    verbose : int, default=0
        ``1`` shows the progress (above) and one line per finished rank;
        ``2`` or more also joblib's messages.

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
        ``early_stopping``, an interruption, or when some exceed
        ``min(n_samples, n_features)``).
    criteria_ : dict of ndarray of shape (n_candidates,)
        Every criterion per candidate: ``"components_min"``,
        ``"components_mean"``, ``"components_quantile"``,
        ``"coefficients_min"``, ``"coefficients_mean"``,
        ``"coefficients_quantile"`` (silhouettes), ``"cophenetic"``,
        ``"dispersion"``, ``"heldout"`` (NaN without a base ``score``) and
        ``"error"`` (mean relative error).
    silhouettes_ : dict of ndarray of shape (n_candidates,)
        The six silhouette entries of ``criteria_``.
    errors_ : dict of ndarray of shape (n_candidates,)
        Relative reconstruction error :math:`\|X - W_r H_r\|_F / \|X\|_F` of the
        runs against the unperturbed ``X``: ``"mean"``, ``"std"``, ``"min"``,
        ``"max"`` over the runs.
    picks_ : dict of str to int
        The rank every rule of :data:`SELECTION_RULES` picks from this scan
        (``"heldout"`` only with a base ``score``).
    selection_rule_ : str
        The rule that chose ``n_components_`` (``selection``).
    decided_by_ : str
        ``selection_rule_``, or ``"<rule> -> secondary: highest mean
        silhouette"`` when no rank passed its threshold.
    run_params_ : dict
        Parameters of the base estimator NMFk changed for the runs (e.g.
        ``{"init": "random"}``); empty when none.
    interrupted_ : bool
        Whether the scan was interrupted (the attributes cover the ranks it
        finished).
    n_iter_ : ndarray of int of shape (n_candidates, n_perturbs)
        The base estimator's ``n_iter_`` for every run (-1 if it has none).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    NMFkDisplay : Plot every criterion against the rank.

    References
    ----------
    .. [1] B. S. Alexandrov and V. V. Vesselinov, "Blind source separation for
       groundwater pressure analysis based on nonnegative matrix
       factorization", Water Resources Research 50 (2014), 7332-7347.
    .. [2] R. Vangara, M. Bhattarai, E. Skau, G. Chennupati, H. Djidjev,
       T. Tierney, J. P. Smith, V. G. Stanev and B. S. Alexandrov, "Finding the
       number of latent topics with semantic non-negative matrix
       factorization", IEEE Access 9 (2021), 117217-117231.
    .. [3] J.-P. Brunet, P. Tamayo, T. R. Golub and J. P. Mesirov,
       "Metagenes and molecular pattern discovery using matrix
       factorization", PNAS 101 (2004), 4164-4169.
    .. [4] H. Kim and H. Park, "Sparse non-negative matrix factorizations via
       alternating non-negativity-constrained least squares for microarray
       data analysis", Bioinformatics 23 (2007), 1495-1502.
    .. [5] P. J. Rousseeuw, "Silhouettes: a graphical aid to the
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
    >>> model.decided_by_
    'combined'
    >>> model.transform(X).shape
    (60, 3)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit_transform", "set_params"]), None],
        "n_components_range": ["array-like"],
        "n_perturbs": [Interval(numbers.Integral, 2, None, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, 1, closed="neither")],
        "selection": [StrOptions(set(SELECTION_RULES))],
        "silhouette_threshold": [Interval(numbers.Real, -1, 1, closed="both")],
        "vary_init": ["boolean"],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
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
        selection="combined",
        silhouette_threshold=0.8,
        vary_init=True,
        memory=None,
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
        self.selection = selection
        self.silhouette_threshold = silhouette_threshold
        self.vary_init = vary_init
        self.memory = memory
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
        check_nonnegative(X, "NMFk (input X)")
        if reset:
            check_observed(X, "NMFk")
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
        has_score = hasattr(base, "score")
        if self.selection == "heldout" and not has_score:
            raise ValueError(
                f"selection='heldout' needs a base estimator with a score "
                f"method; {type(base).__name__} has none. Choose one of "
                f"{[r for r in SELECTION_RULES if r != 'heldout']}."
            )
        memory = _check_memory(self.memory)  # before any fit
        base, self.run_params_ = self._run_base(base, params)
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        symmetric = self._pairwise(base)
        if symmetric and n_samples != n_features:
            raise ValueError(
                f"The base estimator {type(base).__name__} takes a pairwise "
                f"(square) matrix, but X has shape {X.shape}."
            )
        ks = self._candidate_ranks(n_samples, n_features)

        rng = check_random_state(self.random_state)
        entropy = [int(v) for v in rng.randint(0, 2**31 - 1, size=4)]
        if n_samples > _CONSENSUS_MAX_SAMPLES:
            sample_idx = np.sort(rng.choice(n_samples, _CONSENSUS_MAX_SAMPLES,
                                            replace=False))
        else:
            sample_idx = np.arange(n_samples)
        P = self.n_perturbs
        if sp.issparse(X):
            x_norm2 = float(np.dot(X.data.astype(np.float64), X.data))
        else:
            x_norm2 = float(np.nansum(X.astype(np.float64) ** 2))

        fit_chunk = (_fit_chunk if memory is None
                     else memory.cache(_fit_chunk, ignore=["parent_pid"]))
        scored_runs = min(_N_SCORED_RUNS, P) if has_score else 0
        n_jobs = effective_n_jobs(self.n_jobs)
        parent = os.getpid()
        crits, n_iters, medians, kept, scanned = [], [], [], [], []
        accepted_any, n_bad, interrupted = False, 0, False
        progress = _Progress(len(ks), P, self.verbose)
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
                stream = _runs_by_rank(
                    parallel, fit_chunk, base, on_cluster(X), ks, P, entropy, self.epsilon,
                    parent, n_jobs, symmetric, scored_runs, progress.fits_done)
                for i, (k, runs) in enumerate(stream, start=1):
                    crit, med = _rank_criteria(runs, X, x_norm2, sample_idx)
                    crits.append(crit)
                    n_iters.append([r[2] for r in runs])
                    medians.append(med.astype(X.dtype))
                    kept.append(runs[0][3])
                    scanned.append(int(k))
                    progress.rank_done(i, k, crit)
                    worst = min(crit["components_min"], crit["coefficients_min"])
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
                        progress.write(f"[NMFk] early stopping after k={k}")
                        break
        except KeyboardInterrupt:
            if not scanned:
                raise
            interrupted = True
        finally:
            progress.close()
            if limits is not None:
                limits.restore_original_limits()
        self.interrupted_ = interrupted
        if interrupted:
            warnings.warn(
                f"The scan was interrupted after {len(scanned)} of {len(ks)} "
                f"ranks; NMFk is fitted on the finished ranks {scanned} "
                "(interrupted_ is True)."
                + (" Rerun with the same memory to resume."
                   if memory is not None else
                   " Pass memory= to keep the fits of finished ranks across "
                   "runs."),
                UserWarning,
            )

        self.n_components_range_ = np.asarray(scanned)
        keys = [key for key in crits[0] if not key.startswith("err_")]
        self.criteria_ = {key: np.asarray([c[key] for c in crits], dtype=float)
                          for key in keys}
        self.criteria_["error"] = np.asarray([c["err_mean"] for c in crits])
        self.silhouettes_ = {
            key: self.criteria_[key]
            for key in ("components_min", "components_mean", "components_quantile",
                        "coefficients_min", "coefficients_mean",
                        "coefficients_quantile")
        }
        self.errors_ = {
            key: np.asarray([c["err_" + key] for c in crits])
            for key in ("mean", "std", "min", "max")
        }
        self.n_iter_ = np.asarray(n_iters, dtype=int)
        self._warn_unconverged(params.get("max_iter"))

        thr = self.silhouette_threshold
        has_heldout = bool(np.any(np.isfinite(self.criteria_["heldout"])))
        self.picks_ = {
            rule: scanned[select_rank(self.criteria_, rule, thr, scanned)[0]]
            for rule in SELECTION_RULES if rule != "heldout" or has_heldout
        }
        best, decided_by, passed = select_rank(self.criteria_, self.selection, thr,
                                               scanned)
        self.selection_rule_ = self.selection
        self.decided_by_ = decided_by
        if not passed:
            stat = _rule_statistic(self.criteria_, self.selection)
            mean = _secondary_statistic(self.criteria_, self.selection)
            per_k = ", ".join(
                f"k={k}: {s:.3f}" for k, s in zip(scanned, stat))
            warnings.warn(
                f"No rank of n_components_range reached silhouette_threshold="
                f"{thr} under selection={self.selection!r} ({per_k}). The "
                "secondary rule (highest mean silhouette, "
                f"{_SECONDARY_DESCRIPTION[self.selection]}) chose "
                f"k={scanned[best]} (mean silhouette {mean[best]:.3f}; per k: "
                + ", ".join(f"{m:.3f}" for m in mean)
                + "). Consider other ranks, a lower threshold or more data.",
                UserWarning,
            )
        self.n_components_ = scanned[best]
        self.components_ = medians[best]
        est = kept[best]
        est.components_ = self.components_
        self.estimator_ = est
        return X

    def _run_base(self, base, params):
        """The base estimator of the runs: a random start if it had a fixed one."""
        init = params.get("init", "random")
        if not (self.vary_init and (init is None or isinstance(init, str))
                and init in _DETERMINISTIC_INITS):
            return base, {}
        varied = clone(base).set_params(init="random")
        if hasattr(varied, "_validate_params"):
            try:
                varied._validate_params()
            except ValueError:  # "random" is not one of its starts
                return base, {}
        return varied, {"init": "random"}

    @staticmethod
    def _pairwise(base):
        try:
            return bool(base.__sklearn_tags__().input_tags.pairwise)
        except AttributeError:  # pragma: no cover - not a scikit-learn estimator
            return False

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
        X = check_coefficients(X, self.components_.shape[0], "NMFk")
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
    """Every rank criterion of an :class:`NMFk` scan against the rank.

    Create it with :meth:`from_estimator`; it needs matplotlib (``pip install
    nmfkit[plot]``). Without ``ax`` it draws three panels: the silhouettes
    (minimum, mean and 10% quantile of the components and the
    coefficients, with the threshold), the consensus criteria (cophenetic
    correlation, dispersion), and the held-out score (when the base
    estimator has one) with the relative reconstruction error. Given one
    ``ax`` it draws the silhouettes and consensus criteria there and the
    error on a twin axis. A vertical line marks the chosen rank everywhere,
    the legend names the rule that decided.

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
    criteria : dict of ndarray, default=None
        As :attr:`NMFk.criteria_` (the consensus criteria and held-out score
        are drawn from it).
    decided_by : str, default=None
        As :attr:`NMFk.decided_by_`.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The silhouette axes.
    axes_ : list of matplotlib Axes
        Every panel (one, or three without ``ax``).
    error_ax_ : matplotlib Axes
        The axes holding the relative error (a twin axis).
    figure_ : matplotlib Figure
    lines_ : dict of matplotlib artists
        ``"components_min"``, ``"components_mean"``, ``"components_quantile"``,
        ``"coefficients_min"``, ``"coefficients_mean"``,
        ``"coefficients_quantile"``, ``"cophenetic"``, ``"dispersion"``,
        ``"heldout"`` (with a held-out score), ``"error"``, ``"threshold"``,
        ``"chosen"`` (the chosen-rank line of the silhouette axes).

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
    >>> len(display.axes_)
    3
    """

    def __init__(self, n_components, silhouettes, errors, chosen, threshold,
                 criteria=None, decided_by=None):
        self.n_components = n_components
        self.silhouettes = silhouettes
        self.errors = errors
        self.chosen = chosen
        self.threshold = threshold
        self.criteria = criteria
        self.decided_by = decided_by

    @classmethod
    def from_estimator(cls, nmfk, ax=None):
        """Plot the scan of a fitted :class:`NMFk`.

        Parameters
        ----------
        nmfk : NMFk
            A fitted instance.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure with three panels when ``None``.

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
            criteria=getattr(nmfk, "criteria_", None),
            decided_by=getattr(nmfk, "decided_by_", None),
        )
        return display.plot(ax=ax)

    def plot(self, ax=None):
        """Draw the criteria.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            One axes for everything but the held-out score; ``None``: a new
            figure with three panels.

        Returns
        -------
        display : NMFkDisplay
            ``self``, with ``ax_``, ``axes_``, ``error_ax_``, ``figure_`` and
            ``lines_``.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "NMFkDisplay needs matplotlib; install it with "
                "`pip install nmfkit[plot]` (or `pip install matplotlib`)."
            ) from exc
        if ax is None:
            fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
            ax_sil, ax_cons, ax_err = axes
            axes = list(axes)
        else:
            ax_sil = ax_cons = ax
            ax_err = None
            axes = [ax]
        k = np.asarray(self.n_components)
        s = self.silhouettes
        c = self.criteria if self.criteria is not None else {}
        lines = {}
        styles = {"min": ("o-", 1.0), "mean": ("o--", 0.6), "quantile": ("o:", 0.6)}
        for factor, color, marker in (("components", "C0", "o"),
                                      ("coefficients", "C1", "s")):
            for stat, (fmt, alpha) in styles.items():
                key = f"{factor}_{stat}"
                if key not in s:
                    continue
                (lines[key],) = ax_sil.plot(
                    k, s[key], fmt.replace("o", marker), color=color, alpha=alpha,
                    label=f"{factor} silhouette, {stat}",
                )
        lines["threshold"] = ax_sil.axhline(
            self.threshold, color="gray", lw=0.8, ls=":", label="threshold"
        )
        for key, color in (("cophenetic", "C3"), ("dispersion", "C4")):
            if key in c:
                (lines[key],) = ax_cons.plot(k, c[key], "d-", color=color,
                                             label=key)
        label = f"chosen k={self.chosen}"
        if self.decided_by:
            label += f" ({self.decided_by})"
        for i, a in enumerate(axes):
            line = a.axvline(self.chosen, color="k", lw=1.0, ls="-.", label=label)
            if i == 0:
                lines["chosen"] = line
            a.set_xlabel("number of components k")
        values = [np.min(v) for v in s.values()]
        values += [np.min(c[key]) for key in ("cophenetic", "dispersion") if key in c]
        ax_sil.set_ylabel("silhouette (cosine)")
        ax_sil.set_ylim(min(-0.05, float(np.nanmin(values)) - 0.05), 1.05)
        if ax_err is None:
            ax_cons.set_ylabel("silhouette / consensus criterion")
            ax2 = ax_sil.twinx()
        else:
            ax_sil.set_title("silhouettes")
            ax_cons.set_ylabel("consensus criterion")
            ax_cons.set_title("consensus of the samples")
            ax_cons.set_ylim(min(0.0, float(np.nanmin(values[-2:] or [0]))) - 0.05,
                             1.05)
            ax2 = ax_err.twinx()
            heldout = c.get("heldout")
            if heldout is not None and np.any(np.isfinite(heldout)):
                (lines["heldout"],) = ax_err.plot(k, heldout, "v-", color="C5",
                                                  label="held-out score")
                ax_err.set_ylabel("held-out score (higher is better)", color="C5")
            else:
                ax_err.set_ylabel("held-out score (base has no score)")
            ax_err.set_title("held-out score and error")
        lines["error"] = ax2.errorbar(
            k, self.errors["mean"], yerr=self.errors["std"], color="C2",
            marker="^", label="relative error",
        )
        ax2.set_ylabel("relative reconstruction error", color="C2")
        for a in axes:
            handles, _ = a.get_legend_handles_labels()
            if a is axes[-1]:
                handles = handles + [lines["error"]]
            a.legend(handles=handles, loc="best", fontsize="x-small")
        self.ax_ = ax_sil
        self.axes_ = axes
        self.error_ax_ = ax2
        self.figure_ = ax_sil.figure
        self.lines_ = lines
        if ax is None:
            self.figure_.tight_layout()
        return self
