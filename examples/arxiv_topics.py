"""
=====================================
Topics of arXiv abstracts with SeNMFk
=====================================

:class:`nmfkit.text.SeNMFk` is a topic model that chooses its number of
topics. It factorizes the TF-IDF matrix of the abstracts together with the
shifted positive PMI of the words (how much more often two words share an
abstract than chance says), the topics being shared, and runs that
factorization on perturbed copies of the data for every candidate number of
topics; it keeps the largest number whose topics come back the same every
time (NMFk's silhouettes).

It sits at the end of a scikit-learn ``Pipeline`` that starts from raw
strings, and ``top_words`` reads the words from the vectorizer.

The data are 2,000 arXiv abstracts of April 2007, read from
``../shared/data/text/arxiv_2007_abstracts/arxiv_data.csv`` beside the
repository (or ``$NMFKIT_DATA/text/...``); they are not part of nmfkit. The
full report, with NMF and LDA side by side, is
``benchmarks/bench_senmfk_arxiv.py`` (``docs/senmfk_arxiv.md``).

Run it from the repository root: ``python examples/arxiv_topics.py`` (a few
minutes on 2 cores; it saves ``arxiv_topics.png`` in the current directory).
``NMFKIT_EXAMPLE_SMALL=1`` runs a reduced version on 500 abstracts.
"""

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import normalized_mutual_info_score
from sklearn.pipeline import make_pipeline

from nmfkit import SeNMFk

REPO = Path(__file__).resolve().parent.parent

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL") == "1"
root = os.environ.get("NMFKIT_DATA")
DATA = ((Path(root) if root else REPO.parent / "shared" / "data")
        / "text" / "arxiv_2007_abstracts" / "arxiv_data.csv")
if not DATA.is_file():
    sys.exit(f"arXiv abstracts not found at {DATA}; set NMFKIT_DATA to the "
             "folder holding text/arxiv_2007_abstracts/")

# %%
# The abstracts and their primary archive (``cond-mat.supr-con`` -> ``cond-mat``)
df = pd.read_csv(DATA, usecols=["categories", "abstract"])
if SMALL:
    df = df.iloc[:500]
archive = df["categories"].str.split().str[0].str.split(".").str[0]

# %%
# TF-IDF -> SeNMFk, from raw strings
pipe = make_pipeline(
    TfidfVectorizer(min_df=5, max_df=0.5, stop_words="english"),
    SeNMFk(
        n_components_range=range(4, 7) if SMALL else range(6, 15, 2),
        n_perturbs=3 if SMALL else 5,
        shift=5.0,               # keep word pairs at least 5x more frequent than chance
        context_smoothing=0.5,   # damp the PMI of rare words
        max_iter=50 if SMALL else 100,
        tol=1e-3,
        n_jobs=-1,
        random_state=0,
    ),
)
tic = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # convergence / "no stable k" notices
    W = pipe.fit_transform(df["abstract"])
model = pipe[-1]
print(f"{len(df)} abstracts: SeNMFk chose {model.n_components_} topics "
      f"({time.perf_counter() - tic:.1f} s)")

# %%
# The topics, each with the archive most of its documents come from
dominant = W.argmax(axis=1)
for t, words in enumerate(model.top_words(8, feature_names=pipe[0])):
    members = archive[dominant == t]
    main = members.value_counts().index[0] if len(members) else "-"
    print(f"  topic {t} ({main}, {len(members)} docs): {' '.join(words)}")
print(f"NMI of the dominant topic vs the archive: "
      f"{normalized_mutual_info_score(archive, dominant):.3f}")

# %%
# New text gets topic weights too
new = ["We measure the rotation curves of spiral galaxies with the telescope.",
       "We prove that every finite group acting on the manifold is abelian."]
for text, w in zip(new, pipe.transform(new)):
    print(f"  {text[:50]}... -> topic {int(np.argmax(w))}")

# %%
# Silhouettes and relative error against the number of topics
try:
    import matplotlib

    if not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nmfkit.rank import NMFkDisplay
except ImportError:  # pragma: no cover - matplotlib is optional
    print("matplotlib is not installed: no plot")
else:
    display = NMFkDisplay.from_estimator(model.nmfk_)
    display.ax_.set_title(f"SeNMFk on arXiv abstracts: {model.n_components_} topics")
    if matplotlib.get_backend().lower() == "agg":
        display.figure_.savefig("arxiv_topics.png", dpi=100)
        print("saved arxiv_topics.png")
    else:  # pragma: no cover - interactive
        plt.show()
