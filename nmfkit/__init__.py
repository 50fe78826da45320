"""nmfkit: non-negative matrix factorization estimators for scikit-learn.

A faster drop-in for :class:`sklearn.decomposition.NMF` that also handles
missing values, and NMF variants of the research literature as scikit-learn
estimators.
"""

from .decomposition import NMF, non_negative_factorization

__version__ = "0.1.0"

__all__ = ["NMF", "non_negative_factorization", "__version__"]
