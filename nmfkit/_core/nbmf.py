r"""Nonnegative/binary matrix factorization on the observed entries.

Fits :math:`X \approx W H` with :math:`W \ge 0` and :math:`H \in \{0, 1\}`,
minimising

.. math::

    f(W, H) = \tfrac12 \sum_{(i, j)\ \mathrm{observed}} (x_{ij} - w_i h_j)^2
    + \tfrac12\, l_2 \|W\|_F^2

by alternating two exact or heuristic block minimisations:

* **W step** -- every row by non-negative least squares with the ridge
  :math:`l_2` on its observed entries (:func:`_w_step`: the answer of
  :func:`nmfkit._core.nnls.nnls`, exact, found first by one batched solve on
  the support of the previous weights);
* **H step** -- every column :math:`h_j` is a QUBO over ``k`` bits built from
  the users who observed item ``j`` (:func:`nmfkit._core.qubo.qubo_from_gram`
  of their Gram terms, computed by the per-row Gram helper of the NNLS module
  on the transposed problem), minimised by one of the solvers of
  :mod:`nmfkit._core.qubo` (optionally another one after the first step,
  e.g. annealing first, then pair-flip descent from the annealed columns).
  A column is only replaced by a state of strictly lower energy, so the H
  step never raises :math:`f`; a column that provably minimises its QUBO
  (:func:`certified_optimal`) is not handed to the solver at all.

The per-row and per-item Gram matrices are built chunk by chunk from one
sparse product of the observation pattern with the ``k (k + 1) / 2`` pair
products of the fixed factor, so memory stays
``O(nnz + (n_samples + n_features) k^2 + chunk k^2)``.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .hals import fit_hals
from .init import initialize
from .losses import beta_divergence
from .nnls import _batched_cd, _finish_rows, _polish, _RowProblems
from .qubo import (qubo_from_gram, solve_anneal, solve_descent, solve_exact,
                   solve_sampler)

__all__ = ["fit_nbmf", "binary_start", "nbmf_objective", "make_qubo_solver",
           "item_qubos", "observed_counts", "fill_unobserved_items"]


def make_qubo_solver(solver, *, num_reads=4, n_sweeps=50, random_state=None):
    """A function ``(Q, init) -> (S, E)`` for ``'anneal'``, ``'exact'``,
    ``'descent'`` or a sampler.

    ``'descent'``: greedy descent over single and pair flips from ``init``
    (:func:`nmfkit._core.qubo.solve_descent`), no randomness.
    """
    if isinstance(solver, str) and solver == "exact":
        return lambda Q, init: solve_exact(Q, init=init)
    if isinstance(solver, str) and solver == "descent":
        return lambda Q, init: solve_descent(Q, init=init)
    if isinstance(solver, str) and solver == "anneal":
        rng = check_random_state(random_state)
        return lambda Q, init: solve_anneal(Q, init=init, num_reads=num_reads,
                                            n_sweeps=n_sweeps, random_state=rng)
    rng = check_random_state(random_state)
    return lambda Q, init: solve_sampler(Q, solver, init=init, num_reads=num_reads,
                                         random_state=rng)


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


def _row_grams(X, F, observed):
    r"""Yield ``(start, stop, A, G)`` for chunks of rows ``i`` of ``X``.

    ``A_i = F (m_i \circ x_i)`` (k,) and ``G_i = F \mathrm{diag}(m_i) F^T``
    (k, k), with ``m_i`` the observation pattern of row ``i`` and ``F`` of
    shape ``(k, n)`` (the per-row problems of :mod:`nmfkit._core.nnls`).
    """
    problems = _RowProblems(X, F, observed)
    for start, stop in problems.chunks():
        A, G = problems.get(start, stop)
        yield start, stop, A, G


def item_qubos(XT, W, obsT):
    """Yield ``(start, stop, Q)``: the QUBOs of chunks of items (columns of ``X``).

    ``XT`` and ``obsT`` are the transposed data and pattern (items x users).
    """
    for start, stop, b, G in _row_grams(XT, np.ascontiguousarray(W.T), obsT):
        yield start, stop, qubo_from_gram(G, b)


def certified_optimal(G, b, S):
    r"""Which binary states ``S`` (c, k) are global minima of their QUBO.

    For the QUBO of binary least squares, ``E(s) = s^T G s - 2 b^T s`` with
    ``G`` positive semi-definite (a Gram matrix), and for any other binary
    ``x`` with ``d = x - s``:

    .. math::

        E(x) - E(s) = d^T G d + 2 d^T (G s - b) \ge 2 d^T (G s - b),

    and each ``d_a`` is 0 or ``1 - 2 s_a``. So if every
    ``(1 - 2 s_a)(G s - b)_a >= 0`` (no single flip improves the *linear*
    part -- the optimality conditions of the convex relaxation over the box
    :math:`[0, 1]^k` at the vertex ``s``), no state is better than ``s``:
    its solver call can be skipped, and every solver would keep ``s`` anyway.
    Costs one ``(c, k, k)`` product.
    """
    G = np.asarray(G, dtype=np.float64)
    grad = np.einsum("cab,cb->ca", G, S) - np.asarray(b, dtype=np.float64)
    return np.all((1.0 - 2.0 * S) * grad >= 0, axis=1)


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


def _h_step(XT, W, H, obsT, solve, certify=False, stats=None):
    """New ``H``: each column the solver's answer, never worse than the old one.

    The QUBOs of consecutive chunks of items are gathered into one batch of
    at most ``_SOLVE_BUDGET`` entries before the solver is called, so that a
    vectorised solver works on as many items at once as memory allows. Items
    nobody rated (a zero QUBO) are left as they are. With ``certify``, so are
    the items whose current column is provably a global minimum of their
    QUBO (:func:`certified_optimal`): the solver is not called for them.
    The number of items handed to the solver is appended to ``stats`` (a
    list) when given.
    """
    H_new = H.copy()
    k = H.shape[0]
    batch, cols = [], []
    size = 0
    n_solved = 0

    def flush():
        if not batch:
            return
        Q = np.concatenate(batch)
        j = np.concatenate(cols)
        S, _ = solve(Q, H[:, j].T.astype(np.float64))
        H_new[:, j] = S.T
        batch.clear()
        cols.clear()

    for start, stop, b, G in _row_grams(XT, np.ascontiguousarray(W.T), obsT):
        Q = qubo_from_gram(G, b)
        live = np.abs(Q).reshape(Q.shape[0], -1).max(axis=1) > 0
        if certify:
            S0 = H[:, start:stop].T.astype(np.float64)
            live &= ~certified_optimal(G, b, S0)
        live = np.flatnonzero(live)
        if live.size == 0:
            continue
        if size + live.size * k * k > _SOLVE_BUDGET:
            flush()
            size = 0
        batch.append(Q[live])
        cols.append(start + live)
        size += live.size * k * k
        n_solved += live.size
    flush()
    if stats is not None:
        stats.append(n_solved)
    return H_new


def _w_step(X, H, W, observed, l2, cd_sweeps=3, rounds=10):
    """Exact ridge NNLS of every row of ``W`` for fixed binary ``H``.

    The same problem and answer as :func:`nmfkit._core.nnls.nnls`, ordered
    for a warm start: each row is first solved exactly on the support of its
    current weights (one batched ``k x k`` solve) and kept where that point
    satisfies the optimality (KKT) conditions; only the other rows get a few
    coordinate-descent sweeps to find their new support, then the support
    solve again; rows still open after ``rounds`` go to the exact active-set
    solver. Between two iterations of NBMF most supports do not change, so
    most rows are done after the first solve. The Gram matrices come from
    :func:`_row_grams`.
    """
    m, k = X.shape[0], H.shape[0]
    if W is None:
        W = np.zeros((m, k), dtype=H.dtype)
    if m == 0 or k == 0:
        return W
    order = np.arange(k)
    for start, stop, A, G in _row_grams(X, H, observed):
        Wc = np.array(W[start:stop], dtype=H.dtype)
        rows = np.arange(stop - start)
        for _ in range(rounds):
            sub = Wc[rows]
            ok = _polish(sub, A[rows], G[rows], 0.0, l2)
            Wc[rows] = sub
            rows = rows[~ok]
            if rows.size == 0:
                break
            sub = Wc[rows]
            _batched_cd(sub, A[rows], G[rows], 0.0, l2, order, cd_sweeps)
            Wc[rows] = sub
        if rows.size:
            exact = np.ones(stop - start, dtype=bool)
            exact[rows] = False
            _finish_rows(Wc, A, G, 0.0, l2, exact)
        W[start:stop] = Wc
    return W


def fit_nbmf(X, W, H, *, observed=None, l2=0.0, solve=None, max_iter=100, tol=1e-4,
             verbose=0, solve_next=None, certify=False):
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
    solve_next : callable ``(Q, init) -> (S, E)`` or None
        Solver of the H steps after the first (``None``: ``solve``), e.g. the
        warm-started descent of :func:`make_qubo_solver` (``"descent"``) after
        a first annealed step.
    certify : bool
        Skip the items whose current column is provably optimal
        (:func:`certified_optimal`); exact, so meant for solvers that keep
        their ``init`` on ties (``"exact"``, ``"anneal"``, ``"descent"``).
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
    W = _w_step(X, H, None if W is None else W.copy(), observed, l2)
    obj = nbmf_objective(X, W, H, observed, l2)
    history = [obj]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        step_solve = solve if n_iter == 1 or solve_next is None else solve_next
        H_new = _h_step(XT, W, H, obsT, step_solve, certify=certify)
        if np.array_equal(H_new, H):
            break  # a fixed point: the W step would give back the same W
        W_new = _w_step(X, H_new, W.copy(), observed, l2)
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
