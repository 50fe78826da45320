"""
==========================================================================
Non-negative CP of a samples x time x channels array, rank by GridSearchCV
==========================================================================

The data are planted: each of the samples is a sum of ``TRUE_RANK`` rank-one
patterns ``time profile o channel signature`` with non-negative per-sample
amplitudes, plus Poisson-like noise -- e.g. trials x time x electrodes, or
patients x visits x markers. :class:`nmfkit.NonnegativeCP` takes the samples
flattened (``tensor_shape=(n_times, n_channels)``) so that it sits in a
:class:`~sklearn.pipeline.Pipeline`; its ``score`` hides 20% of the entries of
each held-out sample, fits the sample's coefficients on the rest and scores
the prediction of the hidden ones, so ``GridSearchCV`` over ``n_components``
finds the planted rank. The fitted time profiles and channel signatures are
then compared with the planted ones (cosine after matching), with complete
data and with 30% of the entries missing (NaN).

Run it with ``python examples/plot_tensor_cp_rank.py``. Set the environment
variable ``NMFKIT_EXAMPLE_SMALL=1`` for a quicker run (the test suite does).
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline

from nmfkit import NonnegativeCP

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL", "") not in ("", "0")
TRUE_RANK = 4
N_SAMPLES, N_TIMES, N_CHANNELS = (90, 20, 12) if SMALL else (150, 40, 24)

rng = np.random.default_rng(0)
t = np.linspace(0, 1, N_TIMES)
# smooth bumps in time, sparse signatures over channels, skewed amplitudes
times = np.stack([np.exp(-0.5 * ((t - c) / 0.08) ** 2)
                  for c in np.linspace(0.15, 0.85, TRUE_RANK)], axis=1)
channels = rng.random((N_CHANNELS, TRUE_RANK)) * (rng.random((N_CHANNELS, TRUE_RANK)) < 0.5)
amplitudes = rng.exponential(1.0, size=(N_SAMPLES, TRUE_RANK))
signal = np.einsum("sr,tr,cr->stc", amplitudes, times, channels)
scale = 400.0 / signal.max()
X = rng.poisson(signal * scale) / scale  # N_SAMPLES x N_TIMES x N_CHANNELS

# %%
# The rank by held-out entries
# ----------------------------
pipe = Pipeline([("cp", NonnegativeCP(tensor_shape=(N_TIMES, N_CHANNELS),
                                      random_state=0, max_iter=300))])
ranks = list(range(1, 8))
search = GridSearchCV(pipe, {"cp__n_components": ranks},
                      cv=KFold(3, shuffle=True, random_state=0))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X.reshape(N_SAMPLES, -1))
best_k = search.best_params_["cp__n_components"]
mean_scores = dict(zip(ranks, search.cv_results_["mean_test_score"]))

print(f"data: {N_SAMPLES} samples x {N_TIMES} times x {N_CHANNELS} channels, "
      f"planted rank {TRUE_RANK}")
print("n_components  mean held-out score (higher is better)")
for k, s in mean_scores.items():
    print(f"{k:>12}  {s:.6g}{'  <- best' if k == best_k else ''}")
print(f"best n_components: {best_k} (true rank {TRUE_RANK})")


# %%
# Recovery of the planted factors, complete and with missing entries
# ------------------------------------------------------------------
def recovery(model):
    """Smallest cosine between planted and fitted time / channel factors."""
    fitted = [model.factors_[1], model.factors_[2]]
    planted = [times, channels]
    cos = sum((P / np.linalg.norm(P, axis=0)).T @ F for P, F in zip(planted, fitted))
    rows, cols = linear_sum_assignment(cos, maximize=True)
    per_mode = []
    for P, F in zip(planted, fitted):
        c = (P[:, rows] / np.linalg.norm(P[:, rows], axis=0)) * F[:, cols]
        per_mode.append(float(c.sum(axis=0).min()))
    return per_mode


full = NonnegativeCP(n_components=TRUE_RANK, random_state=0).fit(X)
X_missing = X.copy()
X_missing[rng.random(X.shape) < 0.3] = np.nan
missing = NonnegativeCP(n_components=TRUE_RANK, random_state=0).fit(X_missing)
recovered = {"complete": recovery(full), "30% missing": recovery(missing)}
for name, (cos_t, cos_c) in recovered.items():
    print(f"{name:>12}: smallest cosine to the planted factors: time {cos_t:.3f}, "
          f"channels {cos_c:.3f}")

# %%
# The score per rank, and the factors found
# -----------------------------------------
# Dashed: the planted time profiles and channel signatures; solid: the fitted
# ones (30% of the entries missing), matched and scaled to the same maximum.
fitted = [missing.factors_[1], missing.factors_[2]]
cos = sum((P / np.linalg.norm(P, axis=0)).T @ F for P, F in zip([times, channels], fitted))
_, order = linear_sum_assignment(cos, maximize=True)
fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
ax0.plot(ranks, list(mean_scores.values()), "o-")
ax0.axvline(TRUE_RANK, color="gray", ls="--", label=f"planted rank {TRUE_RANK}")
ax0.set_xlabel("n_components")
ax0.set_ylabel("mean held-out score")
ax0.legend()
for r in range(TRUE_RANK):
    color = f"C{r}"
    ax1.plot(t, times[:, r] / times[:, r].max(), "--", color=color)
    f = fitted[0][:, order[r]]
    ax1.plot(t, f / f.max(), color=color)
    x = np.arange(N_CHANNELS) + 0.2 * (r - TRUE_RANK / 2)
    g = fitted[1][:, order[r]]
    ax2.vlines(x, 0, g / g.max(), color=color, lw=2)
    ax2.plot(x, channels[:, r] / max(channels[:, r].max(), 1e-12), "_", color="k", ms=6)
ax1.set_xlabel("time")
ax1.set_title("time profiles (dashed: planted)")
ax2.set_xlabel("channel")
ax2.set_title("channel signatures (black ticks: planted)")
plt.show()
