"""
===========================================
Choosing the number of components with NMFk
===========================================

:class:`nmfkit.NMFk` fits the factorization many times to slightly perturbed
copies of the data for every candidate rank ``k``, aligns the components of the
runs and measures how reproducible they are (the cosine silhouette of the
aligned clusters). It keeps the largest ``k`` whose components *and*
coefficients are reproducible (minimum silhouette >= 0.8).

Two data sets:

1. synthetic data with a planted rank of 6 -- the silhouettes stay near 1 up to
   ``k = 6`` and collapse right after, while the relative error stops
   improving at the same ``k``;
2. scikit-learn's handwritten digits (1,797 images of 8 x 8 pixels), where the
   rank is not known: NMFk says how many parts-based components the pixels
   support reproducibly.

Run it from the repository root: ``python examples/plot_rank_selection.py``.
``NMFKIT_EXAMPLE_SMALL=1`` runs a reduced version (fewer
perturbations and candidates) in a few seconds, as the test suite does.
"""

import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from nmfkit import NMFk, NMFkDisplay

warnings.simplefilter("ignore", ConvergenceWarning)
SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL") == "1"
N_PERTURBS = 6 if SMALL else 12

# %%
# Planted rank
# ------------
# ``X = W H`` plus 2 % noise, with sparse non-negative factors of rank 6.
rng = np.random.RandomState(0)
true_k = 6
W = rng.exponential(size=(300, true_k)) * (rng.rand(300, true_k) < 0.5)
H = rng.exponential(size=(true_k, 120)) * (rng.rand(true_k, 120) < 0.4)
X = W @ H
X += 0.02 * X.mean() * rng.rand(*X.shape)

tic = time.perf_counter()
planted = NMFk(n_components_range=range(2, 10 if SMALL else 12),
               n_perturbs=N_PERTURBS, n_jobs=-1, random_state=0).fit(X)
print(f"planted data: true k = {true_k}, chosen k = {planted.n_components_} "
      f"({time.perf_counter() - tic:.1f} s)")

# %%
# Digits
# ------
digits = load_digits().data  # (1797, 64), pixel intensities 0..16
if SMALL:
    digits = digits[::4]
tic = time.perf_counter()
nmfk_digits = NMFk(n_components_range=range(2, 9 if SMALL else 13),
                   n_perturbs=N_PERTURBS, n_jobs=-1, random_state=0).fit(digits)
print(f"digits: chosen k = {nmfk_digits.n_components_} "
      f"({time.perf_counter() - tic:.1f} s)")
for k, smin, wmin, err in zip(
    nmfk_digits.n_components_range_,
    nmfk_digits.silhouettes_["components_min"],
    nmfk_digits.silhouettes_["coefficients_min"],
    nmfk_digits.errors_["mean"],
):
    print(f"  k={k:2d}  min silhouette H={smin:.3f} W={wmin:.3f}  "
          f"relative error {err:.3f}")

# %%
# The evidence, and the digit components found
# --------------------------------------------
fig = plt.figure(figsize=(12, 7), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[3, 1])
ax1, ax2 = top.subplots(1, 2)
NMFkDisplay.from_estimator(planted, ax=ax1)
ax1.set_title(f"planted rank {true_k}")
NMFkDisplay.from_estimator(nmfk_digits, ax=ax2)
ax2.set_title("scikit-learn digits")
k = nmfk_digits.n_components_
bottom.suptitle(f"the {k} digit components (cluster medians)")
for ax, comp in zip(np.atleast_1d(bottom.subplots(1, k)), nmfk_digits.components_):
    ax.imshow(comp.reshape(8, 8), cmap="gray_r")
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
