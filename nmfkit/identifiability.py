"""Is my factorization unique? Exact checks of the sufficiently scattered condition.

An NMF ``X = W H`` is *essentially unique* (unique up to permuting and
scaling its components) when its factors are "sufficiently scattered" in the
non-negative orthant. This module decides the sufficiently scattered
condition (SSC) exactly, with scipy only:

- :func:`check_ssc` decides SSC for a non-negative ``H`` of shape ``(r, n)``
  and returns an :class:`SSCResult` (whether it holds, the optimal value
  ``p*``, a certificate, and the solver's status);
- :func:`check_factorization` and :func:`check_identifiability` say whether
  a pair ``(W, H)`` or a fitted estimator (:class:`~nmfkit.NMF`,
  :class:`~nmfkit.NMFk`, :class:`~nmfkit.SSNMF`, a symmetric NMF, anything
  with ``components_`` and ``transform``) is identifiable by this condition,
  with a sentence to put in a paper.

See ``docs/identifiability.md`` for the geometry and how to read the result.
"""

import time
import warnings
from numbers import Real

import numpy as np
import scipy.sparse as sp

from ._core import ssc as _ssc

__all__ = [
    "IdentifiabilityReport",
    "SSCResult",
    "check_factorization",
    "check_identifiability",
    "check_ssc",
    "is_separable",
]

_METHODS = ("auto", "vertices", "bnb", "milp", "gurobi")
_REFERENCES = (
    "Huang, Sidiropoulos & Swami (2014), IEEE Trans. Signal Process. 62(1); "
    "Fu, Huang, Sidiropoulos & Ma (2019), IEEE Signal Process. Mag. 36(2)"
)


class SSCResult:
    """Outcome of :func:`check_ssc`.

    Attributes
    ----------
    holds : bool or None
        Whether ``H`` satisfies SSC (up to ``tol``). ``None`` when the time
        limit stopped the solver before it could decide.
    value : float
        ``p* = max ||x||^2`` subject to ``H^T x >= 0``, ``e^T x = 1``: equal to
        1 when SSC holds, above 1 when its first part fails, ``inf`` when the
        feasible set is unbounded (``e`` is not interior to ``cone(H)``).
        When the solver stopped early this is the best value found
        (``lower_bound``).
    lower_bound, upper_bound : float
        Proven bounds on ``p*``.
    x : ndarray of shape (r,) or None
        Certificate when SSC fails: ``H^T x >= 0``, ``sum(x) = 1`` and
        ``||x||^2 > 1`` (first part) or ``= 1`` with ``x`` not a unit vector
        (second part). ``H`` and ``diag(...)``-rescaled versions of it that
        keep ``H^T x >= 0`` can then be moved along ``x`` without leaving the
        non-negative factorizations: the direction of non-uniqueness.
        ``None`` when SSC holds.
    ray : ndarray of shape (r,) or None
        When ``failed_part == "cone"``: a non-zero ``d`` with ``H^T d >= 0``
        and ``sum(d) = 0`` (the feasible set is unbounded along it).
    failed_part : {None, "cone", "first", "second"}
        ``"cone"``: ``e`` is not in the interior of ``cone(H)`` (includes
        ``rank(H) < r``); ``"first"``: ``p* > 1``; ``"second"``: ``p* = 1`` but
        a maximiser other than a unit vector exists.
    status : str
        ``"optimal"`` (decided and ``p*`` proven, to ``gap``), ``"time_limit"``
        (stopped; the bounds are still valid) or ``"size over licence"``
        (Gurobi's licence refused the model).
    method : str
        What decided: ``"separable"``, ``"rank"`` (``r > n``), ``"cone"``
        (one LP), ``"vertices"``, ``"bnb"``, ``"milp"`` or ``"gurobi"``.
    time : float
        Wall-clock seconds.
    """

    def __init__(self, *, holds, value, lower_bound, upper_bound, x, ray,
                 failed_part, status, method, time, r, n):
        self.holds = holds
        self.value = value
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound
        self.x = x
        self.ray = ray
        self.failed_part = failed_part
        self.status = status
        self.method = method
        self.time = time
        self.r = r
        self.n = n

    @property
    def message(self):
        """One sentence saying what was found."""
        shape = f"H ({self.r} x {self.n})"
        if self.holds:
            if self.method == "separable":
                how = "it contains a scaled identity (separable)"
            else:
                how = f"p* = 1 and only unit vectors attain it ({self.method})"
            return f"{shape} satisfies the sufficiently scattered condition: {how}."
        if self.holds is None:
            return (f"Undecided for {shape}: {self.status}, "
                    f"{self.lower_bound:.6g} <= p* <= {self.upper_bound:.6g}.")
        if self.failed_part == "cone":
            return (f"{shape} is not sufficiently scattered: e is not interior to "
                    f"cone(H), so p* is unbounded ({self.method}).")
        if self.failed_part == "first":
            return (f"{shape} is not sufficiently scattered: p* = {self.value:.6g} > 1 "
                    f"({self.method}, {self.status}).")
        return (f"{shape} fails the second part of the sufficiently scattered "
                f"condition: a point other than a unit vector attains p* = 1.")

    def __bool__(self):
        return bool(self.holds)

    def __repr__(self):
        return (f"SSCResult(holds={self.holds}, value={self.value:.6g}, "
                f"failed_part={self.failed_part!r}, status={self.status!r}, "
                f"method={self.method!r})")


def _validate_H(H, name="H"):
    if sp.issparse(H):
        H = H.toarray()
    try:
        H = np.asarray(H, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 2-D array of numbers.") from exc
    if H.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (r, n); got {H.ndim}-D "
                         f"with shape {H.shape}.")
    r, n = H.shape
    if r < 2:
        raise ValueError(f"{name} must have r >= 2 rows (got r = {r}): SSC is about "
                         "r >= 2 components.")
    if n < 1:
        raise ValueError(f"{name} has no columns.")
    if not np.isfinite(H).all():
        raise ValueError(f"{name} has non-finite entries (NaN or inf).")
    if (H < 0).any():
        raise ValueError(f"{name} has negative entries; SSC is defined for "
                         "non-negative matrices.")
    zero = np.flatnonzero(~H.any(axis=0))
    if zero.size:
        raise ValueError(f"{name} has zero columns (e.g. column {zero[0]}); drop "
                         "them: a zero column says nothing about cone(H).")
    return H


def is_separable(H, *, zero_tol=0.0):
    """Whether ``H`` contains a positive multiple of every unit vector.

    A separable ``H`` (columns ``c_k e_k`` for every ``k``) has
    ``cone(H)`` equal to the non-negative orthant and satisfies SSC.

    Parameters
    ----------
    H : array-like of shape (r, n)
        Non-negative matrix.
    zero_tol : float, default=0.0
        Entries at most ``zero_tol`` times their column's maximum count as
        zeros.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.identifiability import is_separable
    >>> is_separable(np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0]]))
    True
    """
    H = _clean(_validate_H(H), zero_tol)
    return bool(_ssc.is_separable(H))


def _clean(H, zero_tol):
    if zero_tol:
        H = np.where(H <= zero_tol * H.max(axis=0), 0.0, H)
    return H


def _unbounded_certificate(d, r):
    """A point of ``P`` with ``||x||^2 = 2`` along the ray ``d`` (``e^T d = 0``)."""
    s = np.sqrt(2.0 - 1.0 / r) / np.linalg.norm(d)
    return np.full(r, 1.0 / r) + s * d


def check_ssc(H, *, method="auto", time_limit=None, tol=1e-6, gap=1e-4,
              zero_tol=0.0):
    r"""Decide whether ``H`` satisfies the sufficiently scattered condition.

    ``H`` (``r x n``, non-negative) satisfies SSC when (1) the second-order
    cone ``C = {x : e^T x >= sqrt(r - 1) ||x||}`` lies in ``cone(H)``, and
    (2) ``cone*(H)``, the dual cone, meets the boundary of
    ``C* = {x : e^T x >= ||x||}`` only on the rays of the unit vectors.
    Equivalently (Gillis & Porumbescu), with

    .. math:: p^* = \max_x \|x\|_2^2 \quad\text{s.t.}\quad H^T x \ge 0,\ e^T x = 1,

    ``e`` must be interior to ``cone(H)``, ``p* <= 1``, and the only
    maximisers must be the unit vectors. The maximum of a convex function
    over a polytope is at a vertex, which makes exact methods possible.

    Order of work: input checks; ``r > n`` is answered without a solver;
    separability (``H`` contains a scaled identity) proves SSC at once; one LP
    tests that ``e`` is interior to ``cone(H)``; then the exact method.

    Parameters
    ----------
    H : array-like of shape (r, n)
        Non-negative, finite, no zero column, ``r >= 2``. Columns are
        rescaled to sum to one (that does not change ``cone(H)``).
    method : {"auto", "vertices", "bnb", "milp", "gurobi"}, default="auto"
        ``"vertices"``: every vertex of the feasible polytope, from a convex
        hull of ``H``'s columns (Qhull); exact and fast for ``r <= 8`` or so,
        exponential in ``r``. ``"bnb"``: spatial branch and bound with LP
        bounds (HiGHS), which first removes a proven neighbourhood of every
        unit vector; scales to larger ``r``. ``"milp"``: a mixed-integer
        reformulation through the KKT conditions, solved by HiGHS (exact but
        usually slower than ``"bnb"``). ``"gurobi"``: the non-convex QP solved
        by Gurobi (``pip install gurobipy``; its free licence limits model
        size, reported as status ``"size over licence"``). ``"auto"``:
        ``"vertices"`` for ``r <= 6``, ``"bnb"`` otherwise.
    time_limit : float or None, default=None
        Seconds for the solver (``"bnb"``, ``"milp"``, ``"gurobi"``). When it
        runs out the result has ``status="time_limit"`` and proven bounds;
        ``holds`` is ``None`` unless a certificate of failure was found.
    tol : float, default=1e-6
        Numerical tolerance of the decision: SSC holds when every vertex
        other than a unit vector has ``||v||^2 < 1 - tol``; ``p* > 1 + tol``
        fails the first part; values in between fail the second part.
    gap : float, default=1e-4
        Relative optimality gap for ``p*`` when SSC fails (``"bnb"``; the
        decision itself does not depend on it).
    zero_tol : float, default=0.0
        Entries at most ``zero_tol`` times their column's maximum are set to
        zero first (SSC needs exact zeros; fitted factors from multiplicative
        updates hold tiny positive values instead).

    Returns
    -------
    SSCResult

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.identifiability import check_ssc
    >>> H = np.array([[1.0, 0.0, 0.0, 0.0, 1.0, 1.0],
    ...               [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
    ...               [0.0, 0.0, 1.0, 1.0, 1.0, 0.0]])
    >>> check_ssc(H).holds      # contains the identity: separable
    True
    >>> res = check_ssc(H[:, 3:])  # the three edge midpoints only
    >>> res.holds, res.failed_part, round(res.value, 6)
    (False, 'first', 3.0)
    >>> bool((H[:, 3:].T @ res.x >= -1e-12).all() and res.x @ res.x > 1)
    True

    References
    ----------
    .. [1] N. Gillis and R. Porumbescu, "Checking the sufficiently scattered
       condition using a global non-convex optimization software",
       arXiv:2402.06019, 2024.
    .. [2] K. Huang, N. D. Sidiropoulos and A. Swami, "Non-negative matrix
       factorization revisited: uniqueness and algorithm for symmetric
       decomposition", IEEE Trans. Signal Process. 62(1), 2014.
    .. [3] X. Fu, K. Huang, N. D. Sidiropoulos and W.-K. Ma, "Nonnegative
       matrix factorization for signal and data analytics: identifiability,
       algorithms, and applications", IEEE Signal Process. Mag. 36(2), 2019.
    """
    t0 = time.perf_counter()
    H = _validate_H(H)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if time_limit is not None and (not isinstance(time_limit, Real)
                                   or isinstance(time_limit, bool)
                                   or not time_limit > 0):
        raise ValueError("time_limit must be a positive number or None; "
                         f"got {time_limit!r}.")
    for name, val in (("tol", tol), ("gap", gap), ("zero_tol", zero_tol)):
        if not isinstance(val, Real) or isinstance(val, bool) or not 0 <= val < 1:
            raise ValueError(f"{name} must be a number in [0, 1); got {val!r}.")
    H = _clean(H, zero_tol)
    r, n = H.shape
    Hn = H / H.sum(axis=0)
    common = {"r": r, "n": n}

    def done(**kw):
        return SSCResult(time=time.perf_counter() - t0, **common, **kw)

    def unbounded(d, how):
        return done(holds=False, value=np.inf, lower_bound=np.inf,
                    upper_bound=np.inf, x=_unbounded_certificate(d, r), ray=d,
                    failed_part="cone", status="optimal", method=how)

    if r > n:  # rank(H) < r: no solver needed
        return unbounded(_ssc.cone_direction(Hn, 1e-12), "rank")
    if _ssc.is_separable(H):
        return done(holds=True, value=1.0, lower_bound=1.0, upper_bound=1.0,
                    x=None, ray=None, failed_part=None, status="optimal",
                    method="separable")
    d = _ssc.cone_direction(Hn, 1e-12)
    if d is not None:
        return unbounded(d, "cone")

    if method == "auto":
        method = "vertices" if r <= 6 else "bnb"
    if r == 2:
        method = "vertices"  # a segment; the solvers need r >= 3
    if method == "vertices":
        V, unit = _ssc.ssc_vertices(Hn)
        f = np.einsum("ij,ij->i", V, V)
        q = float(f[~unit].max()) if (~unit).any() else -np.inf
        x = V[~unit][np.argmax(f[~unit])] if (~unit).any() else None
        out = {"q_lower": q, "q_upper": q, "x": x, "status": "optimal"}
    elif method == "bnb":
        out = _ssc.ssc_bnb(Hn, tol, time_limit=time_limit, gap=gap)
    elif method == "milp":
        out = _ssc.ssc_milp(Hn, tol, time_limit=time_limit)
    else:
        out = _ssc.ssc_gurobi(Hn, tol, time_limit=time_limit, gap=gap)
    return _decide(out, tol, done, method)


def _decide(out, tol, done, method):
    ql, qu, x, status = out["q_lower"], out["q_upper"], out["x"], out["status"]
    lower, upper = max(1.0, ql), max(1.0, qu)
    if ql > 1.0 + tol:
        holds, part = False, "first"
    elif ql >= 1.0 - tol:
        holds, part = False, "second"
    elif status == "optimal" or qu < 1.0 - tol:  # proven: nothing reaches 1
        holds, part, x, upper = True, None, None, 1.0
    else:
        holds, part, x = None, None, None
    value = lower
    return done(holds=holds, value=value, lower_bound=lower, upper_bound=upper,
                x=x, ray=None, failed_part=part, status=status, method=method)


# ------------------------------------------------------------ factorizations
class IdentifiabilityReport:
    """Outcome of :func:`check_factorization` / :func:`check_identifiability`.

    Attributes
    ----------
    identifiable : bool or None
        ``True``: the factors satisfy a sufficient condition for essential
        uniqueness. ``False``: they do not (this does *not* prove the
        factorization is not unique; SSC is sufficient, not necessary).
        ``None``: undecided (time limit, or a factor was not available).
    model : {"nmf", "symmetric"}
        Which theorem was applied.
    H_result, W_result : SSCResult or None
        The SSC checks of ``H`` and of ``W^T`` (the rows of ``W``), under the
        scaling of the components that was tried last (see ``scaling``).
    scaling : str
        How the components were scaled for the check.
    sentence : str
        A sentence for a paper's methods section.
    """

    def __init__(self, identifiable, model, H_result, W_result, scaling, sentence):
        self.identifiable = identifiable
        self.model = model
        self.H_result = H_result
        self.W_result = W_result
        self.scaling = scaling
        self.sentence = sentence

    def __repr__(self):
        return (f"IdentifiabilityReport(identifiable={self.identifiable}, "
                f"model={self.model!r}, scaling={self.scaling!r})")


def _fmt(res):
    if res.holds:
        return "satisfies SSC"
    if res.holds is None:
        return f"is undecided ({res.status})"
    if res.failed_part == "cone":
        return "fails SSC (e is not interior to its cone)"
    if res.failed_part == "first":
        return f"fails SSC (p* = {res.value:.4g} > 1)"
    return "fails the second part of SSC"


def check_factorization(W, H, *, model="nmf", zero_tol=1e-6, **check_kw):
    """Whether ``X = W H`` is identifiable by the sufficiently scattered condition.

    * ``model="nmf"`` (plain NMF, also NMFk, SSNMF): if ``H`` and ``W^T``
      both satisfy SSC then every exact NMF of ``X = W H`` with ``r``
      components equals ``(W, H)`` up to permutation and scaling (Huang,
      Sidiropoulos & Swami 2014; Fu et al. 2019). SSC is not
      invariant to rescaling the components, ``(W D^{-1}, D H)``, so two
      normalisations are tried: the rows of ``H`` summing to one, then the
      columns of ``W`` summing to one. Either one suffices.
    * ``model="symmetric"`` (``X = W W^T``; pass ``W=None`` and
      ``H = W^T``): SSC of ``W^T`` suffices (Huang et al. 2014).

    Parameters
    ----------
    W : array-like of shape (m, r) or None
        Left factor (rows are samples). ``None`` checks ``H`` only, and the
        answer is then at best ``None`` for ``model="nmf"``.
    H : array-like of shape (r, n)
        Right factor (``components_``).
    model : {"nmf", "symmetric"}, default="nmf"
    zero_tol : float, default=1e-6
        Entries at most ``zero_tol`` times their column's maximum (of ``H``,
        and of ``W^T``) count as zeros; fitted factors seldom hold exact zeros.
    **check_kw
        Passed to :func:`check_ssc` (``method``, ``time_limit``, ``tol``).

    Returns
    -------
    IdentifiabilityReport

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.identifiability import check_factorization
    >>> rng = np.random.default_rng(0)
    >>> W = np.vstack([np.eye(3), rng.random((20, 3))])
    >>> H = np.hstack([np.eye(3), rng.random((3, 30))])
    >>> check_factorization(W, H).identifiable
    True
    """
    if model not in ("nmf", "symmetric"):
        raise ValueError(f"model must be 'nmf' or 'symmetric'; got {model!r}.")
    if sp.issparse(H):
        H = H.toarray()
    H = np.asarray(H, dtype=float)
    if H.ndim == 2 and np.isfinite(H).all() and H.any():
        H = H[:, H.any(axis=0)]  # unused features say nothing about the cone
    H = _validate_H(H, "H")
    r = H.shape[0]
    if W is not None:
        if sp.issparse(W):
            W = W.toarray()
        W = np.asarray(W, dtype=float)
        if W.ndim != 2 or W.shape[1] != r:
            raise ValueError(f"W must have shape (m, {r}) to match H; got {W.shape}.")
        if not np.isfinite(W).all() or (W < 0).any():
            raise ValueError("W must be finite and non-negative.")
        Wt = W.T[:, W.any(axis=1)]
        if Wt.shape[1] == 0:
            raise ValueError("W is all zeros.")
    if model == "symmetric":
        res = check_ssc(H, zero_tol=zero_tol, **check_kw)
        ok = res.holds
        sentence = _sentence_sym(ok, res, r)
        return IdentifiabilityReport(ok, model, res, None, "as given", sentence)

    scalings = [("rows of H sum to one", H.sum(axis=1))]
    if W is not None:
        scalings.append(("columns of W sum to one", 1.0 / W.sum(axis=0)))
    best = None
    for label, s in scalings:
        s = np.where(s > 0, s, 1.0)
        Hs = H / s[:, None]
        hres = check_ssc(Hs, zero_tol=zero_tol, **check_kw)
        wres = None
        if W is not None:
            wres = check_ssc(Wt * s[:, None], zero_tol=zero_tol, **check_kw)
        if W is None:
            ok = None if hres.holds is not False else False
        elif hres.holds and wres.holds:
            ok = True
        elif hres.holds is False or wres.holds is False:
            ok = False
        else:
            ok = None
        best = (ok, hres, wres, label)
        if ok:
            break
    ok, hres, wres, label = best
    sentence = _sentence_nmf(ok, hres, wres, r, label, zero_tol)
    return IdentifiabilityReport(ok, model, hres, wres, label, sentence)


def _sentence_nmf(ok, hres, wres, r, label, zero_tol):
    tools = ("checked exactly with nmfkit.identifiability.check_ssc, which "
             "maximises ||x||^2 over the dual cone's slice to global optimality")
    if ok:
        return (f"Both factors of the rank-{r} NMF satisfy the sufficiently "
                f"scattered condition ({tools}; {label}, entries below "
                f"{zero_tol:g} of their column maximum treated as zeros), so the "
                f"factorization is essentially unique: any other exact rank-{r} NMF "
                f"of the same matrix differs only by permutation and scaling of the "
                f"components ({_REFERENCES}).")
    wtxt = "" if wres is None else f" and W^T {_fmt(wres)}"
    if ok is None:
        return (f"Identifiability of the rank-{r} NMF could not be established: "
                f"H {_fmt(hres)}{wtxt} ({tools}).")
    return (f"The rank-{r} NMF does not meet the sufficient condition for "
            f"uniqueness: H {_fmt(hres)}{wtxt} ({tools}); its components may not "
            f"be unique and should be interpreted with care ({_REFERENCES}).")


def _sentence_sym(ok, res, r):
    if ok:
        return (f"The rank-{r} symmetric NMF factor satisfies the sufficiently "
                f"scattered condition (checked exactly with "
                f"nmfkit.identifiability.check_ssc), so the factorization X = W W^T "
                f"is essentially unique up to permutation ({_REFERENCES}).")
    return (f"The rank-{r} symmetric NMF factor W^T {_fmt(res)}, so the sufficient "
            f"condition for uniqueness is not met ({_REFERENCES}).")


def check_identifiability(estimator, X=None, *, model="auto", zero_tol=1e-6,
                          **check_kw):
    """Whether a fitted estimator's factorization is identifiable (SSC of both factors).

    Parameters
    ----------
    estimator : fitted estimator
        Anything with ``components_`` (``H``, shape ``(r, n_features)``):
        :class:`~nmfkit.NMF`, :class:`~nmfkit.NMFk`, :class:`~nmfkit.SSNMF`,
        a symmetric NMF. ``W`` is ``estimator.transform(X)``.
    X : array-like of shape (n_samples, n_features) or None
        The data the estimator was fitted on; needed for ``W`` when
        ``model="nmf"``.
    model : {"auto", "nmf", "symmetric"}, default="auto"
        ``"auto"``: ``"symmetric"`` for estimators whose class name starts with
        ``Sym`` (``X = H^T H``), ``"nmf"`` otherwise.
    zero_tol : float, default=1e-6
        See :func:`check_factorization`.
    **check_kw
        Passed to :func:`check_ssc`.

    Returns
    -------
    IdentifiabilityReport

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import NMF
    >>> from nmfkit.identifiability import check_identifiability
    >>> rng = np.random.default_rng(0)
    >>> W = np.vstack([np.eye(3), rng.random((30, 3)) * (rng.random((30, 3)) < .5)])
    >>> H = np.hstack([np.eye(3), rng.random((3, 40)) * (rng.random((3, 40)) < .5)])
    >>> model = NMF(3, init="nndsvda", max_iter=2000, tol=1e-10, random_state=0)
    >>> model = model.fit(W @ H)
    >>> report = check_identifiability(model, W @ H)
    >>> report.identifiable
    True
    """
    H = getattr(estimator, "components_", None)
    if H is None:
        raise ValueError(f"{type(estimator).__name__} is not fitted or has no "
                         "components_; fit it first.")
    if model == "auto":
        model = "symmetric" if type(estimator).__name__.startswith("Sym") else "nmf"
    if model == "symmetric":
        return check_factorization(None, H, model="symmetric", zero_tol=zero_tol,
                                   **check_kw)
    W = None
    if X is not None:
        if not hasattr(estimator, "transform"):
            raise ValueError(f"{type(estimator).__name__} has no transform: pass W "
                             "and H to check_factorization instead.")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            W = estimator.transform(X)
        if sp.issparse(W):
            W = W.toarray()
    return check_factorization(W, H, model=model, zero_tol=zero_tol, **check_kw)
