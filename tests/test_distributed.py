"""Tests of nmfkit.distributed: NMF on Dask arrays partitioned by rows.

The Dask fit from a given initialisation must equal the in-memory solver
(``fit_hals(compress=False, extrapolate=False)``, accelerated where the blocks
stop their inner sweeps where the whole ``W`` would, and plain with the
module's ``_ACCELERATE`` off; ``fit_mu``) up to the rounding of the block
sums; ``X`` must never be gathered; a real
``LocalCluster`` must survive a killed worker; NMFk must choose the same rank
through joblib's Dask backend.
"""

import builtins
import os
import signal
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

da = pytest.importorskip("dask.array", reason="dask is an optional extra (nmfkit[dask])")
import dask  # noqa: E402

from nmfkit import NMF  # noqa: E402
from nmfkit import distributed as nd  # noqa: E402
from nmfkit._core.hals import fit_hals  # noqa: E402
from nmfkit._core.losses import beta_divergence  # noqa: E402
from nmfkit._core.mu import fit_mu  # noqa: E402

RTOL = 1e-9


@pytest.fixture(autouse=True)
def _threads(request):
    # the cluster's tests run on its client (a scheduler set here would win)
    scheduler = None if "cluster" in request.fixturenames else "threads"
    with dask.config.set(scheduler=scheduler), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def planted(m=400, n=30, k=4, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    W = rng.exponential(size=(m, k)) * (rng.random((m, k)) < 0.6)
    H = rng.exponential(size=(k, n)) * (rng.random((k, n)) < 0.5)
    X = W @ H + 0.01 * rng.random((m, n))
    if sparse:
        X[X < np.quantile(X, 0.5)] = 0
        return sp.csr_matrix(X)
    return X


def start(X, k, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((X.shape[0], k)) + 0.1, rng.random((k, X.shape[1])) + 0.1


@pytest.fixture
def plain_hals(monkeypatch):
    """The Dask HALS path with one sweep per half-step (the plain iterates)."""
    monkeypatch.setattr(nd, "_ACCELERATE", False)


def in_memory(X, W, H, solver, beta, tol, max_iter, observed=None, accelerate=False):
    W, H = W.copy(), H.copy()
    if solver == "cd":
        W, H, n_iter = fit_hals(X, W, H, tol=tol, max_iter=max_iter,
                                observed=observed, accelerate=accelerate,
                                compress=False, extrapolate=False)
    else:
        W, H, n_iter = fit_mu(X, W, H, beta=beta, tol=tol, max_iter=max_iter,
                              observed=observed)
    err = beta_divergence(X, W, H, beta, observed=observed, square_root=True)
    return W, H, n_iter, err


def assert_close(a, b, rtol=RTOL):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("solver, beta", [("cd", 2), ("mu", 1)],
                         ids=["frobenius", "kl"])
def test_dask_fit_equals_in_memory_fit(sparse, solver, beta, plain_hals):
    X = planted(sparse=sparse)
    k = 4
    W0, H0 = start(X, k)
    tol = 1e-3 if solver == "cd" else 1e-3
    Wr, Hr, n_ref, err_ref = in_memory(X, W0, H0, solver, beta, tol, 200)
    assert 1 < n_ref < 200  # the stopping rule ends both fits
    Xd = da.from_array(X, chunks=(90, -1), asarray=False)  # 5 uneven blocks
    est = NMF(k, init="custom", solver=solver, beta_loss=beta, tol=tol, max_iter=200)
    Wd = est.fit_transform(Xd, W=W0, H=H0)
    assert isinstance(Wd, da.Array) and Wd.chunks == (Xd.chunks[0], (k,))
    assert isinstance(est.components_, np.ndarray)
    assert isinstance(est.reconstruction_err_, float)
    assert est.n_iter_ == n_ref
    assert_close(est.components_, Hr)
    assert_close(Wd.compute(), Wr)
    assert est.reconstruction_err_ == pytest.approx(err_ref, rel=RTOL)
    assert est.n_features_in_ == X.shape[1]
    # the same estimator then fits in memory as before
    assert np.isfinite(NMF(k, init="custom", solver=solver, beta_loss=beta,
                           max_iter=5).fit(X, W=W0, H=H0).components_).all()


@pytest.mark.parametrize("solver, beta", [("cd", 2), ("mu", 1)],
                         ids=["frobenius", "kl"])
def test_nan_entries_of_dense_blocks_are_missing(solver, beta, plain_hals):
    X = planted(m=300)
    rng = np.random.default_rng(3)
    nan = rng.random(X.shape) < 0.1
    nan[:100] = False  # the first block has no NaN: the unmasked path there
    Xn = np.where(nan, np.nan, X)
    W0, H0 = start(X, 4)
    Wr, Hr, n_ref, err_ref = in_memory(np.where(nan, 0, X), W0, H0, solver, beta,
                                       1e-3, 100, observed=~nan)
    est = NMF(4, init="custom", solver=solver, beta_loss=beta, tol=1e-3,
              max_iter=100)
    Wd = est.fit_transform(da.from_array(Xn, chunks=(100, -1)), W=W0, H=H0)
    assert est.n_iter_ == n_ref
    assert_close(est.components_, Hr, rtol=1e-7)
    assert_close(Wd.compute(), Wr, rtol=1e-7)
    assert est.reconstruction_err_ == pytest.approx(err_ref, rel=1e-7)


def tiled(reps=4, sparse=False, seed=0):
    """``X`` and a start made of ``reps`` copies of one block of rows.

    Every block of a Dask array chunked by that block is then the same
    problem, so its inner ``W`` sweeps stop where those of the whole ``W``
    do: the accelerated Dask iterates must be the in-memory ones.
    """
    Xb = planted(m=500, n=50, k=5, seed=seed)
    W0b, H0 = start(Xb, 5, seed=seed + 1)
    X = np.tile(Xb, (reps, 1))
    if sparse:
        X[X < np.quantile(X, 0.5)] = 0
        X = sp.csr_matrix(X)
    return X, np.tile(W0b, (reps, 1)), H0


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_accelerated_dask_fit_equals_accelerated_in_memory_fit(sparse, scheduler):
    X, W0, H0 = tiled(sparse=sparse)
    Wa, Ha, n_acc, err_acc = in_memory(X, W0, H0, "cd", 2, 1e-4, 200,
                                       accelerate=True)
    _, _, n_plain, err_plain = in_memory(X, W0, H0, "cd", 2, 1e-4, 200)
    assert n_acc < n_plain  # the accelerated path is a different one
    with dask.config.set(scheduler=scheduler):
        est = NMF(5, init="custom", tol=1e-4, max_iter=200)
        Wd = est.fit_transform(da.from_array(X, chunks=(500, -1), asarray=False),
                               W=W0, H=H0)
    assert est.n_iter_ == n_acc
    # one pass over X per iteration, as the plain path: the error pass only
    assert est._dask_passes == n_acc + 1
    assert_close(est.components_, Ha, rtol=1e-8)
    assert_close(Wd.compute(), Wa, rtol=1e-8)
    assert est.reconstruction_err_ == pytest.approx(err_acc, rel=1e-9)


def test_accelerated_dask_fit_with_one_block_equals_in_memory():
    X = planted(m=300)
    W0, H0 = start(X, 4)
    Wa, Ha, n_acc, err_acc = in_memory(X, W0, H0, "cd", 2, 1e-4, 200,
                                       accelerate=True)
    est = NMF(4, init="custom", tol=1e-4, max_iter=200)
    Wd = est.fit_transform(da.from_array(X, chunks=(300, -1)), W=W0, H=H0)
    assert est.n_iter_ == n_acc
    assert_close(est.components_, Ha, rtol=1e-8)
    assert_close(Wd.compute(), Wa, rtol=1e-8)


def test_accelerated_dask_fit_on_uneven_blocks_reaches_the_in_memory_loss():
    # the blocks stop their inner sweeps each by itself: other iterates than
    # in memory, but the same loss; plain HALS is far behind at max_iter
    X = planted(m=1000, n=60, k=6, seed=2)
    W0, H0 = start(X, 6)
    _, _, _, err_acc = in_memory(X, W0, H0, "cd", 2, 0, 15, accelerate=True)
    _, _, _, err_plain = in_memory(X, W0, H0, "cd", 2, 0, 15)
    est = NMF(6, init="custom", tol=0, max_iter=15).fit(
        da.from_array(X, chunks=(170, -1)), W=W0, H=H0)
    assert est.reconstruction_err_ == pytest.approx(err_acc, rel=1e-3)
    assert err_plain > 1.01 * err_acc


def test_accelerated_dask_fit_with_missing_values_equals_in_memory():
    X, W0, H0 = tiled(reps=3)
    rng = np.random.default_rng(5)
    nan = np.tile(rng.random((500, X.shape[1])) < 0.1, (3, 1))
    Xn = np.where(nan, np.nan, X)
    Wa, Ha, n_acc, err_acc = in_memory(np.where(nan, 0, X), W0, H0, "cd", 2, 1e-4,
                                       100, observed=~nan, accelerate=True)
    est = NMF(5, init="custom", tol=1e-4, max_iter=100)
    Wd = est.fit_transform(da.from_array(Xn, chunks=(500, -1)), W=W0, H=H0)
    assert est.n_iter_ == n_acc
    assert_close(est.components_, Ha, rtol=1e-7)
    assert_close(Wd.compute(), Wa, rtol=1e-7)
    assert est.reconstruction_err_ == pytest.approx(err_acc, rel=1e-7)


@pytest.mark.parametrize("solver, beta", [("cd", 2), ("mu", 1)],
                         ids=["frobenius", "kl"])
def test_transform_is_chunked_like_X_and_equals_in_memory(solver, beta):
    X = planted(m=300)
    est = NMF(4, init="custom", solver=solver, beta_loss=beta, max_iter=30)
    est.fit(X, W=start(X, 4)[0], H=start(X, 4)[1])
    Xd = da.from_array(X, chunks=(70, -1))
    Wd = est.transform(Xd)
    assert isinstance(Wd, da.Array) and Wd.chunks == (Xd.chunks[0], (4,))
    assert_close(Wd.compute(), est.transform(X), rtol=1e-7)


def test_random_init_fits_planted_data_and_is_reproducible():
    X = planted(m=300, n=25, k=3, seed=4)
    Xd = da.from_array(X, chunks=(60, -1))
    a = NMF(3, random_state=0, max_iter=100).fit(Xd)
    b = NMF(3, random_state=0, max_iter=100).fit(Xd)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.reconstruction_err_ / np.linalg.norm(X) < 0.05
    with pytest.raises(ValueError, match="init='random'"):
        NMF(3, init="nndsvda").fit(Xd)


def test_initial_W_may_be_a_dask_array_chunked_differently():
    X = planted(m=200)
    W0, H0 = start(X, 4)
    Xd = da.from_array(X, chunks=(50, -1))
    ref = NMF(4, init="custom", max_iter=10).fit(Xd, W=W0, H=H0)
    est = NMF(4, init="custom", max_iter=10).fit(
        Xd, W=da.from_array(W0, chunks=(70, 2)), H=H0)
    np.testing.assert_array_equal(est.components_, ref.components_)
    W_bad = W0.copy()
    W_bad[120, 1] = -1.0
    with pytest.raises(ValueError, match="initial W.*rows 100 to 149"):
        NMF(4, init="custom", max_iter=10).fit(Xd, W=da.from_array(W_bad, chunks=70),
                                               H=H0)
    with pytest.raises(ValueError, match="wrong shape"):
        NMF(4, init="custom").fit(Xd, W=da.ones((199, 4)), H=H0)


def test_float32_blocks_stay_float32():
    X = planted(m=200).astype(np.float32)
    W0, H0 = start(X, 4)
    est = NMF(4, init="custom", max_iter=20)
    Wd = est.fit_transform(da.from_array(X, chunks=(50, -1)),
                           W=W0.astype(np.float32), H=H0.astype(np.float32))
    assert est.components_.dtype == np.float32 and Wd.dtype == np.float32
    assert Wd.compute().dtype == np.float32


@pytest.mark.slow
def test_processes_scheduler_gives_the_threads_result():
    from concurrent.futures import ProcessPoolExecutor

    X = planted(m=200)
    W0, H0 = start(X, 4)
    Xd = da.from_array(X, chunks=(100, -1))
    ref = NMF(4, init="custom", max_iter=4, tol=0).fit(Xd, W=W0, H=H0)
    # one pool for the whole fit (dask would start one per pass otherwise)
    with ProcessPoolExecutor(2) as pool, dask.config.set(scheduler="processes",
                                                         pool=pool):
        est = NMF(4, init="custom", max_iter=4, tol=0).fit(Xd, W=W0, H=H0)
    np.testing.assert_array_equal(est.components_, ref.components_)


@pytest.mark.parametrize("beta", [2, 1, 1.5, 0.5])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_mu_terms_of_row_blocks_add_up_to_the_in_memory_step(beta, sparse):
    from nmfkit._core.mu import mu_apply, mu_terms_H, mu_update_H

    X = planted(m=90, sparse=sparse) + (0.1 if beta < 1 and not sparse else 0)
    W, H = start(X, 4)
    W[:30, 2] = 0.0  # a block where a component is absent: its sums are 0
    ref = mu_update_H(X, W, H.copy(), beta, l1=0.1, l2=0.2)
    parts = [mu_terms_H(X[s:s + 30], W[s:s + 30], H, beta) for s in (0, 30, 60)]
    num = sum(p[0] for p in parts)
    den = sum(p[1] for p in parts)
    got = mu_apply(H.copy(), num, den, l1=0.1, l2=0.2)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


# ------------------------------------------------------------ never gathered
class _Block(np.ndarray):
    """A block of X that refuses to be glued to another block."""

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.concatenate, np.vstack, np.block, np.stack):
            raise AssertionError("X was gathered: blocks were concatenated")
        return super().__array_function__(func, types, args, kwargs)


def _guarded(X, rows):
    return da.from_array(X, chunks=(rows, -1)).map_blocks(
        lambda b: b.view(_Block), meta=np.empty((0, 0)).view(_Block))


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_X_is_never_gathered(solver, plain_hals):
    X = planted(m=240)
    Xd = _guarded(X, 60)
    with pytest.raises(AssertionError, match="gathered"):
        Xd.compute()  # the guard catches a gather
    W0, H0 = start(X, 4)
    est = NMF(4, init="custom", solver=solver, beta_loss=2 if solver == "cd" else 1,
              max_iter=12)
    W = est.fit_transform(Xd, W=W0, H=H0)
    Wr, Hr, _, _ = in_memory(X, W0, H0, solver, 2 if solver == "cd" else 1, 1e-4, 12)
    assert_close(est.components_, Hr)
    assert W.numblocks == (4, 1)
    est.transform(Xd).compute()  # a transform does not gather X either
    NMF(4, random_state=0, max_iter=5).fit(Xd)  # nor the random init


def _expression(rows, block_rows, n=8, k=3, seed=0):
    """``W @ H + noise`` with random sources Dask does not fuse into one task."""
    rng = da.random.default_rng(seed)
    H = np.random.default_rng(seed + 1).random((k, n))
    W = rng.random((rows, k), chunks=(block_rows, k))
    return W @ H + rng.random((rows, n), chunks=(block_rows, n))


def _sum_blocks(X):
    """The unfolded graph of a pass summing each block, and its block keys."""
    return nd._optimized_graph(
        X.map_blocks(lambda b: np.full((1, 1), b.sum()), chunks=(1, 1), dtype=float))


def test_each_block_task_owns_the_sources_only_it_needs():
    X = _expression(60, 20)
    graph, keys = _sum_blocks(X)
    assert len(graph) > 2 * len(keys)  # random draws, product, sum: separate
    folded = nd._fold_sources(dict(graph), keys)
    # left: the three block tasks and what all of them share (H)
    assert set(keys) <= folded.keys() and len(folded) <= len(keys) + 2
    deps = {k: set(folded[k].dependencies) for k in folded}
    for key in folded.keys() - set(keys):
        assert sum(key in d for d in deps.values()) == len(keys)
    np.testing.assert_allclose(dask.get(folded, keys), dask.get(graph, keys))


def test_a_source_block_two_blocks_read_stays_a_separate_task():
    source = da.from_array(np.arange(60.0 * 8).reshape(60, 8), chunks=(30, 8)) * 2
    X = source.rechunk((20, 8))  # block 1 reads source blocks 0 and 1
    graph, keys = _sum_blocks(X)
    folded = nd._fold_sources(dict(graph), keys)
    deps = {k: set(folded[k].dependencies) for k in folded}
    shared = [d for d in folded.keys() - set(keys)
              if sum(d in ds for ds in deps.values()) > 1]
    assert len(shared) == 2  # the doubled source blocks, each read by two blocks
    np.testing.assert_allclose(np.ravel(dask.get(folded, keys)),
                               [(2 * np.arange(i * 160, (i + 1) * 160.0)).sum()
                                for i in range(3)])


def test_a_pass_over_an_expression_holds_one_block_at_a_time():
    # Traced numpy allocations around every task of a fit (synchronous
    # scheduler): a block task needs what producing its block of the
    # expression needs (its two operands and their sum: 3 blocks) and
    # nothing more; between tasks no block is held, only the factors.
    import tracemalloc

    from dask.callbacks import Callback

    rows, block_rows, n, k = 40_000, 10_000, 100, 3
    X = _expression(rows, block_rows, n=n, k=k)
    block = block_rows * n * 8
    rises, held, started = [], [], {}

    def pre(key, dsk, state):
        started[key] = tracemalloc.get_traced_memory()[0]
        held.append(started[key])  # the first: after the fit's imports
        tracemalloc.reset_peak()

    def post(key, result, dsk, state, worker_id):
        current, peak = tracemalloc.get_traced_memory()
        rises.append(peak - started.pop(key))
        held.append(current)

    tracemalloc.start()
    try:
        with dask.config.set(scheduler="sync"), Callback(pretask=pre, posttask=post):
            NMF(k, init="random", random_state=0, max_iter=3).fit(X)
    finally:
        tracemalloc.stop()
    factors = 3 * rows * k * 8  # the blocks of W: old, new, returned
    assert 2.9 * block < max(rises) < 3.2 * block, max(rises) / block
    assert max(held) - held[0] < 0.5 * block + factors, (max(held) - held[0]) / block


# ---------------------------------------------------------------- bad input
def test_column_chunks_are_rechunked_with_a_warning():
    X = planted(m=200)
    W0, H0 = start(X, 4)
    ref = NMF(4, init="custom", max_iter=10).fit(da.from_array(X, chunks=(50, -1)),
                                                  W=W0, H=H0)
    with pytest.warns(UserWarning, match="partitioned by rows"):
        est = NMF(4, init="custom", max_iter=10).fit(
            da.from_array(X, chunks=(50, 7)), W=W0, H=H0)
    assert_close(est.components_, ref.components_)


def test_a_row_too_wide_for_a_block_is_refused():
    Xd = da.zeros((10, 1000), chunks=(5, 100))
    with dask.config.set({"array.chunk-size": "1KiB"}), pytest.raises(
            ValueError, match="partitioned by rows"):
        NMF(2).fit(Xd)


def test_unknown_chunk_sizes_are_computed():
    X = planted(m=300)
    keep = np.arange(300) % 3 != 0
    Xd = da.from_array(X, chunks=(75, -1))[da.from_array(keep, chunks=75)]
    assert np.isnan(Xd.chunks[0][0])
    W0, H0 = start(X[keep], 4)
    est = NMF(4, init="custom", max_iter=10).fit(Xd, W=W0, H=H0)
    ref = NMF(4, init="custom", max_iter=10).fit(da.from_array(X[keep], chunks=(50, -1)),
                                                  W=W0, H=H0)
    assert_close(est.components_, ref.components_)


def test_one_dimensional_and_other_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="2D dask array"):
        NMF(2).fit(da.ones(10, chunks=5))
    with pytest.raises(ValueError, match="numeric"):
        NMF(2).fit(da.from_array(np.array([["a", "b"]] * 4), chunks=2))
    with pytest.raises(ValueError, match="0 sample"):
        NMF(2).fit(da.ones((0, 3), chunks=(1, 3)))
    Xd = da.from_array(planted(m=40), chunks=(20, -1))
    with pytest.raises(ValueError, match="mask"):
        NMF(2).fit(Xd, mask=np.ones((40, 30), bool))
    with pytest.raises(TypeError, match="score does not take a Dask array"):
        NMF(2, max_iter=5).fit(planted(m=40)).score(Xd)
    with pytest.raises(TypeError, match="MiniBatchNMF"):
        from nmfkit import MiniBatchNMF
        MiniBatchNMF(2).fit(Xd)


@pytest.mark.parametrize("bad, message", [(-1.0, "Negative values"),
                                          (np.inf, "Infinity")])
def test_bad_values_found_at_compute_name_the_block(bad, message):
    X = planted(m=200)
    X[130, 4] = bad
    Xd = da.from_array(X, chunks=(50, -1))
    est = NMF(4, init="custom", max_iter=5)
    with pytest.raises(ValueError, match=rf"{message}.*block 2 .*rows 100 to 149"):
        est.fit(Xd, W=start(X, 4)[0], H=start(X, 4)[1])
    assert not hasattr(est, "components_")  # nothing half-written
    # a fitted estimator keeps its previous fit
    est = NMF(4, max_iter=5).fit(planted(m=200))
    H = est.components_.copy()
    with pytest.raises(ValueError, match="block 2"):
        est.fit(Xd)
    np.testing.assert_array_equal(est.components_, H)
    assert est.n_features_in_ == 30
    with pytest.raises(ValueError, match="block 2"):
        est.transform(Xd).compute()


def test_nan_refused_when_missing_values_is_none():
    X = planted(m=100)
    X[70, 1] = np.nan
    with pytest.raises(ValueError, match="NaN.*block 1 "):
        NMF(2, missing_values=None, max_iter=5).fit(da.from_array(X, chunks=(50, -1)))
    Xs = sp.csr_matrix(planted(m=100))
    Xs.data[3] = np.nan
    with pytest.raises(ValueError, match="sparse block"):
        NMF(2, max_iter=5).fit(da.from_array(Xs, chunks=(50, -1), asarray=False))


def test_all_nan_X_is_a_clear_error_without_numpy_warnings():
    Xd = da.from_array(np.full((40, 6), np.nan), chunks=(10, -1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from numpy either
        for est, kw in [(NMF(2, max_iter=5), {}),
                        (NMF(2, solver="mu", beta_loss=1, max_iter=5), {}),
                        (NMF(2, init="custom", max_iter=5),
                         dict(W=np.ones((40, 2)), H=np.ones((2, 6))))]:
            with pytest.raises(ValueError, match="only NaN"):
                est.fit(Xd, **kw)
            assert not hasattr(est, "components_")


def _raise_in_block(b, block_info=None):
    if block_info and block_info[0]["chunk-location"][0] == 2:
        raise OSError("cannot read the block from its source")
    return b


def test_a_block_that_cannot_be_computed_is_named():
    X = planted(m=200)
    Xd = da.from_array(X, chunks=(50, -1)).map_blocks(_raise_in_block)
    est = NMF(4, max_iter=5)
    with pytest.raises(RuntimeError, match=r"Block 2 .*rows 100 to 149.*OSError: "
                                           "cannot read") as info:
        est.fit(Xd)
    assert isinstance(info.value.__cause__, OSError)
    assert not hasattr(est, "components_")


@pytest.mark.parametrize("method", ["fit_transform", "transform"])
def test_pandas_output_on_a_dask_X_is_refused_before_computing(method):
    pytest.importorskip("pandas")
    X = planted(m=100)
    Xd = da.from_array(X, chunks=(50, -1))
    est = NMF(2, max_iter=5).set_output(transform="pandas")
    if method == "transform":
        est.fit(Xd)  # fit returns the estimator: allowed, nothing wrapped
        assert est.components_.shape == (2, 30)
    computed = []
    with dask.config.set(scheduler=lambda dsk, keys, **kw: computed.append(keys)):
        with pytest.raises(ValueError, match="Dask array.*set_output.*compute all"):
            getattr(est, method)(Xd)
    assert computed == []
    est.set_output(transform="default")
    W = getattr(est, method)(Xd)
    assert isinstance(W, da.Array)


def test_missing_dask_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name == "dask" or name.startswith("dask."):
            raise ImportError("No module named 'dask'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    for mod in [m for m in sys.modules if m == "dask" or m.startswith("dask.")]:
        monkeypatch.delitem(sys.modules, mod)

    class FakeDaskArray:
        def __dask_graph__(self):  # what marks a Dask collection
            return {}

    with pytest.raises(ImportError, match=r"nmfkit\[dask\]"):
        NMF(2).fit(FakeDaskArray())


# ----------------------------------------------- a real cluster of processes
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip(
        "distributed", reason="distributed is an optional extra (nmfkit[dask])")
    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=50)
    client = distributed.Client(cl)
    yield cl, client
    client.close()
    cl.close()


@pytest.mark.slow
def test_local_cluster_survives_a_killed_worker(cluster, monkeypatch, plain_hals):
    cl, client = cluster
    X = planted(m=800)
    W0, H0 = start(X, 4)
    Xd = client.persist(da.from_array(X, chunks=(100, -1)))
    ref = NMF(4, init="custom", max_iter=8, tol=0).fit(Xd, W=W0, H=H0)
    Wr, Hr, _, _ = in_memory(X, W0, H0, "cd", 2, 0, 8)
    assert_close(ref.components_, Hr)

    run = nd._Runner.run
    passes = {"n": 0}

    def run_and_kill(self, *args, **kwargs):
        passes["n"] += 1
        if passes["n"] == 4:  # mid-fit: W blocks persisted on both workers
            victim = next(iter(cl.scheduler.workers.values()))
            assert victim.has_what, "the killed worker should hold blocks"
            os.kill(victim.pid, signal.SIGKILL)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(nd._Runner, "run", run_and_kill)
    est = NMF(4, init="custom", max_iter=8, tol=0)
    W = est.fit_transform(Xd, W=W0, H=H0)
    assert passes["n"] > 4
    np.testing.assert_array_equal(est.components_, ref.components_)
    assert_close(W.compute(), Wr)


@pytest.mark.slow
def test_nmfk_through_joblib_dask_backend_chooses_the_in_memory_rank(cluster,
                                                                      monkeypatch):
    import joblib

    from nmfkit.rank import NMFk

    cl, client = cluster
    # a worker killed by the previous test may still be restarting: with one
    # core left joblib would run the fits in this process, not on the cluster
    client.wait_for_workers(2, timeout=120)
    rng = np.random.RandomState(0)
    W = rng.exponential(size=(60, 3)) * (rng.rand(60, 3) < 0.5)
    H = rng.exponential(size=(3, 40)) * (rng.rand(3, 40) < 0.4)
    W[rng.randint(60, size=3), np.arange(3)] += 1.0
    X = W @ H + 0.01 * rng.rand(60, 40)

    def model():
        return NMFk(n_components_range=range(1, 6), n_perturbs=4, random_state=0)

    ref = model().fit(X)
    scattered = []
    scatter = type(client).scatter

    def counting_scatter(self, data, *args, **kwargs):
        if isinstance(data, np.ndarray) and data.shape == X.shape:
            scattered.append(data)
        return scatter(self, data, *args, **kwargs)

    # on the class: whichever client joblib's backend picks up
    monkeypatch.setattr(type(client), "scatter", counting_scatter)
    with joblib.parallel_config(backend="dask"):
        est = model().fit(X)
    assert est.n_components_ == ref.n_components_ == 3
    np.testing.assert_allclose(est.silhouettes_["components_min"],
                               ref.silhouettes_["components_min"], rtol=1e-6)
    assert len(scattered) == 1  # X sent to the cluster once, not once per task


@pytest.mark.slow
def test_a_block_that_cannot_be_computed_is_named_on_a_cluster(cluster):
    cl, client = cluster
    client.wait_for_workers(2, timeout=120)
    Xd = da.from_array(planted(m=200), chunks=(50, -1)).map_blocks(_raise_in_block)
    with pytest.raises(RuntimeError, match=r"Block 2 .*rows 100 to 149.*cannot read"):
        NMF(4, max_iter=5).fit(Xd)


# ------------------------------------------------------------------ packaging
def test_dask_is_an_extra_imported_only_when_used():
    import subprocess
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python >= 3.11")
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for name in ("dask", "test"):
        names = {r.split(">")[0].split("[")[0].strip() for r in extras[name]}
        assert {"dask", "distributed"} <= names, name
    assert not any("dask" in r for r in project["dependencies"])
    code = ("import sys, nmfkit, nmfkit.distributed, nmfkit.rank\n"
            "print('dask' in sys.modules, 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ faults
def _planted_nmfk_X():
    rng = np.random.RandomState(0)
    W = rng.exponential(size=(60, 3)) * (rng.rand(60, 3) < 0.5)
    H = rng.exponential(size=(3, 40)) * (rng.rand(3, 40) < 0.4)
    W[rng.randint(60, size=3), np.arange(3)] += 1.0
    return W @ H + 0.01 * rng.rand(60, 40)


@pytest.mark.slow
def test_nmfk_survives_a_worker_restarted_mid_scan(cluster, monkeypatch):
    import threading

    import joblib

    from nmfkit.rank import NMFk

    cl, client = cluster
    client.wait_for_workers(2, timeout=120)
    X = _planted_nmfk_X()

    def model():
        return NMFk(n_components_range=range(1, 6), n_perturbs=4, random_state=0)

    ref = model().fit(X)
    submit = type(client).submit
    calls, restarts = {"n": 0}, []

    def restart_the_worker_holding_most(self, *args, **kwargs):
        calls["n"] += 1
        future = submit(self, *args, **kwargs)
        if calls["n"] == 2:  # X is on the cluster, tasks are running
            victim = max(cl.scheduler.workers.values(), key=lambda ws: ws.nbytes)
            thread = threading.Thread(
                target=lambda: restarts.append(
                    client.restart_workers([victim.address], timeout=300)))
            thread.start()
            restarts.append(thread)
        return future

    monkeypatch.setattr(type(client), "submit", restart_the_worker_holding_most)
    with joblib.parallel_config(backend="dask"):
        est = model().fit(X)
    restarts[0].join(timeout=330)
    assert calls["n"] >= 2 and len(restarts) == 2, "no worker was restarted"
    assert est.n_components_ == ref.n_components_ == 3
    np.testing.assert_allclose(est.silhouettes_["components_min"],
                               ref.silhouettes_["components_min"], rtol=1e-6)
