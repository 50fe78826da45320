"""Beta-divergences between ``X`` and ``W @ H``: dense, sparse and masked.

The beta-divergence of Févotte & Idier (2011), summed over the entries that
take part in the loss,

.. math::

    D_\\beta(X | Y) = \\sum_{ij} \\frac{x_{ij}^\\beta + (\\beta - 1) y_{ij}^\\beta
                      - \\beta x_{ij} y_{ij}^{\\beta - 1}}{\\beta (\\beta - 1)},

with the limits :math:`D_2 = \\tfrac12 \\|X - Y\\|_F^2`,
:math:`D_1 = \\sum x \\log(x / y) - x + y` (generalized Kullback-Leibler) and
:math:`D_0 = \\sum x / y - \\log(x / y) - 1` (Itakura-Saito).

The numbers agree with scikit-learn's private ``_beta_divergence`` (same
conventions for zeros: data entries ``x <= eps`` only contribute their
``y``-terms, ``y`` is floored at ``eps`` inside logs and divisions, with
``eps = np.finfo(np.float32).eps``).  ``W @ H`` is never formed in full: dense
inputs are processed in row blocks, sparse inputs only at their stored entries
plus closed forms (``sum(WH) = W.sum(0) @ H.sum(1)``,
``||WH||_F^2 = <W^T W, H H^T>``).
"""

import numpy as np
import scipy.sparse as sp

from .parallel import single_blas

EPSILON = np.finfo(np.float32).eps

_BETA_NAMES = {"frobenius": 2.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}

# entries per dense block (float64: 16 MiB)
_BLOCK = 2**21


def beta_loss_to_float(beta):
    """Numeric beta of a beta-loss given by name or number.

    Parameters
    ----------
    beta : float or {"frobenius", "kullback-leibler", "itakura-saito"}

    Returns
    -------
    beta : float
        2, 1, 0 for the names; numbers unchanged (as float).
    """
    if isinstance(beta, str):
        return _BETA_NAMES[beta]
    return float(beta)


def _row_chunk(n_cols, block=_BLOCK):
    return max(1, block // max(int(n_cols), 1))


#: Cost model of :func:`wh_at` (one core of the benchmark machine, float64):
#: gathering ``W[i, c] * H[c, j]`` one component at a time costs about 4 ns
#: per entry and component; a dense row block of ``W @ H`` about 1/15 ns per
#: entry of the block and component, plus about 3 ns per wanted entry to take
#: it out. Measured: 465k entries of a 5000 x 1000 matrix (9.3 %), k = 20:
#: 32 ms by row gathers and einsum (before), 40 ms one component at a time,
#: 9 ms from dense row blocks; 150k entries of 10000 x 3000 (0.5 %), k = 20:
#: 24 ms, 17 ms, 40 ms.
_GATHER_NS = 4.0
_GEMM_NS = 1.0 / 15.0
_TAKE_NS = 3.0
# entries of a dense row block of W @ H: fits in a core's L2 cache
_WH_BLOCK = 2**16


def wh_at(W, H, rows, cols, *, chunk=2**15):
    """Entries ``(W @ H)[rows, cols]`` without forming ``W @ H``.

    Two ways, chosen by a cost model (:data:`_GATHER_NS`): one component at a
    time, each a product of two 1-d gathers (``W.T[c, rows]`` and
    ``H[c, cols]``), in chunks that stay in cache; or, when the entries are
    in row order (as the stored entries of a CSR matrix) and dense enough,
    ``W @ H`` by BLAS in row blocks that stay in cache, out of which the
    entries are taken.

    Parameters
    ----------
    W : ndarray of shape (n_samples, k)
    H : ndarray of shape (k, n_features)
    rows, cols : integer ndarrays of the same length
        Coordinates of the wanted entries.
    chunk : int, default=2**15
        Entries computed per vectorised block (bounds the memory of the
        temporaries).

    Returns
    -------
    values : ndarray of shape (len(rows),), dtype of ``W``
        ``sum_c W[rows, c] * H[c, cols]``.
    """
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    dtype = np.result_type(W.dtype, H.dtype)
    size = rows.shape[0]
    out = np.empty(size, dtype=dtype)
    if size == 0:
        return out
    n, k = W.shape
    m = H.shape[1]
    if k == 0:
        out.fill(0)
        return out
    # np.take converts other integer types on every call
    rows = rows.astype(np.intp, copy=False)
    cols = cols.astype(np.intp, copy=False)
    in_row_order = bool(np.all(rows[1:] >= rows[:-1]))
    if in_row_order:
        if n * m * k * _GEMM_NS + size * _TAKE_NS < size * k * _GATHER_NS:
            return _wh_from_row_blocks(W, H, rows, cols, out)
        if k <= 32:
            return _wh_from_row_runs(W, H, rows, cols, out)
    Wt = np.ascontiguousarray(W.T, dtype=dtype)
    Hc = np.ascontiguousarray(H, dtype=dtype)
    chunk = max(1, int(chunk))
    a_buf = np.empty(min(chunk, size), dtype=dtype)
    b_buf = np.empty_like(a_buf)
    for start in range(0, size, chunk):
        stop = min(size, start + chunk)
        r, c, o = rows[start:stop], cols[start:stop], out[start:stop]
        a, b = a_buf[:stop - start], b_buf[:stop - start]
        np.take(Wt[0], r, out=o)
        np.take(Hc[0], c, out=a)
        o *= a
        for q in range(1, k):
            np.take(Wt[q], r, out=a)
            np.take(Hc[q], c, out=b)
            a *= b
            o += a
    return out


def _wh_from_row_runs(W, H, rows, cols, out, *, chunk_rows=256):
    """:func:`wh_at` for entries in row order, a few hundred rows at a time.

    The rows of ``W`` are repeated along their runs of entries (a sequential
    copy), the columns of ``H`` gathered as rows of ``H.T`` (``k``
    contiguous values each), and the products summed by a BLAS
    matrix-vector product: 1.3-2x faster than one component at a time for
    ``k`` up to 20 (at 50 no faster).
    """
    n, k = W.shape
    dtype = out.dtype
    W = np.asarray(W, dtype=dtype)
    Ht = np.ascontiguousarray(H.T, dtype=dtype)
    ones = np.ones(k, dtype=dtype)
    starts = np.arange(0, n + chunk_rows, chunk_rows).clip(max=n)
    bounds = np.searchsorted(rows, starts)
    counts = np.bincount(rows, minlength=n)
    with single_blas():
        for r0, a, z in zip(starts[:-1], bounds[:-1], bounds[1:]):
            if a == z:
                continue
            r1 = min(r0 + chunk_rows, n)
            A = np.repeat(W[r0:r1], counts[r0:r1], axis=0)
            A *= np.take(Ht, cols[a:z], axis=0)
            np.dot(A, ones, out=out[a:z])
    return out


def _wh_from_row_blocks(W, H, rows, cols, out):
    """:func:`wh_at` for entries in row order, from dense row blocks of ``W @ H``."""
    n, m = W.shape[0], H.shape[1]
    W = np.asarray(W, dtype=out.dtype)
    H = np.asarray(H, dtype=out.dtype)
    step = max(1, _WH_BLOCK // max(m, 1))
    starts = np.arange(0, n + step, step).clip(max=n)
    bounds = np.searchsorted(rows, starts)
    P = np.empty((step, m), dtype=out.dtype)
    flat = P.ravel()
    # small products: BLAS threads would only synchronise
    with single_blas():
        for b0, a, z in zip(starts[:-1], bounds[:-1], bounds[1:]):
            if a == z:
                continue
            b1 = min(b0 + step, n)
            np.dot(W[b0:b1], H, out=P[:b1 - b0])
            idx = rows[a:z] - b0
            idx *= m
            idx += cols[a:z]
            np.take(flat, idx, out=out[a:z])
    return out


def _sparse_coords(X):
    """Row and column index of each stored entry of sparse ``X`` (CSR order)."""
    X = X.tocsr()
    rows = np.repeat(np.arange(X.shape[0], dtype=X.indices.dtype), np.diff(X.indptr))
    return X, rows, X.indices


class _Acc:
    """Running sums of the beta-divergence terms (float64 accumulation)."""

    def __init__(self, beta):
        self.beta = beta
        self.sx = 0.0   # terms that need x > eps
        self.sy = 0.0   # y-only terms over observed entries
        self.n = 0      # number of observed entries (for IS)

    def add_x(self, x, y):
        """Add the x-terms of observed entries with values ``x`` and model ``y``."""
        beta = self.beta
        keep = x > EPSILON
        if not keep.all():
            x = x[keep]
            y = y[keep]
        y = np.maximum(y, EPSILON)
        if beta == 1:
            self.sx += float(np.dot(x, np.log(x / y))) - float(x.sum(dtype=np.float64))
        elif beta == 0:
            div = x / y
            self.sx += float(div.sum(dtype=np.float64)) - float(np.log(div).sum(dtype=np.float64))
        else:
            self.sx += (float((x ** beta).sum(dtype=np.float64))
                        - beta * float(np.dot(x, y ** (beta - 1))))

    def add_y(self, y, count=None):
        """Add the y-only terms of observed model values ``y``."""
        beta = self.beta
        if beta == 1:
            self.sy += float(y.sum(dtype=np.float64))
        elif beta == 0:
            self.n += y.size if count is None else count
        else:
            self.sy += float((y ** beta).sum(dtype=np.float64))

    def result(self):
        beta = self.beta
        if beta == 1:
            return self.sx + self.sy
        if beta == 0:
            return self.sx - self.n
        return (self.sx + (beta - 1) * self.sy) / (beta * (beta - 1))


def _frobenius(X, W, H, observed):
    if observed is None:
        if sp.issparse(X):
            data = X.data
            norm_X = float(np.dot(data, data))
            cross = float(np.sum((X @ H.T) * W))
            norm_WH = float(np.sum((W.T @ W) * (H @ H.T)))
            return (norm_X - 2.0 * cross + norm_WH) / 2.0
        res = 0.0
        step = _row_chunk(X.shape[1])
        for start in range(0, X.shape[0], step):
            stop = min(X.shape[0], start + step)
            R = W[start:stop] @ H
            np.subtract(X[start:stop], R, out=R)
            res += float(np.einsum("ij,ij->", R, R))
        return res / 2.0
    if isinstance(observed, str):  # "stored"
        X, rows, cols = _sparse_coords(X)
        r = X.data - wh_at(W, H, rows, cols)
        return float(np.dot(r, r)) / 2.0
    res = 0.0
    step = _row_chunk(X.shape[1])
    for start in range(0, X.shape[0], step):
        stop = min(X.shape[0], start + step)
        R = W[start:stop] @ H
        np.subtract(X[start:stop], R, out=R)
        R *= observed[start:stop]
        res += float(np.einsum("ij,ij->", R, R))
    return res / 2.0


def beta_divergence(X, W, H, beta, *, observed=None, square_root=False):
    """Beta-divergence between ``X`` and ``W @ H`` on the observed entries.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Non-negative data. Sparse input is never densified.
    W : ndarray of shape (n_samples, k)
    H : ndarray of shape (k, n_features)
    beta : float or {"frobenius", "kullback-leibler", "itakura-saito"}
        Parameter of the divergence (2: half squared Frobenius, 1:
        generalized Kullback-Leibler, 0: Itakura-Saito).
    observed : None, bool ndarray or "stored", default=None
        Entries taking part (see :mod:`nmfkit._core`).
    square_root : bool, default=False
        Return ``sqrt(2 * loss)`` (the Frobenius norm for ``beta=2``).

    Returns
    -------
    loss : float

    Notes
    -----
    For ``observed=None`` the value equals scikit-learn's
    ``_beta_divergence``. With a mask, the same formula restricted to the
    observed entries (for Itakura-Saito the ``-1`` per entry is counted over
    observed entries, as scikit-learn counts it over all entries).
    """
    beta = beta_loss_to_float(beta)
    W = np.atleast_2d(W)
    H = np.atleast_2d(H)
    if not sp.issparse(X):
        X = np.atleast_2d(np.asarray(X))
    if beta == 2:
        res = _frobenius(X, W, H, observed)
    else:
        acc = _Acc(beta)
        if sp.issparse(X):
            X, rows, cols = _sparse_coords(X)
            wh = wh_at(W, H, rows, cols)
            acc.add_x(X.data, wh)
            if isinstance(observed, str):  # "stored"
                acc.add_y(wh)
            elif beta == 1:
                acc.sy += float(W.sum(axis=0) @ H.sum(axis=1))
            elif beta == 0:
                acc.n += X.shape[0] * X.shape[1]
            else:
                step = _row_chunk(X.shape[1])
                for start in range(0, X.shape[0], step):
                    acc.add_y(W[start:start + step] @ H)
        else:
            step = _row_chunk(X.shape[1])
            for start in range(0, X.shape[0], step):
                stop = min(X.shape[0], start + step)
                Y = W[start:stop] @ H
                Xb = X[start:stop]
                if observed is None:
                    acc.add_x(Xb.ravel(), Y.ravel())
                    acc.add_y(Y)
                else:
                    M = observed[start:stop]
                    acc.add_x(Xb[M], Y[M])
                    acc.add_y(Y[M])
        res = acc.result()
    if square_root:
        return float(np.sqrt(2.0 * max(res, 0.0)))
    return float(res)


def penalized_objective(X, W, H, beta, l1_W, l2_W, l1_H, l2_H, *, observed=None):
    """Beta-divergence plus the elementwise penalties on ``W`` and ``H``.

    .. math::

        D_\\beta(X | WH) + l1_W \\|W\\|_1 + \\tfrac12 l2_W \\|W\\|_F^2
        + l1_H \\|H\\|_1 + \\tfrac12 l2_H \\|H\\|_F^2

    Parameters
    ----------
    X, W, H, beta, observed
        As in :func:`beta_divergence`.
    l1_W, l2_W, l1_H, l2_H : float
        Penalty weights, already scaled (see :mod:`nmfkit._core`).

    Returns
    -------
    objective : float
    """
    res = beta_divergence(X, W, H, beta, observed=observed)
    if l1_W:
        res += l1_W * float(W.sum(dtype=np.float64))
    if l2_W:
        res += 0.5 * l2_W * float(np.einsum("ij,ij->", W, W, dtype=np.float64))
    if l1_H:
        res += l1_H * float(H.sum(dtype=np.float64))
    if l2_H:
        res += 0.5 * l2_H * float(np.einsum("ij,ij->", H, H, dtype=np.float64))
    return float(res)
