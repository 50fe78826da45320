"""Input checks shared by the estimators (the core never validates).

These helpers turn what a user passes (a dense array with NaN, a sparse matrix
with an explicit mask, custom factors) into the ``(X, observed)`` pair the core
expects, raising ``ValueError``/``TypeError`` with messages that name the
problem.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

__all__ = [
    "check_coefficients",
    "check_factor",
    "check_nonnegative",
    "check_observed",
    "resolve_observed",
]


def check_nonnegative(X, whom):
    """Raise a ``ValueError`` naming ``whom`` if ``X`` has a negative entry.

    NaN entries (missing values) are ignored, silently even when every entry
    is NaN (whether that is allowed is :func:`check_observed`'s question).
    """
    data = X.data if sp.issparse(X) else X
    # fmin skips NaN without numpy's "All-NaN slice" warning and without a copy
    if data.size and np.fmin.reduce(data, axis=None) < 0:
        raise ValueError(f"Negative values in data passed to {whom}.")


def check_observed(X, whom, observed=None):
    """Raise a ``ValueError`` naming ``whom`` if no entry of ``X`` is observed.

    Call it in ``fit`` on the validated ``X`` (NaN entries allowed), or on the
    ``(X, observed)`` pair of :func:`resolve_observed`: an ``X`` whose every
    entry is NaN, or masked out, has nothing to fit, and would otherwise leak
    numpy's "All-NaN slice" warning and return meaningless factors.

    Parameters
    ----------
    X : ndarray or sparse matrix
        Validated data.
    whom : str
        Estimator name for the message.
    observed : None, ndarray of bool or ``"stored"``, default=None
        The core's observation pattern, when already resolved.
    """
    if isinstance(observed, np.ndarray):
        empty = observed.size > 0 and not observed.any()
    elif isinstance(observed, str):  # "stored": the stored entries of a sparse X
        empty = X.nnz == 0
    else:
        data = X.data if sp.issparse(X) else X
        dense = not sp.issparse(X) or X.nnz == X.shape[0] * X.shape[1]
        empty = (dense and data.size > 0
                 and bool(np.isnan(np.fmax.reduce(data, axis=None))))
    if empty:
        raise ValueError(
            f"Input X of {whom} has no observed entry: all {X.shape[0]} x "
            f"{X.shape[1]} entries are missing (NaN or masked out); {whom} needs "
            "at least one observed value to fit."
        )


def check_coefficients(X, n_components, whom):
    """Validate the coefficients given to ``inverse_transform``.

    ``X`` must be a finite 2-D array with ``n_components`` columns (one per
    fitted component); the error names both widths instead of leaving numpy's
    matmul to complain (or a 1-D ``X`` to broadcast silently).

    Returns
    -------
    X : ndarray or sparse matrix of float64 or float32
    """
    X = check_array(X, accept_sparse=("csr", "csc"), dtype=[np.float64, np.float32],
                    input_name="X")
    if X.shape[1] != n_components:
        raise ValueError(
            f"X has {X.shape[1]} columns (coefficients) but {whom} has "
            f"{n_components} components; inverse_transform needs an array of "
            f"shape (n_samples, {n_components}), e.g. the output of transform."
        )
    return X


def check_factor(A, shape, whom, dtype, allow_zero=False):
    """Validate a user-supplied factor ``W`` or ``H`` (``init='custom'``).

    Parameters
    ----------
    A : array-like
        The factor.
    shape : tuple
        Expected shape; an entry ``"auto"`` is not checked.
    whom : str
        Name used in error messages, e.g. ``"NMF (input H)"``.
    dtype : numpy dtype
        The dtype of ``X``; the factor must have the same one.
    allow_zero : bool, default=False
        Accept a factor full of zeros. A starting point full of zeros is
        rejected (the multiplicative updates cannot leave it), but a fixed
        ``H`` (``update_H=False``) full of zeros is a valid, degenerate
        problem whose coefficients are zero -- e.g. the components of a fit
        that strong penalties drove to exactly zero.
    """
    if A is None:
        raise ValueError(f"{whom} is required when init='custom' (got None).")
    A_arr = check_array(A, dtype=None, input_name=whom)
    for axis, name in ((0, "first"), (1, "second")):
        if shape[axis] != "auto" and A_arr.shape[axis] != shape[axis]:
            raise ValueError(
                f"Array with wrong {name} dimension passed to {whom}. Expected "
                f"{shape[axis]}, but got {A_arr.shape[axis]}."
            )
    check_nonnegative(A_arr, whom)
    if not allow_zero and np.max(A_arr) == 0:
        raise ValueError(f"Array passed to {whom} is full of zeros.")
    if A_arr.dtype != dtype:
        raise TypeError(
            f"{whom} should have the same dtype as X. Got {whom}.dtype = "
            f"{A_arr.dtype} and X.dtype = {dtype}."
        )
    return np.array(A_arr, order="C", copy=True)


def resolve_observed(X, mask, allow_missing, whom):
    """Return ``(X, observed)`` in the core's convention.

    Parameters
    ----------
    X : ndarray or sparse matrix
        Validated data; may hold NaN where ``allow_missing`` is true.
    mask : None, array-like of bool or sparse matrix
        Explicit observation mask (``True`` / stored = observed).
    allow_missing : bool
        Whether NaN entries mean "missing".
    whom : str
        Estimator name for messages.

    Returns
    -------
    X : ndarray or sparse matrix
        Data with unobserved entries set to 0 (dense) or restricted to the
        observed pattern (sparse with a mask). A copy when it had to change.
    observed : None, ndarray of bool or ``"stored"``
    """
    if sp.issparse(X):
        if np.isnan(X.data).any():
            raise ValueError(
                f"Input X of {whom} is sparse and contains NaN. For a sparse X, "
                "mark missing entries with the `mask` argument (its stored "
                "entries are the observed ones) instead of NaN."
            )
        if mask is None:
            return X, None
        if sp.issparse(mask):
            M = sp.csr_matrix(mask)
        else:
            M = sp.csr_matrix(check_array(mask, dtype=None, input_name="mask"))
        if M.shape != X.shape:
            raise ValueError(
                f"mask has shape {M.shape} but X has shape {X.shape}; they must "
                "be equal."
            )
        M.eliminate_zeros()
        M.sum_duplicates()
        M.sort_indices()
        rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
        cols = M.indices
        Xc = sp.csr_matrix(X)
        values = np.asarray(Xc[rows, cols]).ravel().astype(X.dtype, copy=False)
        Xobs = sp.csr_matrix(
            (values, cols.copy(), M.indptr.copy()), shape=X.shape, dtype=X.dtype
        )
        return Xobs, "stored"

    nan = np.isnan(X) if allow_missing else None
    if mask is not None:
        if sp.issparse(mask):
            mask = mask.toarray()
        mask = np.asarray(mask)
        if mask.shape != X.shape:
            raise ValueError(
                f"mask has shape {mask.shape} but X has shape {X.shape}; they "
                "must be equal."
            )
        if mask.dtype != bool:
            if not np.isin(mask, (0, 1)).all():
                raise TypeError(
                    "mask must be boolean (True = observed) or hold only 0 and 1; "
                    f"got dtype {mask.dtype}."
                )
            mask = mask.astype(bool)
    if nan is not None and nan.any():
        observed = ~nan if mask is None else (mask & ~nan)
    elif mask is not None:
        observed = mask.copy()
    else:
        return X, None
    X = np.where(observed, X, 0).astype(X.dtype, copy=False)
    if observed.all():
        return X, None
    return X, observed
