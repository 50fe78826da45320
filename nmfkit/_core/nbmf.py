r"""Nonnegative/binary matrix factorization on the observed entries.

Fits :math:`X \approx W H` with :math:`W \ge 0` and :math:`H \in \{0, 1\}`,
minimising

.. math::

    f(W, H) = \tfrac12 \sum_{(i, j)\ \mathrm{observed}} (x_{ij} - w_i h_j)^2
    + \tfrac12\, l_2 \|W\|_F^2

by alternating two exact or heuristic block minimisations:

* **W step** -- every row by non-negative least squares with the ridge
  :math:`l_2` on its observed entries (:func:`nmfkit._core.nnls.nnls`, exact);
* **H step** -- every column :math:`h_j` is a QUBO over ``k`` bits built from
  the users who observed item ``j`` (:func:`nmfkit._core.qubo.qubo_from_gram`
  of their Gram terms, computed by the per-row Gram helper of the NNLS module
  on the transposed problem), minimised by one of the solvers of
  :mod:`nmfkit._core.qubo`. A column is only replaced by a state of strictly
  lower energy, so the H step never raises :math:`f`.

The per-item Gram matrices are built chunk by chunk of items, so memory stays
``O(nnz + (n_samples + n_features) k + chunk k^2)``.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .hals import fit_hals
from .init import initialize
from .losses import beta_divergence
from .nnls import _RowProblems, nnls
from .qubo import qubo_from_gram, solve_anneal, solve_exact, solve_sampler

__all__ = ["fit_nbmf", "binary_start", "nbmf_objective", "make_qubo_solver",
           "item_qubos", "observed_counts", "fill_unobserved_items"]


def make_qubo_solver(solver, *, num_reads=4, n_sweeps=50, random_state=None):
    """A function ``(Q, init) -> (S, E)`` for ``'anneal'``, ``'exact'`` or a sampler."""
    if isinstance(solver, str) and solver == "exact":
        return lambda Q, init: solve_exact(Q, init=init)
    if isinstance(solver, str) and solver == "anneal":
        rng = check_random_state(random_state)
        return lambda Q, init: solve_anneal(Q, init=init, num_reads=num_reads,
                                            n_sweeps=n_sweeps, random_state=rng)
    return lambda Q, init: solve_sampler(Q, solver, init=init, num_reads=num_reads)


def nbmf_objective(X, W, H, observed, l2):
    """``0.5 * sum_observed (x - WH)^2 + 0.5 * l2 * ||W||^2``."""
    loss = beta_divergence(X, W, H, 2, observed=observed)
    return loss + 0.5 * l2 * float(np.einsum("ij,ij->", W, W, dtype=np.float64))


def _transposed(X, observed):
    """Items x users data and observation pattern, for the per-item Gram terms."""
    if isinstance(observed, str):
        return X.T.tocsr(), "stored"
    if sp.issparse(X):
        return X.T.tocsr(), None
    return X.T, (None if observed is None else observed.T)


def observed_counts(X, observed, axis):
    """Number of observed entries per row (``axis=1``) or column (``axis=0``)."""
    if isinstance(observed, str):
        X = sp.csr_matrix(X) if axis == 1 else sp.csc_matrix(X)
        return np.diff(X.indptr)
    if observed is None:
        return np.full(X.shape[1 - axis], X.shape[axis])
    return observed.sum(axis=axis)


def item_qubos(XT, W, obsT):
    """Yield ``(start, stop, Q)``: the QUBOs of chunks of items (columns of ``X``).

    ``XT`` and ``obsT`` are the transposed data and pattern (items x users).
    """
    problems = _RowProblems(XT, np.ascontiguousarray(W.T), obsT)
    for start, stop in problems.chunks():
        b, G = problems.get(start, stop)
        yield start, stop, qubo_from_gram(G, b)


def binary_start(X, observed, k, *, init="nmf", l2=0.0, random_state=None,
                 max_iter=30):
    """A binary ``H`` (k, n) to start the alternation from.

    ``init="random"``: independent fair bits. ``init="nmf"``: the rounding of
    a relaxation -- a (masked) NMF ``X ~ W H`` with ``H >= 0`` instead of
    binary, fitted by HALS from a random start for ``max_iter`` iterations,
    then each row of ``H`` is divided by its largest entry and rounded at 0.5
    (a row that is all zero gets random bits). On planted binary factors the
    rounded relaxation starts in the right basin far more often than random
    bits, from which the alternation tends to stop after two or three
    iterations in a poor local minimum.
    """
    rng = check_random_state(random_state)
    n = X.shape[1]
    bits = (rng.random_sample((k, n)) < 0.5).astype(X.dtype)
    if init == "random":
        return bits
    W0, H0 = initialize(X, k, "random", random_state=rng, observed=observed)
    W0, H0, _ = fit_hals(X, W0, H0, observed=observed, max_iter=max_iter, l2_W=l2,
                         random_state=rng)
    top = H0.max(axis=1, keepdims=True)
    return np.where(top > 0, H0 > 0.5 * top, bits).astype(X.dtype)


_SOLVE_BUDGET = 1 << 22  # entries of the (items, k, k) QUBO batch handed to a solver


def _h_step(XT, W, H, obsT, solve):
    """New ``H``: each column the solver's answer, never worse than the old one.

    The QUBOs of consecutive chunks of items are gathered into one batch of
    at most ``_SOLVE_BUDGET`` entries before the solver is called, so that a
    vectorised solver works on as many items at once as memory allows.
    """
    H_new = H.copy()
    k = H.shape[0]
    batch, cols = [], []
    size = 0

    def flush():
        if not batch:
            return
        Q = np.concatenate(batch)
        j = np.concatenate(cols)
        S, _ = solve(Q, H[:, j].T.astype(np.float64))
        H_new[:, j] = S.T
        batch.clear()
        cols.clear()

    for start, stop, Q in item_qubos(XT, W, obsT):
        live = np.flatnonzero(np.abs(Q).reshape(Q.shape[0], -1).max(axis=1) > 0)
        if live.size == 0:
            continue
        if size + live.size * k * k > _SOLVE_BUDGET:
            flush()
            size = 0
        batch.append(Q[live])
        cols.append(start + live)
        size += live.size * k * k
    flush()
    return H_new


def fit_nbmf(X, W, H, *, observed=None, l2=0.0, solve=None, max_iter=100, tol=1e-4,
             verbose=0):
    """Alternate the W (NNLS) and H (QUBO) steps from the binary start ``H``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (m, n)
        Data; unobserved entries per ``observed`` (finite, e.g. 0, in a dense
        ``X``).
    W : ndarray of shape (m, k) or None
        Warm start of the first W step (``None``: zeros).
    H : ndarray of shape (k, n)
        Binary (0/1) start.
    observed : None, bool ndarray or "stored"
        Observed entries (see :mod:`nmfkit._core`).
    l2 : float
        Ridge on ``W``.
    solve : callable ``(Q, init) -> (S, E)``
        QUBO solver (see :func:`make_qubo_solver`); default exact enumeration.
    max_iter : int
        Maximum number of H steps.
    tol : float
        Stop when an iteration lowers the objective by at most ``tol`` times
        its current value, or when the H step changes nothing.
    verbose : int
        Print the objective of every iteration.

    Returns
    -------
    W, H : ndarrays
        The best pair (the last one: no step that raises the objective is
        ever accepted).
    n_iter : int
        H steps run.
    history : list of float
        Objective after the first W step and after each accepted iteration;
        non-increasing.
    """
    if solve is None:
        solve = make_qubo_solver("exact")
    if isinstance(observed, str) and X.format != "csr":
        X = X.tocsr()
    XT, obsT = _transposed(X, observed)
    W = nnls(X, H, W=W, observed=observed, l2=l2)
    obj = nbmf_objective(X, W, H, observed, l2)
    history = [obj]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        H_new = _h_step(XT, W, H, obsT, solve)
        if np.array_equal(H_new, H):
            break  # a fixed point: the W step would give back the same W
        W_new = nnls(X, H_new, W=W.copy(), observed=observed, l2=l2)
        obj_new = nbmf_objective(X, W_new, H_new, observed, l2)
        if verbose:
            print(f"NBMF iteration {n_iter}: objective {obj_new:.6g}")
        if not obj_new <= obj:
            break  # only rounding can get here; keep the better pair
        W, H = W_new, H_new
        history.append(obj_new)
        if obj - obj_new <= tol * obj:
            break
        obj = obj_new
    return W, H, n_iter, history


def fill_unobserved_items(X, W, H, observed, value, solve):
    """Binary columns for the items that no user observed.

    Such an item does not enter the loss, so any column fits it; it gets the
    column that best predicts ``value`` (the mean observed rating) for every
    user with at least one observed entry -- the QUBO of a pseudo-item rated
    ``value`` by all of them. ``H`` is updated in place and returned.
    """
    unobserved = np.flatnonzero(observed_counts(X, observed, axis=0) == 0)
    if unobserved.size == 0:
        return H
    active = observed_counts(X, observed, axis=1) > 0
    Wa = W[active].astype(np.float64)
    G = (Wa.T @ Wa)[None]
    b = (value * Wa.sum(axis=0))[None]
    S, _ = solve(qubo_from_gram(G, b), None)
    H[:, unobserved] = S[0][:, None]
    return H
