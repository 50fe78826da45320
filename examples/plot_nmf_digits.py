"""
=======================================================
Parts of handwritten digits: nmfkit.NMF vs scikit-learn
=======================================================

:class:`nmfkit.NMF` is a drop-in replacement for
:class:`sklearn.decomposition.NMF`: same parameters, same attributes, same
``fit_transform``. Here both factorize scikit-learn's 1,797 handwritten digits
(8 x 8 pixels) into 16 non-negative parts with the same settings; we compare
the relative reconstruction error and the time, and look at the parts. NMF
finds strokes (pieces of digits), not whole digits, because the coefficients
can only add parts, never cancel them.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import NMF as SklearnNMF
from sklearn.exceptions import ConvergenceWarning

from nmfkit import NMF

warnings.simplefilter("ignore", ConvergenceWarning)
X = load_digits().data  # (1797, 64), pixel intensities 0..16
params = dict(n_components=16, init="nndsvda", solver="cd", max_iter=400,
              tol=1e-4, random_state=0)

# %%
# Fit both with the same parameters
# ---------------------------------
results = {}
for name, cls in [("nmfkit.NMF", NMF), ("sklearn NMF", SklearnNMF)]:
    model = cls(**params)
    tic = time.perf_counter()
    W = model.fit_transform(X)
    seconds = time.perf_counter() - tic
    error = np.linalg.norm(X - W @ model.components_) / np.linalg.norm(X)
    results[name] = (model, error, seconds)
    print(f"{name:12s} relative error {error:.4f}  {model.n_iter_:4d} iterations  "
          f"{seconds:.2f} s")

# %%
# The parts each finds
# --------------------
# Rows: the 16 components of each estimator, ordered by how much of the data
# they carry (the norm of their column of ``W``), as 8 x 8 images.
fig, axes = plt.subplots(2, 16, figsize=(13, 2.6), layout="constrained")
for row, (name, (model, error, seconds)) in zip(axes, results.items()):
    weight = np.linalg.norm(model.transform(X), axis=0) * np.linalg.norm(
        model.components_, axis=1)
    for ax, comp in zip(row, model.components_[np.argsort(-weight)]):
        ax.imshow(comp.reshape(8, 8), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name, rotation=0, ha="right", va="center")
    row[8].set_title(f"{name}: error {error:.4f}, {seconds:.2f} s", fontsize=9)
plt.show()

# %%
# A digit rebuilt from parts
# --------------------------
# Each digit is a non-negative sum of parts: the largest coefficients of the
# first digits and their reconstruction.
model = results["nmfkit.NMF"][0]
W = model.transform(X[:6])
fig, axes = plt.subplots(2, 6, figsize=(9, 3.4), layout="constrained")
for j in range(6):
    axes[0, j].imshow(X[j].reshape(8, 8), cmap="gray_r")
    axes[0, j].set_title(f"digit {j}", fontsize=9)
    axes[1, j].imshow((W[j] @ model.components_).reshape(8, 8), cmap="gray_r")
    top = np.argsort(-W[j])[:3]
    axes[1, j].set_title("parts " + ",".join(map(str, top)), fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("data")
axes[1, 0].set_ylabel("W @ H")
plt.show()
