"""nmfkit: non-negative matrix factorization estimators for scikit-learn.

A faster drop-in for :class:`sklearn.decomposition.NMF` that also handles
missing values, and NMF variants of the research literature as scikit-learn
estimators:

- :class:`NMF`, :class:`MiniBatchNMF`, :func:`non_negative_factorization`:
  drop-in replacements for scikit-learn's, with missing values and a
  held-out score for choosing the rank with ``GridSearchCV``;
- :class:`NMFk` (with :class:`NMFkDisplay`): automatic rank selection by the
  stability of factors under perturbation;
- :class:`SeNMF`, :class:`SeNMFk`: semantic topic models (documents x words
  jointly with word co-occurrence), the number of topics chosen by NMFk;
- :class:`NBMF`: nonnegative/binary factorization of rating matrices for
  recommendation (binary item features found by QUBO solvers).
"""

from .decomposition import NMF, non_negative_factorization
from .minibatch import MiniBatchNMF
from .rank import NMFk, NMFkDisplay
from .recommend import NBMF
from .text import SeNMF, SeNMFk

__version__ = "0.1.0"

__all__ = [
    "NMF",
    "MiniBatchNMF",
    "NBMF",
    "NMFk",
    "NMFkDisplay",
    "SeNMF",
    "SeNMFk",
    "non_negative_factorization",
    "__version__",
]
