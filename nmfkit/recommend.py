"""Recommender systems: factorizations of users x items rating matrices.

Unrated entries are missing, not zero: NaN in a dense rating matrix, and every
entry that is not stored in a sparse one (the convention of rating matrices);
``mask=`` overrides both, as in :class:`nmfkit.NMF`.

Coming from scikit-surprise, whose data are ``(user, item, rating)`` tables:
:func:`ratings_matrix` turns such a table (an array or a pandas DataFrame)
into the sparse users x items matrix that :class:`NBMF` fits, with the maps
from rows and columns back to the original ids, and
:meth:`NBMF.predict_pairs` predicts the ratings of ``(user, item)`` pairs
given by those ids (``surprise``'s ``algo.predict(uid, iid)``, vectorised).
"""

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._core.heldout import heldout_score
from ._core.losses import beta_divergence, wh_at
from ._core.nbmf import (
    binary_start,
    fill_unobserved_items,
    fit_nbmf,
    make_qubo_solver,
    observed_counts,
)
from ._core.nnls import nnls
from ._conventions import check_inverse_input, solver_verbose
from ._validation import check_nonnegative, resolve_observed

__all__ = ["NBMF", "ratings_matrix"]

_EXACT_MAX_BITS = 20


def _py(value):
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _integral(values):
    """Whether ``values`` are whole numbers (ints, or floats like 3.0)."""
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.integer):
        return True
    if np.issubdtype(arr.dtype, np.floating) or arr.dtype == object:
        try:
            f = arr.astype(np.float64)
        except (TypeError, ValueError):
            return False
        return bool(np.all(np.isfinite(f)) and np.all(f == np.round(f)))
    return False


def _observed_values(X, observed):
    """The observed entries of ``X`` as a flat array."""
    if sp.issparse(X):
        return X.data  # "stored", or every entry of a fully observed sparse X
    if observed is None:
        return X.ravel()
    return X[observed]


def _table_columns(table, columns, n_cols, whom):
    """The first ``n_cols`` columns of a (user, item[, rating]) table as arrays."""
    if hasattr(table, "iloc"):  # a pandas DataFrame
        if columns is None:
            if table.shape[1] < n_cols:
                raise ValueError(
                    f"{whom} needs {n_cols} columns; the DataFrame has "
                    f"{table.shape[1]}.")
            return [np.asarray(table.iloc[:, j]) for j in range(n_cols)]
        if len(columns) != n_cols:
            raise ValueError(f"columns must name {n_cols} columns; got {columns!r}.")
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"columns {missing} are not in the DataFrame (its "
                             f"columns: {list(table.columns)}).")
        return [np.asarray(table[c]) for c in columns]
    if columns is not None:
        raise ValueError("columns can only be given for a pandas DataFrame.")
    arr = np.asarray(table, dtype=object) if not isinstance(table, np.ndarray) \
        else table
    if arr.ndim != 2 or arr.shape[1] < n_cols:
        raise ValueError(
            f"{whom} must be a 2-D table with at least {n_cols} columns (user, "
            f"item{', rating' if n_cols == 3 else ''}); got shape {arr.shape}.")
    return [arr[:, j] for j in range(n_cols)]


def _lookup(values, ids, name):
    """Positions of ``values`` in the sorted unique ``ids`` (-1 when absent)."""
    values = np.asarray(values)
    try:
        pos = np.searchsorted(ids, values)
    except TypeError as exc:
        raise TypeError(
            f"the {name} ids of the pairs cannot be compared with {name}_ids "
            f"(dtype {values.dtype} vs {np.asarray(ids).dtype}).") from exc
    pos = np.minimum(pos, max(len(ids) - 1, 0))
    found = (len(ids) > 0) & (np.asarray(ids)[pos] == values) if len(ids) else \
        np.zeros(values.shape, dtype=bool)
    return np.where(found, pos, -1)


def ratings_matrix(ratings, *, columns=None, user_ids=None, item_ids=None,
                   dtype=np.float64):
    """Turn a ``(user, item, rating)`` table into a sparse ratings matrix.

    The table of scikit-surprise (``Dataset.load_from_df``), MovieLens'
    ``u.data`` and most rating logs becomes the users x items CSR matrix that
    :class:`NBMF` (and :class:`nmfkit.NMF` with ``mask``) fits: the stored
    entries are the ratings (an explicit rating of 0 stays stored), every
    other entry is unrated. Row ``i`` is the user ``user_ids[i]`` and column
    ``j`` the item ``item_ids[j]``.

    Parameters
    ----------
    ratings : array-like of shape (n_ratings, 3) or pandas DataFrame
        One rating per row: user id, item id, rating. Ids may be any
        sortable values (ints, strings). A DataFrame's first three columns
        are used unless ``columns`` names them.
    columns : sequence of 3 str, default=None
        DataFrame columns holding the user ids, item ids and ratings.
    user_ids, item_ids : array-like, default=None
        The ids of the rows / columns, to build a matrix over a known index
        (e.g. a test table over the training matrix's users and items: pass
        the maps the training call returned). Every id of the table must be
        among them. ``None``: the sorted distinct ids of the table.
    dtype : {np.float64, np.float32}, default=np.float64
        Dtype of the ratings.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_users, n_items)
        The ratings.
    user_ids : ndarray of shape (n_users,)
        Original id of each row (sorted).
    item_ids : ndarray of shape (n_items,)
        Original id of each column (sorted).

    Raises
    ------
    ValueError
        A user-item pair rated twice, a rating that is NaN or infinite, or an
        id missing from the given ``user_ids`` / ``item_ids``.

    See Also
    --------
    NBMF.predict_pairs : predicted ratings of (user, item) pairs by id.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.recommend import ratings_matrix
    >>> table = [("ann", "film1", 4), ("bob", "film2", 5), ("ann", "film3", 1)]
    >>> X, users, items = ratings_matrix(table)
    >>> X.toarray()
    array([[4., 0., 1.],
           [0., 5., 0.]])
    >>> users.tolist(), items.tolist()
    (['ann', 'bob'], ['film1', 'film2', 'film3'])
    >>> X.nnz  # only the ratings are stored; the zeros above are unrated
    3
    """
    u, i, r = _table_columns(ratings, columns, 3, "ratings")
    try:
        r = np.asarray(r, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError("the ratings (third column) must be numbers.") from exc
    if r.size and not np.isfinite(r).all():
        raise ValueError("the ratings (third column) contain NaN or infinity; "
                         "leave unrated pairs out of the table instead.")
    index = []
    for name, values, given in (("user", u, user_ids), ("item", i, item_ids)):
        values = np.asarray(values)
        if values.dtype == object:  # e.g. strings in an object table
            try:
                values = values.astype(type(values[0])) if values.size else values
            except (TypeError, ValueError):
                pass
        if given is None:
            ids, pos = np.unique(values, return_inverse=True)
        else:
            ids = np.asarray(given)
            if ids.size != np.unique(ids).size or (ids.size > 1 and not np.all(
                    ids[:-1] < ids[1:])):
                raise ValueError(f"{name}_ids must hold distinct ids in sorted order "
                                 "(as ratings_matrix returns them).")
            pos = _lookup(values, ids, name)
            if (pos < 0).any():
                bad = values[pos < 0]
                raise ValueError(
                    f"{int((pos < 0).sum())} ratings have a {name} id that is not in "
                    f"{name}_ids (e.g. {_py(bad[0])!r}).")
        index.append((ids, pos.ravel()))
    (users, rows), (items, cols) = index
    n_users, n_items = users.size, items.size
    flat = rows.astype(np.int64) * n_items + cols
    if np.unique(flat).size != flat.size:
        uniq, counts = np.unique(flat, return_counts=True)
        dup = uniq[counts > 1][0]
        raise ValueError(
            f"the pair (user {_py(users[dup // n_items])!r}, item "
            f"{_py(items[dup % n_items])!r}) "
            "is rated more than once; keep one rating per pair (e.g. the last or "
            "the mean).")
    order = np.argsort(flat, kind="stable")
    rows, cols, r = rows[order], cols[order], r[order]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n_users))))
    X = sp.csr_matrix((r, cols.astype(np.int32 if n_items < 2**31 else np.int64),
                       indptr), shape=(n_users, n_items), dtype=dtype)
    return X, users, items


class NBMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Nonnegative/binary matrix factorization of a rating matrix (NBMF).

    Approximates a users x items rating matrix ``X`` (users are the samples)
    by ``W @ H`` with non-negative user weights ``W`` (``transform(X)``,
    ``n_samples x n_components``) and **binary** item features ``H``
    (``components_``, entries 0 or 1), fitted on the **observed** entries
    only:

    .. math::

        \min_{W \ge 0,\; H \in \{0,1\}^{k \times n}}
        \tfrac12 \sum_{(i,j)\ \mathrm{rated}} (x_{ij} - w_i h_j)^2
        + \tfrac12\, \lambda \|W\|_F^2 .

    Unrated entries are NaN in a dense ``X``; in a sparse ``X`` the stored
    entries are the ratings and all others are unrated; ``mask`` (in
    :meth:`fit`, :meth:`transform`, :meth:`score`, :meth:`recommend`)
    overrides both, as in :class:`nmfkit.NMF`.

    The fit alternates two block minimisations from a binary ``H`` (the
    rounding of a short NMF fit, see ``init``):

    * **W step**: each user's weights by non-negative least squares with the
      ridge :math:`\lambda` on the items that user rated (exact);
    * **H step**: each item's column is a QUBO over ``k`` bits built from the
      users who rated it, :math:`Q_{aa} = \sum_i W_{ia}(W_{ia} - 2X_{ij})`,
      :math:`Q_{ab} = 2\sum_i W_{ia}W_{ib}` (:math:`a < b`), minimised by
      ``solver``. A column is replaced only by one of strictly lower energy,
      so no H step raises the objective, and neither does a W step. With
      ``'anneal'`` or ``'exact'``, an item whose current column provably
      minimises its QUBO (no single flip lowers the linear part of the energy
      change, and the quadratic part cannot be negative) is not solved again.

    It stops when the objective falls by at most ``tol`` (relative) in an
    iteration, when the H step changes nothing, or after ``max_iter``
    iterations; the pair returned is the best one seen (the last accepted).

    **The ridge.** The penalty is :math:`\lambda = \alpha\, k\, \bar n`
    (stored in ``ridge_``) with :math:`k` = ``n_components`` and
    :math:`\bar n` the mean number of ratings of the users who rated
    anything -- the number of observed entries of a row, as scikit-learn
    scales ``alpha_W`` by the number of entries of a row. Why both factors:
    a user's Gram matrix on the rated items grows with the number of
    ratings, and its largest eigenvalue (the direction that sets the user's
    mean rating) grows with :math:`k`, since the predicted rating is a sum
    over about half of the :math:`k` features; with :math:`\lambda`
    proportional to both, the shrinkage of a user's mean rating is the same
    for any data size and any ``n_components``. No rating-scale factor is
    needed: multiplying every rating by ``c`` multiplies the optimal ``W`` by
    ``c`` and the whole objective by :math:`c^2`, so the solution is the
    same on any rating scale. The default ``alpha=0.0125`` was chosen on the
    MovieLens 100k fold u1, where it is at or next to the best for every
    ``n_components`` from 6 to 12 (``docs/nbmf.md`` shows the effect of
    ``alpha`` and ``n_components``). For fully observed, nearly exact data
    (images) a much smaller value such as 1e-6 avoids shrinking ``W``.

    **Users or items without ratings** get defined, finite predictions: an
    item nobody rated gets the binary column that best predicts the mean
    training rating for every user (the QUBO of a pseudo-item rated that
    mean by all users); a user without any rating (in :meth:`fit` or
    :meth:`transform`) gets ``cold_start_weights_``, the mean weights of the
    training users.

    Parameters
    ----------
    n_components : int, default=10
        Number of binary features ``k`` (bits per item QUBO).
    alpha : float, default=0.0125
        Ridge on ``W`` per feature and per rating of the average user (see
        above).
    init : {'nmf', 'random'}, default='nmf'
        Binary start of ``H``. ``'nmf'``: a short masked NMF (``H >= 0``
        instead of binary, 30 HALS iterations) with each row of ``H`` divided
        by its largest entry and rounded at 0.5 -- on planted binary factors
        it starts in the right basin far more often than random bits.
        ``'random'``: independent fair bits.
    n_init : int, default=1
        Number of starts (each with its own random draws); the fit with the
        lowest objective is kept.
    solver : {'anneal', 'exact'} or sampler object, default='anneal'
        Minimiser of the item QUBOs:

        * ``'anneal'``: simulated annealing vectorised over all items at once
          (``num_reads`` chains of ``n_sweeps`` sweeps, one starting from the
          current column) on the first H step; the later H steps start from
          columns already in a good basin and descend by single and pair bit
          flips (``nmfkit._core.qubo.solve_descent``), many times cheaper,
          with the same test error on MovieLens-like data;
        * ``'exact'``: enumeration of the ``2**k`` states, vectorised over
          items (Gray code over the high bits, a bit matrix for the low
          ones); practical up to ``k`` of about 16, refused above 20;
        * any dimod-style sampler (an object with
          ``sample_qubo(Q, num_reads=...)`` returning a sample set, e.g.
          ``dwave.samplers.SimulatedAnnealingSampler()`` or a quantum
          annealer; ``pip install "nmfkit[qubo]"``): called once per item
          with the QUBO as a ``{(a, b): value}`` dictionary over the
          variables ``0 .. k-1``; its best sample is kept when it improves
          the column.
    num_reads : int, default=4
        Independent annealing chains per item (``'anneal'``), or the
        ``num_reads`` passed to a sampler.
    n_sweeps : int, default=50
        Sweeps per annealing chain (``'anneal'`` only).
    max_iter : int, default=100
        Maximum number of iterations (H step then W step).
    tol : float, default=1e-4
        Relative decrease of the objective below which the fit stops.
    random_state : int, RandomState instance or None, default=None
        Seed of the starts and of the annealer.
    verbose : int, default=0
        0: silent; 1: one summary line per start (iterations, objective,
        time); 2: also the objective after every iteration.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Binary item features ``H`` (0.0 or 1.0, in the dtype of ``X``).
    n_components_ : int
        Number of features.
    user_weights_ : ndarray of shape (n_samples_fit, n_components)
        ``W`` of the training users (what :meth:`predict_ratings` uses).
    cold_start_weights_ : ndarray of shape (n_components,)
        Weights given to a user without any rating: the mean of the weights
        of the training users who rated something.
    item_n_ratings_ : ndarray of shape (n_features,)
        Number of training ratings of each item (breaks ties in
        :meth:`recommend`).
    ridge_ : float
        The ridge :math:`\lambda` used (``alpha * n_components`` times the
        mean number of ratings per user); :meth:`transform` and
        :meth:`score` use it too.
    rating_range_ : tuple of float
        Smallest and largest observed training rating; :meth:`predict_ratings`
        clips to it.
    reconstruction_err_ : float
        ``sqrt(sum over rated entries (x - WH)^2)`` of the training data.
    n_iter_ : int
        Number of iterations run (of the start that was kept).
    n_features_in_ : int
        Number of items seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the items seen during fit (only when ``X`` has string
        feature names).

    See Also
    --------
    nmfkit.NMF : Non-negative ``H``; also fits rating matrices with missing
        entries.
    nmfkit.datasets.load_movielens : MovieLens 100k ratings and their folds.

    References
    ----------
    .. [1] Terui, Y., Inoue, Y., Hamakawa, Y., Tatsumura, K. and Kudo, K.
       "Collaborative filtering based on nonnegative/binary matrix
       factorization." Frontiers in Big Data 8 (2025); arXiv:2410.10381.
    .. [2] O'Malley, D., Vesselinov, V. V., Alexandrov, B. S. and
       Alexandrov, L. B. "Nonnegative/binary matrix factorization with a
       D-Wave quantum annealer." PLoS ONE 13(12): e0206653 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import NBMF
    >>> rng = np.random.RandomState(0)
    >>> W = rng.uniform(0.5, 2.0, (30, 3))
    >>> H = np.array([[1, 1, 0, 0, 1, 0], [0, 1, 1, 0, 0, 1], [0, 0, 0, 1, 1, 1.]])
    >>> X = W @ H
    >>> X[rng.rand(*X.shape) < 0.2] = np.nan  # unrated entries
    >>> model = NBMF(n_components=3, alpha=1e-6, solver="exact", n_init=3,
    ...              random_state=0)
    >>> W_fit = model.fit_transform(X)
    >>> model.components_.shape
    (3, 6)
    >>> bool(model.reconstruction_err_ < 1e-3)
    True
    >>> model.predict_ratings([0, 1], [2, 3]).shape
    (2,)
    >>> model.recommend(X[:2], n=1).shape  # best unrated item of two users
    (2, 1)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"nmf", "random"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"anneal", "exact"}), HasMethods(["sample_qubo"])],
        "num_reads": [Interval(Integral, 1, None, closed="left")],
        "n_sweeps": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=10,
        *,
        alpha=0.0125,
        init="nmf",
        n_init=1,
        solver="anneal",
        num_reads=4,
        n_sweeps=50,
        max_iter=100,
        tol=1e-4,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.init = init
        self.n_init = n_init
        self.solver = solver
        self.num_reads = num_reads
        self.n_sweeps = n_sweeps
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        """Number of transformed output features."""
        return self.components_.shape[0]

    # ------------------------------------------------------------ validation
    def _validate_X(self, X, mask=None, reset=True):
        """Validate ``X``; return ``(X, observed)`` in the core convention."""
        X = validate_data(
            self,
            X,
            accept_sparse=("csr", "csc"),
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            reset=reset,
        )
        if sp.issparse(X):
            finite = np.isfinite(X.data)
            if np.isnan(X.data).any():
                raise ValueError(
                    "Input X of NBMF is sparse and contains NaN. In a sparse "
                    "rating matrix the stored entries are the ratings and the "
                    "unrated entries are simply not stored (or pass `mask`)."
                )
            if not finite.all():
                raise ValueError("Input X contains infinity or a value too large.")
        with warnings.catch_warnings():  # an all-NaN X (only cold users) is valid
            warnings.simplefilter("ignore", RuntimeWarning)
            check_nonnegative(X, "NBMF (input X)")
        if sp.issparse(X) and mask is None:
            X = sp.csr_matrix(X)
            X.sum_duplicates()
            return X, "stored"
        return resolve_observed(X, mask, True, "NBMF")

    # --------------------------------------------------------------- fitting
    def fit(self, X, y=None, mask=None):
        """Fit the binary item features and the user weights to the ratings X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Ratings, users x items, non-negative. Dense: NaN = unrated.
            Sparse: stored entries are the ratings, others unrated.
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like or sparse matrix of bool, default=None
            Rated entries (``True`` / stored); overrides NaN and the sparse
            pattern.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self.fit_transform(X, mask=mask)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None, mask=None):
        """Fit the model to the ratings X and return the user weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Ratings (see :meth:`fit`).
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like or sparse matrix of bool, default=None
            Rated entries (see :meth:`fit`).

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Weights of the training users.
        """
        X, observed = self._validate_X(X, mask=mask, reset=True)
        k = self.n_components
        exact = isinstance(self.solver, str) and self.solver == "exact"
        if exact and k > _EXACT_MAX_BITS:
            raise ValueError(
                f"solver='exact' enumerates 2**n_components states per item; "
                f"n_components={k} is above its limit of {_EXACT_MAX_BITS}. "
                "Use solver='anneal'."
            )
        per_user = observed_counts(X, observed, axis=1)
        values = _observed_values(X, observed)
        if values.size == 0:
            raise ValueError(
                "X has no rated entry (every entry is NaN, masked out or not "
                "stored); NBMF needs at least one rating."
            )
        active = per_user > 0
        self.ridge_ = float(self.alpha) * k * values.size / int(active.sum())
        self.rating_range_ = (float(values.min()), float(values.max()))
        rng = check_random_state(self.random_state)
        solve = make_qubo_solver(self.solver, num_reads=self.num_reads,
                                 n_sweeps=self.n_sweeps, random_state=rng)
        # 'anneal': the first H step anneals every item; the later ones start
        # from columns already in a good basin and only descend (single and
        # pair flips). 'anneal' and 'exact' skip the items whose column is
        # provably optimal; a sampler gets every item at every step.
        builtin = isinstance(self.solver, str)
        solve_next = (make_qubo_solver("descent") if self.solver == "anneal"
                      else None) if builtin else None
        best = None
        for run in range(self.n_init):
            t0 = time.perf_counter()
            H = binary_start(X, observed, k, init=self.init, l2=self.ridge_,
                             random_state=rng)
            W, H, n_iter, history = fit_nbmf(
                X, None, H, observed=observed, l2=self.ridge_, solve=solve,
                solve_next=solve_next, certify=builtin, max_iter=self.max_iter,
                tol=self.tol, verbose=solver_verbose(self.verbose))
            if self.verbose:
                print(f"NBMF start {run + 1}: {n_iter} iterations in "
                      f"{time.perf_counter() - t0:.3f} s, objective {history[-1]:.6g}")
            if best is None or history[-1] < best[0]:
                best = (history[-1], W, H, n_iter)
        _, W, H, n_iter = best
        H = fill_unobserved_items(X, W, H, observed, float(values.mean()), solve)
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. Increase "
                "it to improve convergence.",
                ConvergenceWarning,
            )
        self.reconstruction_err_ = beta_divergence(X, W, H, 2, observed=observed,
                                                   square_root=True)
        self.cold_start_weights_ = W[active].mean(axis=0)
        W[~active] = self.cold_start_weights_
        self.components_ = H
        self.n_components_ = k
        self.n_iter_ = n_iter
        self.user_weights_ = W.copy()
        self.item_n_ratings_ = np.asarray(observed_counts(X, observed, axis=0))
        return W

    # ------------------------------------------------------------- transform
    def _weights(self, X, observed):
        H = self.components_.astype(X.dtype, copy=False)
        W = nnls(X, H, observed=observed, l2=self.ridge_)
        cold = observed_counts(X, observed, axis=1) == 0
        W[cold] = self.cold_start_weights_
        return W

    def transform(self, X, mask=None):
        """Weights of the users of X from their ratings, ``components_`` fixed.

        Each user's weights solve the same ridge NNLS as in :meth:`fit` on
        that user's rated items only, independently of the other users. A
        user without any rating gets ``cold_start_weights_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Ratings of the users (see :meth:`fit`).
        mask : array-like or sparse matrix of bool, default=None
            Rated entries.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            User weights.
        """
        check_is_fitted(self)
        X, observed = self._validate_X(X, mask=mask, reset=False)
        return self._weights(X, observed)

    def inverse_transform(self, X):
        """Predicted ratings ``W @ components_`` of users with weights ``W``.

        Not clipped (use :meth:`predict_ratings` for clipped ratings of the
        training users).

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_components)
            User weights, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Predicted ratings of every item.
        """
        check_is_fitted(self)
        return check_inverse_input(self, X, accept_sparse=True) @ self.components_

    # ------------------------------------------------------------ predicting
    def predict_ratings(self, users, items):
        """Predicted ratings of (user, item) pairs of the training data.

        Parameters
        ----------
        users : array-like of int
            Row indices of users in the training matrix.
        items : array-like of int
            Column indices of items, broadcast against ``users``.

        Returns
        -------
        ratings : ndarray of float
            ``(W @ components_)[users, items]`` clipped to ``rating_range_``.
        """
        check_is_fitted(self)
        W, H = self.user_weights_, self.components_
        index = []
        for name, value, size in (("users", users, W.shape[0]),
                                  ("items", items, H.shape[1])):
            arr = np.asarray(value)
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(
                    f"{name} must hold integer indices; got dtype {arr.dtype}.")
            arr = arr.astype(np.intp)
            if arr.size and (arr.min() < 0 or arr.max() >= size):
                raise ValueError(
                    f"{name} must be indices in [0, {size}); got values from "
                    f"{arr.min()} to {arr.max()}."
                )
            index.append(arr)
        u, i = np.broadcast_arrays(*index)
        pred = wh_at(W, H, u.ravel(), i.ravel()).reshape(u.shape)
        return np.clip(pred, *self.rating_range_)

    def predict_pairs(self, pairs, *, user_ids=None, item_ids=None, columns=None):
        """Predicted ratings of ``(user, item)`` pairs, by id or by index.

        The vectorised ``algo.predict(uid, iid)`` of scikit-surprise. With the
        maps that :func:`ratings_matrix` returned, the pairs hold original
        ids; without, row and column indices of the training matrix (then
        the same as :meth:`predict_ratings`).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2) or pandas DataFrame
            One (user, item) pair per row. Extra columns (e.g. the true
            rating of a test table) are ignored.
        user_ids, item_ids : array-like, default=None
            Id of each training row / column, as :func:`ratings_matrix`
            returns them. A user id not among ``user_ids`` (a user unseen in
            training) gets ``cold_start_weights_``; an unknown item id raises
            a ``ValueError`` (no features were learnt for it).
        columns : sequence of 2 str, default=None
            DataFrame columns holding the user and item ids (default: the
            first two).

        Returns
        -------
        ratings : ndarray of shape (n_pairs,)
            Predicted ratings clipped to ``rating_range_``.

        Examples
        --------
        >>> import numpy as np
        >>> from nmfkit import NBMF
        >>> from nmfkit.recommend import ratings_matrix
        >>> table = np.array([(u, i, 1 + (u + i) % 5) for u in range(20)
        ...                   for i in range(8) if (u * i) % 3], dtype=float)
        >>> X, users, items = ratings_matrix(table)
        >>> model = NBMF(n_components=3, random_state=0).fit(X)
        >>> model.predict_pairs([(4.0, 2.0), (7.0, 5.0)], user_ids=users,
        ...                     item_ids=items).shape
        (2,)
        """
        check_is_fitted(self)
        u, i = _table_columns(pairs, columns, 2, "pairs")
        W, H = self.user_weights_, self.components_
        if user_ids is None and item_ids is None:
            return self.predict_ratings(np.asarray(u).astype(np.intp)
                                        if _integral(u) else u,
                                        np.asarray(i).astype(np.intp)
                                        if _integral(i) else i)
        if user_ids is None or item_ids is None:
            raise ValueError("pass both user_ids and item_ids (the maps of "
                             "ratings_matrix), or neither (indices).")
        for name, ids, size in (("user_ids", user_ids, W.shape[0]),
                                ("item_ids", item_ids, H.shape[1])):
            if len(ids) != size:
                raise ValueError(
                    f"{name} has {len(ids)} ids but the model was fit on {size} "
                    f"{'users (rows)' if name == 'user_ids' else 'items (columns)'}.")
        rows = _lookup(u, np.asarray(user_ids), "user")
        cols = _lookup(i, np.asarray(item_ids), "item")
        if (cols < 0).any():
            bad = np.asarray(i)[cols < 0]
            raise ValueError(
                f"{int((cols < 0).sum())} pairs have an item id that is not in "
                f"item_ids (e.g. {_py(bad[0])!r}); NBMF learnt no features for it.")
        weights = np.where((rows >= 0)[:, None], W[np.maximum(rows, 0)],
                           self.cold_start_weights_)
        pred = np.einsum("pk,kp->p", weights, H[:, cols])
        return np.clip(pred, *self.rating_range_)

    def recommend(self, X, n=10, mask=None):
        """The ``n`` unrated items with the highest predicted rating, per user.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Ratings of the users to recommend to (see :meth:`fit`); their
            weights come from :meth:`transform`.
        n : int, default=10
            Number of items per user.
        mask : array-like or sparse matrix of bool, default=None
            Rated entries.

        Returns
        -------
        items : ndarray of int of shape (n_samples, n)
            Item indices, best first; ``-1`` pads the rows of users who have
            fewer than ``n`` unrated items. With binary features many items
            share a predicted rating: ties go to the item with more training
            ratings (``item_n_ratings_``), then to the lower index.
        """
        check_is_fitted(self)
        if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}.")
        X, observed = self._validate_X(X, mask=mask, reset=False)
        W = self._weights(X, observed)
        m, n_items = X.shape
        out = np.full((m, n), -1, dtype=np.intp)
        step = max(1, (1 << 20) // max(n_items, 1))
        for start in range(0, m, step):
            stop = min(m, start + step)
            scores = (W[start:stop] @ self.components_).astype(np.float64)
            if isinstance(observed, str):
                block = X[start:stop]
                rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
                scores[rows, block.indices] = -np.inf
            elif observed is None:
                scores[:] = -np.inf
            else:
                scores[observed[start:stop]] = -np.inf
            popularity = np.broadcast_to(-self.item_n_ratings_, scores.shape)
            order = np.lexsort((popularity, -scores), axis=1)[:, :n]
            best = np.take_along_axis(scores, order, axis=1)
            order[~np.isfinite(best)] = -1
            out[start:stop, :order.shape[1]] = order
        return out

    def score(self, X, y=None, mask=None):
        """Held-out-rating score: higher is better; use it to choose the rank.

        A fixed random 20% of the rated entries of ``X`` is hidden, the users'
        weights are fit on the remaining ratings with ``components_`` fixed,
        and the score is minus the mean squared error of the hidden ratings
        (bi-cross-validation, as :meth:`nmfkit.NMF.score`). The same entries
        are hidden for every model, so
        ``GridSearchCV(NBMF(), {"n_components": ...})`` compares ranks fairly.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Ratings (see :meth:`fit`).
        y : Ignored
            Not used, present for API consistency by convention.
        mask : array-like or sparse matrix of bool, default=None
            Rated entries.

        Returns
        -------
        score : float
            Minus the mean squared error on the hidden ratings.
        """
        check_is_fitted(self)
        X, observed = self._validate_X(X, mask=mask, reset=False)
        H = self.components_.astype(X.dtype, copy=False)
        return heldout_score(X, H, beta=2, observed=observed, fraction=0.2,
                             random_state=0, l2=self.ridge_)
