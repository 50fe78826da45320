"""Conventions every nmfkit estimator follows: ``verbose`` levels and the
input of ``inverse_transform``.

``verbose`` (every estimator and meta-estimator)
------------------------------------------------
``0``
    Silent: nothing is printed.
``1``
    One summary line per fit -- per start for estimators with several starts
    (``NBMF(n_init=...)``), per rank for the rank searches (``NMFk``,
    ``SeNMFk``): iterations run, the final objective or error where the
    solver tracks one, and the time taken.
``2`` and above
    The level-1 lines plus the solver's progress: a line at every point
    where the solver checks its stopping rule (every iteration for HALS,
    CP-HALS, SS-NMF, Semi-NMF and NBMF; every 10th iteration for the
    multiplicative updates, whose check costs a pass over the data).

Estimators print with :func:`print` (standard output); the solvers of
:mod:`nmfkit._core` print only when an estimator passes them
``solver_verbose(verbose)``.

``inverse_transform``
---------------------
Takes the coefficients (``n_samples x n_components``, dense or sparse where
``transform`` can give sparse output), validated by
:func:`check_inverse_input`: a ``ValueError`` names both widths when the
number of columns is not ``n_components``, and NaN, infinity or a non-numeric
array are refused with scikit-learn's messages.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

__all__ = ["solver_verbose", "check_inverse_input"]


def solver_verbose(verbose):
    """The ``verbose`` value to pass to a core solver: on from level 2."""
    return int(verbose) >= 2


def check_inverse_input(estimator, X, n_components=None, accept_sparse=False):
    """Validate the coefficients given to ``inverse_transform``.

    Parameters
    ----------
    estimator : fitted estimator
        Named in the messages; ``components_.shape[0]`` is the expected width
        unless ``n_components`` is given.
    X : array-like or sparse matrix of shape (n_samples, n_components)
        Coefficients.
    n_components : int, default=None
        Expected number of columns.
    accept_sparse : bool, default=False
        Accept a sparse ``X`` (returned as CSR).

    Returns
    -------
    X : ndarray or CSR matrix
        Floating-point coefficients (float32 kept, anything else float64).
    """
    name = type(estimator).__name__
    if n_components is None:
        n_components = estimator.components_.shape[0]
    X = check_array(X, accept_sparse=("csr", "csc", "coo") if accept_sparse else False,
                    dtype=[np.float64, np.float32],
                    input_name=f"X of {name}.inverse_transform")
    if X.shape[1] != n_components:
        raise ValueError(
            f"X has {X.shape[1]} columns (coefficients) but {name} has "
            f"{n_components} components; inverse_transform needs an array of "
            f"shape (n_samples, {n_components}), e.g. the output of transform."
        )
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    return X
