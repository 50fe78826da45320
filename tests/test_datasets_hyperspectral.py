"""Hyperspectral scene generator and the .mat loader (pixel order made explicit)."""

import numpy as np
import pytest
from scipy.io import savemat

from nmfkit.datasets import load_mat_scene, load_samson, make_hyperspectral_scene
from nmfkit.unmixing import spectral_angle_distance


def test_generator_planted_truth():
    X, A, M = make_hyperspectral_scene(30, 20, n_bands=40, n_endmembers=3, snr=None,
                                       random_state=0)
    assert X.shape == (600, 40) and A.shape == (600, 3) and M.shape == (3, 40)
    np.testing.assert_allclose(A.sum(axis=1), 1, atol=1e-12)
    assert A.min() >= 0 and M.min() > 0 and np.allclose(M.max(axis=1), 1)
    np.testing.assert_allclose(X, A @ M)
    # sparse: many zero abundances; pure pixels of every endmember
    assert (A == 0).mean() > 0.2
    assert set(np.argmax(A[A.max(axis=1) == 1], axis=1)) == {0, 1, 2}
    # spatially smooth: neighbours (row-major) differ less than random pairs
    cube = A.reshape(30, 20, 3)
    neighbour = np.abs(np.diff(cube, axis=1)).mean()
    shuffled = np.abs(np.diff(np.random.RandomState(0).permutation(A), axis=0)).mean()
    assert neighbour < 0.5 * shuffled
    # pairwise distinct endmembers
    U = M / np.linalg.norm(M, axis=1, keepdims=True)
    cos = U @ U.T
    np.fill_diagonal(cos, 0)
    assert np.degrees(np.arccos(cos.max())) >= 8


def test_generator_noise_level_and_determinism():
    clean, _, _ = make_hyperspectral_scene(40, 40, snr=None, random_state=1)
    noisy, _, _ = make_hyperspectral_scene(40, 40, snr=20, random_state=1)
    again, _, _ = make_hyperspectral_scene(40, 40, snr=20, random_state=1)
    np.testing.assert_array_equal(noisy, again)
    assert noisy.min() >= 0
    snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
    assert 19 < snr < 21.5  # clipping at zero removes a little noise


def test_generator_shading_and_bad_parameters():
    X, A, M = make_hyperspectral_scene(20, 20, snr=None, shading=0.4, random_state=0)
    ratio = X.sum(axis=1) / (A @ M).sum(axis=1)
    assert ratio.min() >= 0.6 - 1e-12 and ratio.max() <= 1 + 1e-12
    assert ratio.std() > 0.01
    with pytest.raises(ValueError, match="sparsity"):
        make_hyperspectral_scene(sparsity=1.5)
    with pytest.raises(ValueError, match="shading"):
        make_hyperspectral_scene(shading=1.0)


def test_mat_loader_column_major_to_row_major(tmp_path):
    rows, cols, bands, k = 3, 5, 4, 2
    rng = np.random.RandomState(0)
    cube = rng.rand(rows, cols, bands)
    abund = rng.rand(rows, cols, k)
    # MATLAB layout: bands x pixels, pixel (r, c) at column r + rows * c
    Y = np.empty((bands, rows * cols))
    S_flat = np.empty((k, rows * cols))
    for r in range(rows):
        for c in range(cols):
            Y[:, r + rows * c] = cube[r, c]
            S_flat[:, r + rows * c] = abund[r, c]
    path = tmp_path / "scene.mat"
    savemat(path, {"Y": Y, "A": S_flat, "S3": abund, "E": rng.rand(k, bands),
                   "lines": rows, "cols": cols})
    scene = load_mat_scene(path, data_key="Y", endmembers_key="E",
                           abundances_key="A")
    assert scene.image_shape == (rows, cols)
    np.testing.assert_array_equal(scene.data, cube.reshape(-1, bands))
    np.testing.assert_array_equal(scene.abundances, abund.reshape(-1, k))
    assert scene.endmembers.shape == (k, bands)
    # a (rows, cols, k) cube of abundances is indexed by (r, c) already
    scene3 = load_mat_scene(path, data_key="Y", abundances_key="S3")
    np.testing.assert_array_equal(scene3.abundances, abund.reshape(-1, k))
    # row-major files: pixel_order="C"
    savemat(tmp_path / "c.mat", {"X": cube.reshape(-1, bands)})
    sc = load_mat_scene(tmp_path / "c.mat", data_key="X", image_shape=(rows, cols),
                        pixel_order="C")
    np.testing.assert_array_equal(sc.data, cube.reshape(-1, bands))
    with pytest.raises(KeyError, match="nope"):
        load_mat_scene(path, data_key="nope")
    with pytest.raises(ValueError, match="pixels"):
        load_mat_scene(path, data_key="Y", image_shape=(4, 4))
    with pytest.raises(ValueError, match="pixel_order"):
        load_mat_scene(path, data_key="Y", pixel_order="row")


def test_load_samson_pixel_order(shared_data_dir):
    path = shared_data_dir / "hyperspectral" / "samson"
    if not (path / "Samson.mat").is_file():
        pytest.skip(f"Samson.mat not found in {path}")
    scene = load_samson(path)
    assert scene.data.shape == (9025, 156) and scene.image_shape == (95, 95)
    A, M = scene.abundances, scene.endmembers
    assert A.shape == (9025, 3) and M.shape == (3, 156)
    np.testing.assert_allclose(A.sum(axis=1), 1, atol=1e-9)
    # data and abundances are in the same (row-major) pixel order: the mean
    # spectrum of the pixels the reference calls pure is its endmember
    for j in range(3):
        pure = scene.data[A[:, j] > 0.95].mean(axis=0)
        assert spectral_angle_distance(M[j:j + 1], pure[None])[1] < 3
    # and row-major means image row r is data[r * 95:(r + 1) * 95]: water
    # (a compact region) is spatially smooth in this order
    water = A[:, 2].reshape(95, 95)
    assert np.abs(np.diff(water, axis=1)).mean() < 0.1
