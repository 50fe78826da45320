r"""Hierarchical alternating least squares (HALS) for the Frobenius NMF.

HALS (Cichocki & Phan 2009) is exact coordinate descent on the columns of
:math:`W` and the rows of :math:`H` for

.. math::

    \tfrac12 \|X - WH\|_F^2 + l_1^W |W|_1 + \tfrac12 l_2^W \|W\|_F^2
    + l_1^H |H|_1 + \tfrac12 l_2^H \|H\|_F^2 .

With :math:`A = (X H^T)^T` and :math:`B = H H^T` precomputed, the update of
column :math:`t` of :math:`W` (row ``t`` of the transposed factor ``Wt``) is

.. math::

    g = B_{t,:} W^T - A_{t,:} + l_1 + l_2 w_t, \qquad
    w_t \leftarrow \max\!\Big(0,\; w_t - \frac{g}{B_{tt} + l_2}\Big),

a vector operation over the ``m`` rows. ``H`` is updated by the same sweep on
the transposed problem.

Speed-ups over the plain algorithm:

* **accelerated inner sweeps** (Gillis & Glineur 2012): once the products
  :math:`XH^T, HH^T` are paid for, further sweeps over the columns of ``W`` are
  cheap; they are repeated while the change of a sweep is at least 0.1 times
  that of the first sweep, at most :math:`1 + \alpha\rho` times (:math:`\rho` =
  estimated cost of the products over the cost of one sweep, :math:`\alpha=0.5`);
* **randomized compression** (Erichson et al. 2018): for a large dense ``X``,
  iterate first on a QB compression :math:`X \approx QB` (products cost
  :math:`O((m+n)k\ell)` instead of :math:`O(mnk)`), then polish with exact
  iterations until the exact stopping rule holds;
* **extrapolation** (Ang & Gillis 2019, ``extrapolate=True``): each factor
  is pushed along its last change before the other one is updated against
  it; the step ``beta`` grows while the objective decreases, and after an
  increase the iterates go back to the best pair with a smaller ``beta``.
  Several times fewer outer iterations from a random start;
* **masked HALS**: with missing entries, the per-row Gram matrices
  :math:`H\,\mathrm{diag}(m_i)\,H^T` are built in row chunks (one BLAS-3
  product per chunk, or a gather over the stored entries of a sparse ``X``)
  and coordinate descent runs batched over the rows of the chunk.

The stopping rule is scikit-learn's for ``solver="cd"``: the violation of an
iteration is the sum of the absolute projected gradients met by the
coordinate updates of the first sweep of each half-iteration, and the solver
stops once it is at most ``tol`` times the violation of the first iteration.

References
----------
A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale nonnegative
matrix and tensor factorizations", IEICE Trans. Fundamentals, 2009.

N. Gillis and F. Glineur, "Accelerated multiplicative updates and hierarchical
ALS algorithms for nonnegative matrix factorization", Neural Computation, 2012.

N. B. Erichson, A. Mendible, S. Wihlborn and J. N. Kutz, "Randomized
nonnegative matrix factorization", Pattern Recognition Letters, 2018.

A. M. S. Ang and N. Gillis, "Accelerating nonnegative matrix factorization
algorithms using extrapolation", Neural Computation, 2019.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_blas_funcs
from sklearn.utils import check_random_state

from .nnls import _batched_cd, _RowProblems
from .parallel import (MIN_NNZ, product_threads, row_block_view, single_blas,
                       thread_pool)
from .profile import effectively_dense, is_dense_count, n_nonzero
from .randomized import compress as _qb_compress

__all__ = ["fit_hals", "hals_sweep", "inner_budgets", "plan_compression"]

# Gillis & Glineur's constants for HALS.
_INNER_ALPHA = 0.5
_INNER_EPS2 = 0.1**2  # compared with squared Frobenius norms of changes
_MAX_INNER = 50
# Lower bound of the inner budget: on ill-conditioned problems solving each
# block more exactly cuts the outer iterations (and the passes over X) more
# than the cost model of Gillis & Glineur predicts; the 0.1 rule still ends
# the inner loop as soon as a sweep stops paying.
_MIN_INNER = 5
# sweeps of the batched coordinate descent of masked HALS (the per-row Gram
# matrices are the costly part; the 0.1 rule ends the sweeps earlier)
_MASKED_INNER = 10
# Our threshold is this fraction of scikit-learn's (stricter), so that from
# the same init the answer is not worse than scikit-learn's although the
# accelerated path visits other iterates.
_TOL_FACTOR = 0.7
# randomized compression: power iterations of the range finder, and the
# fraction of the exact threshold the compressed iterations aim for
_COMPRESS_POWER = 1
_COMPRESSED_TARGET = 1.0
# power iterations of a compression shared with the NNDSVD initialisation
# (it also has to serve as the randomized SVD of the init)
_SHARED_POWER = 2
# extrapolation (Ang & Gillis 2019): initial step, growth of the step and of
# its cap while the objective decreases, damping after an increase
_EXTRA_BETA0 = 0.5
_EXTRA_GAMMA = 1.05
_EXTRA_GAMMA_MAX = 1.01
_EXTRA_ETA = 1.5
# the scale drift is slow: rebalancing the components every few iterations
# is enough
_BALANCE_EVERY = 5


# --------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------
class _Buffers:
    """Preallocated work arrays for sweeps over a factor with ``size`` columns."""

    __slots__ = ("g", "tmp", "pos", "prev", "zero", "asum", "huge")

    def __init__(self, k, size, dtype):
        self.zero = np.zeros((), dtype=dtype)[()]
        self.asum = get_blas_funcs("asum", dtype=dtype)
        self.g = np.empty(size, dtype=dtype)
        self.tmp = np.empty(size, dtype=dtype)
        self.pos = np.empty(size, dtype=bool)
        # float64: w * huge >= |g| for every w > 0 not negligible next to g,
        # and no overflow below w = 1e208 (float32 would overflow at 3e8)
        self.huge = 1e100 if np.dtype(dtype) == np.float64 else None
        self.prev = None  # (k, size), allocated when inner sweeps repeat


def _prescale(A, B):
    """Divide row ``t`` of ``A`` and ``B`` by ``B[t, t]`` in place.

    Then ``B[t] @ Wt - A[t]`` is the Newton step of coordinate ``t``. Returns
    the diagonal before scaling (rows with a zero diagonal are left as they
    are: their coordinate is not updated).
    """
    h = B.diagonal().copy()
    ok = h > np.finfo(h.dtype).tiny  # 1 / h stays finite
    h[~ok] = 0
    inv = np.divide(1.0, h, out=np.ones_like(h), where=ok)
    A *= inv[:, None]
    B *= inv[:, None]
    return h


def _sweep(Wt, As, Bs, h, order, buf, violation):
    """One in-place HALS pass on prescaled ``As``, ``Bs`` (see ``_prescale``).

    Returns the sum of absolute projected gradients if ``violation`` else 0.
    """
    g, tmp, pos, zero, asum = buf.g, buf.tmp, buf.pos, buf.zero, buf.asum
    huge = buf.huge
    total = 0.0
    for t in order:
        w = Wt[t]
        np.dot(Bs[t], Wt, out=g)
        np.subtract(g, As[t], out=g)  # gradient / B[t, t]
        ht = h[t]
        if violation:
            # projected gradient: g where w > 0, min(g, 0) where w == 0
            if huge:  # two passes: min(g, w * huge) is g unless w << |g|
                np.multiply(w, huge, out=tmp)
                np.minimum(g, tmp, out=tmp)
            else:
                np.minimum(g, zero, out=tmp)
                np.greater(w, zero, out=pos)
                np.copyto(tmp, g, where=pos)
            total += float(asum(tmp)) * (ht if ht > 0 else 1.0)
        if ht > 0:
            np.subtract(w, g, out=w)
            np.maximum(w, zero, out=w)
    return total


def _fold_penalties(A, B, l1, l2):
    if l2:
        B.flat[:: B.shape[0] + 1] += l2
    if l1:
        A -= l1


def hals_sweep(Wt, A, B, *, l1=0.0, l2=0.0, order=None):
    r"""One HALS pass over the ``k`` rows of the transposed factor ``Wt``.

    Minimises, one row :math:`w_t` of ``Wt`` at a time and exactly,

    .. math::

        \tfrac12 \operatorname{tr}(W_t^T B W_t) - \langle A, W_t\rangle
        + l_1 |W_t|_1 + \tfrac12 l_2 \|W_t\|_F^2, \quad W_t \ge 0,

    which is the NMF objective in ``W`` for ``A = (X H^T)^T``, ``B = H H^T``.

    Parameters
    ----------
    Wt : ndarray of shape (k, m)
        Transposed factor (rows contiguous), updated in place.
    A : ndarray of shape (k, m)
        ``(X H^T)^T``. Not modified.
    B : ndarray of shape (k, k)
        ``H H^T``. Not modified.
    l1, l2 : float, default=0
        L1 and L2 penalties on ``Wt``.
    order : array-like of int, default=None
        Order of the component updates; ``None`` means ``0..k-1``.

    Returns
    -------
    violation : float
        Sum over all coordinates of the absolute projected gradient met by
        each coordinate update (scikit-learn's ``cd`` violation).
    """
    k, m = Wt.shape
    A = np.array(A, dtype=Wt.dtype, order="C")
    B = np.array(B, dtype=Wt.dtype, order="C")
    _fold_penalties(A, B, l1, l2)
    h = _prescale(A, B)
    if order is None:
        order = range(k)
    return _sweep(Wt, A, B, h, order, _Buffers(0, m, Wt.dtype), True)


# --------------------------------------------------------------------------
# half-iterations (unmasked)
# --------------------------------------------------------------------------
def _half(Wt, A, B, buf, rng, max_inner, first_only):
    """Sweep once (measuring the violation), then repeat while it pays.

    ``A`` and ``B`` (penalties folded in) are scaled in place. Returns the
    violation of the first sweep and the diagonal of ``B`` before scaling.
    The sweeps (small BLAS calls) run on one BLAS thread.
    """
    with single_blas():
        return _half_sweeps(Wt, A, B, buf, rng, max_inner, first_only)


def _half_sweeps(Wt, A, B, buf, rng, max_inner, first_only):
    k = Wt.shape[0]
    h = _prescale(A, B)
    order = rng.permutation(k) if rng is not None else range(k)
    if first_only or max_inner <= 1:
        return _sweep(Wt, A, B, h, order, buf, True), h
    if buf.prev is None:
        buf.prev = np.empty(Wt.shape, dtype=Wt.dtype)
    prev = buf.prev
    np.copyto(prev, Wt)
    viol = _sweep(Wt, A, B, h, order, buf, True)
    np.subtract(prev, Wt, out=prev)
    flat = prev.ravel()
    d1 = float(np.dot(flat, flat))
    if d1 == 0.0:
        return viol, h
    for _ in range(max_inner - 1):
        order = rng.permutation(k) if rng is not None else order
        np.copyto(prev, Wt)
        _sweep(Wt, A, B, h, order, buf, False)
        np.subtract(prev, Wt, out=prev)
        if float(np.dot(flat, flat)) <= _INNER_EPS2 * d1:
            break
    return viol, h


def _inner_budget(product_cost, size, k, floor=1):
    """``floor(1 + alpha * rho)``; costs in rough nanoseconds."""
    sweep_cost = k * (size * (k / 2.5 + 6.0) + 10_000.0)
    rho = product_cost / sweep_cost
    return int(min(_MAX_INNER, max(floor, np.floor(1.0 + _INNER_ALPHA * rho))))


def _product_cost(m, n, nnz):
    """Rough ns per row of ``G`` of a product of the ``m x n`` data with ``G``.

    The cost model sees the data, not the container (dense and sparse input
    of the same data take the same path): the cheaper of a dense product and
    a sparse one over the non-zeros.
    """
    return min(nnz / 1.5, m * n / 15.0)


def _half_budget(cost, k, size, other, floor=1):
    """Inner sweeps of a half-step on a ``(k, size)`` factor against ``(k, other)``.

    ``cost``: :func:`_product_cost` of the products the half-step makes.
    """
    return _inner_budget(cost * k + other * k * k / 15.0, size, k, floor)


def inner_budgets(shape, k, nnz):
    """``(W, H)`` inner-sweep budgets of :func:`fit_hals` on exact (uncompressed) data.

    From the shape and the non-zero count only, so a solver that never holds
    ``X`` whole (the Dask path) chooses what ``fit_hals`` would.
    """
    m, n = shape
    floor = _MIN_INNER if is_dense_count(m, n, nnz) else 1
    cost = _product_cost(m, n, nnz)
    return _half_budget(cost, k, m, n, floor), _half_budget(cost, k, n, m, floor)


# Row blocks of a sparse X for the products: a fixed number, independent of
# the thread count (each output row, or each partial sum, is then computed
# the same way whatever the threads: results do not depend on them).
_SPARSE_BLOCKS = 16
# the products W^T X add the blocks' contributions in this many fixed groups
_SPARSE_GROUPS = 2
# scipy's kernels for CSR x dense (into a zeroed result) and CSC x dense
# (added into the result): called directly, they add into a given array
# instead of allocating one per block. The public products are the fallback.
try:  # pragma: no branch
    from scipy.sparse._sparsetools import csc_matvecs as _csc_matvecs
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs

    _MATVECS = (_csr_matvecs, _csc_matvecs)
except ImportError:  # pragma: no cover - other scipy layouts
    _MATVECS = None


class _ExactProducts:
    """``(X H^T)^T`` and ``W^T X`` for dense or sparse ``X``.

    ``nnz``: the non-zero count of ``X`` when the caller has it already
    (counted here otherwise).

    For a sparse ``X`` no transposed copy is kept (it was the largest array
    of a sparse fit besides the factors): ``W^T X`` is computed as
    ``(X^T W)^T`` with ``X^T`` the CSC view of the CSR ``X``, block by block
    of rows of ``X``, as fast as the CSR product with the copy was.
    """

    def __init__(self, X, nnz=None):
        if nnz is None:
            nnz = n_nonzero(X)
        self.sparse = sp.issparse(X)
        self.X = X.tocsr() if self.sparse else X
        self.XT = None if self.sparse else X.T
        if self.sparse:
            A = self.X
            m = A.shape[0]
            n_blocks = _SPARSE_BLOCKS if A.nnz >= MIN_NNZ else 1
            cuts = np.searchsorted(A.indptr, np.linspace(0, A.nnz, n_blocks + 1))
            cuts = np.unique(np.clip(cuts, 0, m))
            if cuts.size < 2:  # no rows
                cuts = np.array([0, m])
            cuts[0], cuts[-1] = 0, m
            self.cuts = cuts
            self.blocks = [row_block_view(A, cuts[i], cuts[i + 1])
                           for i in range(len(cuts) - 1)]
            n_groups = min(_SPARSE_GROUPS, len(self.blocks))
            bounds = np.linspace(0, len(self.blocks), n_groups + 1).astype(int)
            self.groups = [range(bounds[g], bounds[g + 1]) for g in range(n_groups)]
        self.cost = _product_cost(X.shape[0], X.shape[1], nnz)

    def _map(self, func, items):
        threads = min(product_threads(), len(items))
        if threads <= 1:
            return [func(i) for i in items]
        return list(thread_pool(threads).map(func, items))

    def _direct(self, F):
        """Whether scipy's kernels can be called on ``X`` and ``F`` directly."""
        X = self.X
        return (_MATVECS is not None and X.data.dtype == F.dtype
                and X.indices.dtype == X.indptr.dtype)

    def AW(self, H, out):
        if not self.sparse:
            return np.dot(H, self.XT, out=out)
        k, m = H.shape[0], self.X.shape[0]
        if out is None:
            out = np.empty((k, m), dtype=np.result_type(self.X.dtype, H.dtype))
        HT = np.ascontiguousarray(H.T)
        outT, cuts, blocks = out.T, self.cuts, self.blocks
        direct = self._direct(HT)

        def one(i):
            # one block's rows, written into the (k, m) result: a temporary
            # of the block's rows only
            b = blocks[i]
            if direct:
                part = np.zeros((b.shape[0], k), dtype=HT.dtype)
                _MATVECS[0](b.shape[0], b.shape[1], k, b.indptr, b.indices,
                            b.data, HT.ravel(), part.ravel())
            else:
                part = b @ HT
            outT[cuts[i]:cuts[i + 1]] = part

        self._map(one, range(len(blocks)))
        return out

    def AH(self, Wt, out):
        if not self.sparse:
            return np.dot(Wt, self.X, out=out)
        cuts, blocks = self.cuts, self.blocks
        k, n = Wt.shape[0], self.X.shape[1]
        direct = self._direct(Wt)

        def group(g):
            acc = np.zeros((n, k), dtype=np.result_type(self.X.dtype, Wt.dtype))
            for i in g:
                b = blocks[i]
                piece = np.ascontiguousarray(Wt[:, cuts[i]:cuts[i + 1]].T)
                if direct:
                    # X_b^T (CSC view of the CSR block) times the rows of W,
                    # added into acc by scipy's kernel: no temporary
                    _MATVECS[1](n, b.shape[0], k, b.indptr, b.indices, b.data,
                                piece.ravel(), acc.ravel())
                else:
                    acc += b.T @ piece
            return acc

        parts = self._map(group, self.groups)
        total = parts[0]
        for part in parts[1:]:
            total += part
        return _into(total.T, out)


def _into(A, out):
    if out is None:
        return A
    np.copyto(out, A)
    return out


class _CompressedProducts:
    """The same products with ``X`` replaced by ``Q @ Bc``."""

    def __init__(self, Q, Bc):
        self.Q, self.Bc = Q, Bc
        self.cost = (Q.shape[0] + Bc.shape[1]) * Q.shape[1] / 5.0

    def AW(self, H, out):
        return np.dot(np.dot(H, self.Bc.T), self.Q.T, out=out)

    def AH(self, Wt, out):
        return np.dot(np.dot(Wt, self.Q), self.Bc, out=out)


def _should_compress(X, k, compress, nnz=None):
    """Whether to iterate on a QB compression first.

    Decided from the shape and the number of non-zeros, never from the
    container: only effectively dense data is compressed (for sparse data the
    exact products over the non-zeros are about as cheap as the compressed
    ones, and the compression would lose the sparsity).
    """
    if compress is False or compress is None:
        return False
    m, n = X.shape
    size = _compress_size(k)
    if compress is True:
        return size < min(m, n)
    # "auto": only when the compressed iterations are much cheaper
    return (m * n >= 250_000 and 4 * size <= min(m, n)
            and effectively_dense(X, nnz))


def _compress_size(k):
    return k + max(10, k // 2)


def plan_compression(X, k, *, compress="auto", random_state=None):
    """The compression :func:`fit_hals` would iterate on, or ``None``.

    Returns ``(Q, B, svd)`` with ``X ~ Q @ B`` and ``svd = (U, S, Vt)`` the
    top singular triplets of ``Q @ B`` (a randomized SVD of ``X``), so that
    the NNDSVD initialisation and the compressed iterations share the same
    passes over ``X``; ``None`` when ``fit_hals`` would not compress.
    """
    if not _should_compress(X, k, compress):
        return None
    Q, Bc = _qb_compress(X, _compress_size(k), n_iter=_SHARED_POWER,
                         random_state=random_state)
    Ub, S, Vt = np.linalg.svd(Bc, full_matrices=False)
    U = np.dot(Q, Ub)
    return Q, Bc, (U, S, Vt)


def _iterate(step, n_iter, max_iter, threshold, violation_init, verbose, name):
    """Run ``step()`` (returning its violation) until the stopping rule holds.

    Returns the number of iterations done, counting the ``n_iter`` before.
    """
    while n_iter < max_iter:
        n_iter += 1
        v = step()
        if verbose:
            print(f"{name} iteration {n_iter}: {v / violation_init:.6g}")
        if v <= threshold:
            break
    return n_iter


def _squared_norm(X):
    values = X.data if sp.issparse(X) else X.ravel()
    return float(np.einsum("i,i->", values, values, dtype=np.float64))



def _half_objective(A, B, h, F, x_norm2):
    """Penalised objective after a half-step, from its prescaled products.

    ``A`` and ``B`` are the (penalty-folded, prescaled) products the sweep of
    ``F`` used, ``h`` the diagonal the rows were divided by. With the folded
    products the penalties of ``F`` are part of the quadratic form:
    ``0.5 |X|^2 - <A, F> + 0.5 <B, F F^T>``, accumulated in float64.

    Returns the objective and its rounding scale (the size of the terms
    times the precision of the products).
    """
    s = np.where(h > np.finfo(h.dtype).tiny, h, 1.0).astype(np.float64)
    lin = float(np.dot(np.einsum("ij,ij->i", A, F, dtype=np.float64), s))
    F64 = np.asarray(F, dtype=np.float64)  # a copy only for float32
    FF = np.dot(F64, F64.T)
    quad = float(np.einsum("ij,ij->", B * s[:, None], FF))
    noise = np.finfo(A.dtype).eps * (abs(lin) + 0.5 * abs(quad))
    return 0.5 * x_norm2 - lin + 0.5 * quad, noise


def _balance(Wt, H, others_W, others_H):
    """Rescale component ``t`` to ``(w_t d_t, h_t / d_t)`` with equal norms.

    ``d`` is computed from ``(Wt, H)`` and applied to the other (same-scale)
    iterates too, so that differences between iterates stay meaningful.
    """
    nw = np.sqrt(np.einsum("ij,ij->i", Wt, Wt))
    nh = np.sqrt(np.einsum("ij,ij->i", H, H))
    ok = (nw > 0) & (nh > 0)
    d = np.sqrt(np.divide(nh, nw, out=np.ones_like(nw), where=ok))
    d[~ok] = 1.0
    for F in (Wt,) + tuple(others_W):
        F *= d[:, None]
    for F in (H,) + tuple(others_H):
        F /= d[:, None]


def extrapolation_step(beta, beta_max, accepted, fading):
    """Next ``(beta, beta_max)`` of the extrapolation (Ang & Gillis 2019).

    An accepted step grows ``beta`` (at most to ``beta_max``, which grows
    too, up to 1); a step within the objective's rounding (``fading``) or a
    rejected one shrinks it, and a rejected step also caps ``beta_max`` at
    the ``beta`` that overshot. Shared by the matrix and the tensor loops.
    """
    if not accepted:
        return beta / _EXTRA_ETA, beta
    if fading:
        return beta / _EXTRA_ETA, beta_max
    return min(beta_max, _EXTRA_GAMMA * beta), min(1.0, _EXTRA_GAMMA_MAX * beta_max)


def _push(F, F_prev, beta, zero, chunk=2**14):
    """``F_prev, F = F, max(0, F + beta (F - F_prev))`` in place, by chunks.

    The same arithmetic as on whole arrays, with a chunk-sized temporary
    instead of a factor-sized one (sparse case (b) of ``bench_nmf.py``: the
    two difference arrays were 4 MB of the fit's 36 MB peak).
    """
    f_all, p_all = F.reshape(-1), F_prev.reshape(-1)  # both C-contiguous
    tmp = np.empty(min(chunk, f_all.size), dtype=F.dtype)
    for start in range(0, f_all.size, chunk):
        f, p = f_all[start:start + chunk], p_all[start:start + chunk]
        t = tmp[:f.size]
        np.subtract(f, p, out=t)
        np.copyto(p, f)
        t *= beta
        f += t
        np.maximum(f, zero, out=f)


def _extrapolated_loop(Wt, Hw, half_W, half_H, exact, x_norm2, pen_W, threshold,
                       n_iter, max_iter, verbose, violation_init, penalized,
                       W_best=None):
    """HALS with the extrapolation of Ang & Gillis (2019), in place.

    After each half-step the factor is pushed further along its last change,
    ``F_hat = max(0, F_n + beta (F_n - F_{n-1}))``, and the next half-step
    starts from (and is computed against) the extrapolated factors. ``beta``
    grows while the objective decreases; when it increases, the iterates go
    back to the best pair so far and ``beta`` shrinks, so the objective of the
    kept pairs never rises (beyond rounding). The best pair is returned.
    Returns the number of outer iterations done.

    ``W_best``: where to keep the best ``Wt`` (any layout of shape (k, m),
    e.g. the transposed view of the caller's ``W``, which saves one factor-
    sized copy); a new array when None.
    """
    beta, beta_max = _EXTRA_BETA0, 1.0
    W_prev, H_prev = Wt.copy(), Hw.copy()
    if W_best is None:
        W_best = Wt.copy()
    else:
        np.copyto(W_best, Wt)
    H_best = Hw.copy()
    f_best = np.inf
    slack = 64 * np.finfo(np.float64).eps * x_norm2
    l1_W, l2_W = pen_W
    # Without penalties the objective does not see the scale of a component
    # (w_t d, h_t / d), and the extrapolation would drift along it until the
    # objective is lost in rounding: rebalance the components regularly. (With
    # penalties the scale is not free, and rescaling would change the
    # objective.)
    balance = not penalized
    zero = np.zeros((), dtype=Wt.dtype)[()]
    converged = False
    while not converged and n_iter < max_iter:
        n_iter += 1
        v = half_W(exact, False)[0]  # Wt: W_n, computed against H_hat
        _push(Wt, W_prev, beta, zero)  # Wt: W_hat, W_prev: W_n
        v_H, A, B, h = half_H(exact, False)  # Hw: H_n, against W_hat
        v += v_H
        f, noise = _half_objective(A, B, h, Hw, x_norm2)
        if l1_W:
            f += l1_W * float(Wt.sum())
        if l2_W:
            f += 0.5 * l2_W * float(np.vdot(Wt, Wt))
        # Differences below the rounding of f are neither decreases nor
        # increases: such a step is kept, but the extrapolation fades (beta
        # shrinks), so that once f cannot tell the iterates apart the plain
        # HALS steps finish the job under the violation rule.
        tie = slack + 4 * noise
        if f <= f_best + tie:
            # accepted: remember the pair, extrapolate H
            fading = f > f_best - tie
            f_best = min(f, f_best)
            np.copyto(W_best, Wt)
            np.copyto(H_best, Hw)
            _push(Hw, H_prev, beta, zero)  # H_hat
            beta, beta_max = extrapolation_step(beta, beta_max, True, fading)
        else:
            # the step overshot: go back to the best pair, damp beta
            beta, beta_max = extrapolation_step(beta, beta_max, False, False)
            for F, F_prev, F_best in ((Wt, W_prev, W_best), (Hw, H_prev, H_best)):
                np.copyto(F, F_best)
                np.copyto(F_prev, F_best)
        if balance and n_iter % _BALANCE_EVERY == 0:
            _balance(W_best, H_best, (Wt, W_prev), (Hw, H_prev))
        if verbose:
            print(f"HALS iteration {n_iter} (extrapolated, beta {beta:.3f}): "
                  f"{v / violation_init:.6g}")
        converged = v <= threshold
    np.copyto(Wt, W_best)
    np.copyto(Hw, H_best)
    return n_iter


def fit_hals(X, W, H, *, tol=1e-4, max_iter=200, l1_W=0.0, l2_W=0.0, l1_H=0.0,
             l2_H=0.0, update_H=True, observed=None, shuffle=False,
             random_state=None, verbose=0, compress="auto", accelerate=True,
             qb=None, extrapolate=False):
    r"""Fit ``W`` (and ``H``) by hierarchical alternating least squares.

    Minimises :math:`\tfrac12\|X - WH\|_F^2` (over the observed entries)
    :math:`+\, l_1^W|W|_1 + \tfrac12 l_2^W\|W\|_F^2 + l_1^H|H|_1 +
    \tfrac12 l_2^H\|H\|_F^2` over :math:`W, H \ge 0`.

    Parameters
    ----------
    X : ndarray or scipy.sparse CSR/CSC matrix of shape (m, n)
        Non-negative data, never densified.
    W : ndarray of shape (m, k)
        Initial ``W``, updated in place.
    H : ndarray of shape (k, n)
        Initial ``H``, updated in place (kept fixed if ``update_H=False``).
    tol : float, default=1e-4
        Stop when the violation of an iteration is at most ``tol`` times that
        of the first iteration (scikit-learn's ``cd`` rule, see module notes;
        the first iteration is always exact and plain, so the reference is
        scikit-learn's). With acceleration or compression the iterates differ
        from scikit-learn's and the rule is made stricter (``0.7 * tol``).
    max_iter : int, default=200
        Maximum number of outer iterations (compressed ones included).
    l1_W, l2_W, l1_H, l2_H : float, default=0
        Penalties, already scaled (see :mod:`nmfkit._core`).
    update_H : bool, default=True
        If False, only ``W`` is fitted (``transform``).
    observed : None, bool ndarray or "stored", default=None
        Observed entries (see :mod:`nmfkit._core`).
    shuffle : bool, default=False
        Update the components in a random order.
    random_state : None, int or RandomState
        For ``shuffle`` and for the randomized compression.
    verbose : int, default=0
        Print the relative violation per iteration.
    compress : "auto", bool, default="auto"
        Iterate first on a randomized QB compression of a dense ``X``
        (``"auto"``: only for large ``X`` with ``k`` well below
        ``min(m, n)``). The result always satisfies the exact stopping rule.
    accelerate : bool, default=True
        Repeat the cheap inner sweeps while they pay (Gillis & Glineur).
    qb : tuple (Q, B) or None, default=None
        A precomputed compression ``X ~ Q @ B`` (see :func:`plan_compression`)
        used instead of computing one, when compressing.

    extrapolate : bool, default=False
        Extrapolate the factors between half-steps (Ang & Gillis 2019, see
        :func:`_extrapolated_loop`); usually several times fewer iterations
        from a random start. Ignored with ``observed`` or ``update_H=False``.

    Returns
    -------
    W : ndarray of shape (m, k)
    H : ndarray of shape (k, n)
    n_iter : int
        Number of outer iterations run.
    """
    if observed is not None:
        return _fit_hals_masked(
            X, W, H, observed, tol=tol, max_iter=max_iter, l1_W=l1_W, l2_W=l2_W,
            l1_H=l1_H, l2_H=l2_H, update_H=update_H, shuffle=shuffle,
            random_state=random_state, verbose=verbose, accelerate=accelerate)
    dtype = W.dtype
    m, n = X.shape
    k = W.shape[1]
    if k == 0 or m == 0 or n == 0:
        return W, H, 0
    rng = check_random_state(random_state)
    order_rng = rng if shuffle else None
    if sp.issparse(X) and X.format not in ("csr", "csc"):
        X = X.tocsr()

    Wt = np.ascontiguousarray(W.T)
    Hw = H if H.flags.c_contiguous else np.ascontiguousarray(H)
    bufW = _Buffers(k, m, dtype)
    bufH = _Buffers(k, n, dtype)
    nnz = n_nonzero(X)
    exact = _ExactProducts(X, nnz)
    should_compress = _should_compress(X, k, compress, nnz)
    # buffers for the products: for a dense or compressed X. For a sparse X
    # the (k, m) product is made fresh by each W half-step and freed after
    # it (it is not alive during the H half-step, whose own transient arrays
    # then set the peak); the small (k, n) one is kept.
    buffered = (not exact.sparse) or should_compress
    AW = np.empty((k, m), dtype=dtype) if buffered else None
    AH = np.empty((k, n), dtype=dtype)
    # effectively dense data: every pass over X is expensive, solve the
    # blocks more exactly
    floor = _MIN_INNER if effectively_dense(X, nnz) else 1

    def half(F, G, prod, product, out, l1, l2, buf, first_only):
        """Update ``F`` (k, size) against ``G`` (k, other): one half-step.

        ``product(G, out)`` is ``prod``'s product of ``X`` with ``G``."""
        A = product(G, out)
        B = np.dot(G, G.T)
        _fold_penalties(A, B, l1, l2)
        inner = _half_budget(prod.cost, k, F.shape[1], G.shape[1],
                             floor if prod is exact else 1) if accelerate else 1
        v, h = _half(F, A, B, buf, order_rng, inner, first_only)
        return v, A, B, h

    def half_W(prod, first_only):
        return half(Wt, Hw, prod, prod.AW, AW, l1_W, l2_W, bufW, first_only)

    def half_H(prod, first_only):
        return half(Hw, Wt, prod, prod.AH, AH, l1_H, l2_H, bufH, first_only)

    def iteration(prod, first_only=False):
        v = half_W(prod, first_only)[0]
        if update_H:
            v += half_H(prod, first_only)[0]
        return v

    # First iteration: exact and plain, so that the reference violation is
    # the one scikit-learn's solver measures from the same init.
    violation_init = iteration(exact, first_only=True)
    n_iter = 1
    if verbose:
        print(f"HALS iteration 1: violation {violation_init:.6g}")
    converged = violation_init == 0.0 or tol >= 1.0
    compressing = not converged and n_iter < max_iter and should_compress
    # plain iterations are scikit-learn's: its threshold; otherwise stricter
    threshold = (
        (_TOL_FACTOR if (accelerate or compressing or extrapolate) else 1.0)
        * tol * violation_init)

    if compressing:
        if qb is not None:
            Q, Bc = qb
        else:
            Q, Bc = _qb_compress(X, _compress_size(k), n_iter=_COMPRESS_POWER,
                                 random_state=rng)
        comp = _CompressedProducts(Q, Bc)
        while n_iter < max_iter - 1:
            n_iter += 1
            v = iteration(comp)
            if verbose:
                print(f"HALS iteration {n_iter} (compressed): "
                      f"{v / violation_init:.6g}")
            if v <= _COMPRESSED_TARGET * threshold:
                break
        del Q, Bc, comp

    if extrapolate and update_H and not converged and n_iter < max_iter:
        x_norm2 = _squared_norm(X)
        # the caller's W holds the best iterate (its transposed view): one
        # (m, k) array less alive during the loop
        n_iter = _extrapolated_loop(
            Wt, Hw, half_W, half_H, exact, x_norm2, (l1_W, l2_W), threshold,
            n_iter, max_iter, verbose, violation_init,
            penalized=bool(l1_W or l2_W or l1_H or l2_H), W_best=W.T)
    elif not converged:
        n_iter = _iterate(lambda: iteration(exact), n_iter, max_iter, threshold,
                          violation_init, verbose, "HALS")

    W[...] = Wt.T
    if Hw is not H:
        H[...] = Hw
    return W, H, n_iter


# --------------------------------------------------------------------------
# masked HALS
# --------------------------------------------------------------------------
def _masked_half(X, F, G_factor, observed, l1, l2, rng, max_sweeps):
    """Update the rows of ``F`` (rows of ``X``, k) for fixed ``G_factor`` (k, n)."""
    problems = _RowProblems(X, G_factor, observed)
    k = F.shape[1]
    viol = 0.0
    for start, stop in problems.chunks():
        A, G = problems.get(start, stop)
        order = rng.permutation(k) if rng is not None else np.arange(k)
        v, _ = _batched_cd(F[start:stop], A, G, l1, l2, order, max_sweeps,
                           eps2=_INNER_EPS2, rng=rng)
        viol += v
    return viol


def _fit_hals_masked(X, W, H, observed, *, tol, max_iter, l1_W, l2_W, l1_H, l2_H,
                     update_H, shuffle, random_state, verbose, accelerate):
    """HALS over the observed entries, with per-row Gram matrices."""
    m, n = X.shape
    k = W.shape[1]
    if k == 0 or m == 0 or n == 0:
        return W, H, 0
    rng = check_random_state(random_state)
    order_rng = rng if shuffle else None
    if isinstance(observed, str):
        XW = X.tocsr() if X.format != "csr" else X
        XH = X.T.tocsr()
        obs_W = obs_H = "stored"
    else:
        XW, XH = X, X.T
        obs_W, obs_H = observed, observed.T
    Wc = W if W.flags.c_contiguous else np.ascontiguousarray(W)
    Ht = np.ascontiguousarray(H.T)
    inner = _MASKED_INNER if accelerate else 1

    def iteration(sweeps):
        v = _masked_half(XW, Wc, Ht.T, obs_W, l1_W, l2_W, order_rng, sweeps)
        if update_H:
            v += _masked_half(XH, Ht, Wc.T, obs_H, l1_H, l2_H, order_rng, sweeps)
        return v

    violation_init = iteration(1)
    n_iter = 1
    converged = violation_init == 0.0 or tol >= 1.0
    threshold = (_TOL_FACTOR if accelerate else 1.0) * tol * violation_init
    if not converged:
        n_iter = _iterate(lambda: iteration(inner), n_iter, max_iter, threshold,
                          violation_init, verbose, "masked HALS")
    if Wc is not W:
        W[...] = Wc
    if update_H:
        H[...] = Ht.T
    return W, H, n_iter
