"""Shared helpers for the scripts in ``benchmarks/``.

Machine description, timing, peak traced memory, exact losses computed the same
way for every competitor, and writing one marked section of
``docs/benchmarks.md`` without touching the sections of other scripts.

Nothing here is part of the nmfkit package; the scripts are run by hand::

    python benchmarks/bench_nmf.py
"""

import datetime
import gc
import os
import platform
import re
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_BENCHMARKS = REPO_ROOT / "docs" / "benchmarks.md"


# --------------------------------------------------------------------- machine
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _blas_description():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return "unknown (threadpoolctl missing)"
    parts = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        parts.append(
            "{} {} ({}, {} threads)".format(
                info.get("internal_api", "?"),
                info.get("version", "?"),
                info.get("architecture", "?"),
                info.get("num_threads", "?"),
            )
        )
    return "; ".join(parts) or "none found"


def machine_description():
    """Return an ordered list of ``(label, value)`` describing this machine.

    CPU model (from ``/proc/cpuinfo``), core count, memory, Python and the
    versions of numpy, scipy and scikit-learn, and the BLAS libraries that
    threadpoolctl sees loaded (numpy is imported first, so its BLAS is there).
    """
    import sklearn

    return [
        ("CPU", _cpu_model()),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("memory", f"{_memory_gib():.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("numpy", np.__version__),
        ("scipy", scipy.__version__),
        ("scikit-learn", sklearn.__version__),
        ("BLAS", _blas_description()),
    ]


def load_average():
    """The 1, 5 and 15 minute load averages as text (other users' work shows here)."""
    try:
        return "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def command_line():
    """The command that is running, as a user would type it from the repo root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(REPO_ROOT)
    except ValueError:
        script = Path(script.name)
    return " ".join(["python", str(script), *sys.argv[1:]])


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------------- timing
LONG_RUN_S = 30.0


def best_time(func, repeats=3, long_run=LONG_RUN_S):
    """Run ``func()`` up to ``repeats`` times; return ``(best seconds, last result)``.

    The minimum is the least noisy estimate of the cost on a shared machine.
    Garbage is collected before each run so that one run does not pay for the
    previous one's frees. Once the runs so far took more than ``long_run``
    seconds in total, no further repeat is made (a long run is its own
    average over the noise).
    """
    best = float("inf")
    result = None
    spent = 0.0
    for _ in range(max(1, int(repeats))):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - t0
        best = min(best, elapsed)
        spent += elapsed
        if long_run is not None and spent > long_run:
            break
    return best, result


def peak_memory_mb(func):
    """Run ``func()`` under :mod:`tracemalloc`; return ``(peak MB, result)``.

    numpy reports its buffers to tracemalloc, so the peak covers every array
    allocated during the call (copies of the input included), not memory that
    existed before it. 1 MB = 2**20 bytes.
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = func()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, result


def quiet(func):
    """Wrap ``func`` so that it runs with warnings (ConvergenceWarning) silenced."""

    def wrapped(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func(*args, **kwargs)

    return wrapped


# ---------------------------------------------------------------------- losses
def _row_chunks(n_rows, n_cols, budget=2**23):
    step = max(1, budget // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def frobenius_loss(X, W, H):
    r"""Exact :math:`\tfrac12\|X - WH\|_F^2` in float64, without densifying X.

    Dense X: the residual is formed block of rows by block of rows. Sparse X:

    .. math::
        \|X - WH\|_F^2 = \sum_{(i,j)\ \mathrm{stored}} (x_{ij} - (WH)_{ij})^2
        + \|WH\|_F^2 - \sum_{(i,j)\ \mathrm{stored}} (WH)_{ij}^2,

    with :math:`\|WH\|_F^2 = \langle W^\top W, H H^\top\rangle` and
    :math:`(WH)_{ij}` evaluated only at the stored entries.
    """
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        cols = X.indices
        total = 0.0
        stored_wh_sq = 0.0
        for s in _row_chunks(X.nnz, W.shape[1], budget=2**22):
            wh = np.einsum("ij,ji->i", W[rows[s]], H[:, cols[s]])
            total += float(np.sum((X.data[s].astype(np.float64) - wh) ** 2))
            stored_wh_sq += float(np.dot(wh, wh))
        norm_wh_sq = float(np.sum((W.T @ W) * (H @ H.T)))
        return 0.5 * (total + max(norm_wh_sq - stored_wh_sq, 0.0))
    X = np.asarray(X)
    total = 0.0
    for s in _row_chunks(X.shape[0], X.shape[1]):
        R = X[s].astype(np.float64) - W[s] @ H
        total += float(np.einsum("ij,ij->", R, R))
    return 0.5 * total


def kl_loss(X, W, H):
    r"""Exact generalized Kullback-Leibler divergence :math:`D_{KL}(X \| WH)`.

    .. math::
        D = \sum_{ij} x_{ij} \log\frac{x_{ij}}{(WH)_{ij}} - x_{ij} + (WH)_{ij},

    with :math:`0 \log 0 = 0`, in float64, dense X formed block by block. A
    model value of exactly 0 where :math:`x_{ij} > 0` is floored at the smallest
    normal float64, so it shows up as a very large (not infinite) loss.
    """
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    X = np.asarray(X)
    tiny = np.finfo(np.float64).tiny
    total = float(W.sum(axis=0) @ H.sum(axis=1))  # sum of WH
    for s in _row_chunks(X.shape[0], X.shape[1]):
        x = X[s].astype(np.float64)
        wh = np.maximum(W[s] @ H, tiny)
        pos = x > 0
        xp = x[pos]
        total += float(np.sum(xp * np.log(xp / wh[pos]) - xp))
    return total


# -------------------------------------------------------------------- markdown
def markdown_table(headers, rows):
    """Return a GitHub markdown table (list of lines) from headers and rows."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    lines = ["| " + " | ".join(cells[0]) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return lines


def machine_table():
    return markdown_table(["", ""], machine_description())


def update_doc_section(name, body, path=DOCS_BENCHMARKS, title="# Benchmarks"):
    """Replace the section between ``<!-- name:start -->`` and ``<!-- name:end -->``.

    Other sections of the file are left byte for byte as they are. If the
    markers are absent the section is appended (the file is created with
    ``title`` if it does not exist).
    """
    path = Path(path)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"{title}\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def fmt_seconds(t):
    if t != t or t is None:  # NaN
        return "n/a"
    return f"{t * 1e3:.0f} ms" if t < 1 else f"{t:.2f} s"


def fmt_loss(v):
    return "n/a" if v is None or v != v else f"{v:.6g}"
