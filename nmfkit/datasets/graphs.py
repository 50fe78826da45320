"""Graphs with planted communities, and Zachary's karate club.

:func:`make_sbm` draws a stochastic block model with numpy alone (fast enough
for a million edges); :func:`make_lfr` wraps networkx's LFR benchmark
generator and :func:`load_karate_club` networkx's copy of Zachary's karate
club. networkx is optional (``pip install "nmfkit[graph]"``) and imported only
inside the functions that need it. Every function returns a symmetric
``scipy.sparse`` CSR adjacency matrix (zero diagonal) and the planted labels.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

__all__ = ["make_sbm", "make_lfr", "load_karate_club", "graph_to_adjacency"]


def _networkx(whom):
    try:
        import networkx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{whom} needs networkx, which is not installed. Install the optional "
            "extra: pip install \"nmfkit[graph]\"."
        ) from exc
    return networkx


def _pairs_between(rng, n_a, n_b, p, same):
    """Edges of one block pair: each of the possible pairs with probability p."""
    total = n_a * (n_a - 1) // 2 if same else n_a * n_b
    if total == 0 or p <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = rng.binomial(total, min(p, 1.0))
    # sample m distinct pair indices out of total
    if m > total // 2:
        idx = rng.permutation(total)[:m]
    else:
        idx = np.unique(rng.randint(0, total, size=int(m * 1.1) + 16, dtype=np.int64))
        while idx.size < m:
            more = rng.randint(0, total, size=m - idx.size + 16, dtype=np.int64)
            idx = np.unique(np.concatenate((idx, more)))
        idx = rng.permutation(idx)[:m]
    if same:
        # pair index t -> (i, j), i < j, row-major in the strict upper triangle
        i = (np.floor((2 * n_a - 1 - np.sqrt((2 * n_a - 1) ** 2 - 8.0 * idx)) / 2)
             ).astype(np.int64)
        start = i * (2 * n_a - i - 1) // 2
        # guard against rounding at the boundaries
        over = idx < start
        i[over] -= 1
        start = i * (2 * n_a - i - 1) // 2
        under = idx - start >= n_a - 1 - i
        i[under] += 1
        start = i * (2 * n_a - i - 1) // 2
        j = idx - start + i + 1
        return i, j
    return idx // n_b, idx % n_b


def make_sbm(sizes, p_in=None, p_out=None, *, probabilities=None, average_degree=None,
             mixing=None, shuffle=False, dtype=np.float64, random_state=None):
    """A stochastic block model: adjacency matrix and planted communities.

    Nodes ``i`` and ``j`` of communities ``a`` and ``b`` are linked with
    probability ``P[a, b]``, independently. ``P`` is given in full
    (``probabilities``), or as ``p_in`` on the diagonal and ``p_out``
    elsewhere, or by an ``average_degree`` and a ``mixing`` fraction (the
    expected share of a node's edges that leave its community).

    Parameters
    ----------
    sizes : sequence of int
        Community sizes.
    p_in, p_out : float, default=None
        Within- and between-community probabilities.
    probabilities : array-like of shape (n_blocks, n_blocks), default=None
        Symmetric matrix of link probabilities (instead of ``p_in``, ``p_out``).
    average_degree, mixing : float, default=None
        Instead of ``p_in``, ``p_out`` (equal-sized communities assumed for
        the conversion): expected degree and share of between-community edges.
    shuffle : bool, default=False
        Permute the nodes (otherwise community by community).
    dtype : numpy dtype, default=float64
    random_state : int, RandomState or None

    Returns
    -------
    A : scipy.sparse.csr_matrix of shape (n, n)
        Symmetric 0/1 adjacency, zero diagonal.
    labels : ndarray of int of shape (n,)
        Planted community of each node.

    Examples
    --------
    >>> from nmfkit.datasets.graphs import make_sbm
    >>> A, labels = make_sbm([30, 30], p_in=0.3, p_out=0.02, random_state=0)
    >>> A.shape, (A != A.T).nnz
    ((60, 60), 0)
    """
    sizes = [int(s) for s in sizes]
    if not sizes or any(s < 0 for s in sizes):
        raise ValueError(f"sizes must be non-negative integers; got {sizes}.")
    kb = len(sizes)
    n = sum(sizes)
    if probabilities is not None:
        P = np.asarray(probabilities, dtype=np.float64)
        if P.shape != (kb, kb) or not np.allclose(P, P.T):
            raise ValueError("probabilities must be a symmetric (n_blocks, n_blocks) "
                             f"matrix; got shape {P.shape}.")
    elif average_degree is not None:
        if mixing is None or not 0 <= mixing <= 1:
            raise ValueError(
                f"mixing must be in [0, 1] with average_degree; got {mixing}.")
        s = n / kb
        p_in = average_degree * (1 - mixing) / max(s - 1, 1)
        p_out = average_degree * mixing / max(n - s, 1)
        P = np.full((kb, kb), p_out)
        np.fill_diagonal(P, p_in)
    else:
        if p_in is None or p_out is None:
            raise ValueError("give p_in and p_out, probabilities, or average_degree "
                             "and mixing.")
        P = np.full((kb, kb), float(p_out))
        np.fill_diagonal(P, float(p_in))
    if np.any(P < 0) or np.any(P > 1):
        raise ValueError("link probabilities must lie in [0, 1].")
    rng = check_random_state(random_state)
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    rows, cols = [], []
    for a in range(kb):
        for b in range(a, kb):
            i, j = _pairs_between(rng, sizes[a], sizes[b], P[a, b], a == b)
            rows.append(i + offsets[a])
            cols.append(j + offsets[b])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    labels = np.repeat(np.arange(kb), sizes)
    if shuffle:
        perm = rng.permutation(n)
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        r, c = inv[r], inv[c]
        labels = labels[perm]
    data = np.ones(2 * r.size, dtype=dtype)
    A = sp.csr_matrix((data, (np.concatenate((r, c)), np.concatenate((c, r)))),
                      shape=(n, n))
    A.sum_duplicates()
    A.data[:] = 1
    return A, labels


def graph_to_adjacency(graph, *, weight=None, dtype=np.float64):
    """Symmetric CSR adjacency of a networkx graph (nodes in ``graph.nodes`` order)."""
    nx = _networkx("graph_to_adjacency")
    A = nx.to_scipy_sparse_array(graph, weight=weight, dtype=dtype, format="csr")
    A = sp.csr_matrix(A)
    A.setdiag(0)
    A.eliminate_zeros()
    return A


def make_lfr(n=1000, *, mixing=0.1, tau1=3.0, tau2=1.5, average_degree=20,
             max_degree=None, min_community=20, max_community=None,
             random_state=None, max_tries=10):
    """An LFR benchmark graph (networkx): adjacency and planted communities.

    Lancichinetti, Fortunato & Radicchi's benchmark: power-law degrees
    (exponent ``tau1``) and community sizes (``tau2``), a share ``mixing`` of
    every node's edges leaving its community. networkx's generator sometimes
    fails to converge for a seed; the next seeds are tried (``max_tries``).

    Parameters
    ----------
    n : int, default=1000
    mixing : float, default=0.1
    tau1, tau2 : float, default=3.0, 1.5
    average_degree : float, default=20
    max_degree : int, default=None (``n // 10``)
    min_community, max_community : int, default=20, None (``n // 5``)
    random_state : int or None
    max_tries : int, default=10

    Returns
    -------
    A : scipy.sparse.csr_matrix of shape (n, n)
    labels : ndarray of int of shape (n,)
    """
    nx = _networkx("make_lfr")
    seed = 0 if random_state is None else int(random_state)
    last = None
    for t in range(max_tries):
        try:
            G = nx.LFR_benchmark_graph(
                n, tau1, tau2, mixing, average_degree=average_degree,
                max_degree=max_degree or n // 10, min_community=min_community,
                max_community=max_community or n // 5, seed=seed + 1000 * t,
                max_iters=500)
            break
        except nx.ExceededMaxIterations as exc:  # try another seed
            last = exc
    else:
        raise RuntimeError(f"LFR generation failed {max_tries} times: {last}")
    G.remove_edges_from(nx.selfloop_edges(G))
    nodes = list(G.nodes)
    comm_id = {}
    labels = np.empty(len(nodes), dtype=np.int64)
    for idx, v in enumerate(nodes):
        key = min(G.nodes[v]["community"])
        labels[idx] = comm_id.setdefault(key, len(comm_id))
    return graph_to_adjacency(G), labels


def load_karate_club():
    """Zachary's karate club (34 members, 78 friendships) and its two factions.

    Returns
    -------
    A : scipy.sparse.csr_matrix of shape (34, 34)
        Symmetric 0/1 adjacency.
    labels : ndarray of int of shape (34,)
        0 for Mr. Hi's faction, 1 for the Officer's (after the split).
    graph : networkx.Graph
        The graph itself, e.g. for drawing.
    """
    nx = _networkx("load_karate_club")
    G = nx.karate_club_graph()
    A = graph_to_adjacency(G)
    A.data[:] = 1.0
    labels = np.array([0 if G.nodes[v]["club"] == "Mr. Hi" else 1 for v in G.nodes])
    return A, labels, G
