"""SeNMF and SeNMFk at the size of a real corpus, against a KL NMF of the documents.

One run, one process, the same data for every method:

* the arXiv abstracts of ``../shared/data/text/arxiv_2007_abstracts/`` as
  counts (``CountVectorizer(min_df=5, max_df=0.5, stop_words="english")``),
  and a generated corpus of similar statistics with planted topics
  (:func:`nmfkit.datasets.make_topic_corpus`: 4,000 documents, 3,000 words);
* one ``SeNMF(n_components=5)`` fit (library defaults: plain SPPMI, KL,
  ``tol=1e-4``, random start) against one KL ``NMF`` of the documents x words
  matrix alone with the same ``k``, ``tol`` and start, over three seeds
  (median ratio), each fit the shortest of ``--repeats`` runs, one BLAS
  thread each, then again with BLAS on ``--threads`` threads (the SPPMI
  passes are split over them too); and once the SeNMF of before this
  solver (nmfkit's ``NMF`` on the stacked ``[X; gamma S]``, same objective);
* topics: NMI / ARI of the dominant topic against the labels (primary
  archive, planted topic) and NPMI of the top-10 words (as
  ``docs/senmfk_arxiv.md``);
* ``SeNMFk`` over k = 2..12 with 20 perturbations on the generated corpus,
  2 worker processes, with ``early_stopping``.

Writes its section of ``docs/benchmarks.md``. Run from the repository root::

    python benchmarks/bench_senmf_speed.py           # the full run
    python benchmarks/bench_senmf_speed.py --quick   # a smoke run, no write
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import pandas as pd  # noqa: E402
from _common import (  # noqa: E402
    command_line,
    load_average,
    machine_table,
    markdown_table,
    update_doc_section,
    utc_now,
)
from bench_senmfk_arxiv import data_path, npmi_coherence, primary_archive  # noqa: E402
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    adjusted_rand_score,
    normalized_mutual_info_score,
)
from threadpoolctl import threadpool_limits  # noqa: E402

from nmfkit import NMF, SeNMF, SeNMFk  # noqa: E402
from nmfkit.datasets import make_topic_corpus  # noqa: E402
from nmfkit.text import _vstack_csr, cooccurrence, sppmi  # noqa: E402


def corpora(quick):
    out = []
    path = data_path()
    if path.is_file():
        df = pd.read_csv(path, usecols=["categories", "abstract"])
        X = CountVectorizer(min_df=5, max_df=0.5, stop_words="english").fit_transform(
            df["abstract"]).astype(np.float64)
        out.append(("arXiv abstracts (counts)", sp.csr_matrix(X),
                    primary_archive(df["categories"]).to_numpy()))
    else:
        print(f"arXiv abstracts not found at {path}: skipped")
    n_docs = 1000 if quick else 4000
    X, labels, _, _ = make_topic_corpus(n_documents=n_docs, random_state=0)
    out.append((f"generated (make_topic_corpus, {n_docs} documents)", X, labels))
    return out


def old_senmf(X, k, seed):
    """SeNMF as it was solved before: nmfkit's NMF on the stacked matrix."""
    S = sppmi(cooccurrence(X))
    scale = float(X.sum()) / float(S.sum())
    nmf = NMF(n_components=k, solver="mu", beta_loss="kullback-leibler",
              init="random", random_state=seed)
    W = nmf.fit_transform(_vstack_csr(X, S * scale))
    return W[: X.shape[0]], nmf.components_, nmf.n_iter_


def timed(fn, repeats=1):
    """``fn()``, its shortest wall-clock and CPU times over ``repeats`` runs."""
    walls, cpus = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    return out, min(walls), min(cpus)


def quality(W, H, labels, B):
    dom = np.asarray(W).argmax(axis=1)
    idx = np.argsort(-H, axis=1, kind="stable")[:, :10]
    return (normalized_mutual_info_score(labels, dom),
            adjusted_rand_score(labels, dom), float(npmi_coherence(idx, B).mean()))


def single_fits(name, X, labels, seeds, repeats, more_threads):
    k = 5
    B = (X > 0).astype(np.float64).tocsc()
    S = sppmi(cooccurrence(X))
    stats = (f"{X.shape[0]} x {X.shape[1]}, {X.nnz:,} stored counts; SPPMI "
             f"{S.nnz:,} stored ({S.nnz / X.shape[1] ** 2:.0%} of words^2)")
    print(f"{name}: {stats}", flush=True)
    rows, ratios_wall, ratios_cpu = [], [], []
    for seed in seeds:
        def fit_nmf():
            return NMF(n_components=k, solver="mu", beta_loss="kullback-leibler",
                       init="random", random_state=seed).fit(X)

        def fit_senmf():
            return SeNMF(n_components=k, init="random", random_state=seed).fit(X)

        nmf, tw_n, tc_n = timed(fit_nmf, repeats)
        se, tw_s, tc_s = timed(fit_senmf, repeats)
        W_n = nmf.transform(X)
        W_s = se.transform(X)
        q_n, q_s = quality(W_n, nmf.components_, labels, B), quality(
            W_s, se.components_, labels, B)
        ratios_wall.append(tw_s / tw_n)
        ratios_cpu.append(tc_s / tc_n)
        rows.append((seed, tw_n, nmf.n_iter_, q_n, tw_s, se.n_iter_, q_s))
        print(f"  seed {seed}: NMF {tw_n:.2f} s ({nmf.n_iter_} it) NMI {q_n[0]:.3f}"
              f" | SeNMF {tw_s:.2f} s ({se.n_iter_} it) NMI {q_s[0]:.3f} | ratio "
              f"{tw_s / tw_n:.2f} wall, {tc_s / tc_n:.2f} CPU", flush=True)
    # the same fits with BLAS (and so the SPPMI passes) on more threads
    threaded = []
    for threads in more_threads:
        with threadpool_limits(limits=threads, user_api="blas"):
            ratios = []
            for seed in seeds:
                _, tw_n, _ = timed(lambda: NMF(
                    n_components=k, solver="mu", beta_loss="kullback-leibler",
                    init="random", random_state=seed).fit(X), repeats)
                _, tw_s, _ = timed(lambda: SeNMF(
                    n_components=k, init="random", random_state=seed).fit(X), repeats)
                ratios.append((tw_n, tw_s))
                print(f"  {threads} threads, seed {seed}: NMF {tw_n:.2f} s | SeNMF "
                      f"{tw_s:.2f} s | ratio {tw_s / tw_n:.2f}", flush=True)
        threaded.append((threads, ratios))
    return [stats, rows, ratios_wall, ratios_cpu, threaded, None]


def before(X, labels, seed, new_time):
    B = (X > 0).astype(np.float64).tocsc()
    (W_o, H_o, it_o), tw_o, _ = timed(lambda: old_senmf(X, 5, seed))
    old = (tw_o, it_o, quality(W_o, H_o, labels, B), new_time)
    print(f"  before: SeNMF as NMF of the stack {tw_o:.1f} s ({it_o} it), NMI "
          f"{old[2][0]:.3f}", flush=True)
    return old


def scan(X, labels, ks, n_perturbs, early):
    model = SeNMFk(n_components_range=ks, n_perturbs=n_perturbs, n_jobs=2,
                   early_stopping=early, random_state=0)
    _, tw, _ = timed(lambda: model.fit(X))
    W = model.transform(X)
    nmi = normalized_mutual_info_score(labels, W.argmax(axis=1))
    print(f"SeNMFk early_stopping={early}: k={model.n_components_} in {tw:.0f} s, "
          f"scanned {model.n_components_range_.tolist()}, NMI {nmi:.3f}", flush=True)
    return model, tw, nmi


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small corpus, one seed, short scan, no write")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--repeats", type=int, default=2,
                        help="time each fit this many times, keep the shortest")
    parser.add_argument("--threads", type=int, nargs="*", default=[2],
                        help="also time the fits with BLAS on this many threads")
    parser.add_argument("--skip-before", action="store_true",
                        help="do not time the SeNMF of before (slow)")
    parser.add_argument("--part", choices=["fits", "scan", "all"], default="all",
                        help="single fits (section bench_senmf_speed), the "
                        "SeNMFk scan (section bench_senmf_scan), or both")
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    load0 = load_average()
    seeds = [0] if args.quick else [0, 1, 2]
    repeats = 1 if args.quick else args.repeats
    save = not (args.quick or args.no_write)
    if args.part in ("fits", "all"):
        results = []
        data = corpora(args.quick)
        with threadpool_limits(limits=1, user_api="blas"):
            for name, X, labels in data:
                results.append([name] + single_fits(name, X, labels, seeds, repeats,
                                                    args.threads))
                if save:
                    write(results, load0, t_start)
            if not (args.quick or args.skip_before):
                for res, (name, X, labels) in zip(results, data):
                    res[-1] = before(X, labels, seeds[0], res[2][0][4])
                    if save:
                        write(results, load0, t_start)
    if args.part in ("scan", "all"):
        gen_name, X_gen, y_gen = corpora(args.quick)[-1]
        ks = range(2, 7) if args.quick else range(2, 13)
        n_perturbs = 4 if args.quick else 20
        scan_res = scan(X_gen, y_gen, ks, n_perturbs, True)
        if save:
            write_scan(scan_res, ks, n_perturbs, load0, t_start)


def header(title, load0, t_start):
    minutes = (time.perf_counter() - t_start) / 60
    return [
        f"## {title} (`benchmarks/bench_senmf_speed.py`)",
        "",
        f"Command (from the repository root): `{command_line()}`  ",
        f"Run: {utc_now()} ({minutes:.1f} min so far), everything in one process; "
        f"load average at start / now: {load0} / {load_average()} (a shared "
        "machine: the ratios are the result, not the absolute times).",
        "",
    ]


def write(results, load0, t_start):
    lines = header("SeNMF at corpus scale", load0, t_start) + [
        *machine_table(),
        "",
        "One `SeNMF(n_components=5, init='random')` fit (library defaults: plain "
        "SPPMI of document co-occurrence, KL, `tol=1e-4`, `max_iter=200`) against "
        "one KL `NMF(n_components=5, solver='mu', init='random')` of the "
        "documents x words matrix alone, same seed, one BLAS thread each "
        "(threadpoolctl), each the shortest of `--repeats` runs; the SeNMF time "
        "includes building the co-occurrence and "
        "SPPMI matrices. Goal: SeNMF at most 4x the NMF. 'before' is the same "
        "objective solved as before this solver (nmfkit's `NMF` on the stacked "
        "matrix), one seed. NMI / ARI: dominant topic against the labels "
        "(primary arXiv archive; planted topic); NPMI: top-10 words of each "
        "topic, document co-occurrence of the corpus itself.",
        "",
    ]
    for name, stats, rows, rw, rc, threaded, old in results:
        lines += [f"### {name}", "", f"{stats}.", ""]
        table = []
        for seed, tw_n, it_n, q_n, tw_s, it_s, q_s in rows:
            table.append([seed, f"{tw_n:.2f} s ({it_n})", f"{tw_s:.2f} s ({it_s})",
                          f"{tw_s / tw_n:.2f}",
                          f"{q_n[0]:.3f} / {q_n[1]:.3f} / {q_n[2]:.3f}",
                          f"{q_s[0]:.3f} / {q_s[1]:.3f} / {q_s[2]:.3f}"])
        lines += markdown_table(
            ["seed", "NMF (iterations)", "SeNMF (iterations)", "ratio (wall)",
             "NMF NMI / ARI / NPMI", "SeNMF NMI / ARI / NPMI"], table)
        lines += ["", f"Median ratio SeNMF / NMF: **{statistics.median(rw):.2f}x** "
                  f"wall clock (worst {max(rw):.2f}x), {statistics.median(rc):.2f}x "
                  "CPU time."]
        for threads, pairs in threaded:
            r = [s_ / n_ for n_, s_ in pairs]
            lines += ["", f"With BLAS on {threads} threads (the SPPMI passes split "
                      f"over them too): median ratio **{statistics.median(r):.2f}x** "
                      f"(worst {max(r):.2f}x); NMF "
                      f"{statistics.median([n_ for n_, _ in pairs]):.2f} s, SeNMF "
                      f"{statistics.median([s_ for _, s_ in pairs]):.2f} s (medians)."]
        if old is not None:
            tw_o, it_o, q_o, tw_new = old
            lines += ["", f"Before (SeNMF as NMF of the stacked matrix, seed "
                      f"{rows[0][0]}): {tw_o:.1f} s, {it_o} iterations, NMI / ARI / "
                      f"NPMI {q_o[0]:.3f} / {q_o[1]:.3f} / {q_o[2]:.3f}: "
                      f"{tw_o / tw_new:.1f}x the time of the new SeNMF fit."]
        lines.append("")
    update_doc_section("bench_senmf_speed", "\n".join(lines))
    print("wrote docs/benchmarks.md (bench_senmf_speed)")


def write_scan(scan_res, ks, n_perturbs, load0, t_start):
    model, tw, nmi = scan_res
    lines = header("SeNMFk at corpus scale", load0, t_start) + [
        f"`SeNMFk(n_components_range=range({ks.start}, {ks.stop}), "
        f"n_perturbs={n_perturbs}, n_jobs=2, early_stopping=True, "
        "random_state=0)` on the generated corpus of the section above (5 "
        f"planted topics): **{tw / 60:.1f} min** wall clock (goal: within 10 "
        f"min on 2 cores), chose k = {model.n_components_}, scanned k = "
        f"{model.n_components_range_.tolist()} "
        f"({len(model.n_components_range_) * n_perturbs} fits), NMI of the "
        f"dominant topic {nmi:.3f}.",
        "",
    ]
    sil = model.silhouettes_
    table = [[k, f"{sil['components_min'][i]:.3f}", f"{sil['coefficients_min'][i]:.3f}",
              int(np.max(model.nmfk_.n_iter_[i]))]
             for i, k in enumerate(model.n_components_range_)]
    lines += markdown_table(["k", "min silhouette H", "min silhouette W",
                             "most iterations"], table)
    update_doc_section("bench_senmf_scan", "\n".join(lines))
    print("wrote docs/benchmarks.md (bench_senmf_scan)")


if __name__ == "__main__":
    main()
