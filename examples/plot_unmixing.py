"""
=================================================
Hyperspectral unmixing with SSNMF: abundance maps
=================================================

Samson (95 x 95 pixels, 156 bands) has three endmembers: soil/rock, tree and
water, with reference endmembers and abundances (F. Zhu, arXiv:1708.05125).
The ``.mat`` file stores the pixels in MATLAB's column-major order;
:func:`nmfkit.datasets.load_samson` returns them in row-major order
(``cube.reshape(-1, n_bands)``), consistently with the reference abundances.

We compare VCA + FCLS (pure-pixel endmembers and fully constrained least
squares abundances) with :class:`nmfkit.SSNMF` (graph Laplacian over the
spatial neighbours, L1, sum-to-one, minimum dispersion), by the spectral angle
(SAD, degrees) of the endmembers and the RMSE of the abundances, both after
matching the estimated endmembers to the reference ones. The reference
endmembers are scaled to a maximum of 1 (not the scale of the data), so only
the scale-invariant SAD is meaningful for them.

The data are read from ``../shared/data/hyperspectral/samson`` beside the
repository (or ``$NMFKIT_DATA/hyperspectral/samson``); Samson is not shipped
with nmfkit (``Samson.mat`` is distributed with the hyperspectral unmixing
benchmarks of F. Zhu, arXiv:1708.05125). Without it, the example unmixes a
generated scene with planted endmembers and abundances
(:func:`nmfkit.datasets.make_hyperspectral_scene`) with the same code. Run it
with ``python examples/plot_unmixing.py``; ``NMFKIT_EXAMPLE_SMALL=1`` unmixes
every other row and column only, 48 x 48 pixels (the test suite does).
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from nmfkit import SSNMF
from nmfkit.datasets import load_samson, make_hyperspectral_scene
from nmfkit.unmixing import (abundance_rmse, fcls, plot_abundance_maps,
                             plot_endmembers, spectral_angle_distance, vca)

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL", "") not in ("", "0")
# the shared data sets: $NMFKIT_DATA, else ../shared/data from the repository root
DATA = Path(os.environ.get("NMFKIT_DATA", "../shared/data"))

# %%
# The scene
# ---------
SAMSON = DATA / "hyperspectral" / "samson"
if (SAMSON / "Samson.mat").is_file():
    scene = load_samson(SAMSON)
    X, image_shape = scene.data, scene.image_shape
    A_ref, M_ref, names = scene.abundances, scene.endmembers, scene.target_names
    title = "Samson"
else:
    image_shape = (60, 60)
    X, A_ref, M_ref = make_hyperspectral_scene(*image_shape, n_bands=120,
                                               n_endmembers=3, snr=30.0,
                                               random_state=0)
    names = ["material 0", "material 1", "material 2"]
    title = "generated scene (Samson not found)"
if SMALL:  # every other row and column: 48 x 48 pixels, all three materials
    rows = np.arange(0, image_shape[0], 2)
    cols = np.arange(0, image_shape[1], 2)
    keep = (rows[:, None] * image_shape[1] + cols).ravel()  # row-major indices
    X, A_ref, image_shape = X[keep], A_ref[keep], (rows.size, cols.size)
print(f"{title}: {X.shape[0]} pixels ({image_shape[0]} x {image_shape[1]}), "
      f"{X.shape[1]} bands, {len(names)} endmembers")

# %%
# VCA + FCLS, then SS-NMF
# -----------------------
results = {}

t0 = time.perf_counter()
E_vca, _ = vca(X, 3, random_state=0)
A_vca = fcls(X, E_vca)
results["VCA + FCLS"] = (E_vca, A_vca, time.perf_counter() - t0)

model = SSNMF(n_components=3, image_shape=image_shape, random_state=0)
t0 = time.perf_counter()
A_ss = model.fit_transform(X)
results["SS-NMF"] = (model.components_, A_ss, time.perf_counter() - t0)

print(f"{'method':<12} {'SAD per endmember (deg)':<28} {'mean SAD':>8} "
      f"{'abund. RMSE':>11} {'time':>7}")
summary = {}
for name, (E, A, seconds) in results.items():
    angles, sad = spectral_angle_distance(M_ref, E)
    _, rmse = abundance_rmse(A_ref, A, reference_endmembers=M_ref, endmembers=E)
    summary[name] = (sad, rmse)
    per = ", ".join(f"{n} {a:.2f}" for n, a in zip(names, angles))
    print(f"{name:<12} {per:<28} {sad:8.2f} {rmse:11.4f} {seconds:6.2f}s")
print(f"SS-NMF: {model.n_iter_} iterations, lam={model.lam_:.3g}, "
      f"mu={model.mu_:.3g}, dispersion={model.dispersion_:.3g}, "
      f"affinity with {model.affinity_.nnz} links")

# %%
# Abundance maps and endmember spectra
# ------------------------------------
# Top row: SS-NMF's abundance of each material per pixel; bottom row: the
# reference. Right: the endmember spectra (dashed: reference).
fig = plt.figure(figsize=(11, 6.5), layout="constrained")
grid = fig.add_gridspec(2, 4)
axes = np.array([[fig.add_subplot(grid[i, j]) for j in range(3)] for i in range(2)])
plot_abundance_maps(A_ss, image_shape, reference=A_ref, names=names, axes=axes)
ax = fig.add_subplot(grid[:, 3])
plot_endmembers(model.components_, reference=M_ref, names=names, ax=ax)
ax.set_title("SS-NMF endmembers (dashed: reference)")
fig.suptitle(f"{title}: SS-NMF mean SAD {summary['SS-NMF'][0]:.2f} deg, "
             f"VCA + FCLS {summary['VCA + FCLS'][0]:.2f} deg")
plt.show()
