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
- :class:`NonnegativeCP`, :class:`PANTHER`: non-negative CP of N-way arrays,
  and pathway-augmented tensor features of samples x genes counts.
- :class:`SemiNMF` (with :func:`collect_activations`): semi-NMF of mixed-sign
  data such as neural-network activations into non-negative activations of
  signed, optionally sparse features.
- :class:`SSNMF`: structured sparse NMF for hyperspectral unmixing (pixels x
  bands; abundances and endmember spectra), tools in :mod:`nmfkit.unmixing`.
- :class:`NBMF`: nonnegative/binary factorization of rating matrices for
  recommendation (binary item features found by QUBO solvers).
"""

from .activations import SemiNMF, collect_activations
from .community import DeepNMF, SymNMF
from .decomposition import NMF, non_negative_factorization
from .minibatch import MiniBatchNMF
from .rank import NMFk, NMFkDisplay
from .recommend import NBMF
from .tensor import PANTHER, NonnegativeCP
from .text import SeNMF, SeNMFk
from .unmixing import SSNMF

__version__ = "0.1.0"

__all__ = [
    "DeepNMF",
    "NMF",
    "MiniBatchNMF",
    "NBMF",
    "NMFk",
    "NMFkDisplay",
    "NonnegativeCP",
    "PANTHER",
    "SeNMF",
    "SeNMFk",
    "SemiNMF",
    "SymNMF",
    "collect_activations",
    "SSNMF",
    "non_negative_factorization",
    "__version__",
]
