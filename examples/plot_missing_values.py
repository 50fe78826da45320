"""
=====================================================
Filling in missing pixels: NMF with NaN entries
=====================================================

scikit-learn's NMF rejects NaN. :class:`nmfkit.NMF` leaves missing entries
(NaN in a dense ``X``, or a ``mask`` for a sparse one) out of the loss and
fits the observed ones only; ``W @ H`` then predicts the missing ones. Here
40% of the pixels of 600 of scikit-learn's digits are hidden at random; we compare
the error on the hidden pixels of (a) nmfkit's masked NMF, (b) scikit-learn's
NMF fitted to the data with the hidden pixels set to zero, and (c) each
pixel's mean over the images where it is observed.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import NMF as SklearnNMF
from sklearn.exceptions import ConvergenceWarning

from nmfkit import NMF

warnings.simplefilter("ignore", ConvergenceWarning)
X = load_digits().data[:600]
rng = np.random.default_rng(0)
hidden = rng.random(X.shape) < 0.4
X_missing = X.copy()
X_missing[hidden] = np.nan

# %%
# Three ways to predict the hidden pixels
# ---------------------------------------
k = 16
model = NMF(n_components=k, max_iter=500, random_state=0)
W = model.fit_transform(X_missing)
X_nmfkit = W @ model.components_

zero_filled = np.where(hidden, 0.0, X)
sk = SklearnNMF(n_components=k, max_iter=500, random_state=0)
X_sklearn = sk.fit_transform(zero_filled) @ sk.components_

X_mean = np.broadcast_to(np.nanmean(X_missing, axis=0), X.shape)


def rmse_hidden(X_hat):
    return float(np.sqrt(np.mean((X_hat[hidden] - X[hidden]) ** 2)))


errors = {"nmfkit NMF (NaN = missing)": rmse_hidden(X_nmfkit),
          "sklearn NMF (zeros)": rmse_hidden(X_sklearn),
          "pixel mean": rmse_hidden(X_mean)}
for name, value in errors.items():
    print(f"{name:28s} RMSE on the hidden pixels {value:.3f}")

# %%
# Digits with holes, and what each method fills in
# ------------------------------------------------
fig = plt.figure(figsize=(11, 6), layout="constrained")
left, right = fig.subfigures(1, 2, width_ratios=[3, 1.6])
rows = [("original", X), ("40% hidden", np.where(hidden, np.nan, X)),
        ("nmfkit NMF", X_nmfkit), ("sklearn NMF\n(zeros)", X_sklearn)]
axes = left.subplots(len(rows), 8)
cmap = plt.get_cmap("gray_r").with_extremes(bad="tab:red")
for r, (name, data) in enumerate(rows):
    for j in range(8):
        axes[r, j].imshow(data[j].reshape(8, 8), cmap=cmap, vmin=0, vmax=16)
        axes[r, j].set_xticks([])
        axes[r, j].set_yticks([])
    axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center")
left.suptitle("red: hidden pixels")
ax = right.subplots()
ax.barh(list(errors)[::-1], list(errors.values())[::-1],
        color=["lightgray", "tab:orange", "tab:blue"])
ax.set_xlabel("RMSE, hidden pixels")
plt.show()
