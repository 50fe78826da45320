"""Aligning the factors of repeated NMF runs and measuring their stability.

NMF solutions are defined only up to a permutation (and scaling) of the ``k``
components, so before the runs of a rank-``k`` ensemble can be compared, the
components of every run must be put in a common order. We treat this as a
clustering of the ``n_runs * k`` component vectors into ``k`` clusters in which
every run contributes exactly one vector to each cluster:

1. start from the (unit-normalised) components of the first run as centroids;
2. match the components of every run to the centroids by the assignment that
   maximises the total cosine similarity (the Hungarian algorithm,
   :func:`scipy.optimize.linear_sum_assignment`);
3. recompute each centroid as the mean of the unit vectors assigned to it;
4. repeat 2-3 until no assignment changes.

The stability of the ensemble is then the silhouette (Rousseeuw 1987) of these
clusters under the cosine distance ``1 - cos(u, v)``: for a vector ``i`` of
cluster ``c``, ``a_i`` is its mean distance to the other members of ``c``,
``b_i`` the smallest mean distance to the members of another cluster, and
``s_i = (b_i - a_i) / max(a_i, b_i)``. A cluster's silhouette is the mean of
``s_i`` over its members; values near 1 mean every run found that component.

All functions are pure and vectorised over the runs and the vectors; the only
Python loop is one Hungarian solve per run.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "align_runs",
    "cluster_silhouettes",
    "cosine_similarity_matrix",
    "match_components",
    "normalize_rows",
]


def normalize_rows(A):
    """Return ``A`` with every row (last axis) scaled to unit Euclidean norm.

    Rows of zeros stay zero (their cosine similarity to anything is then 0).

    Parameters
    ----------
    A : ndarray of shape (..., d)

    Returns
    -------
    ndarray of the same shape, float64.
    """
    A = np.asarray(A, dtype=np.float64)
    norms = np.sqrt(np.einsum("...i,...i->...", A, A))
    norms = np.where(norms > 0, norms, 1.0)
    return A / norms[..., None]


def cosine_similarity_matrix(A, B=None):
    """Cosine similarities between the rows of ``A`` and the rows of ``B``.

    Parameters
    ----------
    A : ndarray of shape (n, d)
    B : ndarray of shape (m, d), default=None
        ``None`` means ``A``.

    Returns
    -------
    S : ndarray of shape (n, m)
        ``S[i, j] = <a_i, b_j> / (|a_i| |b_j|)``, in ``[-1, 1]``; 0 where either
        row is zero.
    """
    An = normalize_rows(A)
    Bn = An if B is None else normalize_rows(B)
    return np.clip(An @ Bn.T, -1.0, 1.0)


def match_components(reference, components):
    """Optimal one-to-one matching of ``components`` to ``reference``.

    Solves ``max_perm sum_i cos(reference[i], components[perm[i]])`` with the
    Hungarian algorithm.

    Parameters
    ----------
    reference : ndarray of shape (k, d)
    components : ndarray of shape (k, d)

    Returns
    -------
    perm : ndarray of int of shape (k,)
        ``components[perm]`` is aligned with ``reference``: its row ``i`` is the
        component matched to ``reference[i]``.
    """
    S = cosine_similarity_matrix(reference, components)
    rows, cols = linear_sum_assignment(S, maximize=True)
    perm = np.empty(S.shape[0], dtype=np.intp)
    perm[rows] = cols
    return perm


def align_runs(components_list, max_iter=100):
    """Put the components of several runs in a common order.

    Parameters
    ----------
    components_list : sequence of ndarray of shape (k, d), or ndarray of shape (n_runs, k, d)
        The components (rows) of each run.
    max_iter : int, default=100
        Bound on the assignment / centroid iterations (they stop as soon as no
        assignment changes, usually after 2-4).

    Returns
    -------
    permutations : ndarray of int of shape (n_runs, k)
        ``components_list[r][permutations[r]]`` is run ``r`` in the common order.
    centroids : ndarray of shape (k, d)
        Mean of the aligned unit-normalised components (float64).
    """
    U = normalize_rows(np.asarray(components_list))
    n_runs, k, _ = U.shape
    centroids = U[0].copy()
    perms = np.tile(np.arange(k), (n_runs, 1))
    for it in range(max_iter):
        # (n_runs, k_centroids, k_components) similarities, one solve per run
        S = np.einsum("cd,rjd->rcj", centroids, U)
        new = np.empty_like(perms)
        for r in range(n_runs):
            rows, cols = linear_sum_assignment(S[r], maximize=True)
            new[r, rows] = cols
        changed = it == 0 or np.any(new != perms)
        perms = new
        aligned = np.take_along_axis(U, perms[:, :, None], axis=1)
        centroids = aligned.mean(axis=0)
        if not changed:
            break
    return perms, centroids


def cluster_silhouettes(aligned):
    """Per-cluster silhouettes (cosine distance) of aligned runs.

    Parameters
    ----------
    aligned : ndarray of shape (n_runs, k, d)
        Vector ``aligned[r, c]`` belongs to cluster ``c``.

    Returns
    -------
    silhouettes : ndarray of shape (k,)
        Mean silhouette of the members of each cluster, in ``[-1, 1]``.

    Notes
    -----
    With ``k = 1`` there is no other cluster and the silhouette is undefined;
    we return instead the mean cosine similarity between the members
    (``1 - a_i`` averaged), which is 1 for identical runs and falls as they
    disagree, so a rank-1 candidate is judged on the same scale. With a single
    run the silhouettes are 1 (nothing disagrees). Zero vectors have cosine
    similarity 0 with everything.
    """
    A = np.asarray(aligned, dtype=np.float64)
    n_runs, k, d = A.shape
    if n_runs < 2:
        return np.ones(k)
    U = normalize_rows(A).reshape(n_runs * k, d)
    # the cosine distance of every pair of the n_runs * k vectors
    D = 1.0 - np.clip(U @ U.T, -1.0, 1.0)
    np.fill_diagonal(D, 0.0)
    labels = np.tile(np.arange(k), n_runs)
    # mean distance of each vector to each cluster: (n_runs*k, k)
    sums = D.reshape(n_runs * k, n_runs, k).sum(axis=1)
    own = sums[np.arange(n_runs * k), labels]
    a = own / (n_runs - 1)  # D[i, i] = 0 is in the sum; exclude i itself
    if k == 1:
        return np.array([np.mean(1.0 - a)])
    means = sums / n_runs
    means[np.arange(n_runs * k), labels] = np.inf
    b = means.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where(denom > 0, (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return s.reshape(n_runs, k).mean(axis=0)
