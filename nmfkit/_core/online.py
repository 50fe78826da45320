r"""Online (mini-batch) NMF: one pass over a mini-batch at a time.

The data are visited in mini-batches :math:`X_b` of ``b`` rows. For each
batch the coefficients :math:`W_b` are fitted with ``H`` fixed, then ``H`` is
updated from *sufficient statistics* accumulated over all batches seen so far,
older batches down-weighted by a forgetting factor :math:`\rho`
(scikit-learn's ``rho = forget_factor ** (batch_size / n_samples)``).

Frobenius loss: online HALS
    (Mairal, Bach, Ponce & Sapiro 2010; the block-coordinate variant is online
    HALS.) With

    .. math::

        A \leftarrow \rho A + W_b^T W_b, \qquad
        B \leftarrow \rho B + W_b^T X_b,

    the surrogate of the (down-weighted) loss summed over the past batches is
    :math:`\tfrac12\operatorname{tr}(H^T A H) - \langle B, H\rangle` + const,
    a problem of the HALS form in ``H`` (``hals_sweep`` with ``"A" = B`` and
    Gram ``A``). ``W_b`` is fitted by warm-started HALS sweeps with the Gram
    :math:`HH^T`. Every product is a BLAS-3 product of the batch with a ``k``-row
    matrix; the sweeps cost :math:`O(k^2 (b + n))`.

    With missing entries (mask :math:`M_b`), each row ``i`` of the batch has its
    own Gram :math:`H\,\mathrm{diag}(m_i)\,H^T` and each column ``j`` of ``H``
    its own accumulated Gram :math:`A_j \leftarrow \rho A_j + \sum_i m_{ij}
    w_i w_i^T` (``n`` small ``k x k`` matrices, built with one product
    :math:`M_b^T (W_b \odot W_b)`); coordinate descent then runs batched over
    the rows (columns).

Other beta-divergences: mini-batch multiplicative updates
    (Lefevre, Bach & Fevotte 2011), scikit-learn's scheme: one multiplicative
    update of ``W_b``, then the numerator and denominator of the update of
    ``H`` are accumulated with the factor :math:`\rho` and ``H`` is set to
    their ratio (with the maximization-minimization exponent :math:`\gamma`
    of Fevotte & Idier 2011). Missing entries are left out of both sums.

Penalties follow :mod:`nmfkit._core`; the penalties on ``H`` are accumulated
with the same weights as the statistics, so the surrogate stays the
down-weighted sum of the per-batch objectives.

References
----------
J. Mairal, F. Bach, J. Ponce and G. Sapiro, "Online learning for matrix
factorization and sparse coding", JMLR 11 (2010).

A. Lefevre, F. Bach and C. Fevotte, "Online algorithms for nonnegative matrix
factorization with the Itakura-Saito divergence", WASPAA 2011.

C. Fevotte and J. Idier, "Algorithms for nonnegative matrix factorization with
the beta-divergence", Neural Computation 23.9 (2011).
"""

import contextlib

import numpy as np
import scipy.sparse as sp

from .hals import hals_sweep
from .parallel import single_blas

__all__ = [
    "FRESH_RTOL",
    "OnlineStats",
    "blas_for_batch",
    "fit_online",
    "fresh_W",
    "mm_gamma",
    "minibatch_step",
    "refresh_W",
]

# scikit-learn's small constant of the multiplicative updates
_EPS = np.finfo(np.float32).eps

# Inner sweeps of the Frobenius solver: a sweep costs O(k^2 b) plus Python
# overhead per component, far less than the products of the batch.
_W_SWEEPS = 3
_H_SWEEPS = 3
_INNER_RTOL = 1e-2
# without a warm start, solve the batch more exactly (fresh restarts of fit
# and every partial_fit: both solve a batch the same way)
FRESH_RTOL = 1e-3


# The sweeps are sequences of tiny BLAS calls (``k``-vector times ``(k, b)``
# matrix): they run on one BLAS thread; the large products keep the threads.
_single_blas = single_blas


# Below this many multiply-adds (b * n * k), the products of a batch are too
# small for BLAS threads to pay: the whole step runs on one thread.
_SMALL_PRODUCT = 2**25


def _step_blas(b, n, k):
    """One BLAS thread for a step whose products are small, else no limit."""
    if b * n * k < _SMALL_PRODUCT:
        return _single_blas()
    return contextlib.nullcontext()


def blas_for_batch(b, n, k):
    """Public alias of the BLAS-threading rule for a ``(b, n)`` block, rank ``k``."""
    return _step_blas(b, n, k)


def mm_gamma(beta):
    """Maximization-minimization exponent of the multiplicative updates."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------
class OnlineStats:
    """Accumulated statistics of the surrogate problem in ``H``.

    Frobenius (``beta == 2``): ``A`` the ``(k, k)`` Gram :math:`\\sum\\rho^j
    W^TW` -- or ``A_cols`` ``(n, k, k)``, one Gram per column of ``H``, once a
    batch with missing entries was seen --, ``B`` ``(k, n)`` the sum of
    :math:`W^TX`, ``l1``/``l2`` the accumulated penalties on ``H``.

    Other losses: ``A`` and ``B`` are the numerator and denominator of the
    multiplicative update of ``H`` (``H`` and ones at the start, as
    scikit-learn).
    """

    __slots__ = ("beta", "A", "B", "A_cols", "l1", "l2")

    def __init__(self, H, beta):
        k, n = H.shape
        self.beta = float(beta)
        self.A_cols = None
        self.l1 = 0.0
        self.l2 = 0.0
        if self.beta == 2:
            self.A = np.zeros((k, k), dtype=H.dtype)
            self.B = np.zeros((k, n), dtype=H.dtype)
        else:
            self.A = H.copy()
            self.B = np.ones((k, n), dtype=H.dtype)

    def _to_columns(self, n):
        if self.A_cols is None:
            k = self.A.shape[0]
            self.A_cols = np.ascontiguousarray(
                np.broadcast_to(self.A, (n, k, k)))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _dot_XHt(X, H):
    """``X @ H.T`` as a C-contiguous ndarray for dense or sparse ``X``."""
    if sp.issparse(X):
        return np.ascontiguousarray(X @ H.T)
    return np.dot(X, H.T)


def _dot_WtX(Wt, X):
    """``Wt @ X`` (``Wt`` is ``(k, b)``) for dense or sparse ``X``."""
    if sp.issparse(X):
        return np.ascontiguousarray((X.T @ Wt.T).T)
    return np.dot(Wt, X)


def _sq_norm(X):
    """Squared Frobenius norm (einsum: no BLAS threads for a memory-bound pass)."""
    data = X.data if sp.issparse(X) else X
    flat = np.ravel(data)
    return float(np.einsum("i,i->", flat, flat))


def _pattern(X, observed):
    """The observation mask of a batch as a float matrix (dense or sparse)."""
    if isinstance(observed, str):  # "stored"
        P = X.copy()
        P.data = np.ones_like(P.data)
        return P
    return observed.astype(X.dtype)


def _pair_products(F):
    """``(k*k, n)`` rows ``F[s] * F[t]`` of a ``(k, n)`` factor."""
    k, n = F.shape
    return (F[:, None, :] * F[None, :, :]).reshape(k * k, n)


def _batched_cd(F, G, R, l1, l2, sweeps):
    r"""Coordinate descent on many small NNLS problems at once.

    For each row ``i`` of ``F`` (``(m, k)``, updated in place), minimise
    :math:`\tfrac12 f^T G_i f - r_i^T f + l_1 |f|_1 + \tfrac12 l_2 |f|^2`,
    ``G`` of shape ``(m, k, k)`` and ``R`` of shape ``(m, k)``. The loop runs
    over the ``k`` coordinates, each step vectorised over the ``m`` problems.
    """
    m, k = F.shape
    if m == 0 or k == 0:
        return F
    diag = np.einsum("mtt->mt", G) + l2
    safe = np.where(diag > 0, diag, 1.0)
    live = diag > 0
    for _ in range(sweeps):
        for t in range(k):
            g = np.einsum("ms,ms->m", G[:, t, :], F)
            g -= R[:, t]
            g += l1 + l2 * F[:, t]
            new = F[:, t] - g / safe[:, t]
            np.maximum(new, 0, out=new)
            F[:, t] = np.where(live[:, t], new, F[:, t])
    return F


def _sweeps(Ft, A, G, max_sweeps, rtol=_INNER_RTOL):
    """Warm-started HALS sweeps until the violation drops by ``rtol``."""
    if Ft.size == 0:
        return
    first = None
    with _single_blas():
        for _ in range(max_sweeps):
            v = hals_sweep(Ft, A, G)
            if first is None:
                first = v
                if v == 0.0:
                    break
            elif v <= rtol * first:
                break


def _penalties(W, H, l1_W, l2_W, l1_H, l2_H):
    cost = 0.0
    if l1_W:
        cost += l1_W * float(W.sum())
    if l2_W:
        cost += 0.5 * l2_W * _sq_norm(W)
    if l1_H:
        cost += l1_H * float(H.sum())
    if l2_H:
        cost += 0.5 * l2_H * _sq_norm(H)
    return cost


# --------------------------------------------------------------------------
# Frobenius: W step and H step
# --------------------------------------------------------------------------
def _ls_start(G, R):
    r"""Clipped least-squares start :math:`\max(0, G^{-1} r)` of NNLS problems.

    ``G`` is one ``(k, k)`` Gram matrix or a stack ``(m, k, k)``; ``R`` is
    ``(m, k)``. A tiny ridge keeps singular Grams (zero rows, ``k`` above the
    rank) finite.
    """
    k = G.shape[-1]
    info = np.finfo(G.dtype)
    diag = np.einsum("...tt->...t", G)
    ridge = 10 * k * info.eps * diag.mean(axis=-1) + info.tiny ** 0.5
    Gr = G + np.asarray(ridge)[..., None, None] * np.eye(k, dtype=G.dtype)
    try:
        if G.ndim == 2:
            sol = np.linalg.solve(Gr, R.T).T
        else:
            sol = np.linalg.solve(Gr, R[..., None])[..., 0]
    except np.linalg.LinAlgError:  # numerically singular: start from zero
        return np.zeros(R.shape, dtype=R.dtype)
    sol = np.nan_to_num(sol, nan=0.0, posinf=0.0, neginf=0.0)
    return np.maximum(sol, 0, out=sol)


def _start(W, G, R, cold):
    """Starting point of the sweeps on ``W`` (in place), row by row.

    ``cold``: the clipped least-squares solution. Otherwise the better, for
    each row, of the warm start and the clipped least-squares solution
    (compared on the row's objective :math:`\\tfrac12 w^TGw - r^Tw`), so a
    stale warm start never costs more sweeps than a fresh one.
    """
    ls = _ls_start(G, R)
    if cold:
        W[...] = ls
        return

    def objective(F):
        GF = F @ G if G.ndim == 2 else np.einsum("mst,mt->ms", G, F)
        return np.einsum("ms,ms->m", F, 0.5 * GF - R)

    better = objective(ls) < objective(W)
    W[better] = ls[better]


def _fro_W(X, W, H, HHt, observed, l1, l2, sweeps, rtol=_INNER_RTOL, xsq=None,
           cold=False):
    """Fit the batch coefficients ``W`` (in place); return the batch loss.

    The returned loss is :math:`\\tfrac12\\|X - WH\\|^2` over the observed
    entries, computed from the products already at hand and ``xsq``
    (:math:`\\|X\\|_F^2`, computed when ``None``). ``cold``: ``W`` holds no
    warm start; begin from the clipped least-squares solution (otherwise from
    the better of it and the warm start, row by row).
    """
    XHt = _dot_XHt(X, H)
    if xsq is None:
        xsq = _sq_norm(X)
    if observed is None:
        G = HHt.copy()
        if l2:
            G.flat[:: G.shape[0] + 1] += l2
        A = XHt.T.copy()
        if l1:
            A -= l1
        if W.shape[0]:
            with _single_blas():
                _start(W, G, A.T, cold)
        Wt = np.ascontiguousarray(W.T)
        _sweeps(Wt, A, G, sweeps, rtol)
        W[...] = Wt.T
        WtW = np.dot(Wt, Wt.T)
        loss = 0.5 * (xsq - 2.0 * float(np.vdot(W, XHt))
                      + float(np.vdot(WtW, HHt)))
        return max(loss, 0.0), Wt, WtW
    k = H.shape[0]
    P = _pattern(X, observed)
    G = np.asarray(P @ _pair_products(H).T).reshape(-1, k, k)
    if W.shape[0]:
        Gl = G + l2 * np.eye(k, dtype=G.dtype) if l2 else G
        _start(W, Gl, XHt - l1 if l1 else XHt, cold)
    _batched_cd(W, G, XHt, l1, l2, sweeps)
    quad = float(np.einsum("ms,mst,mt->", W, G, W))
    loss = 0.5 * (xsq - 2.0 * float(np.vdot(W, XHt)) + quad)
    Wt = np.ascontiguousarray(W.T)
    return max(loss, 0.0), Wt, None


def _fro_H(X, Wt, WtW, H, stats, observed, rho, l1, l2, sweeps):
    """Accumulate the statistics of the batch and update ``H`` in place."""
    WtX = _dot_WtX(Wt, X)
    stats.B *= rho
    stats.B += WtX
    stats.l1 = rho * stats.l1 + l1
    stats.l2 = rho * stats.l2 + l2
    k, n = H.shape
    if observed is not None:
        stats._to_columns(n)
    if stats.A_cols is None:
        stats.A *= rho
        stats.A += WtW
        G = stats.A.copy()
        if stats.l2:
            G.flat[:: k + 1] += stats.l2
        A = stats.B - stats.l1 if stats.l1 else stats.B
        _sweeps(H, A, G, sweeps)
        return
    stats.A_cols *= rho
    if observed is None:
        stats.A_cols += WtW
    else:
        P = _pattern(X, observed)
        W = Wt.T
        WW = (W[:, :, None] * W[:, None, :]).reshape(W.shape[0], k * k)
        stats.A_cols += np.asarray(P.T @ WW).reshape(n, k, k)
    Ht = np.ascontiguousarray(H.T)
    _batched_cd(Ht, stats.A_cols, stats.B.T, stats.l1, stats.l2, sweeps)
    H[...] = Ht.T


# --------------------------------------------------------------------------
# multiplicative updates
# --------------------------------------------------------------------------
def _mu_terms(X, W, H, beta, observed, side):
    """Numerator and denominator of the multiplicative update of one factor.

    ``side="H"``: :math:`W^T (M\\odot X\\odot(WH)^{\\beta-2})` and
    :math:`W^T (M\\odot(WH)^{\\beta-1})`; ``side="W"``: the same products with
    ``H^T`` on the right. ``M`` is the observation mask; ``X`` is zero at the
    missing entries so the numerator needs no mask.
    """
    if sp.issparse(X):
        Xc = X.tocsr()
        rows = np.repeat(np.arange(Xc.shape[0]), np.diff(Xc.indptr))
        wh = np.einsum("ik,ki->i", W[rows], H[:, Xc.indices])
        if beta < 2:
            np.maximum(wh, _EPS, out=wh)
        Q = sp.csr_matrix((Xc.data * wh ** (beta - 2.0), Xc.indices, Xc.indptr),
                          shape=Xc.shape)
        if observed is None:
            if beta == 1:
                R = None
            else:
                WH = np.dot(W, H)
                if beta < 1:
                    np.maximum(WH, _EPS, out=WH)
                R = WH ** (beta - 1.0)
        else:
            R = sp.csr_matrix((wh ** (beta - 1.0), Xc.indices, Xc.indptr),
                              shape=Xc.shape)
    else:
        WH = np.dot(W, H)
        if beta < 2:
            np.maximum(WH, _EPS, out=WH)
        if beta == 1:
            Q = X / WH
            R = None if observed is None else observed.astype(X.dtype)
        else:
            Q = WH ** (beta - 2.0)
            Q *= X
            if beta == 0:
                R = 1.0 / WH
            else:
                R = np.power(WH, beta - 1.0, out=WH)
            if observed is not None:
                R *= observed
    if side == "H":
        num = np.ascontiguousarray(Q.T @ W).T if sp.issparse(Q) else np.dot(W.T, Q)
        if R is None:
            # scikit-learn's rule: a component unused by the whole batch
            # (zero column of W) gets denominator 1, so the accumulated
            # statistics still see the batch (a batch of zero rows shrinks
            # H instead of leaving it unchanged, which would stop the run on
            # the "small change of H" rule long before convergence)
            w_sum = W.sum(axis=0)
            w_sum[w_sum == 0] = 1.0
            den = np.repeat(w_sum[:, None], H.shape[1], axis=1)
        elif sp.issparse(R):
            den = np.ascontiguousarray((R.T @ W).T)
        else:
            den = np.dot(W.T, R)
    else:
        num = np.asarray(Q @ H.T)
        if R is None:
            den = np.repeat(H.sum(axis=1)[None, :], W.shape[0], axis=0)
        else:
            den = np.asarray(R @ H.T)
    return num.astype(H.dtype, copy=False), den.astype(H.dtype, copy=False)


def _mu_W(X, W, H, beta, observed, l1, l2, gamma):
    """One multiplicative update of the batch coefficients ``W`` (in place)."""
    num, den = _mu_terms(X, W, H, beta, observed, "W")
    if l1:
        den += l1
    if l2:
        den += l2 * W
    den[den == 0] = _EPS
    num /= den
    if gamma != 1:
        num **= gamma
    W *= num
    if beta < 1:
        W[W < np.finfo(np.float64).eps] = 0.0


def _mu_H(X, W, H, stats, beta, observed, rho, l1, l2, gamma):
    """Accumulate numerator and denominator and set ``H`` (in place)."""
    num, den = _mu_terms(X, W, H, beta, observed, "H")
    if l1:
        den += l1
    if l2:
        den += l2 * H
    den[den == 0] = _EPS
    if gamma != 1:
        num *= H ** (1.0 / gamma)
    else:
        num *= H
    stats.A *= rho
    stats.A += num
    stats.B *= rho
    stats.B += den
    np.divide(stats.A, stats.B, out=H)
    if gamma != 1:
        H **= gamma
    if beta <= 1:
        H[H < np.finfo(np.float64).eps] = 0.0


def _batch_divergence(X, W, H, beta, observed):
    """Beta-divergence of one batch on its observed entries (MU losses)."""
    from .losses import beta_divergence

    return float(beta_divergence(X, W, H, beta, observed=observed))


# --------------------------------------------------------------------------
# public steps
# --------------------------------------------------------------------------
def fresh_W(X, H, observed):
    """Flat starting coefficients ``sqrt(mean(X) / k)`` for a batch."""
    m = X.shape[0]
    k = H.shape[0]
    if isinstance(observed, np.ndarray):
        n_obs = int(observed.sum())
    elif observed is not None:
        n_obs = X.nnz
    else:
        n_obs = X.shape[0] * X.shape[1]
    total = float(X.sum())
    avg = np.sqrt(max(total / max(n_obs, 1), _EPS) / max(k, 1))
    return np.full((m, k), avg, dtype=H.dtype)


def minibatch_step(X, W, H, stats, *, rho, l1_W=0.0, l2_W=0.0, l1_H=0.0,
                   l2_H=0.0, observed=None, update_H=True, w_iter=None,
                   w_rtol=_INNER_RTOL, w_cold=False, gamma=None,
                   x_sq_norm=None):
    r"""One mini-batch step: fit ``W`` of the batch, then update ``H``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (b, n)
        The batch (zero at missing entries).
    W : ndarray of shape (b, k)
        Coefficients of the batch, warm start, updated in place.
    H : ndarray of shape (k, n)
        Components, updated in place when ``update_H``.
    stats : OnlineStats
        Accumulated statistics, updated in place when ``update_H``.
    rho : float
        Forgetting factor applied to the past statistics.
    l1_W, l2_W, l1_H, l2_H : float
        Penalties scaled for this batch (see :mod:`nmfkit._core`).
    observed : None, bool ndarray or "stored"
        Observed entries of the batch.
    update_H : bool, default=True
        Whether to update ``H`` and the statistics.
    w_iter : int, default=None
        Number of passes on ``W``: HALS sweeps (Frobenius, default 8, fewer
        when they stop paying) or multiplicative updates (default 1).
    w_rtol : float, default=1e-2
        Frobenius: the HALS sweeps on ``W`` stop once the violation of a sweep
        is at most ``w_rtol`` times that of the first.
    w_cold : bool, default=False
        Frobenius: ``W`` holds no warm start; the sweeps begin from the
        clipped least-squares solution.
    gamma : float, default=None
        Exponent of the multiplicative updates (default :func:`mm_gamma`).
    x_sq_norm : float, default=None
        Frobenius: :math:`\\|X\\|_F^2` of the batch if known (saves a pass).

    Returns
    -------
    cost : float
        Objective of the batch (loss + penalties) with ``H`` before its
        update, divided by the batch size.
    """
    b = X.shape[0]
    with _step_blas(b, X.shape[1], H.shape[0]):
        return _minibatch_step(X, W, H, stats, rho, l1_W, l2_W, l1_H, l2_H,
                               observed, update_H, w_iter, w_rtol, w_cold, gamma,
                               x_sq_norm)


def _minibatch_step(X, W, H, stats, rho, l1_W, l2_W, l1_H, l2_H, observed,
                    update_H, w_iter, w_rtol, w_cold, gamma, x_sq_norm):
    b = X.shape[0]
    beta = stats.beta
    if beta == 2:
        HHt = np.dot(H, H.T)
        loss, Wt, WtW = _fro_W(X, W, H, HHt, observed, l1_W, l2_W,
                               _W_SWEEPS if w_iter is None else w_iter, w_rtol,
                               x_sq_norm, w_cold)
        cost = loss + _penalties(W, H, l1_W, l2_W, l1_H, l2_H)
        if update_H:
            _fro_H(X, Wt, WtW, H, stats, observed, rho, l1_H, l2_H, _H_SWEEPS)
    else:
        if gamma is None:
            gamma = mm_gamma(beta)
        for _ in range(1 if w_iter is None else w_iter):
            _mu_W(X, W, H, beta, observed, l1_W, l2_W, gamma)
        cost = (_batch_divergence(X, W, H, beta, observed)
                + _penalties(W, H, l1_W, l2_W, l1_H, l2_H))
        if update_H:
            _mu_H(X, W, H, stats, beta, observed, rho, l1_H, l2_H, gamma)
    return cost / max(b, 1)


def refresh_W(X, W, H, *, beta, batch_size, l1_W=0.0, l2_W=0.0, observed=None,
              sweeps=None):
    """Refit every row of ``W`` (in place) for the final ``H``, batch by batch.

    Frobenius only: a pass of warm-started HALS sweeps (no ``H`` update), so
    that the returned coefficients match the returned components.
    """
    if beta != 2:
        return W
    HHt = np.dot(H, H.T)
    m = X.shape[0]
    with _step_blas(min(batch_size, m), X.shape[1], H.shape[0]):
        for start in range(0, m, batch_size):
            sl = slice(start, min(start + batch_size, m))
            obs = observed[sl] if isinstance(observed, np.ndarray) else observed
            _fro_W(X[sl], W[sl], H, HHt, obs, l1_W, l2_W,
                   _W_SWEEPS if sweeps is None else sweeps, xsq=0.0)
    return W


def fit_online(X, W, H, stats, *, batch_size, rho, tol=1e-4,
               max_no_improvement=10, max_iter=200, l1_W=0.0, l2_W=0.0,
               l1_H=0.0, l2_H=0.0, observed=None, fresh_restarts=False,
               fresh_restarts_max_iter=30, cold_start=False, verbose=0):
    r"""Fit ``W`` and ``H`` by passes of mini-batch steps over ``X``.

    Batches are consecutive slices of ``batch_size`` rows, cycled. After each
    step (from the second on) the run stops, as scikit-learn's MiniBatchNMF,
    when the relative change of ``H`` in the step is at most ``tol``, or when
    an exponentially weighted average of the batch costs has not improved for
    ``max_no_improvement`` steps.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (m, n)
        Data (zero at missing entries).
    W : ndarray of shape (m, k)
        Initial coefficients, updated in place.
    H : ndarray of shape (k, n)
        Initial components, updated in place.
    stats : OnlineStats
        Statistics (fresh, or carried over), updated in place.
    batch_size : int
        Rows per batch.
    rho : float
        Forgetting factor per step.
    tol : float, default=1e-4
        Tolerance on the relative change of ``H`` in one step.
    max_no_improvement : int or None, default=10
        Steps without improvement of the smoothed cost before stopping.
    max_iter : int, default=200
        Maximum number of passes over the data.
    l1_W, l2_W, l1_H, l2_H : float
        Penalties scaled for the whole ``X``; those on ``H`` are rescaled to
        each batch by ``b / m``, as scikit-learn does.
    observed : None, bool ndarray or "stored"
        Observed entries of ``X``.
    fresh_restarts : bool, default=False
        Refit each batch's ``W`` from a flat start at every step.
    fresh_restarts_max_iter : int, default=30
        Passes on ``W`` in a fresh restart.
    cold_start : bool, default=False
        ``W`` holds no useful warm start (e.g. flat values): in the first pass
        over the data each batch's ``W`` starts from the clipped least-squares
        solution.
    verbose : int, default=0
        Print the costs per step.

    Returns
    -------
    W, H : ndarray
    n_iter : int
        Number of passes (epochs) started.
    n_steps : int
        Number of mini-batch steps run.
    """
    m, n = X.shape
    k = H.shape[0]
    if sp.issparse(X):
        X = X.tocsr()
    steps_per_iter = int(np.ceil(m / batch_size)) if m else 1
    n_steps_max = max_iter * steps_per_iter
    H_prev = H.copy()
    ewa = None
    ewa_min = None
    no_improvement = 0
    step = 0
    slices = [slice(s, min(s + batch_size, m)) for s in range(0, m, batch_size)]
    if not slices or k == 0 or n == 0:
        return W, H, 0, 0
    # squared norms of the batches, computed on the first visit (Frobenius)
    batch_sq = [None] * len(slices)
    while step < n_steps_max:
        i_batch = step % steps_per_iter
        sl = slices[i_batch]
        Xb = X[sl]
        b = Xb.shape[0]
        obs = observed[sl] if isinstance(observed, np.ndarray) else observed
        scale = b / m
        cold = fresh_restarts or (cold_start and step < steps_per_iter)
        if fresh_restarts:
            Wb = fresh_W(Xb, H, obs)
        else:
            Wb = W[sl]
        if stats.beta == 2 and batch_sq[i_batch] is None:
            batch_sq[i_batch] = _sq_norm(Xb)
        cost = minibatch_step(Xb, Wb, H, stats, rho=rho, l1_W=l1_W, l2_W=l2_W,
                              l1_H=l1_H * scale, l2_H=l2_H * scale,
                              observed=obs, update_H=True,
                              w_iter=fresh_restarts_max_iter if fresh_restarts else None,
                              w_rtol=FRESH_RTOL if fresh_restarts else _INNER_RTOL,
                              w_cold=cold, x_sq_norm=batch_sq[i_batch])
        if fresh_restarts:
            W[sl] = Wb
        step += 1
        # the first step only initialises the smoothed cost
        if step == 1:
            if verbose:
                print(f"Minibatch step {step}/{n_steps_max}: mean batch cost: "
                      f"{cost}")
            H_prev[...] = H
            continue
        if ewa is None:
            ewa = cost
        else:
            alpha = min(b / (m + 1), 1.0)
            ewa = ewa * (1.0 - alpha) + cost * alpha
        if verbose:
            print(f"Minibatch step {step}/{n_steps_max}: mean batch cost: "
                  f"{cost}, ewa cost: {ewa}")
        diff = float(np.linalg.norm(H - H_prev))
        norm = float(np.linalg.norm(H))
        rel = diff / norm if norm > 0 else (0.0 if diff == 0 else np.inf)
        # a batch of zero rows says nothing about H (its coefficients are
        # zero, the statistics only shrink): a small change of H there is no
        # sign of convergence
        informative = bool(Xb.nnz if sp.issparse(Xb) else Xb.any())
        if tol > 0 and rel <= tol and informative:
            if verbose:
                print(f"Converged (small H change) at step {step}/{n_steps_max}")
            break
        if ewa_min is None or ewa < ewa_min:
            no_improvement = 0
            ewa_min = ewa
        else:
            no_improvement += 1
        if (max_no_improvement is not None
                and no_improvement >= max_no_improvement):
            if verbose:
                print("Converged (lack of improvement in objective function) "
                      f"at step {step}/{n_steps_max}")
            break
        H_prev[...] = H
    n_iter = int(np.ceil(step / steps_per_iter))
    return W, H, n_iter, step
