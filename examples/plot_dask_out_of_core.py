"""
=========================================================================
NMF of a matrix read from disk block by block, and NMFk on a Dask cluster
=========================================================================

Part 1 -- out of core. A planted matrix ``X = W H + noise`` (rank 8) is
written to disk as one ``.npy`` file per block of rows, the way a large data
set arrives (zarr, HDF5 or Parquet work the same through ``dask.array``).
``dask.array`` reads it lazily, one ``np.load`` task per block, and
:class:`nmfkit.NMF` fits it without ever holding the whole matrix: each
iteration is one pass over the blocks, each block's rows of ``W`` stay
beside it, and only ``k x n_features`` sums travel. ``transform`` returns a
Dask array chunked like ``X``. The recovered components are compared with
the planted ones.

Part 2 -- the rank search on a cluster. :class:`nmfkit.rank.NMFk` runs its
(rank, perturbation) fits on a ``dask.distributed`` cluster through joblib's
Dask backend; ``X`` is sent to the workers once. The chosen rank is the one
the in-memory run chooses.

Run it with ``python examples/plot_dask_out_of_core.py`` (needs the extra
``pip install 'nmfkit[dask]'``). ``NMFKIT_EXAMPLE_SMALL=1`` makes the data
smaller (the test suite does).
"""

import os
import shutil
import tempfile

import dask
import dask.array as da
import joblib
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from scipy.optimize import linear_sum_assignment

from nmfkit import NMF, NMFk, NMFkDisplay

SMALL = os.environ.get("NMFKIT_EXAMPLE_SMALL", "") not in ("", "0")
RANK = 8
N_ROWS = 20_000 if SMALL else 60_000
N_FEATURES = 60 if SMALL else 100
BLOCK_ROWS = 4_000 if SMALL else 10_000


def planted_H(seed=0):
    rng = np.random.default_rng(seed)
    H = rng.exponential(size=(RANK, N_FEATURES)) * (rng.random((RANK, N_FEATURES)) < 0.4)
    H[np.arange(RANK), rng.choice(N_FEATURES, RANK, replace=False)] += 2.0
    return H


def write_blocks(folder, H):
    """One ``.npy`` file per block of rows: ``W_b H + noise``."""
    paths = []
    for start in range(0, N_ROWS, BLOCK_ROWS):
        rng = np.random.default_rng(start)
        rows = min(BLOCK_ROWS, N_ROWS - start)
        W = rng.exponential(size=(rows, RANK)) * (rng.random((rows, RANK)) < 0.4)
        X = W @ H + 0.05 * rng.random((rows, N_FEATURES))
        path = os.path.join(folder, f"rows_{start:09d}.npy")
        np.save(path, X)
        paths.append((path, rows))
    return paths


def lazy_matrix(paths):
    """A Dask array whose blocks are read from disk when a task needs them."""
    return da.concatenate([
        da.from_delayed(dask.delayed(np.load)(path), shape=(rows, N_FEATURES),
                        dtype=np.float64)
        for path, rows in paths])


def cosine_matrix(A, B):
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
    return A @ B.T


# %%
# Part 1: out of core
# -------------------
H_true = planted_H()
folder = tempfile.mkdtemp(prefix="nmfkit-example-")
try:
    X = lazy_matrix(write_blocks(folder, H_true))
    print(f"X: {X.shape[0]} x {X.shape[1]} on disk in {X.numblocks[0]} blocks "
          f"of {BLOCK_ROWS} rows ({X.nbytes / 1e6:.0f} MB)")
    model = NMF(n_components=RANK, random_state=0, max_iter=300)
    W = model.fit_transform(X)  # runs on the active scheduler (threads here)
    print(f"fitted in {model.n_iter_} iterations; reconstruction error "
          f"{model.reconstruction_err_:.4g}")
    cos = cosine_matrix(H_true, model.components_)
    _, perm = linear_sum_assignment(cos, maximize=True)
    similarity = cos[np.arange(RANK), perm]
    print(f"cosine similarity of the recovered components with the planted "
          f"ones: min {similarity.min():.3f}, mean {similarity.mean():.3f}")
    print(f"W is a {type(W).__name__} chunked like X: {W.chunks[0][:3]}...")
    W_new = model.transform(X[:BLOCK_ROWS])  # lazy: nothing computed yet
    print(f"transform of the first block: {W_new.compute().shape}")
finally:
    shutil.rmtree(folder, ignore_errors=True)

# %%
# Part 2: the rank search on a cluster
# ------------------------------------
rng = np.random.default_rng(1)
k_small = 4
W_s = rng.exponential(size=(80, k_small)) * (rng.random((80, k_small)) < 0.5)
H_s = rng.exponential(size=(k_small, 50)) * (rng.random((k_small, 50)) < 0.4)
W_s[rng.choice(80, k_small, replace=False), np.arange(k_small)] += 1.0
X_small = W_s @ H_s + 0.01 * rng.random((80, 50))


def rank_search():
    return NMFk(n_components_range=range(2, 7 if SMALL else 9),
                n_perturbs=4 if SMALL else 12, random_state=0)


in_memory = rank_search().fit(X_small)
# Two workers in this process (``processes=False``) keep the example
# runnable from a plain script and at documentation build time; with
# ``processes=True``, or ``Client("scheduler-address")`` for a real cluster,
# the code is the same (put it under ``if __name__ == "__main__":``, as worker
# processes are started by re-importing the main script).
with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                  dashboard_address=":0", silence_logs=40) as cluster, \
        Client(cluster), joblib.parallel_config(backend="dask"):
    on_cluster = rank_search().fit(X_small)
print(f"NMFk rank: {on_cluster.n_components_} on the cluster, "
      f"{in_memory.n_components_} in memory (planted {k_small})")

# %%
# What came back
# --------------
# Left: cosine of every planted component with every recovered one (the
# matched pairs on the diagonal). Right: NMFk's evidence from the cluster.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
im = ax1.imshow(cos[:, perm], vmin=0, vmax=1, cmap="viridis")
ax1.set_xlabel("recovered component (matched order)")
ax1.set_ylabel("planted component")
ax1.set_title(f"NMF of {X.shape[0]:,} rows read block by block")
fig.colorbar(im, ax=ax1, label="cosine similarity")
NMFkDisplay.from_estimator(on_cluster, ax=ax2)
ax2.set_title(f"NMFk on a 2-worker LocalCluster: k = {on_cluster.n_components_}")
plt.show()
