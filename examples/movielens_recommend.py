"""Movie recommendations on MovieLens 100k with NBMF.

Fits :class:`nmfkit.NBMF` (non-negative user weights, binary movie features)
to the training ratings of the canonical fold u1 of ml-100k, measures the
error on its 20,000 held-out test ratings against two baselines (the mean
rating, and each movie's mean rating), then recommends to a few users the
unrated movies with the highest predicted rating, with their titles.

The data are read from ``../shared/data/movielens/ml-100k`` (or
``$NMFKIT_DATA/movielens/ml-100k``): download ml-100k from GroupLens and point
there; it is never shipped with nmfkit. With ``NMFKIT_EXAMPLE_SMALL=1`` the fit
is shortened (fewer features and iterations) for the test suite.

Run::

    python examples/movielens_recommend.py
"""

import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from nmfkit import NBMF
from nmfkit.datasets import load_movielens

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL") == "1"
HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("NMFKIT_DATA", HERE.parent.parent / "shared" / "data"))
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


def rmse(pred, truth):
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


if __name__ == "__main__":
    ml = load_movielens(FOLDER, fold=1)
    X = ml.data  # 943 users x 1682 movies, unrated entries not stored
    rows, cols, truth = ml.test_pairs
    print(f"training ratings: {X.nnz}, test ratings: {truth.size}, "
          f"matrix {X.shape[0]} users x {X.shape[1]} movies ({ml.source})")

    model = NBMF(n_components=6 if SMALL else 10, max_iter=5 if SMALL else 100,
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

    titles = movie_titles(FOLDER)
    users = [0, 1, 2]
    top = model.recommend(X[users], n=5)
    for user, items in zip(users, top):
        print(f"user {ml.user_ids[user]}: recommended")
        for item in items[items >= 0]:
            rating = model.predict_ratings(user, item)
            print(f"    {titles.get(item, f'movie {ml.item_ids[item]}')} "
                  f"(predicted {float(rating):.2f})")
