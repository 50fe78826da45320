"""
=============================================
Choosing the rank of an NMF with GridSearchCV
=============================================

The data are planted: ``X`` is ``W H`` with Poisson (count) noise, for
non-negative ``W`` (300 x 6) and ``H`` (6 x 120), so the true rank is 6. The training reconstruction error
always improves when ``n_components`` grows, so it cannot pick the rank.
:meth:`nmfkit.NMF.score` instead hides a fixed random 20% of the entries,
fits the rows' coefficients on the rest with the learned components fixed,
and scores the prediction of the hidden entries (bi-cross-validation). Too
few components underfit; too many fit the noise and predict the hidden
entries worse. The best mean test score of ``GridSearchCV`` falls at or near
the true rank.

Run it with ``python examples/plot_gridsearch_rank.py``. Set the environment
variable ``NMFKIT_EXAMPLE_SMALL=1`` for a quicker run on a narrower grid (the
test suite does).
"""

import os

import matplotlib.pyplot as plt
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

# %%
# The search
# ----------
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

# %%
# Held-out score against training error
# -------------------------------------
# The training error of a fit on all of ``X`` keeps falling with the rank;
# the held-out score peaks.
train_error = {k: NMF(n_components=k, init="nndsvda", max_iter=1000, random_state=0)
               .fit(X).reconstruction_err_ / np.linalg.norm(X) for k in ranks}
std = search.cv_results_["std_test_score"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
ax1.errorbar(list(ranks), list(mean_scores.values()), yerr=std, marker="o", capsize=3)
ax1.axvline(TRUE_RANK, color="gray", ls="--", label=f"planted rank {TRUE_RANK}")
ax1.plot([best_k], [mean_scores[best_k]], "r*", ms=14, label=f"best: {best_k}")
ax1.set_xlabel("n_components")
ax1.set_ylabel("mean held-out score (higher is better)")
ax1.legend()
ax2.plot(list(ranks), list(train_error.values()), "o-", color="tab:orange")
ax2.axvline(TRUE_RANK, color="gray", ls="--")
ax2.set_xlabel("n_components")
ax2.set_ylabel("training error ||X - WH|| / ||X||")
ax2.set_title("keeps improving: cannot choose the rank")
plt.show()
