"""Benchmark: NBMF on MovieLens 100k, against masked NMF and scikit-surprise.

Protocol: the canonical 5 folds u1..u5 of ml-100k (80,000 training / 20,000
test ratings each, rebuilt from ``u.data`` by :func:`nmfkit.datasets.load_movielens`
when the ``u{i}.base``/``u{i}.test`` files are absent). On every fold, in one
process and one BLAS thread each, it fits and times

* ``NBMF`` with its defaults (simulated annealing) and with ``solver="exact"``;
* nmfkit's masked ``NMF`` (the stored ratings are the observed entries,
  ``mask=X``) with ``n_components=4, alpha_W=0.002`` (chosen on fold u1);
* scikit-surprise's ``NMF`` and ``SVD`` with their defaults (``random_state=0``),

and reports test RMSE and MAE (predictions clipped to 1..5 for the nmfkit
models; surprise clips its own) averaged over the folds, fit and predict time.
Then, on fold u1 (all folds without ``--quick``): the effect of
``n_components`` and of the ridge ``alpha`` on NBMF; the QUBO objective reached
by the annealer (warm-started as in a fit, and cold), and by dwave-samplers'
``SimulatedAnnealingSampler`` when installed, against exact enumeration on the
same k=12 item subproblems of every H step of a fit; and the peak memory of
one fit.

``--speed`` runs only the speed comparison of issue 21 (its own sub-table):
one default NBMF fit (``n_components=15``) against scikit-surprise's NMF
(defaults) in the same process, timed as CPU seconds of the process (one BLAS
thread) and wall-clock, with test RMSE, on (a) a generated rating set of the
shape and density of MovieLens "latest-small" (610 users x 9,724 items, about
100,000 half-star ratings, 80/20 split; :func:`make_ratings`) and (b) ml-100k's
fold u1 (``n_components`` 10, NBMF's default, and 15); plus a cProfile of the
fit on (a), summarised by where the time goes.

Usage (from the repository root)::

    python benchmarks/bench_nbmf.py            # everything (about 15 min here)
    python benchmarks/bench_nbmf.py --speed    # the speed table only
    python benchmarks/bench_nbmf.py --quick    # fold u1 only, smaller grids
    python benchmarks/bench_nbmf.py --no-write # print, do not touch docs/

Results go to the ``bench_nbmf`` section of ``docs/benchmarks.md`` and to the
results section of ``docs/nbmf.md``. The data are read from
``../shared/data/movielens/ml-100k`` (or ``$NMFKIT_DATA/movielens/ml-100k``);
research use only, never copied into the repository.
"""

import argparse
import os
import pickle
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from threadpoolctl import threadpool_limits  # noqa: E402

import _common  # noqa: E402
from nmfkit import NMF, NBMF  # noqa: E402
from nmfkit._core.nbmf import binary_start, fit_nbmf, make_qubo_solver  # noqa: E402
from nmfkit._core.qubo import solve_anneal, solve_exact, solve_sampler  # noqa: E402
from nmfkit.datasets import load_movielens  # noqa: E402

PUBLISHED = {"surprise NMF": 0.963, "surprise SVD": 0.934}
NMF_PARAMS = {"n_components": 4, "alpha_W": 0.002}
DOC_NBMF = ROOT / "docs" / "nbmf.md"


def data_folder():
    base = os.environ.get("NMFKIT_DATA", str(ROOT.parent / "shared" / "data"))
    return Path(base) / "movielens" / "ml-100k"


class _Timer:
    """Wall-clock and CPU (this process) seconds of a block."""

    def __enter__(self):
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def errors(pred, truth):
    err = np.asarray(pred, dtype=np.float64) - truth
    return float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))


# --------------------------------------------------------------- the models
def run_nbmf(ml, **params):
    model = NBMF(random_state=0, **params)
    with _Timer() as fit:
        model.fit(ml.data)
    rows, cols, truth = ml.test_pairs
    with _Timer() as predict:
        pred = model.predict_ratings(rows, cols)
    return (*errors(pred, truth), fit.cpu, predict.cpu, fit.wall, model)


def run_nmf(ml):
    model = NMF(random_state=0, init="nndsvda", **NMF_PARAMS)
    with _Timer() as fit:
        W = model.fit_transform(ml.data, mask=ml.data)
    rows, cols, truth = ml.test_pairs
    with _Timer() as predict:
        pred = np.clip(np.einsum("ij,ji->i", W[rows], model.components_[:, cols]), 1, 5)
    return (*errors(pred, truth), fit.cpu, predict.cpu, fit.wall, model)


def run_surprise(ml, name):
    import pandas as pd
    from surprise import NMF as SurpriseNMF
    from surprise import SVD, Dataset, Reader

    X = ml.data.tocoo()
    df = pd.DataFrame({"u": X.row, "i": X.col, "r": X.data})
    dataset = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    trainset = dataset.build_full_trainset()
    algo = (SVD if name == "SVD" else SurpriseNMF)(random_state=0)
    with _Timer() as fit:
        algo.fit(trainset)
    rows, cols, truth = ml.test_pairs
    with _Timer() as predict:
        pred = [p.est for p in algo.test(list(zip(rows, cols, truth)))]
    return (*errors(pred, truth), fit.cpu, predict.cpu, fit.wall, algo)


def make_ratings(n_users=610, n_items=9724, n_ratings=100_836, rank=8, seed=0):
    """A MovieLens-latest-small-like rating set, split 80/20 at random.

    Users' numbers of ratings are log-normal (at least 20 each), items are
    drawn by a Zipf-like popularity (exponent 0.9, many items with one or no
    rating), and a rating is ``3.5`` plus a user bias, an item bias, a
    rank-``rank`` taste term and noise, rounded to half stars in 0.5..5.
    Returns a Bunch like :func:`load_movielens`'s (``data``, ``test_pairs``).
    """
    import scipy.sparse as sp
    from sklearn.utils import Bunch

    rng = np.random.RandomState(seed)
    activity = np.exp(rng.normal(0, 1.1, n_users))
    activity = 20 + (n_ratings - 20 * n_users) * activity / activity.sum()
    counts = np.minimum(np.round(activity).astype(int), n_items // 3)
    log_pop = -0.9 * np.log(np.arange(1, n_items + 1))[rng.permutation(n_items)]
    rows, cols = [], []
    for u, c in enumerate(counts):  # c items without replacement ~ popularity
        keys = log_pop + rng.gumbel(size=n_items)
        rows.append(np.full(c, u))
        # sorted: argpartition's order of the chosen items depends on the
        # CPU's SIMD path, and the order decides which noise each rating gets
        cols.append(np.sort(np.argpartition(-keys, c)[:c]))
    r, c = np.concatenate(rows), np.concatenate(cols)
    U = rng.normal(0, 1, (n_users, rank)) / np.sqrt(rank)
    V = rng.normal(0, 1, (n_items, rank)) / np.sqrt(rank)
    bu, bi = rng.normal(0, 0.4, n_users), rng.normal(0, 0.5, n_items)
    value = (3.5 + bu[r] + bi[c] + 0.6 * np.einsum("ij,ij->i", U[r], V[c])
             + rng.normal(0, 0.8, r.size))
    value = np.clip(np.round(value * 2) / 2, 0.5, 5.0)
    perm = rng.permutation(r.size)
    test, train = perm[:r.size // 5], perm[r.size // 5:]
    data = sp.csr_matrix((value[train], (r[train], c[train])), shape=(n_users, n_items))
    return Bunch(data=data, test_pairs=(r[test], c[test], value[test]))


def _profile_summary(ml, k):
    """Where a default fit's CPU time goes (cProfile, cumulative seconds)."""
    import cProfile
    import pstats

    prof = cProfile.Profile(time.process_time)
    prof.enable()
    NBMF(n_components=k, random_state=0).fit(ml.data)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = max(v[3] for v in stats.values())
    parts = {"binary start (masked NMF relaxation)": "binary_start",
             "H steps (item QUBOs, solvers)": "_h_step",
             "  of which annealing": "solve_anneal",
             "  of which pair-flip descent": "solve_descent",
             "W steps (ridge NNLS)": "_w_step"}
    out = []
    for label, func in parts.items():
        t = sum(v[3] for key, v in stats.items() if key[2] == func)
        if func == "_w_step" and t == 0:  # before: nnls called from fit_nbmf
            t = sum(v[3] for key, v in stats.items() if key[2] == "nnls")
        out.append((label, t, t / total))
    return total, out


def speed(k_gen=15):
    cases = {"generated 610 x 9,724 (80,669 train / 20,167 test)": (
                 make_ratings(), [k_gen]),
             "ml-100k u1 (943 x 1,682, 80,000 / 20,000)": (
                 load_movielens(data_folder(), fold=1), [10, 15])}
    rows = []
    for name, (ml, ks) in cases.items():
        s_rmse, _, s_cpu, _, s_wall, _ = run_surprise(ml, "NMF")
        for k in ks:
            rmse, _, cpu, _, wall, model = run_nbmf(ml, n_components=k)
            rows.append((name, k, rmse, cpu, wall, model.n_iter_, s_rmse, s_cpu,
                         s_wall))
            print(f"speed {name} k={k}: NBMF RMSE {rmse:.4f} CPU {cpu:.2f} s wall "
                  f"{wall:.2f} s ({model.n_iter_} it.); surprise NMF RMSE {s_rmse:.4f} "
                  f"CPU {s_cpu:.2f} s wall {s_wall:.2f} s; ratio {cpu / s_cpu:.2f}",
                  flush=True)
    total, parts = _profile_summary(make_ratings(), k_gen)
    for label, t, frac in parts:
        print(f"profile {label}: {t:.2f} s ({100 * frac:.0f}%)")
    return rows, (total, parts)


SPEED_NOTES = """\
**Goals (issue 21), two runs of this table on 2026-12-03 (load 9-15 on two
cores):** fit on the generated set 9.10 s / 11.29 s CPU (goal 10 s: met in one
run, not in the other; CPU time is inflated by the load), **5.93x / 5.63x**
surprise NMF's fit (goal 5x: **not met**, by about 15%; before: 31.2x); RMSE
0.9128 / 0.9124 against 0.9140 before (goal within 0.002: met, slightly
lower). On ml-100k u1 NBMF now fits faster than surprise NMF at k = 10 (0.83x,
was 5.78x; RMSE 0.9637 vs 0.9639) and at 1.9x at k = 15 (was 17.1x; RMSE
0.9662 vs 0.9684). What is left: the masked-NMF start (30 HALS iterations of
the relaxation, about a third; shortening it hurt the RMSE, below), the one
annealed H step (about a quarter), the descent steps (about a fifth).

**Before** (the tree before issue 21's changes, same script and data, one run on
2026-12-03, load average about 15): generated set, k = 15: NBMF RMSE 0.9140,
77.63 s CPU, 26 iterations, against surprise NMF's 2.49 s: **31.2x**; ml-100k u1:
k = 10 RMSE 0.9639, 5.78x; k = 15 RMSE 0.9684, 17.1x. Its profile (77 s): the
annealer on every H step 62% (4 chains x 50 sweeps x 9,279 items each time),
the W steps by coordinate descent to 1e-6 27%, the start 9%.

**What changed, where the profile said:** (1) the H steps after the first
descend by single and pair flips from the annealed columns instead of annealing
again (`solve_descent`): 0.06 s instead of 2 s per step; (2) an item whose
column provably minimises its QUBO (box-relaxation optimality at that vertex;
the quadratic part of any move is >= 0 since its Gram matrix is PSD) is skipped
-- exact, but only about 10% of the items per step here; (3) the W step solves
each user exactly on the support of the previous weights first (one batched
15 x 15 solve) and runs coordinate descent only where the KKT conditions fail
-- same answer as `nnls`, 27% -> 12% of a much shorter fit; (4) per-row /
per-item Gram matrices of a sparse X from one sparse product of the pattern with
the k(k+1)/2 pair products of the fixed factor, no (ratings, k, k) temporary;
(5) batched coordinate descent (`nnls._batched_cd`, also under the masked-NMF
start) in a transposed, contiguous layout: about 2x.

**Tried, did not help:** annealing every step with fewer chains/sweeps (2 x 20:
RMSE as before, but 5x the descent's cost; 1 chain x 10 cool sweeps: RMSE
0.918, worse); a shorter start (10 or 15 masked-NMF iterations instead of 30,
two seeds each): RMSE 0.917-0.922 against 0.907-0.912 -- a less converged
relaxation leads to more NBMF iterations and overfitting (the test RMSE is
lowest after about 4 iterations, 0.903, and rises to about 0.913 at
convergence; `tol` is left at its default); exact enumeration at k = 15 costs
about what the annealer does. The RMSE differences between runs (seeds) are
about 0.005 on this set, so "within 0.002" is met per run, not a statistic.
"""


def speed_report(rows, profile, meta):
    command = re.sub(r" --(save|load) \S+", "", _common.command_line())
    lines = [
        "### Speed: one fit against scikit-surprise's NMF (`--speed`)",
        "",
        f"Command: `{command}` ({meta['when']}; load average at the end "
        f"{meta['load']}; one BLAS thread; both models in the same process on the "
        "same data). Time as CPU seconds of the process (the machine is shared; "
        "wall-clock beside it). Goal (issue 21): an NBMF fit on the 610 x 9,724 set "
        "within 10 s and within 5x surprise NMF's fit, RMSE within 0.002 of before.",
        "",
    ]
    table = []
    for name, k, rmse, cpu, wall, it, s_rmse, s_cpu, s_wall in rows:
        table.append([name, k, f"{rmse:.4f}", _common.fmt_seconds(cpu),
                      _common.fmt_seconds(wall), it, f"{s_rmse:.4f}",
                      _common.fmt_seconds(s_cpu), f"**{cpu / s_cpu:.2f}**"])
    lines += _common.markdown_table(
        ["data", "n_components", "NBMF RMSE", "NBMF fit (CPU)", "NBMF fit (wall)",
         "iterations", "surprise NMF RMSE", "surprise NMF fit (CPU)",
         "NBMF / surprise (CPU)"], table)
    total, parts = profile
    lines += ["", f"Profile of one default fit on the generated set (cProfile, CPU "
              f"time, {total:.2f} s in all):", ""]
    lines += _common.markdown_table(
        ["part", "CPU time", "share"],
        [[label, _common.fmt_seconds(t), f"{100 * f:.0f}%"] for label, t, f in parts])
    lines += ["", SPEED_NOTES]
    return "\n".join(lines)


# ------------------------------------------------------------- the sections
def comparison(folds, exact_k):
    methods = {
        "NBMF (anneal, defaults)": lambda ml: run_nbmf(ml),
        f"NBMF (exact, k={exact_k})": lambda ml: run_nbmf(
            ml, n_components=exact_k, solver="exact"),
        "nmfkit NMF (masked, k=4, alpha_W=0.002)": run_nmf,
        "surprise NMF (defaults)": lambda ml: run_surprise(ml, "NMF"),
        "surprise SVD (defaults)": lambda ml: run_surprise(ml, "SVD"),
    }
    results = {name: [] for name in methods}
    for fold, ml in folds.items():
        for name, func in methods.items():
            rmse, mae, t_fit, t_pred, wall, _ = func(ml)
            results[name].append((rmse, mae, t_fit, t_pred, wall))
            print(f"u{fold} {name:40s} RMSE {rmse:.4f} MAE {mae:.4f} "
                  f"fit CPU {t_fit:.2f} s (wall {wall:.2f} s) predict "
                  f"{t_pred * 1e3:.0f} ms", flush=True)
    return results


def grid(folds, values, make_params):
    out = []
    for v in values:
        per = [run_nbmf(ml, **make_params(v))[:3] for ml in folds.values()]
        rmse, mae, t_fit = np.mean(per, axis=0)
        out.append((v, rmse, mae, t_fit))
        print(f"grid {make_params(v)}: RMSE {rmse:.4f} MAE {mae:.4f} "
              f"fit CPU {t_fit:.2f} s", flush=True)
    return out


class _ComparingSolver:
    """The annealer as NBMF calls it, checked against exact enumeration."""

    def __init__(self, num_reads, n_sweeps, sampler=None, sampler_items=200):
        self.warm = make_qubo_solver("anneal", num_reads=num_reads, n_sweeps=n_sweeps,
                                     random_state=0)
        self.cold_rng = np.random.RandomState(1)
        self.num_reads, self.n_sweeps = num_reads, n_sweeps
        self.sampler, self.sampler_items = sampler, sampler_items
        self.rows = []
        self.times = {"exact": 0.0, "anneal (warm)": 0.0, "anneal (cold)": 0.0}
        self.sampler_rows = []

    def __call__(self, Q, init):
        t0 = time.process_time()
        _, E_exact = solve_exact(Q)
        t1 = time.process_time()
        S, E_warm = self.warm(Q, init)
        t2 = time.process_time()
        _, E_cold = solve_anneal(Q, num_reads=self.num_reads, n_sweeps=self.n_sweeps,
                                 random_state=self.cold_rng)
        t3 = time.process_time()
        self.times["exact"] += t1 - t0
        self.times["anneal (warm)"] += t2 - t1
        self.times["anneal (cold)"] += t3 - t2
        scale = 1e-9 * np.maximum(np.abs(E_exact), 1.0)
        self.rows.append((E_exact, E_warm, E_cold, scale))
        if self.sampler is not None and not self.sampler_rows:
            sub = slice(0, min(self.sampler_items, Q.shape[0]))
            t0 = time.process_time()
            _, E_s = solve_sampler(Q[sub], self.sampler, num_reads=self.num_reads)
            self.sampler_rows.append((E_exact[sub], E_s, scale[sub],
                                      time.process_time() - t0))
        return S, E_warm


def qubo_section(ml, k=12):
    num_reads, n_sweeps = NBMF().num_reads, NBMF().n_sweeps
    sampler = None
    try:
        from dwave.samplers import SimulatedAnnealingSampler

        sampler = SimulatedAnnealingSampler()
    except ImportError:
        print("dwave-samplers not installed: its row is skipped")
    X = ml.data
    ridge = NBMF().alpha * k * X.nnz / np.count_nonzero(np.diff(X.indptr))
    H = binary_start(X, "stored", k, l2=ridge, random_state=0)
    solver = _ComparingSolver(num_reads, n_sweeps, sampler=sampler)
    _, _, n_iter, _ = fit_nbmf(X, None, H, observed="stored", l2=ridge, solve=solver,
                               max_iter=100, tol=NBMF().tol)
    E_exact = np.concatenate([r[0] for r in solver.rows])
    scale = np.concatenate([r[3] for r in solver.rows])
    table = []
    for col, name in ((1, "anneal (warm, as in the fit)"), (2, "anneal (cold)")):
        E = np.concatenate([r[col] for r in solver.rows])
        hit = E <= E_exact + scale
        key = "anneal (warm)" if col == 1 else "anneal (cold)"
        table.append((name, E.size, hit.mean(), float(np.sum(E - E_exact)),
                      solver.times[key]))
    table.insert(0, ("exact enumeration", E_exact.size, 1.0, 0.0,
                     solver.times["exact"]))
    first_step = [(r[0], r[2], r[3]) for r in solver.rows[:1]]
    E0, Ec0, s0 = first_step[0]
    extra = {"first_step_cold_hit": float(np.mean(Ec0 <= E0 + s0)), "n_iter": n_iter,
             "total_exact": float(np.sum(E_exact))}
    if solver.sampler_rows:
        E_ex, E_s, sc, t_s = solver.sampler_rows[0]
        table.append((f"dwave-samplers SimulatedAnnealingSampler (first H step, "
                      f"{E_s.size} items, num_reads={num_reads})", E_s.size,
                      float(np.mean(E_s <= E_ex + sc)), float(np.sum(E_s - E_ex)), t_s))
    for row in table:
        print(f"QUBO {row[0]:60s} n={row[1]} optimum reached {100 * row[2]:.1f}% "
              f"excess energy {row[3]:.3g} time {row[4]:.2f} s")
    return table, extra


def memory_section(ml):
    peak, model = _common.peak_memory_mb(lambda: NBMF(random_state=0).fit(ml.data))
    X = ml.data
    k = model.n_components_
    m, n = X.shape
    data_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    factors_mb = (m + n) * k * 8 / 2**20
    return peak, data_mb, factors_mb, k


# --------------------------------------------------------------- reporting
def fmt(v, digits=4):
    return f"{v:.{digits}f}"


def report(args, folds, results, k_grid, alpha_grid, qubo, memory, exact_k, meta):
    fold_names = ", ".join(f"u{f}" for f in folds)
    command = re.sub(r" --(save|load) \S+", "", _common.command_line())
    lines = [
        f"Command: `{command}` ({meta['when']}; load average at the end "
        f"{meta['load']}; one BLAS thread; every model in the same process "
        "on the same folds).",
        "",
        f"**Test error on the canonical folds {fold_names}** (mean over folds; "
        "fit and predict time per fold, one run each, as CPU seconds of this process "
        "(one thread everywhere) because the machine was shared -- the wall-clock "
        "time is given too; 20,000 test ratings per fold):",
        "",
    ]
    rows = []
    base_fit = np.mean([r[2] for r in results["surprise NMF (defaults)"]])
    for name, per in results.items():
        arr = np.array(per)
        published = PUBLISHED.get(name.split(" (")[0], None)
        rows.append([name, fmt(arr[:, 0].mean()), fmt(arr[:, 1].mean()),
                     " / ".join(fmt(x, 3) for x in arr[:, 0]),
                     _common.fmt_seconds(arr[:, 2].mean()),
                     f"{arr[:, 2].mean() / base_fit:.2f}",
                     _common.fmt_seconds(arr[:, 4].mean()),
                     _common.fmt_seconds(arr[:, 3].mean()),
                     "" if published is None else f"{published:.3f}"])
    lines += _common.markdown_table(
        ["model", "RMSE", "MAE", "RMSE per fold", "fit (CPU)", "fit / surprise NMF fit",
         "fit (wall)", "predict (CPU)", "published 5-fold RMSE"], rows)
    res = {name: np.mean([r[0] for r in per]) for name, per in results.items()}
    nb = res["NBMF (anneal, defaults)"]
    nbe = res[f"NBMF (exact, k={exact_k})"]
    snmf = res["surprise NMF (defaults)"]
    nmf = res["nmfkit NMF (masked, k=4, alpha_W=0.002)"]
    svd = res["surprise SVD (defaults)"]
    nb_fit = max(r[2] for r in results["NBMF (anneal, defaults)"])
    nb_wall = max(r[4] for r in results["NBMF (anneal, defaults)"])
    lines += [
        "",
        "Goals:",
        "",
        f"* NBMF RMSE <= surprise NMF's on the same folds: {fmt(nb)} (annealer) and "
        f"{fmt(nbe)} (exact) vs {fmt(snmf)} -- "
        + ("**met**" if max(nb, nbe) <= snmf else
           f"**not met** by {max(nb, nbe) - snmf:.4f}") + ".",
        f"* nmfkit masked NMF RMSE <= surprise SVD's: {fmt(nmf)} vs {fmt(svd)} -- "
        + ("**met**" if nmf <= svd else f"**not met** by {nmf - svd:.4f}") + ".",
        f"* one NBMF fit per fold under 10 s: slowest fold {nb_fit:.2f} s of CPU -- "
        + ("**met**" if nb_fit < 10 else "**not met**")
        + f" in CPU time; {nb_wall:.2f} s "
        "wall-clock on this shared machine (see the load average); the ratio to "
        "surprise NMF's fit is the stable number.",
    ]
    if qubo is not None:
        table, extra = qubo
        warm = table[1][2]
        lines.append(
            f"* annealer reaches the exact optimum on >= 95% of the k=12 item "
            f"subproblems of a fit: {100 * warm:.1f}% (as called in the fit, warm "
            f"started), {100 * table[2][2]:.1f}% from random starts -- "
            + ("**met**" if warm >= 0.95 else "**not met**") + ".")
    grid_names = ", ".join(f"u{f}" for f in folds if f <= (1 if args.quick else 2))
    lines += ["", "**Effect of `n_components`** (NBMF defaults otherwise; mean over "
              f"{grid_names}):", ""]
    lines += _common.markdown_table(
        ["n_components", "RMSE", "MAE", "fit (CPU)"],
        [[v, fmt(r), fmt(m), _common.fmt_seconds(t)] for v, r, m, t in k_grid])
    k_default = NBMF().n_components
    lines += ["", "**Effect of the ridge `alpha`** "
              f"(n_components={k_default}; ridge_ = "
              "alpha x n_components x mean ratings per user, about "
              f"{k_default * 80000 / 943:.0f} x alpha here; the default is "
              f"{NBMF().alpha}; mean over {grid_names}):", ""]
    lines += _common.markdown_table(
        ["alpha", "RMSE", "MAE", "fit (CPU)"],
        [[v, fmt(r), fmt(m), _common.fmt_seconds(t)] for v, r, m, t in alpha_grid])
    if qubo is not None:
        table, extra = qubo
        lines += ["", "**QUBO solvers on the same item subproblems** "
                  "(k=12, every H step "
                  f"of one NBMF fit on u1 with the default annealer (num_reads="
                  f"{NBMF().num_reads}, n_sweeps={NBMF().n_sweeps}): {extra['n_iter']} "
                  "H steps; energies "
                  "compared with exact enumeration, 'reached' = within 1e-9 relative):",
                  ""]
        lines += _common.markdown_table(
            ["solver", "subproblems", "exact optimum reached", "total excess energy",
             "time (CPU)"],
            [[n, c, f"{100 * h:.1f}%", f"{e:.3g}", _common.fmt_seconds(t)]
             for n, c, h, e, t in table])
        lines += ["", f"(Total exact energy over these subproblems: "
                  f"{extra['total_exact']:.4g}; first H step alone, cold annealer: "
                  f"{100 * extra['first_step_cold_hit']:.1f}% reached.)"]
    if memory is not None:
        peak, data_mb, factors_mb, k = memory
        lines += ["", f"**Memory**: peak traced memory of one default NBMF fit on u1 "
                  f"(k={k}): {peak:.1f} MB, for {data_mb:.2f} MB of CSR ratings and "
                  f"{factors_mb:.2f} MB of factors; the rest is the per-chunk Gram "
                  "matrices (bounded chunks of users or items, at most 2^22 entries) "
                  "and the annealer's states (num_reads x items x k)."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fold u1 only, smaller grids")
    parser.add_argument("--no-write", action="store_true",
                        help="print the results, do not write docs/")
    parser.add_argument("--exact-k", type=int, default=None,
                        help="n_components of the exact NBMF (default: NBMF's default)")
    parser.add_argument("--speed", action="store_true",
                        help="only the speed comparison with surprise NMF (issue 21)")
    parser.add_argument("--save", default=None,
                        help="pickle the measured sections to this file as they finish")
    parser.add_argument("--load", default=None,
                        help="reuse the sections pickled by --save (skip measuring them)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    folder = data_folder()
    if not (folder / "u.data").is_file():
        sys.exit(f"ml-100k not found in {folder}")
    if args.speed:
        with threadpool_limits(1):
            rows, profile = speed()
        meta = {"when": _common.utc_now(), "load": _common.load_average()}
        body = speed_report(rows, profile, meta)
        print(body)
        if not args.no_write:
            _common.update_doc_section("bench_nbmf_speed", body)
        return
    fold_ids = [1] if args.quick else [1, 2, 3, 4, 5]
    folds = {f: load_movielens(folder, fold=f) for f in fold_ids}
    exact_k = args.exact_k or NBMF().n_components
    done = {}
    if args.load:
        with open(args.load, "rb") as f:
            done = pickle.load(f)

    def section(name, func):
        if name not in done:
            done[name] = func()
            if args.save:
                with open(args.save, "wb") as f:
                    pickle.dump(done, f)
        return done[name]

    with threadpool_limits(1):
        results = section("comparison", lambda: comparison(folds, exact_k))
        grid_folds = {f: folds[f] for f in folds if f <= (1 if args.quick else 2)}
        ks = [4, 8, 12] if args.quick else [4, 6, 8, 10, 12, 16]
        alphas = ([0.006, 0.0125, 0.025] if args.quick
                  else [0.003, 0.006, 0.0125, 0.025, 0.05])
        k_grid = section("k_grid", lambda: grid(grid_folds, ks,
                                                lambda k: {"n_components": k}))
        alpha_grid = section("alpha_grid", lambda: grid(grid_folds, alphas,
                                                        lambda a: {"alpha": a}))
        qubo = section("qubo", lambda: qubo_section(folds[1]))
        memory = section("memory", lambda: memory_section(folds[1]))
        meta = section("meta", lambda: {"when": _common.utc_now(),
                                        "load": _common.load_average()})
    body = report(args, folds, results, k_grid, alpha_grid, qubo, memory, exact_k,
                  meta)
    print(body)
    if not args.no_write:
        header = ("## NBMF on MovieLens 100k (`bench_nbmf.py`)\n\nSee "
                  "[nbmf.md](nbmf.md) for the method and a discussion.\n\n")
        kept = re.search(r"<!-- bench_nbmf_speed:start -->.*?"
                         r"<!-- bench_nbmf_speed:end -->",
                         _common.DOCS_BENCHMARKS.read_text(), re.DOTALL)
        _common.update_doc_section(
            "bench_nbmf", header + body + ("\n\n" + kept.group(0) if kept else ""))
        _common.update_doc_section("bench_nbmf", body, path=DOC_NBMF,
                                   title="# NBMF")


if __name__ == "__main__":
    main()
