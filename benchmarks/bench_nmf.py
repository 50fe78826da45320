"""nmfkit vs scikit-learn: NMF and MiniBatchNMF side by side, in one process.

Cases (fixed seeds):

a  dense 5000 x 1000, planted rank 20 plus small noise, Frobenius, solver "cd"
b  sparse 20000 x 5000 TF-IDF-like CSR, density 0.5 %, k = 20, Frobenius, "cd"
c  the matrix of (a), generalized Kullback-Leibler, solver "mu"
d  MiniBatchNMF on a dense 100000 x 500 matrix, planted rank 15 plus noise

For each case:

* **time to reach scikit-learn's final loss** -- scikit-learn runs with its
  defaults (best of ``--repeats``); its final loss is computed from the returned
  ``W, H`` by one exact function used for both sides (``_common.frobenius_loss``
  / ``_common.kl_loss``). nmfkit runs with the same parameters; if it stops
  above that loss, it is rerun with ``tol / 10`` (and ``max_iter`` doubled)
  until it gets there; the tol needed is reported. ratio = t_sklearn / t_nmfkit;
* **loss at equal iteration counts** -- both with ``tol=0`` and the same
  ``max_iter`` (epochs for MiniBatchNMF, ``max_no_improvement=None``);
* **peak traced memory** (``tracemalloc``) of the timed fit, both sides;
* case (a) only: **the BLAS bound** -- the time of one nmfkit iteration divided
  by the time of the two dense products ``X @ H.T`` and ``W.T @ X`` it needs.

Run from the repository root::

    python benchmarks/bench_nmf.py [--cases a,b,c,d] [--repeats 3] [--quick]

It prints the tables and rewrites the ``bench_nmf`` section of
``docs/benchmarks.md`` (``--quick`` runs smaller data and writes nothing unless
``--write`` is given).
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as C  # noqa: E402

SECTION = "bench_nmf"
RANK = 20
TIE = 1 + 1e-9  # "reaches" = final loss <= sklearn's loss * TIE
# Peak memory "not above": tracemalloc peaks of two runs of the *same* code
# differ by a few kB (lazily built caches), so allow 1 % + 64 kB.
MEM_SLACK_REL, MEM_SLACK_MB = 0.01, 1 / 16
# The tol search of nmfkit stops after a run GIVE_UP times slower than sklearn.
GIVE_UP = 10.0


# ------------------------------------------------------------------------ data
def planted_dense(n_samples, n_features, rank, seed, noise=0.01):
    """Non-negative ``W (n x r) @ H (r x m)`` plus small non-negative noise.

    W and H have about half of their entries zero (sparse parts, as in
    interpretable factors) and exponential non-zeros; the noise is
    exponential with mean ``noise * mean(WH)``.
    """
    rng = np.random.default_rng(seed)
    W = rng.exponential(1.0, (n_samples, rank)) * (rng.random((n_samples, rank)) < 0.5)
    H = rng.exponential(1.0, (rank, n_features)) * (rng.random((rank, n_features)) < 0.5)
    X = W @ H
    X += rng.exponential(noise * X.mean(), X.shape)
    return X


def tfidf_like(n_docs, n_words, density, seed):
    """Random CSR documents x words matrix with TF-IDF-like values.

    Exactly ``round(density * n_docs * n_words)`` stored entries; word
    popularity follows a Zipf-like law (p ~ 1 / (rank + 10)); term counts are
    geometric; value = (1 + log count) * idf, rows l2-normalised.
    """
    rng = np.random.default_rng(seed)
    nnz = int(round(density * n_docs * n_words))
    p = 1.0 / (np.arange(n_words) + 10.0)
    p /= p.sum()
    keys = np.empty(0, dtype=np.int64)
    while keys.size < nnz:
        draw = 2 * (nnz - keys.size) + 1000
        rows = rng.integers(0, n_docs, draw)
        cols = rng.choice(n_words, size=draw, p=p)
        keys = np.unique(np.concatenate([keys, rows.astype(np.int64) * n_words + cols]))
    keys = np.sort(rng.choice(keys, size=nnz, replace=False))
    rows, cols = np.divmod(keys, n_words)
    counts = rng.geometric(0.5, nnz).astype(np.float64)
    X = sp.csr_matrix((1.0 + np.log(counts), (rows, cols)), shape=(n_docs, n_words))
    df = np.bincount(cols, minlength=n_words)
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    X = X @ sp.diags(idf)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X = sp.diags(1.0 / norms) @ X
    X = sp.csr_matrix(X)
    X.sort_indices()
    return X


_DATA_CACHE = {}


def _cached(make):
    """Build each data set once per process (cases and thread settings share it)."""
    def get(scale):
        key = (make.__name__, scale)
        if key not in _DATA_CACHE:
            _DATA_CACHE[key] = make(scale)
        return _DATA_CACHE[key]
    get.__name__ = make.__name__
    return get


@_cached
def data_a(scale):
    return planted_dense(5000 // scale, 1000 // scale, RANK, seed=0)


@_cached
def data_b(scale):
    return tfidf_like(20000 // scale, 5000 // scale, 0.005, seed=1)


@_cached
def data_d(scale):
    return planted_dense(100000 // scale, 500 // scale, 15, seed=2)


# ----------------------------------------------------------------------- cases
CASES = {
    "a": dict(
        title="(a) dense 5000 x 1000, planted rank 20 + noise, Frobenius, solver='cd'",
        data=data_a, estimator="NMF", loss=C.frobenius_loss, goal=5.0,
        params=dict(n_components=RANK, solver="cd", random_state=0),
        equal_iters=(10, 50), blas=True,
    ),
    "b": dict(
        title="(b) sparse 20000 x 5000 TF-IDF-like (density 0.5 %), k=20, "
              "Frobenius, solver='cd'",
        data=data_b, estimator="NMF", loss=C.frobenius_loss, goal=5.0,
        params=dict(n_components=RANK, solver="cd", random_state=0),
        equal_iters=(10, 50), blas=False,
    ),
    "c": dict(
        title="(c) the matrix of (a), Kullback-Leibler, solver='mu'",
        data=data_a, estimator="NMF", loss=C.kl_loss, goal=5.0,
        params=dict(n_components=RANK, solver="mu", beta_loss="kullback-leibler",
                    random_state=0),
        equal_iters=(10, 50), blas=False,
    ),
    "d": dict(
        title="(d) MiniBatchNMF, dense 100000 x 500, planted rank 15 + noise, "
              "k=20, Frobenius",
        data=data_d, estimator="MiniBatchNMF", loss=C.frobenius_loss, goal=3.0,
        params=dict(n_components=RANK, random_state=0),
        equal_iters=(1, 5), blas=False,
        note="The loss is that of the estimator's output on the whole X: the `W` "
             "returned by `fit_transform` (for a mini-batch solver, each row as "
             "last updated during its pass) with `components_`.",
    ),
}


def get_estimator(side, name):
    """The estimator class ``name`` of ``side`` ("sklearn" or "nmfkit")."""
    if side == "sklearn":
        import sklearn.decomposition as mod
    else:
        import nmfkit as mod
    cls = getattr(mod, name, None)
    if cls is None:
        raise ImportError(f"{mod.__name__}.{name} is not available")
    return cls


def fit(cls, X, **params):
    """Fit a fresh estimator; return ``(W, H, n_iter)``. Warnings silenced."""
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W = est.fit_transform(X)
    return W, est.components_, est.n_iter_


def _no_early_stop(case, params):
    params = dict(params, tol=0.0)
    if case["estimator"] == "MiniBatchNMF":
        params["max_no_improvement"] = None
    return params


# ------------------------------------------------------------------ measuring
def time_to_loss(cls, X, params, target, loss, max_tries=5, give_up_s=float("inf")):
    """One timed nmfkit run with ``params``, dividing tol by 10 until loss <= target.

    At most ``max_tries`` runs; the search also stops after a run that took
    longer than ``give_up_s`` (the speed goal is missed by far then). Returns
    a dict with the time of the last run, the loss, n_iter, the tol used, the
    parameters and whether the target was reached.
    """
    p = dict(params)
    defaults = cls().get_params()
    tol = p.get("tol", defaults["tol"])
    max_iter = p.get("max_iter", defaults["max_iter"])
    for attempt in range(max_tries):
        if attempt:
            tol /= 10.0
            max_iter *= 2
            p.update(tol=tol, max_iter=max_iter)
        t, (W, H, n_iter) = C.best_time(lambda: fit(cls, X, **p), 1)
        value = loss(X, W, H)
        reached = value <= target * TIE
        if reached or t > give_up_s:
            break
    return dict(time=t, loss=value, n_iter=n_iter, tol=tol, max_iter=max_iter,
                reached=reached, params=p, tries=attempt + 1)


def earliest_stop(cls, X, params, target, loss, n_iter_max):
    """Smallest ``max_iter`` in 1, 2, 4, ... whose fit reaches ``target``.

    Used when nmfkit's default run ends well below scikit-learn's final loss:
    the default stopping rule then overshoots, and this shows when nmfkit had
    got there. One timed run per ``max_iter``; returns a dict or None.
    """
    n = 1
    while n < n_iter_max:
        p = dict(params, max_iter=n)
        t, (W, H, n_iter) = C.best_time(lambda: fit(cls, X, **p), 1)
        value = loss(X, W, H)
        if value <= target * TIE:
            return dict(time=t, loss=value, max_iter=n)
        n *= 2
    return None


def interleaved_best(funcs, repeats, first_times):
    """Best times of several functions, timed in turns (ABAB...).

    ``first_times`` are the times of one run of each already made. Taking
    turns exposes every side to the same background load on a shared
    machine. Stops repeating once a round took more than ``C.LONG_RUN_S``.
    """
    best = list(first_times)
    for _ in range(max(0, repeats - 1)):
        if sum(first_times) > C.LONG_RUN_S:
            break
        for i, f in enumerate(funcs):
            t, _ = C.best_time(f, 1)
            best[i] = min(best[i], t)
    return best


def per_iteration_times(fits, products, rounds, n_lo=10, n_hi=60):
    """Seconds per iteration of several solvers, and of some products.

    ``fits[name](n)`` runs exactly ``n`` iterations from the same start; the
    cost of one iteration is ``(t(n_hi) - t(n_lo)) / (n_hi - n_lo)``, which
    removes initialisation and set-up. ``products[name]()`` is timed as is.
    Everything is timed in turns, round after round, and the best time of each
    is kept, so that all of them see the same background load.
    """
    best = {name: [float("inf"), float("inf")] for name in fits}
    best_prod = {name: float("inf") for name in products}
    for _ in range(max(3, rounds)):
        for name, f in products.items():
            t, _ = C.best_time(f, 3)
            best_prod[name] = min(best_prod[name], t)
        for name, fit_n in fits.items():
            for j, n in enumerate((n_lo, n_hi)):
                t, _ = C.best_time(lambda: fit_n(n), 1)
                best[name][j] = min(best[name][j], t)
    per_iter = {name: max(hi - lo, 0.0) / (n_hi - n_lo)
                for name, (lo, hi) in best.items()}
    return per_iter, best_prod


def run_case(key, candidate, scale, repeats, log):
    case = CASES[key]
    X = case["data"](scale)
    loss = case["loss"]
    sk = get_estimator("sklearn", case["estimator"])
    nk = get_estimator(candidate, case["estimator"])
    params = dict(case["params"])
    res = dict(key=key, title=case["title"], goal=case["goal"],
               shape=X.shape, sparse=sp.issparse(X))
    log(f"[{key}] data {X.shape}, {'sparse nnz=%d' % X.nnz if sp.issparse(X) else 'dense'}")

    # warm-up, both sides
    for cls in (sk, nk):
        fit(cls, X, **dict(params, max_iter=2))

    # scikit-learn with its defaults: its final loss is the target
    t_sk, (W, H, it_sk) = C.best_time(lambda: fit(sk, X, **params), 1)
    res["sk"] = dict(time=t_sk, loss=loss(X, W, H), n_iter=it_sk)
    log(f"[{key}] sklearn: {t_sk:.3f} s, loss {res['sk']['loss']:.9g}, {it_sk} iter")

    # nmfkit to the same loss, then both timed in turns
    nres = time_to_loss(nk, X, params, res["sk"]["loss"], loss,
                        give_up_s=GIVE_UP * t_sk)
    res["sk"]["time"], nres["time"] = interleaved_best(
        [lambda: fit(sk, X, **params), lambda: fit(nk, X, **nres["params"])],
        repeats, [t_sk, nres["time"]])
    t_sk = res["sk"]["time"]
    res["nk"] = nres
    res["ratio"] = t_sk / nres["time"] if nres["time"] > 0 else float("inf")
    res["speed_pass"] = nres["reached"] and res["ratio"] >= case["goal"]
    log(f"[{key}] nmfkit: {nres['time']:.3f} s, loss {nres['loss']:.9g}, "
        f"{nres['n_iter']} iter, tol {nres['tol']:g}, ratio {res['ratio']:.2f}")

    # nmfkit's default stopping overshooting the target: when was it there?
    res["early"] = None
    if nres["reached"] and nres["tries"] == 1 and nres["loss"] < 0.99 * res["sk"]["loss"]:
        res["early"] = earliest_stop(nk, X, nres["params"], res["sk"]["loss"], loss,
                                     nres["n_iter"])
        if res["early"]:
            e = res["early"]
            log(f"[{key}] nmfkit max_iter={e['max_iter']}: {e['time']:.3f} s, "
                f"loss {e['loss']:.9g}, ratio {t_sk / e['time']:.2f}")

    # equal iteration counts
    res["equal"] = []
    for n in case["equal_iters"]:
        p = dict(_no_early_stop(case, params), max_iter=n)
        Ws, Hs, _ = fit(sk, X, **p)
        Wn, Hn, _ = fit(nk, X, **p)
        res["equal"].append((n, loss(X, Ws, Hs), loss(X, Wn, Hn)))
        log(f"[{key}] {n} iter: sklearn {res['equal'][-1][1]:.9g}, "
            f"nmfkit {res['equal'][-1][2]:.9g}")

    # peak traced memory of the timed fits
    res["mem_sk"], _ = C.peak_memory_mb(lambda: fit(sk, X, **params))
    res["mem_nk"], _ = C.peak_memory_mb(lambda: fit(nk, X, **nres["params"]))
    res["mem_pass"] = res["mem_nk"] <= res["mem_sk"] * (1 + MEM_SLACK_REL) + MEM_SLACK_MB
    log(f"[{key}] peak MB: sklearn {res['mem_sk']:.1f}, nmfkit {res['mem_nk']:.1f}")

    if case["blas"]:
        res["blas"] = blas_bound(nk, sk, X, params, repeats, log, key)
    return res


def _core_hals():
    try:
        from nmfkit._core.hals import fit_hals
    except ImportError:
        return None
    return fit_hals


def blas_bound(nk, sk, X, params, repeats, log, key):
    """Per-iteration time vs the two BLAS products ``X H^T``, ``W^T X`` (case a).

    nmfkit: its HALS core (``nmfkit._core.hals.fit_hals``) called directly with
    ``tol=0`` and ``compress=False`` (exact iterations only), with its default
    accelerated inner sweeps and with ``accelerate=False`` (one sweep per
    half-iteration, the plain HALS iteration), from a fixed random start.
    scikit-learn: ``NMF(solver="cd", tol=0)``, differences of ``max_iter``.
    """
    k = params["n_components"]
    rng = np.random.default_rng(0)
    scale = np.sqrt(X.mean() / k)
    W0 = np.ascontiguousarray(rng.random((X.shape[0], k)) * scale)
    H0 = np.ascontiguousarray(rng.random((k, X.shape[1])) * scale)

    # Each product in its two layouts (the result or its transpose); the
    # bound takes the faster one of each, as a solver is free to choose.
    Wc = np.ascontiguousarray(W0)
    XT = X.T
    layouts = {
        "X @ H.T": lambda: X @ H0.T,
        "H @ X.T": lambda: H0 @ XT,
        "W.T @ X": lambda: Wc.T @ X,
        "X.T @ W": lambda: XT @ Wc,
    }

    fits = {}
    fit_hals = _core_hals() if nk.__module__.startswith("nmfkit") else None
    if fit_hals is not None:
        for name, acc in (("nk", True), ("nk_plain", False)):
            def fit_n(n, acc=acc):
                return fit_hals(X, W0.copy(), H0.copy(), tol=0.0, max_iter=n,
                                compress=False, accelerate=acc)
            fits[name] = fit_n
    else:  # harness check with scikit-learn as the candidate
        fits["nk"] = lambda n: fit(nk, X, **dict(params, tol=0.0, max_iter=n))
    fits["sk"] = lambda n: fit(sk, X, **dict(params, tol=0.0, max_iter=n))

    per_iter, t_layout = per_iteration_times(fits, layouts, repeats)
    t_prod = (min(t_layout["X @ H.T"], t_layout["H @ X.T"])
              + min(t_layout["W.T @ X"], t_layout["X.T @ W"]))
    out = dict(t_prod=t_prod, layouts=t_layout)
    for name, t in per_iter.items():
        out["t_" + name] = t
        out["ratio_" + name] = t / t_prod
    log(f"[{key}] products {t_prod * 1e3:.2f} ms; per iteration: "
        + ", ".join(f"{n} {out['t_' + n] * 1e3:.2f} ms ({out['ratio_' + n]:.2f}x)"
                    for n in per_iter))
    return out


# --------------------------------------------------------------------- report
def _verdict(ok):
    return "PASS" if ok else "FAIL"


def case_markdown(res, candidate):
    sk, nk = res["sk"], res["nk"]
    name = "nmfkit" if candidate == "nmfkit" else f"{candidate} (as candidate)"
    tol_note = f"tol={nk['tol']:g}" + ("" if nk["reached"] else ", did not reach")
    lines = [f"#### {res['title']}", ""]
    rows = [
        ["time to scikit-learn's final loss", C.fmt_seconds(sk["time"]),
         C.fmt_seconds(nk["time"]),
         f"{res['ratio']:.2f}x (goal >= {res['goal']:g}x) "
         f"**{_verdict(res['speed_pass'])}**"],
        ["final loss", C.fmt_loss(sk["loss"]), C.fmt_loss(nk["loss"]),
         f"nmfkit/sklearn = {nk['loss'] / sk['loss']:.6f}"],
        ["iterations (stopping)", f"{sk['n_iter']} (tol=1e-4)",
         f"{nk['n_iter']} ({tol_note})", ""],
    ]
    if res.get("early"):
        e = res["early"]
        rows.append([
            f"nmfkit stopped at max_iter={e['max_iter']} (smallest power of 2 "
            "reaching the loss; one run)", "", C.fmt_seconds(e["time"]),
            f"{sk['time'] / e['time']:.2f}x; loss {C.fmt_loss(e['loss'])} (info only)"])
    unit = "epochs" if "MiniBatch" in res["title"] else "iterations"
    for n, ls, ln in res["equal"]:
        rows.append([f"loss after {n} {unit} (tol=0)", C.fmt_loss(ls), C.fmt_loss(ln),
                     f"nmfkit/sklearn = {ln / ls:.4f}"])
    rows.append(["peak traced memory of the fit", f"{res['mem_sk']:.1f} MB",
                 f"{res['mem_nk']:.1f} MB", f"**{_verdict(res['mem_pass'])}**"])
    if "blas" in res:
        b = res["blas"]
        rows.append([
            "one iteration / (X Hᵀ + Wᵀ X)",
            f"{b['t_sk'] * 1e3:.2f} ms = {b['ratio_sk']:.2f}x",
            f"{b['t_nk'] * 1e3:.2f} ms = {b['ratio_nk']:.2f}x",
            f"products {b['t_prod'] * 1e3:.2f} ms ("
            + ", ".join(f"`{n}` {t * 1e3:.1f}" for n, t in b["layouts"].items())
            + f" ms); goal <= 2x "
            f"**{_verdict(b['ratio_nk'] <= 2.0)}**"])
        if "t_nk_plain" in b:
            rows.append([
                "one plain iteration (accelerate=False) / products", "",
                f"{b['t_nk_plain'] * 1e3:.2f} ms = {b['ratio_nk_plain']:.2f}x",
                f"goal <= 2x **{_verdict(b['ratio_nk_plain'] <= 2.0)}**"])
    lines += C.markdown_table(["", "scikit-learn", name, "result"], rows)
    notes = failure_notes(res)
    if CASES[res["key"]].get("note"):
        notes.insert(0, CASES[res["key"]]["note"])
    sk_max_iter = get_estimator("sklearn", CASES[res["key"]]["estimator"])().max_iter
    if sk["n_iter"] >= sk_max_iter:
        notes.insert(0, f"scikit-learn stopped at max_iter={sk_max_iter} without "
                        "meeting its tol; its final loss is its loss after "
                        f"{sk_max_iter} iterations.")
    if notes:
        lines += [""] + [f"*Note:* {n}" for n in notes]
    return lines


def failure_notes(res):
    notes = []
    sk, nk = res["sk"], res["nk"]
    if not nk["reached"]:
        notes.append(
            f"nmfkit did not reach scikit-learn's final loss {sk['loss']:.9g} "
            f"with tol down to {nk['tol']:g} and max_iter={nk['max_iter']} "
            f"(loss {nk['loss']:.9g} after {nk['n_iter']} iterations, "
            f"{nk['time']:.2f} s; the search stops at tol=1e-8 or after a run "
            f"{GIVE_UP:g}x slower than scikit-learn's).")
    elif not res["speed_pass"]:
        notes.append(
            f"speed goal missed: nmfkit took {nk['time']:.3f} s vs scikit-learn "
            f"{sk['time']:.3f} s ({res['ratio']:.2f}x < {res['goal']:g}x); it needed "
            f"{nk['n_iter']} iterations at tol={nk['tol']:g} vs {sk['n_iter']}.")
    if not res["mem_pass"]:
        notes.append(
            f"peak memory above scikit-learn's: {res['mem_nk']:.1f} MB vs "
            f"{res['mem_sk']:.1f} MB.")
    b = res.get("blas", {})
    for name, what in (("nk", "iteration"), ("nk_plain", "plain iteration")):
        if b.get("ratio_" + name, 0.0) > 2.0:
            notes.append(
                f"one nmfkit {what} costs {b['ratio_' + name]:.2f}x the two products "
                f"({b['t_' + name] * 1e3:.2f} ms vs {b['t_prod'] * 1e3:.2f} ms), "
                "above the 2x bound.")
    return notes


def _busy(run):
    """A caution when other work loaded the machine during the run."""
    try:
        loads = [float(v.split(",")[0]) for v in (run["load_start"], run["load_end"])]
    except ValueError:
        return ""
    cores = os.cpu_count() or 1
    if max(loads) <= cores + 1:  # the benchmark itself accounts for ~1-2
        return ""
    return (f"**Caution:** the 1-minute load average was up to {max(loads):.1f} on "
            f"{cores} cores at the start or end of these cases (this benchmark included; the rest "
            "is other work on the machine), so "
            "every time above is inflated and noisy; ratios taken in turns are "
            "less affected than absolute times, but treat single ratios near a "
            "goal as uncertain.")


def _threads_label(threads):
    return ("BLAS threads: library default" if threads is None
            else f"BLAS threads: {threads} (--blas-threads)")


def report_markdown(runs, args, candidate, pending=()):
    """The markdown section. ``runs``: one dict per BLAS-thread setting."""
    lines = [
        "## nmfkit vs scikit-learn (`benchmarks/bench_nmf.py`)",
        "",
        f"Command (from the repository root): `{C.command_line()}`  ",
        f"Run: {C.utc_now()} ({args.total_s / 60:.1f} min), everything in one "
        f"process, best of {args.repeats} timings per configuration (taken in "
        "turns, one only when a round exceeds 30 s) after one warm-up fit per side.",
        "",
    ]
    lines += C.markdown_table(["", ""], args.machine)
    lines += [
        "",
        "How to read: scikit-learn runs with its defaults (`tol=1e-4`, "
        "`init=None`, `random_state=0`); its final loss is recomputed from the "
        "returned `W, H` by one exact function for both sides "
        "(0.5·‖X − WH‖²_F without densifying a sparse X, or the generalized KL "
        "divergence). nmfkit runs with the same parameters; if it stops above "
        "that loss it is rerun with `tol/10` (and `max_iter` doubled) until it "
        "reaches it, and the tol it needed is shown (the search gives up at "
        f"tol=1e-8 or after a run {GIVE_UP:g}x slower than scikit-learn's). "
        "ratio = t_sklearn / t_nmfkit. Losses at equal iteration counts use "
        "`tol=0` on both sides. Peak memory is the `tracemalloc` peak (numpy "
        "buffers included) during a separate fit with the timed parameters, "
        "the input excluded. Absolute times vary between runs on this shared "
        "machine; the ratios are the result.",
    ]
    if any(run["threads"] is not None for run in runs):
        lines += [
            "",
            "BLAS threads: with other work on the machine, multi-threaded "
            "OpenBLAS waits for descheduled threads and fits become several "
            "times slower and erratic; runs with `--blas-threads 1` limit both "
            "sides to one BLAS thread (threadpoolctl), which keeps them "
            "comparable (see `benchmarks/README.md`).",
        ]
    for run in runs:
        lines += ["", f"### {_threads_label(run['threads'])}", "",
                  f"Load average (1, 5, 15 min) at start / end: "
                  f"{run['load_start']} / {run['load_end']}.", ""]
        rows = []
        for r in run["results"]:
            rows.append([r["key"], C.fmt_seconds(r["sk"]["time"]),
                         C.fmt_seconds(r["nk"]["time"]),
                         f"{r['ratio']:.2f}x" if r["nk"]["reached"] else "not reached",
                         f">= {r['goal']:g}x", _verdict(r["speed_pass"]),
                         f"{r['mem_sk']:.0f} / {r['mem_nk']:.0f} MB",
                         _verdict(r["mem_pass"])])
        lines += C.markdown_table(
            ["case", "scikit-learn", "nmfkit", "ratio", "goal", "speed",
             "peak memory sklearn / nmfkit", "memory"], rows)
        busy = _busy(run)
        if busy:
            lines += ["", busy]
        for key, why in run["skipped"]:
            lines += ["", f"Case ({key}) not run: {why}"]
        for r in run["results"]:
            lines += [""] + case_markdown(r, candidate)
    if pending:
        lines += ["", "**Incomplete run:** " + "; ".join(pending)
                  + " had not finished when this was written."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="a,b,c,d",
                    help="comma-separated subset of a,b,c,d (default: all)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timings per configuration, the best is kept (default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="data 5x smaller in each dimension, for a smoke test; "
                         "writes nothing unless --write")
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                    help="rewrite the bench_nmf section of docs/benchmarks.md "
                         "(default: yes, except with --quick)")
    ap.add_argument("--candidate", choices=["nmfkit", "sklearn"], default="nmfkit",
                    help="the estimators compared to scikit-learn; 'sklearn' "
                         "checks the harness itself (ratios near 1)")
    ap.add_argument("--blas-threads", default="default",
                    help="comma-separated BLAS thread settings, each run in turn "
                         "for all cases: 'default' (the libraries' own) or a "
                         "number, limiting both sides through threadpoolctl "
                         "(e.g. 'default,1'); default: 'default'")
    args = ap.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in args.cases if c not in CASES]
    if bad:
        ap.error(f"unknown case(s) {bad}; choose from {sorted(CASES)}")
    try:
        args.blas_threads = [None if t.strip() == "default" else int(t)
                             for t in args.blas_threads.split(",") if t.strip()]
    except ValueError:
        ap.error(f"--blas-threads: 'default' or integers, got {args.blas_threads!r}")
    if args.write is None:
        args.write = not args.quick
    return args


def main(argv=None):
    args = parse_args(argv)
    scale = 5 if args.quick else 1

    def log(msg):
        print(msg, flush=True)

    # Load every BLAS the run will use (numpy's, scipy's) before describing
    # the machine and before limiting threads.
    import scipy.linalg  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    from threadpoolctl import threadpool_limits

    args.machine = C.machine_description()
    runs = []
    t0 = time.perf_counter()

    def write(pending):
        # After every case, so that a run cut short still leaves its results.
        runs[-1]["load_end"] = C.load_average()
        args.total_s = time.perf_counter() - t0
        text = report_markdown(runs, args, args.candidate, pending)
        if args.write:
            path = C.update_doc_section(SECTION, text)
            log(f"wrote section '{SECTION}' of {os.path.relpath(path)}")
        return text

    todo = [(threads, key) for threads in args.blas_threads for key in args.cases]
    for i, (threads, key) in enumerate(todo):
        if not runs or runs[-1]["threads"] != threads:
            runs.append(dict(threads=threads, results=[], skipped=[],
                             load_start=C.load_average(), load_end=None))
            log(f"--- {_threads_label(threads)}")
        run = runs[-1]
        limits = (threadpool_limits(limits=threads, user_api="blas")
                  if threads is not None else None)
        try:
            get_estimator(args.candidate, CASES[key]["estimator"])
            run["results"].append(
                run_case(key, args.candidate, scale, args.repeats, log))
        except Exception as exc:  # report a broken case, run the others
            run["skipped"].append((key, f"error `{type(exc).__name__}: {exc}`"))
            log(f"[{key}] failed: {type(exc).__name__}: {exc}")
        finally:
            if limits is not None:
                limits.restore_original_limits()
        pending = [f"case ({k}), {_threads_label(t)}" for t, k in todo[i + 1:]]
        text = write(pending)
    log(f"total {args.total_s:.1f} s")
    print()
    print(text)
    return runs


if __name__ == "__main__":
    main()
