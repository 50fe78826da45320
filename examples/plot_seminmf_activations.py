"""
===============================================
Features of mixed-sign activations with SemiNMF
===============================================

Neural-network activations (rows = tokens, columns = neurons) have both
signs, so plain NMF does not apply, and PCA's components mix the features
that inputs really use. :class:`nmfkit.SemiNMF` keeps the activations of its
features non-negative (a token expresses a feature or not) and lets the
features themselves have any sign. Here the "activations" are generated: 10
planted signed features over 256 neurons, each token expressing one or two of
them with a positive strength, plus Gaussian noise; about half of the entries
are negative. (With PyTorch, :func:`nmfkit.collect_activations` gathers real
ones from a model's layer; see ``examples/minilm_features.py``.)

We compare the features SemiNMF finds with the planted ones, against PCA's
components, and read each feature through the tokens that activate it most
(:meth:`~nmfkit.SemiNMF.top_activating`). Like any NMF, SemiNMF can land in a
local minimum where two planted features share one found feature: the worst
matched cosine is printed beside the mean.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from nmfkit import SemiNMF

warnings.simplefilter("ignore", ConvergenceWarning)
rng = np.random.default_rng(0)
n_tokens, n_neurons, k = 3000, 256, 10

# %%
# Planted features and their activations
# --------------------------------------
F_true = rng.standard_normal((k, n_neurons)) * (rng.random((k, n_neurons)) < 0.15)
G_true = np.zeros((n_tokens, k))
for i in range(n_tokens):
    used = rng.choice(k, size=rng.integers(1, 3), replace=False)
    G_true[i, used] = rng.gamma(2.0, 1.0, size=used.size)
X = G_true @ F_true + 0.05 * rng.standard_normal((n_tokens, n_neurons))
print(f"activations: {X.shape[0]} tokens x {X.shape[1]} neurons, "
      f"{100 * (X < 0).mean():.0f}% negative entries")


def matched_cosines(F):
    A = F_true / np.linalg.norm(F_true, axis=1, keepdims=True)
    B = F / np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    cos = np.abs(A @ B.T)  # PCA's sign is arbitrary
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return cos[:, cols], cos[rows, cols]


# %%
# SemiNMF against PCA
# -------------------
snmf = SemiNMF(n_components=k, random_state=0)
G = snmf.fit_transform(X)
pca = PCA(n_components=k, random_state=0).fit(X)
cos_snmf, diag_snmf = matched_cosines(snmf.components_)
cos_pca, diag_pca = matched_cosines(pca.components_)
print(f"SemiNMF: matched cosine to the planted features min {diag_snmf.min():.3f}, "
      f"mean {diag_snmf.mean():.3f}")
print(f"PCA:     matched cosine to the planted features min {diag_pca.min():.3f}, "
      f"mean {diag_pca.mean():.3f}")
rows, values = snmf.top_activating(G, n=5)
print("tokens that activate each SemiNMF feature most:", rows[:3].tolist(), "...")

# %%
# Which planted feature each found feature is
# -------------------------------------------
# Cosine of every planted feature (rows) with every found feature (columns,
# matched order): SemiNMF's is close to the identity, PCA's mixes them. Right:
# the non-negative activations ``G`` of the first 80 tokens, beside the
# planted ones.
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), layout="constrained",
                         gridspec_kw={"width_ratios": [1, 1, 1.1, 1.1]})
for ax, cos, name in [(axes[0], cos_snmf, "SemiNMF"), (axes[1], cos_pca, "PCA")]:
    im = ax.imshow(cos, vmin=0, vmax=1, cmap="viridis")
    ax.set_title(f"{name}: mean matched cosine {np.diag(cos).mean():.2f}", fontsize=10)
    ax.set_xlabel("found feature")
axes[0].set_ylabel("planted feature")
fig.colorbar(im, ax=axes[1], shrink=0.8)
_, order = linear_sum_assignment(-np.abs(
    (F_true / np.linalg.norm(F_true, axis=1, keepdims=True))
    @ (snmf.components_ / np.linalg.norm(snmf.components_, axis=1, keepdims=True)).T))
axes[2].imshow(G_true[:80].T, aspect="auto", cmap="Greys")
axes[2].set_title("planted activations", fontsize=10)
axes[2].set_xlabel("token")
axes[2].set_ylabel("feature")
axes[3].imshow(G[:80, order].T, aspect="auto", cmap="Greys")
axes[3].set_title("SemiNMF activations G >= 0", fontsize=10)
axes[3].set_xlabel("token")
plt.show()
