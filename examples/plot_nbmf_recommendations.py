"""
======================================================
Movie recommendations with NBMF (binary item features)
======================================================

:class:`nmfkit.NBMF` factorizes a users x items rating matrix into
non-negative user weights and **binary** item features (each movie has a
feature or not), fitting only the rated entries. Here it is fitted to the
training ratings of the canonical fold u1 of MovieLens 100k, its error on the
20,000 held-out test ratings is compared with two baselines (the mean rating,
and each movie's mean rating), and it recommends to a few users the unrated
movies with the highest predicted rating.

MovieLens 100k is read from ``../shared/data/movielens/ml-100k`` beside the
repository (or ``$NMFKIT_DATA/movielens/ml-100k``); it is not shipped with
nmfkit: download ``ml-100k.zip`` from GroupLens (grouplens.org, "MovieLens
100K Dataset") and unzip it there. Without it, the example generates ratings
from planted binary features (users x items, 6% rated) and runs the same code.
``NMFKIT_EXAMPLE_SMALL=1`` shortens the fit (the test suite does).
"""

import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from nmfkit import NBMF
from nmfkit.datasets import load_movielens

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL") == "1"
# the shared data sets: $NMFKIT_DATA, else ../shared/data from the repository root
DATA = Path(os.environ.get("NMFKIT_DATA", "../shared/data"))
FOLDER = DATA / "movielens" / "ml-100k"


def movie_titles(folder):
    """Titles by item index from ``u.item`` (``id|title|...``, Latin-1)."""
    titles = {}
    path = folder / "u.item"
    if path.is_file():
        for line in path.read_text(encoding="latin-1").splitlines():
            parts = line.split("|")
            if len(parts) > 1 and parts[0].isdigit():
                titles[int(parts[0]) - 1] = parts[1]
    return titles


def generated_ratings(n_users=600, n_items=400, k=6, density=0.06, seed=0):
    """Ratings 1..5 from planted user weights and binary item features."""
    rng = np.random.default_rng(seed)
    W = rng.gamma(2.0, 0.5, size=(n_users, k))
    H = (rng.random((k, n_items)) < 0.35).astype(float)
    R = W @ H
    R = np.clip(np.round(1 + 4 * R / np.quantile(R, 0.98)), 1, 5)
    rated = rng.random(R.shape) < density
    rows, cols = np.nonzero(rated)
    test = rng.random(rows.size) < 0.2
    X = sp.csr_matrix((R[rows[~test], cols[~test]], (rows[~test], cols[~test])),
                      shape=R.shape)
    return X, (rows[test], cols[test], R[rows[test], cols[test]])


def rmse(pred, truth):
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


# %%
# The ratings
# -----------
if (FOLDER / "u.data").is_file():
    ml = load_movielens(FOLDER, fold=1)
    X = ml.data  # 943 users x 1682 movies, unrated entries not stored
    rows, cols, truth = ml.test_pairs
    titles = movie_titles(FOLDER)
    source = f"MovieLens 100k, fold u1 ({ml.source})"
else:
    X, (rows, cols, truth) = generated_ratings()
    titles = {}
    source = "generated ratings (MovieLens 100k not found)"
print(f"{source}: {X.nnz} training ratings, {truth.size} test ratings, "
      f"{X.shape[0]} users x {X.shape[1]} items")

# %%
# Fit, and predict the held-out ratings
# -------------------------------------
model = NBMF(n_components=6 if SMALL else 8, max_iter=5 if SMALL else 100,
             random_state=0)
with warnings.catch_warnings():
    if SMALL:  # the shortened fit stops before convergence on purpose
        warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X)
pred = model.predict_ratings(rows, cols)
test_rmse = rmse(pred, truth)

# baselines: the mean training rating; each movie's mean training rating
mean = X.data.mean()
counts = np.diff(X.tocsc().indptr)
sums = np.asarray(X.sum(axis=0)).ravel()
item_mean = np.where(counts > 0, sums / np.maximum(counts, 1), mean)
baselines = {"global mean": rmse(np.full(truth.size, mean), truth),
             "movie mean": rmse(item_mean[cols], truth)}
print(f"NBMF k={model.n_components_}: {model.n_iter_} iterations, "
      f"ridge {model.ridge_:.2f}, test RMSE {test_rmse:.4f}")
for name, value in baselines.items():
    print(f"baseline {name}: test RMSE {value:.4f}")
features_per_movie = model.components_.sum(axis=0)
print(f"binary features per movie: mean {features_per_movie.mean():.2f}, "
      f"movies with none: {np.sum(features_per_movie == 0)}")

# %%
# Recommendations
# ---------------
# The five unrated movies with the highest predicted rating, for three users.
# Movies with the same binary features get the same prediction for a user,
# hence the ties.
users = [0, 1, 2]
top = model.recommend(X[users], n=5)
for user, items in zip(users, top):
    print(f"user {user + 1}: recommended")
    for item in items[items >= 0]:
        rating = model.predict_ratings(user, item)
        print(f"    {titles.get(item, f'item {item + 1}')} "
              f"(predicted {float(rating):.2f})")

# %%
# Error, binary features of the most rated movies, and the recommendations
# ------------------------------------------------------------------------
fig = plt.figure(figsize=(13, 7.5), layout="constrained")
upper, lower = fig.subfigures(2, 1, height_ratios=[1.1, 1])
ax1, ax2 = upper.subplots(1, 2, gridspec_kw={"width_ratios": [1, 3]})
names = ["NBMF", "movie mean", "global mean"]
ax1.bar(names, [test_rmse, baselines["movie mean"], baselines["global mean"]],
        color=["tab:green", "tab:blue", "lightgray"])
ax1.set_ylim(0.8 * test_rmse, None)
ax1.set_ylabel("test RMSE (lower is better)")
most_rated = np.argsort(-counts)[:30]
ax2.imshow(model.components_[:, most_rated], cmap="Greys", aspect="auto",
           interpolation="nearest")
ax2.set_xticks(range(most_rated.size))
ax2.set_xticklabels([titles.get(i, f"item {i + 1}")[:22] for i in most_rated],
                    rotation=70, ha="right", fontsize=7)
ax2.set_yticks(range(model.n_components_))
ax2.set_ylabel("binary feature")
ax2.set_title("binary features of the 30 most rated items (black: has it)")
for ax, user, items in zip(lower.subplots(1, len(users)), users, top):
    items = items[items >= 0]
    ratings = model.predict_ratings(np.full(items.size, user), items)
    ax.barh([titles.get(i, f"item {i + 1}")[:28] for i in items][::-1], ratings[::-1],
            color="tab:green")
    ax.set_xlim(1, 5.2)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("predicted rating")
    ax.set_title(f"user {user + 1}: top 5 unrated", fontsize=10)
plt.show()
