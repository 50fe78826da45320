"""Model selection helpers shared by the families: splitters for ``GridSearchCV``.

Every nmfkit estimator has a ``score`` -- minus the error on held-out entries
(bi-cross-validation, :mod:`nmfkit._core.heldout`) -- so
``GridSearchCV(estimator, {"n_components": [...]})`` chooses the rank without a
custom scorer. The usual splitters hold out *rows*. That does not work for an
estimator whose fit needs every row, such as :class:`~nmfkit.SSNMF` with
``image_shape`` (the spatial graph is built on the whole image, a subset of
pixels is not an image). :class:`WholeImageSplit` is the route for those: every
fold fits on all rows, in order, and the estimator's ``score`` holds out
entries of the whole image rather than rows.
"""

from numbers import Integral

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples

__all__ = ["WholeImageSplit"]


class WholeImageSplit(BaseCrossValidator):
    """Folds that keep every sample: for estimators whose fit needs all rows.

    Each fold trains on all samples, in their order (an image's pixels stay
    an image), and tests on all samples; the estimator's ``score`` then holds
    out *entries*, not rows (e.g. :meth:`nmfkit.SSNMF.score`: a fixed random
    20% of the entries of the image is hidden, each pixel's abundances are
    fit on its visible bands, and the hidden ones are predicted). Use it as
    the ``cv`` of :class:`~sklearn.model_selection.GridSearchCV` to choose
    ``n_components`` of :class:`~nmfkit.SSNMF` with ``image_shape``.

    The first fold tests on the samples in their order; every further fold
    tests on them in a different random order, so that a score that hides a
    fixed pattern of positions (as nmfkit's scores do) hides other entries
    of the data in each fold and ``mean_test_score`` averages over several
    held-out sets. This needs a ``score`` in which each row is predicted on
    its own (true of :meth:`nmfkit.SSNMF.score`: the graph is not used
    there). Every fold fits the same data, so with a deterministic estimator
    (fixed ``random_state``) the extra folds only cost fits: ``n_splits=1``
    (the default) is usually enough.

    Parameters
    ----------
    n_splits : int, default=1
        Number of folds.
    random_state : int, RandomState instance or None, default=0
        Order of the test samples of the folds after the first.

    See Also
    --------
    nmfkit.SSNMF.score : the held-out-entry score this splitter is made for.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.model_selection import WholeImageSplit
    >>> X = np.ones((6, 2))
    >>> [(train.tolist(), test.tolist())
    ...  for train, test in WholeImageSplit().split(X)]
    [([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5])]
    >>> cv = WholeImageSplit(n_splits=2, random_state=0)
    >>> [sorted(test.tolist()) for _, test in cv.split(X)]  # all pixels each time
    [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]
    """

    def __init__(self, n_splits=1, *, random_state=0):
        self.n_splits = n_splits
        self.random_state = random_state

    def _check(self):
        if (not isinstance(self.n_splits, Integral) or isinstance(self.n_splits, bool)
                or self.n_splits < 1):
            raise ValueError(
                f"n_splits must be a positive integer; got {self.n_splits!r}.")

    def split(self, X, y=None, groups=None):
        """Generate ``(train, test)`` indices: all samples in both.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The data (only its length is used).
        y, groups : Ignored

        Yields
        ------
        train : ndarray of int
            ``arange(n_samples)``.
        test : ndarray of int
            A permutation of ``arange(n_samples)`` (the identity in the first
            fold).
        """
        self._check()
        n = _num_samples(X)
        if n < 1:
            raise ValueError("X has no samples; WholeImageSplit needs at least one.")
        rng = check_random_state(self.random_state)
        idx = np.arange(n)
        for fold in range(self.n_splits):
            yield idx, (idx if fold == 0 else rng.permutation(n))

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds (``n_splits``).

        Parameters
        ----------
        X, y, groups : Ignored

        Returns
        -------
        n_splits : int
        """
        self._check()
        return self.n_splits

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        for _, test in self.split(X):
            yield test
