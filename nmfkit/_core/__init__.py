"""Private solver core of nmfkit: pure functions over arrays.

Nothing in here validates parameters, keeps estimator state or prints (except
through an optional ``verbose`` flag). Estimators validate, then call these.

Conventions shared by every function of the core
------------------------------------------------
X
    ``(n_samples, n_features)`` non-negative data; a dense ndarray or a
    ``scipy.sparse`` CSR/CSC matrix. Never densified.
W, H
    Factors, ``(n_samples, k)`` and ``(k, n_features)``, C-contiguous ndarrays of
    the same floating dtype as ``X`` (float32 stays float32). Updated in place
    where the docstring says so; the updated arrays are always returned too.
observed
    Which entries of ``X`` take part in the loss:

    * ``None`` -- every entry (for sparse ``X`` the implicit zeros are observed
      zeros);
    * a boolean ndarray of ``X``'s shape (dense ``X`` only), ``True`` = observed;
      ``X`` must hold finite values (e.g. 0) at unobserved entries;
    * the string ``"stored"`` (sparse ``X`` only): exactly the stored entries of
      ``X`` are observed (explicit zeros included), all others are missing.
Penalties
    Already scaled the way scikit-learn scales them (``l1_W = alpha_W * l1_ratio
    * n_features`` ...): the objective is
    ``D_beta(X | WH) + l1_W |W|_1 + 0.5 l2_W |W|_F^2 + l1_H |H|_1 + 0.5 l2_H |H|_F^2``
    with ``D_2 = 0.5 |X - WH|_F^2`` (scikit-learn's convention).
"""
