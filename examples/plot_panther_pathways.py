"""
=============================================================================
PANTHER: pathway-augmented tensor features of variant counts for a classifier
=============================================================================

A cohort is generated with :func:`nmfkit.datasets.make_pathway_cohort`:
samples x genes variant counts, a binary pathways x genes map, and disease
classes each driven by a planted group of overlapping pathways (class 0 are
controls). The paper's preprocessing keeps genes that are in a pathway and
mutated in at least 5% of the samples, and drops pathways contained in
another. :class:`nmfkit.PANTHER` factorizes the samples x pathways x genes
tensor ``T[s, p, g] = X[s, g] P[p, g]`` (never formed) and names the pathway
group of each component; its per-sample features then feed a
LogisticRegression in a Pipeline, with the rank chosen by GridSearchCV, and
the cross-validated accuracy is compared with LogisticRegression on the raw
genes.

Run it with ``python examples/plot_panther_pathways.py``. Set the environment
variable ``NMFKIT_EXAMPLE_SMALL=1`` for a quicker run (the test suite does).
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from nmfkit import PANTHER
from nmfkit.datasets import make_pathway_cohort
from nmfkit.tensor import drop_redundant_pathways, select_mutated_genes

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL", "") not in ("", "0")
# %%
# The cohort and the paper's preprocessing
# ----------------------------------------
cohort = make_pathway_cohort(n_samples=200 if SMALL else 400, n_genes=300 if SMALL else 500,
                             n_pathways=40 if SMALL else 60, random_state=0)
X, y, P = cohort.data, cohort.target, cohort.pathways

# the paper's preprocessing
genes = select_mutated_genes(X, min_fraction=0.05) & (np.asarray(P.sum(axis=0)).ravel() > 0)
X, P = X[:, genes], P[:, genes]
pathways = drop_redundant_pathways(P)
P = P[pathways]
pathway_ids = np.flatnonzero(pathways)  # indices in the generated map
print(f"cohort: {X.shape[0]} samples, {X.shape[1]} genes kept, {P.shape[0]} pathways kept, "
      f"{100 * (X > 0).mean():.1f}% non-zero counts")

# %%
# The pathway groups PANTHER finds
# --------------------------------
model = PANTHER(pathways=P, n_components=4, random_state=0).fit(X)
print("top pathways per component (planted groups in brackets):")
group_of = {int(p): g for g, paths in enumerate(cohort.group_pathways) for p in paths}
for r, top in enumerate(model.top_pathways_):
    names = [f"{pathway_ids[i]}[g{group_of[pathway_ids[i]]}]" if pathway_ids[i] in group_of
             else str(pathway_ids[i]) for i in top[:6]]
    print(f"  component {r} (weight {model.weights_[r]:.3g}): {' '.join(names)}")

# %%
# PANTHER features for a classifier, the rank chosen by GridSearchCV
# ------------------------------------------------------------------
cv = StratifiedKFold(3 if SMALL else 5, shuffle=True, random_state=0)
panther_clf = Pipeline([("panther", PANTHER(pathways=P, random_state=0)),
                        ("scale", StandardScaler()),
                        ("clf", LogisticRegression(max_iter=2000))])
search = GridSearchCV(panther_clf, {"panther__n_components": [4, 8]},
                      cv=cv)
raw_clf = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=2000))])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    search.fit(X, y)
    panther_acc = cross_val_score(search.best_estimator_, X, y, cv=cv)
    raw_acc = cross_val_score(raw_clf, X, y, cv=cv)
best_rank = search.best_params_["panther__n_components"]
print(f"GridSearchCV over the rank: best n_components = {best_rank}")
print(f"cross-validated accuracy, PANTHER(k={best_rank}) + LR: {panther_acc.mean():.3f}")
print(f"cross-validated accuracy, LR on the raw genes:      {raw_acc.mean():.3f}")
print(f"chance: {1 / len(np.unique(y)):.3f}")

# %%
# Accuracy, and the pathway factors against the planted groups
# ------------------------------------------------------------
# Right: the pathway factor of each component (columns), pathways sorted by
# planted group (the colour bar on the left; grey: no group).
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained",
                               gridspec_kw={"width_ratios": [1, 1.4]})
names = [f"PANTHER (k={best_rank})\n+ LR", "LR on\nraw genes", "chance"]
values = [panther_acc.mean(), raw_acc.mean(), 1 / len(np.unique(y))]
ax1.bar(names, values, color=["tab:green", "tab:blue", "lightgray"],
        yerr=[panther_acc.std(), raw_acc.std(), 0], capsize=4)
ax1.set_ylabel("cross-validated accuracy")
groups = np.array([group_of.get(int(p), -1) for p in pathway_ids])
order = np.lexsort((np.arange(groups.size), np.where(groups < 0, groups.max() + 1, groups)))
F = model.pathway_factors_[order]
F = F / np.maximum(F.max(axis=0), 1e-12)
ax2.imshow(F, aspect="auto", cmap="magma_r", interpolation="nearest",
           extent=(-0.5, F.shape[1] - 0.5, F.shape[0] - 0.5, -0.5))
for i, g in enumerate(groups[order]):
    ax2.add_patch(plt.Rectangle((-0.9, i - 0.5), 0.35, 1, clip_on=False,
                                color=f"C{g}" if g >= 0 else "lightgray"))
ax2.set_xlim(-0.95, F.shape[1] - 0.5)
ax2.set_xticks(range(F.shape[1]))
ax2.set_xlabel("component")
ax2.set_ylabel("pathway (sorted by planted group)")
ax2.set_title("pathway factors (scaled per component)")
plt.show()
