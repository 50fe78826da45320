"""Randomized range finder and QB compression (Halko, Martinsson & Tropp 2011).

Used by the HALS solver to run cheap iterations on a compressed copy of a
tall or wide dense matrix (randomized HALS, Erichson et al. 2018).
"""

import numpy as np
import scipy.linalg as sla
from sklearn.utils import check_random_state

__all__ = ["randomized_range", "compress"]


def _float_dtype(X):
    dtype = X.dtype
    if not np.issubdtype(dtype, np.floating):
        dtype = np.float64
    return dtype


def randomized_range(X, size, *, n_iter=2, random_state=None):
    r"""Orthonormal basis of an approximate dominant range of ``X``.

    Draws a Gaussian test matrix :math:`\Omega` of shape ``(n, size)``, forms
    :math:`Y = X\Omega` and applies ``n_iter`` power (subspace) iterations
    :math:`Y \leftarrow X X^T Y`, re-normalising with a pivoted LU factor
    between products (cheaper than QR, numerically sufficient) and with an
    economic QR at the end.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (m, n)
        Only products ``X @ M`` and ``X.T @ M`` are used: sparse ``X`` is never
        densified.
    size : int
        Number of basis vectors (target rank plus oversampling). Clipped to
        ``m``.
    n_iter : int, default=2
        Number of power iterations.
    random_state : None, int or RandomState
        Seed of the Gaussian test matrix.

    Returns
    -------
    Q : ndarray of shape (m, min(size, m))
        Orthonormal columns, dtype of ``X`` (float32 stays float32),
        C-contiguous.
    """
    rng = check_random_state(random_state)
    m, n = X.shape
    dtype = _float_dtype(X)
    size = int(max(1, min(size, m)))
    omega = rng.standard_normal((n, size)).astype(dtype, copy=False)
    Y = np.asarray(X @ omega)
    for _ in range(n_iter):
        Y = sla.lu(Y, permute_l=True, check_finite=False)[0]
        Z = np.asarray(X.T @ Y)
        Z = sla.lu(Z, permute_l=True, check_finite=False)[0]
        Y = np.asarray(X @ Z)
    Q = sla.qr(Y, mode="economic", check_finite=False)[0]
    return np.ascontiguousarray(Q, dtype=dtype)


def compress(X, size, *, n_iter=2, random_state=None):
    r"""Randomized QB decomposition :math:`X \approx Q B`.

    :math:`Q` comes from :func:`randomized_range`, :math:`B = Q^T X`. Because
    :math:`Q` is orthonormal, :math:`\|X - QB\|_F^2 = \|X\|_F^2 - \|B\|_F^2`.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (m, n)
    size : int
        Number of columns of ``Q`` (clipped to ``m``).
    n_iter : int, default=2
        Power iterations of the range finder.
    random_state : None, int or RandomState

    Returns
    -------
    Q : ndarray of shape (m, l)
        Orthonormal columns, ``l = min(size, m)``.
    B : ndarray of shape (l, n)
        ``Q.T @ X``, C-contiguous, same dtype as ``Q``.
    """
    Q = randomized_range(X, size, n_iter=n_iter, random_state=random_state)
    B = np.ascontiguousarray(np.asarray(X.T @ Q).T, dtype=Q.dtype)
    return Q, B
