"""Dense and sparse input of the same data give the same factors.

The solvers choose their path (inner-sweep budget, compression, warm start,
initial SVD) from the shape and the non-zeros of the data, never from its
container, so a dense array and a CSR/CSC matrix of the same values give the
same ``W`` and ``H`` up to floating-point rounding, for every solver.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from nmfkit import NMF, MiniBatchNMF, non_negative_factorization
from nmfkit._core.hals import _should_compress
from nmfkit._core.profile import effectively_dense, n_nonzero


def _data(m, n, density, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((m, 4)) @ rng.random((4, n)) + 0.1 * rng.random((m, n))
    X[rng.random((m, n)) >= density] = 0
    return X


SOLVERS = [
    (NMF, dict(solver="cd")),
    (NMF, dict(solver="cd", alpha_W=0.01, l1_ratio=0.5)),
    (NMF, dict(solver="mu")),
    (NMF, dict(solver="mu", beta_loss="kullback-leibler")),
    (NMF, dict(solver="mu", beta_loss=1.5, alpha_W=0.01)),
    (MiniBatchNMF, dict(batch_size=16)),
    (MiniBatchNMF, dict(batch_size=16, beta_loss="kullback-leibler")),
]


@pytest.mark.parametrize("Estimator, params", SOLVERS)
@pytest.mark.parametrize("init", ["random", "nndsvda"])
@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_array])
def test_same_factors_dense_and_sparse(Estimator, params, init, container):
    X = _data(60, 40, density=0.6)
    est = Estimator(n_components=4, init=init, random_state=0, max_iter=60,
                    tol=1e-4, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W1 = est.fit_transform(X)
        H1 = est.components_
        n1 = est.n_iter_
        W2 = est.fit_transform(container(X))
        H2 = est.components_
    assert est.n_iter_ == n1
    np.testing.assert_allclose(W1, W2, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(H1, H2, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_same_factors_on_the_compressed_path(solver):
    """Large effectively-dense data: compressed HALS for dense and sparse alike."""
    X = _data(600, 500, density=0.5, seed=1)
    assert effectively_dense(X) and _should_compress(X, 5, "auto")
    assert _should_compress(sp.csr_matrix(X), 5, "auto")
    kw = dict(n_components=5, solver=solver, random_state=0, max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        W1, H1, n1 = non_negative_factorization(X, **kw)
        W2, H2, n2 = non_negative_factorization(sp.csr_matrix(X), **kw)
    assert n1 == n2
    np.testing.assert_allclose(W1 @ H1, W2 @ H2, rtol=1e-6, atol=1e-8)


def test_path_choice_sees_the_data_not_the_container():
    X = _data(30, 20, density=0.05, seed=2)
    Xs = sp.csr_matrix(X)
    Xs.data[:3] = 0  # stored zeros are not non-zeros
    assert n_nonzero(Xs) == n_nonzero(Xs.toarray()) == np.count_nonzero(X) - 3
    assert not effectively_dense(X) and not effectively_dense(Xs)
    assert effectively_dense(_data(30, 20, density=0.9))
