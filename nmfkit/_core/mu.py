"""Multiplicative updates (MU) for beta-divergence NMF, dense, sparse and masked.

For the objective

.. math::

    D_\\beta(X | WH) + l1_W \\|W\\|_1 + \\tfrac12 l2_W \\|W\\|_F^2
    + l1_H \\|H\\|_1 + \\tfrac12 l2_H \\|H\\|_F^2

(restricted to observed entries :math:`M`), the majorization-minimization
update of Févotte & Idier (2011) for ``W`` is

.. math::

    W \\leftarrow W \\circ \\left(
        \\frac{[M \\circ X \\circ (WH)^{\\beta - 2}] H^T}
             {[M \\circ (WH)^{\\beta - 1}] H^T + l1_W + l2_W W}
    \\right)^{\\gamma(\\beta)},
    \\qquad
    \\gamma(\\beta) = \\begin{cases} 1/(2-\\beta) & \\beta < 1 \\\\
                                     1 & 1 \\le \\beta \\le 2 \\\\
                                     1/(\\beta - 1) & \\beta > 2 \\end{cases}

and symmetrically for ``H``; ``beta = 2, 1`` give the updates of Lee & Seung
(2001). Each update does not increase the objective.

Implementation notes: ``W @ H`` is computed block of rows by block of rows
into reused buffers (a few million entries per block), ``X / WH`` and the
powers are formed in place, and the products go to preallocated outputs. For
``beta = 1`` the denominators are row/column sums. For sparse ``X`` the
numerators only touch the stored entries; the denominators use closed forms
(``beta = 1, 2``) or dense row blocks of ``(WH)^(beta-1)`` (other betas, where
the implicit zeros of ``X`` still count).  The small-value conventions follow
scikit-learn's ``_fit_multiplicative_update`` (``W @ H`` floored at
``eps = np.finfo(np.float32).eps`` where it is divided by, zero denominators
replaced by ``eps``, entries below float64 eps set to zero for ``beta <= 1``),
so that both reach the same iterates from the same start.

References
----------
Lee, D. D. & Seung, H. S. (2001). Algorithms for non-negative matrix
factorization. NIPS 13.

Févotte, C. & Idier, J. (2011). Algorithms for nonnegative matrix
factorization with the beta-divergence. Neural Computation 23(9).
"""

import time

import numpy as np
import scipy.sparse as sp

from .losses import EPSILON, beta_divergence, beta_loss_to_float, wh_at

_EPS64 = np.finfo(np.float64).eps

# entries per dense block of W @ H (float64: 8 MiB): few large BLAS calls
# (small blocks lose to thread synchronisation on a loaded machine), bounded memory
_BLOCK = 2**20


def mu_gamma(beta):
    """Exponent ``gamma(beta)`` that makes the MU step a majorization-minimization."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


class _Workspace:
    """What one fit precomputes once: the data in its working form and buffers."""

    def __init__(self, X, W, H, beta, observed):
        self.beta = beta
        self.dtype = W.dtype
        n, m = X.shape
        self.sparse = sp.issparse(X)
        self.stored = isinstance(observed, str)
        self.mask = None
        if self.sparse:
            X = X.tocsr()
            if X.dtype != self.dtype:
                X = X.astype(self.dtype)
            if not X.has_sorted_indices:
                X = X.sorted_indices()
            self.X = X
            # native integers: wh_at would convert int32 ones at every call
            self.rows = np.repeat(np.arange(n, dtype=np.intp), np.diff(X.indptr))
            self.cols = X.indices.astype(np.intp)
            self.XT = X.T.tocsr()
            self.ones = None
            if self.stored and beta == 1:
                self.ones = sp.csr_matrix(
                    (np.ones_like(X.data), X.indices, X.indptr), shape=X.shape)
        else:
            X = np.asarray(X)
            if observed is not None:
                self.mask = observed.astype(self.dtype)
                X = np.where(observed, X, 0)  # unobserved values never count
            if X.dtype != self.dtype:
                X = X.astype(self.dtype)
            self.X = X
        self.step = max(1, _BLOCK // max(m, 1))
        self._bufs = None

    def buffers(self, m):
        if self._bufs is None:
            rows = self.step
            self._bufs = (np.empty((rows, m), dtype=self.dtype),
                          np.empty((rows, m), dtype=self.dtype))
        return self._bufs

    # ---------------------------------------------------------------- sparse
    def sparse_ratio(self, W, H):
        """CSR with X's pattern holding ``X * (WH)^(beta-2)`` and the raw ``WH``."""
        beta = self.beta
        wh = wh_at(W, H, self.rows, self.cols)
        whc = np.maximum(wh, EPSILON) if beta < 2 else wh
        X = self.X
        if beta == 1:
            vals = X.data / whc
        elif beta == 2:
            vals = X.data
        else:
            vals = whc ** (beta - 2)
            vals *= X.data
        R = sp.csr_matrix((vals, X.indices, X.indptr), shape=X.shape)
        return R, wh

    def sparse_den_pattern(self, wh):
        """CSR with X's pattern holding ``(WH)^(beta-1)`` ("stored" masks)."""
        beta = self.beta
        X = self.X
        if beta == 1:
            return self.ones
        if beta == 2:
            vals = wh
        else:
            vals = (np.maximum(wh, EPSILON) if beta < 1 else wh) ** (beta - 1)
        return sp.csr_matrix((vals, X.indices, X.indptr), shape=X.shape)


def _dense_blocks(ws, W, H, for_W, num, den):
    """Numerator and denominator of a dense (optionally masked) MU step.

    Loops over row blocks of ``W @ H``; for_W selects ``(.) @ H.T`` row blocks
    (W step) or accumulation of ``W_b.T @ (.)`` (H step).
    """
    beta = ws.beta
    X = ws.X
    M = ws.mask
    n, m = X.shape
    B, P = ws.buffers(m)
    Ht = H.T
    need_den = beta != 1  # beta=1: denominator already set by the caller
    if not for_W:
        num.fill(0)
        if need_den:
            den.fill(0)
        tmp = np.empty_like(num)
    for start in range(0, n, ws.step):
        stop = min(n, start + ws.step)
        r = stop - start
        Bv = B[:r]
        Pv = P[:r]
        Wb = W[start:stop]
        Xb = X[start:stop]
        np.dot(Wb, H, out=Bv)
        if beta == 2:
            # masked least squares: numerator is (M*X) H^T, only den here
            Bv *= M[start:stop]
            if for_W:
                np.dot(Bv, Ht, out=den[start:stop])
            else:
                np.dot(Wb.T, Bv, out=tmp)
                den += tmp
            continue
        if beta == 1:
            np.maximum(Bv, EPSILON, out=Bv)
            np.divide(Xb, Bv, out=Bv)  # X zero where unobserved
            if for_W:
                np.dot(Bv, Ht, out=num[start:stop])
            else:
                np.dot(Wb.T, Bv, out=tmp)
                num += tmp
            continue
        # general beta: P = WH^(beta-2) (floored WH for beta < 2),
        # B = WH^(beta-1) (denominator), P = X * WH^(beta-2) (numerator)
        if beta < 2:
            if beta < 1:
                np.maximum(Bv, EPSILON, out=Bv)
                np.power(Bv, beta - 2, out=Pv)
            else:
                np.maximum(Bv, EPSILON, out=Pv)
                np.power(Pv, beta - 2, out=Pv)
        else:
            np.power(Bv, beta - 2, out=Pv)
        if beta < 1 or beta >= 2:
            Bv *= Pv
        else:
            np.power(Bv, beta - 1, out=Bv)
        Pv *= Xb
        if M is not None:
            Bv *= M[start:stop]
        if for_W:
            np.dot(Pv, Ht, out=num[start:stop])
            np.dot(Bv, Ht, out=den[start:stop])
        else:
            np.dot(Wb.T, Pv, out=tmp)
            num += tmp
            np.dot(Wb.T, Bv, out=tmp)
            den += tmp


def _sparse_full_den(ws, W, H, for_W, den):
    """Dense-block denominator ``(WH)^(beta-1)`` for sparse X, all entries observed."""
    beta = ws.beta
    n, m = ws.X.shape
    B, _ = ws.buffers(m)
    if not for_W:
        den.fill(0)
        tmp = np.empty_like(den)
    for start in range(0, n, ws.step):
        stop = min(n, start + ws.step)
        Bv = B[:stop - start]
        np.dot(W[start:stop], H, out=Bv)
        if beta < 1:
            np.maximum(Bv, EPSILON, out=Bv)
        np.power(Bv, beta - 1, out=Bv)
        if for_W:
            np.dot(Bv, H.T, out=den[start:stop])
        else:
            np.dot(W[start:stop].T, Bv, out=tmp)
            den += tmp


def _apply(F, num, den, l1, l2, gamma):
    """``F *= (num / (den + l1 + l2 F)) ** gamma`` with zero denominators -> eps."""
    if l1 > 0:
        den += l1
    if l2 > 0:
        den += l2 * F
    den[den == 0] = EPSILON
    num /= den
    if gamma != 1:
        num **= gamma
    F *= num
    return F


def _update_W(ws, W, H, l1, l2, gamma, cache=None):
    beta = ws.beta
    X = ws.X
    n, k = W.shape
    dt = ws.dtype
    if ws.sparse:
        if ws.stored:
            R, wh = ws.sparse_ratio(W, H)
            num = np.asarray(R @ H.T, dtype=dt)
            den = np.asarray(ws.sparse_den_pattern(wh) @ H.T, dtype=dt)
        elif beta == 2:
            if cache is not None and "XHt" in cache:
                num = cache["XHt"].copy()
                HHt = cache["HHt"]
            else:
                num = np.asarray(X @ H.T, dtype=dt)
                HHt = H @ H.T
                if cache is not None:
                    cache["XHt"], cache["HHt"] = num.copy(), HHt
            den = W @ HHt
        else:
            R, _ = ws.sparse_ratio(W, H)
            num = np.asarray(R @ H.T, dtype=dt)
            if beta == 1:
                den = np.broadcast_to(H.sum(axis=1), (n, k)).copy()
            else:
                den = np.empty((n, k), dtype=dt)
                _sparse_full_den(ws, W, H, True, den)
    elif beta == 2 and ws.mask is None:
        if cache is not None and "XHt" in cache:
            num = cache["XHt"].copy()
            HHt = cache["HHt"]
        else:
            num = X @ H.T
            HHt = H @ H.T
            if cache is not None:
                cache["XHt"], cache["HHt"] = num.copy(), HHt
        den = W @ HHt
    else:
        num = np.empty((n, k), dtype=dt)
        if beta == 1 and ws.mask is None:
            den = np.broadcast_to(H.sum(axis=1), (n, k)).copy()
        elif beta == 1:
            den = ws.mask @ H.T
        else:
            den = np.empty((n, k), dtype=dt)
        if beta == 2:
            np.dot(X, H.T, out=num)
        _dense_blocks(ws, W, H, True, num, den)
    return _apply(W, num, den, l1, l2, gamma)


def _update_H(ws, W, H, l1, l2, gamma):
    num, den = _terms_H(ws, W, H)
    return _apply(H, num, den, l1, l2, gamma)


def _terms_H(ws, W, H, additive=False):
    """Numerator and denominator of the MU step of ``H`` (see ``_apply``).

    Both are sums over the rows of ``X``. With ``additive`` a zero column sum
    of ``W`` (``beta = 1``) stays 0 instead of becoming 1, so that the terms
    of row blocks of ``X`` add up to those of the whole ``X``; either way the
    step is the same (that row of the numerator is 0 too).
    """
    beta = ws.beta
    X = ws.X
    k, m = H.shape
    dt = ws.dtype
    if ws.sparse:
        if ws.stored:
            R, wh = ws.sparse_ratio(W, H)
            num = np.ascontiguousarray((R.T @ W).T, dtype=dt)
            den = np.ascontiguousarray((ws.sparse_den_pattern(wh).T @ W).T, dtype=dt)
        elif beta == 2:
            num = np.ascontiguousarray((ws.XT @ W).T, dtype=dt)
            den = (W.T @ W) @ H
        else:
            R, _ = ws.sparse_ratio(W, H)
            num = np.ascontiguousarray((R.T @ W).T, dtype=dt)
            if beta == 1:
                Ws = W.sum(axis=0)
                if not additive:
                    Ws[Ws == 0] = 1.0
                den = np.broadcast_to(Ws[:, None], (k, m)).copy()
            else:
                den = np.empty((k, m), dtype=dt)
                _sparse_full_den(ws, W, H, False, den)
    elif beta == 2 and ws.mask is None:
        num = W.T @ X
        den = (W.T @ W) @ H
    else:
        num = np.empty((k, m), dtype=dt)
        if beta == 1 and ws.mask is None:
            Ws = W.sum(axis=0)
            if not additive:
                Ws[Ws == 0] = 1.0
            den = np.broadcast_to(Ws[:, None], (k, m)).copy()
        elif beta == 1:
            den = W.T @ ws.mask
        else:
            den = np.empty((k, m), dtype=dt)
        _dense_blocks(ws, W, H, False, num, den)
        if beta == 2:
            np.dot(W.T, X, out=num)
    return num, den


def mu_update_W(X, W, H, beta, *, l1=0.0, l2=0.0, gamma=1.0, observed=None):
    """One multiplicative update of ``W`` (in place), ``H`` fixed.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    W : ndarray of shape (n_samples, k)
        Updated in place.
    H : ndarray of shape (k, n_features)
    beta : float or str
        Beta of the divergence.
    l1, l2 : float, default=0.0
        Penalties on ``W`` (``l1 |W|_1 + 0.5 l2 |W|_F^2``).
    gamma : float, default=1.0
        Exponent of the update (see :func:`mu_gamma`).
    observed : None, bool ndarray or "stored", default=None

    Returns
    -------
    W : ndarray
        The same array, updated.
    """
    beta = beta_loss_to_float(beta)
    ws = _Workspace(X, W, H, beta, observed)
    return _update_W(ws, W, H, l1, l2, gamma)


def mu_update_H(X, W, H, beta, *, l1=0.0, l2=0.0, gamma=1.0, observed=None):
    """One multiplicative update of ``H`` (in place), ``W`` fixed.

    Parameters are those of :func:`mu_update_W` with the roles of ``W`` and
    ``H`` exchanged (penalties act on ``H``).

    Returns
    -------
    H : ndarray
        The same array, updated.
    """
    beta = beta_loss_to_float(beta)
    ws = _Workspace(X, W, H, beta, observed)
    return _update_H(ws, W, H, l1, l2, gamma)


def mu_terms_H(X, W, H, beta, *, observed=None):
    """Numerator and denominator of the multiplicative update of ``H``.

    Sums over the rows of ``X``: the terms of row blocks ``(X_b, W_b)`` add
    up to those of the whole ``(X, W)``, so a distributed fit sums them over
    blocks and finishes the step with :func:`mu_apply`.

    Parameters are those of :func:`mu_update_H`.

    Returns
    -------
    num, den : ndarray of shape (k, n_features)
    """
    beta = beta_loss_to_float(beta)
    ws = _Workspace(X, W, H, beta, observed)
    return _terms_H(ws, W, H, additive=True)


def mu_apply(F, num, den, *, l1=0.0, l2=0.0, gamma=1.0):
    """Finish a multiplicative step: ``F *= (num / (den + l1 + l2 F)) ** gamma``.

    In place (``num`` and ``den`` are overwritten); zero denominators count
    as ``eps``. Returns ``F``.
    """
    return _apply(F, num, den, l1, l2, gamma)


def fit_mu(X, W, H, *, beta=1.0, tol=1e-4, max_iter=200, l1_W=0.0, l2_W=0.0,
           l1_H=0.0, l2_H=0.0, update_H=True, observed=None, verbose=0,
           error_scale=None):
    """Fit ``X ~ W @ H`` by alternating multiplicative updates.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Non-negative data (never densified).
    W : ndarray of shape (n_samples, k)
        Initial ``W``; updated in place.
    H : ndarray of shape (k, n_features)
        Initial ``H``; updated in place when ``update_H`` (else left untouched).
    beta : float or str, default=1.0
        Beta of the divergence (2 Frobenius, 1 Kullback-Leibler, 0 Itakura-Saito).
    tol : float, default=1e-4
        Every 10 iterations the loss ``e = sqrt(2 D_beta)`` is computed; stop
        when ``(e_previous - e) / e_init < tol`` (scikit-learn's rule).
        ``tol=0`` runs ``max_iter`` iterations.
    max_iter : int, default=200
    l1_W, l2_W, l1_H, l2_H : float, default=0.0
        Scaled penalties (see :mod:`nmfkit._core`).
    update_H : bool, default=True
        If False, only ``W`` is solved for (``transform``).
    observed : None, bool ndarray or "stored", default=None
        Entries taking part in the loss.
    verbose : int, default=0
        Print the loss at every check.
    error_scale : float or None, default=None
        The ``e_init`` of the stopping rule. ``None`` takes the error of the
        ``W, H`` passed in; a caller that warm-started them passes the error
        of its original initialisation, so the rule stays the one a cold
        start from that initialisation would use.

    Returns
    -------
    W, H : ndarray
    n_iter : int
        Iterations done.
    """
    beta = beta_loss_to_float(beta)
    gamma = mu_gamma(beta)
    ws = _Workspace(X, W, H, beta, observed)
    cache = None if update_H else {}
    t0 = time.perf_counter()
    error_at_init = beta_divergence(X, W, H, beta, observed=observed, square_root=True)
    scale = error_at_init if error_scale is None else error_scale
    scale = scale if scale > 0 else 1.0
    previous = error_at_init
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        _update_W(ws, W, H, l1_W, l2_W, gamma, cache)
        if beta < 1:
            W[W < _EPS64] = 0.0
        if update_H:
            _update_H(ws, W, H, l1_H, l2_H, gamma)
            if beta <= 1:
                H[H < _EPS64] = 0.0
        if tol > 0 and n_iter % 10 == 0:
            error = beta_divergence(X, W, H, beta, observed=observed, square_root=True)
            if verbose:
                print(f"MU iteration {n_iter:4d}: {time.perf_counter() - t0:.3f} s, "
                      f"error {error:.6g}")
            if (previous - error) / scale < tol:
                break
            previous = error
    return W, H, n_iter
