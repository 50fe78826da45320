r"""Symmetric NMF :math:`A \approx WW^T` by penalised nonsymmetric HALS.

For a symmetric non-negative ``n x n`` matrix ``A`` (a graph's adjacency or a
similarity) symmetric NMF looks for :math:`W \ge 0` of shape ``(n, k)`` with

.. math::

    \min_{W \ge 0} \tfrac12 \|A - W W^T\|_F^2 .

The objective is quartic in ``W``. Following Kuang, Ding & Park (2012, 2015)
and Zhu, Li, Liu & Tang (2018, "Dropping symmetry") we solve instead the
penalised nonsymmetric problem

.. math::

    F(W, H) = \tfrac12 \|A - W H^T\|_F^2 + \tfrac{\alpha}{2} \|W - H\|_F^2,
    \qquad W, H \ge 0,

which is a two-block problem, each block a non-negative least squares: the
``W`` block has Gram matrix :math:`H^T H + \alpha I` and linear term
:math:`AH + \alpha H`; the ``H`` block the same with the roles swapped
(``A`` is symmetric). Each block is solved (inexactly) by the shared HALS
sweeps of :mod:`nmfkit._core.hals`, so :math:`F` never increases. For
:math:`\alpha` above half the spectral norm of ``A`` the stationary points of
:math:`F` have :math:`W = H` (Zhu et al. 2018), i.e. are stationary points of
the symmetric problem; the default ``alpha`` is 0.6 times the largest
eigenvalue of ``A`` (a few power iterations).

Cost per iteration: two products ``A @ F`` (``O(nnz k)`` for a sparse ``A``,
which is never densified), two ``k x k`` Grams and the sweeps (``O(n k^2)``);
memory ``O(nnz + n k)``. :math:`F` itself is exact and free: with
``AW = A W`` known, :math:`\langle A, WH^T\rangle = \langle AW, H\rangle` and
:math:`\|WH^T\|^2 = \langle W^TW, H^TH\rangle`.

Held-out entries (edge cross-validation): :func:`fit_symnmf` accepts a set of
hidden entries that are left out of the loss; they are imputed from the
current model before each half-step (expectation-maximisation, which is a
majorise-minimise scheme for the masked loss, so it never increases either).
:func:`symmetric_heldout_score` hides random symmetric pairs of entries --
a fraction of the edges and a sample of the non-edges --, refits from a warm
start without them and scores their prediction (Li, Levina & Zhu 2020).

References
----------
D. Kuang, C. Ding and H. Park, "Symmetric nonnegative matrix factorization for
graph clustering", SIAM SDM, 2012.

D. Kuang, S. Yun and H. Park, "SymNMF: nonnegative low-rank approximation of a
similarity matrix for graph clustering", J. Global Optimization, 2015.

Z. Zhu, X. Li, K. Liu and Q. Li, "Dropping symmetry for fast symmetric
nonnegative matrix factorization", NeurIPS, 2018.

T. Li, E. Levina and J. Zhu, "Network cross-validation by edge sampling",
Biometrika, 2020.
"""

import contextlib

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .hals import _Buffers, _half, _half_sweeps, _inner_budget
from .losses import wh_at
from .parallel import RowBlocks, single_blas

def _single_thread_loop(X):
    """Whether the whole loop runs on one BLAS thread.

    The sweeps are small BLAS calls whose threads only synchronise (on a
    loaded machine OpenBLAS's spinning threads made a 1000-node fit 20x
    slower); the big products keep BLAS threads only where they need them:
    a large dense ``X``. Sparse products run on nmfkit's own row-block
    threads either way.
    """
    return sp.issparse(X) or X.size < _DENSE_THREADED


_DENSE_THREADED = 4_000_000

__all__ = [
    "top_eigenvalue",
    "symnmf_init",
    "symnmf_objective",
    "fit_symnmf",
    "symmetric_split",
    "symmetric_heldout_score",
]


class _Products:
    """``(A F)^T`` for the transposed factor ``Ft`` (k x n); ``A`` symmetric."""

    def __init__(self, A):
        self.sparse = sp.issparse(A)
        if self.sparse:
            self.A = A.tocsr()
            self.blocks = RowBlocks(self.A)
            self.nnz = self.A.nnz
        else:
            self.A = A
            self.nnz = A.size

    def __call__(self, Ft, out):
        if self.sparse:
            np.copyto(out, self.blocks.matmul(Ft.T).T)
            return out
        return np.dot(Ft, self.A, out=out)  # A symmetric: (A F)^T = F^T A


def _squared_norm(A):
    data = A.data if sp.issparse(A) else A.ravel()
    return float(np.dot(data, data))


def top_eigenvalue(A, n_iter=30, random_state=0):
    """Largest eigenvalue of a symmetric non-negative ``A`` (power iterations).

    A lower bound that is tight after a few dozen iterations for the Perron
    root; ``0.0`` for an all-zero ``A``.
    """
    n = A.shape[0]
    if n == 0:
        return 0.0
    rng = check_random_state(random_state)
    v = rng.random_sample(n) + 0.5
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(n_iter):
        Av = np.asarray(A @ v, dtype=np.float64).ravel()
        lam = float(np.dot(v, Av))
        norm = float(np.linalg.norm(Av))
        if norm == 0.0:
            return 0.0
        v = Av / norm
    return max(lam, 0.0)


def symnmf_init(A, k, random_state, dtype, init="random"):
    """Start of the solver.

    ``"random"``: Kuang et al.'s ``2 sqrt(mean(A) / k) U(0, 1)``.
    ``"nndsvda"``: the mean of the two NNDSVD factors (for a symmetric ``A``
    the left and right singular vectors agree up to sign), zeros filled with
    the mean of ``A`` (:func:`nmfkit._core.init.initialize`).
    """
    n = A.shape[0]
    rng = check_random_state(random_state)
    if init == "nndsvda":
        from .init import initialize

        W, H = initialize(A, k, "nndsvda", random_state=rng)
        return np.ascontiguousarray((W + H.T) * 0.5, dtype=dtype)
    total = float(A.sum())
    mean = total / max(n * n, 1)
    scale = 2.0 * np.sqrt(max(mean, np.finfo(np.float32).eps) / max(k, 1))
    return (scale * rng.random_sample((n, k))).astype(dtype)


def symnmf_objective(A, W, *, a_norm2=None):
    r""":math:`\tfrac12 \|A - WW^T\|_F^2` without forming ``W W^T`` (float64)."""
    if a_norm2 is None:
        a_norm2 = _squared_norm(A)
    W64 = np.asarray(W, dtype=np.float64)
    AW = np.asarray(A @ W64)
    lin = float(np.einsum("ij,ij->", AW, W64))
    G = W64.T @ W64
    quad = float(np.einsum("ij,ij->", G, G))
    return max(0.5 * (a_norm2 - 2.0 * lin + quad), 0.0)


def _hidden_matrix(n, rows, cols, dtype):
    """CSR pattern of the hidden entries (values filled later) and the map
    from the order of ``rows, cols`` to the CSR data order."""
    order = np.lexsort((cols, rows))
    r, c = rows[order], cols[order]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(r, minlength=n))))
    S = sp.csr_matrix((np.zeros(r.size, dtype=dtype), c, indptr), shape=(n, n))
    return S, r, c


def fit_symnmf(A, W, *, alpha, tol=1e-4, max_iter=200, hidden=None,
               random_state=None, verbose=0, track=False):
    r"""Fit ``A ~ W W^T`` from the start ``W`` (penalised nonsymmetric HALS).

    Parameters
    ----------
    A : ndarray or scipy.sparse matrix of shape (n, n)
        Symmetric, non-negative, finite. Never densified. With ``hidden``,
        the hidden entries must be stored as zeros or absent.
    W : ndarray of shape (n, k)
        Start (both ``W`` and ``H`` start there). Not modified.
    alpha : float
        Weight of the coupling :math:`\tfrac{\alpha}{2}\|W - H\|^2` (> 0).
    tol : float, default=1e-4
        Stop when an iteration lowers :math:`F` by at most ``tol`` times
        :math:`F` after the first iteration.
    max_iter : int, default=200
    hidden : tuple (rows, cols) of int arrays or None
        Entries left out of the loss (include both ``(i, j)`` and ``(j, i)``
        for a symmetric hidden set); imputed by the model (EM).
    random_state : None, int or RandomState
        Order of the component updates.
    verbose : int
    track : bool, default=False
        Record :math:`F` after every iteration.

    Returns
    -------
    W : ndarray of shape (n, k)
        The symmetric factor ``(W + H) / 2`` of the final pair.
    n_iter : int
    info : dict
        ``"objective"``: final :math:`F`; ``"gap"``: :math:`\|W - H\|/\|W\|`;
        ``"history"`` (with ``track``): :math:`F` per iteration.
    """
    n, k = W.shape
    dtype = W.dtype
    if n == 0 or k == 0:
        return W.copy(), 0, {"objective": 0.0, "gap": 0.0, "history": []}
    rng = check_random_state(random_state)
    prod = _Products(A)
    S = None
    if hidden is not None and len(hidden[0]):
        S, h_rows, h_cols = _hidden_matrix(n, np.asarray(hidden[0]),
                                           np.asarray(hidden[1]), dtype)
        S_blocks = RowBlocks(S)
    Wt = np.array(W.T, dtype=dtype, order="C")
    Ht = Wt.copy()
    bufW, bufH = _Buffers(k, n, dtype), _Buffers(k, n, dtype)
    lin = np.empty((k, n), dtype=dtype)
    AW = np.empty((k, n), dtype=dtype)
    eye = alpha * np.eye(k, dtype=dtype)
    max_inner = _inner_budget(prod.nnz / 1.5 * k + n * k * k / 15.0, n, k, floor=2)
    a_norm2_vis = _squared_norm(A)
    history = []
    f_prev = np.inf
    f = np.inf
    n_iter = 0

    def fill(Ft, Gt):
        # imputed hidden entries (W H^T)_{ij} (EM step), and their norm
        if S is None:
            return 0.0
        vals = wh_at(Ft.T, Gt, h_rows, h_cols)
        S.data[:] = vals
        return float(np.dot(vals, vals))

    def times(Ft, out, transpose):
        prod(Ft, out)
        if S is not None:
            out += (S.T @ Ft.T).T if transpose else S_blocks.matmul(Ft.T).T
        return out

    one = _single_thread_loop(A)
    sweeps = _half_sweeps if one else _half
    with single_blas() if one else contextlib.nullcontext():
        for n_iter in range(1, max_iter + 1):
            # W step: min_W 1/2 |A - W H^T|^2 + alpha/2 |W - H|^2
            fill(Wt, Ht)
            times(Ht, lin, False)  # (A H)^T
            lin += alpha * Ht
            B = Ht @ Ht.T + eye
            sweeps(Wt, lin, B, bufW, rng, max_inner, False)
            # H step: the transposed problem (A^T = A)
            s_norm2 = fill(Wt, Ht)
            times(Wt, AW, True)  # (A^T W)^T
            np.multiply(Wt, alpha, out=lin)
            lin += AW
            B = Wt @ Wt.T + eye
            sweeps(Ht, lin, B, bufH, rng, max_inner, False)
            # F after the step: <A_filled, W H^T> = <A_filled^T W, H>
            d = Wt - Ht
            f = 0.5 * (a_norm2_vis + s_norm2
                       - 2.0 * float(np.einsum("ij,ij->", AW, Ht, dtype=np.float64))
                       + float(np.einsum("ij,ij->", Wt @ Wt.T, Ht @ Ht.T,
                                         dtype=np.float64)))
            f = max(f, 0.0) + 0.5 * alpha * float(np.einsum("ij,ij->", d, d,
                                                             dtype=np.float64))
            if track:
                history.append(f)
            if verbose:
                print(f"SymNMF iteration {n_iter}: objective {f:.6g}")
            if n_iter == 1:
                f_first = f
            elif f_prev - f <= tol * f_first:
                break
            f_prev = f
    norm = float(np.linalg.norm(Wt))
    gap = float(np.linalg.norm(Wt - Ht)) / norm if norm > 0 else 0.0
    W_out = np.ascontiguousarray(((Wt + Ht) * 0.5).T)
    return W_out, n_iter, {"objective": f, "gap": gap, "history": history}


# --------------------------------------------------------------------------
# held-out symmetric pairs (edge cross-validation)
# --------------------------------------------------------------------------
def symmetric_split(A, fraction, rng, zeros_per_edge=10.0):
    """Hide random symmetric pairs of entries of ``A``.

    A ``fraction`` of the stored off-diagonal pairs ``i < j``, and of the
    absent pairs a uniform sample of ``zeros_per_edge`` times as many (at most
    a ``fraction`` of all of them; ten, as in
    :func:`nmfkit._core.heldout.heldout_score`: with one per edge the choice
    of the number of communities on small SBMs was noisy), each pair hidden
    in both orders; the diagonal is never hidden.

    Returns
    -------
    A_vis : matrix like ``A`` (sparse CSR if ``A`` is sparse)
        ``A`` with the hidden entries set to zero (removed).
    rows, cols : int arrays
        The hidden entries, both orders.
    vals : array
        Their values in ``A``.
    weights : float array
        Per hidden entry: 1 for a stored pair, and for a sampled absent pair
        the number of absent pairs it stands for among a ``fraction`` of them.
    """
    n = A.shape[0]
    sparse = sp.issparse(A)
    U = sp.triu(sp.csr_matrix(A), k=1).tocoo()
    keep_nz = U.data != 0
    ur, uc, uv = U.row[keep_nz], U.col[keep_nz], U.data[keep_nz]
    hide = rng.random_sample(ur.size) < fraction
    e_rows, e_cols, e_vals = ur[hide], uc[hide], uv[hide]
    n_pairs = n * (n - 1) // 2
    n_absent = n_pairs - ur.size
    target = fraction * n_absent
    n_draw = int(min(round(target), max(round(zeros_per_edge * e_rows.size), 1)))
    z_rows = z_cols = np.zeros(0, dtype=np.int64)
    if n_draw > 0 and n_absent > 0:
        draw = int(n_draw * 1.3) + 16
        i = rng.randint(0, n, size=draw).astype(np.int64)
        j = rng.randint(0, n, size=draw).astype(np.int64)
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        ok = lo < hi
        flat = np.unique(lo[ok] * n + hi[ok])
        stored = ur.astype(np.int64) * n + uc
        flat = flat[~np.isin(flat, stored)]
        flat = rng.permutation(flat)[:n_draw]
        z_rows, z_cols = np.divmod(flat, n)
    z_w = target / max(z_rows.size, 1)
    rows = np.concatenate((e_rows, z_rows, e_cols, z_cols)).astype(np.int64)
    cols = np.concatenate((e_cols, z_cols, e_rows, z_rows)).astype(np.int64)
    vals = np.concatenate((e_vals, np.zeros(z_rows.size), e_vals,
                           np.zeros(z_rows.size))).astype(A.dtype)
    weights = np.concatenate((np.ones(e_rows.size), np.full(z_rows.size, z_w),
                              np.ones(e_rows.size), np.full(z_rows.size, z_w)))
    if sparse:
        A_vis = sp.csr_matrix(A, copy=True)
        mask = sp.csr_matrix((np.ones(e_rows.size * 2), (
            np.concatenate((e_rows, e_cols)), np.concatenate((e_cols, e_rows)))),
            shape=A.shape)
        A_vis = A_vis - A_vis.multiply(mask > 0)
        A_vis.eliminate_zeros()
        A_vis = A_vis.astype(A.dtype)
    else:
        A_vis = np.array(A, copy=True)
        A_vis[e_rows, e_cols] = 0
        A_vis[e_cols, e_rows] = 0
    return A_vis, rows, cols, vals, weights


def symmetric_heldout_score(A, W, *, alpha, fraction=0.1, random_state=0,
                            tol=1e-4, max_iter=100):
    """Minus the weighted mean squared error on hidden symmetric pairs.

    Hides pairs with :func:`symmetric_split`, refits ``A ~ W W^T`` from the
    warm start ``W`` with the hidden entries left out of the loss, and scores
    the prediction ``(W W^T)_{ij}`` of the hidden entries. Higher is better;
    ``0.0`` when nothing could be hidden.
    """
    rng = random_state if isinstance(random_state, np.random.RandomState) else (
        np.random.RandomState(random_state))
    A_vis, rows, cols, vals, weights = symmetric_split(A, fraction, rng)
    if rows.size == 0:
        return 0.0
    W_fit, _, _ = fit_symnmf(A_vis, W, alpha=alpha, tol=tol, max_iter=max_iter,
                             hidden=(rows, cols), random_state=0)
    pred = wh_at(W_fit, np.ascontiguousarray(W_fit.T), rows, cols)
    err = (np.asarray(vals, dtype=np.float64) - pred) ** 2
    return -float(np.sum(weights * err) / np.sum(weights))
