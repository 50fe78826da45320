"""Semi-NMF of neural-network activations: interpretable features of a layer.

:class:`SemiNMF` factorises a mixed-sign matrix (e.g. tokens x MLP neurons)
as ``X ~ G F`` with non-negative activations ``G`` (``transform``) and signed
features ``F`` (``components_``); :func:`collect_activations` gathers a
layer's activations from a PyTorch model (an optional dependency).
"""

import time
import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._conventions import check_inverse_input, solver_verbose
from ._core.semi import (
    fit_semi,
    heldout_score_semi,
    init_semi,
    n_keep,
    nnls_semi,
    semi_objective,
)

__all__ = ["SemiNMF", "collect_activations"]


class SemiNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Semi-non-negative matrix factorization for data of any sign.

    Find a non-negative ``G`` (``transform(X)``, ``n_samples x n_components``)
    and a ``F`` of any sign (``components_``, ``n_components x n_features``)
    whose product approximates ``X``, by minimising

    .. math::

        \tfrac12 \|X - G F\|_F^2 + \tfrac12 \lambda \|F\|_F^2
        + \alpha_F\, n_{\text{samples}} \|F\|_1
        \quad\text{subject to } G \ge 0

    and, optionally, to at most a fraction ``wta_fraction`` of non-zero
    entries in each row of ``F`` (winner-take-all). On neural-network
    activations (rows = tokens or inputs, columns = neurons), each row of
    ``components_`` is a *feature*, a signed combination of co-activated
    neurons, and ``G[i, t]`` says how strongly input ``i`` expresses feature
    ``t``; :meth:`top_activating` lists the inputs that express a feature
    most, which is how features are read [3]_.

    The solver alternates exact block updates, so the objective never
    increases: ``F`` by least squares (closed form with the small ridge
    :math:`\lambda`; exact coordinate descent over its rows when it is
    sparse), ``G`` by hierarchical ALS sweeps (``solver="cd"``, the default,
    several times faster to a given objective) or by the multiplicative rule of
    Ding, Li & Jordan [1]_ (``solver="mu"``), each repeating its cheap inner
    steps while they pay [2]_. Finally ``components_`` is scaled to rows of
    unit Euclidean norm (``G`` absorbs the scale).

    Parameters
    ----------
    n_components : int or None, default=None
        Number of features ``k``. ``None`` keeps ``n_features``.
    init : {'kmeans', 'svd', 'random'}, default='kmeans'
        Initial ``G``. ``'kmeans'``: k-means cluster indicators of the rows
        plus 0.2 (Ding et al.); above ``max(2000, 100 k)`` rows the centres
        are fitted on a random subset of that many rows, then every row goes
        to its nearest centre. ``'svd'``: positive and negative parts of the
        top ``ceil(k/2)`` left singular vectors (times singular values), plus
        a small offset so that no entry starts at zero. ``'random'``: uniform
        on [0, 1).
    solver : {'cd', 'mu'}, default='cd'
        Update of ``G``: ``'cd'`` hierarchical ALS (exact coordinate descent),
        ``'mu'`` Ding-Li-Jordan multiplicative updates.
    wta_fraction : float in (0, 1] or None, default=None
        Winner-take-all sparsity of the features: each row of
        ``components_`` keeps exactly ``max(1, round(wta_fraction *
        n_features))`` entries, those of largest magnitude (e.g. 0.01 as in
        [3]_). ``None`` keeps all.
    alpha_F : float, default=0.0
        L1 penalty on ``components_`` (scaled by ``n_samples``, as
        scikit-learn scales ``alpha_H``).
    ridge : float, default=1e-6
        Ridge of the least-squares ``F`` step, relative to the mean squared
        column norm of the initial ``G``. Keeps the step well posed when
        features are collinear or unused.
    tol : float, default=1e-4
        Stop once an iteration lowers the objective by at most ``tol`` times
        the objective after the first iteration.
    max_iter : int, default=200
        Maximum number of iterations.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.
    verbose : int, default=0
        0: silent; 1: one summary line per fit (iterations, error, time);
        2: also the objective after every iteration.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The features ``F``, rows of unit Euclidean norm (a row is zero if its
        feature is unused).
    n_components_ : int
        Number of features.
    reconstruction_err_ : float
        Frobenius norm of ``X - G F`` on the training data.
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when ``X`` has string
        feature names).

    See Also
    --------
    collect_activations : A layer's activations from a PyTorch model.
    nmfkit.NMF : When ``X`` is non-negative too.

    References
    ----------
    .. [1] Ding, C., Li, T. and Jordan, M. I. "Convex and semi-nonnegative
       matrix factorizations." IEEE Transactions on Pattern Analysis and
       Machine Intelligence 32.1 (2010): 45-55.
    .. [2] Gillis, N. and Glineur, F. "Accelerated multiplicative updates and
       hierarchical ALS algorithms for nonnegative matrix factorization."
       Neural Computation 24.4 (2012): 1085-1105.
    .. [3] "Decomposing MLP activations into interpretable features via
       semi-nonnegative matrix factorization." arXiv:2506.10920 (2025).

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import SemiNMF
    >>> rng = np.random.default_rng(0)
    >>> G = rng.exponential(size=(100, 3))
    >>> F = rng.standard_normal((3, 8))          # features of any sign
    >>> X = G @ F                                 # mixed-sign data
    >>> model = SemiNMF(n_components=3, random_state=0)
    >>> activations = model.fit_transform(X)
    >>> activations.shape, bool(activations.min() >= 0)
    ((100, 3), True)
    >>> bool(model.reconstruction_err_ < 1e-2 * np.linalg.norm(X))
    True
    >>> rows, values = model.top_activating(activations, n=2)
    >>> rows.shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"kmeans", "svd", "random"})],
        "solver": [StrOptions({"cd", "mu"})],
        "wta_fraction": [Interval(Real, 0, 1, closed="right"), None],
        "alpha_F": [Interval(Real, 0, None, closed="left")],
        "ridge": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        init="kmeans",
        solver="cd",
        wta_fraction=None,
        alpha_F=0.0,
        ridge=1e-6,
        tol=1e-4,
        max_iter=200,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.wta_fraction = wta_fraction
        self.alpha_F = alpha_F
        self.ridge = ridge
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = False  # mixed sign is the normal case
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        """Number of transformed output features."""
        return self.components_.shape[0]

    def _validate_X(self, X, reset):
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)

    def fit(self, X, y=None):
        """Learn the features of the data X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, any sign, finite.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self.fit_transform(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Learn the features of X and return its non-negative activations.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, any sign, finite.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        G : ndarray of shape (n_samples, n_components)
            Non-negative activations of the features (the same as
            ``transform(X)`` up to the solver's tolerance).
        """
        X = self._validate_X(X, reset=True)
        n_samples, n_features = X.shape
        k = n_features if self.n_components is None else self.n_components
        rng = check_random_state(self.random_state)
        t0 = time.perf_counter()
        G = init_semi(X, k, self.init, random_state=rng)
        if self.init == "svd":
            # no entry starts at an exact zero (HALS stalls in the sign-split
            # corner, the multiplicative rule cannot leave zeros)
            G += 0.2 * float(G.mean()) if G.any() else 0.0
        keep = None if self.wta_fraction is None else n_keep(self.wta_fraction,
                                                              n_features)
        l1 = self.alpha_F * n_samples
        G, F, n_iter, _, _ = fit_semi(
            X, G, update="hals" if self.solver == "cd" else "mu", tol=self.tol,
            max_iter=self.max_iter, ridge=self.ridge, l1=l1, keep=keep,
            verbose=solver_verbose(self.verbose))
        # unit-norm features; an unused feature gets a zero column of G
        norms = np.sqrt(np.einsum("ij,ij->i", F, F, dtype=np.float64))
        used = norms > 0
        F[used] /= norms[used, None].astype(F.dtype)
        G[:, used] *= norms[used].astype(G.dtype)
        G[:, ~used] = 0
        # the exact NNLS answer for the final features, computed as transform
        # computes it (a warm start from the fitted G can end elsewhere when
        # the features are nearly collinear)
        G = nnls_semi(X, F)
        if self.verbose:
            print(f"SemiNMF: {n_iter} iterations in {time.perf_counter() - t0:.3f} s, "
                  f"error {np.sqrt(2.0 * semi_objective(X, G, F)):.6g}")
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. Increase "
                "it to improve convergence.",
                ConvergenceWarning,
            )
        self.reconstruction_err_ = float(np.sqrt(2.0 * semi_objective(X, G, F)))
        self.components_ = F
        self.n_components_ = k
        self.n_iter_ = n_iter
        return G

    def transform(self, X):
        """Non-negative activations of the fitted features in the data X.

        Solves, for each row ``x`` of ``X``, the non-negative least-squares
        problem ``min_{g >= 0} ||x - g F||`` with ``F = components_`` fixed,
        exactly (a row's answer does not depend on the other rows).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data, any sign, finite.

        Returns
        -------
        G : ndarray of shape (n_samples, n_components)
            Non-negative activations.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return nnls_semi(X, self.components_.astype(X.dtype, copy=False))

    def inverse_transform(self, X):
        """Map activations back to the data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Activations ``G``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            ``G @ components_``.
        """
        check_is_fitted(self)
        return check_inverse_input(self, X) @ self.components_

    def score(self, X, y=None):
        """Held-out-entry score: higher is better; use it to choose the rank.

        A fixed random 20% of the entries of ``X`` is hidden; the activations
        of the rows are fit on the remaining entries (non-negative least
        squares with ``components_`` fixed) and the score is minus the mean
        squared error of their prediction of the hidden entries
        (bi-cross-validation, as :meth:`nmfkit.NMF.score`). The same entries
        are hidden for every model, so scores of different ``n_components``
        are comparable in :class:`~sklearn.model_selection.GridSearchCV`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Minus the mean held-out squared error.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        F = self.components_.astype(X.dtype, copy=False)
        return heldout_score_semi(X, F, fraction=0.2, random_state=0)

    def top_activating(self, X_or_G, n=10, *, kind="auto"):
        """For each feature, the samples that activate it most.

        Parameters
        ----------
        X_or_G : array-like of shape (n_samples, n_features) or \
                (n_samples, n_components)
            Data (transformed first) or activations ``G``.
        n : int, default=10
            Number of samples per feature (at most ``n_samples``).
        kind : {'auto', 'X', 'G'}, default='auto'
            What ``X_or_G`` is; ``'auto'`` decides by its number of columns
            (and raises when ``n_features == n_components``).

        Returns
        -------
        indices : ndarray of int of shape (n_components, n)
            Row ``t``: the samples of largest activation of feature ``t``,
            largest first.
        values : ndarray of shape (n_components, n)
            Their activations.
        """
        check_is_fitted(self)
        if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}.")
        if kind not in ("auto", "X", "G"):
            raise ValueError(f"kind must be 'auto', 'X' or 'G'; got {kind!r}.")
        k, d = self.components_.shape
        shape = np.shape(X_or_G)
        if len(shape) != 2:
            raise ValueError(f"X_or_G must be 2-D; got shape {shape}.")
        if kind == "auto":
            if shape[1] == d and shape[1] == k:
                raise ValueError(
                    "X_or_G has n_features == n_components columns: pass "
                    "kind='X' or kind='G'.")
            if shape[1] not in (d, k):
                raise ValueError(
                    f"X_or_G has {shape[1]} columns; expected n_features_in_="
                    f"{d} (data) or n_components_={k} (activations).")
            kind = "X" if shape[1] == d else "G"
        if kind == "X":
            G = self.transform(X_or_G)
        else:
            G = np.asarray(X_or_G, dtype=np.float64)
            if G.shape[1] != k:
                raise ValueError(
                    f"G has {G.shape[1]} columns; expected n_components_={k}.")
            if not np.isfinite(G).all():
                raise ValueError("G contains NaN or infinity.")
        n = min(int(n), G.shape[0])
        order = np.argsort(-G, axis=0, kind="stable")[:n].T
        values = np.take_along_axis(G.T, order, axis=1)
        return order, values


def collect_activations(model, module, batches, *, mask_key="attention_mask",
                        dtype=np.float32):
    """Gather the outputs of one module of a PyTorch model, batch by batch.

    A forward hook on ``module`` records its output while ``model`` runs on
    each batch (under ``torch.no_grad()``); the outputs are moved to the CPU,
    flattened to ``(rows, units)`` and stacked into one numpy array. The hook
    is removed afterwards, also when a forward pass fails. Put the model in
    evaluation mode (``model.eval()``) first, or dropout changes the
    activations.

    Parameters
    ----------
    model : torch.nn.Module
        The model to run.
    module : torch.nn.Module
        The submodule whose output is recorded (e.g. the MLP activation of one
        transformer layer). If it runs several times per forward pass, every
        call is recorded.
    batches : iterable
        Inputs of ``model``: a mapping is passed as keyword arguments
        (``model(**batch)``, e.g. a tokenizer's output), a tuple or list as
        positional arguments, anything else as the only argument.
    mask_key : str or None, default='attention_mask'
        When a batch is a mapping holding this key and the recorded output has
        shape ``(batch, sequence, ...)`` matching the mask, only positions
        where the mask is non-zero (real tokens, not padding) are kept.
    dtype : numpy dtype, default=np.float32
        Dtype of the result.

    Returns
    -------
    activations : ndarray of shape (n_rows, n_units)
        One row per recorded position (batch by batch, sample by sample,
        position by position), one column per unit of the output's last axis.

    Raises
    ------
    ImportError
        If PyTorch is not installed (``pip install "nmfkit[torch]"``).
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "collect_activations needs PyTorch, which is not installed. Install "
            "the optional extra: pip install \"nmfkit[torch]\"."
        ) from exc
    for name, obj in (("model", model), ("module", module)):
        if not isinstance(obj, torch.nn.Module):
            raise TypeError(
                f"{name} must be a torch.nn.Module; got {type(obj).__name__}.")
    recorded = []

    def hook(mod, inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        if not torch.is_tensor(out):
            raise TypeError(
                f"the output of {type(mod).__name__} is a {type(out).__name__}, "
                "not a tensor; hook a module that returns a tensor.")
        recorded.append(out.detach())

    chunks = []
    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            for batch in batches:
                recorded.clear()
                if isinstance(batch, Mapping):
                    model(**batch)
                elif isinstance(batch, (tuple, list)):
                    model(*batch)
                else:
                    model(batch)
                if not recorded:
                    raise RuntimeError(
                        f"{type(module).__name__} did not run during the forward "
                        "pass: is it a submodule of model?")
                mask = None
                if mask_key is not None and isinstance(batch, Mapping):
                    mask = batch.get(mask_key)
                for out in recorded:
                    if (mask is not None and out.dim() >= 3
                            and tuple(mask.shape) == tuple(out.shape[:2])):
                        out = out[mask.to(out.device) != 0]
                    out = out.reshape(-1, out.shape[-1]) if out.dim() else out.reshape(1, 1)
                    out = out.to(torch.float32).cpu().numpy()
                    chunks.append(out.astype(dtype, copy=False))
    finally:
        handle.remove()
    if not chunks:
        raise ValueError("batches is empty: no activations were recorded.")
    return np.concatenate(chunks, axis=0)
