r"""NMF on Dask arrays partitioned by rows: out-of-core and on a cluster.

:class:`nmfkit.NMF` hands a ``dask.array`` to this module (``fit``,
``fit_transform`` and ``transform`` dispatch here); nothing else changes for
the user. ``X`` is never gathered: it stays in its row blocks ``X_b`` (on the
workers, or read from disk block by block), and each block of ``W`` lives
beside its block of ``X``, persisted from one iteration to the next.

One iteration is one pass over the blocks. The task of block ``b`` updates
``W_b`` against the current ``H`` with the core's own update (the HALS
half-step :func:`~nmfkit._core.hals._half` on ``A_b = H X_b^T``, ``B = H H^T``,
its inner sweeps reusing these products;
the multiplicative update :func:`~nmfkit._core.mu.mu_update_W` for the other
beta-divergences) and, in the same task, returns the block's share of the
sums the ``H`` step needs (``W_b^T X_b`` and ``W_b^T W_b``; the numerator and
denominator of :func:`~nmfkit._core.mu.mu_terms_H`). A tree reduction adds
the shares and ``H`` is updated on the client by the same core functions.
Each iteration moves ``O(k n_features)`` numbers per block, never data.

Memory: a pass is one :func:`dask.array.map_blocks` over ``X`` whose
block tasks each take in every task that only they need (``_fold_sources``:
reading the block from disk, the random draws and products of an
expression, which Dask would otherwise run as separate tasks whose results
the scheduler holds and moves), so a block of ``X`` exists only while its
task runs. A block task needs what producing its block needs, or the block
plus about 0.3x its bytes (2.3x with missing values) if that is more; the
previous ``W_b`` is released as soon as its block's task has run.

The iterates are those of the in-memory solvers without the paths that need
``X`` whole: accelerated HALS (``fit_hals(..., compress=False,
extrapolate=False)``: the same inner-sweep budgets from the same cost model,
the same 0.1 rule and stricter threshold; the ``W`` sweeps of a block task
reuse its ``A_b``, the ``H`` sweeps on the client reuse the reduced shares,
so inner sweeps cost no extra pass over ``X``) and multiplicative updates
without the HALS warm start (``fit_mu``), with the same stopping rules,
``n_iter_`` and ``reconstruction_err_``. The rows of ``W`` are separate
problems, so each block stops its inner ``W`` sweeps by the 0.1 rule on its
own rows; where the blocks stop where the whole ``W`` would (one block, or
identical blocks) both give the same fit up to the rounding of the block
sums, otherwise the same loss by other iterates.

Missing values: NaN entries of dense blocks are missing
(``missing_values=np.nan``); the rows of a block with NaN are updated by the
masked solvers (:func:`~nmfkit._core.hals._masked_half`, per-row Gram
matrices, up to the masked solver's 10 sweeps; then every half-step gets
that budget, as in memory), and such a block sends the per-column Gram matrices of ``H``'s
problem (``n_features k^2`` numbers) instead of ``W_b^T W_b``.

Dask, and ``distributed`` for a cluster, are the optional extra
``nmfkit[dask]``; they are imported only when a Dask array is passed.

Examples
--------
>>> import numpy as np
>>> import dask.array as da
>>> from nmfkit import NMF
>>> X = da.from_array(np.random.default_rng(0).random((100, 6)), chunks=(25, 6))
>>> model = NMF(n_components=2, init="random", random_state=0, max_iter=400)
>>> W = model.fit_transform(X)  # a Dask array chunked like X
>>> W.chunks[0], model.components_.shape
((25, 25, 25, 25), (2, 6))
>>> bool(model.reconstruction_err_ < np.linalg.norm(X.compute()))
True

References
----------
.. [1] A. Cichocki and A.-H. Phan, "Fast local algorithms for large scale
   nonnegative matrix and tensor factorizations", IEICE Trans. Fundamentals,
   2009 (HALS).
.. [2] C. Fevotte and J. Idier, "Algorithms for nonnegative matrix
   factorization with the beta-divergence", Neural Computation 23(9), 2011
   (multiplicative updates).
"""

import contextlib
import math
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ._core.hals import (_INNER_EPS2, _MASKED_INNER, _TOL_FACTOR, _Buffers,
                         _ExactProducts, _fold_penalties, _half, _masked_half,
                         inner_budgets)
from ._core.losses import beta_divergence
from ._core.mu import mu_apply, mu_gamma, mu_terms_H, mu_update_W
from ._core.nnls import _batched_cd, _RowProblems, nnls
from ._core.profile import n_nonzero
from ._validation import check_factor

__all__ = ["is_dask_collection", "fit_transform_dask", "transform_dask",
           "refuse_dask", "on_cluster"]

_EXTRA = ("this needs dask[array] (and distributed for a cluster); install the "
          "extra with: pip install 'nmfkit[dask]'")
_EPS = np.finfo(np.float32).eps
_EPS64 = np.finfo(np.float64).eps
# shares added per task of the tree reduction
_SPLIT_EVERY = 8
# entries of the (rows, k*k) outer products built at once for the Gram
# matrices of a masked block (the core's _RowProblems budget)
_GRAM_BUDGET = 1 << 22
# HALS with the accelerated inner sweeps of the in-memory solver (False: one
# sweep per half-iteration, ``fit_hals(accelerate=False)``'s iterates)
_ACCELERATE = True


def is_dask_collection(X):
    """Whether ``X`` is a Dask collection (checked without importing dask)."""
    return callable(getattr(type(X), "__dask_graph__", None))


def refuse_dask(est, X, method):
    """A method that would gather a Dask ``X`` into memory refuses it clearly."""
    raise TypeError(
        f"{type(est).__name__}.{method} does not take a Dask array (it would gather "
        "X into memory); pass a NumPy array or scipy.sparse matrix, e.g. a sample "
        "of the rows computed with .compute().")


def on_cluster(X):
    """``X`` for the tasks of joblib's Dask backend: replicated on every worker.

    Under ``joblib.parallel_config(backend="dask")`` an array argument is
    scattered by joblib to *one* worker, without lineage: when that worker is
    lost (killed, restarted), every task still needing it is cancelled. Here
    ``X`` is scattered once to all workers (``broadcast=True``), so a lost
    worker leaves its copies on the others and the scan goes on; the tasks get
    the same ``X`` and seeds, hence the same results. Any other backend: ``X``
    unchanged.
    """
    if "distributed" not in sys.modules or "joblib._dask" not in sys.modules:
        return X
    from joblib._dask import DaskDistributedBackend
    from joblib.parallel import get_active_backend

    backend = get_active_backend()[0]
    if not isinstance(backend, DaskDistributedBackend):
        return X
    return backend.client.scatter(X, broadcast=True, hash=False)


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # tests simulate it by blocking the import
        raise ImportError(f"nmfkit received a Dask array: {_EXTRA}") from exc
    return dask, da


# --------------------------------------------------------------------------
# checks made before anything is computed
# --------------------------------------------------------------------------
def _check_dask_X(X, whom):
    """Row-partitioned 2-D dask array with known chunks, or a clear error."""
    dask, da = _import_dask()
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{whom} accepts Dask arrays, not {type(X).__name__}; convert a Dask "
            "DataFrame with .to_dask_array(lengths=True).")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array for {whom}, got a {X.ndim}D array of shape "
            f"{X.shape}; reshape it to (n_samples, n_features).")
    if math.isnan(X.shape[1]):
        raise ValueError(
            f"The number of features (columns) of the dask array passed to {whom} "
            "is unknown; it must be known (rows may have unknown sizes).")
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{whom} needs numeric data; the dask array has dtype {X.dtype}.")
    if any(math.isnan(c) for c in X.chunks[0]):
        # e.g. after boolean indexing: one pass computing each block's shape
        X = da.Array(X.dask, X.name, X.chunks, meta=X._meta)
        X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        itemsize = max(X.dtype.itemsize, 4)
        limit = dask.utils.parse_bytes(dask.config.get("array.chunk-size"))
        row_bytes = X.shape[1] * itemsize
        if row_bytes > limit:
            raise ValueError(
                f"{whom} needs X partitioned by rows (each block holding whole "
                f"rows), but X is chunked along its {len(X.chunks[1])} column "
                f"blocks and one full row ({row_bytes} bytes) exceeds dask's "
                f"array.chunk-size ({limit} bytes); chunk X by rows only, e.g. "
                "X.rechunk({1: -1}) with fewer rows per block.")
        widest = max(X.chunks[0]) * row_bytes
        rows = {1: -1} if widest <= 4 * limit else {0: "auto", 1: -1}
        warnings.warn(
            f"{whom} needs X partitioned by rows; X has {len(X.chunks[1])} "
            "column blocks and is rechunked to whole rows (X.rechunk("
            f"{rows})). Chunk it by rows yourself to avoid the rechunk.",
            UserWarning, stacklevel=3)
        X = X.rechunk(rows)
    if X.shape[0] < 1:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 "
            f"is required by {whom}.")
    if X.shape[1] < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
            f"is required by {whom}.")
    return X


class _Blocks:
    """``X`` (row blocks) with what its block tasks need to know."""

    def __init__(self, X, whom, allow_missing, beta):
        self.X = X
        self.dtype = np.dtype(X.dtype if X.dtype in (np.float32, np.float64)
                              else np.float64)
        edges = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(int)
        self.bounds = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
        self.shape = X.shape
        self.whom = whom
        self.allow_missing = allow_missing
        self.beta = beta
        self.nan_blocks = None  # known after the first pass

    @property
    def static(self):
        """The part of a block's ``info`` that is the same for every block."""
        return (self.whom, self.allow_missing, self.beta, self.dtype.str)

    def info(self, i, check):
        """What the task of block ``i`` needs to know (small, picklable)."""
        masked = True if self.nan_blocks is None else (i in self.nan_blocks)
        return (i, self.bounds[i], self.whom, self.allow_missing, self.beta,
                self.dtype.str, check, masked)


class _BlockValueError(ValueError):
    """A bad value found in a block (the message names the block)."""


def _block_error(info, what):
    i, (r0, r1), whom = info[0], info[1], info[2]
    return _BlockValueError(f"{what} in data passed to {whom} (input X): found in block "
                      f"{i} of the dask array (rows {r0} to {r1 - 1}) when it was "
                      "computed; the estimator's attributes were not changed.")


def _prepare_block(Xb, info):
    """Check and convert one block; returns ``(X_b, observed_b, has_nan)``.

    Checked (``check``): finite, non-negative, zeros for ``beta <= 0``. NaN
    entries of a dense block are missing when allowed (set to 0 in a copy,
    ``observed_b`` the mask), an error otherwise.
    """
    i, (r0, r1), whom, allow_missing, beta, dtype, check, masked = info
    dtype = np.dtype(dtype)
    if Xb.shape[0] != r1 - r0:
        raise ValueError(f"Block {i} of the dask array passed to {whom} has "
                         f"{Xb.shape[0]} rows; its chunks said {r1 - r0}.")
    observed = None
    if sp.issparse(Xb):
        Xb = sp.csr_matrix(Xb, dtype=dtype)
        values = Xb.data
        if check and np.isnan(values).any():
            raise _block_error(info, "NaN values (a sparse block cannot mark "
                                     "missing entries by NaN)")
    else:
        if not isinstance(Xb, np.ndarray) and not hasattr(Xb, "__array__"):
            raise TypeError(
                f"Block {i} of the dask array passed to {whom} is a "
                f"{type(Xb).__name__}; blocks must be numpy arrays or scipy.sparse "
                "matrices.")
        Xb = np.asarray(Xb, dtype=dtype)
        if Xb.ndim != 2:
            raise ValueError(f"Block {i} of the dask array passed to {whom} is "
                             f"{Xb.ndim}-D; expected 2-D blocks.")
        if masked or check:
            nan = np.isnan(Xb)
            if nan.any():
                if not allow_missing:
                    raise _block_error(
                        info, "NaN values (missing_values=None: NaN is not allowed)")
                observed = ~nan
                Xb = np.where(observed, Xb, 0).astype(dtype, copy=False)
        values = Xb
    if check and values.size:
        if not np.isfinite(values).all():
            raise _block_error(info, "Infinity or a value too large")
        if values.min() < 0:
            raise _block_error(info, "Negative values")
        if beta <= 0:
            zeros = (values == 0).any() if observed is None else (
                (values == 0) & observed).any()
            if zeros or (sp.issparse(Xb) and Xb.nnz < Xb.shape[0] * Xb.shape[1]):
                raise _block_error(
                    info, "Zeros (beta_loss <= 0 is undefined at zeros; add small "
                          "values to X or use a positive beta_loss)")
    return Xb, observed, observed is not None


# --------------------------------------------------------------------------
# tasks run on the blocks (module functions: picklable for any scheduler)
# --------------------------------------------------------------------------
class _State:
    """What a pass leaves on a block's worker: the new ``W_b`` and its share.

    An opaque object (not a tuple), so that no scheduler looks inside it
    for keys; the share travels on alone (:func:`_share_of`), ``W_b`` stays.
    """

    __slots__ = ("W", "share")

    def __init__(self, W, share):
        self.W = W
        self.share = share

    def __sizeof__(self):  # what dask's memory accounting sees
        return object.__sizeof__(self) + self.W.nbytes


def _factor(state):
    """The ``W`` block of a block's state: a pass's :class:`_State` or ``W_b``."""
    return state.W if isinstance(state, _State) else state


def _share_of(state):
    return state.share


def _on_block(Xb, *states, task, static, nan_blocks, check, args, block_info=None):
    """``task(X_b, [state_b], info, *args)``: the task of one block.

    Run by :func:`dask.array.map_blocks` over ``X``, so that the layers that
    produce a block of ``X`` (reading it from disk, evaluating an
    expression) are fused into this task: the block exists only while its
    task runs, never as a separate result the scheduler keeps.
    """
    loc = block_info[0]
    i = loc["chunk-location"][0]
    r0, r1 = loc["array-location"][0]
    whom, allow_missing, beta, dtype = static
    masked = True if nan_blocks is None else (i in nan_blocks)
    info = (i, (r0, r1), whom, allow_missing, beta, dtype, check, masked)
    return task(Xb, *states, info, *args)


def _w_out(state, transposed):
    W = _factor(state)
    return W.T if transposed else W


def _sum_shares(*shares):
    """Add the partial sums of several blocks (one node of the tree)."""
    out = {}
    for share in shares:
        for key, value in share.items():
            if value is None:
                out.setdefault(key, None)
            elif key == "nan_blocks":
                out[key] = out.get(key, frozenset()) | value
            elif out.get(key) is None:
                out[key] = value.copy() if isinstance(value, np.ndarray) else value
            else:
                out[key] = out[key] + value
    return out


def _n_observed(Xb, observed):
    return Xb.shape[0] * Xb.shape[1] if observed is None else int(observed.sum())


def _stats_block(Xb, info):
    """First look at a block: checks, sum and number of observed entries."""
    Xb, observed, has_nan = _prepare_block(Xb, info)
    if sp.issparse(Xb):
        total = float(Xb.data.sum(dtype=np.float64))
    else:
        total = float(Xb.sum(dtype=np.float64))
    return {"sum": total, "count": _n_observed(Xb, observed),
            "nan_blocks": frozenset([info[0]]) if has_nan else frozenset()}


def _random_block(block_info=None, *, k, seeds, scale, wdtype, transposed):
    """``|N(0, scale^2)|`` entries, drawn from the block's own stream."""
    r0, r1 = block_info[None]["array-location"][0]
    n_rows = r1 - r0
    rng = np.random.RandomState(seeds[block_info[None]["chunk-location"][0]])
    W = rng.standard_normal(size=(n_rows, k))
    W *= scale  # in place: this runs inside the first pass's block task
    np.abs(W, out=W)
    W = W.astype(wdtype, copy=False)
    return np.ascontiguousarray(W.T) if transposed else W


def _full_block(block_info=None, *, k, value, wdtype):
    r0, r1 = block_info[None]["array-location"][0]
    return np.full((r1 - r0, k), value, dtype=wdtype)


def _user_block(Wb, *, whom, wdtype, k, transposed, block_info=None):
    """A block of the user's ``W``, checked, in the solver's layout."""
    i = block_info[0]["chunk-location"][0]
    r0, r1 = block_info[0]["array-location"][0]
    Wb = np.asarray(Wb, dtype=np.dtype(wdtype))
    if Wb.shape != (r1 - r0, k) or not np.isfinite(Wb).all() or (
            Wb.size and Wb.min() < 0):
        raise ValueError(f"Block {i} of the initial W passed to {whom} (rows {r0} "
                         f"to {r1 - 1}) has shape {Wb.shape} (expected "
                         f"{(r1 - r0, k)}) or negative / non-finite entries.")
    return np.ascontiguousarray(Wb.T) if transposed else np.array(Wb, order="C")


class _Orders:
    """Component orders of a half-step's sweeps under ``shuffle``.

    The first sweep takes the order the client drew (so that a first,
    one-sweep iteration is the in-memory solver's); the inner sweeps draw
    theirs from ``rng``.
    """

    def __init__(self, first, rng):
        self.first, self.rng = first, rng

    def permutation(self, k):
        if self.first is not None:
            order, self.first = self.first, None
            return order
        return self.rng.permutation(k)


def _block_orders(order, i):
    """The orders of block ``i``'s sweeps (``None`` without ``shuffle``)."""
    if order is None:
        return None
    seed = (int(np.dot(order, np.arange(1, len(order) + 1))) * 7919 + i) % (2**31)
    return _Orders(order, np.random.RandomState(seed))


def _hals_block(Xb, Wt_b, info, H, HHt, l1, l2, order, inner, want_terms):
    """HALS half-step on ``W_b`` and the block's share of the ``H`` step.

    ``inner``: at most this many sweeps over ``W_b``, all against the same
    products ``A_b = H X_b^T`` and ``B = H H^T`` (made once per task),
    repeated while a sweep changes ``W_b`` by at least 0.1 times the first
    sweep (the in-memory solver's rule, applied to the block: the rows of
    ``W`` are separate problems). Returns a :class:`_State`: the new ``W_b^T``
    (a new array: tasks must be repeatable) and ``{"A": W_b^T X_b, "B":
    W_b^T W_b or None, "G": per-column Grams or None, "viol": first-sweep
    violation}``.
    """
    Xb, observed, has_nan = _prepare_block(Xb, info)
    Wt = np.array(_factor(Wt_b), dtype=Xb.dtype, order="C")
    k = Wt.shape[0]
    share = {"viol": 0.0, "A": None, "B": None, "G": None,
             "nan_blocks": frozenset([info[0]]) if has_nan else frozenset()}
    if info[6]:
        share["count"] = _n_observed(Xb, observed)
        share["nnz"] = n_nonzero(Xb) if observed is None else int(
            np.count_nonzero(Xb))
    rng = _block_orders(order, info[0])
    if observed is None:
        # the product cost is not used here: no need to count a dense
        # block's non-zeros at every pass (4 ms of a 40 ms task at 80 MB)
        prod = _ExactProducts(Xb, nnz=share.get("nnz", Xb.shape[0] * Xb.shape[1]))
        A = prod.AW(H, None)  # (k, rows): a new array, scaled in place
        B = np.array(HHt, dtype=Xb.dtype, order="C")  # shared by the tasks
        _fold_penalties(A, B, l1, l2)
        buf = _Buffers(k, Wt.shape[1], Wt.dtype)
        share["viol"] = _half(Wt, A, B, buf, rng, inner, False)[0]
        del A, buf
        if want_terms:
            share["A"] = np.ascontiguousarray(prod.AH(Wt, None))
            share["B"] = np.dot(Wt, Wt.T)
        return _State(Wt, share)
    W = np.ascontiguousarray(Wt.T)
    share["viol"] = _masked_half(Xb, W, H, observed, l1, l2, rng, inner)
    Wt = np.ascontiguousarray(W.T)
    if want_terms:
        # the columns' problems of the H step: a_j = W^T (m_j x_j), G_j =
        # W^T diag(m_j) W, added over row chunks of the block
        n, k = Xb.shape[1], W.shape[1]
        A = np.zeros((n, k), dtype=W.dtype)
        G = np.zeros((n, k, k), dtype=W.dtype)
        step = max(1, _GRAM_BUDGET // max(1, k * k))
        for s in range(0, W.shape[0], step):
            e = min(W.shape[0], s + step)
            problems = _RowProblems(Xb[s:e].T, Wt[:, s:e], observed[s:e].T)
            a, g = problems.get(0, n)
            A += a
            G += g
        share["A"] = np.ascontiguousarray(A.T)
        share["G"] = G
    return _State(Wt, share)


def _mu_block(Xb, W_b, info, H, beta, l1, l2, gamma, want_terms, want_err):
    """Multiplicative update of ``W_b`` and the block's share of the ``H`` step.

    With ``want_err`` the block's divergence at the incoming ``(W_b, H)`` is
    returned too (the stopping rule's check, fused into the pass).
    """
    Xb, observed, has_nan = _prepare_block(Xb, info)
    share = {"nan_blocks": frozenset([info[0]]) if has_nan else frozenset(),
             "err": None, "num": None, "den": None}
    if info[6]:
        share["count"] = _n_observed(Xb, observed)
    W_b = _factor(W_b)
    if want_err:
        share["err"] = beta_divergence(Xb, W_b, H, beta, observed=observed)
    W = np.array(W_b, dtype=Xb.dtype, order="C")
    mu_update_W(Xb, W, H, beta, l1=l1, l2=l2, gamma=gamma, observed=observed)
    if beta < 1:
        W[W < _EPS64] = 0.0
    if want_terms:
        share["num"], share["den"] = mu_terms_H(Xb, W, H, beta, observed=observed)
    return _State(W, share)


def _error_block(Xb, W_b, info, H, beta, transposed):
    Xb, observed, _ = _prepare_block(Xb, info)
    W = _w_out(W_b, transposed)
    return {"err": beta_divergence(Xb, W, H, beta, observed=observed)}


def _nnls_block(Xb, H, l1, l2, info=None, block_info=None):
    """Exact NNLS coefficients of one block (Frobenius ``transform``)."""
    i = block_info[0]["chunk-location"][0] if block_info else 0
    r0, r1 = block_info[0]["array-location"][0] if block_info else (0, Xb.shape[0])
    info = (i, (r0, r1)) + info[2:]
    Xb, observed, _ = _prepare_block(Xb, info)
    return nnls(Xb, H, observed=observed, l1=l1, l2=l2)


# --------------------------------------------------------------------------
# the client side
# --------------------------------------------------------------------------
def _active_client(dask):
    """The ``distributed.Client`` dask computes on now, or ``None``."""
    if "distributed" not in sys.modules:
        return None
    from distributed import Client

    client = getattr(dask.base.get_scheduler(), "__self__", None)
    return client if isinstance(client, Client) else None


def _block_keys(key, n_blocks):
    """The row-block index a task key of a row-blocked array names, or ``None``."""
    if (isinstance(key, tuple) and len(key) >= 2 and isinstance(key[0], str)
            and isinstance(key[1], int) and 0 <= key[1] < n_blocks):
        return key[1]
    return None


class _Tracker:
    """Keys started and finished by a local scheduler (to name a failed block)."""

    def __init__(self, dask):
        from dask.callbacks import Callback

        self.started, self.done = set(), set()
        self.callback = Callback(pretask=lambda key, dsk, state: self.started.add(key),
                                 posttask=lambda key, *args: self.done.add(key))

    def running(self, n_blocks):
        found = (_block_keys(k, n_blocks) for k in self.started - self.done)
        return sorted({i for i in found if i is not None})


class _Runner:
    """Runs passes over the blocks on whatever scheduler is active.

    A pass is one :func:`dask.array.map_blocks` over ``X`` (and the blocks'
    states ``W_b``), so that what produces a block of ``X`` is fused into the
    block's task; its outputs are persisted (``W_b`` stays where it was
    computed) and only the blocks' small shares are reduced and gathered.
    """

    def __init__(self, blocks):
        self.dask, self.da = _import_dask()
        self.blocks = blocks
        self.n_passes = 0
        self.client = _active_client(self.dask)
        # The local threaded scheduler runs several block tasks at once in
        # this process: one BLAS thread each, or they oversubscribe the cores
        # (10x slower on a loaded 2-core machine). Worker processes of
        # distributed already get one BLAS thread per worker thread.
        import dask.threaded

        scheduler = self.dask.base.get_scheduler()  # None: the array default, threads
        self.limit_blas = self.client is None and scheduler in (None, dask.threaded.get)
        self.meta = np.empty((0, 0), dtype=object)

    def _name(self, prefix, *parts):
        """``prefix-<hash of parts>``: a layer name (``map_blocks(name=)``).

        ``name=`` rather than ``token=``, which dask 2024.12 to 2025.x
        deprecated with a FutureWarning (later releases accept both).
        """
        return f"{prefix}-{self.dask.base.tokenize(*parts)}"

    def initial(self, func, **kwargs):
        """Blocks' first states, made on the workers by ``func(block_info=)``."""
        chunks = self.blocks.X.chunks
        return self.da.map_blocks(func, chunks=chunks, dtype=object, meta=self.meta,
                                  name=self._name("nmfkit-init", func, chunks, kwargs),
                                  **kwargs)

    def from_W(self, W, **kwargs):
        """Blocks' first states from a dask ``W`` chunked like ``X``'s rows."""
        chunks = self.blocks.X.chunks
        return W.map_blocks(_user_block, chunks=chunks, dtype=object, meta=self.meta,
                            name=self._name("nmfkit-user-w", W, chunks, kwargs),
                            **kwargs)

    def reduce(self, shares):
        delayed = self.dask.delayed
        while len(shares) > 1:
            shares = [delayed(_sum_shares, pure=True)(*shares[i:i + _SPLIT_EVERY])
                      for i in range(0, len(shares), _SPLIT_EVERY)]
        return shares[0]

    def run(self, func, states, args, *, check=False, returns_w=True):
        """One pass: ``func(X_b, [state_b], info, *args)`` on every block.

        ``states`` is ``None`` or a list holding the blocks' states (a dask
        array of :class:`_State` / ``W_b``); the pass takes it out of the list,
        so that, on a cluster, each old ``W_b`` is released as soon as its
        block's task has run (a caller that needs the old states keeps its
        own reference). Returns the new states (persisted; ``None`` unless
        ``returns_w``) and the reduced shares.
        """
        da, dask = self.da, self.dask
        bl = self.blocks
        ins = [bl.X] if states is None else [bl.X, states.pop()]
        # on a cluster: the old W_b, held here until their block's new task
        # has run, then released one by one (not all at the end of the pass)
        old = self._futures_by_block(ins[1]) if len(ins) > 1 else {}
        token = "nmfkit-" + func.__name__.strip("_").replace("_", "-")
        # The annotation keeps dask's blockwise optimisation from merging the
        # last layers of X (e.g. the `+` of an expression) into the block task:
        # merged, their inputs stay referenced for the whole task. Instead
        # _block_tasks folds X's layers in as separate steps, each freed after
        # its last use. No worker annotations: the scheduler places a block's
        # task where most of its input bytes are (X_b when X is persisted,
        # else the previous W_b), so W_b stays beside X_b without them.
        kwargs = dict(task=func, static=bl.static, nan_blocks=bl.nan_blocks,
                      check=check, args=tuple(args))
        with dask.annotate(nmfkit_pass=token):
            out = da.map_blocks(_on_block, *ins, chunks=bl.X.chunks, dtype=object,
                                meta=self.meta, name=self._name(token, *ins, kwargs),
                                **kwargs)
        del ins
        name, chunks = out.name, out.chunks
        parts = _block_tasks(out)
        del out
        shares = ([dask.delayed(_share_of, pure=True)(p) for p in parts]
                  if returns_w else parts)
        total = self.reduce(shares)
        del shares
        tracker = None if self.client is not None else _Tracker(dask)
        persisted = None
        try:
            with (threadpool_limits(1, user_api="blas") if self.limit_blas
                  else contextlib.nullcontext()), (
                    tracker.callback if tracker else contextlib.nullcontext()):
                persisted = dask.persist(*parts, total)
                del parts, total  # their graphs hold the old W_b
                if old:
                    self._release_as_done(persisted[:-1], old)
                result = dask.compute(persisted[-1])[0]
        except _BlockValueError:
            raise
        except Exception as exc:
            i = self._failed_block(persisted, tracker)
            if i is None:
                raise
            r0, r1 = bl.bounds[i]
            raise RuntimeError(
                f"Block {i} of the dask array passed to {bl.whom} (input X, rows "
                f"{r0} to {r1 - 1}) could not be computed: {type(exc).__name__}: "
                f"{exc}. The estimator's attributes were not changed.") from exc
        self.n_passes += 1
        if result.get("count", 1) == 0 and bl.shape[0] * bl.shape[1] > 0:
            raise ValueError(
                f"Input X (a dask array) passed to {bl.whom} contains only NaN: "
                "every entry is missing, there is nothing to fit. Check how X "
                "was built or read.")
        if bl.nan_blocks is None and "nan_blocks" in result:
            bl.nan_blocks = result["nan_blocks"]
        if not returns_w:
            return None, result
        graph = {}
        for p in persisted[:-1]:
            graph.update(dict(p.__dask_graph__()))
        return da.Array(graph, name, chunks, meta=self.meta), result

    def _futures_by_block(self, states):
        """``{block: future}`` of persisted states on a cluster (else empty)."""
        if self.client is None:
            return {}
        from distributed import futures_of

        n = len(self.blocks.bounds)
        found = ((_block_keys(f.key, n), f) for f in futures_of(states))
        return {i: f for i, f in found if i is not None}

    def _release_as_done(self, persisted, old):
        """Drop each old ``W_b`` once the new task of its block has finished."""
        from distributed import as_completed, futures_of

        n = len(self.blocks.bounds)
        new = {f: _block_keys(f.key, n) for p in persisted for f in futures_of(p)}
        for future in as_completed(list(new)):
            old.pop(new[future], None)
        old.clear()

    def _failed_block(self, persisted, tracker):
        """The block whose task failed in a pass (``None`` when unknown)."""
        n = len(self.blocks.bounds)
        if tracker is None:  # distributed: the block's own result erred
            if persisted is None:
                return None
            from distributed import futures_of, wait

            futures = [f for p in persisted[:-1] for f in futures_of(p)]
            with contextlib.suppress(Exception):
                wait(futures, timeout=30, return_when="FIRST_EXCEPTION")
            erred = [_block_keys(f.key, n) for f in futures if f.status == "error"]
            erred = sorted(i for i in erred if i is not None)
            return erred[0] if erred else None
        # a local scheduler says which tasks were running, not which failed:
        # compute the candidate blocks of X alone, in this thread
        for i in tracker.running(n):
            try:
                self.dask.compute(self.blocks.X.blocks[i], scheduler="sync")
            except Exception:
                return i
        return None

    def as_array(self, states, k, transposed):
        bl = self.blocks
        return states.map_blocks(_w_out, transposed, chunks=(bl.X.chunks[0], (k,)),
                                 dtype=bl.dtype,
                                 meta=np.empty((0, 0), dtype=bl.dtype))


def _block_tasks(out):
    """The blocks of a row-blocked map over ``X`` as delayed objects, one task each.

    The graph is optimised as :meth:`dask.array.Array.to_delayed` does (but
    without dask's linear fusion: a fused chain holds its outside inputs for
    its whole run, e.g. the two operands of an expression's `+` while the
    block task runs), then every task that only one block task needs
    (transitively: reading the block, the layers of an expression that Dask
    does not fuse, such as its random sources and its matrix products) is
    folded into that block task (:func:`_fold_sources`). So a block of ``X``
    and the pieces it is made of exist only inside its task: the scheduler
    neither holds them between tasks nor moves them between workers.
    ``out``'s own layer should carry an annotation, so that dask's blockwise
    optimisation does not merge ``X``'s last layer into it.
    """
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    graph, keys = _optimized_graph(out)
    graph = _fold_sources(graph, keys)
    layer = f"delayed-{out.name}"
    hlg = HighLevelGraph.from_collections(layer, graph, dependencies=())
    return [Delayed(k, hlg, layer=layer) for k in keys]


def _optimized_graph(out):
    """``out``'s graph as a dict, optimised without dask's linear fusion, and its keys."""
    import dask

    keys = [k for row in out.__dask_keys__() for k in row]  # (i, 0) per block
    with dask.config.set({"optimization.fuse.active": False}):
        graph = out.__dask_optimize__(out.__dask_graph__(), keys)
    return dict(graph), keys


def _fold_sources(graph, outputs):
    """Fold into each of ``outputs`` the tasks only it needs; a new graph dict.

    A task is folded into output ``o`` when every task that depends on it is
    ``o`` or already folded into ``o``. Tasks several outputs share (``H``,
    a block of a source that two blocks read) stay separate, and so do
    data and persisted results (only tasks and aliases are folded). The
    folded task runs its subgraph in order and frees each intermediate
    after its last use (``Task.fuse``, dask 2024.12 and later: the
    minimum of the ``dask`` extra).
    """
    from dask._task_spec import Alias, Task, convert_legacy_graph

    graph = convert_legacy_graph(graph)
    deps = {key: set(node.dependencies) & graph.keys() for key, node in graph.items()}
    dependents = {key: set() for key in graph}
    for key, ds in deps.items():
        for d in ds:
            dependents[d].add(key)
    out_set = set(outputs)
    folded = {}
    for o in outputs:
        owned, stack, reached = {o}, [o], {}
        while stack:  # d is owned once all its dependents are (each edge seen once)
            for d in deps[stack.pop()]:
                reached[d] = reached.get(d, 0) + 1
                if (reached[d] == len(dependents[d]) and d not in out_set
                        and d not in folded and isinstance(graph[d], (Task, Alias))):
                    owned.add(d)
                    stack.append(d)
        if len(owned) > 1:
            folded.update(dict.fromkeys(owned - {o}, o))
            graph[o] = Task.fuse(*(graph[k] for k in owned), key=o)
    return {key: node for key, node in graph.items() if key not in folded}


def _observed_mean(runner):
    stats = runner.run(_stats_block, None, (), check=True, returns_w=False)[1]
    return stats["sum"] / stats["count"] if stats["count"] else 0.0


def _initial_W(runner, est, W, k, init, rng, avg, transposed):
    """The blocks' initial states ``W_b`` (in the solver's layout)."""
    bl = runner.blocks
    da = runner.da
    dt = bl.dtype
    if init == "custom":
        if isinstance(W, da.Array):
            if W.shape != (bl.shape[0], k):
                raise ValueError(
                    f"Array with wrong shape passed to {bl.whom} (input W): "
                    f"expected {(bl.shape[0], k)}, got {W.shape}.")
            W = W.rechunk((bl.X.chunks[0], (k,)))
        else:
            W = check_factor(W, (bl.shape[0], k), f"{bl.whom} (input W)", dt)
            W = da.from_array(W, chunks=(bl.X.chunks[0], (k,)))
        return runner.from_W(W, whom=bl.whom, wdtype=dt.str, k=k,
                             transposed=transposed)
    scale = np.sqrt(avg / k)
    seeds = tuple(int(s) for s in rng.randint(0, 2**31 - 1, size=len(bl.bounds)))
    return runner.initial(_random_block, k=k, seeds=seeds, scale=scale,
                          wdtype=dt.str, transposed=transposed)


def _inner_budgets(shape, k, nnz, masked, accelerate):
    """Inner sweeps of the ``W`` and ``H`` half-steps: ``fit_hals``'s choice.

    The core's cost model on the whole ``X`` (shape, non-zeros), as in
    memory (:func:`~nmfkit._core.hals.inner_budgets`); with missing values
    the masked solver's :data:`_MASKED_INNER`.
    """
    if not accelerate:
        return 1, 1
    if masked:
        return _MASKED_INNER, _MASKED_INNER
    return inner_budgets(shape, k, nnz)


def _fit_hals(runner, Wt_blocks, H, *, tol, max_iter, l1_W, l2_W, l1_H, l2_H,
              shuffle, random_state, verbose, accelerate=True):
    """HALS over the blocks: ``fit_hals(compress=False, extrapolate=False)``.

    One pass over ``X`` per iteration, as in the plain solver; with
    ``accelerate`` each half-step repeats its sweeps on the products it has
    (``W_b`` in its block's task, ``H`` on the client from the reduced
    shares) by the in-memory solver's rule, and the stopping threshold is
    its stricter one. The first iteration is plain (one sweep each), as in
    memory. From the same start the iterates are ``fit_hals``'s when the
    blocks stop their inner ``W`` sweeps where the whole ``W`` would (always
    with one block; see the tests).
    """
    k, n = H.shape
    rng = check_random_state(random_state)
    state = {"W": Wt_blocks, "H": H, "inner": (1, 1)}
    buf_H = _Buffers(k, n, H.dtype)

    def iteration(first):
        H = state["H"]
        inner_W, inner_H = (1, 1) if first else state["inner"]
        order_W = rng.permutation(k) if shuffle else None
        # the old states are released block by block during the pass
        old = [state.pop("W")]
        state["W"], s = runner.run(
            _hals_block, old, (H, np.dot(H, H.T), l1_W, l2_W, order_W, inner_W,
                               True), check=first)
        if first:
            state["inner"] = _inner_budgets(runner.blocks.shape, k, s["nnz"],
                                            bool(runner.blocks.nan_blocks),
                                            accelerate)
        v = s["viol"]
        order_H = rng.permutation(k) if shuffle else None
        orders_H = None if order_H is None else _Orders(order_H, rng)
        H = H.copy()
        if s["G"] is None:
            # the reduced shares are the in-memory products W^T X, W^T W
            A, B = s["A"].copy(), s["B"].copy()
            _fold_penalties(A, B, l1_H, l2_H)
            v += _half(H, A, B, buf_H, orders_H, inner_H, False)[0]
        else:
            G = s["G"] if s["B"] is None else s["G"] + s["B"][None]
            Ht = np.ascontiguousarray(H.T)
            order = np.arange(k) if order_H is None else order_H
            v += _batched_cd(Ht, np.ascontiguousarray(s["A"].T), G, l1_H, l2_H,
                             order, inner_H, eps2=_INNER_EPS2,
                             rng=rng if shuffle else None)[0]
            H = np.ascontiguousarray(Ht.T)
        state["H"] = H
        return v

    violation_init = iteration(True)
    n_iter = 1
    if verbose:
        print(f"HALS (dask) iteration 1: violation {violation_init:.6g}")
    if not (violation_init == 0.0 or tol >= 1.0):
        threshold = (_TOL_FACTOR if accelerate else 1.0) * tol * violation_init
        while n_iter < max_iter:
            n_iter += 1
            v = iteration(False)
            if verbose:
                print(f"HALS (dask) iteration {n_iter}: {v / violation_init:.6g}")
            if v <= threshold:
                break
    return state["W"], state["H"], n_iter


def _fit_mu(runner, W_blocks, H, *, beta, tol, max_iter, l1_W, l2_W, l1_H, l2_H,
            update_H, verbose):
    """Multiplicative updates over the blocks: ``fit_mu``'s iterates.

    The divergence of the stopping rule (every 10 iterations) is computed in
    the next pass over the blocks, at the incoming factors; when it stops
    the fit, the factors of that check are returned and the pass's new
    ``W`` is dropped. Returns ``W`` blocks, ``H``, ``n_iter`` and the
    divergence at the returned factors when known (else ``None``).
    """
    gamma = mu_gamma(beta)
    W_cur, H_cur = W_blocks, H
    scale = previous = None
    n_iter = 0
    for n_iter in range(1, max_iter + 2):
        checking = n_iter - 1 > 0 and (n_iter - 1) % 10 == 0 and tol > 0
        if n_iter == max_iter + 1 and not checking:
            n_iter = max_iter
            break
        want_err = n_iter == 1 or checking
        # W_cur is kept when this pass checks the stopping rule (the fit may
        # end at the incoming factors); otherwise released during the pass
        old = [W_cur]
        if not want_err:
            W_cur = None
        W_new, s = runner.run(
            _mu_block, old, (H_cur, beta, l1_W, l2_W, gamma, update_H, want_err),
            check=n_iter == 1)
        if want_err:
            error = float(np.sqrt(2.0 * max(s["err"], 0.0)))
            if n_iter == 1:
                scale = error if error > 0 else 1.0
                previous = error
            else:
                if verbose:
                    print(f"MU (dask) iteration {n_iter - 1}: error {error:.6g}")
                if (previous - error) / scale < tol or n_iter == max_iter + 1:
                    return W_cur, H_cur, n_iter - 1, s["err"]
                previous = error
        W_cur = W_new
        if update_H:
            H_cur = mu_apply(H_cur.copy(), s["num"], s["den"], l1=l1_H, l2=l2_H,
                             gamma=gamma)
            if beta <= 1:
                H_cur[H_cur < _EPS64] = 0.0
    return W_cur, H_cur, n_iter, None


def _divergence(runner, w_blocks, H, beta, transposed):
    s = runner.run(_error_block, [w_blocks], (H, beta, transposed),
                   returns_w=False)[1]
    return s["err"]


def _setup(est, X):
    whom = type(est).__name__
    if not hasattr(est, "solver"):
        raise TypeError(f"{whom} does not accept Dask arrays; use nmfkit.NMF, whose "
                        "fit runs on Dask arrays partitioned by rows.")
    allow_missing = est._check_missing_values()
    X = _check_dask_X(X, whom)
    return X, whom, allow_missing


def _refuse_container_output(est, method):
    """``set_output(transform="pandas"/"polars")`` would compute all of ``W``."""
    try:
        from sklearn.utils._set_output import _get_output_config

        dense = _get_output_config("transform", est)["dense"]
    except (ImportError, KeyError, TypeError):  # private API of scikit-learn
        dense = "default"
    if dense != "default":
        raise ValueError(
            f"{type(est).__name__}.{method} received a Dask array while "
            f"set_output(transform={dense!r}) is active: wrapping the result in a "
            f"{dense} DataFrame would compute all of W into memory. Use "
            "set_output(transform='default') to get W as a Dask array (chunked "
            "like X), then e.g. W.to_dask_dataframe(columns="
            "est.get_feature_names_out()) for a Dask DataFrame.")


def fit_transform_dask(est, X, W=None, H=None, mask=None, returns_W=True):
    """:meth:`NMF.fit_transform` for a Dask array (see the module notes).

    Sets the fitted attributes of ``est`` only once the fit has succeeded,
    and returns ``W`` as a Dask array chunked like ``X`` (its blocks are
    the persisted ones of the fit); ``returns_W=False`` (``fit``): returns
    ``None``, and a pandas / polars ``set_output`` is allowed.
    """
    if returns_W:
        _refuse_container_output(est, "fit_transform")
    X, whom, allow_missing = _setup(est, X)
    if mask is not None:
        raise ValueError(f"mask is not supported by {whom} with a Dask array: NaN "
                         "entries of dense blocks are the missing ones.")
    est._check_params(X)
    beta = est._beta_loss
    n_samples, n_features = X.shape
    if est.init == "custom":
        H = check_factor(H, (est._n_components if est._n_components != "auto"
                             else "auto", n_features), f"{whom} (input H)",
                         np.dtype(X.dtype if X.dtype in (np.float32, np.float64)
                                  else np.float64))
        if est._n_components == "auto":
            est._n_components = H.shape[0]
        init = "custom"
    else:
        if W is not None or H is not None:
            warnings.warn("When init!='custom', provided W or H are ignored. Set "
                          " init='custom' to use them as initialization.",
                          RuntimeWarning)
        if est._n_components == "auto":
            est._n_components = n_features
        init = "random" if est.init is None else est.init
        if init != "random":
            raise ValueError(
                f"init={est.init!r} needs an SVD of the whole X; on a Dask array "
                f"{whom} supports init='random' (the default there) or "
                "init='custom' with your own W and H.")
    k = int(est._n_components)
    runner = _Runner(_Blocks(X, whom, allow_missing, beta))
    dt = runner.blocks.dtype
    hals = est.solver == "cd"
    rng = check_random_state(est.random_state)
    avg = None
    if init == "random":
        avg = _observed_mean(runner)
        scale = np.sqrt(avg / k)
        H = np.abs(scale * rng.standard_normal(size=(k, n_features))).astype(dt)
    W_blocks = _initial_W(runner, est, W, k, init, rng, avg, transposed=hals)
    H = np.ascontiguousarray(H, dtype=dt)
    l1_W, l1_H, l2_W, l2_H = est._compute_regularization(X)
    err = None
    if hals:
        W_blocks, H, n_iter = _fit_hals(
            runner, W_blocks, H, tol=est.tol, max_iter=est.max_iter, l1_W=l1_W,
            l2_W=l2_W, l1_H=l1_H, l2_H=l2_H, shuffle=est.shuffle,
            random_state=est.random_state, verbose=est.verbose,
            accelerate=_ACCELERATE)
    else:
        W_blocks, H, n_iter, err = _fit_mu(
            runner, W_blocks, H, beta=beta, tol=est.tol, max_iter=est.max_iter,
            l1_W=l1_W, l2_W=l2_W, l1_H=l1_H, l2_H=l2_H, update_H=True,
            verbose=est.verbose)
    if err is None:
        err = _divergence(runner, W_blocks, H, beta, transposed=hals)
    if n_iter == est.max_iter and est.tol > 0:
        warnings.warn(f"Maximum number of iterations {est.max_iter} reached. "
                      "Increase it to improve convergence.", ConvergenceWarning)
    W_out = runner.as_array(W_blocks, k, transposed=hals) if returns_W else None
    # everything computed: now the estimator changes
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.n_features_in_ = n_features
    est.reconstruction_err_ = float(np.sqrt(2.0 * max(err, 0.0)))
    est.n_components_ = H.shape[0]
    est.components_ = H
    est.n_iter_ = n_iter
    est._dask_passes = runner.n_passes
    return W_out


def transform_dask(est, X, mask=None):
    """:meth:`NMF.transform` for a Dask array: ``W`` chunked like ``X``.

    Frobenius loss: lazy, block by block (each row's exact NNLS does not
    depend on the other rows). Other losses: the multiplicative updates of
    the in-memory ``transform`` with ``H`` fixed, run over the blocks with
    the same global stopping rule (computed when called).
    """
    _refuse_container_output(est, "transform")
    X, whom, allow_missing = _setup(est, X)
    if mask is not None:
        raise ValueError(f"mask is not supported by {whom} with a Dask array: NaN "
                         "entries of dense blocks are the missing ones.")
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {whom} is expecting "
            f"{est.n_features_in_} features as input.")
    beta = est._beta_loss
    blocks = _Blocks(X, whom, allow_missing, beta)
    H = est.components_.astype(blocks.dtype, copy=False)
    k = H.shape[0]
    l1_W, _, l2_W, _ = est._compute_regularization(X)
    if beta == 2:
        info = blocks.info(0, True)
        return X.map_blocks(_nnls_block, H, l1_W, l2_W, info=info,
                            chunks=(X.chunks[0], (k,)), dtype=blocks.dtype,
                            meta=np.empty((0, 0), dtype=blocks.dtype))
    runner = _Runner(blocks)
    avg = np.sqrt(max(_observed_mean(runner), _EPS) / k)
    W_blocks = runner.initial(_full_block, k=k, value=avg, wdtype=blocks.dtype.str)
    W_blocks, _, _, _ = _fit_mu(
        runner, W_blocks, H, beta=beta, tol=est.tol,
        max_iter=est._transform_max_iter(), l1_W=l1_W, l2_W=l2_W, l1_H=0.0,
        l2_H=0.0, update_H=False, verbose=0)
    return runner.as_array(W_blocks, k, transposed=False)
