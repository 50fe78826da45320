"""Benchmark: nmfkit.NMF on Dask arrays (out-of-core, overhead, communication).

Three measurements, written to the ``bench_dask`` section of
``docs/benchmarks.md``:

* **out-of-core**: a 2,000,000 x 200 dense float64 matrix (3.2 GB, planted rank
  20 plus noise) is written block by block to ``.npy`` files in a temporary
  folder (deleted afterwards), read back as a Dask array of 25,000-row blocks
  (one ``np.load`` task per block, so no block is ever in the client), and
  ``NMF(n_components=20)`` is fitted on a ``LocalCluster`` of 2 worker
  processes with a 1 GB memory limit each. Reported: time per iteration,
  each worker's peak resident memory (``VmHWM`` of the worker process)
  (``VmHWM``) and the relative error;
* **overhead**: on 500,000 x 200 (in memory, 800 MB) the time per iteration of
  the Dask path (``X`` persisted on the cluster; 1 and 2 workers, one thread
  each) against the in-memory solver running the same iterates (plain HALS,
  ``fit_hals(accelerate=False, compress=False)``) with 1 and 2 BLAS threads,
  and, for information, against ``NMF``'s default accelerated solver. Time
  per iteration = difference of two fits (``max_iter`` = a and b, ``tol=0``)
  divided by ``b - a``, so set-up costs cancel; all in this one process;
* **communication**: bytes moved between the workers per iteration (the
  workers' transfer counters, read through the scheduler after every pass;
  median over the passes of one fit, the first and the last left out), plus what the
  client sends (``H``) and receives (the reduced sums), against the
  theoretical ``k * n_features * n_blocks`` numbers of the block sums.

Usage (from the repository root)::

    python benchmarks/bench_dask.py            # full sizes (several minutes)
    python benchmarks/bench_dask.py --quick    # 10x fewer rows, a minute
    python benchmarks/bench_dask.py --no-write # do not touch docs/benchmarks.md
"""

import argparse
import os
import pickle
import resource
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
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import _common  # noqa: E402
from nmfkit import NMF  # noqa: E402
from nmfkit._core.hals import fit_hals  # noqa: E402

K = 20
N_FEATURES = 200


def planted_block(rows, seed, H_true):
    rng = np.random.default_rng(seed)
    W = rng.exponential(size=(rows, K)) * (rng.random((rows, K)) < 0.5)
    X = W @ H_true
    X += 0.01 * rng.random(X.shape)
    return X


def true_H(seed=0):
    rng = np.random.default_rng(seed)
    return rng.exponential(size=(K, N_FEATURES)) * (rng.random((K, N_FEATURES)) < 0.4)


def cluster(n_workers, memory_limit="auto"):
    cl = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      memory_limit=memory_limit, silence_logs=50)
    return cl, Client(cl)


def _peak_rss_kb():
    # VmHWM: the peak RSS of this process's address space since its exec
    # (ru_maxrss would include the RSS of the process it was forked from)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def worker_peak_mb(client):
    """Peak resident memory of each worker process (``VmHWM``), MB."""
    out = client.run(_peak_rss_kb)
    return sorted(v / 1024 for v in out.values())


def transferred(client):
    """Bytes the workers have sent to each other so far."""
    out = client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total)
    return sum(out.values())


def bytes_per_pass(client, fit, n_iter):
    """Median bytes moved between workers by the iteration passes of one fit.

    The counters are read after every pass; the first pass (which also
    moves the initial ``W`` blocks from where the scheduler put them) and the
    final error pass are left out.
    """
    import nmfkit.distributed as nd

    run = nd._Runner.run
    marks = []

    def counted(self, *args, **kwargs):
        out = run(self, *args, **kwargs)
        marks.append(transferred(client))
        return out

    nd._Runner.run = counted
    try:
        fit(n_iter)
    finally:
        nd._Runner.run = run
    deltas = np.diff(marks)[:-1]  # passes 2..n_iter
    return float(np.median(deltas))


def per_iteration(fit, a, b, repeats):
    """``(t(b) - t(a)) / (b - a)``, each time the best of ``repeats`` fits."""
    t = {a: np.inf, b: np.inf}
    for _ in range(repeats):
        for it in (a, b):
            tic = time.perf_counter()
            fit(it)
            t[it] = min(t[it], time.perf_counter() - tic)
    return max(t[b] - t[a], 0.0) / (b - a)


# ------------------------------------------------------------------ overhead
def overhead(rows, block_rows, a, b, repeats, comm_only=False):
    print(f"overhead: {rows} x {N_FEATURES}, rank {K}, blocks of {block_rows} rows")
    H_true = true_H()
    X = np.concatenate([planted_block(min(block_rows, rows - s), s, H_true)
                        for s in range(0, rows, block_rows)])
    rng = np.random.default_rng(1)
    W0 = rng.random((rows, K))
    H0 = rng.random((K, N_FEATURES))
    res = {}

    def plain(it):
        fit_hals(X, W0.copy(), H0.copy(), tol=0, max_iter=it, accelerate=False,
                 compress=False)

    for threads in () if comm_only else (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            res[("plain", threads)] = per_iteration(plain, a, b, repeats)
        print(f"  in memory, {threads} BLAS thread(s): plain HALS "
              f"{_common.fmt_seconds(res[('plain', threads)])}/it")
    comm = None
    for workers in (2,) if comm_only else (1, 2):
        cl, client = cluster(workers)
        try:
            client.wait_for_workers(workers)
            parts = client.scatter([X[s:s + block_rows]
                                    for s in range(0, rows, block_rows)])
            wait(parts)
            Xd = da.concatenate([
                da.from_delayed(dask.delayed(f), shape=(min(block_rows, rows - s),
                                                        N_FEATURES), dtype=X.dtype)
                for f, s in zip(parts, range(0, rows, block_rows))])
            Xd = client.persist(Xd)  # blocks stay where they were scattered
            wait(Xd)

            def dask_fit(it):
                NMF(K, init="custom", tol=0, max_iter=it).fit(Xd, W=W0, H=H0)

            dask_fit(1)  # warm-up: imports on the workers
            if not comm_only:
                res[("dask", workers)] = per_iteration(dask_fit, a, b, repeats)
                print(f"  dask, {workers} worker(s): "
                      f"{_common.fmt_seconds(res[('dask', workers)])}/it")
            if workers == 2:
                comm = bytes_per_pass(client, dask_fit, b)
        finally:
            client.close()
            cl.close()
    n_blocks = -(-rows // block_rows)
    share = {"A": np.zeros((K, N_FEATURES)), "B": np.zeros((K, K)), "G": None,
             "viol": 0.0, "nan_blocks": frozenset()}
    client_bytes = (len(pickle.dumps(np.zeros((K, N_FEATURES))))
                    + len(pickle.dumps(np.zeros((K, K))))
                    + len(pickle.dumps(share)))
    res["comm"] = (comm, client_bytes, K * N_FEATURES * n_blocks * 8, n_blocks)
    print(f"  bytes/iteration between workers {comm:.0f}, client {client_bytes}, "
          f"theory k*n*n_blocks*8 = {K * N_FEATURES * n_blocks * 8}")
    return res


# --------------------------------------------------------------- out of core
def out_of_core(rows, block_rows, max_iter, tmp_root):
    size = rows * N_FEATURES * 8
    free = shutil.disk_usage(tmp_root).free
    if free < 2 * size:
        raise SystemExit(f"out-of-core: {free / 1e9:.1f} GB free in {tmp_root}, "
                         f"need {2 * size / 1e9:.1f} GB")
    tmp = tempfile.mkdtemp(prefix="nmfkit-bench-dask-", dir=tmp_root)
    try:
        print(f"out-of-core: writing {rows} x {N_FEATURES} ({size / 1e9:.2f} GB) "
              f"to {tmp} ({free / 1e9:.0f} GB free)")
        H_true = true_H()
        paths, chunks = [], []
        tic = time.perf_counter()
        for s in range(0, rows, block_rows):
            r = min(block_rows, rows - s)
            path = os.path.join(tmp, f"block_{s // block_rows:05d}.npy")
            np.save(path, planted_block(r, s, H_true))
            paths.append(path)
            chunks.append(r)
        t_write = time.perf_counter() - tic
        X = da.concatenate([
            da.from_delayed(dask.delayed(np.load, pure=True)(p), shape=(r, N_FEATURES),
                            dtype=np.float64)
            for p, r in zip(paths, chunks)])
        cl, client = cluster(2, memory_limit="1GB")
        try:
            client.wait_for_workers(2)
            est = NMF(K, random_state=0, max_iter=max_iter, tol=0)
            tic = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X)
            t_fit = time.perf_counter() - tic
            peaks = worker_peak_mb(client)
            n_workers_alive = len(client.scheduler_info()["workers"])
        finally:
            client.close()
            cl.close()
        x_norm = np.sqrt(sum(float(np.einsum("ij,ij->", b, b))
                             for b in (np.load(p, mmap_mode="r") for p in paths)))
        rel = est.reconstruction_err_ / x_norm
        passes = est._dask_passes
        print(f"  fit: {t_fit:.1f} s for {est.n_iter_} iterations ({passes} passes "
              f"over X), worker peaks {', '.join(f'{p:.0f} MB' for p in peaks)}, "
              f"relative error {rel:.4f}")
        return dict(rows=rows, gb=size / 1e9, n_blocks=len(paths), t_write=t_write,
                    t_fit=t_fit, n_iter=est.n_iter_, passes=passes, peaks=peaks,
                    rel=rel, alive=n_workers_alive)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"  removed {tmp}")


def _previous_subsections():
    """The ``### ...`` subsections of the last ``bench_dask`` section, by title."""
    text = _common.DOCS_BENCHMARKS.read_text() if _common.DOCS_BENCHMARKS.exists() else ""
    start, end = "<!-- bench_dask:start -->", "<!-- bench_dask:end -->"
    if start not in text or end not in text:
        return {}
    body = text[text.index(start):text.index(end)]
    parts = body.split("\n### ")
    out = {p.split("\n", 1)[0].split(":")[0]: "### " + p.rstrip() + "\n"
           for p in parts[1:]}
    header = [line.lstrip("> ") for line in parts[0].splitlines()
              if line.lstrip("> ").startswith(("Command", "Date"))]
    out["header"] = list(dict.fromkeys(header))
    return out


def write_section(ooc, ovh, args, load_before, load_after):
    previous = _previous_subsections()
    lines = ["## NMF on Dask arrays (`benchmarks/bench_dask.py`)", "",
             f"Command (from the repository root): `{_common.command_line()}`  ",
             f"Date: {_common.utc_now()}; load average before / after: "
             f"{load_before} / {load_after} (2 cores shared with other jobs: "
             "absolute times are noisy, ratios are measured in the same run).", ""]
    reuse_ooc = ooc is None and "Out-of-core" in previous
    reuse_ovh = (not ovh or ("dask", 1) not in ovh) and "Overhead" in previous
    reuse_comm = not ovh and "Communication per iteration (2 workers)" in previous
    reused = reuse_ooc or reuse_ovh or reuse_comm
    if reused:
        lines += ["Some results below are kept from an earlier run (only a part "
                  "was rerun here):", ""]
        lines += ["> " + line.rstrip(" ") for line in previous["header"]] + [""]
    lines += _common.machine_table() + [""]
    if reuse_ooc:
        lines += [previous["Out-of-core"].rstrip(), ""]
    if reuse_ovh:
        lines += [previous["Overhead"].rstrip(), ""]
    if reuse_comm:
        lines += [previous["Communication per iteration (2 workers)"].rstrip(), ""]
    if ooc:
        lines += [f"### Out-of-core: {ooc['rows']:,} x {N_FEATURES} dense float64 "
                  f"({ooc['gb']:.1f} GB), rank {K}", "",
                  f"`.npy` blocks of {ooc['rows'] // ooc['n_blocks']:,} rows "
                  f"({ooc['n_blocks']} blocks) in a temporary folder, read by one "
                  "`np.load` task per block and pass; `LocalCluster(n_workers=2, "
                  "threads_per_worker=1, memory_limit=\"1GB\")`; "
                  f"`NMF(n_components={K}, random_state=0, max_iter={args.ooc_iter}, "
                  "tol=0)` (random init).", ""]
        lines += _common.markdown_table(
            ["completed", "fit time", "iterations (passes over X)", "time / pass",
             "worker peak RSS", "relative error", "writing the blocks"],
            [["yes" if ooc["alive"] == 2 else f"yes ({ooc['alive']} workers alive)",
              _common.fmt_seconds(ooc["t_fit"]), f"{ooc['n_iter']} ({ooc['passes']})",
              _common.fmt_seconds(ooc["t_fit"] / ooc["passes"]),
              " / ".join(f"{p:.0f} MB" for p in ooc["peaks"]), f"{ooc['rel']:.4f}",
              _common.fmt_seconds(ooc["t_write"])]]) + [""]
    if ovh and ("dask", 1) in ovh:
        a, b = args.iters
        lines += [f"### Overhead: {args.ovh_rows:,} x {N_FEATURES} in memory, rank {K}",
                  "", f"Time per iteration = (t(max_iter={b}) - t(max_iter={a})) / "
                  f"{b - a}, `tol=0`, same custom init; `X` persisted on the "
                  f"cluster in blocks of {args.block_rows:,} rows; one thread per "
                  f"worker, best of {args.repeats}. The in-memory solver runs the very "
                  "iterates of the Dask path (`fit_hals(accelerate=False, "
                  "compress=False)`).", ""]
        rows = []
        for w in (1, 2):
            d, p = ovh[("dask", w)], ovh[("plain", w)]
            rows.append([f"{w} worker(s) vs {w} BLAS thread(s)", _common.fmt_seconds(d),
                         _common.fmt_seconds(p), f"{d / p:.2f}x" if p > 0 else "n/a",
                         "yes" if p > 0 and d / p <= 1.5 else "no"])
        lines += _common.markdown_table(
            ["", "dask / it", "plain HALS in memory / it", "dask / in memory",
             "goal <= 1.5x"], rows) + [""]
    if ovh:
        comm, client_bytes, theory, n_blocks = ovh["comm"]
        lines += ["### Communication per iteration (2 workers)", "",
                  f"{args.ovh_rows:,} x {N_FEATURES}, {n_blocks} blocks, k = {K}; "
                  "between workers: the workers' transfer counters read after "
                  "every pass of one fit, median over the iteration passes"
                  + (" (measured by a `--comm-only` run)" if args.comm_only else "")
                  + ".", ""]
        lines += _common.markdown_table(
            ["between workers (measured)", "client <-> scheduler (H out, sums in)",
             "theory k * n_features * n_blocks * 8 B"],
            [[f"{comm / 1e3:.0f} kB", f"{client_bytes / 1e3:.0f} kB",
              f"{theory / 1e3:.0f} kB"]]) + [""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="10x fewer rows")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--skip-out-of-core", action="store_true")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--comm-only", action="store_true",
                   help="of the in-memory part, measure only the bytes per "
                        "iteration (keeps the timings of the last run)")
    p.add_argument("--tmp", default=tempfile.gettempdir(),
                   help="where the out-of-core blocks are written (then deleted)")
    args = p.parse_args()
    scale = 10 if args.quick else 1
    args.ooc_rows = 2_000_000 // scale
    args.ovh_rows = 500_000 // scale
    args.block_rows = 50_000 // scale
    args.ooc_iter = 3 if args.quick else 6
    args.iters = (2, 5) if args.quick else (2, 6)
    args.repeats = 2
    load_before = _common.load_average()
    print(f"load average: {load_before}")
    ovh = None if args.skip_overhead else overhead(args.ovh_rows, args.block_rows,
                                                   *args.iters, args.repeats,
                                                   args.comm_only)
    ooc = None if args.skip_out_of_core else out_of_core(
        args.ooc_rows, 25_000 // scale, args.ooc_iter, args.tmp)
    load_after = _common.load_average()
    print(f"load average: {load_after}")
    if not args.no_write:
        body = write_section(ooc, ovh, args, load_before, load_after)
        path = _common.update_doc_section("bench_dask", body)
        print(f"wrote the bench_dask section of {path}")


if __name__ == "__main__":
    main()
