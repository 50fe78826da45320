"""nmfkit.model_selection: the GridSearchCV route for estimators whose fit
needs every row (SSNMF with image_shape)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from nmfkit import SSNMF
from nmfkit.datasets import make_hyperspectral_scene
from nmfkit.model_selection import WholeImageSplit


def test_every_fold_keeps_every_sample_in_order_for_training():
    X = np.zeros((7, 3))
    cv = WholeImageSplit(n_splits=3, random_state=0)
    folds = list(cv.split(X))
    assert cv.get_n_splits() == len(folds) == 3
    for i, (train, test) in enumerate(folds):
        np.testing.assert_array_equal(train, np.arange(7))
        np.testing.assert_array_equal(np.sort(test), np.arange(7))
    np.testing.assert_array_equal(folds[0][1], np.arange(7))
    # later folds test in another order: the score's fixed pattern of hidden
    # positions falls on other entries
    assert not np.array_equal(folds[1][1], np.arange(7))
    assert not np.array_equal(folds[1][1], folds[2][1])
    assert [t.tolist() for _, t in WholeImageSplit(3, random_state=0).split(X)] == \
        [t.tolist() for _, t in folds]


def test_bad_splitter_parameters():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_splits must be a positive integer"):
            list(WholeImageSplit(n_splits=bad).split(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="no samples"):
        list(WholeImageSplit().split(np.zeros((0, 2))))


@pytest.mark.slow
@pytest.mark.parametrize("n_endmembers", [3, 4])
def test_gridsearch_over_ssnmf_with_image_shape_finds_the_planted_rank(n_endmembers):
    # With image_shape, row folds are not images (the fit raises); the route is
    # WholeImageSplit + SSNMF.score, which holds out entries of the image.
    # At 15 dB the held-out error peaks at the planted number of endmembers;
    # above ~20 dB it plateaus past it (docs/unmixing.md).
    X, _, _ = make_hyperspectral_scene(24, 24, n_bands=40, n_endmembers=n_endmembers,
                                       snr=15, random_state=0)
    grid = {"n_components": [2, 3, 4, 5, 6]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(SSNMF(image_shape=(24, 24), random_state=0), grid,
                              cv=WholeImageSplit()).fit(X)
        assert search.best_params_["n_components"] == n_endmembers, \
            search.cv_results_["mean_test_score"]
        # the refitted best model is the whole image's
        assert search.best_estimator_.affinity_.shape == (24 * 24, 24 * 24)


def test_row_folds_cannot_fit_an_image():
    # why the route exists: KFold hands the fit a subset of the pixels
    X, _, _ = make_hyperspectral_scene(10, 10, n_bands=20, n_endmembers=2,
                                       random_state=0)
    search = GridSearchCV(SSNMF(image_shape=(10, 10), max_iter=5),
                          {"n_components": [2]}, cv=2, error_score="raise")
    with pytest.raises(ValueError, match="image_shape=.* holds 100 pixels but X "
                                         "has 50 rows"):
        search.fit(X)
