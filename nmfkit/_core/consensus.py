"""Rank-selection criteria computed from the runs of an NMFk scan.

All functions are pure and work on arrays; :class:`nmfkit.NMFk` calls them
once per candidate rank ``k`` on the ``n_runs`` factorizations of perturbed
copies of ``X``.

* **Consensus** (Brunet et al. 2004). Every run assigns each sample (row of
  ``X``) to the component with the largest coefficient, ``argmax_c W[i, c]``.
  The connectivity matrix of a run has ``1`` where two samples share a
  component; the *consensus matrix* ``C`` is its mean over the runs
  (``C[i, j]`` = fraction of runs that put ``i`` and ``j`` together).
* **Cophenetic correlation** (Brunet et al. 2004): the Pearson correlation
  between the distances ``1 - C[i, j]`` and the cophenetic distances of the
  average-linkage tree built on them. A perfectly stable clustering
  (``C`` all zeros and ones) gives 1; it falls as the runs disagree.
* **Dispersion** (Kim & Park 2007):
  :math:`\\rho = \\frac{1}{n^2}\\sum_{ij} 4 (C_{ij} - \\tfrac12)^2`, 1 for a
  consensus of zeros and ones, 0 when every pair is together half the time.
* **Member silhouettes**: the silhouette (cosine distance) of every one of
  the ``n_runs * k`` aligned component vectors, of which
  :func:`nmfkit._core.align.cluster_silhouettes` gives the per-cluster means;
  a low quantile of them is a softer summary than the minimum cluster mean.
"""

import numpy as np
from scipy.cluster.hierarchy import cophenet, linkage
from scipy.spatial.distance import squareform

from .align import normalize_rows

__all__ = [
    "assign_samples",
    "consensus_matrix",
    "cophenetic_correlation",
    "dispersion",
    "member_silhouettes",
]


def assign_samples(W):
    """Component of largest coefficient of each sample (row of ``W``).

    Parameters
    ----------
    W : ndarray of shape (n_samples, k)

    Returns
    -------
    labels : ndarray of int of shape (n_samples,)
        ``-1`` for a sample whose coefficients are all zero (it belongs to no
        component and is never "together" with another sample).
    """
    W = np.asarray(W)
    labels = np.argmax(W, axis=1).astype(np.intp)
    if W.shape[1]:
        labels[~(W.max(axis=1) > 0)] = -1
    return labels


def consensus_matrix(labels):
    """Mean connectivity of several runs' sample assignments.

    Parameters
    ----------
    labels : ndarray of int of shape (n_runs, n_samples)
        Cluster of every sample in every run (``-1``: no cluster).

    Returns
    -------
    C : ndarray of shape (n_samples, n_samples)
        ``C[i, j]`` is the fraction of runs in which samples ``i`` and ``j``
        have the same (non-negative) label; the diagonal is 1 for samples
        that always have a label.
    """
    L = np.asarray(labels)
    if L.ndim != 2:
        raise ValueError(f"labels must be 2-d (n_runs, n_samples); got {L.shape}.")
    n_runs, n = L.shape
    C = np.zeros((n, n))
    for row in L:  # one vectorised comparison per run
        C += (row[:, None] == row[None, :]) & (row[:, None] >= 0)
    return C / max(n_runs, 1)


def cophenetic_correlation(C):
    """Cophenetic correlation of a consensus matrix (Brunet et al. 2004).

    Parameters
    ----------
    C : ndarray of shape (n, n)
        Consensus matrix (symmetric, in ``[0, 1]``).

    Returns
    -------
    rho : float
        Pearson correlation between ``1 - C`` (off the diagonal) and the
        cophenetic distances of its average-linkage tree. ``1.0`` when the
        distances are all equal (nothing to correlate: every run agrees on
        one cluster) or there are fewer than 3 samples.
    """
    C = np.asarray(C, dtype=np.float64)
    n = C.shape[0]
    if n < 3:
        return 1.0
    D = 1.0 - (C + C.T) / 2.0
    np.fill_diagonal(D, 0.0)
    d = squareform(np.clip(D, 0.0, 1.0), checks=False)
    if np.ptp(d) == 0:
        return 1.0
    Z = linkage(d, method="average")
    coph = cophenet(Z)
    if np.ptp(coph) == 0:  # pragma: no cover - d varies, so the tree does
        return 1.0
    return float(np.corrcoef(d, coph)[0, 1])


def dispersion(C):
    """Dispersion of a consensus matrix (Kim & Park 2007): mean of 4 (C - 1/2)^2.

    Parameters
    ----------
    C : ndarray of shape (n, n)

    Returns
    -------
    float in ``[0, 1]``.
    """
    C = np.asarray(C, dtype=np.float64)
    if C.size == 0:
        return 1.0
    return float(np.mean(4.0 * (C - 0.5) ** 2))


def member_silhouettes(aligned):
    """Silhouette (cosine distance) of every vector of aligned runs.

    The same definition as :func:`nmfkit._core.align.cluster_silhouettes`,
    before the mean over each cluster's members.

    Parameters
    ----------
    aligned : ndarray of shape (n_runs, k, d)
        Vector ``aligned[r, c]`` belongs to cluster ``c``.

    Returns
    -------
    s : ndarray of shape (n_runs, k)
        With ``k = 1`` the mean cosine similarity of each vector to the
        others; with one run, ones.
    """
    A = np.asarray(aligned, dtype=np.float64)
    n_runs, k, d = A.shape
    if n_runs < 2:
        return np.ones((n_runs, k))
    U = normalize_rows(A).reshape(n_runs * k, d)
    D = 1.0 - np.clip(U @ U.T, -1.0, 1.0)
    np.fill_diagonal(D, 0.0)
    labels = np.tile(np.arange(k), n_runs)
    sums = D.reshape(n_runs * k, n_runs, k).sum(axis=1)
    idx = np.arange(n_runs * k)
    a = sums[idx, labels] / (n_runs - 1)
    if k == 1:
        return (1.0 - a).reshape(n_runs, k)
    means = sums / n_runs
    means[idx, labels] = np.inf
    b = means.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where(denom > 0, (b - a) / np.where(denom > 0, denom, 1.0), 0.0)
    return s.reshape(n_runs, k)
