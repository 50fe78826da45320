r"""Deep (multi-layer) NMF with an optional graph regulariser.

With samples as rows, the model of an ``n x d`` non-negative ``X`` is

.. math::

    X \approx H\, Z_L Z_{L-1} \cdots Z_1, \qquad
    H \ge 0\ (n \times k_L),\quad Z_l \ge 0\ (k_l \times k_{l-1}),\ k_0 = d,

the transpose of Trigeorgis et al.'s :math:`X^T \approx Z_1^T \cdots Z_L^T
H^T`: layer ``l`` represents the samples by :math:`H Z_L \cdots Z_{l+1}`
(``n x k_l``), coarser as ``l`` grows. The objective is

.. math::

    F = \tfrac12 \|X - H Z_L \cdots Z_1\|_F^2
      + \tfrac{\lambda}{2} \operatorname{tr}(H^T L H),

with :math:`L = D - S` the Laplacian of an optional symmetric non-negative
affinity ``S`` between the samples (e.g. a graph's adjacency, as in DANMF of
Ye, Chen & Zheng 2018).

Pre-training (Hinton & Salakhutdinov's greedy scheme, as in Trigeorgis et
al.): factor :math:`X \approx H_1 Z_1` by the HALS NMF of
:mod:`nmfkit._core.hals`, then :math:`H_1 \approx H_2 Z_2`, and so on.
Fine-tuning: block coordinate descent over :math:`Z_1, \dots, Z_L, H`, each
block step non-increasing in :math:`F`:

* :math:`Z_1`: the HALS sweeps on :math:`P^T X`, :math:`P^T P` with
  :math:`P = H Z_L \cdots Z_2` (exact coordinate minimisation);
* :math:`Z_l, l > 1`: :math:`X \approx P Z_l Q` with both sides fixed; the
  multiplicative update
  :math:`Z_l \leftarrow Z_l \odot (P^T X Q^T) / (P^T P Z_l Q Q^T)`, which is
  the minimiser of Lee & Seung's auxiliary function (all of :math:`P, Q,
  X` non-negative);
* :math:`H`: the HALS sweeps on :math:`X C^T`, :math:`CC^T`,
  :math:`C = Z_L \cdots Z_1`; with the graph term, the separable majoriser
  step :func:`nmfkit._core.graph.graph_step` (:math:`L \preceq 2D`).

One product with ``X`` per block (``O(nnz k_l)``; a sparse ``X`` is never
densified), the rest are products of the small factors.

References
----------
G. Trigeorgis, K. Bousmalis, S. Zafeiriou and B. Schuller, "A deep
semi-NMF model for learning hidden representations", ICML, 2014; and "A deep
matrix factorization method for learning attribute representations", IEEE
TPAMI, 2017.

F. Ye, C. Chen and Z. Zheng, "Deep autoencoder-like nonnegative matrix
factorization for community detection", CIKM, 2018.

D. D. Lee and H. S. Seung, "Algorithms for non-negative matrix
factorization", NIPS, 2001.
"""

import contextlib

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .graph import graph_step
from .hals import _Buffers, _half, _half_sweeps, fit_hals
from .init import initialize
from .parallel import single_blas

def _single_thread_loop(X):
    """Whether the whole loop runs on one BLAS thread.

    The sweeps are small BLAS calls whose threads only synchronise (on a
    loaded machine OpenBLAS's spinning threads made a 1000-node fit 20x
    slower); the big products keep BLAS threads only where they need them:
    a large dense ``X``. Sparse products run on nmfkit's own row-block
    threads either way.
    """
    return sp.issparse(X) or X.size < _DENSE_THREADED


_DENSE_THREADED = 4_000_000

__all__ = ["chain", "deep_objective", "pretrain_deep", "fit_deep"]

_EPS = 1e-16
_INNER = 5  # HALS sweeps per block and fine-tuning iteration (at most)


def chain(mats, size):
    """Product ``mats[0] @ mats[1] @ ...``; the identity of ``size`` if empty."""
    if not mats:
        return None
    out = mats[0]
    for M in mats[1:]:
        out = out @ M
    return out


def _xt_times(X, P):
    """``P^T X`` (k x d) for a dense or sparse ``X``."""
    if sp.issparse(X):
        return np.asarray((X.T @ P).T)
    return P.T @ X


def _x_times_t(X, C):
    """``X C^T`` (n x k)."""
    return np.asarray(X @ C.T)


def _graph_term(H, S, degree):
    q = float(np.einsum("ij,ij,i->", H, H, degree, dtype=np.float64))
    q -= float(np.einsum("ij,ij->", H, np.asarray(S @ H), dtype=np.float64))
    return q


def deep_objective(X, H, Zs, *, S=None, degree=None, lam=0.0, x_norm2=None):
    """:math:`F` of the module notes (float64), without forming ``H C``."""
    if x_norm2 is None:
        data = X.data if sp.issparse(X) else X.ravel()
        x_norm2 = float(np.dot(data, data))
    C = chain(Zs[::-1], X.shape[1])
    XCt = _x_times_t(X, C)
    lin = float(np.einsum("ij,ij->", XCt, H, dtype=np.float64))
    quad = float(np.einsum("ij,ij->", H.T @ H, C @ C.T, dtype=np.float64))
    f = max(0.5 * (x_norm2 - 2.0 * lin + quad), 0.0)
    if S is not None and lam > 0:
        f += 0.5 * lam * _graph_term(H, S, degree)
    return f


def pretrain_deep(X, sizes, *, init="nndsvda", tol=1e-4, max_iter=200,
                  random_state=None):
    """Greedy layer-wise NMF: ``X ~ H_1 Z_1``, ``H_1 ~ H_2 Z_2``, ...

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n, d)
    sizes : sequence of int
        ``k_1, ..., k_L``.
    init : str
        Initialisation of each layer's NMF (see :func:`nmfkit._core.init.initialize`).
    tol, max_iter : float, int
        Stopping rule of each layer's HALS NMF.
    random_state : None, int or RandomState

    Returns
    -------
    H : ndarray of shape (n, k_L)
    Zs : list of ndarray
        ``[Z_1 (k_1 x d), ..., Z_L (k_L x k_{L-1})]``.
    """
    rng = check_random_state(random_state)
    Zs = []
    Y = X
    H = None
    for k in sizes:
        W0, H0 = initialize(Y, k, init, random_state=rng)
        W0 = np.ascontiguousarray(W0, dtype=X.dtype)
        H0 = np.ascontiguousarray(H0, dtype=X.dtype)
        H, Z, _ = fit_hals(Y, W0, H0, tol=tol, max_iter=max_iter, random_state=rng)
        Zs.append(np.ascontiguousarray(Z))
        Y = H
    return np.ascontiguousarray(H), Zs


def fit_deep(X, H, Zs, *, S=None, lam=0.0, tol=1e-4, max_iter=200, track=False,
             random_state=None, verbose=0):
    """Fine-tune all layers jointly (block coordinate descent, see module notes).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n, d)
        Non-negative data.
    H : ndarray of shape (n, k_L)
        Start, updated in place.
    Zs : list of ndarray
        Start ``[Z_1, ..., Z_L]``, updated in place.
    S : sparse matrix of shape (n, n) or None
        Symmetric non-negative affinity of the samples (graph term).
    lam : float
        Weight of the graph term.
    tol : float
        Stop when an iteration lowers :math:`F` by at most ``tol`` times
        :math:`F` after the first iteration.
    max_iter : int
    track : bool
        Record :math:`F` after every iteration.
    random_state : None, int or RandomState
        Order of the HALS component updates.
    verbose : int

    Returns
    -------
    H, Zs, n_iter, history
    """
    n, d = X.shape
    L = len(Zs)
    dtype = H.dtype
    rng = check_random_state(random_state)
    data = X.data if sp.issparse(X) else X.ravel()
    x_norm2 = float(np.dot(data, data))
    graph = S is not None and lam > 0
    degree = np.asarray(S.sum(axis=1)).ravel().astype(dtype) if graph else None
    if graph:
        S = sp.csr_matrix(S, dtype=dtype)
    buf_Z = _Buffers(Zs[0].shape[0], d, dtype)
    buf_H = _Buffers(H.shape[1], n, dtype)
    history = []
    f_prev = f_first = np.inf
    n_iter = 0
    one = _single_thread_loop(X)
    sweeps = _half_sweeps if one else _half
    with single_blas() if one else contextlib.nullcontext():
        for n_iter in range(1, max_iter + 1):
            # Z_1: X ~ P Z_1 with P = H Z_L ... Z_2
            P = H if L == 1 else H @ chain(Zs[:0:-1], None)
            A = _xt_times(X, P)
            B = P.T @ P
            sweeps(Zs[0], np.ascontiguousarray(A, dtype=dtype),
                  np.ascontiguousarray(B, dtype=dtype), buf_Z, rng, _INNER, False)
            # Z_l, l >= 2: X ~ P Z_l Q with P = H Z_L ... Z_{l+1}, Q = Z_{l-1} ... Z_1
            for l in range(1, L):
                Q = chain(Zs[l - 1::-1], None)
                P = H if l == L - 1 else H @ chain(Zs[:l:-1], None)
                num = _xt_times(X, P) @ Q.T
                den = (P.T @ P) @ Zs[l] @ (Q @ Q.T)
                np.maximum(den, _EPS, out=den)
                Zs[l] *= (num / den).astype(dtype, copy=False)
            # H: X ~ H C with C = Z_L ... Z_1
            C = chain(Zs[::-1], None)
            XCt = _x_times_t(X, C).astype(dtype, copy=False)
            B = (C @ C.T).astype(dtype, copy=False)
            if graph:
                graph_step(H, XCt, B, S, degree, lam)
            else:
                Ht = np.ascontiguousarray(H.T)
                sweeps(Ht, np.ascontiguousarray(XCt.T), B.copy(), buf_H, rng, _INNER,
                       False)
                H[...] = Ht.T
            lin = float(np.einsum("ij,ij->", XCt, H, dtype=np.float64))
            quad = float(np.einsum("ij,ij->", H.T @ H, C @ C.T, dtype=np.float64))
            f = max(0.5 * (x_norm2 - 2.0 * lin + quad), 0.0)
            if graph:
                f += 0.5 * lam * _graph_term(H, S, degree)
            if track:
                history.append(f)
            if verbose:
                print(f"DeepNMF iteration {n_iter}: objective {f:.6g}")
            if n_iter == 1:
                f_first = f
            elif f_prev - f <= tol * f_first:
                break
            f_prev = f
    return H, Zs, n_iter, history
