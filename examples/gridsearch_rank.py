"""Choose the rank of an NMF with GridSearchCV.

The data are planted: ``X`` is ``W H`` with Poisson (count) noise, for
non-negative ``W`` (300 x 6) and ``H`` (6 x 120), so the true rank is 6. The training reconstruction error
always improves when ``n_components`` grows, so it cannot pick the rank.
:meth:`nmfkit.NMF.score` instead hides a fixed random 20% of the entries,
fits the rows' coefficients on the rest with the learned components fixed,
and scores the prediction of the hidden entries (bi-cross-validation). Too
few components underfit; too many fit the noise and predict the hidden
entries worse. The best mean test score of ``GridSearchCV`` falls at or near
the true rank.

Run it with ``python examples/gridsearch_rank.py``. Set the environment
variable ``NMFKIT_EXAMPLE_SMALL=1`` for a quicker run on a narrower grid (the
test suite does).
"""

import os

import numpy as np
from sklearn.model_selection import GridSearchCV

from nmfkit import NMF

TRUE_RANK = 6
SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL", "") not in ("", "0")


def make_planted(n_samples=300, n_features=120, rank=TRUE_RANK, noise=0.3,
                 random_state=0):
    """Non-negative data of known rank with Poisson (count) noise.

    ``X = Poisson(s W H) / s`` with the scale ``s`` set so that the noise at
    the mean entry has a coefficient of variation of ``noise``: unbiased
    (``E[X] = W H``), non-negative, and larger where the signal is larger.
    """
    rng = np.random.default_rng(random_state)
    W = rng.exponential(1.0, size=(n_samples, rank))
    # Each component uses a random half of the features.
    H = rng.exponential(1.0, size=(rank, n_features))
    H *= rng.random((rank, n_features)) < 0.5
    signal = W @ H
    scale = 1.0 / (noise**2 * signal.mean())
    return rng.poisson(signal * scale) / scale


X = make_planted()
ranks = range(3, 10) if SMALL else range(2, 13)

search = GridSearchCV(
    NMF(init="nndsvda", max_iter=1000, random_state=0),
    {"n_components": list(ranks)},
    cv=3 if SMALL else 5,
)
search.fit(X)

best_k = search.best_params_["n_components"]
mean_scores = dict(zip(ranks, search.cv_results_["mean_test_score"]))

print(f"data: {X.shape[0]} x {X.shape[1]}, planted rank {TRUE_RANK}")
print("n_components  mean held-out score (higher is better)")
for k, score in mean_scores.items():
    marker = "  <- best" if k == best_k else ""
    print(f"{k:>12}  {score:.6g}{marker}")
print(f"best n_components: {best_k} (true rank {TRUE_RANK})")
