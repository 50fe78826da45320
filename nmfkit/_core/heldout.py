"""Held-out-entry scoring (bi-cross-validation) for choosing the rank.

Training reconstruction error always improves with the rank, so it cannot be
what a model selection search maximises. Instead we hide a fixed random subset
of the entries of ``X``, fit the coefficients ``W`` of the rows on the visible
entries with the components ``H`` fixed, and measure how well ``W H`` predicts
the hidden entries. Too small a rank under-fits the hidden entries; too large
a rank over-fits the visible ones and predicts the hidden ones worse, so the
held-out error is smallest near the true rank (Owen & Perry 2009, "Bi-cross-
validation of the SVD and the nonnegative matrix factorization").

For a fully observed ``X``, dense or sparse, the hidden set is
stratified (a dense ``X`` is scored as its CSR form, so both give the same
score): a ``fraction`` of the stored entries plus a uniform sample of the
zero entries (at most ten times as many as the hidden stored entries), the
zeros weighted so that the score estimates the mean error over a ``fraction``
of all entries. ``X`` is never densified.
"""

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp

from .losses import wh_at
from .mu import fit_mu
from .nnls import nnls

__all__ = ["heldout_score", "elementwise_beta"]

_EPS = np.finfo(np.float32).eps


def elementwise_beta(x, y, beta):
    """Beta-divergence ``d_beta(x | y)`` of matching entries (no 1/2 factor).

    ``beta=2`` is the squared error, ``beta=1`` the generalised Kullback-Leibler
    divergence, ``beta=0`` Itakura-Saito.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.maximum(np.asarray(y, dtype=np.float64), _EPS)
    if beta == 2:
        return (x - y) ** 2
    if beta == 1:
        xs = np.maximum(x, _EPS)
        return np.where(x > 0, x * np.log(xs / y), 0.0) - x + y
    if beta == 0:
        xs = np.maximum(x, _EPS)
        return xs / y - np.log(xs / y) - 1.0
    return (
        x**beta + (beta - 1.0) * y**beta - beta * x * y ** (beta - 1.0)
    ) / (beta * (beta - 1.0))


def _split_dense(X, observed, fraction, rng):
    hide = rng.random_sample(X.shape) < fraction
    if observed is not None:
        hide &= observed
        visible = observed & ~hide
    else:
        visible = ~hide
    rows, cols = np.nonzero(hide)
    X_vis = np.where(visible, X, 0).astype(X.dtype, copy=False)
    return X_vis, visible, rows, cols, X[rows, cols], np.ones(rows.size)


def _split_stored(X, fraction, rng):
    X = sp.csr_matrix(X)
    X.sort_indices()
    hide = rng.random_sample(X.nnz) < fraction
    rows_all = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    rows, cols, vals = rows_all[hide], X.indices[hide], X.data[hide]
    keep = ~hide
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows_all[keep], minlength=X.shape[0]))))
    X_vis = sp.csr_matrix(
        (X.data[keep], X.indices[keep], indptr), shape=X.shape, dtype=X.dtype
    )
    return X_vis, rows, cols, vals, np.ones(rows.size)


# The full-X splits of the last few matrices. NMFk scores two fits at every
# rank, and GridSearchCV every candidate on each test fold, all with the
# same seed: the split (a quarter of a score on the arXiv TF-IDF matrix) is
# made once per matrix. Keyed by a digest of X's content, so an X changed in
# place gets a new split; the cached arrays are read-only. The cache holds at
# most _SPLITS_BUDGET bytes (least recently used out first): a split larger
# than that is not kept.
_SPLITS = OrderedDict()
_SPLITS_BUDGET = 64 << 20
_SPLITS_LOCK = threading.Lock()


def _digest(X):
    h = hashlib.blake2b(digest_size=20)
    h.update(repr((X.format if sp.issparse(X) else "dense", X.shape,
                   X.dtype.str)).encode())
    parts = (X.indptr, X.indices, X.data) if sp.issparse(X) else (X,)
    for a in parts:
        h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
    return h.digest()


def _cached_full_split(X, fraction, seed):
    """``_split_sparse_full`` of ``X`` (dense: its CSR form) with ``RandomState(seed)``.

    Returns the split and the CSR indicator of its hidden entries.
    """
    size = X.data.nbytes if sp.issparse(X) else X.nbytes
    cache = (X.format in ("csr", "csc") if sp.issparse(X) else True) and (
        size <= _SPLITS_BUDGET)
    key = (_digest(X), float(fraction), int(seed)) if cache else None
    with _SPLITS_LOCK:
        if key is not None and key in _SPLITS:
            _SPLITS.move_to_end(key)
            return _SPLITS[key][0]
    Xs = X if sp.issparse(X) else sp.csr_matrix(X)
    X_vis, rows, cols, vals, weights = _split_sparse_full(
        Xs, fraction, np.random.RandomState(seed))
    hidden = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=X.shape)
    out = (X_vis, rows, cols, vals, weights, hidden)
    arrays = (X_vis.data, X_vis.indices, X_vis.indptr, rows, cols, vals, weights,
              hidden.data, hidden.indices, hidden.indptr)
    nbytes = sum(a.nbytes for a in arrays)
    if key is not None and nbytes <= _SPLITS_BUDGET:
        for a in arrays:
            a.flags.writeable = False
        with _SPLITS_LOCK:
            _SPLITS[key] = (out, nbytes)
            while sum(v[1] for v in _SPLITS.values()) > _SPLITS_BUDGET:
                _SPLITS.popitem(last=False)
    return out


def _split_sparse_full(X, fraction, rng):
    """Stratified hidden set for a sparse X whose implicit zeros are observed."""
    X = sp.csr_matrix(X, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()  # stored zeros are zeros: the same split as without them
    X.sort_indices()
    m, n = X.shape
    hide = rng.random_sample(X.nnz) < fraction
    rows_all = np.repeat(np.arange(m), np.diff(X.indptr))
    s_rows, s_cols, s_vals = rows_all[hide], X.indices[hide], X.data[hide]
    keep = ~hide
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows_all[keep], minlength=m))))
    X_vis = sp.csr_matrix(
        (X.data[keep], X.indices[keep], indptr), shape=X.shape, dtype=X.dtype
    )
    n_zeros = m * n - X.nnz
    target = int(round(fraction * n_zeros))
    n_draw = min(target, max(10 * s_rows.size, 1000))
    if n_draw > 0:
        flat = rng.randint(0, m * n, size=int(n_draw * 1.2) + 10).astype(np.int64)
        flat = np.unique(flat)
        stored_flat = rows_all.astype(np.int64) * n + X.indices
        flat = flat[~np.isin(flat, stored_flat)]
        flat = rng.permutation(flat)[:n_draw]
        z_rows, z_cols = np.divmod(flat, n)
        z_w = np.full(flat.size, target / max(flat.size, 1))
    else:
        z_rows = z_cols = np.zeros(0, dtype=np.int64)
        z_w = np.zeros(0)
    rows = np.concatenate((s_rows, z_rows))
    cols = np.concatenate((s_cols, z_cols))
    vals = np.concatenate((s_vals, np.zeros(z_rows.size, dtype=X.dtype)))
    weights = np.concatenate((np.ones(s_rows.size), z_w))
    return X_vis, rows, cols, vals, weights


def _gram_nnls(G, b, l1, l2, tol, max_iter):
    """Coordinate descent for ``min_w>=0 0.5 w^T G_i w - b_i^T w`` for every row.

    ``G`` is ``(m, k, k)``, ``b`` ``(m, k)``; vectorised over rows.
    """
    m, k = b.shape
    W = np.zeros((m, k), dtype=b.dtype)
    diag = np.einsum("ijj->ij", G) + l2
    diag = np.where(diag > 0, diag, 1.0)
    b = b - l1
    for _ in range(max_iter):
        delta = 0.0
        for j in range(k):
            grad = np.einsum("ik,ik->i", G[:, j, :], W) + l2 * W[:, j] - b[:, j]
            new = np.maximum(W[:, j] - grad / diag[:, j], 0.0)
            delta = max(delta, float(np.max(np.abs(new - W[:, j]), initial=0.0)))
            W[:, j] = new
        scale = float(np.max(W, initial=0.0))
        if delta <= tol * max(scale, 1e-12):
            break
    return W


def _fit_rows_sparse_full(X_vis, H, rows, cols, beta, l1, l2, tol, max_iter,
                          hidden=None):
    """Fit ``W`` on every entry of a sparse X except the hidden (rows, cols).

    ``hidden``: the CSR indicator of the hidden entries, when the caller has it.
    """
    m, n = X_vis.shape
    k = H.shape[0]
    if hidden is None:
        hidden = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(m, n))
    if beta == 2:
        # G_i = H diag(visible_i) H^T = H H^T - sum over row i's hidden
        # entries j of h_j h_j^T; the sum is, for each a, the sparse product
        # (hidden indicator) @ (H^T * H[a]): no per-entry outer products, so
        # memory stays O(rows_chunk k^2 + n k) however many entries are hidden
        HHt = H @ H.T
        B = np.asarray(X_vis @ H.T)
        Ht = np.ascontiguousarray(H.T)
        W = np.zeros((m, k), dtype=H.dtype)
        chunk = max(1, 2**21 // max(k * k, 1))
        for start in range(0, m, chunk):
            stop = min(m, start + chunk)
            G = np.broadcast_to(HHt, (stop - start, k, k)).copy()
            Mc = hidden[start:stop]
            if Mc.nnz:
                for a in range(k):
                    G[:, a, :] -= np.asarray(Mc @ (Ht * Ht[:, a:a + 1]))
            W[start:stop] = _gram_nnls(G, B[start:stop], l1, l2, tol, max_iter)
        return W
    # other losses: dense row blocks (bounded memory) with a dense mask
    W = np.empty((m, k), dtype=H.dtype)
    chunk = max(1, 2**22 // max(n, 1))
    for start in range(0, m, chunk):
        stop = min(m, start + chunk)
        Xc = X_vis[start:stop].toarray()
        obs = hidden[start:stop].toarray() == 0
        Wc = np.full((stop - start, k), np.sqrt(max(Xc.mean(), _EPS) / k), dtype=H.dtype)
        Wc, _, _ = fit_mu(
            Xc, Wc, H, beta=beta, tol=tol, max_iter=max_iter, l1_W=l1, l2_W=l2,
            update_H=False, observed=obs,
        )
        W[start:stop] = Wc
    return W


def heldout_score(X, H, *, beta=2.0, observed=None, fraction=0.2, random_state=0,
                  l1=0.0, l2=0.0, tol=1e-4, max_iter=200):
    """Negative mean beta-divergence on hidden entries, ``W`` fit on the rest.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Data (non-negative, finite; unobserved entries per ``observed``).
    H : ndarray of shape (k, n_features)
        Fixed components.
    beta : float
        Beta-divergence used for both the fit of ``W`` and the score.
    observed : None, ndarray of bool or "stored"
        Which entries are observed (core convention). Only observed entries
        can be hidden.
    fraction : float in (0, 1)
        Fraction of the (observed) entries that is hidden.
    random_state : int or RandomState
        Which entries are hidden. A fixed value hides the same entries for
        every model, which makes scores of different ranks comparable.
    l1, l2 : float
        Penalties on ``W`` (scaled as in the core).
    tol, max_iter : float, int
        Stopping rule of the ``W`` fit.

    Returns
    -------
    score : float
        ``-sum_h w_h d_beta(x_h | (WH)_h) / sum_h w_h`` over hidden entries ``h``.
        Higher is better. ``0.0`` when nothing could be hidden.
    """
    rng = random_state if isinstance(random_state, np.random.RandomState) else (
        np.random.RandomState(random_state)
    )
    k = H.shape[0]
    if observed is None:
        # a dense X is scored as its CSR form: the same hidden entries (its
        # non-zeros and a sample of its zeros) and the same fit of W, so a
        # dense and a sparse X give the same score (and NMFk's held-out
        # rule the same rank)
        if isinstance(random_state, (int, np.integer)):
            X_vis, rows, cols, vals, weights, hidden = _cached_full_split(
                X, fraction, random_state)
        else:
            Xs = X if sp.issparse(X) else sp.csr_matrix(X)
            X_vis, rows, cols, vals, weights = _split_sparse_full(Xs, fraction, rng)
            hidden = None
        if rows.size == 0:
            return 0.0
        W = _fit_rows_sparse_full(X_vis, H, rows, cols, beta, l1, l2, tol, max_iter,
                                  hidden=hidden)
        pred = wh_at(W, H, rows, cols)
        err = elementwise_beta(vals, pred, beta)
        return -float(np.sum(weights * err) / np.sum(weights))
    if sp.issparse(X):
        if isinstance(observed, str):
            X_vis, rows, cols, vals, weights = _split_stored(X, fraction, rng)
            obs_vis = "stored"
        else:
            X_vis, rows, cols, vals, weights = _split_sparse_full(X, fraction, rng)
            if rows.size == 0:
                return 0.0
            W = _fit_rows_sparse_full(X_vis, H, rows, cols, beta, l1, l2, tol, max_iter)
            pred = wh_at(W, H, rows, cols)
            err = elementwise_beta(vals, pred, beta)
            return -float(np.sum(weights * err) / np.sum(weights))
    else:
        X_vis, obs_vis, rows, cols, vals, weights = _split_dense(X, observed, fraction, rng)
    if rows.size == 0:
        return 0.0
    if beta == 2:
        W = nnls(X_vis, H, observed=obs_vis, l1=l1, l2=l2)
    else:
        n_obs = X_vis.nnz if sp.issparse(X_vis) else max(int(np.sum(obs_vis)), 1)
        total = X_vis.sum()
        avg = np.sqrt(max(total / n_obs, _EPS) / k)
        W = np.full((X_vis.shape[0], k), avg, dtype=H.dtype)
        W, _, _ = fit_mu(
            X_vis, W, H, beta=beta, tol=tol, max_iter=max_iter, l1_W=l1, l2_W=l2,
            update_H=False, observed=obs_vis,
        )
    pred = wh_at(W, H, rows, cols)
    err = elementwise_beta(vals, pred, beta)
    return -float(np.sum(weights * err) / np.sum(weights))
