"""
========================================
MiniBatchNMF on a stream of many samples
========================================

:class:`nmfkit.MiniBatchNMF` fits the components from mini-batches of rows,
so its memory does not grow with the number of samples and each step is cheap;
it is the drop-in for :class:`sklearn.decomposition.MiniBatchNMF`. We generate
20,000 samples with 8 planted non-negative components plus noise and compare
nmfkit's and scikit-learn's mini-batch estimators and a full-batch
:class:`nmfkit.NMF`: time, relative error, and how well each recovers the
planted components (cosine after matching).
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import MiniBatchNMF as SklearnMiniBatchNMF
from sklearn.exceptions import ConvergenceWarning

from nmfkit import NMF, MiniBatchNMF

warnings.simplefilter("ignore", ConvergenceWarning)
rng = np.random.default_rng(0)
n_samples, n_features, rank = 20_000, 50, 8
H_true = rng.exponential(size=(rank, n_features)) * (rng.random((rank, n_features)) < 0.3)
W_true = rng.exponential(size=(n_samples, rank)) * (rng.random((n_samples, rank)) < 0.3)
X = W_true @ H_true + 0.05 * rng.random((n_samples, n_features))


def recovery(H):
    """Cosine of each planted component with its matched estimate."""
    A = H_true / np.linalg.norm(H_true, axis=1, keepdims=True)
    B = H / np.maximum(np.linalg.norm(H, axis=1, keepdims=True), 1e-12)
    cos = A @ B.T
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return cos[rows, cols], cols


# %%
# Three fits of the same data
# ---------------------------
models = {
    "nmfkit.MiniBatchNMF": MiniBatchNMF(n_components=rank, batch_size=2048,
                                        max_iter=20, random_state=0),
    "sklearn MiniBatchNMF": SklearnMiniBatchNMF(n_components=rank, batch_size=2048,
                                                max_iter=20, random_state=0),
    "nmfkit.NMF (full batch)": NMF(n_components=rank, random_state=0),
}
rows = []
for name, model in models.items():
    tic = time.perf_counter()
    W = model.fit_transform(X)
    seconds = time.perf_counter() - tic
    error = np.linalg.norm(X - W @ model.components_) / np.linalg.norm(X)
    cos, order = recovery(model.components_)
    rows.append((name, seconds, error, cos, model.components_[order]))
    print(f"{name:24s} {seconds:6.2f} s  relative error {error:.4f}  "
          f"worst component cosine {cos.min():.3f}")

# %%
# Time, error and recovered components
# ------------------------------------
fig = plt.figure(figsize=(12, 6.5), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
ax1, ax2, ax3 = top.subplots(1, 3)
names = [r[0].replace(" (full batch)", "\n(full batch)") for r in rows]
colors = ["tab:blue", "tab:orange", "tab:green"]
ax1.barh(names, [r[1] for r in rows], color=colors)
ax1.set_xlabel("fit time (s)")
ax2.barh(names, [r[2] for r in rows], color=colors)
ax2.set_xlabel("relative error ||X - WH|| / ||X||")
ax2.set_yticks([])
for r, c in zip(rows, colors):
    ax3.plot(np.sort(r[3]), "o-", color=c, label=r[0])
ax3.set_xlabel("planted components (sorted)")
ax3.set_ylabel("cosine to planted")
ax3.legend(fontsize=8)
axes = bottom.subplots(len(rows) + 1, 1, sharex=True)
def rows_to_max_one(H):  # W and H share a free scale: compare shapes
    return H / np.maximum(H.max(axis=1, keepdims=True), 1e-12)


axes[0].imshow(rows_to_max_one(H_true), aspect="auto", cmap="viridis")
axes[0].set_ylabel("planted", rotation=0, ha="right")
for ax, r in zip(axes[1:], rows):
    ax.imshow(rows_to_max_one(r[4]), aspect="auto", cmap="viridis")
    ax.set_ylabel(r[0].split(" (")[0], rotation=0, ha="right")
for ax in axes:
    ax.set_yticks([])
axes[-1].set_xlabel("feature")
bottom.suptitle("components (rows, each scaled to a maximum of 1), matched to the planted ones")
plt.show()
