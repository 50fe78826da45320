r"""Kullback-Leibler NMF of sparse blocks that share ``H`` (SeNMF's solver).

The problem

.. math::

    \min_{W_b \ge 0,\, H \ge 0} \sum_b D_{KL}(X_b \,\|\, W_b H)
    + l1_W \sum_b \|W_b\|_1 + \tfrac12 l2_W \sum_b \|W_b\|_F^2
    + l1_H \|H\|_1 + \tfrac12 l2_H \|H\|_F^2

is the NMF of the stacked matrix :math:`[X_1; X_2; \dots]`, and
:func:`fit_stacked_kl` runs exactly the multiplicative updates that
:func:`nmfkit._core.mu.fit_mu` runs on that stack (same iterates, to
rounding), at a fraction of the cost when a block is dense-ish, as the SPPMI
block of SeNMF is (a fifth to a third of the vocabulary squared):

* **density-aware model values.** Every update needs :math:`W_b H` at the
  stored entries of :math:`X_b`. For a sparse block these are gathered one
  by one (``k`` values per entry, about 35 ns each); when the stored
  fraction is above :data:`DENSE_GATHER_DENSITY` it is cheaper to form
  :math:`W_b H` by BLAS in row blocks that stay in cache and take the stored
  entries out of each block (about 1 ns per entry of the block: 5x faster
  at 16% stored).
* **one pass, dense where dense.** The coupled update needs the ratio and
  its two products :math:`R H^T`, :math:`R^T W_b` at the same point; they
  are taken together, row range by row range (one range per BLAS thread).
  A block above :data:`DENSE_DENSITY` stored is also kept dense, and the
  pass is BLAS on dense row blocks of :math:`W_b H` (the ratio is zero
  where the block has no entry): no gathers, no sparse products.
* **no rebuilt matrices.** The ratio :math:`X_b / W_b H` lives in one CSR
  matrix per block, made once, whose values are overwritten in place.
* **the loss for free.** The stopping rule's divergence at the current
  iterate is read off the ratio the next ``W`` update computes anyway
  (:math:`\sum x \log(x/y) = \sum x \log r`, :math:`\sum y` in closed form),
  instead of a separate pass over every block.

References
----------
Lee, D. D. & Seung, H. S. (2001). Algorithms for non-negative matrix
factorization. NIPS 13.
"""

import contextlib
import time

import numpy as np
import scipy.sparse as sp

from .losses import EPSILON
from .parallel import MIN_NNZ, product_threads, sharing_matrix, single_blas, thread_pool

_EPS64 = np.finfo(np.float64).eps

#: Stored fraction above which a block's model values ``(W H)[i, j]`` are
#: taken from dense row blocks of ``W H`` rather than gathered entry by entry.
#: Measured on one core: a gather costs ~35 ns per stored entry at k = 5, a
#: dense row block ~1 ns per entry of the block, both growing with k.
DENSE_GATHER_DENSITY = 0.06

#: Stored fraction above which a block is also kept as a dense array, and its
#: ratio and products computed by BLAS on dense row blocks (no gathers, no
#: sparse products). Measured on one core, k = 5, float32 (SPPMI blocks of
#: ``benchmarks/bench_senmf_speed.py``): 16% stored, 3733 words, 23 ms per
#: pass against 28 ms sparse; 34% stored, 3000 words, 16 ms against 41 ms.
DENSE_DENSITY = 0.1

#: Largest dense copy of a block (bytes) that :data:`DENSE_DENSITY` may make.
DENSE_MAX_BYTES = 2**28

#: Factor values below this are zero in a float32 block's model values: a
#: product of two of them can be subnormal, and arithmetic on subnormal
#: floats is many times slower (SeNMF on the arXiv abstracts: 261 subnormal
#: values in the word factor, 7,172 in W H, a dense pass 33 ms instead of
#: 21). What it drops, below 1e-18 times the other factor, is far below the
#: floor ``EPSILON`` of the model values.
_FLUSH_32 = np.float32(1e-18)

# entries per dense row block of W H: fits in a core's L2 cache
_BLOCK_ENTRIES = 2**17


class SparseKLBlock:
    """One sparse block ``A`` of a KL fit and its ratio ``A / (W H)``.

    Parameters
    ----------
    A : sparse matrix of shape (n, m)
        Non-negative block (CSR is made once; explicit zeros are dropped).
    dtype : numpy dtype
        Floating dtype of the factors.
    dense_gather : bool or None, default=None
        Take model values from dense row blocks of ``W H`` (``True``) or
        gather them entry by entry (``False``); ``None`` decides from the
        stored fraction (:data:`DENSE_GATHER_DENSITY`).
    dense : bool or None, default=None
        Also keep ``A`` as a dense array, for :meth:`ratio_products` by BLAS
        (implies ``dense_gather``); ``None`` decides from the stored fraction
        (:data:`DENSE_DENSITY`) and the size (:data:`DENSE_MAX_BYTES`).
    """

    def __init__(self, A, dtype, dense_gather=None, dense=None):
        A = sp.csr_matrix(A, dtype=dtype, copy=True)
        A.sum_duplicates()
        A.eliminate_zeros()
        A.sort_indices()
        n, m = A.shape
        self.shape = (n, m)
        self.dtype = np.dtype(dtype)
        self.A = A
        self.data = A.data
        self.nnz = A.nnz
        # the ratio A / (W H) at A's pattern; its values are overwritten
        self.R = sp.csr_matrix((np.zeros_like(A.data), A.indices, A.indptr),
                               shape=A.shape)
        self.RT = self.R.T  # CSC view sharing R's arrays
        self.wh = np.empty(A.nnz, dtype=dtype)
        # x-terms of the KL divergence count only entries above eps
        self.keep = None if A.nnz == 0 or A.data.min() > EPSILON else A.data > EPSILON
        kept = A.data if self.keep is None else A.data[self.keep]
        self.xsum = float(kept.sum(dtype=np.float64))
        density = A.nnz / max(n * m, 1)
        if dense is None:
            dense = (density >= DENSE_DENSITY
                     and n * m * self.dtype.itemsize <= DENSE_MAX_BYTES)
        self.dense = A.toarray() if dense and A.nnz > 0 else None
        if self.dense is not None:
            dense_gather = True
        self.x = kept.astype(np.float64)
        if dense_gather is None:
            dense_gather = density >= DENSE_GATHER_DENSITY
        self.dense_gather = bool(dense_gather) and A.nnz > 0
        if self.dense_gather:
            step = max(1, _BLOCK_ENTRIES // max(m, 1))
            self.bounds = np.arange(0, n + step, step).clip(max=n)
            self.bounds = np.unique(self.bounds)
            # np.take wants native integers: int32 indices would be converted
            # (a copy of every index) at each call
            flat = np.repeat(np.arange(n, dtype=np.intp), np.diff(A.indptr))
            flat %= step
            flat *= m
            flat += A.indices
            self.flat = flat
            self.buffer = np.empty((step, m), dtype=dtype)
        else:
            self.counts = np.diff(A.indptr)
            self.cols = A.indices.astype(np.intp)
        self._chunk_cache = {}

    def update_ratio(self, W, H):
        """Set ``R`` to ``A / max(W H, eps)`` at the stored entries; return ``R``.

        ``W`` and ``H`` may be of another floating dtype than the block (they
        are cast, which is cheap: they are small).
        """
        if self.nnz == 0:
            return self.R
        W, H = self._factors(W, H)
        self._ratio_rows(W, H, 0, self.shape[0])
        return self.R

    def _factors(self, W, H):
        """``W`` and ``H`` in the block's dtype; in float32 without values
        under :data:`_FLUSH_32`, whose products would be subnormal."""
        if self.dtype != np.float32:
            return np.asarray(W, dtype=self.dtype), np.asarray(H, dtype=self.dtype)
        out = []
        for F in (W, H):
            F = np.array(F, dtype=np.float32)  # a copy: the caller's stays
            F[F < _FLUSH_32] = 0.0
            out.append(F)
        return out

    def _ratio_rows(self, W, H, lo, hi):
        """The ratio at the stored entries of rows ``lo:hi`` (into ``R``)."""
        r = self.R.data
        data = self.data
        indptr = self.A.indptr
        if self.dense_gather:
            # lo, hi are on the row-block grid (chunks are cut there)
            buf = self.buffer if lo == 0 else np.empty_like(self.buffer)
            flat = self.flat
            bounds = self.bounds
            i0, i1 = np.searchsorted(bounds, [lo, hi])
            for b0, b1 in zip(bounds[i0:i1], bounds[i0 + 1:i1 + 1]):
                P = buf[:b1 - b0]
                np.dot(W[b0:b1], H, out=P)
                a, z = indptr[b0], indptr[b1]
                rv = r[a:z]
                np.take(P.ravel(), flat[a:z], out=rv)
                np.maximum(rv, EPSILON, out=rv)
                np.divide(data[a:z], rv, out=rv)
        else:
            # one component at a time: 1-d gathers are several times faster
            # than gathering rows of W and columns of H
            a, z = indptr[lo], indptr[hi]
            Wt = np.ascontiguousarray(W[lo:hi].T)
            counts = self.counts[lo:hi]
            cols = self.cols[a:z]
            rv = r[a:z]
            tmp = np.empty_like(rv) if lo > 0 else self.wh[a:z]
            np.multiply(np.repeat(Wt[0], counts), np.take(H[0], cols), out=rv)
            for c in range(1, W.shape[1]):
                np.multiply(np.repeat(Wt[c], counts), np.take(H[c], cols), out=tmp)
                rv += tmp
            np.maximum(rv, EPSILON, out=rv)
            np.divide(data[a:z], rv, out=rv)

    def _chunks(self, threads):
        """Row ranges of about equal stored entries, one per thread, with the
        CSR matrices of their rows sharing ``R``'s arrays."""
        if threads in self._chunk_cache:
            return self._chunk_cache[threads]
        n = self.shape[0]
        indptr = self.A.indptr
        grid = self.bounds if self.dense_gather else np.arange(n + 1)
        targets = np.linspace(0, self.nnz, threads + 1)
        cuts = grid[np.searchsorted(indptr[grid], targets).clip(max=len(grid) - 1)]
        cuts = np.unique(np.concatenate([[0], cuts, [n]]))
        chunks = []
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            a, z = indptr[lo], indptr[hi]
            args = (self.R.data[a:z], self.A.indices[a:z], indptr[lo:hi + 1] - a)
            M = sharing_matrix(sp.csr_matrix, *args, (hi - lo, self.shape[1]))
            MT = sharing_matrix(sp.csc_matrix, *args, (self.shape[1], hi - lo))
            chunks.append((int(lo), int(hi), M, MT))
        self._chunk_cache[threads] = chunks
        return chunks

    def ratio_products(self, W, H, threads=None, store_ratio=True):
        """The ratio ``R`` at ``(W, H)``, and ``R @ H.T`` and ``R.T @ W``.

        One pass: the rows are cut into one range per thread (equal stored
        entries), and each thread computes the ratio of its rows and both
        products of them while they are in cache; the partial ``R.T @ W`` of
        the ranges are summed. ``R.T @ W`` is summed in another order than
        scipy's (rounding). ``threads=None`` takes BLAS's current limit
        (:func:`product_threads`), so a worker limited to one BLAS thread
        runs on one.

        A block kept dense (``dense``) takes the ratio of whole row blocks
        (zero where ``A`` is) and multiplies them by BLAS; its stored values
        are copied into ``R`` only if ``store_ratio`` (for the loss).

        Returns
        -------
        RHt : ndarray of shape (n, k)
        RtW : ndarray of shape (m, k)
        """
        n, m = self.shape
        k = W.shape[1]
        W, H = self._factors(W, H)
        if self.nnz == 0:
            return np.zeros((n, k), self.dtype), np.zeros((m, k), self.dtype)
        if threads is None:
            threads = product_threads()
        if self.nnz < MIN_NNZ:
            threads = 1
        Ht = np.ascontiguousarray(H.T)
        chunks = self._chunks(max(int(threads), 1))
        RHt = np.empty((n, k), dtype=self.dtype)

        def one(chunk):
            lo, hi, M, MT = chunk
            if self.dense is not None:
                return self._dense_rows(W, H, Ht, lo, hi, RHt, store_ratio)
            self._ratio_rows(W, H, lo, hi)
            RHt[lo:hi] = M @ Ht
            return MT @ W[lo:hi]

        if len(chunks) == 1:
            RtW = one(chunks[0])
        else:
            with single_blas():
                parts = list(thread_pool(len(chunks)).map(one, chunks))
            RtW = parts[0]
            for p in parts[1:]:
                RtW += p
        return RHt, np.asarray(RtW)

    def _dense_rows(self, W, H, Ht, lo, hi, RHt, store_ratio):
        """:meth:`ratio_products` of rows ``lo:hi`` of a dense block."""
        buf = self.buffer if lo == 0 else np.empty_like(self.buffer)
        r, indptr, flat, bounds = self.R.data, self.A.indptr, self.flat, self.bounds
        RtW = np.zeros((self.shape[1], W.shape[1]), dtype=self.dtype)
        i0, i1 = np.searchsorted(bounds, [lo, hi])
        for b0, b1 in zip(bounds[i0:i1], bounds[i0 + 1:i1 + 1]):
            P = buf[:b1 - b0]
            np.dot(W[b0:b1], H, out=P)
            np.maximum(P, EPSILON, out=P)
            np.divide(self.dense[b0:b1], P, out=P)
            if store_ratio:
                a, z = indptr[b0], indptr[b1]
                np.take(P.ravel(), flat[a:z], out=r[a:z])
            np.dot(P, Ht, out=RHt[b0:b1])
            RtW += P.T @ W[b0:b1]
        return RtW

    def kl_x_terms(self):
        """``sum x log(x / y) - x`` over stored ``x > eps``, ``y`` of the last ratio."""
        r = self.R.data if self.keep is None else self.R.data[self.keep]
        # x log(x / y) = x log r with r = x / max(y, eps); the logarithm in the
        # block's dtype (half the cost in float32), the sum in float64
        return float(np.dot(self.x, np.log(r).astype(np.float64))) - self.xsum

    def kl_divergence(self, W, H):
        """Generalized KL divergence ``D(A || W H)`` (scikit-learn's conventions)."""
        self.update_ratio(W, H)
        return self.kl_x_terms() + float(W.sum(axis=0) @ H.sum(axis=1))


def _apply(F, num, den, l1, l2):
    """``F *= num / (den + l1 + l2 F)`` with zero denominators -> eps (in place)."""
    if l1 > 0:
        den = den + l1
    if l2 > 0:
        den = den + l2 * F
    den = np.where(den == 0, EPSILON, den)
    F *= num / den
    return F


def stacked_kl_divergence(blocks, Ws, H):
    """``sum_b D_KL(A_b || W_b H)``."""
    return sum(b.kl_divergence(W, H) for b, W in zip(blocks, Ws))


def _coupled_step(blocks, Ws, H, inner, products):
    r"""One pass over the co-occurrence blocks, ``inner`` over the first block.

    The ratio of the first block is current (computed at ``Ws, H``), and
    ``products`` holds :math:`(R_c H^T, R_c^T W_c)` of each coupled block at
    ``Ws, H`` (:meth:`SparseKLBlock.ratio_products`). With
    :math:`R_c = S / (W_c H)`, Jensen's inequality majorizes each coupled term
    :math:`D(S \| W_c H)` at the current point by a function separable in
    :math:`W_c` and :math:`H` except for :math:`\sum_k (\sum_i W_{c,ik})
    (\sum_j H_{kj})`:

    .. math::

        -\sum_{ik} a_{ik} \log W_{c,ik} - \sum_{kj} b_{kj} \log H_{kj}
        + \sum_k (\textstyle\sum_i W_{c,ik})(\sum_j H_{kj}),
        \quad a = W_c \circ (R_c H^T),\ b = H \circ (W_c^T R_c).

    With the document term majorized the same way at the current ``H``
    (:math:`d = H \circ (W^T R_X)`, column sums ``w`` of ``W``), the
    majorizer is minimized exactly in :math:`(W_c, H)`: per topic ``k`` the
    sum of ``H`` is :math:`D_k / w_k` (:math:`D_k = \sum_j d_{kj}`), then
    :math:`W_c = a / \sum_j H_{kj}` and
    :math:`H = (d + b) / (w + \sum_i W_{c,ik})`. Every step decreases the
    objective (majorization-minimization); the document block, cheap next to
    the co-occurrence blocks, gets ``inner`` such steps (each a ``W`` update
    and a re-majorization of its term) per pass over them.
    """
    k = H.shape[0]
    Ht = np.ascontiguousarray(H.T)
    a_list = []
    b_sum = np.zeros_like(H)
    for (RHt, RtW), Wc in zip(products, Ws[1:]):
        a_list.append(Wc * np.asarray(RHt, dtype=H.dtype))
        b_sum += H * np.asarray(RtW, dtype=H.dtype).T
    a_tot = sum(a.sum(axis=0) for a in a_list) if a_list else np.zeros(k)
    blk, W = blocks[0], Ws[0]
    h_new = H.sum(axis=1)
    for j in range(inner):
        h_sums = H.sum(axis=1)
        if j > 0:
            blk.update_ratio(W, H)
            Ht = np.ascontiguousarray(H.T)
        _apply(W, _times_ht(blk, Ht, H.dtype), np.broadcast_to(h_sums, W.shape),
               0.0, 0.0)
        blk.update_ratio(W, H)
        d = H * _wt_times(blk, W, H.dtype).T
        w_sums = W.sum(axis=0)
        d_tot = d.sum(axis=1)
        ok = (d_tot > 0) & (w_sums > 0)
        # a topic the documents no longer use keeps its scale
        h_new = np.where(ok, d_tot / np.where(ok, w_sums, 1.0), h_sums)
        h_new = np.where(h_new > 0, h_new, EPSILON)
        den = w_sums + a_tot / h_new
        den = np.where(den > 0, den, EPSILON)
        np.divide(d + b_sum, den[:, None], out=H)
        H[H < _EPS64] = 0.0
    for a, Wc in zip(a_list, Ws[1:]):
        np.divide(a, h_new, out=Wc)


def _over_relax(F, O, omega):
    """``F = O (F / O)^omega`` where ``O > 0`` (in place): a longer step along
    the multiplicative update from ``O`` to ``F``."""
    pos = O > 0
    q = np.divide(F, O, out=np.ones_like(F), where=pos)
    with np.errstate(over="ignore", invalid="ignore"):  # caught at the check
        np.power(q, omega, out=q)
        np.multiply(O, q, out=q)
    F[pos] = q[pos]


def _times_ht(blk, Ht, dtype):
    """``R @ H.T`` in the block's dtype, returned in the factors' dtype."""
    return np.asarray(blk.R @ Ht.astype(blk.dtype, copy=False), dtype=dtype)


def _wt_times(blk, W, dtype):
    """``R.T @ W`` in the block's dtype, returned in the factors' dtype."""
    return np.asarray(blk.RT @ W.astype(blk.dtype, copy=False), dtype=dtype)


def fit_stacked_kl(blocks, Ws, H, *, tol=1e-4, max_iter=200, l1_W=0.0, l2_W=0.0,
                   l1_H=0.0, l2_H=0.0, update="alternating", inner=1, verbose=0,
                   error_scale=None, relax=1.0):
    """KL multiplicative updates of sparse blocks sharing ``H``.

    ``update="alternating"``: the iterates of
    :func:`nmfkit._core.mu.fit_mu` with ``beta=1`` on the vertical stack of
    the blocks, ``W`` being the stack of ``Ws``: each iteration updates every
    ``W_b`` from the ratio at the current iterate, then ``H`` from the ratios
    at the new ``W_b`` (two passes over every block).

    ``update="coupled"`` (no penalties): the first block is the documents,
    the others are coupled to ``H`` by one majorization per iteration, which
    is minimized jointly in their factors and ``H`` (see
    :func:`_coupled_step`): one pass over the coupled blocks per iteration
    instead of two, and ``inner`` updates of the first block's ``W`` and of
    ``H`` in it. Monotone as well.

    In both, every 10 iterations the error ``e = sqrt(2 D)`` of the stack is
    compared with the previous one, and the fit stops when
    ``(e_previous - e) / e_init < tol`` (scikit-learn's rule). The error is
    read off the ratios that the next iteration computes anyway.

    Parameters
    ----------
    blocks : list of SparseKLBlock
        The blocks ``A_b`` of shape ``(n_b, m)``.
    Ws : list of ndarray of shape (n_b, k)
        Their factors, updated in place.
    H : ndarray of shape (k, m)
        Shared factor, updated in place.
    tol : float, default=1e-4
    max_iter : int, default=200
        Iterations (passes over the coupled blocks).
    l1_W, l2_W, l1_H, l2_H : float, default=0.0
        Scaled penalties of the stacked problem (``"alternating"`` only).
    update : {"alternating", "coupled"}, default="alternating"
    inner : int, default=1
        Document-block steps per iteration of ``"coupled"``.
    verbose : int, default=0
    error_scale : float or None, default=None
        ``e_init`` of the stopping rule; ``None`` takes the error at the
        ``Ws, H`` passed in.
    relax : float >= 1, default=1.0
        Over-relaxation of ``"coupled"``: each factor moves to
        ``F_old (F_mm / F_old) ** relax`` instead of the
        majorization-minimization point ``F_mm`` (a longer step along the
        multiplicative update, in log space). Not monotone step by step, so
        every check (every 10 iterations, and at the end) compares the
        divergence with the last check's; if it rose, the factors of the last
        check are restored and the fit goes on with ``relax=1``. With 1.5
        the SeNMF fits of ``benchmarks/bench_senmf_speed.py`` take 10-20%
        fewer iterations to a lower divergence.

    Returns
    -------
    Ws : list of ndarray
    H : ndarray
    n_iter : int
    """
    k, m = H.shape
    dt = H.dtype
    t0 = time.perf_counter()
    coupled = update == "coupled" and len(blocks) > 1
    omega = float(relax) if coupled else 1.0
    if not omega >= 1.0:
        raise ValueError(f"relax must be >= 1, got {relax!r}.")
    # the over-relaxed steps are checked at every error evaluation
    need_loss = tol > 0 or verbose or omega != 1.0
    if coupled and (l1_W or l2_W or l1_H or l2_H):
        raise ValueError("update='coupled' has no penalties; use 'alternating'.")

    def error_from_ratios():
        d = sum(b.kl_x_terms() for b in blocks)
        d += float(sum(W.sum(axis=0) for W in Ws) @ H.sum(axis=1))
        return float(np.sqrt(2.0 * max(d, 0.0)))

    # asking threadpoolctl costs milliseconds: once per fit, not per pass
    threads = product_threads()

    def ratios(store):
        # ratios at the current iterate: the W numerators, and the loss; the
        # coupled blocks' products are taken in the same pass as their ratios
        if coupled:
            blocks[0].update_ratio(Ws[0], H)
            return [b.ratio_products(W, H, threads=threads, store_ratio=store)
                    for b, W in zip(blocks[1:], Ws[1:])]
        for b, W in zip(blocks, Ws):
            b.update_ratio(W, H)
        return None

    checkpoint = None
    scale = previous = None
    n_iter = 0
    # over-relaxed iterates may overflow between checks; the check catches
    # a non-finite divergence and restores the last checked factors
    quiet = np.errstate(all="ignore") if omega != 1.0 else contextlib.nullcontext()
    with quiet:
        for it in range(1, max_iter + 1):
            check = need_loss and (it == 1 or (it - 1) % 10 == 0)
            products = ratios(check)
            if check:
                error = error_from_ratios()
                if it == 1:
                    previous = error
                    scale = error if error_scale is None else error_scale
                    scale = scale if scale > 0 else 1.0
                elif omega != 1.0 and not error <= previous:
                    # the over-relaxed steps overshot: back to the last check,
                    # plain majorization-minimization from there
                    for F, C in zip([*Ws, H], checkpoint):
                        F[...] = C
                    omega = 1.0
                    products = ratios(True)
                else:
                    if verbose:
                        print(f"MU iteration {it - 1:4d}: "
                              f"{time.perf_counter() - t0:.3f} s, error {error:.6g}")
                    if tol > 0 and (previous - error) / scale < tol:
                        checked = it  # this iterate was checked: nothing to undo
                        break
                    previous = error
                if omega != 1.0:
                    checkpoint = [F.copy() for F in (*Ws, H)]
                    checked = it
            n_iter = it
            if coupled:
                before = [F.copy() for F in (*Ws, H)] if omega != 1.0 else None
                _coupled_step(blocks, Ws, H, max(int(inner), 1), products)
                if before is not None:
                    for F, O in zip([*Ws, H], before):
                        _over_relax(F, O, omega)
                continue
            h_sums = H.sum(axis=1)
            Ht = np.ascontiguousarray(H.T)
            for b, W in zip(blocks, Ws):
                _apply(W, _times_ht(b, Ht, dt), np.broadcast_to(h_sums, W.shape),
                       l1_W, l2_W)
            # H from the ratios at the new W
            num = np.zeros((m, k), dtype=dt)
            w_sums = np.zeros(k, dtype=dt)
            for b, W in zip(blocks, Ws):
                b.update_ratio(W, H)
                num += _wt_times(b, W, dt)
                w_sums += W.sum(axis=0)
            w_sums[w_sums == 0] = 1.0
            _apply(H, num.T, np.broadcast_to(w_sums[:, None], H.shape), l1_H, l2_H)
            H[H < _EPS64] = 0.0
        if omega != 1.0 and checkpoint is not None and n_iter >= checked:
            # steps since the last check: keep them only if they descended
            ratios(True)
            if not error_from_ratios() <= previous:
                for F, C in zip([*Ws, H], checkpoint):
                    F[...] = C
    return Ws, H, n_iter
