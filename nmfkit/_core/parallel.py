"""Sparse products split over row blocks and a thread pool.

scipy's sparse-dense products run on one core, but its compiled kernels
release the GIL (``_sparsetools`` calls ``PyEval_SaveThread``), so the rows of
a CSR matrix can be multiplied in blocks on several threads at once. Each
output row is computed exactly as in the single product, so the result is
bitwise the same. The number of threads is the number BLAS may use at the
time (threadpoolctl), so a caller that limits BLAS to one thread per worker
process (``NMFk``) also gets single-threaded sparse products.
"""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

__all__ = ["RowBlocks", "product_threads", "row_block_view", "sharing_matrix",
           "single_blas", "thread_pool"]

# Below this many stored entries a product takes well under a millisecond
# and the hand-off to the pool costs more than it saves.
MIN_NNZ = 100_000

_POOL = {}
_LOCK = threading.Lock()


_CONTROLLER = []


def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries, made once per process.

    Scanning the loaded libraries (``threadpool_info()``) takes about 5 ms;
    a fit asked it at every half-step, which on small problems was most of
    the fit (0.7 s of a 0.8 s SeNMF fit of 20 x 3). The controller's
    ``num_threads`` is read live from each library, so limits set later
    (``threadpool_limits``, NMFk's workers) are still seen.
    """
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def product_threads():
    """Threads the products may use now: BLAS's current limit, at most the cores."""
    try:
        blas = _blas_controller().select(user_api="blas")
        counts = [lib.num_threads for lib in blas.lib_controllers]
    except Exception:  # pragma: no cover - threadpoolctl unusable
        counts = []
    cores = os.cpu_count() or 1
    return max(1, min(max(counts, default=1), cores))


def single_blas():
    """Context running BLAS on one thread, for sequences of small BLAS calls.

    A HALS sweep is ``k`` matrix-vector products of a ``k``-vector with the
    ``(k, m)`` factor; threading them only costs synchronisation. Measured on
    the 2-core machine of docs/benchmarks.md under load (CSR 10000 x 3000,
    k = 20, 30 iterations): 2.0 s with OpenBLAS's two threads in the sweeps,
    0.30 s with one. The big products outside keep their threads.
    """
    try:
        return _blas_controller().limit(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl unusable
        return contextlib.nullcontext()


def sharing_matrix(cls, data, indices, indptr, shape):
    """A CSR/CSC matrix over exactly these arrays, copying none of them.

    scipy's constructor copies a view that is much less than half of its
    base array (``_prune_array``); the arrays are set after construction.
    """
    M = cls((data[:0], indices[:0], np.zeros_like(indptr)), shape=shape)
    M.data, M.indices, M.indptr = data, indices, indptr
    return M


def row_block_view(A, lo, hi):
    """Rows ``lo:hi`` of the CSR matrix ``A`` sharing its data and indices."""
    a, z = A.indptr[lo], A.indptr[hi]
    return sharing_matrix(sp.csr_matrix, A.data[a:z], A.indices[a:z],
                          A.indptr[lo:hi + 1] - a, (hi - lo, A.shape[1]))


def thread_pool(n):
    """The process's pool of ``n`` threads for sparse products (made once)."""
    with _LOCK:
        if n not in _POOL:
            _POOL[n] = ThreadPoolExecutor(max_workers=n,
                                          thread_name_prefix="nmfkit-sparse")
        return _POOL[n]


class RowBlocks:
    """A CSR matrix cut into row blocks of equal stored entries, for ``A @ B``.

    Parameters
    ----------
    A : scipy.sparse CSR matrix of shape (m, n)
    threads : int, default=None
        Number of blocks (and threads); ``None`` asks :func:`product_threads`.
        With one thread, or fewer than ``MIN_NNZ`` stored entries, the product
        is scipy's single call.
    """

    def __init__(self, A, threads=None):
        self.A = A
        if threads is None:
            threads = product_threads() if A.nnz >= MIN_NNZ else 1
        self.threads = threads if A.nnz >= MIN_NNZ else 1
        self.cuts = None
        self.blocks = None
        if self.threads > 1:
            m = A.shape[0]
            cuts = np.searchsorted(A.indptr, np.linspace(0, A.nnz, self.threads + 1))
            cuts = np.unique(np.clip(cuts, 0, m))
            cuts[0], cuts[-1] = 0, m
            self.cuts = cuts
            # views of A's arrays, not copies (A[lo:hi] would copy them)
            self.blocks = [row_block_view(A, cuts[i], cuts[i + 1])
                           for i in range(len(cuts) - 1)]

    def matmul(self, B, out=None):
        """``A @ B`` for a dense ``B`` of shape (n, k), into ``out`` if given."""
        if self.blocks is None or len(self.blocks) < 2:
            res = np.asarray(self.A @ B)
            if out is None:
                return res
            np.copyto(out, res)
            return out
        B = np.ascontiguousarray(B)  # once, not once per block
        if out is None:
            out = np.empty((self.A.shape[0], B.shape[1]),
                           dtype=np.result_type(self.A.dtype, B.dtype))
        cuts = self.cuts

        def one(i):
            out[cuts[i]:cuts[i + 1]] = self.blocks[i] @ B

        list(thread_pool(len(self.blocks)).map(one, range(len(self.blocks))))
        return out


def as_row_blocks(A, threads=None):
    """:class:`RowBlocks` of a sparse ``A`` (converted to CSR), else ``None``."""
    if not sp.issparse(A):
        return None
    return RowBlocks(A.tocsr(), threads)
