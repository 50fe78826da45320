r"""Semi-NMF: :math:`X \approx G F` with :math:`G \ge 0` and :math:`F` of any sign.

``X`` (``m x n``) may have entries of any sign (e.g. tokens x neurons of a
neural network layer). The objective is

.. math::

    J(G, F) = \tfrac12 \|X - GF\|_F^2 + \tfrac12 \lambda \|F\|_F^2
    + l_1 |F|_1 \quad \text{s.t. } G \ge 0,\
    \text{(optionally) at most } s \text{ non-zeros in each row of } F,

with a small ridge :math:`\lambda > 0` that keeps the ``F`` step well posed
when ``G`` has (nearly) collinear or empty columns. Every step below is an
exact minimisation of :math:`J` over one block of variables (or, for the
multiplicative rule, a step of an auxiliary function), so :math:`J` never
increases from one iteration to the next.

Layout: ``G`` is kept transposed, ``Gt`` of shape ``(k, m)`` with contiguous
rows, so that the column updates of ``G`` are vector operations on rows.

F step
    With :math:`C = G^T G` and :math:`R = G^T X`, unpenalised:
    :math:`F = (C + \lambda I)^{-1} R` (one Cholesky solve). With an L1 penalty
    or winner-take-all sparsity (``keep = s``): exact coordinate descent over
    the rows of ``F``; row :math:`t` minimises
    :math:`\tfrac12 (C_{tt}+\lambda)\|f\|^2 - r^T f + l_1 |f|_1` with
    :math:`r = R_t - C_t F + C_{tt} F_t`, whose solution is the soft-threshold
    of :math:`r` divided by :math:`C_{tt}+\lambda`, restricted to the ``s``
    entries of largest :math:`|r|` (the exact minimiser under the cardinality
    constraint, since the row problem is separable).
G step
    With :math:`A = F X^T` (``k x m``) and :math:`B = F F^T` (mixed signs), the
    non-negative least-squares problem in ``G`` is either swept by HALS
    (:func:`nmfkit._core.hals.hals_sweep`, exact coordinate minimisation) or
    updated by the multiplicative rule of Ding, Li & Jordan:
    :math:`G \leftarrow G \circ \sqrt{(A^+ + B^- G)/(A^- + B^+ G)}` (transposed
    layout), where :math:`M^\pm` are the positive and negative parts. Both
    repeat their cheap inner steps while they pay (Gillis & Glineur 2012).
Products
    Per iteration two products with ``X`` (``G^T X`` and ``F X^T``); the rest
    is ``k x k`` or ``k x m`` work. (Iterating first on a randomized QB
    compression of ``X``, as the HALS solver of the foundation does, was
    measured 1.2-1.4x slower here: the cheap inner sweeps already make each
    exact iteration count, and the compressed phase needed 3x the iterations.)

References
----------
C. Ding, T. Li and M. I. Jordan, "Convex and semi-nonnegative matrix
factorizations", IEEE TPAMI 32(1), 2010.

N. Gillis and F. Glineur, "Accelerated multiplicative updates and hierarchical
ALS algorithms for nonnegative matrix factorization", Neural Computation, 2012.
"""

import math

import numpy as np
import scipy.linalg as sla
from sklearn.utils import check_random_state

from .hals import hals_sweep
from .heldout import _split_dense
from .losses import wh_at
from .nnls import nnls

__all__ = [
    "fit_semi",
    "heldout_score_semi",
    "init_semi",
    "n_keep",
    "nnls_semi",
    "semi_objective",
    "winner_take_all",
]

# inner repetitions of the cheap steps: at most 1 + alpha * (cost of the
# products / cost of one sweep), ended by the 0.1 rule of Gillis & Glineur
_INNER_ALPHA = 0.5
_INNER_EPS2 = 0.1**2
_MAX_INNER = 20
# the multiplicative rule cannot move exact zeros: they are raised to this
# fraction of the mean positive entry of the initial G
_MU_FLOOR = 1e-3


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def n_keep(fraction, n_features):
    """Entries kept per row by winner-take-all: ``round(fraction * n)``, >= 1."""
    return int(min(n_features, max(1, math.floor(fraction * n_features + 0.5))))


def winner_take_all(F, keep):
    """Zero all but the ``keep`` largest-magnitude entries of each row of ``F``.

    In place; returns ``F``. Exactly ``keep`` entries per row survive (ties
    are broken by position); rows are left alone when ``keep >= n``.
    """
    k, n = F.shape
    if keep >= n or k == 0:
        return F
    drop = np.argpartition(np.abs(F), n - keep, axis=1)[:, : n - keep]
    np.put_along_axis(F, drop, 0, axis=1)
    return F


def semi_objective(X, G, F, *, ridge=0.0, l1=0.0):
    r""":math:`\tfrac12\|X-GF\|_F^2 + \tfrac12\lambda\|F\|_F^2 + l_1|F|_1`, float64.

    Computed from the residual in row blocks (no cancellation), for tests and
    reports; the solver itself uses the Gram-matrix form.
    """
    G = np.asarray(G, dtype=np.float64)
    F = np.asarray(F, dtype=np.float64)
    total = 0.0
    step = max(1, 2**22 // max(1, X.shape[1]))
    for start in range(0, X.shape[0], step):
        rows = slice(start, start + step)
        R = np.asarray(X[rows], dtype=np.float64) - G[rows] @ F
        total += float(np.einsum("ij,ij->", R, R))
    penalty = 0.5 * ridge * float(np.vdot(F, F)) + l1 * float(np.abs(F).sum())
    return 0.5 * total + penalty


# k-means start: rows the centres are fitted on (at most), see init_semi
_KMEANS_MIN_ROWS = 2000
_KMEANS_ROWS_PER_CLUSTER = 100


# --------------------------------------------------------------------------
# initialisation
# --------------------------------------------------------------------------
def init_semi(X, k, init, *, random_state=None):
    """Initial ``G`` (``m x k``, non-negative, dtype of ``X``).

    ``"random"``: uniform on [0, 1). ``"kmeans"``: cluster indicators of
    k-means on the rows, plus 0.2 (Ding, Li & Jordan); on more than
    ``max(2000, 100 k)`` rows the centres are fitted on a random subset of
    that many rows and every row is then assigned to its nearest centre.
    ``"svd"``: sign-split truncated SVD: the positive and the negative part of ``u_j s_j`` for the
    top ``ceil(k / 2)`` singular triplets, so that ``G F`` can reproduce the
    best rank-``ceil(k/2)`` approximation of ``X`` exactly (``F`` rows
    ``v_j`` and ``-v_j``).
    """
    rng = check_random_state(random_state)
    m, n = X.shape
    dtype = X.dtype
    if init == "random":
        return rng.random_sample((m, k)).astype(dtype)
    if init == "kmeans":
        from sklearn.cluster import KMeans

        G = np.full((m, k), 0.2, dtype=dtype)
        c = min(k, m)
        if c >= 2 and np.ptp(X, axis=0).max(initial=0.0) > 0:
            seed = rng.randint(np.iinfo(np.int32).max)
            n_fit = max(_KMEANS_MIN_ROWS, _KMEANS_ROWS_PER_CLUSTER * c)
            # the centres from a random subset of rows, then every row to its
            # nearest centre (one product): same start quality, a fraction
            # of the cost on tall X (docs/benchmarks.md, bench_seminmf)
            km = KMeans(n_clusters=c, n_init=1, max_iter=30, random_state=seed)
            if m > n_fit:
                rows = np.sort(rng.choice(m, n_fit, replace=False))
                labels = km.fit(X[rows]).predict(X)
            else:
                labels = km.fit_predict(X)
        else:
            labels = np.zeros(m, dtype=int)
        G[np.arange(m), labels] += 1.0
        return G
    # "svd"
    p = min((k + 1) // 2, min(m, n))
    G = np.zeros((m, k), dtype=dtype)
    if p == 0:
        return G
    if min(m, n) <= 3 * p + 10:
        U, S, _ = np.linalg.svd(X, full_matrices=False)
    else:
        from sklearn.utils.extmath import randomized_svd

        U, S, _ = randomized_svd(X, p, n_iter=2, random_state=rng)
    US = (U[:, :p] * S[:p]).astype(dtype, copy=False)
    G[:, 0:2 * p:2] = np.maximum(US, 0)
    neg = np.maximum(-US, 0)
    n_neg = len(range(1, min(2 * p, k), 2))
    G[:, 1:2 * p:2][:, :n_neg] = neg[:, :n_neg]
    return G


# --------------------------------------------------------------------------
# products
# --------------------------------------------------------------------------
class _Exact:
    """``Gt @ X``, ``F @ X.T`` and ``||X||^2`` for the dense ``X``."""

    def __init__(self, X):
        self.X = X
        self.xx = float(np.einsum("ij,ij->", X, X, dtype=np.float64))
        m, n = X.shape
        self.rho_G = n  # product cost / sweep cost, up to the factor k
        self.rho_F = m

    def GtX(self, Gt):
        return np.dot(Gt, self.X)

    def FXt(self, F):
        return np.dot(F, self.X.T)


def _budget(rho, k):
    return int(min(_MAX_INNER, max(1, math.floor(1 + _INNER_ALPHA * rho / max(k, 1)))))


# --------------------------------------------------------------------------
# F step
# --------------------------------------------------------------------------
def _solve_F(C, R, ridge):
    """``(C + ridge I)^{-1} R`` by Cholesky (least squares if that fails)."""
    k = C.shape[0]
    M = C.astype(np.float64, copy=True)
    M.flat[:: k + 1] += ridge
    try:
        cf = sla.cho_factor(M, check_finite=False)
        F = sla.cho_solve(cf, R.astype(np.float64, copy=False), check_finite=False)
    except (np.linalg.LinAlgError, sla.LinAlgError):
        F = np.linalg.lstsq(M, R.astype(np.float64, copy=False), rcond=None)[0]
    return F.astype(R.dtype, copy=False)


def _sweep_F(F, C, R, ridge, l1, keep, max_inner):
    """Exact coordinate descent over the rows of ``F`` (L1 / winner-take-all).

    In place. Stops after ``max_inner`` sweeps or once a sweep changes ``F``
    by at most 0.1 times the first sweep (squared norms).
    """
    k, n = F.shape
    d1 = None
    for _ in range(max_inner):
        d = 0.0
        for t in range(k):
            a = float(C[t, t]) + ridge
            if a <= 0:
                r = np.zeros(n, dtype=F.dtype)
            else:
                r = R[t] - np.dot(C[t], F) + C[t, t] * F[t]
            if l1:
                r = np.sign(r) * np.maximum(np.abs(r) - l1, 0)
            if keep is not None and keep < n:
                drop = np.argpartition(np.abs(r), n - keep)[: n - keep]
                r[drop] = 0
            new = r / a if a > 0 else r
            delta = new - F[t]
            d += float(np.dot(delta, delta))
            F[t] = new
        if d1 is None:
            d1 = d
        if d <= _INNER_EPS2 * d1:
            break
    return F


def _F_subobjective(F, C, R, ridge, l1):
    """Objective in ``F`` up to a constant: ``0.5<F, (C+ridge)F> - <R, F> + l1|F|``."""
    F64 = F.astype(np.float64, copy=False)
    CF = np.dot(C.astype(np.float64, copy=False), F64) + ridge * F64
    R64 = R.astype(np.float64, copy=False)
    f = 0.5 * float(np.vdot(F64, CF)) - float(np.vdot(R64, F64))
    return f + l1 * float(np.abs(F64).sum())


def _F_step(F, C, R, ridge, l1, keep, max_inner):
    """New ``F`` for ``C = G^T G``, ``R = G^T X``; ``F=None`` on the first step.

    With sparsity, coordinate descent from the previous ``F`` keeps its
    supports too faithfully (hard thresholding has many fixed points), so a
    second candidate starts from the projected least-squares solution, where
    every entry competes afresh; the better of the two is kept (so the step
    still never increases the objective).
    """
    penalised = bool(l1) or keep is not None
    F_ls = _solve_F(C, R, ridge)
    if not penalised:
        return F_ls
    if keep is not None:
        winner_take_all(F_ls, keep)
    fresh = _sweep_F(F_ls, C, R, ridge, l1, keep, max_inner)
    if F is None:
        return fresh
    warm = _sweep_F(F, C, R, ridge, l1, keep, max_inner)
    if (_F_subobjective(fresh, C, R, ridge, l1)
            < _F_subobjective(warm, C, R, ridge, l1)):
        return fresh
    return warm


# --------------------------------------------------------------------------
# G step
# --------------------------------------------------------------------------
def _while_it_pays(sweep, Gt, max_inner):
    """Run ``sweep()`` (updating ``Gt`` in place) up to ``max_inner`` times.

    Stops once a sweep changes ``Gt`` by at most 0.1 times the first sweep
    (squared norms; Gillis & Glineur), or at once if the first changes nothing.
    """
    prev = np.empty_like(Gt)
    d1 = None
    for _ in range(max_inner):
        np.copyto(prev, Gt)
        sweep()
        np.subtract(prev, Gt, out=prev)
        d = float(np.vdot(prev, prev))
        if d1 is None:
            d1 = d
            if d == 0.0:
                break
        elif d <= _INNER_EPS2 * d1:
            break
    return Gt


def _G_step_hals(Gt, A, B, max_inner):
    """HALS sweeps of the core (exact coordinate minimisation)."""
    return _while_it_pays(lambda: hals_sweep(Gt, A, B), Gt, max_inner)


def _G_step_mu(Gt, A, B, max_inner):
    """Ding-Li-Jordan multiplicative rule, repeated on the same products."""
    Ap, An = np.maximum(A, 0), np.maximum(-A, 0)
    Bp, Bn = np.maximum(B, 0), np.maximum(-B, 0)
    num = np.empty_like(Gt)
    den = np.empty_like(Gt)

    def sweep():
        np.dot(Bn, Gt, out=num)
        np.add(num, Ap, out=num)
        np.dot(Bp, Gt, out=den)
        np.add(den, An, out=den)
        # a zero denominator (B^+ G)_ti = 0 needs G_it = 0 (which the rule
        # cannot move) or a zero feature F_t (then the numerator is 0 too):
        # the entry is left as it is
        np.divide(num, den, out=num, where=den > 0)
        num[den <= 0] = 1.0
        np.sqrt(num, out=num)
        np.multiply(Gt, num, out=Gt)

    return _while_it_pays(sweep, Gt, max_inner)


# --------------------------------------------------------------------------
# the solver
# --------------------------------------------------------------------------
def _objective(xx, A, Gt, C, B, F, ridge, l1):
    """``J`` from the Gram matrices: ``A = F X^T``, ``C = Gt Gt^T``, ``B = F F^T``."""
    cross = float(np.dot(A.ravel().astype(np.float64, copy=False),
                         Gt.ravel().astype(np.float64, copy=False)))
    quad = float(np.vdot(C.astype(np.float64, copy=False),
                         B.astype(np.float64, copy=False)))
    f = 0.5 * max(xx - 2.0 * cross + quad, 0.0)
    if ridge:
        f += 0.5 * ridge * float(np.vdot(F, F))
    if l1:
        f += l1 * float(np.abs(F).sum())
    return f


def _iterate(prod, Gt, F, C, *, update, ridge, l1, keep, tol, max_iter, n_done,
             callback, verbose, history):
    """Iterations on one products object; returns ``(F, C, n_iter, converged)``."""
    k = Gt.shape[0]
    step = _G_step_hals if update == "hals" else _G_step_mu
    inner_G = _budget(prod.rho_G, k)
    inner_F = _budget(prod.rho_F, k)
    f_prev = history[-1] if history else None
    f_first = history[0] if history else None
    n_iter = n_done
    while n_iter < max_iter:
        n_iter += 1
        R = prod.GtX(Gt)
        F = _F_step(F, C, R, ridge, l1, keep, inner_F)
        A = prod.FXt(F)
        B = np.dot(F, F.T)
        step(Gt, A, B, inner_G)
        C = np.dot(Gt, Gt.T)
        f = _objective(prod.xx, A, Gt, C, B, F, ridge, l1)
        history.append(f)
        if callback is not None:
            callback(n_iter, Gt, F, f)
        if verbose:
            print(f"Semi-NMF iteration {n_iter}: objective {f:.8g}")
        if f_first is None:
            f_first = f
        elif tol > 0 and (f_prev - f) <= tol * max(f_first, np.finfo(float).tiny):
            return F, C, n_iter, True
        if f <= 0.0:
            return F, C, n_iter, True
        f_prev = f
    return F, C, n_iter, False


def fit_semi(X, G, *, update="hals", tol=1e-4, max_iter=200, ridge=1e-6, l1=0.0,
             keep=None, callback=None, verbose=0):
    r"""Fit ``X ~ G F`` with ``G >= 0`` by alternating exact block updates.

    Parameters
    ----------
    X : ndarray of shape (m, n)
        Dense data of any sign, finite.
    G : ndarray of shape (m, k)
        Initial non-negative ``G`` (not modified).
    update : {"hals", "mu"}, default="hals"
        G step: HALS sweeps or the Ding-Li-Jordan multiplicative rule.
    tol : float, default=1e-4
        Stop once an iteration lowers the objective by at most ``tol`` times
        the objective after the first iteration.
    max_iter : int, default=200
        Maximum number of iterations.
    ridge : float, default=1e-6
        Ridge of the ``F`` step, relative: :math:`\lambda` = ``ridge`` times
        the mean squared column norm of the initial ``G`` (1 if ``G`` is 0).
    l1 : float, default=0
        L1 penalty on ``F`` (already scaled).
    keep : int or None, default=None
        Winner-take-all: at most ``keep`` non-zeros per row of ``F``.
    callback : callable, default=None
        ``callback(n_iter, Gt, F, objective)`` after every iteration (``Gt``
        is ``G`` transposed).
    verbose : int, default=0

    Returns
    -------
    G : ndarray of shape (m, k)
    F : ndarray of shape (k, n)
    n_iter : int
    history : list of float
        The objective :math:`J` after each exact iteration.
    lam : float
        The absolute ridge :math:`\lambda` used.
    """
    k = G.shape[1]
    Gt = np.array(G.T, dtype=X.dtype, order="C")
    if update == "mu":
        # the multiplicative rule cannot move exact zeros
        pos = Gt[Gt > 0]
        floor = _MU_FLOOR * float(pos.mean()) if pos.size else 1.0
        np.maximum(Gt, floor, out=Gt)
    C = np.dot(Gt, Gt.T)
    diag = float(np.trace(C)) / max(k, 1)
    lam = ridge * (diag if diag > 0 else 1.0)
    if ridge > 0 and lam <= 0:
        lam = ridge
    history = []
    F, C, n_iter, _ = _iterate(
        _Exact(X), Gt, None, C, update=update, ridge=lam, l1=l1, keep=keep, tol=tol,
        max_iter=max_iter, n_done=0, callback=callback, verbose=verbose,
        history=history)
    return np.ascontiguousarray(Gt.T), F, n_iter, history, lam


# --------------------------------------------------------------------------
# transform
# --------------------------------------------------------------------------
def nnls_semi(X, F, *, tol=1e-4, max_sweeps=200):
    r"""Exact :math:`\min_{G \ge 0} \|X - GF\|_F` for a fixed ``F`` of any sign.

    HALS sweeps on the Gram matrices (``F X^T`` once, then cheap sweeps)
    until the violation of a sweep is at most ``tol`` times the first one,
    then :func:`nmfkit._core.nnls.nnls` from there: its exact support solve
    makes each row's answer independent of the other rows, and the warm
    start saves most of its (per-row) coordinate descent.
    """
    k = F.shape[0]
    if X.shape[0] == 0 or k == 0:
        return np.zeros((X.shape[0], k), dtype=F.dtype)
    A = np.dot(F, X.T)
    B = np.dot(F, F.T)
    Gt = np.zeros((k, X.shape[0]), dtype=F.dtype)
    v0 = hals_sweep(Gt, A, B)
    for _ in range(max_sweeps - 1):
        if hals_sweep(Gt, A, B) <= tol * v0:
            break
    # the warm start is close: a few dozen sweeps before the polish are
    # plenty (in float32 the nnls stopping rule may never hold and would
    # run its 1000 sweeps)
    return nnls(X, F, W=np.ascontiguousarray(Gt.T), max_iter=50)


# --------------------------------------------------------------------------
# held-out score
# --------------------------------------------------------------------------
def heldout_score_semi(X, F, *, fraction=0.2, random_state=0):
    """Minus the mean squared error on a hidden ``fraction`` of the entries.

    The mixed-sign counterpart of :func:`nmfkit._core.heldout.heldout_score`
    (which assumes non-negative predictions): the same entries are hidden for
    a fixed ``random_state``, ``G >= 0`` is fit by exact NNLS on the visible
    entries of each row with ``F`` fixed, and the hidden entries are predicted
    by ``G F``. Returns ``0.0`` when nothing could be hidden.
    """
    rng = random_state if isinstance(random_state, np.random.RandomState) else (
        np.random.RandomState(random_state))
    X_vis, obs_vis, rows, cols, vals, _ = _split_dense(X, None, fraction, rng)
    if rows.size == 0:
        return 0.0
    G = nnls(X_vis, F, observed=obs_vis)
    pred = wh_at(G, F, rows, cols)
    err = (np.asarray(vals, dtype=np.float64) - pred) ** 2
    return -float(np.mean(err))
