"""
==========================================
Every rank criterion of NMFk, side by side
==========================================

:class:`nmfkit.NMFk` fits the base factorization to many slightly perturbed
copies of the data at every candidate rank, and measures in that one scan
several criteria of how reproducible the factorization is: the silhouettes of
the aligned components and coefficients (minimum, mean and 10% quantile), the
consensus of the samples' clusters (cophenetic correlation and dispersion),
the held-out score of the base estimator, and the reconstruction error.
``selection`` names the rule that turns them into a rank; ``picks_`` tells
what every rule would have chosen from the same scan.

Here the data have a planted rank of 4: stable up to 4, every criterion
breaks past it.
"""

# %%
# A matrix with a planted rank
# ----------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np

from nmfkit import NMFk, NMFkDisplay

rng = np.random.RandomState(0)
W = rng.exponential(size=(100, 4)) * (rng.rand(100, 4) < 0.5)
H = rng.exponential(size=(4, 60)) * (rng.rand(4, 60) < 0.4)
W[rng.randint(100, size=4), np.arange(4)] += 1.0
H[np.arange(4), rng.randint(60, size=4)] += 1.0
X = W @ H
X += 0.05 * X.mean() * rng.rand(*X.shape)

# %%
# One scan, every criterion
# -------------------------
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # short runs: convergence warnings
    model = NMFk(n_components_range=range(1, 8), n_perturbs=8, random_state=0,
                 n_jobs=2).fit(X)

print(f"chosen rank: {model.n_components_} (decided by {model.decided_by_!r})")
for rule, k in model.picks_.items():
    print(f"  selection={rule!r:<13} picks k={k}")

# %%
# The curves
# ----------
# Left: silhouettes of the components (blue) and coefficients (orange); the
# minimum and the low quantile collapse past the planted rank. Middle: the
# consensus of the samples' clusters. Right: the held-out score levels off at
# the planted rank while the training error keeps falling.
display = NMFkDisplay.from_estimator(model)
display.figure_.suptitle("NMFk criteria on a matrix of planted rank 4", y=1.02)
plt.show()
