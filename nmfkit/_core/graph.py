r"""Graph-regularised NMF with a sum-to-one row and an L1 term (SS-NMF core).

Minimises, over :math:`A \ge 0` (samples x k) and :math:`M \ge 0` (k x n),

.. math::

    F(A, M) = \tfrac12 \|X - AM\|_F^2 + \tfrac{\delta^2}{2} \|\mathbf 1 - A\mathbf 1\|^2
    + \tfrac{\lambda}{2} \operatorname{tr}(A^T L A) + \mu |A|_1
    + \tfrac{\tau}{2} \|M - \mathbf 1 c^T\|_F^2 ,

with :math:`L = D - S` the Laplacian of a sparse, symmetric, non-negative
affinity :math:`S` between the samples (pixels) and :math:`D` its degrees.
The :math:`\delta` term is the soft sum-to-one constraint: it is the data term
of ``X`` and ``M`` augmented with a column of ``delta`` (``X_aug = [X, delta 1]``,
``M_aug = [M, delta 1]``); ``delta = 0`` drops it. The last term, the
minimum-dispersion term of Huck et al. (2010), pulls the endmembers toward a
centre ``c`` (the mean pixel): without it the sum-to-one least-squares
endmembers drift outside the data cloud, beyond the cluster of pure pixels,
in the directions where the data are noisy; ``tau = 0`` drops it.

Alternating updates, each of which never increases :math:`F`:

* ``M``: the shared HALS sweep (:func:`nmfkit._core.hals.hals_sweep`) on
  ``A^T X + tau 1 c^T``, ``A^T A + tau I``: exact coordinate minimisation (the
  graph, L1 and sum-to-one terms do not involve ``M``);
* ``A``: the Laplacian couples the pixels, so the exact minimiser in ``A``
  has no closed form; :func:`graph_step` minimises instead the separable
  majoriser given by :math:`L \preceq 2D` (because :math:`2D - L = D + S` is
  diagonally dominant with a non-negative diagonal): one ``k x k``
  non-negative least-squares problem per pixel, with Gram matrix
  :math:`B + 2\lambda d_i I` and linear term
  :math:`c_i + \lambda (S A^0)_i + \lambda d_i a^0_i - \mu`, solved by the
  batched coordinate descent and exact support polish of
  :mod:`nmfkit._core.nnls`. One sparse product ``S @ A`` per step. (A plain
  HALS column sweep converges very slowly here: the sum-to-one row makes
  ``B`` badly conditioned.)

Also here: the sparse affinities (spatial window with a heat kernel of the
spectral distance, k nearest spectral neighbours), built in
``O(n_samples x neighbours)`` memory, never as a dense matrix.

References
----------
F. Zhu, Y. Wang, S. Xiang, B. Fan and C. Pan, "Structured sparse method for
hyperspectral unmixing", ISPRS J. Photogrammetry and Remote Sensing, 2014.

X. Lu, H. Wu, Y. Yuan, P. Yan and X. Li, "Manifold regularized sparse NMF
for hyperspectral unmixing", IEEE TGRS, 2013.

A. Huck, M. Guillaume and J. Blanc-Talon, "Minimum dispersion constrained
nonnegative matrix factorization to unmix hyperspectral data", IEEE TGRS, 2010.
"""

import numpy as np
import scipy.sparse as sp

from .hals import hals_sweep
from .nnls import _batched_cd, _polish

__all__ = [
    "spatial_affinity",
    "knn_affinity",
    "graph_step",
    "graph_objective",
    "fit_graph_nmf",
]


# --------------------------------------------------------------------------
# affinities
# --------------------------------------------------------------------------
def _heat_kernel(d2, sigma2):
    """``exp(-d2 / sigma2)``; ``sigma2`` = median of the positive ``d2`` if None."""
    if sigma2 is None:
        pos = d2[d2 > 0]
        sigma2 = float(np.median(pos)) if pos.size else 1.0
    sigma2 = max(float(sigma2), np.finfo(np.float64).tiny)
    return np.exp(-d2 / sigma2), sigma2


def spatial_affinity(X, image_shape, window=1, sigma2=None):
    r"""Heat-kernel affinity between each pixel and its spatial neighbours.

    Pixels ``p = r * cols + c`` (row-major) and ``q`` are neighbours when
    ``max(|r_p - r_q|, |c_p - c_q|) <= window`` (a ``(2 window + 1)^2`` square
    without its centre); their weight is ``exp(-|x_p - x_q|^2 / sigma2)``.

    Parameters
    ----------
    X : ndarray of shape (rows * cols, n_features)
    image_shape : tuple (rows, cols)
    window : int, default=1
    sigma2 : float or None
        Scale of the heat kernel; ``None``: the median squared spectral
        distance over the neighbour pairs.

    Returns
    -------
    S : scipy.sparse.csr_matrix of shape (n, n)
        Symmetric, non-negative, zero diagonal; ``(2 window + 1)^2 - 1``
        entries per interior pixel.
    sigma2 : float
        The kernel scale used.
    """
    rows, cols = image_shape
    n = rows * cols
    idx = np.arange(n).reshape(rows, cols)
    src, dst, d2s = [], [], []
    # each unordered pair once: offsets in the upper half of the window
    for dr in range(0, window + 1):
        for dc in range(-window, window + 1):
            if dr == 0 and dc <= 0:
                continue
            if dr >= rows or abs(dc) >= cols:
                continue  # no pixel pair that far apart in this image
            c0, c1 = max(0, -dc), cols - max(0, dc)
            p = idx[: rows - dr, c0:c1]
            q = idx[dr:, c0 + dc: c1 + dc]
            p = p.ravel()
            q = q.ravel()
            if p.size == 0:
                continue
            diff = X[p] - X[q]
            d2s.append(np.einsum("ij,ij->i", diff, diff, dtype=np.float64))
            src.append(p)
            dst.append(q)
    if not src:
        return sp.csr_matrix((n, n), dtype=np.float64), 1.0
    src = np.concatenate(src)
    dst = np.concatenate(dst)
    d2 = np.concatenate(d2s)
    w, sigma2 = _heat_kernel(d2, sigma2)
    S = sp.coo_matrix((np.concatenate((w, w)),
                       (np.concatenate((src, dst)), np.concatenate((dst, src)))),
                      shape=(n, n)).tocsr()
    return S, sigma2


def knn_affinity(X, n_neighbors=10, sigma2=None):
    """Heat-kernel affinity of the ``n_neighbors`` nearest spectral neighbours.

    Symmetrised by the maximum (``p`` and ``q`` are linked when either is
    among the other's neighbours). Memory ``O(n_samples x n_neighbors)``.

    Returns
    -------
    S : scipy.sparse.csr_matrix of shape (n, n)
    sigma2 : float
    """
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    n_neighbors = min(int(n_neighbors), n - 1)
    if n_neighbors < 1:
        return sp.csr_matrix((n, n), dtype=np.float64), 1.0
    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    dist, ind = nn.kneighbors(X, n_neighbors=n_neighbors + 1)
    rows = np.repeat(np.arange(n), n_neighbors + 1)
    d2 = dist.ravel().astype(np.float64) ** 2
    cols = ind.ravel()
    keep = rows != cols
    rows, cols, d2 = rows[keep], cols[keep], d2[keep]
    w, sigma2 = _heat_kernel(d2, sigma2)
    S = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    S = S.maximum(S.T).tocsr()
    return S, sigma2


# --------------------------------------------------------------------------
# the A step with the Laplacian term
# --------------------------------------------------------------------------
def graph_step(A, C, B, S, degree, lam, mu=0.0, *, max_sweeps=10):
    r"""Replace ``A`` by the minimiser of the separable majoriser, in place.

    Minimises, over :math:`A \ge 0` and row by row (pixel by pixel),

    .. math::

        \tfrac12 a_i^T (B + 2\lambda d_i I) a_i
        - (c_i + \lambda (S A^0)_i + \lambda d_i a^0_i - \mu)^T a_i ,

    the majoriser at the current ``A^0`` of
    :math:`\tfrac12 \operatorname{tr}(A B A^T) - \langle C, A\rangle
    + \tfrac{\lambda}{2} \operatorname{tr}(A^T L A) + \mu |A|_1`
    (from :math:`L \preceq 2D`, see the module notes), so the objective never
    increases. The per-pixel problems are ``k x k`` non-negative least
    squares, solved by the batched coordinate descent and exact support
    polish of :mod:`nmfkit._core.nnls`. ``S @ A`` is the one sparse product
    (``k`` sparse mat-vecs).

    Parameters
    ----------
    A : ndarray of shape (m, k)
        Abundances, updated in place.
    C : ndarray of shape (m, k)
        ``X_aug M_aug^T``.
    B : ndarray of shape (k, k)
        ``M_aug M_aug^T``.
    S : scipy.sparse matrix of shape (m, m) or None
        Symmetric non-negative affinity; ``None`` or ``lam = 0``: no graph
        (then the step is the exact non-negative least squares).
    degree : ndarray of shape (m,) or None
        Row sums of ``S``.
    lam, mu : float
        Weights of the Laplacian and L1 terms.
    max_sweeps : int
        Coordinate-descent sweeps before the exact polish.

    Returns
    -------
    A : ndarray of shape (m, k)
    """
    m, k = A.shape
    if m == 0 or k == 0:
        return A
    order = np.arange(k)
    rhs = np.array(C, dtype=A.dtype)
    if S is not None and lam > 0:
        rhs += lam * (S @ A)
        rhs += (lam * degree)[:, None] * A
        G = np.empty((m, k, k), dtype=A.dtype)
        G[...] = B
        idx = np.arange(k)
        G[:, idx, idx] += (2.0 * lam * degree)[:, None]
    else:
        G = np.broadcast_to(np.asarray(B, dtype=A.dtype), (m, k, k))
    _batched_cd(A, rhs, G, mu, 0.0, order, max_sweeps, eps2=1e-8)
    _polish(A, rhs, G, mu, 0.0)
    return A


def graph_objective(X, At, M, S, degree, lam, mu, delta, *, MXt=None, x_norm2=None):
    """The objective ``F`` of the module notes (float64).

    ``MXt`` (``M @ X.T``) and ``x_norm2`` (``|X|_F^2``) may be passed when
    known, sparing a pass over ``X``.
    """
    if x_norm2 is None:
        x_norm2 = float(np.einsum("ij,ij->", X, X, dtype=np.float64))
    if MXt is None:
        MXt = np.dot(M, X.T)
    lin = float(np.einsum("ij,ij->", At, MXt, dtype=np.float64))
    quad = float(np.einsum("ij,ij->", np.dot(At, At.T), np.dot(M, M.T),
                           dtype=np.float64))
    f = max(0.5 * (x_norm2 - 2.0 * lin + quad), 0.0)
    if delta:
        s = 1.0 - At.sum(axis=0, dtype=np.float64)
        f += 0.5 * delta**2 * float(np.dot(s, s))
    if S is not None and lam > 0:
        # tr(A^T L A) = sum_t a_t^T (D - S) a_t
        q = float(np.einsum("ij,ij,j->", At, At, degree, dtype=np.float64))
        q -= float(np.einsum("ij,ij->", At, (S @ At.T).T, dtype=np.float64))
        f += 0.5 * lam * q
    if mu:
        f += mu * float(At.sum(dtype=np.float64))
    return f


def fit_graph_nmf(X, A, M, *, S=None, lam=0.0, mu=0.0, delta=0.0, tol=1e-4,
                  tau=0.0, center=None, max_iter=500, inner=5, track=False,
                  verbose=0):
    """Alternate the ``M`` and ``A`` sweeps from ``(A, M)`` until ``F`` settles.

    Parameters
    ----------
    X : ndarray of shape (m, n)
        Dense non-negative data.
    A : ndarray of shape (m, k) or None
        Initial abundances (updated copy returned); ``None``: the exact
        abundances of the initial ``M`` without the graph.
    M : ndarray of shape (k, n)
        Initial endmembers (updated copy returned).
    S : sparse matrix of shape (m, m) or None
        Symmetric non-negative affinity.
    lam, mu, delta, tau : float
        Graph, L1, sum-to-one and dispersion weights (already scaled).
    center : ndarray of shape (n,) or None
        Centre of the dispersion term (needed when ``tau > 0``).
    tol : float
        Stop when an iteration lowers ``F`` by at most ``tol`` times its
        decrease over the first iteration.
    max_iter : int
        Maximum number of outer iterations (one ``M`` half-step and one ``A``
        half-step each).
    inner : int
        HALS sweeps of the ``M`` half-step (the products are paid once).
    track : bool
        Record ``F`` after every half-step.

    Returns
    -------
    A, M : ndarrays
    n_iter : int
    history : list of float
        ``F`` at the start and after every half-step if ``track``, else the
        values at the start and after every outer iteration.
    """
    dtype = X.dtype
    m, n = X.shape
    k = M.shape[0]
    M = np.array(M, dtype=dtype, order="C")
    d2 = float(delta) ** 2
    if S is not None and lam > 0:
        S = sp.csr_matrix(S, dtype=dtype)
        degree = np.asarray(S.sum(axis=1), dtype=dtype).ravel()
    else:
        S, degree = None, None
    if m == 0 or n == 0 or k == 0:
        A = np.zeros((m, k), dtype=dtype) if A is None else np.array(A, dtype=dtype)
        return A, M, 0, []
    if A is None:
        # the exact abundances (no graph) of the initial endmembers
        A = np.full((m, k), 1.0 / max(k, 1), dtype=dtype)
        graph_step(A, np.dot(X, M.T) + d2, np.dot(M, M.T) + d2, None, None, 0.0, mu)
    else:
        A = np.array(A, dtype=dtype, order="C")

    x_norm2 = float(np.einsum("ij,ij->", X, X, dtype=np.float64))

    def objective(MXt=None):
        f = graph_objective(X, A.T, M, S, degree, lam, mu, delta, MXt=MXt,
                            x_norm2=x_norm2)
        if tau:
            D = M - center
            f += 0.5 * tau * float(np.einsum("ij,ij->", D, D))
        return f

    history = [objective()]
    f_prev = history[0]
    first_drop = None
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # --- M: the shared HALS sweep (graph and sum-to-one terms are in A)
        AtA = np.dot(A.T, A)
        AtX = np.dot(A.T, X)
        if tau:
            AtA.flat[:: k + 1] += tau
            AtX += tau * center
        for _ in range(inner):
            hals_sweep(M, AtX, AtA)
        if track:
            history.append(objective())
        # --- A: per-pixel exact step on the majoriser of the graph term
        MXt = np.dot(M, X.T)
        B = np.dot(M, M.T)
        if d2:
            B += d2
        C = MXt.T + d2 if d2 else MXt.T
        graph_step(A, C, B, S, degree, lam, mu)
        f = objective(MXt)
        history.append(f)
        drop = f_prev - f
        if first_drop is None:
            first_drop = max(drop, 0.0)
        if verbose:
            print(f"SS-NMF iteration {n_iter}: objective {f:.8g}")
        f_prev = f
        if drop <= tol * first_drop:
            break
    return A, M, n_iter, history
