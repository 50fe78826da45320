r"""Non-negative least squares for one factor, with optional missing entries.

Solves, for fixed ``H`` of shape ``(k, n)``,

.. math::

    \min_{W \ge 0}\; \tfrac12 \|M \circ (X - WH)\|_F^2 + l_1 |W|_1
    + \tfrac12 l_2 \|W\|_F^2 ,

which splits into one independent problem per row :math:`i`:
:math:`\min_{w \ge 0} \tfrac12 w^T G_i w - a_i^T w + l_1 \mathbf 1^T w
+ \tfrac12 l_2 \|w\|^2` with :math:`G_i = H\,\mathrm{diag}(m_i)\,H^T` and
:math:`a_i = H (m_i \circ x_i)` (:math:`G_i = HH^T` for every row without a
mask).

Method: coordinate descent (HALS sweeps) until the largest change is tiny,
then an exact *polish*: for each row the equality-constrained problem on the
current support :math:`P` (:math:`G_{PP} w_P = a_P - l_1`) is solved in one
batched linear solve, and kept where it satisfies the KKT conditions. The
answer of a row therefore does not depend on the other rows of the batch.

The per-row Gram helpers of this module are shared with the masked HALS
solver in :mod:`nmfkit._core.hals`.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["nnls"]

_GRAM_BUDGET = 1 << 22  # entries of the (c, k, k) Gram chunk


# --------------------------------------------------------------------------
# per-row Gram matrices
# --------------------------------------------------------------------------
class _RowProblems:
    r"""Produces ``(a_i, G_i)`` for chunks of rows of ``X`` and a fixed ``H``.

    Parameters
    ----------
    X : ndarray or CSR matrix (m, n)
    H : ndarray (k, n)
    observed : None, bool ndarray (m, n) or "stored"
        With ``"stored"``, ``X`` must be CSR.
    """

    def __init__(self, X, H, observed):
        self.X, self.H, self.observed = X, H, observed
        m, n = X.shape
        k = H.shape[0]
        self.dtype = H.dtype
        self.k = k
        if observed is None:
            self.B = np.dot(H, H.T)
            self.HH = None
        elif isinstance(observed, str):
            self.HT = np.ascontiguousarray(H.T)
            # products of pairs of rows of H (n, k(k+1)/2) when they fit the
            # budget: a chunk's Grams are then one sparse-dense product of
            # its pattern with them, with no (nnz, k, k) temporary
            self.pairs = np.triu_indices(k)
            self.HH = None
            if n * self.pairs[0].size <= _GRAM_BUDGET:
                a, b = self.pairs
                self.HH = np.ascontiguousarray((H[a] * H[b]).T)
        else:
            # (n, k*k): column (a, b) holds H[a] * H[b]
            self.HH = (H[:, None, :] * H[None, :, :]).reshape(k * k, n).T

    def chunks(self):
        m, n = self.X.shape
        k = self.k
        if isinstance(self.observed, str) and self.HH is not None:
            # no per-rating temporary: bound the (rows, k, k) Grams only
            step = max(1, _GRAM_BUDGET // max(1, k * k))
            for start in range(0, m, step):
                yield start, min(m, start + step)
        elif isinstance(self.observed, str):
            # bound the gathered (nnz_chunk, k, k) tensor
            indptr = self.X.indptr
            per = max(1, _GRAM_BUDGET // max(1, k * k))
            start = 0
            while start < m:
                stop = int(np.searchsorted(indptr, indptr[start] + per, side="right")) - 1
                stop = min(m, max(stop, start + 1))
                rows_budget = max(1, _GRAM_BUDGET // max(1, k * k))
                stop = min(stop, start + rows_budget)
                yield start, stop
                start = stop
        else:
            width = k * k + (n if self.observed is not None else 0)
            c = max(1, _GRAM_BUDGET // max(1, width))
            for start in range(0, m, c):
                yield start, min(m, start + c)

    def get(self, start, stop):
        X, H, obs, k = self.X, self.H, self.observed, self.k
        c = stop - start
        if obs is None:
            A = np.asarray(X[start:stop] @ H.T, dtype=self.dtype)
            G = np.broadcast_to(self.B, (c, k, k))
            return A, G
        if isinstance(obs, str) and self.HH is not None:
            lo, hi = X.indptr[start], X.indptr[stop]
            local = X.indptr[start:stop + 1] - lo
            cols = X.indices[lo:hi]
            S = sp.csr_matrix((np.ones(hi - lo, dtype=self.dtype), cols, local),
                              shape=(c, X.shape[1]))
            P = np.asarray(S @ self.HH)
            a, b = self.pairs
            G = np.empty((c, k, k), dtype=P.dtype)
            G[:, a, b] = P
            G[:, b, a] = P
            S.data = np.asarray(X.data[lo:hi], dtype=self.dtype)
            A = np.asarray(S @ self.HT)
            return A, G
        if isinstance(obs, str):
            lo, hi = X.indptr[start], X.indptr[stop]
            local = X.indptr[start:stop + 1] - lo
            cols = X.indices[lo:hi]
            Hg = self.HT[cols]  # (nnz_c, k)
            nnz_c = hi - lo
            outer = (Hg[:, :, None] * Hg[:, None, :]).reshape(nnz_c, k * k)
            S = sp.csr_matrix((np.ones(nnz_c, dtype=self.dtype),
                               np.arange(nnz_c), local), shape=(c, nnz_c))
            G = np.asarray(S @ outer).reshape(c, k, k)
            S.data = np.asarray(X.data[lo:hi], dtype=self.dtype)
            A = np.asarray(S @ Hg)
            return A, G
        M = obs[start:stop]
        Xc = np.where(M, X[start:stop], 0).astype(self.dtype, copy=False)
        A = np.dot(Xc, H.T)
        G = np.dot(M.astype(self.dtype), self.HH).reshape(c, k, k)
        return A, G


def _prepare_stored(X):
    """CSR copy of ``X`` (for row access) when the mask is ``"stored"``."""
    return X.tocsr() if X.format != "csr" else X


# --------------------------------------------------------------------------
# batched coordinate descent on per-row problems
# --------------------------------------------------------------------------
def _batched_cd(W, A, G, l1, l2, order, max_sweeps, *, eps2=0.0, atol=0.0,
                rng=None):
    """Coordinate descent on ``min 0.5 w^T G_i w - a_i^T w + l1|w| + l2/2|w|^2``.

    ``W`` (c, k) is updated in place. A row with ``G_i[t, t] + l2 == 0`` gets
    ``w_t = 0``. Stops after ``max_sweeps`` sweeps, or when the squared norm
    of a sweep's change is at most ``eps2`` times that of the first sweep, or
    when the largest absolute change is at most ``atol``.

    Returns (violation of the first sweep, number of sweeps).
    """
    c, k = W.shape
    # work in the transposed layout: the coordinate being updated and its
    # Gram rows are contiguous (c,) vectors and (k, c) slabs
    shared = c > 0 and G.strides[0] == 0  # one Gram for every row (broadcast)
    B = np.asarray(G[0]) if shared else None
    Gt = None if shared else np.ascontiguousarray(np.transpose(G, (1, 2, 0)))
    Wt = np.ascontiguousarray(W.T)
    At = np.ascontiguousarray(A.T)
    diag = np.einsum("ikk->ki", G) + l2
    live = diag > 0
    inv = np.where(live, 1.0 / np.where(live, diag, 1), 0).astype(Wt.dtype, copy=False)
    first_viol = 0.0
    d1 = None
    sweeps = 0
    for s in range(max_sweeps):
        sweeps += 1
        d = 0.0
        dmax = 0.0
        if rng is not None and s > 0:
            order = rng.permutation(k)
        for t in order:
            w = Wt[t]
            if shared:
                g = B[t] @ Wt - At[t]
            else:  # Gt[t] = G[:, t, :].T
                g = np.einsum("ji,ji->i", Gt[t], Wt) - At[t]
            if l1:
                g += l1
            if l2:
                g += l2 * w
            if s == 0:
                pg = np.where(w > 0, g, np.minimum(g, 0))
                first_viol += float(np.abs(pg).sum())
            new = np.maximum(w - g * inv[t], 0)
            new *= live[t]  # w_t = 0 where the coordinate has no curvature
            delta = new - w
            d += float(np.dot(delta, delta))
            if delta.size:
                dmax = max(dmax, float(np.abs(delta).max()))
            Wt[t] = new
        if d1 is None:
            d1 = d
        if d <= eps2 * d1 or dmax <= atol:
            break
    W[...] = Wt.T
    return first_viol, sweeps


def _polish(W, A, G, l1, l2):
    """Exact solve on each row's support; keep it where it satisfies KKT.

    Returns a boolean array: which rows were replaced by their exact support
    solution. The others keep the coordinate-descent point (see
    :func:`_finish_rows`).
    """
    c, k = W.shape
    if c == 0 or k == 0:
        return np.ones(c, dtype=bool)
    P = W > 0
    Gp = np.where(P[:, :, None] & P[:, None, :], G, 0).astype(np.float64)
    idx = np.arange(k)
    Gp[:, idx, idx] += np.where(P, l2, 1.0)
    rhs = np.where(P, A - l1, 0).astype(np.float64)
    try:
        sol = np.linalg.solve(Gp, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # one singular support Gram (k above the rank of H) fails the whole
        # batched solve: the rows are finished one by one
        return np.zeros(c, dtype=bool)
    with np.errstate(all="ignore"):
        ok = np.all(np.isfinite(sol), axis=1)
        ok &= np.all(~P | (sol > 0), axis=1)
        sol = np.where(P, sol, 0)
        grad = np.einsum("ijk,ik->ij", G, sol) + l2 * sol - A + l1
        scale = np.abs(A).max(axis=1) + np.abs(l1) + 1e-300
        ok &= np.all(P | (grad >= -1e-9 * scale[:, None]), axis=1)
        # the support solve must not be worse than the CD point
    W[ok] = sol[ok].astype(W.dtype)
    return ok


def _kkt_violation(W, grad, b):
    """Largest KKT violation of each row, relative to the size of its terms.

    ``grad`` is the gradient ``G w - b`` of each row of ``W``.
    """
    scale = np.abs(b).max(axis=1, initial=0.0) + 1e-300
    wmax = np.maximum(W.max(axis=1, initial=0.0), 1e-300)
    neg = -np.minimum(grad, 0).min(axis=1, initial=0.0)
    slack = np.abs(W * grad).max(axis=1, initial=0.0) / wmax
    return np.maximum(neg, slack) / scale


def _active_set(G, b, w, max_steps):
    r"""Lawson--Hanson active set for :math:`\min_{w\ge0} \tfrac12 w^TGw - b^Tw`.

    In Gram form, for one row; the least-squares solves on the passive set
    use ``lstsq``, so a singular ``G`` (more components than the rank of
    ``H``) still reaches a minimiser. ``w`` (a feasible start) is updated in
    place.
    """
    k = G.shape[0]
    scale = float(np.abs(b).max(initial=0.0)) + float(np.abs(G).max(initial=0.0))
    tol = 1e-12 * max(scale, 1e-300) * max(k, 1)
    P = w > 0
    if P.any():  # first the minimiser on the start's support
        _solve_passive(G, b, w, P)
    for _ in range(max_steps):
        grad = b - G @ w  # minus the gradient
        free = ~P & (grad > tol)
        if not free.any():
            break
        P[int(np.argmax(np.where(free, grad, -np.inf)))] = True
        _solve_passive(G, b, w, P)
    return w


def _solve_passive(G, b, w, P):
    """Move ``w`` toward the least-squares point on the passive set ``P``.

    Inner loop of Lawson--Hanson: step to the unconstrained minimiser on
    ``P``, or as far as feasibility allows and drop the coordinates that hit
    zero. Returns whether the final step was a full one.
    """
    for _ in range(G.shape[0] + 1):
        idx = np.flatnonzero(P)
        if idx.size == 0:
            return True
        z = np.linalg.lstsq(G[np.ix_(idx, idx)], b[idx], rcond=None)[0]
        if np.all(z > 0):
            w[:] = 0
            w[idx] = z
            return True
        neg = z <= 0
        wi = w[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(neg, wi / (wi - z), np.inf)
        alpha = float(min(max(ratios.min(), 0.0), 1.0))
        w[idx] = wi + alpha * (z - wi)
        w[w <= 0] = 0
        P &= w > 0
    return False


def _finish_rows(W, A, G, l1, l2, exact):
    """Rows the support polish could not finish: exact active-set solve.

    Coordinate descent crawls along the flat directions of a singular Gram
    (more components than the rank of ``H``) and its point may stop short of
    the minimum; those rows (the ones failing the KKT conditions) are solved
    by Lawson--Hanson, one row at a time (rare and small: ``k x k``).
    """
    c, k = W.shape
    rows = np.flatnonzero(~exact)
    if rows.size == 0:
        return
    G64 = np.array(G[rows], dtype=np.float64)
    if l2:
        G64[:, np.arange(k), np.arange(k)] += l2
    b = np.asarray(A[rows], dtype=np.float64) - l1
    w = np.asarray(W[rows], dtype=np.float64)
    grad = np.einsum("ijk,ik->ij", G64, w) - b
    for j in np.flatnonzero(_kkt_violation(w, grad, b) > 1e-9):
        wj = w[j].copy()
        _active_set(G64[j], b[j], wj, max_steps=3 * k + 10)
        W[rows[j]] = wj.astype(W.dtype)


def nnls(X, H, *, W=None, observed=None, l1=0.0, l2=0.0, tol=1e-6, max_iter=1000):
    r"""Non-negative least squares :math:`\min_{W\ge0} \tfrac12\|X - WH\|^2`.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (m, n)
    H : ndarray of shape (k, n)
        Fixed factor.
    W : ndarray of shape (m, k), default=None
        Warm start, updated in place and returned. ``None`` starts from 0.
    observed : None, bool ndarray or "stored", default=None
        Observed entries (see :mod:`nmfkit._core`). A row without any
        observed entry gets ``W[i] = 0``.
    l1, l2 : float, default=0
        Penalties on ``W`` (already scaled).
    tol : float, default=1e-6
        Coordinate descent stops once the largest change of a sweep is at
        most ``tol`` times the largest entry of ``W``; the exact support
        polish then removes the remaining error.
    max_iter : int, default=1000
        Maximum number of coordinate-descent sweeps.

    Returns
    -------
    W : ndarray of shape (m, k)
        Same dtype as ``H``.
    """
    m = X.shape[0]
    k = H.shape[0]
    dtype = H.dtype
    if W is None:
        W = np.zeros((m, k), dtype=dtype)
    if m == 0 or k == 0:
        return W
    if isinstance(observed, str):
        X = _prepare_stored(X)
    elif sp.issparse(X) and X.format != "csr":
        X = X.tocsr()
    problems = _RowProblems(X, H, observed)
    order = np.arange(k)
    for start, stop in problems.chunks():
        A, G = problems.get(start, stop)
        Wc = np.ascontiguousarray(W[start:stop])
        scale = max(float(np.abs(A).max(initial=0.0)) /
                    max(float(np.abs(np.einsum("ikk->ik", G)).max(initial=0.0)), 1e-300),
                    1e-300)
        _batched_cd(Wc, A, G, l1, l2, order, max_iter, atol=tol * scale)
        exact = _polish(Wc, A, G, l1, l2)
        _finish_rows(Wc, A, G, l1, l2, exact)
        W[start:stop] = Wc
    return W
