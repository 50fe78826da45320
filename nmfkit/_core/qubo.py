r"""Batches of small QUBO problems: build, evaluate and minimise them.

A QUBO (quadratic unconstrained binary optimisation) over ``k`` bits is

.. math::

    \min_{s \in \{0, 1\}^k} E(s) = s^T Q s
    = \sum_a Q_{aa} s_a + \sum_{a < b} (Q_{ab} + Q_{ba}) s_a s_b .

The functions of this module take a *batch* ``Q`` of shape ``(c, k, k)``
(``c`` independent problems, e.g. one per item of a rating matrix) and work on
all of them at once with array operations. Internally a problem is split into
its linear part ``d = diag(Q)`` and the symmetric couplings
``C = Q + Q^T`` with a zero diagonal, so that ``E(s) = d.s + s^T C s / 2`` and
the energy change of flipping bit ``a`` is ``(1 - 2 s_a) (d_a + (C s)_a)``.

Four minimisers share one signature ``(Q, init=...) -> (S, E)``:

* :func:`solve_exact` -- enumeration of all ``2**k`` states, vectorised over the
  batch: the low bits are enumerated as one bit matrix, the high bits in Gray
  code order (one bit flips per step, so the energies are updated, never
  recomputed). Exact, cost ``O(2**k k c)``; practical up to ``k`` of about 16.
* :func:`solve_anneal` -- simulated annealing (single-bit Metropolis flips,
  geometric temperature schedule scaled to each problem, several independent
  reads), vectorised over the batch and the reads; keeps the best state seen.
* :func:`solve_descent` -- greedy descent over single and pair flips from
  ``init``: a local minimum, deterministic and cheap (a warm start's solver).
* :func:`solve_sampler` -- hands each problem to any dimod-style sampler
  (``sampler.sample_qubo(Q_dict, num_reads=...)`` returning a sample set), e.g.
  a quantum annealer or an Ising machine, and keeps the best sample.

Every solver, given ``init``, returns a state whose energy is never above that
of ``init`` (the initial state is kept on ties), which is what makes an
alternating minimisation that calls them monotone.
"""

from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "qubo_from_gram",
    "qubo_energy",
    "solve_exact",
    "solve_anneal",
    "solve_descent",
    "solve_sampler",
]

_STATE_BUDGET = 1 << 21  # entries of the (states, problems) energy block


def qubo_from_gram(G, b):
    r"""QUBOs of binary least squares ``min_s ||x - V s||^2`` from their Gram terms.

    With ``G = V^T V`` and ``b = V^T x``, ``||x - V s||^2 = s^T Q s + ||x||^2``
    for binary ``s`` with the upper-triangular

    .. math::

        Q_{aa} = G_{aa} - 2 b_a, \qquad Q_{ab} = 2 G_{ab} \ (a < b),
        \qquad Q_{ab} = 0 \ (a > b).

    For NBMF's item ``j``, ``V`` holds the weights of the users who rated it:
    ``Q_aa = sum_i W_ia (W_ia - 2 X_ij)``, ``Q_ab = 2 sum_i W_ia W_ib``.

    Parameters
    ----------
    G : ndarray of shape (c, k, k)
        Gram matrices (symmetric).
    b : ndarray of shape (c, k)

    Returns
    -------
    Q : ndarray of shape (c, k, k), float64
    """
    G = np.asarray(G, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    k = b.shape[-1]
    Q = np.triu(2.0 * G, 1)
    idx = np.arange(k)
    Q[:, idx, idx] = G[:, idx, idx] - 2.0 * b
    return Q


def _split(Q):
    """Linear terms ``d`` (c, k) and symmetric zero-diagonal couplings ``C``."""
    Q = np.asarray(Q, dtype=np.float64)
    k = Q.shape[-1]
    idx = np.arange(k)
    d = Q[:, idx, idx].copy()
    C = Q + np.swapaxes(Q, 1, 2)
    C[:, idx, idx] = 0.0
    return d, C


def qubo_energy(Q, S):
    """Energies ``s^T Q s`` of binary states.

    Parameters
    ----------
    Q : ndarray of shape (c, k, k)
    S : ndarray of shape (..., c, k)
        Binary states (0/1), one (or a stack) per problem.

    Returns
    -------
    E : ndarray of shape (..., c), float64
    """
    S = np.asarray(S, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    return np.einsum("...ca,cab,...cb->...c", S, Q, S)


def _keep_init(Q, S, E, init):
    """Keep ``init`` wherever it is at least as good as the solver's state."""
    if init is None:
        return S, E
    init = np.asarray(init, dtype=np.float64)
    E0 = qubo_energy(Q, init)
    keep = E0 <= E
    S = np.where(keep[:, None], init, S)
    E = np.where(keep, E0, E)
    return S, E


# --------------------------------------------------------------------------
# exact enumeration
# --------------------------------------------------------------------------
def _bit_matrix(k):
    """All ``2**k`` states of ``k`` bits as rows (state ``i`` = binary of ``i``)."""
    i = np.arange(2**k)[:, None]
    return ((i >> np.arange(k)) & 1).astype(np.float64)


def solve_exact(Q, *, init=None, low_bits=10):
    """Global minimum of every QUBO of the batch by enumeration.

    The ``k_low = min(k, low_bits)`` low bits are enumerated at once as a bit
    matrix ``L`` (``2**k_low`` rows); the remaining high bits walk through
    their ``2**(k - k_low)`` states in Gray code order, one bit flip per step,
    which updates the high part's energy and its couplings to the low bits
    with ``O(k c)`` work. Each step then evaluates all low states of all
    problems with one product ``L @ cross``.

    Parameters
    ----------
    Q : ndarray of shape (c, k, k)
        QUBO matrices (any form: only ``Q + Q^T`` and the diagonal matter).
    init : ndarray of shape (c, k), default=None
        Current states; kept where no state is strictly better.
    low_bits : int, default=10
        Bits enumerated by the bit matrix.

    Returns
    -------
    S : ndarray of shape (c, k), float64 (0/1)
        A minimiser of each problem (the first found in enumeration order,
        or ``init`` on a tie).
    E : ndarray of shape (c,)
        Its energy.
    """
    d, C = _split(Q)
    c, k = d.shape
    if c == 0 or k == 0:
        return np.zeros((c, k)), np.zeros(c)
    k1 = min(k, max(int(low_bits), 1))
    k2 = k - k1
    L = _bit_matrix(k1)  # (s, k1)
    n_states = L.shape[0]
    S_out = np.empty((c, k))
    E_out = np.empty(c)
    step = max(1, _STATE_BUDGET // n_states)
    pairs = (L[:, :, None] * L[:, None, :]).reshape(n_states, k1 * k1)
    for start in range(0, c, step):
        stop = min(c, start + step)
        dc, Cc = d[start:stop], C[start:stop]
        cc = stop - start
        # energies of the low states with the high bits all 0: (s, cc)
        E_low = L @ dc[:, :k1].T
        E_low += 0.5 * (pairs @ Cc[:, :k1, :k1].reshape(cc, k1 * k1).T)
        best_E = E_low.min(axis=0)
        best_low = E_low.argmin(axis=0)
        best_high = np.zeros((cc, k2))
        h = np.zeros(k2)
        e_high = np.zeros(cc)
        cross = np.zeros((cc, k1))  # couplings of the low bits to the set high bits
        C_lh = Cc[:, :k1, k1:]
        for g in range(1, 2**k2):
            b = (g & -g).bit_length() - 1  # Gray code: bit that flips at step g
            sign = 1.0 - 2.0 * h[b]
            field = dc[:, k1 + b] + Cc[:, k1 + b, k1:] @ h  # h[b] term is 0 (C_bb = 0)
            e_high += sign * field
            cross += sign * C_lh[:, :, b]
            h[b] += sign
            E = E_low + L @ cross.T
            E += e_high
            low = E.argmin(axis=0)
            val = E[low, np.arange(cc)]
            better = val < best_E
            if better.any():
                best_E[better] = val[better]
                best_low[better] = low[better]
                best_high[better] = h
        S_out[start:stop, :k1] = L[best_low]
        S_out[start:stop, k1:] = best_high
        E_out[start:stop] = best_E
    return _keep_init(Q, S_out, E_out, init)


# --------------------------------------------------------------------------
# simulated annealing
# --------------------------------------------------------------------------
def solve_anneal(Q, *, init=None, num_reads=4, n_sweeps=100, beta_range=(1.0, 1000.0),
                 random_state=None):
    r"""Simulated annealing on every QUBO of the batch at once.

    Each of the ``num_reads`` independent chains of each problem starts from a
    random state (the first chain from ``init`` when given) and performs
    ``n_sweeps`` sweeps of single-bit Metropolis moves: flipping bit ``a``
    changes the energy by :math:`\Delta = (1 - 2 s_a)(d_a + (C s)_a)` and is
    accepted with probability :math:`\min(1, e^{-\Delta / T})`. The local
    fields :math:`d + C s` are kept up to date after each flip, so a sweep
    costs ``O(num_reads c k^2)`` vectorised work. The temperature of problem
    ``j`` decreases geometrically from ``r_j / beta_range[0]`` to
    ``r_j / beta_range[1]``, with :math:`r_j = \max_a (|d_a| + \sum_b |C_{ab}|)`
    the largest energy change a flip can make in that problem; the last sweeps
    are greedy (zero temperature), so every returned state is a local minimum
    under single flips. The best state seen by any chain is returned.

    Parameters
    ----------
    Q : ndarray of shape (c, k, k)
        QUBO matrices.
    init : ndarray of shape (c, k), default=None
        Current states: the first chain starts there, and they are kept where
        the annealer finds nothing strictly better.
    num_reads : int, default=4
        Independent chains per problem.
    n_sweeps : int, default=100
        Sweeps per chain (the last ``max(2, n_sweeps // 10)`` are greedy).
    beta_range : (float, float), default=(1.0, 1000.0)
        Inverse temperatures at the first and the last annealed sweep, in
        units of ``1 / r_j``.
    random_state : int, RandomState instance or None
        Seed of the starting states and the acceptance draws.

    Returns
    -------
    S : ndarray of shape (c, k), float64 (0/1)
    E : ndarray of shape (c,)
    """
    rng = random_state if isinstance(random_state, np.random.RandomState) else (
        np.random.RandomState(random_state))
    d, C = _split(Q)
    c, k = d.shape
    R = max(1, int(num_reads))
    if c == 0 or k == 0:
        return np.zeros((c, k)), np.zeros(c)
    # layout (k, R, c): the bit being flipped is a contiguous (R, c) slab
    # a fast generator (ziggurat exponentials) seeded from random_state
    gen = np.random.default_rng(rng.randint(0, 2**31 - 1))
    S = (gen.random((k, R, c)) < 0.5).astype(np.float64)
    if init is not None:
        S[:, 0, :] = np.asarray(init, dtype=np.float64).T
    Ck = np.ascontiguousarray(np.transpose(C, (1, 2, 0)))  # Ck[a] = C[:, a, :].T
    F = d.T[:, None, :] + np.einsum("brc,cab->arc", S, C)  # local fields d + C s
    E = 0.5 * np.einsum("arc,arc->rc", S, d.T[:, None, :] + F)
    best_S = S.copy()
    best_E = E.copy()
    scale = np.abs(d) + np.abs(C).sum(axis=2)
    scale = scale.max(axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    n_sweeps = max(1, int(n_sweeps))
    n_greedy = min(n_sweeps, max(2, n_sweeps // 10))
    n_hot = n_sweeps - n_greedy
    betas = np.geomspace(beta_range[0], beta_range[1], n_hot) if n_hot else np.zeros(0)
    sigma = 1.0 - 2.0 * S  # +1: flipping turns the bit on, -1: off
    ds = np.empty((R, c))
    buf = np.empty((k, R, c))
    for sweep in range(n_sweeps):
        greedy = sweep >= n_hot
        if not greedy:
            # Metropolis: accept iff delta < -T log(u), u uniform in (0, 1]
            threshold = gen.standard_exponential((k, R, c), dtype=np.float32)
            threshold *= (scale / betas[sweep]).astype(np.float32)[None, None, :]
        for a in range(k):
            delta = sigma[a] * F[a]
            accept = delta < (0.0 if greedy else threshold[a])
            if not accept.any():
                continue
            np.multiply(sigma[a], accept, out=ds)  # change of s_a (0 where refused)
            S[a] += ds
            E += delta * accept
            sigma[a] -= 2.0 * ds
            flips = np.flatnonzero(accept)
            if flips.size * 4 > accept.size:
                np.multiply(Ck[a][:, None, :], ds[None], out=buf)
                F += buf
            else:  # few flips (cool sweeps): update only the flipped chains
                item = flips % c
                F2 = F.reshape(k, R * c)
                F2[:, flips] += Ck[a][:, item] * ds.ravel()[flips]
        better = E < best_E
        if better.any():
            best_E = np.where(better, E, best_E)
            best_S[:, better] = S[:, better]
    best_S = np.ascontiguousarray(np.transpose(best_S, (1, 2, 0)))  # (R, c, k)
    _pair_descent(best_S, d, C)
    best_E = qubo_energy(Q, best_S)
    r = best_E.argmin(axis=0)
    cols = np.arange(c)
    S_out = best_S[r, cols]
    E_out = qubo_energy(Q, S_out)  # exact, free of the drift of the running sums
    return _keep_init(Q, S_out, E_out, init)


def solve_descent(Q, *, init=None, random_state=None):
    """Greedy descent over single and pair flips from ``init`` (or all zeros).

    Every state of the batch moves, round after round, by the single or
    double bit flip that lowers its energy most, until none does
    (:func:`_pair_descent`): a local minimum for moves of one or two bits,
    never above ``init``. Deterministic; cost ``O(c k^2)`` per round, and
    only the states still moving take part in the next round. NBMF uses it
    after a first annealed H step: by then each item's column sits in a good
    basin, and the QUBOs change little from one iteration to the next.

    Parameters
    ----------
    Q : ndarray of shape (c, k, k)
    init : ndarray of shape (c, k), default=None
    random_state : ignored
        Accepted for a signature shared with the other solvers.

    Returns
    -------
    S : ndarray of shape (c, k), float64 (0/1)
    E : ndarray of shape (c,)
    """
    d, C = _split(Q)
    c, k = d.shape
    if c == 0 or k == 0:
        return np.zeros((c, k)), np.zeros(c)
    S = (np.zeros((1, c, k)) if init is None
         else np.array(init, dtype=np.float64).reshape(1, c, k))
    _pair_descent(S, d, C)
    S = S[0]
    return _keep_init(Q, S, qubo_energy(Q, S), init)


def _pair_descent(S, d, C, max_rounds=None):
    """Greedy descent over single and pair flips, in place on states ``S`` (r, c, k).

    Each round applies, in every state, the single or double flip that lowers
    the energy most (if any): the energy change of flipping bits ``a`` and
    ``b`` together is ``D_a + D_b + C_ab s'_a s'_b`` with ``D`` the single-flip
    changes and ``s' = 1 - 2 s``. Stops when no state improves; every state is
    then a local minimum for moves of one or two bits.
    """
    r, c, k = S.shape
    if k == 0 or c == 0:
        return S
    flat_S = S.reshape(r * c, k)
    item = np.tile(np.arange(c), r)
    idx = np.arange(k)
    live = np.arange(r * c)
    thresh = 1e-12 * (np.abs(d).max(axis=1) + np.abs(C).max(axis=(1, 2)) + 1e-300)
    for _ in range(k * k if max_rounds is None else max_rounds):
        if live.size == 0:
            break
        sub = flat_S[live]
        j = item[live]
        Cl = C if r == 1 and live.size == c else C[j]  # all states of one read
        sigma = 1.0 - 2.0 * sub
        delta = sigma * (d[j] + np.einsum("lab,lb->la", Cl, sub))
        D2 = delta[:, :, None] + delta[:, None, :]
        D2 += Cl * sigma[:, :, None] * sigma[:, None, :]
        D2[:, idx, idx] = delta
        D2 = D2.reshape(live.size, k * k)
        move = D2.argmin(axis=1)
        improve = D2[np.arange(live.size), move] < -thresh[j]
        a, b = np.divmod(move[improve], k)
        rows = live[improve]
        flat_S[rows, a] = 1.0 - flat_S[rows, a]
        pair = a != b
        flat_S[rows[pair], b[pair]] = 1.0 - flat_S[rows[pair], b[pair]]
        live = rows
    S[...] = flat_S.reshape(r, c, k)
    return S


# --------------------------------------------------------------------------
# external samplers (dimod interface)
# --------------------------------------------------------------------------
def check_sampler(sampler):
    """Raise ``TypeError`` unless ``sampler`` has a callable ``sample_qubo``."""
    if not callable(getattr(sampler, "sample_qubo", None)):
        raise TypeError(
            "solver must be 'anneal', 'exact' or a dimod-style sampler with a "
            f"sample_qubo(Q, num_reads=...) method; got {type(sampler).__name__!r} "
            "without sample_qubo."
        )


def _samples_of(sampleset):
    """The samples (mappings variable -> 0/1) of a dimod-style sample set."""
    samples = getattr(sampleset, "samples", None)
    if callable(samples):
        return samples()
    return sampleset


def solve_sampler(Q, sampler, *, init=None, num_reads=4, random_state=None):
    """Minimise each QUBO of the batch with a dimod-style sampler.

    Problem ``j`` is passed as the dictionary
    ``{(a, b): Q[j, a, b] for a <= b}`` (variables ``0 .. k-1``, the upper
    triangle of ``Q + Q^T`` off the diagonal) to
    ``sampler.sample_qubo(Q_dict, num_reads=num_reads)``. Every returned
    sample is re-evaluated here and the lowest-energy one kept, so a noisy or
    heuristic sampler (a quantum annealer, an Ising machine) can never make
    the result worse than ``init``.

    Parameters
    ----------
    Q : ndarray of shape (c, k, k)
    sampler : object with ``sample_qubo``
        The sample set it returns must provide ``samples()`` (as dimod's
        ``SampleSet``) or be iterable, yielding mappings from the variables
        ``0 .. k-1`` to 0/1.
    init : ndarray of shape (c, k), default=None
    num_reads : int, default=4
    random_state : int, RandomState instance or None, default=None
        Where the sampler declares a ``seed`` parameter (dimod's
        ``sampler.parameters``, as dwave-samplers' annealers do), each call
        gets ``seed=`` drawn from it, so a fit with a fixed ``random_state``
        is reproducible. Samplers without one are called as they are.

    Returns
    -------
    S : ndarray of shape (c, k), float64 (0/1)
    E : ndarray of shape (c,)
    """
    check_sampler(sampler)
    parameters = getattr(sampler, "parameters", None)
    seeded = isinstance(parameters, Mapping) and "seed" in parameters
    rng = check_random_state(random_state) if seeded else None
    Q = np.asarray(Q, dtype=np.float64)
    c, k = Q.shape[0], Q.shape[-1]
    sym = np.triu(Q + np.swapaxes(Q, 1, 2), 1)
    idx = np.arange(k)
    sym[:, idx, idx] = Q[:, idx, idx]
    S_out = np.zeros((c, k))
    E_out = np.full(c, np.inf)
    upper = [(a, b) for a in range(k) for b in range(a, k)]
    for j in range(c):
        qdict = {(a, b): float(sym[j, a, b]) for a, b in upper}
        extra = {"seed": int(rng.randint(2**31 - 1))} if seeded else {}
        sampleset = sampler.sample_qubo(qdict, num_reads=int(num_reads), **extra)
        for sample in _samples_of(sampleset):
            s = np.array([sample[a] for a in range(k)], dtype=np.float64)
            if not np.isin(s, (0.0, 1.0)).all():
                raise ValueError(
                    f"the sampler returned a non-binary sample {s.tolist()}; "
                    "sample_qubo must return 0/1 values."
                )
            e = float(s @ Q[j] @ s)
            if e < E_out[j]:
                E_out[j], S_out[j] = e, s
    if not np.isfinite(E_out).all():
        raise ValueError("the sampler returned no sample for some QUBO.")
    return _keep_init(Q, S_out, E_out, init)
