r"""Least squares on the unit simplex, row by row (fully constrained least squares).

For fixed ``M`` (k x n) each row ``x`` of ``X`` gets

.. math::

    \min_a \tfrac12 \|x - a M\|^2 \quad \text{s.t.}\quad a \ge 0,\ \mathbf 1^T a = 1 .

Method: the sum-to-one row is appended with a large weight ``delta``
(``[x, delta]`` against ``[M, delta 1]``) and the non-negative least squares
of :func:`nmfkit._core.nnls.nnls` finds the support; then, on that support
``P``, the equality-constrained problem is solved exactly from its KKT system

.. math::

    \begin{pmatrix} G_{PP} & \mathbf 1\\ \mathbf 1^T & 0\end{pmatrix}
    \begin{pmatrix} a_P\\ \nu\end{pmatrix} =
    \begin{pmatrix} c_P\\ 1\end{pmatrix},\qquad G = MM^T,\ c = Mx,

batched over the rows, and kept where it is feasible (``a_P > 0``) and
optimal (``(G a - c)_j + \nu \ge 0`` off the support). Rows where it is not
keep the (renormalised) augmented solution.
"""

import numpy as np

from .nnls import nnls

__all__ = ["simplex_lstsq", "augment"]


def augment(F, value, dtype=None):
    """``[F, value]``: ``F`` (m, n) with a constant column appended (m, n + 1).

    The sum-to-one row of ``X`` and ``M``: with ``X_aug = augment(X, delta)``
    and ``M_aug = augment(M, delta)``, ``|X_aug - A M_aug|^2 = |X - AM|^2 +
    delta^2 |1 - A 1|^2``.
    """
    m, n = F.shape
    out = np.empty((m, n + 1), dtype=F.dtype if dtype is None else dtype)
    out[:, :n] = F
    out[:, n] = value
    return out


def _kkt_solve(G, C, P):
    """Equality-constrained solve on the supports ``P``; returns ``(a, nu)``."""
    m, k = P.shape
    K = np.zeros((m, k + 1, k + 1))
    K[:, :k, :k] = np.where(P[:, :, None] & P[:, None, :], G, 0.0)
    idx = np.arange(k)
    K[:, idx, idx] += np.where(P, 0.0, 1.0)
    K[:, :k, k] = P
    K[:, k, :k] = P
    rhs = np.zeros((m, k + 1))
    rhs[:, :k] = np.where(P, C, 0.0)
    rhs[:, k] = 1.0
    # a tiny ridge keeps the system solvable when G_PP is singular
    K[:, idx, idx] += 1e-13 * (np.abs(G).max() + 1e-300)
    sol = np.linalg.solve(K, rhs[..., None])[..., 0]
    return np.where(P, sol[:, :k], 0.0), sol[:, k]


def simplex_lstsq(X, M, *, weight=None, max_iter=None):
    """Fully constrained least-squares coefficients of the rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (m, n)
    M : ndarray of shape (k, n)
    weight : float, default=None
        Weight of the sum-to-one row of the support search; ``None``: 10 times
        the root mean squared norm of the rows of ``M``.
    max_iter : int, default=None
        Active-set iterations after the support search (``None``: ``3 k + 10``).

    Returns
    -------
    A : ndarray of shape (m, k)
        Non-negative rows summing to one (computed in float64, returned in
        ``M``'s dtype).
    """
    m, n = X.shape
    k = M.shape[0]
    dtype = M.dtype
    if m == 0 or k == 0:
        return np.zeros((m, k), dtype=dtype)
    M64 = np.asarray(M, dtype=np.float64)
    X64 = np.asarray(X, dtype=np.float64)
    G = np.dot(M64, M64.T)
    if weight is None:
        weight = 10.0 * np.sqrt(max(float(np.trace(G)) / k, np.finfo(np.float64).tiny))
    A0 = nnls(augment(X64, weight), augment(M64, weight))
    C = np.dot(X64, M64.T)
    # batched active set, started from the support of the augmented solution
    P = A0 > 0
    P[~P.any(axis=1)] = True
    A = np.zeros((m, k))
    done = np.zeros(m, dtype=bool)
    scale = np.abs(C).max(axis=1) + np.abs(G).max() + 1e-300
    rows = np.arange(m)
    for _ in range(3 * k + 10 if max_iter is None else max_iter):
        todo = np.flatnonzero(~done)
        if todo.size == 0:
            break
        Pt = P[todo]
        with np.errstate(all="ignore"):
            a, nu = _kkt_solve(G, C[todo], Pt)
            grad = np.dot(a, G) - C[todo] + nu[:, None]
        finite = np.isfinite(a).all(axis=1) & np.isfinite(nu)
        neg = Pt & (a < 0)
        viol = np.where(Pt, 0.0, np.minimum(grad, 0.0))
        viol_ok = viol.min(axis=1) >= -1e-9 * scale[todo]
        ok = finite & ~neg.any(axis=1) & viol_ok
        A[todo[ok]] = np.maximum(a[ok], 0.0)
        done[todo[ok]] = True
        # infeasible: drop the most negative coordinate (keep one at least)
        drop = finite & neg.any(axis=1) & (Pt.sum(axis=1) > 1)
        if drop.any():
            j = np.argmin(np.where(neg, a, np.inf), axis=1)
            P[todo[drop], j[drop]] = False
        # feasible but not optimal: add the most violating coordinate
        add = finite & ~neg.any(axis=1) & ~viol_ok
        if add.any():
            j = np.argmin(viol, axis=1)
            P[todo[add], j[add]] = True
        stuck = ~finite | (neg.any(axis=1) & (Pt.sum(axis=1) <= 1))
        if stuck.any():
            done[todo[stuck]] = True
            A[todo[stuck]] = A0[todo[stuck]]
    rest = ~done
    if rest.any():  # active set did not settle: the augmented solution
        A[rest] = A0[rest]
    fix = rest.copy()
    fix[rows[done]] |= np.abs(A[done].sum(axis=1) - 1.0) > 1e-6
    if fix.any():
        s = A[fix].sum(axis=1, keepdims=True)
        A[fix] = np.where(s > 0, A[fix] / np.where(s > 0, s, 1.0), 1.0 / k)
    return A.astype(dtype, copy=False)
