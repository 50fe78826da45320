"""
=================================
Topics and their words with SeNMF
=================================

:class:`nmfkit.SeNMF` is a topic model: it factorizes the documents x words
matrix together with the words' shifted positive PMI (how much more often two
words share a document than chance says), the word factors being shared, so
that words that co-occur land in the same topic. Here it runs on a corpus
generated with planted topics (:func:`nmfkit.datasets.make_topic_corpus`:
Zipf word frequencies, each word favoured by one *home* topic, Poisson counts)
and is compared with a plain Kullback-Leibler :class:`nmfkit.NMF` of the
counts: how well each recovers the planted topics, and how well the dominant
topic of a document matches its planted one (NMI). On this corpus of
documents of 40 words the two are close (the printed numbers); the
co-occurrence term is meant for short, sparse documents, where counts alone
say little about which rare words belong together (the arXiv case study of
the user guide). The generated words are given made-up names so that the
topics read like topics (``mozi0``, the most frequent word, is in every topic,
as function words are).

When the arXiv abstracts of ``../shared/data/text/arxiv_2007_abstracts``
(beside the repository, or ``$NMFKIT_DATA/text/...``; not shipped with
nmfkit) are present, the last section shows SeNMF's topics of 2,000 real
abstracts. :class:`nmfkit.SeNMFk` also chooses the number of topics; see
``examples/arxiv_topics.py``.
"""

import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score

from nmfkit import NMF, SeNMF
from nmfkit.datasets import make_topic_corpus

warnings.simplefilter("ignore", ConvergenceWarning)
SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL") == "1"
N_TOPICS = 5

# %%
# A corpus with planted topics
# ----------------------------
X, labels, topics, proportions = make_topic_corpus(
    n_documents=600 if SMALL else 1500, n_words=500 if SMALL else 1000,
    n_topics=N_TOPICS, doc_length=40.0, random_state=0)
syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "da", "go",
             "fu", "zi", "be", "no", "ha", "ri", "mo", "te", "lu"]
rng = np.random.default_rng(0)
vocabulary = np.array(["".join(rng.choice(syllables, size=2 + (i % 2)))
                       + str(i) for i in range(X.shape[1])])
print(f"{X.shape[0]} documents, {X.shape[1]} words, {X.nnz} non-zero counts, "
      f"{N_TOPICS} planted topics")


def topic_match(components):
    """Cosine of each planted topic with its matched fitted topic."""
    A = topics / np.linalg.norm(topics, axis=1, keepdims=True)
    B = components / np.maximum(np.linalg.norm(components, axis=1, keepdims=True),
                                1e-12)
    cos = A @ B.T
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return cos[rows, cols], cols


# %%
# SeNMF and a plain KL NMF of the same counts
# -------------------------------------------
senmf = SeNMF(n_components=N_TOPICS, feature_names=vocabulary, random_state=0)
W_se = senmf.fit_transform(X)
nmf = NMF(n_components=N_TOPICS, beta_loss="kullback-leibler", solver="mu",
          init="nndsvda", max_iter=400, random_state=0)
W_nmf = nmf.fit_transform(X)
scores = {}
for name, W, H in [("SeNMF", W_se, senmf.components_),
                   ("NMF (KL)", W_nmf, nmf.components_)]:
    cos, order = topic_match(H)
    nmi = normalized_mutual_info_score(labels, W.argmax(axis=1))
    scores[name] = (cos, nmi)
    print(f"{name:9s} topic cosine min {cos.min():.3f} mean {cos.mean():.3f}, "
          f"NMI of the dominant topic {nmi:.3f}")
cos_se, order_se = topic_match(senmf.components_)
words = senmf.top_words(8)
for t in order_se:
    print(f"topic {t}: {' '.join(words[t])}")

# %%
# The words of each topic
# -----------------------
# Each panel: the eight heaviest words of one SeNMF topic (matched to the
# planted topics, in their order), with their weight.
fig, axes = plt.subplots(1, N_TOPICS + 1, figsize=(14, 3.6), layout="constrained",
                         gridspec_kw={"width_ratios": [1] * N_TOPICS + [1.2]})
for p, (ax, t) in enumerate(zip(axes, order_se)):
    idx = np.argsort(-senmf.components_[t])[:8]
    ax.barh(vocabulary[idx][::-1], senmf.components_[t, idx][::-1], color=f"C{p}")
    ax.set_title(f"topic {p} (cos {cos_se[p]:.2f})", fontsize=9)
    ax.set_xticks([])
ax = axes[-1]
x = np.arange(2)
ax.bar(x - 0.2, [scores[n][0].mean() for n in scores], 0.4, label="topic cosine")
ax.bar(x + 0.2, [scores[n][1] for n in scores], 0.4, label="NMI")
ax.set_xticks(x)
ax.set_xticklabels(list(scores))
ax.set_ylim(0, 1)
ax.legend(fontsize=8, loc="lower right")
ax.set_title("against the planted topics", fontsize=9)
plt.show()

# %%
# Topics of real abstracts (when the arXiv data are present)
# ----------------------------------------------------------
# the shared data sets: $NMFKIT_DATA, else ../shared/data from the repository root
DATA = Path(os.environ.get("NMFKIT_DATA", "../shared/data"))
ARXIV = DATA / "text" / "arxiv_2007_abstracts" / "arxiv_data.csv"
if ARXIV.is_file() and not SMALL:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    abstracts = pd.read_csv(ARXIV, usecols=["abstract"])["abstract"]
    vectorizer = TfidfVectorizer(stop_words="english", min_df=5, max_df=0.5,
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    X_arxiv = vectorizer.fit_transform(abstracts)
    arxiv = SeNMF(n_components=6, random_state=0).fit(X_arxiv)
    arxiv_words = arxiv.top_words(8, feature_names=vectorizer)
    print(f"arXiv: {X_arxiv.shape[0]} abstracts, {X_arxiv.shape[1]} words")
    fig, axes = plt.subplots(1, 6, figsize=(14, 3.4), layout="constrained")
    for t, ax in enumerate(axes):
        idx = np.argsort(-arxiv.components_[t])[:8]
        ax.barh(np.array(arxiv_words[t])[::-1], arxiv.components_[t, idx][::-1],
                color=f"C{t}")
        ax.set_xticks([])
        ax.set_title(f"arXiv topic {t}", fontsize=9)
    plt.show()
else:
    print(f"arXiv abstracts not found at {ARXIV}: section skipped")
