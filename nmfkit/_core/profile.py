"""What a solver may look at to choose its path: the data, not its container.

The same data given as a dense array or as a CSR/CSC matrix must take the
same path through the solvers (same inner-sweep budget, same compression,
same initialisation), so that both give the same factors to rounding. The
choices are therefore made from the shape and the number of non-zero
entries, which do not depend on the container.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["n_nonzero", "effectively_dense", "is_dense_count"]

# Above this fraction of non-zero entries a dense product of the data with a
# k-row matrix (about m n k / 15 ns here) is cheaper than a sparse one
# (about nnz k / 1.5 ns): the data is "effectively dense" for the cost models.
DENSE_FRACTION = 0.1


def n_nonzero(X):
    """Number of non-zero entries of ``X`` (stored zeros of a sparse ``X`` excluded)."""
    if sp.issparse(X):
        data = X.data
        return int(data.size - np.count_nonzero(data == 0))
    return int(np.count_nonzero(X))


def is_dense_count(m, n, nnz):
    """Whether ``nnz`` non-zeros make an ``m x n`` matrix effectively dense."""
    return m * n == 0 or nnz >= DENSE_FRACTION * m * n


def effectively_dense(X, nnz=None):
    """Whether at least :data:`DENSE_FRACTION` of the entries of ``X`` are non-zero."""
    m, n = X.shape
    if m * n == 0:
        return True
    if nnz is None:
        nnz = n_nonzero(X)
    return is_dense_count(m, n, nnz)
