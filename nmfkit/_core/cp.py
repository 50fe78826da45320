r"""Non-negative CP (PARAFAC) decomposition by HALS, over dense or implicit tensors.

A rank-``k`` CP model of an ``N``-way tensor :math:`\mathcal T` is
:math:`[\![F_0, \dots, F_{N-1}]\!]_{i_0\dots i_{N-1}} = \sum_r \prod_n F_n[i_n, r]`.
The objective is

.. math::

    \tfrac12 \|\mathcal T - [\![F_0,\dots,F_{N-1}]\!]\|_F^2
    + \sum_n \big(l_1^{(n)} |F_n|_1 + \tfrac12 l_2^{(n)} \|F_n\|_F^2\big),
    \quad F_n \ge 0 .

In mode ``n`` it is the NMF objective of the matrix case with
``A = MTTKRP_n^T`` (the tensor contracted with every other factor) and
``B = *_{j != n} F_j^T F_j`` (Hadamard product of the other Gram matrices), so
each mode update is :func:`nmfkit._core.hals.hals_sweep` on those products.

Products objects
----------------
The loop :func:`fit_cp` never touches the tensor itself; a *products object*
gives it what it needs (``norm2``, ``begin(factors)``, ``mttkrp(mode, factors)``):

* :class:`DenseProducts` -- an ``N``-way ndarray. The MTTKRPs are computed
  without unfolding and without the explicit Khatri-Rao product of two modes:
  one BLAS product with the last factor gives the partial contraction
  ``T x_{N-1} F_{N-1}`` (``I_0 ... I_{N-2} x k``) that serves the MTTKRPs of
  modes ``0 .. N-2`` (only small rank-batched contractions remain), and one
  BLAS product with the first factor serves mode ``N-1``: two passes over the
  tensor per iteration instead of ``N``.
* :class:`MaskedDenseProducts` -- the same with missing entries, by
  expectation-maximisation: at the start of each iteration the missing
  entries are filled with the current model. The filled objective majorises
  the objective on the observed entries and touches it at the current point,
  so exact block updates of the filled problem never raise the observed
  objective (a majorise-minimise argument). This costs one model
  reconstruction per iteration (the size of the tensor times ``k / I_{N-1}``
  in work space), against ``k`` times the work of an MTTKRP for the per-row
  Gram matrices of an exact masked update.
* :class:`PantherProducts` -- the implicit tensor ``T[s, p, g] = X[s, g]
  P[p, g]`` of PANTHER, never formed: sample mode ``X ((P^T B) * C)``, pathway
  mode ``P ((X^T A) * C)``, gene mode ``(X^T A) * (P^T B)``, and
  ``||T||^2 = sum_g ||X[:, g]||^2 ||P[:, g]||^2``.

Extrapolation
-------------
As in the matrix case (Ang & Gillis 2019), after each mode update the factor
is pushed along its last change, ``F <- max(0, F + beta (F - F_prev))``, and
the next modes are updated against the extrapolated factors. The objective of
the point ``(F_0^, ..., F_{N-2}^, F_{N-1})`` comes for free from the last
MTTKRP; when it rises, the iterates go back to the best point and ``beta``
shrinks, so the objective of the kept points never rises.

References
----------
A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale nonnegative
matrix and tensor factorizations", IEICE Trans. Fundamentals, 2009.

A. M. S. Ang and N. Gillis, "Accelerating nonnegative matrix factorization
algorithms using extrapolation", Neural Computation, 2019.

T. G. Kolda and B. W. Bader, "Tensor decompositions and applications", SIAM
Review, 2009.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .hals import _EXTRA_BETA0 as _BETA0
from .hals import _INNER_EPS2, extrapolation_step, hals_sweep
from .nnls import _batched_cd, _polish

__all__ = [
    "DenseProducts",
    "MaskedDenseProducts",
    "PantherProducts",
    "cp_objective",
    "fit_cp",
    "hadamard_grams",
    "init_cp",
    "khatri_rao_rows",
    "mttkrp",
    "nnls_gram",
    "normalize_cp",
    "reconstruct",
]

# the extrapolation schedule and the inner-sweep rule are the matrix HALS's
_BALANCE_EVERY = 5
_MAX_INNER = 10


# --------------------------------------------------------------------------
# products on a dense tensor
# --------------------------------------------------------------------------
def _contract(Y, modes, rank_axis_first, factors, keep):
    """Contract the axes of ``Y`` (mode ids ``modes``) except ``keep``.

    ``Y`` carries one rank axis (first if ``rank_axis_first`` else last).
    Returns the ``(I_keep, k)`` array ``sum_{others} Y[..., r] prod F_j[i_j, r]``.
    """
    R = -1
    ysub = ([R] + list(modes)) if rank_axis_first else (list(modes) + [R])
    ops = [Y, ysub]
    for j in modes:
        if j != keep:
            ops += [factors[j], [j, R]]
    if len(ops) == 2:
        return Y.T if rank_axis_first else Y
    # integer sublists must be >= 0
    shift = {R: len(factors)}
    ops = [o if not isinstance(o, list) else [shift.get(s, s) for s in o] for o in ops]
    return np.einsum(*ops, [keep, len(factors)], optimize="greedy")


def _partial_last(T, F):
    """``T x_{N-1} F``: shape ``T.shape[:-1] + (k,)``, one BLAS product."""
    k = F.shape[1]
    return np.dot(T.reshape(-1, T.shape[-1]), F).reshape(T.shape[:-1] + (k,))


def _partial_first(T, F):
    """``T x_0 F``: shape ``(k,) + T.shape[1:]``, one BLAS product."""
    k = F.shape[1]
    return np.dot(F.T, T.reshape(T.shape[0], -1)).reshape((k,) + T.shape[1:])


def mttkrp(T, factors, mode):
    r"""Matricised tensor times Khatri-Rao product, without unfolding.

    ``M[i, r] = sum over all other indices of T[..., i, ...] prod_{j != mode}
    F_j[i_j, r]`` -- the unfolding ``T_(mode)`` times the Khatri-Rao product of
    the other factors, computed as one BLAS contraction with one factor
    followed by small rank-batched contractions (the Khatri-Rao product of
    the other modes is never formed).

    Parameters
    ----------
    T : ndarray of shape (I_0, ..., I_{N-1})
    factors : sequence of N ndarrays of shape (I_n, k)
    mode : int

    Returns
    -------
    M : ndarray of shape (I_mode, k)
    """
    N = T.ndim
    if N == 1:
        return T[:, None] * np.ones((1, factors[0].shape[1]), dtype=T.dtype)
    if mode != N - 1:
        Y = _partial_last(T, factors[N - 1])
        return _contract(Y, list(range(N - 1)), False, factors, mode)
    Y = _partial_first(T, factors[0])
    return _contract(Y, list(range(1, N)), True, factors, mode)


def hadamard_grams(grams, skip=None):
    """Elementwise product of the ``(k, k)`` Gram matrices, leaving out ``skip``."""
    out = None
    for j, G in enumerate(grams):
        if j == skip:
            continue
        out = G.copy() if out is None else out * G
    if out is None:
        k = grams[0].shape[0]
        out = np.ones((k, k), dtype=grams[0].dtype)
    return out


def khatri_rao_rows(factors):
    """Row-wise Khatri-Rao product of ``factors`` as a ``(k, prod I_n)`` array.

    Row ``r`` is the flattened (C order) outer product of the columns ``r``.
    Meant for the *components* of a flattened sample (small modes), not for
    the MTTKRP of the fit.
    """
    k = factors[0].shape[1]
    Z = np.ones((k, 1), dtype=factors[0].dtype)
    for F in factors:
        Z = (Z[:, :, None] * F.T[:, None, :]).reshape(k, -1)
    return Z


def reconstruct(factors, weights=None):
    """The dense tensor ``[[weights; F_0, ..., F_{N-1}]]``."""
    shape = tuple(F.shape[0] for F in factors)
    last = factors[-1] if weights is None else factors[-1] * weights
    if len(factors) == 1:
        return last.sum(axis=1)
    Z = khatri_rao_rows(factors[:-1])  # (k, I_0 ... I_{N-2})
    return np.dot(Z.T, last.T).reshape(shape)


class DenseProducts:
    """MTTKRPs of a dense ``N``-way tensor, two passes over it per iteration."""

    loss_at_begin = False

    def __init__(self, T):
        self.T = T
        self.norm2 = float(np.einsum("i,i->", T.ravel(), T.ravel(), dtype=np.float64))
        self._Y = None

    def begin(self, factors):
        """Called before mode 0 is updated; returns ``None`` (no loss here)."""
        if self.T.ndim > 1:
            self._Y = _partial_last(self.T, factors[-1])
        return None

    def mttkrp(self, mode, factors):
        T = self.T
        N = T.ndim
        if N == 1:
            return mttkrp(T, factors, 0)
        if mode < N - 1:
            return _contract(self._Y, list(range(N - 1)), False, factors, mode)
        self._Y = None
        Y = _partial_first(T, factors[0])
        return _contract(Y, list(range(1, N)), True, factors, mode)


class MaskedDenseProducts(DenseProducts):
    """Missing entries filled with the current model at each iteration (EM).

    ``begin`` returns the exact objective (fit term) on the observed entries
    at the current point.
    """

    loss_at_begin = True

    def __init__(self, T, observed):
        self.T_obs = np.where(observed, T, 0).astype(T.dtype, copy=False)
        self.missing = ~observed
        super().__init__(self.T_obs.copy())

    def begin(self, factors):
        R = reconstruct(factors).astype(self.T.dtype, copy=False)
        np.copyto(self.T, self.T_obs)
        np.copyto(self.T, R, where=self.missing)
        resid = (self.T_obs - R)
        resid[self.missing] = 0
        r = resid.ravel()
        loss = 0.5 * float(np.einsum("i,i->", r, r, dtype=np.float64))
        self.norm2 = float(np.einsum("i,i->", self.T.ravel(), self.T.ravel(),
                                     dtype=np.float64))
        super().begin(factors)
        return loss


class PantherProducts:
    r"""MTTKRPs of ``T[s, p, g] = X[s, g] P[p, g]`` without forming ``T``.

    ``X`` (samples x genes, dense or CSR) and ``P`` (pathways x genes,
    binary, CSR). Memory: ``O(nnz(X) + nnz(P) + k (s + p + g))``.
    """

    loss_at_begin = False

    def __init__(self, X, P):
        self.X = X.tocsr() if sp.issparse(X) else X
        self.XT = X.T.tocsr() if sp.issparse(X) else X.T
        self.P = sp.csr_matrix(P)
        self.PT = self.P.T.tocsr()
        if sp.issparse(X):
            xsq = np.asarray(X.multiply(X).sum(axis=0), dtype=np.float64).ravel()
        else:
            xsq = np.einsum("ij,ij->j", X, X, dtype=np.float64)
        psq = np.asarray(self.P.multiply(self.P).sum(axis=0), dtype=np.float64).ravel()
        self.norm2 = float(np.dot(xsq, psq))
        self.shape = (X.shape[0], P.shape[0], X.shape[1])

    def begin(self, factors):
        return None

    def mttkrp(self, mode, factors):
        A, B, C = factors
        if mode == 0:
            PtB = np.asarray(self.PT @ B)
            return np.asarray(self.X @ (PtB * C))
        if mode == 1:
            XtA = np.asarray(self.XT @ A)
            return np.asarray(self.P @ (XtA * C))
        XtA = np.asarray(self.XT @ A)
        PtB = np.asarray(self.PT @ B)
        return XtA * PtB


# --------------------------------------------------------------------------
# objective, init, normalisation
# --------------------------------------------------------------------------
def cp_objective(norm2, M_last, F_last, grams, l1=None, l2=None, factors=None,
                 ortho=0.0, ortho_mode=0):
    """Penalised objective from the last mode's MTTKRP (float64)."""
    inner = float(np.einsum("ij,ij->", M_last, F_last, dtype=np.float64))
    G = np.ones_like(grams[0], dtype=np.float64)
    for g in grams:
        G = G * g
    f = 0.5 * norm2 - inner + 0.5 * float(G.sum())
    return f + _penalty(factors, l1, l2, grams, ortho, ortho_mode)


def _penalty(factors, l1, l2, grams, ortho, ortho_mode):
    f = 0.0
    if factors is not None:
        for n, F in enumerate(factors):
            if l1 is not None and l1[n]:
                f += l1[n] * float(F.sum(dtype=np.float64))
            if l2 is not None and l2[n]:
                f += 0.5 * l2[n] * float(np.trace(grams[n]))
    if ortho:
        G = grams[ortho_mode]
        f += 0.5 * ortho * float(G.sum() - np.trace(G))
    return f


def init_cp(products, shape, k, init, random_state, dtype, T=None):
    """Initial factors: ``"random"`` or ``"svd"`` (dense ``T`` only).

    ``T``, when given, is the dense tensor (missing entries filled, e.g. with
    the mean) used for the SVD and for scaling the model.

    ``"svd"`` takes, per mode, the leading ``k`` eigenvectors of the Gram
    matrix of the mode unfolding (computed with one ``tensordot``, no
    unfolding), each flipped to its larger positive part with zeros replaced
    by a small fraction of the mean (modes with ``I_n < k`` are completed
    with random columns). The model is then scaled to fit the data best.
    """
    rng = check_random_state(random_state)
    factors = []
    for n, I in enumerate(shape):
        F = rng.uniform(0.1, 1.0, size=(I, k))
        if init == "svd" and T is not None and I > 0:
            axes = [j for j in range(len(shape)) if j != n]
            G = np.tensordot(T, T, axes=(axes, axes)).astype(np.float64)
            vals, vecs = np.linalg.eigh(G)
            order = np.argsort(vals)[::-1][: min(k, I)]
            U = vecs[:, order] * np.sqrt(np.maximum(vals[order], 0))
            for r in range(U.shape[1]):
                u = U[:, r]
                pos, neg = np.maximum(u, 0), np.maximum(-u, 0)
                u = pos if np.linalg.norm(pos) >= np.linalg.norm(neg) else neg
                U[:, r] = u
            mean = U.mean() if U.size else 0.0
            U[U == 0] = 0.01 * mean if mean > 0 else 0.01
            F[:, : U.shape[1]] = U
            if U.shape[1] < k:  # scale the random columns like the others
                F[:, U.shape[1]:] *= max(mean, 1e-12)
        factors.append(np.ascontiguousarray(F, dtype=dtype))
    # scale against the dense tensor when there is one (a masked products
    # object would fill its missing entries with the unscaled model)
    return _scale_to_data(DenseProducts(T) if T is not None else products, factors)


def _scale_to_data(products, factors):
    """Multiply the model by the scalar that fits the data best."""
    products.begin(factors)
    n = len(factors) - 1
    M = products.mttkrp(n, factors)
    inner = float(np.einsum("ij,ij->", M, factors[n], dtype=np.float64))
    grams = [np.dot(F.T, F).astype(np.float64) for F in factors]
    model2 = float(hadamard_grams(grams).sum())
    if inner > 0 and model2 > 0:
        alpha = (inner / model2) ** (1.0 / len(factors))
        for F in factors:
            F *= alpha
    return factors


def _balance(factors, fixed=(), others=()):
    """Give the columns ``r`` of the (non-fixed) modes equal norms.

    The model is unchanged. ``others`` are lists of iterates of the same
    modes rescaled the same way.
    """
    free = [n for n in range(len(factors)) if n not in fixed]
    if len(free) < 2:
        return
    norms = np.array([np.sqrt(np.einsum("ij,ij->j", factors[n], factors[n]))
                      for n in free])
    ok = np.all(norms > 0, axis=0)
    if not ok.any():
        return
    logs = np.log(np.where(norms > 0, norms, 1.0))
    target = logs.mean(axis=0)
    for i, n in enumerate(free):
        d = np.where(ok, np.exp(target - logs[i]), 1.0).astype(factors[n].dtype)
        for F in [factors[n]] + [o[n] for o in others]:
            F *= d


def normalize_cp(factors):
    """Unit-norm columns; returns ``(weights, factors)`` with the norms' product."""
    k = factors[0].shape[1]
    weights = np.ones(k, dtype=np.float64)
    out = []
    for F in factors:
        nrm = np.sqrt(np.einsum("ij,ij->j", F, F, dtype=np.float64))
        weights *= nrm
        safe = np.where(nrm > 0, nrm, 1.0)
        out.append((F / safe).astype(F.dtype))
    dead = weights == 0
    for F in out:
        F[:, dead] = 0
    return weights, out


# --------------------------------------------------------------------------
# the mode updates
# --------------------------------------------------------------------------
def _unit_sweep(Ft, A, B):
    """Exact column updates under ``||F[:, t]|| = 1``, ``F >= 0``.

    Minimises ``0.5 tr(Ft^T B Ft) - <A, Ft>`` one row ``t`` of ``Ft`` at a time
    on the non-negative unit sphere: with ``y = A_t - sum_{s != t} B_ts F_s``
    the minimiser is ``y_+ / ||y_+||`` (or the unit vector at ``argmax y`` when
    ``y <= 0``). Returns the squared norm of the change.
    """
    change = 0.0
    for t in range(Ft.shape[0]):
        old = Ft[t].copy()
        y = A[t] - np.dot(B[t], Ft) + B[t, t] * old
        yp = np.maximum(y, 0)
        nrm = float(np.linalg.norm(yp))
        if nrm > 0:
            Ft[t] = yp / nrm
        elif y.size:
            Ft[t] = 0
            Ft[t, int(np.argmax(y))] = 1
        d = Ft[t] - old
        change += float(np.dot(d, d))
    return change


def _mode_update(Ft, A, B, l1, l2, unit, inner):
    """HALS on mode ``Ft`` (k, I): repeated sweeps while they pay."""
    if unit:
        first = _unit_sweep(Ft, A, B)
        for _ in range(inner - 1):
            if _unit_sweep(Ft, A, B) <= _INNER_EPS2 * first:
                break
        return first
    prev = Ft.copy()
    viol = hals_sweep(Ft, A, B, l1=l1, l2=l2)
    if inner <= 1:
        return viol
    d = prev - Ft
    d1 = float(np.vdot(d, d))
    if d1 == 0.0:
        return viol
    for _ in range(inner - 1):
        np.copyto(prev, Ft)
        hals_sweep(Ft, A, B, l1=l1, l2=l2)
        np.subtract(prev, Ft, out=d)
        if float(np.vdot(d, d)) <= _INNER_EPS2 * d1:
            break
    return viol


def fit_cp(products, factors, *, l1=None, l2=None, tol=1e-6, max_iter=500,
           extrapolate=True, inner=_MAX_INNER, ortho=0.0, unit_mode=None,
           callback=None, verbose=0):
    r"""Fit non-negative CP factors by (extrapolated) HALS, in place.

    Parameters
    ----------
    products : DenseProducts, MaskedDenseProducts or PantherProducts
        Gives ``norm2``, ``begin(factors)`` and ``mttkrp(mode, factors)``.
    factors : list of ndarray of shape (I_n, k)
        Initial factors, updated in place (all the same float dtype).
    l1, l2 : sequence of float, default=None
        Per-mode penalties (raw, see module notes).
    tol : float, default=1e-6
        Stop when an accepted iteration lowers the objective by at most
        ``tol`` times the smaller of its value and the decrease since the
        first iteration (or by less than its rounding).
    max_iter : int, default=500
    extrapolate : bool, default=True
        Extrapolate between mode updates (not with ``products.loss_at_begin``,
        whose plain EM iterations are the monotone ones).
    inner : int, default=10
        Most HALS sweeps per mode update (repeated while a sweep changes the
        factor by at least 0.1 times the first one).
    ortho : float, default=0.0
        Weight of ``0.5 ortho sum_{r != s} F_u[:, r]^T F_u[:, s]`` on mode
        ``unit_mode``.
    unit_mode : int or None, default=None
        Mode whose columns are kept at unit norm (the scale lives in the other
        modes); required for ``ortho > 0``.
    callback : callable, default=None
        ``callback(n_iter, objective)`` after every iteration, with the
        objective of the kept point.

    Returns
    -------
    factors : list of ndarray
    n_iter : int
    history : list of float
        Objective of the kept point after each iteration (non-increasing).
    """
    N = len(factors)
    k = factors[0].shape[1]
    l1 = [0.0] * N if l1 is None else list(l1)
    l2 = [0.0] * N if l2 is None else list(l2)
    fixed = () if unit_mode is None else (unit_mode,)
    history = []
    if k == 0 or any(F.shape[0] == 0 for F in factors) or max_iter == 0:
        return factors, 0, history
    penalized = any(l1) or any(l2)
    em = products.loss_at_begin
    extrapolate = extrapolate and not em
    Ft = [np.ascontiguousarray(F.T) for F in factors]  # (k, I_n) views are rows
    grams = [np.dot(F.T, F) for F in factors]
    if extrapolate:
        prev = [F.copy() for F in Ft]
        best = [F.copy() for F in Ft]
    beta, beta_max = _BETA0, 1.0
    f_best = np.inf
    slack = 64 * np.finfo(np.float64).eps * max(products.norm2, 1e-300)
    # rounding of the products (float32 stays float32) in the objective
    eps = float(np.finfo(factors[0].dtype).eps)
    n_iter = 0
    f_prev_kept = None
    while n_iter < max_iter:
        n_iter += 1
        cur = [F.T for F in Ft]
        f_begin = products.begin(cur)
        if em:
            f_begin += _penalty(cur, l1, l2, grams, ortho, unit_mode)
            history.append(f_begin)
            if callback is not None:
                callback(n_iter - 1, f_begin)
            if verbose:
                print(f"CP-HALS (EM) iteration {n_iter - 1}: objective {f_begin:.8g}")
            if f_prev_kept is not None and _small(f_prev_kept - f_begin, history, tol):
                n_iter -= 1
                break
            f_prev_kept = f_begin
        M = None
        for n in range(N):
            M = products.mttkrp(n, cur)
            B = hadamard_grams(grams, skip=n)
            if n == unit_mode and ortho:
                B = B + ortho * (np.ones_like(B) - np.eye(k, dtype=B.dtype))
            A = np.ascontiguousarray(M.T)
            _mode_update(Ft[n], A, B, l1[n], l2[n], n == unit_mode, inner)
            if extrapolate and n < N - 1:
                _extrapolate(Ft[n], prev[n], beta, n == unit_mode)
            grams[n] = np.dot(Ft[n], Ft[n].T)
        if em:
            if not penalized and unit_mode is None and n_iter % _BALANCE_EVERY == 0:
                _balance_t(Ft, fixed, ())
                grams = [np.dot(F, F.T) for F in Ft]
            continue
        f = cp_objective(products.norm2, M, cur[N - 1], grams, l1, l2, cur,
                         ortho, unit_mode if unit_mode is not None else 0)
        if not extrapolate:
            history.append(f)
            if callback is not None:
                callback(n_iter, f)
            if verbose:
                print(f"CP-HALS iteration {n_iter}: objective {f:.8g}")
            done = _small(f_best - f, history, tol)
            f_best = min(f, f_best)
            if not penalized and n_iter % _BALANCE_EVERY == 0:
                _balance_t(Ft, fixed, ())
                grams = [np.dot(F, F.T) for F in Ft]
            if done:
                break
            continue
        tie = slack + 8 * eps * products.norm2 + 1e-12 * abs(f)
        if f <= f_best + tie:
            # a change within rounding is no progress either
            done = _small(max(f_best - f, 0.0), history + [f], tol)
            fading = f > f_best - tie
            f_best = min(f, f_best)
            for n in range(N):
                np.copyto(best[n], Ft[n])
            _extrapolate(Ft[N - 1], prev[N - 1], beta, N - 1 == unit_mode)
            grams[N - 1] = np.dot(Ft[N - 1], Ft[N - 1].T)
            beta, beta_max = extrapolation_step(beta, beta_max, True, fading)
        else:
            done = False
            beta, beta_max = extrapolation_step(beta, beta_max, False, False)
            for n in range(N):
                np.copyto(Ft[n], best[n])
                np.copyto(prev[n], best[n])
            grams = [np.dot(F, F.T) for F in Ft]
        history.append(f_best)
        if callback is not None:
            callback(n_iter, f_best)
        if verbose:
            print(f"CP-HALS iteration {n_iter}: objective {f_best:.8g} (beta {beta:.3f})")
        if not penalized and n_iter % _BALANCE_EVERY == 0:
            _balance_t(best, fixed, (Ft, prev))
            grams = [np.dot(F, F.T) for F in Ft]
        if done:
            break
    else:
        if em and n_iter:
            # the loop ran out after an update: the objective of the model
            # returned (each EM entry is measured before its update)
            cur = [F.T for F in Ft]
            f_end = products.begin(cur) + _penalty(cur, l1, l2, grams, ortho,
                                                   unit_mode)
            history.append(f_end)
            if callback is not None:
                callback(n_iter, f_end)
    if em:
        history = history[1:]  # drop the start: one entry per iteration
    if extrapolate:
        for n in range(N):
            np.copyto(Ft[n], best[n])
    for n in range(N):
        factors[n][...] = Ft[n].T
    return factors, n_iter, history


def _small(decrease, history, tol):
    """Whether ``decrease`` is at most ``tol`` times the smaller of the current
    objective (``history[-1]``) and the decrease since the first iteration.

    Relative to the objective alone, a model that explains little of the
    data (most of the objective stays) would stop while still improving;
    relative to the decrease alone, a model that fits well would stop far
    from its optimum (a random start removes almost all of the objective in
    the first iterations).
    """
    if len(history) < 2:
        return False
    total = max(history[0] - history[-1], 0.0)
    return decrease <= tol * min(abs(history[-1]), total)


def _extrapolate(F, prev, beta, unit):
    """``F <- max(0, F + beta (F - prev))`` and ``prev <- F`` (before), in place.

    Rows of a unit-norm mode are brought back to the unit sphere.
    """
    D = F - prev
    np.copyto(prev, F)
    D *= beta
    F += D
    np.maximum(F, 0, out=F)
    if unit:
        _renormalize_rows(F)


def _renormalize_rows(Ft):
    nrm = np.linalg.norm(Ft, axis=1)
    ok = nrm > 0
    Ft[ok] /= nrm[ok, None]


def _balance_t(Ft, fixed, others):
    """:func:`_balance` on transposed factors (rows = components)."""
    views = [F.T for F in Ft]
    other_views = [[F.T for F in o] for o in others]
    _balance(views, fixed, other_views)


# --------------------------------------------------------------------------
# NNLS with precomputed products (transform of new samples)
# --------------------------------------------------------------------------
def nnls_gram(A, G, *, l1=0.0, l2=0.0, tol=1e-6, max_iter=1000):
    r"""Rows ``w_i = argmin_{w >= 0} 0.5 w^T G w - a_i^T w + l1 |w| + l2/2 |w|^2``.

    The non-negative least squares of the matrix core for a shared Gram
    matrix ``G`` and precomputed ``A = X H^T`` (e.g. an MTTKRP): coordinate
    descent then an exact polish on each row's support.

    Parameters
    ----------
    A : ndarray of shape (m, k)
    G : ndarray of shape (k, k) or (m, k, k)
        The Gram matrix, shared or one per row.

    Returns
    -------
    W : ndarray of shape (m, k)
    """
    m, k = A.shape
    W = np.zeros((m, k), dtype=A.dtype)
    if m == 0 or k == 0:
        return W
    chunk = max(1, (1 << 22) // max(1, k * k))
    order = np.arange(k)
    per_row = G.ndim == 3  # one Gram matrix per row
    diag = float(np.abs(np.einsum("...jj->...j", G)).max(initial=0.0))
    for start in range(0, m, chunk):
        stop = min(m, start + chunk)
        Ac = np.ascontiguousarray(A[start:stop])
        Gc = G[start:stop] if per_row else np.broadcast_to(G, (stop - start, k, k))
        Wc = W[start:stop]
        scale = max(float(np.abs(Ac).max(initial=0.0)) / max(diag, 1e-300), 1e-300)
        _batched_cd(Wc, Ac, Gc, l1, l2, order, max_iter, atol=tol * scale)
        _polish(Wc, Ac, Gc, l1, l2)
        W[start:stop] = Wc
    return W


# --------------------------------------------------------------------------
# held-out score of a PANTHER model (bi-cross-validation of the tensor)
# --------------------------------------------------------------------------
def panther_heldout_score(X, P, weights, B, C, *, fraction=0.2, random_state=0):
    r"""Minus the mean squared error on hidden entries of ``T = X[s, g] P[p, g]``.

    A fixed random ``fraction`` of the (sample, gene) pairs of ``X`` is hidden
    (for a sparse ``X``: of its stored entries plus a weighted sample of its
    zeros, as :func:`nmfkit._core.heldout.heldout_score`), which hides the
    tube ``T[s, :, g]`` of the tensor. Each sample's coefficients are the
    exact non-negative least squares fit of its visible tensor entries on the
    fixed components ``lambda_r b_r o c_r`` -- the Gram matrix of sample
    ``s`` is :math:`(B^TB) * (\Lambda C)^T_{V_s} (\Lambda C)_{V_s}` over its
    visible genes -- and the score is minus the mean squared error of the
    prediction of the hidden tensor entries, all without forming ``T``.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_genes)
    P : CSR matrix of shape (n_pathways, n_genes), binary
    weights : ndarray of shape (k,)
    B : ndarray of shape (n_pathways, k)
    C : ndarray of shape (n_genes, k)
    fraction : float
    random_state : int

    Returns
    -------
    score : float
        ``0.0`` when nothing could be hidden.
    """
    from .heldout import _split_dense, _split_sparse_full

    rng = np.random.RandomState(random_state)
    if sp.issparse(X):
        X_vis, rows, cols, vals, w = _split_sparse_full(X, fraction, rng)
    else:
        X_vis, _, rows, cols, vals, w = _split_dense(X, None, fraction, rng)
    if rows.size == 0 or P.shape[0] == 0:
        return 0.0
    m, k = X.shape[0], B.shape[1]
    weights = np.asarray(weights, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    lamC = np.asarray(C, dtype=np.float64) * weights
    PtB = np.asarray(P.T @ B)
    BtB = B.T @ B
    A = np.asarray(X_vis @ (PtB * lamC), dtype=np.float64)
    G = np.broadcast_to(BtB * (lamC.T @ lamC), (m, k, k)).copy()
    order = np.argsort(rows, kind="stable")
    r, c = rows[order], cols[order]
    uniq, starts = np.unique(r, return_index=True)
    chunk = max(1, (1 << 22) // max(k * k, 1))
    for lo in range(0, uniq.size, chunk):  # hidden genes leave each Gram
        hi = min(uniq.size, lo + chunk)
        a, b = starts[lo], (starts[hi] if hi < uniq.size else r.size)
        L = lamC[c[a:b]]
        outer = L[:, :, None] * L[:, None, :]
        G[uniq[lo:hi]] -= np.add.reduceat(outer, starts[lo:hi] - a, axis=0) * BtB
    W = nnls_gram(A, G)
    U = W[rows] * lamC[cols]  # (h, k): u_r = a_sr lambda_r C[g, r]
    degree = np.asarray(P.sum(axis=0), dtype=np.float64).ravel()[cols]
    x = np.asarray(vals, dtype=np.float64)
    err = (x * x * degree - 2 * x * np.einsum("hk,hk->h", U, PtB[cols])
           + np.einsum("hk,kl,hl->h", U, BtB, U))
    err = np.maximum(err, 0.0)
    return -float(np.sum(w * err) / (np.sum(w) * P.shape[0]))
