"""Initial factors for NMF: scaled random and the NNDSVD family.

NNDSVD (Boutsidis & Gallopoulos, 2008) starts from the rank-``k`` truncated
SVD :math:`X \\approx \\sum_j s_j u_j v_j^T`. The first pair is
:math:`(\\sqrt{s_1} |u_1|, \\sqrt{s_1} |v_1|)`; for ``j > 1`` the singular
pair is split into its positive and negative parts
:math:`u_j = u_j^+ - u_j^-`, :math:`v_j = v_j^+ - v_j^-`, and the part with
the larger :math:`\\|u^\\pm\\| \\|v^\\pm\\|` is kept, normalised and scaled by
:math:`\\sqrt{s_j \\|u^\\pm\\| \\|v^\\pm\\|}`. Entries below ``eps`` are zeroed;
``"nndsvda"`` then fills the zeros with the mean of ``X``, ``"nndsvdar"``
with small random values (mean / 100 scale).

References
----------
Boutsidis, C. & Gallopoulos, E. (2008). SVD based initialization: a head
start for nonnegative matrix factorization. Pattern Recognition 41(4).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils.extmath import randomized_svd

from .profile import n_nonzero

_TINY = np.finfo(np.float64).tiny


def _observed_mean(X, observed):
    """Mean of the observed entries of ``X`` (0 when nothing is observed)."""
    if observed is None:
        n = X.shape[0] * X.shape[1]
        return float(X.sum(dtype=np.float64)) / n if n else 0.0
    if isinstance(observed, str):  # "stored"
        return float(X.data.mean(dtype=np.float64)) if X.nnz else 0.0
    n = int(observed.sum())
    return float(np.sum(X, where=observed, dtype=np.float64)) / n if n else 0.0


def _filled(X, observed, avg):
    """Dense ``X`` with unobserved entries replaced by their column's observed mean."""
    counts = observed.sum(axis=0)
    sums = np.sum(X, axis=0, where=observed, dtype=np.float64)
    col_mean = np.where(counts > 0, sums / np.maximum(counts, 1), avg)
    return np.where(observed, X, col_mean.astype(X.dtype))


def _svd(X, k, random_state):
    """Top-``k`` singular triplets of ``X`` (dense or sparse), ``k <= min(shape)``."""
    # The choice depends on the data, not on its container, so that dense and
    # sparse input of the same data start from the same factors.
    if min(X.shape) <= 3 * k + 10 and (not sp.issparse(X)
                                       or X.shape[0] * X.shape[1] <= 4_000_000):
        # small problem: an exact SVD is cheaper than the randomized one
        Xd = X.toarray() if sp.issparse(X) else X
        U, S, Vt = np.linalg.svd(Xd, full_matrices=False)
        return U[:, :k], S[:k], Vt[:k]
    if n_nonzero(X) < 2_000_000:
        return randomized_svd(X, k, random_state=random_state)
    # Large dense: two power iterations (scikit-learn's 'auto' takes 7) give an
    # SVD that is as good a starting point for NMF at a third of the passes
    # over X, which dominate the time of a fast fit on a large dense input.
    return randomized_svd(X, k, n_iter=2, random_state=random_state)


def initialize(X, n_components, init="nndsvda", *, random_state=None, eps=1e-6,
               observed=None, svd=None):
    """Initial non-negative factors ``W, H`` with ``X ~ W @ H``.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Non-negative data; sparse input is never densified.
    n_components : int
        Number of components ``k``.
    init : {"random", "nndsvd", "nndsvda", "nndsvdar"}, default="nndsvda"
        ``"random"``: ``|N(0, 1)|`` entries scaled by ``sqrt(mean(X) / k)``.
        ``"nndsvd"``: NNDSVD (sparse factors). ``"nndsvda"``: NNDSVD with zeros
        replaced by ``mean(X)``. ``"nndsvdar"``: NNDSVD with zeros replaced by
        ``|N(0, 1)| mean(X) / 100``.
    random_state : int, RandomState instance or None, default=None
        Seeds the random init, the randomized SVD and the random fills.
    eps : float, default=1e-6
        NNDSVD entries below ``eps`` are set to zero (before any fill).
    observed : None, bool ndarray or "stored", default=None
        Missing entries: means are taken over observed entries; for a boolean
        mask the SVD runs on ``X`` with each unobserved entry replaced by the
        observed mean of its column (the global observed mean for a column
        without observations); for ``"stored"`` the stored entries are used
        as they are.
    svd : tuple (U, S, Vt) or None, default=None
        A precomputed (approximate) top singular triplets of ``X`` with at
        least ``min(n_components, *X.shape)`` components, e.g. from the
        randomized compression the HALS solver will iterate on; saves the
        SVD passes over ``X``. Ignored with missing entries.

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
        C-contiguous, non-negative, finite, of ``X``'s floating dtype.

    Notes
    -----
    With an NNDSVD init and ``n_components > min(n_samples, n_features)``,
    the SVD gives only ``min(n_samples, n_features)`` components; the others
    are padded with small positive random values (``|N(0, 1)| mean / 100``;
    ``mean * U(0.5, 1.5)`` for ``"nndsvda"``) instead of failing.
    """
    n_samples, n_features = X.shape
    k = int(n_components)
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    avg = _observed_mean(X, observed)

    if init == "random":
        rng = check_random_state(random_state)
        scale = np.sqrt(avg / k)
        H = scale * rng.standard_normal(size=(k, n_features)).astype(dtype, copy=False)
        W = scale * rng.standard_normal(size=(n_samples, k)).astype(dtype, copy=False)
        np.abs(H, out=H)
        np.abs(W, out=W)
        return np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(H, dtype=dtype)
    if init not in ("nndsvd", "nndsvda", "nndsvdar"):
        raise ValueError(f"Invalid init parameter: got {init!r} instead of one of "
                         "'random', 'nndsvd', 'nndsvda', 'nndsvdar'.")

    Xs = X
    if isinstance(observed, np.ndarray):
        Xs = _filled(np.asarray(X), observed, avg)
    r = min(k, n_samples, n_features)
    if r > 0:
        if svd is not None and observed is None and svd[1].shape[0] >= r:
            U, S, Vt = svd[0][:, :r], svd[1][:r], svd[2][:r]
        else:
            U, S, Vt = _svd(Xs, r, random_state)
        del Xs
    # allocated after the SVD, whose work arrays set the peak memory
    W = np.zeros((n_samples, k), dtype=dtype)
    H = np.zeros((k, n_features), dtype=dtype)
    if r > 0:
        S = np.maximum(S, 0)
        # one singular pair at a time: O(n_samples + n_features) temporaries
        # (the whole-matrix version kept four more (m, r) / (r, n) arrays)
        W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
        H[0] = np.sqrt(S[0]) * np.abs(Vt[0])
        for j in range(1, r):
            x, y = U[:, j], Vt[j]
            xp, yp = np.maximum(x, 0), np.maximum(y, 0)
            xn, yn = np.maximum(-x, 0), np.maximum(-y, 0)
            xpn, ypn = np.linalg.norm(xp), np.linalg.norm(yp)
            xnn, ynn = np.linalg.norm(xn), np.linalg.norm(yn)
            if xpn * ypn > xnn * ynn:
                u, v, un, vn, sigma = xp, yp, xpn, ypn, xpn * ypn
            else:
                u, v, un, vn, sigma = xn, yn, xnn, ynn, xnn * ynn
            lbd = np.sqrt(S[j] * sigma)
            W[:, j] = u * (lbd / max(un, _TINY))
            H[j] = v * (lbd / max(vn, _TINY))
        W[W < eps] = 0
        H[H < eps] = 0

    rng = None
    if init == "nndsvda":
        W[W == 0] = avg
        H[H == 0] = avg
    elif init == "nndsvdar":
        rng = check_random_state(random_state)
        zw, zh = W == 0, H == 0
        W[zw] = np.abs(avg * rng.standard_normal(size=int(zw.sum())) / 100)
        H[zh] = np.abs(avg * rng.standard_normal(size=int(zh.sum())) / 100)
    if k > r:
        # more components than the SVD can give: small positive random columns
        rng = check_random_state(random_state) if rng is None else rng
        if init == "nndsvda":
            W[:, r:] = avg * rng.uniform(0.5, 1.5, size=(n_samples, k - r))
            H[r:] = avg * rng.uniform(0.5, 1.5, size=(k - r, n_features))
        else:
            W[:, r:] = np.abs(avg * rng.standard_normal(size=(n_samples, k - r)) / 100)
            H[r:] = np.abs(avg * rng.standard_normal(size=(k - r, n_features)) / 100)
    return W, H
