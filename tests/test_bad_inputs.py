"""Bad input, everywhere: one matrix over every public estimator.

Each estimator is described once, by an :class:`Spec` in ``SPECS`` (how to
build a fast instance, valid data for it, and what it accepts). Every case of
the matrix then runs on it: NaN where missing values are not accepted, an
all-NaN ``X``, infinity, negative values, strings, complex numbers, 1-D and
3-D arrays, zero samples / zero features, invalid ``n_components``, the wrong
width at ``transform`` and ``inverse_transform``, and ``transform`` before
``fit``. Each bad case asserts the exception type *and* that its message names
the problem; degenerate but valid input (a rank larger than the data, one
sample, zero rows and columns, partly missing entries) must give a finite
answer. No case may let a numpy ``RuntimeWarning`` ("All-NaN slice
encountered", "invalid value encountered") escape: every call runs with
RuntimeWarning turned into an error.

A new estimator joins the matrix by adding one line to ``SPECS``, e.g.::

    Spec("SymNMF", fast(nmfkit.SymNMF, n_components=2), data=symmetric),

with a factory of valid data (``lowrank``, ``counts``, ``ratings``,
``pixels``, ``mixed_sign`` or a new one beside them) and the flags of what it
accepts; ``test_every_public_estimator_is_in_the_matrix`` fails until it does.
"""

import inspect
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

import nmfkit

# --------------------------------------------------------------- valid data


def lowrank(n=14, f=9, k=2, seed=0):
    """Dense non-negative n x f data of rank k plus a little noise."""
    rng = np.random.default_rng(seed)
    return rng.random((n, k)) @ rng.random((k, f)) + 0.01 * rng.random((n, f))


def counts(n=14, f=12, seed=0):
    """Word counts of n documents over f words, every document non-empty."""
    rng = np.random.default_rng(seed)
    X = rng.poisson(1.5, size=(n, f)).astype(float)
    X[np.arange(n), np.arange(n) % f] += 1
    return X


def symmetric(n=12, k=2, seed=0):
    """The adjacency-like similarity W W^T of n nodes in k groups (symmetric)."""
    rng = np.random.default_rng(seed)
    W = rng.random((n, k)) * (np.arange(n)[:, None] % k == np.arange(k))
    return W @ W.T + 0.01


def ratings(n=14, f=9, seed=0):
    """Ratings 1..5 of n users on f items, a quarter of them unrated (NaN)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(1, 6, size=(n, f)).astype(float)
    X[rng.random((n, f)) < 0.25] = np.nan
    X[np.arange(n), np.arange(n) % f] = 3.0  # every user rated something
    return X


def pixels(n=16, f=10, seed=0):
    """A 4 x 4 image of n = 16 pixels x f bands, mixtures of 3 spectra."""
    rng = np.random.default_rng(seed)
    E = rng.random((3, f)) + 0.1
    A = rng.dirichlet(np.ones(3), size=n)
    return A @ E


def mixed_sign(n=14, f=9, seed=0):
    """Mixed-sign activations: non-negative codes times signed features."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 2)) @ rng.standard_normal((2, f))


# ---------------------------------------------------------- the registry


@dataclass
class Spec:
    """How the matrix uses one estimator.

    make : builds a fast instance; keyword arguments override its params.
    data : returns valid training data (2-D ndarray, float64).
    k : the rank ``make`` uses by default.
    allows_nan : NaN entries are missing values (fit works around them).
    allows_negative : negative entries are valid data.
    rank_param : the constructor parameter holding the rank, and how a single
        rank is written in it (``lambda k: (k,)`` for a rank range).
    rank_is_capped : a rank above min(X.shape) is an error naming the rank
        (else it must fit and give a finite answer).
    rank_search : the estimator searches a range of ranks; on one sample every
        rank above 1 is out of range, a clear error.
    ndim3_valid : a 3-D X is valid input (N-way tensors).
    clips_negative : negative entries are clipped with a UserWarning by
        default and refused with ``negative="raise"``.
    square : X is a square symmetric (n_nodes, n_nodes) matrix: one sample is
        a 1 x 1 graph, an empty sample an isolated node.
    unstored_is_missing : in a sparse X the entries not stored are missing
        (ratings), not zeros, so sparse and dense X are different data.
    """

    name: str
    make: Callable
    data: Callable = lowrank
    k: int = 2
    allows_nan: bool = False
    allows_negative: bool = False
    rank_param: str = "n_components"
    rank_value: Callable = staticmethod(lambda k: k)
    rank_is_capped: bool = False
    rank_search: bool = False
    ndim3_valid: bool = False
    clips_negative: bool = False
    unstored_is_missing: bool = False
    square: bool = False

    def __str__(self):
        return self.name

    def estimator(self, **params):
        return self.make(**params)

    def with_rank(self, k):
        return self.make(**{self.rank_param: self.rank_value(k)})


def fast(cls, **defaults):
    """A factory of ``cls`` with small, fast defaults that calls may override."""
    return lambda **params: cls(**{"random_state": 0, **defaults, **params})


def _nmfk(**p):
    p.setdefault("n_components_range", (2, 3))
    return nmfkit.NMFk(nmfkit.NMF(max_iter=50, tol=1e-3), n_perturbs=2,
                       n_jobs=1, random_state=0, **p)


def _senmfk(**p):
    p.setdefault("n_components_range", (2, 3))
    return nmfkit.SeNMFk(n_perturbs=2, max_iter=30, n_jobs=1, random_state=0, **p)


RANGE = dict(rank_param="n_components_range", rank_value=lambda k: (k,),
             rank_is_capped=True, rank_search=True)

SPECS = [
    Spec("NMF", fast(nmfkit.NMF, n_components=2, max_iter=50), allows_nan=True),
    Spec("MiniBatchNMF", fast(nmfkit.MiniBatchNMF, n_components=2, batch_size=8,
                              max_iter=20), allows_nan=True),
    Spec("NMFk", _nmfk, allows_nan=True, **RANGE),
    Spec("SeNMF", fast(nmfkit.SeNMF, n_components=2, max_iter=30), data=counts),
    Spec("SeNMFk", _senmfk, data=counts, **RANGE),
    Spec("NBMF", fast(nmfkit.NBMF, n_components=2, max_iter=5, n_sweeps=5,
                      num_reads=1), data=ratings, allows_nan=True,
         unstored_is_missing=True),
    Spec("SSNMF", fast(nmfkit.SSNMF, n_components=3, max_iter=30), data=pixels, k=3,
         rank_is_capped=True, clips_negative=True,  # at most n_bands endmembers
         ndim3_valid=True),  # a (rows, cols, bands) cube: the 4 x 4 image
    Spec("SemiNMF", fast(nmfkit.SemiNMF, n_components=2, max_iter=30),
         data=mixed_sign, allows_negative=True),
    Spec("NonnegativeCP", fast(nmfkit.NonnegativeCP, n_components=2, max_iter=30),
         allows_nan=True, ndim3_valid=True),
    Spec("PANTHER", fast(nmfkit.PANTHER, n_components=2, max_iter=30), data=counts),
    Spec("DeepNMF", fast(nmfkit.DeepNMF, n_components=2), rank_is_capped=True),
    Spec("SymNMF", fast(nmfkit.SymNMF, n_components=2), data=symmetric,
         rank_is_capped=True, square=True),
]

ids = [s.name for s in SPECS]


def over(keep=lambda spec: True):
    """Parametrize a test over the specs for which ``keep(spec)`` holds."""
    chosen = [s for s in SPECS if keep(s)]
    return pytest.mark.parametrize("spec", chosen, ids=[s.name for s in chosen])


every = over()
with_nan = over(lambda s: s.allows_nan)
with_inverse = over(lambda s: hasattr(s.make(), "inverse_transform"))
with_mask = over(lambda s: "mask" in inspect.signature(s.make().fit).parameters)
with_sparse = over(lambda s: s.make().__sklearn_tags__().input_tags.sparse)


def test_every_public_estimator_is_in_the_matrix():
    """A public estimator missing from SPECS fails here, not silently."""
    from sklearn.base import BaseEstimator

    public = {n for n in nmfkit.__all__
              if isinstance(getattr(nmfkit, n), type)
              and issubclass(getattr(nmfkit, n), BaseEstimator)}
    assert public - set(ids) == set()


# ----------------------------------------------------------------- helpers


def strict(fn, *args, **kwargs):
    """Call ``fn`` with every RuntimeWarning raised as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return fn(*args, **kwargs)


def raises(exc, pattern, fn, *args, **kwargs):
    """``fn(*args)`` raises ``exc`` whose message matches ``pattern``;
    no RuntimeWarning escapes on the way."""
    with pytest.raises(exc, match=pattern):
        strict(fn, *args, **kwargs)


def fitted(spec):
    X = spec.data()
    est = strict(spec.estimator().fit, X)
    return est, X


def assert_finite_fit(est, X):
    """fit_transform gives finite coefficients of the right shape."""
    W = strict(est.fit_transform, X)
    W = np.asarray(W)
    assert W.shape[0] == X.shape[0]
    assert np.isfinite(W).all()
    return W


# ------------------------------------------------------------ the matrix


@every
def test_valid_data_fits(spec):
    """The factory's data is valid: the baseline of every other case."""
    est = spec.estimator()
    W = assert_finite_fit(est, spec.data())
    assert W.shape[1] == est.n_components_


@every
def test_nan(spec):
    X = spec.data()
    X[1, 2] = np.nan
    if spec.allows_nan:  # a missing entry: fit around it
        assert_finite_fit(spec.estimator(), X)
    else:
        raises(ValueError, "NaN", spec.estimator().fit, X)


@every
def test_all_nan(spec):
    X = np.full_like(spec.data(), np.nan)
    pattern = r"no observed entry|no rated entry" if spec.allows_nan else "NaN"
    raises(ValueError, pattern, spec.estimator().fit, X)
    raises(ValueError, pattern, spec.estimator().fit_transform, X)


@with_mask
def test_all_masked(spec):
    """A mask that hides every entry is the all-missing case too."""
    X = spec.data()
    X[np.isnan(X)] = 1.0
    raises(ValueError, r"no observed entry|no rated entry", spec.estimator().fit, X,
           mask=np.zeros(X.shape, dtype=bool))


@with_nan
def test_transform_all_nan_rows(spec):
    """Samples with nothing observed, given to a fitted model: each row is
    solved on its own, so they get finite coefficients (cold users)."""
    est, X = fitted(spec)
    W = strict(est.transform, np.full((3, X.shape[1]), np.nan))
    assert W.shape == (3, est.n_components_)
    assert np.isfinite(W).all()


@with_nan
def test_nan_row_and_column(spec):
    """A fully missing sample and feature: valid where NaN is (finite W)."""
    X = spec.data()
    X[0] = np.nan
    X[:, 1] = np.nan
    assert_finite_fit(spec.estimator(), X)


@every
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinity(spec, value):
    X = spec.data()
    X[2, 1] = value
    raises(ValueError, "infinity", spec.estimator().fit, X)


@every
def test_negative(spec):
    X = spec.data()
    X[3, 0] = -1.0
    if spec.allows_negative:
        assert_finite_fit(spec.estimator(), X)
    elif spec.clips_negative:  # clips by default, refuses when asked to
        with pytest.warns(UserWarning, match="negative"):
            assert_finite_fit(spec.estimator(), X)
        raises(ValueError, "Negative", spec.estimator(negative="raise").fit, X)
    else:
        raises(ValueError, "Negative", spec.estimator().fit, X)


@every
def test_strings(spec):
    X = spec.data().astype(object)
    X[0, 0] = "a"
    raises(ValueError, "string|str", spec.estimator().fit, X)
    raises(ValueError, "string|str", spec.estimator().fit,
           np.full(spec.data().shape, "x"))


@every
def test_complex(spec):
    X = spec.data() + 1j
    raises(ValueError, "[Cc]omplex", spec.estimator().fit, X)


@every
def test_one_dimensional(spec):
    raises(ValueError, "2D|2-D|dimension", spec.estimator().fit, spec.data()[0])


@every
def test_three_dimensional(spec):
    if spec.name == "SSNMF":  # a cube is an image: (rows, cols, bands)
        X3 = spec.data().reshape(4, 4, -1)
    else:
        X3 = np.stack([spec.data()] * 2, axis=2)
    if spec.ndim3_valid:
        W = assert_finite_fit(spec.estimator(), X3)
        assert W.shape[0] == X3.shape[0]
    else:
        raises(ValueError, "dim 3|3D|3-D|dimension", spec.estimator().fit, X3)


@every
def test_zero_samples(spec):
    X = spec.data()[:0]
    raises(ValueError, r"0 sample", spec.estimator().fit, X)


@every
def test_zero_features(spec):
    X = spec.data()[:, :0]
    raises(ValueError, r"0 feature", spec.estimator().fit, X)


@every
@pytest.mark.parametrize("k", [0, -1, 1.5, "two"])
def test_invalid_n_components(spec, k):
    raises((ValueError, TypeError), spec.rank_param, spec.with_rank(k).fit,
           spec.data())


@every
def test_rank_larger_than_data(spec):
    """min(X.shape) + 1 components: an error naming the rank where the
    estimator caps it, else a finite answer."""
    X = spec.data()
    k = min(X.shape) + 1
    if spec.rank_is_capped:
        raises(ValueError, r"exceed|n_components", spec.with_rank(k).fit, X)
    else:
        W = assert_finite_fit(spec.with_rank(k), X)
        assert W.shape[1] == k


@every
def test_one_sample(spec):
    """A single sample: a finite answer, or a clear error about the rank
    (a rank search cannot pick a rank of a 1-row matrix)."""
    X = spec.data()[:1, :1] if spec.square else spec.data()[:1]
    if spec.rank_search:
        raises(ValueError, r"exceed", spec.estimator().fit, X)
        return
    k = 1
    W = assert_finite_fit(spec.with_rank(k), X)
    assert W.shape == (1, k)


@every
def test_transform_wrong_width(spec):
    est, X = fitted(spec)
    raises(ValueError, r"features", est.transform, X[:, :-1])
    raises(ValueError, r"features", est.transform,
           np.hstack([X, X[:, :1]]))


@every
def test_transform_one_dimensional(spec):
    est, X = fitted(spec)
    raises(ValueError, "2D|2-D|dimension", est.transform, X[0])


@with_inverse
def test_inverse_transform_wrong_width(spec):
    est, X = fitted(spec)
    k = est.n_components_
    Xr = np.asarray(strict(est.inverse_transform, np.ones((3, k))))
    assert Xr.shape[0] == 3 and np.isfinite(Xr).all()
    for width in (k + 1, k - 1):
        raises(ValueError, rf"X has {width} columns.* has {k} components",
               est.inverse_transform, np.ones((3, width)))
    raises(ValueError, "2D|2-D|dimension", est.inverse_transform, np.ones(k))
    raises(ValueError, "NaN", est.inverse_transform, np.full((3, k), np.nan))


@every
def test_before_fit(spec):
    est = spec.estimator()
    X = spec.data()
    with pytest.raises(NotFittedError):
        strict(est.transform, X)
    if hasattr(est, "inverse_transform"):
        with pytest.raises(NotFittedError):
            strict(est.inverse_transform, np.ones((2, spec.k)))


@every
def test_zero_rows_and_columns(spec):
    """An empty sample (all zeros) and an unused feature: a finite answer."""
    X = spec.data()
    X[0] = 0
    X[:, 0 if spec.square else 1] = 0  # square: an isolated node
    if spec.allows_nan:
        X[np.isnan(X)] = 1.0
    W = assert_finite_fit(spec.estimator(), X)
    assert np.isfinite(W).all()


@with_sparse
@pytest.mark.parametrize("value, pattern", [(np.inf, "infinity"), (-1.0, "Negative"),
                                            (np.nan, "NaN")])
def test_sparse_bad_values(spec, value, pattern):
    """The same refusals for a sparse X (NaN is never "missing" there: a
    sparse X marks missing entries with ``mask``)."""
    X = spec.data()
    X[np.isnan(X)] = 1.0
    X[2, 1] = value
    raises(ValueError, pattern, spec.estimator().fit, sp.csr_matrix(X))


@with_sparse
def test_sparse_valid_matches_dense(spec):
    """Valid sparse data: finite, and the same model as the dense array."""
    X = spec.data()
    X[np.isnan(X)] = 0.0
    W_dense = np.asarray(strict(spec.estimator().fit_transform, X))
    W_sparse = np.asarray(strict(spec.estimator().fit_transform, sp.csr_matrix(X)))
    assert np.isfinite(W_sparse).all()
    if not spec.unstored_is_missing:
        np.testing.assert_allclose(W_sparse, W_dense, rtol=1e-6, atol=1e-8)


def test_non_negative_factorization_all_nan():
    """The function form refuses an X with nothing observed, like NMF."""
    X = np.full((6, 5), np.nan)
    raises(ValueError, "no observed entry", nmfkit.non_negative_factorization, X,
           n_components=2)
    # with H fixed it is a transform: rows with nothing observed get W = 0
    H = np.random.default_rng(0).random((2, 5))
    W, _, _ = strict(nmfkit.non_negative_factorization, X, H=H, n_components=2,
                     init="custom", update_H=False)
    assert W.shape == (6, 2) and np.all(W == 0)
