"""One API across the families: components_, inverse_transform's input,
score's input and the verbose levels (nmfkit._conventions), for every
estimator. A new estimator joins by one entry in ESTIMATORS."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from nmfkit import (
    NBMF,
    NMF,
    PANTHER,
    SSNMF,
    MiniBatchNMF,
    NMFk,
    NonnegativeCP,
    SemiNMF,
    SeNMF,
)


def _data(name):
    rng = np.random.RandomState(0)
    X = rng.rand(30, 3) @ rng.rand(3, 12) + 0.01 * rng.rand(30, 12)
    if name == "SemiNMF":
        return X - 0.3
    if name == "SeNMF":
        return np.round(5 * X)
    return X


ESTIMATORS = {
    "NMF": lambda v: NMF(3, random_state=0, max_iter=30, verbose=v),
    "NMF-mu": lambda v: NMF(3, solver="mu", random_state=0, max_iter=30, verbose=v),
    "MiniBatchNMF": lambda v: MiniBatchNMF(3, random_state=0, max_iter=5,
                                           batch_size=10, verbose=v),
    "NBMF": lambda v: NBMF(3, random_state=0, max_iter=5, verbose=v),
    "SemiNMF": lambda v: SemiNMF(3, random_state=0, max_iter=20, verbose=v),
    "SSNMF": lambda v: SSNMF(3, image_shape=(5, 6), random_state=0, max_iter=20,
                             verbose=v),
    "NonnegativeCP": lambda v: NonnegativeCP(3, tensor_shape=(3, 4), random_state=0,
                                             max_iter=20, verbose=v),
    "PANTHER": lambda v: PANTHER(n_components=3, random_state=0, max_iter=20,
                                 verbose=v),
    "SeNMF": lambda v: SeNMF(3, random_state=0, max_iter=20, verbose=v),
    "NMFk": lambda v: NMFk(NMF(max_iter=30), n_components_range=[2, 3],
                           n_perturbs=2, n_jobs=1, random_state=0, verbose=v),
}


def _fit(name, verbose=0):
    X = _data(name)
    est = ESTIMATORS[name](verbose)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        est.fit(X)
    return est, X


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_components_and_a_validated_inverse_transform(name):
    est, X = _fit(name)
    k = est.n_components_
    assert est.components_.shape == (k, X.shape[1])
    W = est.transform(X)
    out = est.inverse_transform(W)
    assert out.shape == X.shape
    np.testing.assert_allclose(out, W @ est.components_, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match=rf"X has {k + 1} columns .* has {k} "
                                         "components"):
        est.inverse_transform(np.ones((4, k + 1)))
    with pytest.raises(ValueError, match="NaN"):
        est.inverse_transform(np.full((4, k), np.nan))
    with pytest.raises(ValueError, match="2D array"):
        est.inverse_transform(np.ones(k))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_score_of_the_wrong_width_names_both_widths(name):
    est, X = _fit(name)
    if not hasattr(est, "score"):
        pytest.fail(f"{name} has no score")
    n = X.shape[1]
    with pytest.raises(ValueError, match=rf"{n + 2} features, but \w+ is expecting "
                                         rf"{n} features"):
        est.score(np.ones((5, n + 2)))


@pytest.mark.parametrize("name", sorted(set(ESTIMATORS) - {"NMFk"}))
def test_verbose_levels(name, capsys):
    # 0 silent; 1 a summary line per fit (per start); 2 also the solver's checks
    lines = []
    for level in (0, 1, 2):
        capsys.readouterr()
        _fit(name, verbose=level)
        lines.append(capsys.readouterr().out.splitlines())
    assert lines[0] == []
    assert 1 <= len(lines[1]) < len(lines[2]), lines
    def shape(out):  # the lines without their numbers (times differ)
        return {re.sub(r"[0-9.e+-]+", "#", line) for line in out}

    assert shape(lines[1]) <= shape(lines[2])  # level 2 adds to level 1


def test_inverse_transform_of_a_dask_array_stays_lazy():
    da = pytest.importorskip("dask.array")
    est, X = _fit("NMF")
    W = da.from_array(est.transform(X), chunks=10)
    out = est.inverse_transform(W)
    assert hasattr(out, "compute")  # not computed into memory
    np.testing.assert_allclose(out.compute(), est.transform(X) @ est.components_)
    with pytest.raises(ValueError, match="X has 4 columns .* has 3 components"):
        est.inverse_transform(da.ones((5, 4), chunks=5))
