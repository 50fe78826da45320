"""Tests of nmfkit._core.align: matching, alignment and silhouettes of runs."""

import numpy as np
import pytest
from sklearn.metrics import silhouette_samples

from nmfkit._core.align import (
    align_runs,
    cluster_silhouettes,
    cosine_similarity_matrix,
    match_components,
    normalize_rows,
)


def _planted_runs(k=4, d=30, n_runs=6, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    H = rng.random((k, d)) * (rng.random((k, d)) < 0.5)
    H[np.arange(k), np.arange(k)] += 1.0  # keep every row non-zero and distinct
    perms = [rng.permutation(k) for _ in range(n_runs)]
    scales = rng.uniform(0.2, 5.0, size=(n_runs, k, 1))
    runs = np.stack(
        [scales[r] * (H[p] + noise * rng.random((k, d))) for r, p in enumerate(perms)]
    )
    return H, perms, runs


def test_normalize_rows_unit_and_zero_rows():
    A = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    U = normalize_rows(A)
    np.testing.assert_allclose(U, [[0.6, 0.8], [0.0, 0.0]])
    assert np.all(np.isfinite(U))


def test_cosine_similarity_matches_definition():
    rng = np.random.default_rng(1)
    A, B = rng.random((5, 7)), rng.random((3, 7))
    S = cosine_similarity_matrix(A, B)
    expected = (A @ B.T) / np.outer(np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1))
    np.testing.assert_allclose(S, expected)
    Z = cosine_similarity_matrix(np.zeros((2, 7)), B)
    np.testing.assert_array_equal(Z, 0.0)


def test_match_components_recovers_a_permutation():
    H, _, _ = _planted_runs()
    rng = np.random.default_rng(3)
    p = rng.permutation(H.shape[0])
    perm = match_components(H, 7.0 * H[p])
    np.testing.assert_array_equal((H[p])[perm], H)


def test_match_components_is_optimal_not_greedy():
    # greedy on row 0 would take column 0 (0.9) and force row 1 onto 0.0;
    # the optimum pairs 0->1, 1->0 for a total of 0.8 + 0.85.
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    comps = np.array(
        [[0.9, np.sqrt(1 - 0.81), 0.0], [0.8, 0.0, 0.6]],
    )
    # cos(ref0, c0)=0.9, cos(ref0, c1)=0.8, cos(ref1, c0)=0.436, cos(ref1, c1)=0
    perm = match_components(ref, comps)
    np.testing.assert_array_equal(perm, [1, 0])


def test_align_runs_undoes_permutations_and_scaling():
    H, perms, runs = _planted_runs()
    found, centroids = align_runs(runs)
    assert found.shape == (len(runs), H.shape[0])
    aligned = np.take_along_axis(runs, found[:, :, None], axis=1)
    # every aligned run is in the order of run 0
    order0 = perms[0]
    for r, p in enumerate(perms):
        np.testing.assert_array_equal(np.asarray(p)[found[r]], order0)
    np.testing.assert_allclose(
        normalize_rows(centroids), normalize_rows(H[order0]), atol=0.02
    )
    assert cluster_silhouettes(aligned).min() > 0.95


def test_align_runs_accepts_list_and_single_run():
    H, _, runs = _planted_runs(n_runs=1)
    perms, centroids = align_runs(list(runs))
    np.testing.assert_array_equal(perms, [np.arange(H.shape[0])])
    assert centroids.shape == H.shape


def test_silhouettes_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    A = rng.random((5, 4, 9))
    ours = cluster_silhouettes(A)
    ref = silhouette_samples(
        A.reshape(20, 9), np.tile(np.arange(4), 5), metric="cosine"
    ).reshape(5, 4).mean(axis=0)
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_silhouettes_high_for_stable_low_for_random():
    _, _, runs = _planted_runs(noise=0.01)
    perms, _ = align_runs(runs)
    stable = cluster_silhouettes(np.take_along_axis(runs, perms[:, :, None], axis=1))
    rng = np.random.default_rng(5)
    noise = rng.random(runs.shape)
    perms, _ = align_runs(noise)
    unstable = cluster_silhouettes(np.take_along_axis(noise, perms[:, :, None], axis=1))
    assert stable.min() > 0.95
    assert unstable.max() < 0.5


def test_silhouettes_degenerate_inputs_are_finite():
    # zero vectors, identical clusters, k = 1, a single run, 1-d vectors
    cases = [
        np.zeros((3, 2, 5)),
        np.ones((3, 2, 5)),
        np.random.default_rng(0).random((4, 1, 6)),
        np.random.default_rng(0).random((1, 3, 6)),
        np.random.default_rng(0).random((3, 2, 1)),
    ]
    for A in cases:
        s = cluster_silhouettes(A)
        assert s.shape == (A.shape[1],)
        assert np.all(np.isfinite(s))
        assert np.all((s >= -1 - 1e-12) & (s <= 1 + 1e-12))
    perms, c = align_runs(np.zeros((3, 2, 5)))
    assert np.all(np.isfinite(c))
    assert sorted(perms[1]) == [0, 1]


def test_rank_one_silhouette_is_mean_similarity():
    A = np.array([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]]])
    s = cluster_silhouettes(A)
    c = np.sqrt(0.5)
    # pairs: (0,1)=c, (0,2)=0, (1,2)=c; each vector's mean similarity to the others
    expected = np.mean([(c + 0) / 2, (c + c) / 2, (0 + c) / 2])
    np.testing.assert_allclose(s, [expected])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes(dtype):
    _, _, runs = _planted_runs()
    perms, centroids = align_runs(runs.astype(dtype))
    assert perms.dtype.kind == "i"
    assert np.all(np.isfinite(centroids))
