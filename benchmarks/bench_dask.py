"""Benchmark: nmfkit.NMF on Dask arrays against Dask's own passes, under a memory limit.

Everything runs on one ``LocalCluster(n_workers=2, threads_per_worker=1,
memory_limit="700MB")`` and is written to the ``bench_dask`` section of
``docs/benchmarks.md``. The data: ``X = W @ H + noise``, 1,000,000 x 200
float64 (1.6 GB) in row blocks of 50,000 rows (80 MB), planted rank 20
(``W`` and ``H`` exponential, half / 40 % zeros; ``noise`` uniform on [0, 1),
so the best rank-20 fit leaves about 4.5 % relative error).

Three ways of holding ``X``, each timed side by side with plain Dask passes
over the same array on the same cluster:

* **expression**: ``X`` is the Dask expression itself, recomputed at every
  pass (never held anywhere); ``NMF(20, max_iter=30, random_state=0)`` is
  fitted on it, and its relative error is compared with an in-memory fit of
  the first 100,000 rows (same settings);
* **out-of-core**: ``X`` written with ``da.to_npy_stack`` to a temporary
  folder (deleted afterwards) and read back with ``da.from_npy_stack``
  (memory-mapped blocks);
* **in memory**: the first 200,000 rows persisted on the workers.

For each: the time of the plain Dask passes ``(X ** 2).sum()``, ``X.T @ X``
and ``(X @ H.T).T @ X`` (the products one NMF pass needs), the fit's time per
pass over ``X`` (fit time / passes, so the set-up, the init pass and the error
pass are included), their ratio, the largest per-task memory peak of the
fit's block tasks and of the plain passes, divided by the bytes of a block
(a worker plugin resets the process's peak resident memory, ``VmHWM``, when a
task starts and reads it when it ends: the peak above the memory held when
the task started, *including producing the block of* ``X`` *from its
source*), and each worker's peak resident memory.

Usage (from the repository root)::

    nice python benchmarks/bench_dask.py            # full sizes (about 30 min on 2 busy cores)
    python benchmarks/bench_dask.py --quick         # 10x fewer rows, max_iter=5
    python benchmarks/bench_dask.py --quick --max-iter 30 --no-write  # the loss gap, cheaply
    python benchmarks/bench_dask.py --no-write      # do not touch docs/benchmarks.md
"""

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster, wait  # noqa: E402
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import _common  # noqa: E402
from nmfkit import NMF  # noqa: E402
from nmfkit._core.hals import fit_hals  # noqa: E402
from nmfkit._core.init import initialize  # noqa: E402
from nmfkit.distributed import _block_tasks  # noqa: E402

K = 20
N_FEATURES = 200
MEMORY_LIMIT = "700MB"


# ------------------------------------------------------------------ memory
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class TaskPeaks(WorkerPlugin):
    """Per-task peak resident memory (above what was resident at its start).

    Linux only: writing 5 to ``/proc/self/clear_refs`` resets ``VmHWM``. Each
    worker runs one task at a time (one thread), so the window from a task's
    start to its end is that task's.
    """

    name = "nmfkit-task-peaks"

    def setup(self, worker):
        self.records = []
        self.peak_kb = _status_kb("VmHWM")
        self.start = {}

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing":
            self.peak_kb = max(self.peak_kb, _status_kb("VmHWM"))
            self.start[key] = _status_kb("VmRSS")
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        elif start == "executing" and key in self.start:
            hwm = _status_kb("VmHWM")
            self.peak_kb = max(self.peak_kb, hwm)
            name = key[0] if isinstance(key, tuple) else str(key)
            self.records.append((name, (hwm - self.start.pop(key)) * 1024 / 1e6))


def _collect(dask_worker):
    plugin = dask_worker.plugins[TaskPeaks.name]
    out = (list(plugin.records), max(plugin.peak_kb, _status_kb("VmHWM")) * 1024 / 1e6)
    plugin.records.clear()
    plugin.peak_kb = _status_kb("VmRSS")
    return out


def collect(client):
    """``(records, peak RSS MB per worker)`` since the last call (and reset)."""
    out = client.run(_collect)
    records = [r for recs, _ in out.values() for r in recs]
    return records, sorted(p for _, p in out.values())


class Removals(SchedulerPlugin):
    """Counts the workers the scheduler lost (a nanny restart is one)."""

    name = "nmfkit-removals"

    def __init__(self):
        self.count = 0

    def remove_worker(self, scheduler=None, worker=None, **kwargs):
        self.count += 1


def _removals(dask_scheduler):
    plugin = dask_scheduler.plugins[Removals.name]
    count, plugin.count = plugin.count, 0
    return count


def removals(client):
    """Workers lost (restarted or gone) since the last call."""
    return client.run_on_scheduler(_removals)


def cluster():
    cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      memory_limit=MEMORY_LIMIT, silence_logs=30)
    client = Client(cl)
    client.wait_for_workers(2)
    client.register_plugin(TaskPeaks())
    client.register_plugin(Removals())
    # import what the tasks import, so that the first task's peak is not the
    # imports' memory (a worker with nmfkit imported: about 177 MB resident)
    client.run(_import_nmfkit)
    return cl, client


def _import_nmfkit():
    importlib.import_module("nmfkit.distributed")



# ------------------------------------------------------------------- data
def planted(rows, block_rows, seed=0):
    """``W @ H + noise`` as a Dask expression (nothing computed)."""
    rng = da.random.default_rng(seed)
    H = np.random.default_rng(seed + 1).exponential(size=(K, N_FEATURES))
    H *= np.random.default_rng(seed + 2).random((K, N_FEATURES)) < 0.4
    W = (rng.exponential(size=(rows, K), chunks=(block_rows, K))
         * (rng.random((rows, K), chunks=(block_rows, K)) < 0.5))
    return W @ H + rng.random((rows, N_FEATURES), chunks=(block_rows, N_FEATURES))


def _touch(block):
    return np.full((1, 1), float(np.asarray(block).sum()))


def produce_blocks(X):
    """Each block of ``X`` made and summed, one task per block (the floor).

    ``X.map_blocks`` of a function that sums the block, with each block's
    sources folded into its task as nmfkit's passes fold them
    (``nmfkit.distributed._block_tasks``): what producing one block costs any
    task that needs it whole.
    """
    with dask.annotate(bench="touch"):
        out = X.map_blocks(_touch, dtype=float, chunks=(1, 1))
    return _Computes(_block_tasks(out))


class _Computes:
    def __init__(self, parts):
        self.parts = parts

    def compute(self):
        return dask.compute(*self.parts)


def plain_passes(X, client, repeats):
    """Plain Dask passes over ``X``: best time, largest task peak (MB)."""
    Hp = np.random.default_rng(5).random((K, N_FEATURES))
    out = {}
    removals(client)
    for label, make in [("(X ** 2).sum()", lambda: (X ** 2).sum()),
                        ("X.T @ X", lambda: X.T @ X),
                        ("(X @ H.T).T @ X", lambda: (X @ Hp.T).T @ X),
                        ("producing each block", lambda: produce_blocks(X))]:
        best = np.inf
        collect(client)
        for _ in range(repeats):
            expr = make()
            tic = time.perf_counter()
            expr.compute()
            best = min(best, time.perf_counter() - tic)
        records, peaks = collect(client)
        out[label] = dict(t=best, task_peak=max(r[1] for r in records), peaks=peaks,
                          lost=removals(client))
        print(f"  plain {label}: {best:.1f} s, largest task peak "
              f"{out[label]['task_peak']:.0f} MB, worker peaks "
              f"{', '.join(f'{p:.0f}' for p in peaks)} MB, workers lost "
              f"{out[label]['lost']}")
    client.wait_for_workers(2)
    return out


def traced_peaks(block_rows, max_iter=3):
    """Largest traced allocation per task kind, in one process, in blocks.

    The expression's first 4 blocks, the synchronous scheduler, numpy's
    allocations traced (``tracemalloc``) from each task's start: producing a
    block alone against the fit's block tasks, free of the allocator's and
    the network's noise that a worker's resident memory carries.
    """
    import tracemalloc

    from dask.callbacks import Callback

    X = planted(4 * block_rows, block_rows)
    block = block_rows * N_FEATURES * 8
    peaks, start = {}, {}

    def pre(key, dsk, state):
        start[key] = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def post(key, result, dsk, state, worker_id):
        name = key[0] if isinstance(key, tuple) else str(key)
        kind = name.rsplit("-", 1)[0]
        rise = (tracemalloc.get_traced_memory()[1] - start.pop(key)) / block
        peaks[kind] = max(peaks.get(kind, 0.0), rise)

    tracemalloc.start()
    try:
        with dask.config.set(scheduler="sync"), Callback(pretask=pre, posttask=post):
            produce_blocks(X).compute()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                NMF(K, max_iter=max_iter, **SETTINGS).fit(X)
    finally:
        tracemalloc.stop()
    out = {"producing a block": peaks.pop("_touch", 0.0)}
    out.update((k, v) for k, v in peaks.items() if k.startswith("nmfkit-"))
    print("  traced peaks (blocks): " + ", ".join(f"{k} {v:.2f}x" for k, v in out.items()))
    return out


# the settings of the expression-backed fit and of its in-memory reference
# (init="random" is what a Dask fit does by default; said here explicitly)
SETTINGS = dict(init="random", solver="cd", random_state=0)


def fit(X, client, max_iter, tol=1e-4):
    collect(client)
    est = NMF(K, max_iter=max_iter, tol=tol, **SETTINGS)
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    t = time.perf_counter() - tic
    records, peaks = collect(client)
    ours = [r[1] for r in records if r[0].startswith("nmfkit-")]
    kinds = {}
    for name, mb in records:
        if name.startswith("nmfkit-"):
            kinds.setdefault(name.rsplit("-", 1)[0], []).append(mb)
    print("  block tasks by kind (count, largest / median peak, MB): " + ", ".join(
        f"{kind} {len(v)}: {max(v):.0f} / {np.median(v):.0f}"
        for kind, v in kinds.items()))
    res = dict(t=t, passes=est._dask_passes, n_iter=est.n_iter_, est=est,
               task_peak=max(ours), task_median=float(np.median(ours)), peaks=peaks,
               lost=removals(client), alive=len(client.scheduler_info()["workers"]))
    print(f"  fit: {t:.1f} s, {est.n_iter_} iterations, {res['passes']} passes "
          f"({t / res['passes']:.2f} s / pass), block-task peak largest "
          f"{res['task_peak']:.0f} MB, median {res['task_median']:.0f} MB, worker "
          f"peaks {', '.join(f'{p:.0f}' for p in peaks)} MB, workers lost "
          f"{res['lost']}, {res['alive']} alive")
    return res


def norm(X):
    return float(np.sqrt(da.einsum("ij,ij->", X, X).compute()))


# ------------------------------------------------------------------ scenarios
def run(args):
    rows, block_rows = args.rows, args.block_rows
    block_mb = block_rows * N_FEATURES * 8 / 1e6
    results = {}
    cl, client = cluster()
    try:
        X = planted(rows, block_rows)
        # --small-others: the other two ways of holding X at 10x fewer rows
        Xo = planted(rows // 10, block_rows // 10) if args.small_others else X
        other_mb = block_mb / 10 if args.small_others else block_mb
        print(f"expression: {rows} x {N_FEATURES}, blocks of {block_rows} rows "
              f"({block_mb:.0f} MB)")
        plain = plain_passes(X, client, args.repeats)
        res = fit(X, client, args.max_iter)
        res["rel"] = res["est"].reconstruction_err_ / norm(X)
        sample = X[:args.sample_rows].compute()
        # the same estimator settings in memory; and, for reference, the
        # in-memory default init (NNDSVDa, which a Dask fit cannot do)
        ref = NMF(K, max_iter=args.max_iter, tol=1e-4, **SETTINGS)
        ref_svd = NMF(K, max_iter=args.max_iter, tol=1e-4, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref.fit(sample)
            ref_svd.fit(sample)
        # and the in-memory solver the Dask path runs (no compression, no
        # extrapolation) from NMF's random start on the sample
        W0, H0 = initialize(sample, K, init="random", random_state=0)
        W0, H0, it_core = fit_hals(sample, W0, H0, tol=1e-4, max_iter=args.max_iter,
                                   compress=False, extrapolate=False)[:3]
        x_norm = np.linalg.norm(sample)
        res["rel_sample"] = ref.reconstruction_err_ / x_norm
        res["rel_sample_svd"] = ref_svd.reconstruction_err_ / x_norm
        res["rel_core"] = np.linalg.norm(sample - W0 @ H0) / x_norm
        res["it_sample"], res["it_core"] = ref.n_iter_, it_core
        del sample, W0, H0
        print(f"  relative error {res['rel']:.5f} ({res['n_iter']} it); in-memory "
              f"fit of the first {args.sample_rows} rows {res['rel_sample']:.5f} "
              f"({ref.n_iter_} it; default init nndsvda: "
              f"{res['rel_sample_svd']:.5f}; the Dask path's solver in memory: "
              f"{res['rel_core']:.5f}, {it_core} it)")
        res["traced"] = traced_peaks(block_rows)
        results["expression"] = (plain, res)

        tmp = tempfile.mkdtemp(prefix="nmfkit-bench-dask-", dir=args.tmp)
        try:
            print(f"out-of-core: writing to {tmp}")
            tic = time.perf_counter()
            da.to_npy_stack(tmp, Xo, axis=0)
            t_write = time.perf_counter() - tic
            Xn = da.from_npy_stack(tmp)
            plain = plain_passes(Xn, client, args.repeats)
            res = fit(Xn, client, args.ooc_iter, tol=0)
            res["t_write"] = t_write
            res["block_mb"] = other_mb
            results["out-of-core (.npy)"] = (plain, res)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"  removed {tmp}")

        Xp = client.persist(Xo[:args.mem_rows // (10 if args.small_others else 1)])
        wait(Xp)
        print(f"in memory: the first {args.mem_rows} rows persisted")
        plain = plain_passes(Xp, client, args.repeats)
        res = fit(Xp, client, args.ooc_iter, tol=0)
        res["block_mb"] = other_mb
        results["in memory (persisted)"] = (plain, res)
        del Xp
    finally:
        client.close()
        cl.close()
    return results, block_mb


def write_section(results, block_mb, args, load_before, load_after):
    lines = ["## NMF on Dask arrays (`benchmarks/bench_dask.py`)", "",
             f"Command (from the repository root): `{_common.command_line()}`  ",
             f"Date: {_common.utc_now()}; load average before / after: "
             f"{load_before} / {load_after} (2 cores shared with other jobs: "
             "absolute times are noisy, ratios are measured in the same run).", ""]
    lines += _common.machine_table() + [""]
    lines += [f"`LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="
              f"\"{MEMORY_LIMIT}\")`. `X = W @ H + noise`, {args.rows:,} x "
              f"{N_FEATURES} float64 ({args.rows * N_FEATURES * 8 / 1e9:.1f} GB), "
              f"row blocks of {args.block_rows:,} rows ({block_mb:.0f} MB), planted "
              f"rank {K}, uniform noise. A pass of the fit = fit time / passes over "
              "`X` (set-up, the init pass and the error pass included). Task peak = "
              "the largest rise of a worker's resident memory during one task "
              "(producing the block of `X` included), divided by the bytes of a "
              "block (MB = 10^6 bytes throughout). 'Producing a block alone': the "
              "same measure for a task that makes one block of `X` (its sources "
              "folded in, as the fit's tasks fold them) and sums it: "
              "the floor of any task that needs the block whole. Workers lost: "
              "workers the scheduler removed (a nanny restart for memory is one).",
              ""]
    rows = []
    passes = ["(X ** 2).sum()", "X.T @ X", "(X @ H.T).T @ X"]
    for name, (plain, res) in results.items():
        prod = plain["(X @ H.T).T @ X"]
        floor = plain["producing each block"]
        bmb = res.get("block_mb", block_mb)
        per_pass = res["t"] / res["passes"]
        plain_peak = max(plain[k]["task_peak"] for k in passes)
        plain_lost = sum(plain[k]["lost"] for k in passes)
        rows.append([
            name + (f" ({bmb:.0f} MB blocks)" if bmb != block_mb else ""),
            " / ".join(_common.fmt_seconds(plain[k]["t"]) for k in passes),
            f"{_common.fmt_seconds(res['t'])} ({res['n_iter']} it, {res['passes']} "
            "passes)",
            _common.fmt_seconds(per_pass),
            f"**{per_pass / prod['t']:.2f}x**",
            f"**{res['task_peak'] / bmb:.2f}x** (median {res['task_median'] / bmb:.2f}x)",
            f"{floor['task_peak'] / bmb:.2f}x",
            f"{plain_peak / bmb:.2f}x",
            " / ".join(f"{p:.0f}" for p in res["peaks"])
            + f" MB (plain: {max(max(plain[k]['peaks']) for k in passes):.0f})",
            f"{res['lost']} (plain passes: {plain_lost})"])
    lines += _common.markdown_table(
        ["X held as", "plain Dask: (X ** 2).sum() / X.T @ X / (X @ H.T).T @ X",
         "NMF fit", "fit / pass", "pass vs (X @ H.T).T @ X",
         "fit's block task: peak / block", "producing a block alone",
         "plain Dask's tasks", "workers' peak RSS", "workers lost during the fit"],
        rows) + [""]
    plain, res = results["expression"]
    diff = res["rel"] / res["rel_sample"] - 1
    diff_svd = res["rel"] / res["rel_sample_svd"] - 1
    lines += [f"Expression-backed fit `NMF({K}, init=\"random\", solver=\"cd\", "
              f"max_iter={args.max_iter}, tol=1e-4, random_state=0)`: relative "
              f"error {res['rel']:.5f} ({res['n_iter']} it); the same estimator "
              f"settings (init, solver, max_iter, tol, seed) in memory on the first "
              f"{args.sample_rows:,} rows: {res['rel_sample']:.5f} "
              f"({res['it_sample']} it; **{diff:+.2%}**). In memory that estimator "
              "also compresses X (randomized QB) and extrapolates from its random "
              "start, which a Dask fit does not; its random start is drawn "
              "differently. For reference, the in-memory default init (NNDSVDa, "
              f"not available on Dask): {res['rel_sample_svd']:.5f} "
              f"({diff_svd:+.2%}). The solver the Dask path runs, in memory "
              "(`fit_hals(compress=False, extrapolate=False)`, NMF's random "
              f"start on the sample): {res['rel_core']:.5f} ({res['it_core']} it; "
              f"**{res['rel'] / res['rel_core'] - 1:+.2%}**). The other two fits run "
              f"`max_iter={args.ooc_iter}, tol=0`.", ""]
    traced = res["traced"]
    lines += ["Traced allocations (numpy's, `tracemalloc`, one process, synchronous "
              "scheduler, the expression's first 4 blocks, 3 iterations): the "
              "largest rise during one task, in blocks: "
              + ", ".join(f"{k} **{v:.2f}x**" for k, v in traced.items())
              + ". Free of the allocator's reuse and of data arriving during a "
              "task, this is what the resident-memory probe above measures "
              "with noise.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="10x fewer rows")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--small-others", action="store_true",
                   help="run the out-of-core and persisted cases at 10x fewer rows")
    p.add_argument("--tmp", default=tempfile.gettempdir(),
                   help="where the out-of-core blocks are written (then deleted)")
    p.add_argument("--max-iter", type=int, default=None,
                   help="max_iter of the expression-backed fit and its in-memory "
                        "reference (default 30; 5 with --quick)")
    args = p.parse_args()
    scale = 10 if args.quick else 1
    args.rows = 1_000_000 // scale
    args.block_rows = 50_000 // scale
    args.sample_rows = 100_000 // scale
    args.mem_rows = 200_000 // scale
    if args.max_iter is None:
        args.max_iter = 5 if args.quick else 30
    args.ooc_iter = 3 if args.quick else 5
    load_before = _common.load_average()
    print(f"load average: {load_before}")
    results, block_mb = run(args)
    load_after = _common.load_average()
    print(f"load average: {load_after}")
    body = write_section(results, block_mb, args, load_before, load_after)
    print(body)
    if not args.no_write:
        path = _common.update_doc_section("bench_dask", body)
        print(f"wrote the bench_dask section of {path}")


if __name__ == "__main__":
    main()
