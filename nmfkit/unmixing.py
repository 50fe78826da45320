r"""Hyperspectral unmixing: SS-NMF and the standard tools around it.

A hyperspectral image of ``rows x cols`` pixels and ``n_bands`` bands is the
matrix ``X`` (pixels x bands, pixels in row-major order:
``cube.reshape(-1, n_bands)``). The linear mixing model writes each pixel as
a convex combination of ``k`` endmember spectra: ``X ~ A M`` with
abundances ``A >= 0`` (pixels x k) summing to one per pixel and endmembers
``M >= 0`` (k x bands).

- :class:`SSNMF`: structured sparse NMF (graph Laplacian + L1 on the
  abundances, Zhu et al. 2014), a scikit-learn transformer;
- :func:`vca`: vertex component analysis (pure-pixel endmember extraction);
- :func:`fcls`: fully constrained least-squares abundances;
- :func:`spectral_angle_distance`, :func:`abundance_rmse`: the standard
  metrics, after matching estimated to reference endmembers;
- :func:`plot_abundance_maps`, :func:`plot_endmembers` (matplotlib).
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
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from ._conventions import check_inverse_input, solver_verbose
from ._core.align import cosine_similarity_matrix, match_components
from ._core.graph import fit_graph_nmf, knn_affinity, spatial_affinity
from ._core.heldout import _split_dense, heldout_score
from ._core.losses import wh_at
from ._core.nnls import nnls
from ._core.simplex import augment, simplex_lstsq

__all__ = [
    "SSNMF",
    "vca",
    "fcls",
    "spectral_angle_distance",
    "abundance_rmse",
    "plot_abundance_maps",
    "plot_endmembers",
]

# Default weights, relative to the data (see SSNMF's docstring). They were
# set on generated scenes (nmfkit.datasets.make_hyperspectral_scene), never
# on the Samson benchmark scene.
_LAM_RATIO = 0.1
_MU_RATIO = 0.01
_DISPERSION_RATIO = 0.03
_SUM_TO_ONE_RATIO = 100.0


# --------------------------------------------------------------------------
# endmember extraction and abundances
# --------------------------------------------------------------------------
def vca(X, n_endmembers, *, random_state=None):
    r"""Vertex component analysis: ``n_endmembers`` pure pixels of ``X``.

    The pixels are projected onto a ``k``-dimensional signal subspace (by SVD
    when the estimated SNR is high, with a projective scaling onto a
    hyperplane; by PCA of the centred data plus a constant coordinate when it
    is low); then, ``k`` times, the data are projected on a random direction
    orthogonal to the span of the endmembers found so far, and the pixel of
    largest absolute projection is the next endmember (Nascimento & Bioucas
    Dias 2005). When pure pixels exist, they are the vertices of the data
    simplex and VCA finds them.

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
        Non-negative pixels.
    n_endmembers : int
        Number of endmembers ``k`` (at most ``n_bands``).
    random_state : int, RandomState instance or None, default=None
        Random directions.

    Returns
    -------
    endmembers : ndarray of shape (n_endmembers, n_bands)
        The selected pixels.
    indices : ndarray of int of shape (n_endmembers,)
        Their rows in ``X``.

    References
    ----------
    J. M. P. Nascimento and J. M. Bioucas Dias, "Vertex component analysis: a
    fast algorithm to unmix hyperspectral data", IEEE TGRS 43(4), 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.unmixing import vca
    >>> M = np.array([[1.0, 0.0, 0.2], [0.0, 1.0, 0.3], [0.2, 0.2, 1.0]])
    >>> A = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [.3, .3, .4], [.5, .2, .3]])
    >>> E, idx = vca(A @ M, 3, random_state=0)
    >>> sorted(idx.tolist())
    [0, 1, 2]
    """
    X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    m, L = X.shape
    k = int(n_endmembers)
    if k < 1 or k > L:
        raise ValueError(f"n_endmembers must be in [1, n_bands={L}]; got {k}.")
    rng = check_random_state(random_state)
    Y = X.T.astype(np.float64)  # bands x pixels
    U = np.linalg.svd(np.dot(Y, Y.T) / m)[0][:, :k]
    Xp = np.dot(U.T, Y)
    p_y = float(np.einsum("ij,ij->", Y, Y)) / m
    p_x = float(np.einsum("ij,ij->", Xp, Xp)) / m
    with np.errstate(all="ignore"):
        snr = 10 * np.log10(max(p_x - k / L * p_y, 1e-300) / max(p_y - p_x, 1e-300))
    if snr > 15 + 10 * np.log10(k):
        u = Xp.mean(axis=1)
        denom = np.dot(u, Xp)
        tiny = np.finfo(np.float64).tiny
        denom = np.where(np.abs(denom) > tiny, denom, tiny)
        Z = Xp / denom
    else:
        mean = Y.mean(axis=1, keepdims=True)
        Yc = Y - mean
        Uc = np.linalg.svd(np.dot(Yc, Yc.T) / m)[0][:, : k - 1]
        Xc = np.dot(Uc.T, Yc)
        c = float(np.sqrt(np.einsum("ij,ij->j", Xc, Xc).max(initial=0.0)))
        Z = np.vstack([Xc, np.full((1, m), c if c > 0 else 1.0)])
    E = np.zeros((k, k))
    E[-1, 0] = 1.0
    indices = np.empty(k, dtype=np.intp)
    for i in range(k):
        w = rng.standard_normal(k)
        f = w - np.dot(E, np.dot(np.linalg.pinv(E), w))
        norm = np.linalg.norm(f)
        f = f / norm if norm > 0 else w / np.linalg.norm(w)
        v = np.abs(np.dot(f, Z))
        j = int(np.argmax(v))
        indices[i] = j
        E[:, i] = Z[:, j]
    return X[indices].copy(), indices


def fcls(X, endmembers):
    r"""Fully constrained least-squares abundances for given endmembers.

    For every pixel ``x``, :math:`\min_a \tfrac12\|x - a M\|^2` subject to
    :math:`a \ge 0` and :math:`\sum_j a_j = 1`, solved exactly (to rounding):
    a non-negative least-squares support search with a weighted sum-to-one
    row, then an active-set solve of the equality-constrained problem.

    Parameters
    ----------
    X : array-like of shape (n_pixels, n_bands)
    endmembers : array-like of shape (k, n_bands)

    Returns
    -------
    abundances : ndarray of shape (n_pixels, k)
        Non-negative, each row summing to one.

    References
    ----------
    D. C. Heinz and C.-I Chang, "Fully constrained least squares linear
    spectral mixture analysis method for material quantification in
    hyperspectral imagery", IEEE TGRS 39(3), 2001.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.unmixing import fcls
    >>> M = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> fcls(np.array([[0.3, 0.7], [2.0, 0.0]]), M)
    array([[0.3, 0.7],
           [1. , 0. ]])
    """
    X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    M = check_array(endmembers, dtype=X.dtype, input_name="endmembers")
    if M.shape[1] != X.shape[1]:
        raise ValueError(f"endmembers have {M.shape[1]} bands but X has "
                         f"{X.shape[1]}; they must match.")
    return simplex_lstsq(X, M)


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------
def _match(reference, estimated, name):
    reference = check_array(reference, dtype=np.float64, input_name=f"reference {name}")
    estimated = check_array(estimated, dtype=np.float64, input_name=f"estimated {name}")
    if reference.shape[1] != estimated.shape[1]:
        raise ValueError(f"reference and estimated {name} have {reference.shape[1]} "
                         f"and {estimated.shape[1]} columns; they must match.")
    if estimated.shape[0] < reference.shape[0]:
        raise ValueError(f"{estimated.shape[0]} estimated {name} cannot be matched "
                         f"to {reference.shape[0]} reference ones.")
    return reference, estimated, match_components(reference, estimated)


def spectral_angle_distance(reference, estimated):
    """Spectral angles (degrees) between reference and matched estimated endmembers.

    The estimated endmembers are matched one to one to the reference ones by
    the Hungarian algorithm on their cosine similarities (extra estimated
    endmembers are left out). The angle does not depend on the scale of a
    spectrum, so references on another scale (e.g. normalised to a maximum
    of 1) are compared fairly.

    Parameters
    ----------
    reference : array-like of shape (k, n_bands)
    estimated : array-like of shape (k_est, n_bands), k_est >= k

    Returns
    -------
    angles : ndarray of shape (k,)
        Angle of each reference endmember to its match, in degrees.
    mean : float
        Their mean.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.unmixing import spectral_angle_distance
    >>> ref = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> angles, mean = spectral_angle_distance(ref, [[0.0, 2.0], [1.0, 1.0]])
    >>> angles.round(1).tolist(), round(mean, 1)
    ([45.0, 0.0], 22.5)
    """
    reference, estimated, perm = _match(reference, estimated, "endmembers")
    cos = np.diag(cosine_similarity_matrix(reference, estimated[perm]))
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return angles, float(angles.mean())


def abundance_rmse(reference, estimated, *, reference_endmembers=None,
                   endmembers=None):
    """Root mean squared error of abundances after matching the endmembers.

    The columns of ``estimated`` are put in the order of ``reference`` by
    matching ``endmembers`` to ``reference_endmembers`` (Hungarian algorithm
    on spectral angles, as :func:`spectral_angle_distance`) when both are
    given, else by matching the abundance maps themselves (cosine
    similarity).

    Parameters
    ----------
    reference : array-like of shape (n_pixels, k)
    estimated : array-like of shape (n_pixels, k_est), k_est >= k
    reference_endmembers, endmembers : array-like of shape (k, n_bands) and \
            (k_est, n_bands), default=None

    Returns
    -------
    per_endmember : ndarray of shape (k,)
        ``sqrt(mean over pixels of (a_ij - a_hat_ij)^2)`` for each endmember.
    overall : float
        ``sqrt(mean over pixels and endmembers)``.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.unmixing import abundance_rmse
    >>> ref = np.array([[1.0, 0.0], [0.5, 0.5]])
    >>> est = np.array([[0.0, 0.9], [0.5, 0.5]])  # columns swapped, one error
    >>> per, overall = abundance_rmse(ref, est)
    >>> per.round(4).tolist(), round(overall, 4)
    ([0.0707, 0.0], 0.05)
    """
    ref = check_array(reference, dtype=np.float64, input_name="reference")
    est = check_array(estimated, dtype=np.float64, input_name="estimated")
    if ref.shape[0] != est.shape[0]:
        raise ValueError(f"reference has {ref.shape[0]} pixels but estimated has "
                         f"{est.shape[0]}; they must match.")
    if (reference_endmembers is None) != (endmembers is None):
        raise ValueError("Pass both reference_endmembers and endmembers, or neither.")
    if endmembers is not None:
        _, _, perm = _match(reference_endmembers, endmembers, "endmembers")
    else:
        _, _, perm = _match(ref.T, est.T, "abundance maps")
    diff = ref - est[:, perm]
    per = np.sqrt(np.mean(diff**2, axis=0))
    return per, float(np.sqrt(np.mean(diff**2)))


# --------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------
def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install 'nmfkit[plot]'") from exc
    return plt


def plot_abundance_maps(abundances, image_shape, *, reference=None, names=None,
                        axes=None):
    """Show the abundance map of each endmember (and the reference maps below).

    Parameters
    ----------
    abundances : array-like of shape (rows * cols, k)
        Row-major pixels.
    image_shape : tuple (rows, cols)
    reference : array-like of shape (rows * cols, k), default=None
        Reference maps, drawn in a second row; the estimated maps are put in
        the reference order (matched by cosine similarity).
    names : list of str, default=None
        Titles of the maps.
    axes : array of matplotlib Axes, default=None
        ``(1 or 2, k)`` axes to draw in; new ones when None.

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = _pyplot()
    A = np.asarray(abundances, dtype=np.float64)
    rows, cols = image_shape
    k = A.shape[1]
    if reference is not None:
        R = np.asarray(reference, dtype=np.float64)
        A = A[:, match_components(R.T, A.T)]
    n_rows = 1 if reference is None else 2
    if axes is None:
        fig, axes = plt.subplots(n_rows, k, figsize=(2.6 * k, 2.6 * n_rows),
                                 squeeze=False)
    else:
        axes = np.asarray(axes).reshape(n_rows, k)
        fig = axes[0, 0].figure
    for j in range(k):
        title = names[j] if names is not None else f"endmember {j}"
        axes[0, j].imshow(A[:, j].reshape(rows, cols), vmin=0, vmax=1, cmap="viridis")
        axes[0, j].set_title(title)
        if reference is not None:
            axes[1, j].imshow(R[:, j].reshape(rows, cols), vmin=0, vmax=1,
                              cmap="viridis")
            axes[1, j].set_title(f"{title} (reference)")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_endmembers(endmembers, *, reference=None, wavelengths=None, names=None,
                    ax=None):
    """Plot endmember spectra (each scaled to a maximum of 1) against references.

    Parameters
    ----------
    endmembers : array-like of shape (k, n_bands)
    reference : array-like of shape (k, n_bands), default=None
        Drawn dashed; the estimated spectra are matched to them and the
        spectral angle is shown in the legend.
    wavelengths : array-like of shape (n_bands,), default=None
        x axis (band index when None).
    names : list of str, default=None
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    plt = _pyplot()
    E = np.asarray(endmembers, dtype=np.float64)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(E.shape[1]) if wavelengths is None else np.asarray(wavelengths)
    angles = None
    if reference is not None:
        R = np.asarray(reference, dtype=np.float64)
        E = E[match_components(R, E)]
        angles = spectral_angle_distance(R, E)[0]

    def unit_max(v):
        top = np.max(v)
        return v / top if top > 0 else v

    for j in range(E.shape[0]):
        name = names[j] if names is not None else f"endmember {j}"
        label = name if angles is None else f"{name} (SAD {angles[j]:.2f} deg)"
        line, = ax.plot(x, unit_max(E[j]), label=label)
        if reference is not None:
            ax.plot(x, unit_max(R[j]), "--", color=line.get_color())
    ax.set_xlabel("band" if wavelengths is None else "wavelength")
    ax.set_ylabel("reflectance (scaled to max 1)")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------
class SSNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Structured sparse NMF for hyperspectral unmixing (SS-NMF).

    Factorises the pixels ``X`` (n_pixels x n_bands, row-major pixel order)
    as ``X ~ A M`` with abundances ``A >= 0`` (``fit_transform``), summing to
    one per pixel, and endmember spectra ``M >= 0`` (``components_``), by
    minimising

    .. math::

        \tfrac12 \|X - AM\|_F^2 + \tfrac{\delta^2}{2}\|\mathbf 1 - A\mathbf 1\|^2
        + \tfrac{\lambda}{2} \operatorname{tr}(A^T L A) + \mu \|A\|_1
        + \tfrac{\tau}{2} \|M - \mathbf 1 \bar x^T\|_F^2 .

    * :math:`L = D - S` is the Laplacian of a sparse pixel affinity ``S``
      (Zhu et al. 2014): with ``image_shape``, each pixel is linked to its
      spatial neighbours within ``window`` pixels, weighted by a heat kernel
      ``exp(-|x_p - x_q|^2 / sigma^2)`` of their spectral distance
      (``sigma^2`` = median over the links); without, to its ``n_neighbors``
      nearest spectral neighbours; or ``affinity`` is a precomputed matrix.
      Similar neighbouring pixels get similar abundances. The graph is built
      sparse, in ``O(n_pixels x neighbours)`` memory.
    * :math:`\mu\|A\|_1`: the lasso of SS-NMF. Note that on the exact
      simplex the L1 norm of a row is 1; with the soft sum-to-one term it
      trades the sum of the row against the fit.
    * :math:`\delta`: the sum-to-one constraint, enforced softly by
      augmenting ``X`` and ``M`` with a column of ``delta`` (the rows then
      sum to one within about ``|m|^2 / delta^2``, ~1e-3 by default;
      ``sum_to_one=False`` drops it).
    * :math:`\tau`: the minimum-dispersion term (Huck et al. 2010) pulls the
      endmembers toward the mean pixel :math:`\bar x`; without it the
      sum-to-one least-squares endmembers drift outside the cluster of pure
      pixels. ``dispersion=0`` gives the objective of Zhu et al. alone.

    **Default weights** (``"auto"``) scale with the data, never tuned per
    scene. With ``e`` the mean squared norm of a (normalised) pixel and
    ``d`` the mean degree of the graph: ``lam = 0.1 e / d`` (the graph term
    of a pixel is a tenth of the curvature of its data term),
    ``mu = 0.01 e``, ``tau = 0.03 n_pixels / k`` (3 % of the weight of the
    pixels of an average endmember), ``delta^2 = 100 e``.

    With ``normalize=True`` (default) every pixel is first scaled to unit
    Euclidean norm, so that dark pixels (water, shadow) weigh as much as bright
    ones and brightness changes (topography) do not count as mixing; the
    abundances then describe the shapes of the spectra, and
    ``components_`` / ``inverse_transform`` are on the unit-norm scale.

    Updates: the endmembers by the shared HALS sweep of the core; the
    abundances by an exact per-pixel ``k x k`` non-negative least-squares
    step on a separable majoriser of the Laplacian term (``L <= 2D``; one
    sparse product ``S @ A`` per step). Neither step increases the
    objective; ``objective_`` holds it after every iteration.
    Initialisation: :func:`vca` endmembers (or random pixels) and
    their sum-to-one non-negative least-squares abundances.

    Parameters
    ----------
    n_components : int, default=3
        Number of endmembers ``k`` (at most ``n_bands``).
    image_shape : tuple (rows, cols), default=None
        Shape of the image whose pixels are the rows of ``X`` (row-major). Its
        product must be ``n_pixels``. Needed by the spatial graph. Not needed
        when ``X`` is given as a ``(rows, cols, n_bands)`` cube: the shape is
        taken from the cube (and must match ``image_shape`` if both are
        given).
    affinity : {"auto", "spatial", "knn"} or sparse matrix, default="auto"
        The pixel graph: ``"spatial"`` (needs ``image_shape``), ``"knn"``,
        ``"auto"`` (spatial when ``image_shape`` is given, else knn), or a
        precomputed symmetric non-negative ``(n_pixels, n_pixels)`` affinity
        (an asymmetric one is symmetrised with a warning).
    window : int, default=1
        Spatial neighbours within ``window`` rows and columns (1: the 8
        neighbours); smaller than the larger side of the image.
    n_neighbors : int, default=10
        Neighbours of the knn graph.
    lam : "auto" or float >= 0, default="auto"
        Weight of the graph term (see above).
    mu : "auto" or float >= 0, default="auto"
        Weight of the L1 term.
    dispersion : "auto" or float >= 0, default="auto"
        Weight ``tau`` of the minimum-dispersion term; 0 disables it.
    sum_to_one : bool, default=True
        Enforce the (soft) sum-to-one constraint.
    normalize : bool, default=True
        Scale every pixel to unit norm first.
    init : {"vca", "random"}, default="vca"
        Initial endmembers: :func:`vca`, or ``k`` random pixels.
    negative : {"clip", "raise"}, default="clip"
        Negative reflectances (common after atmospheric correction):
        ``"clip"`` sets them to zero with a ``UserWarning``; ``"raise"``
        raises a ``ValueError``.
    tol : float, default=1e-4
        Stop when an iteration lowers the objective by at most ``tol`` times
        the decrease of the first iteration.
    max_iter : int, default=500
        Maximum number of iterations.
    random_state : int, RandomState instance or None, default=None
        For VCA's random directions and the random initialisation.
    verbose : int, default=0
        0: silent; 1: one summary line per fit (iterations, objective,
        time); 2: also the objective after every iteration.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_bands)
        Endmember spectra ``M``.
    n_components_ : int
    image_shape_ : tuple (rows, cols) or None
        The image shape used: ``image_shape``, or the cube's.
    affinity_ : scipy.sparse.csr_matrix of shape (n_pixels, n_pixels)
        The pixel affinity used (empty when ``lam_ = 0``).
    lam_, mu_, dispersion_, sum_to_one_weight_ : float
        The weights used (``sum_to_one_weight_`` is ``delta``; 0 without the
        constraint).
    objective_ : list of float
        The objective at the start and after every iteration (non-increasing).
    reconstruction_err_ : float
        ``|X - A M|_F`` (of the normalised pixels with ``normalize``).
    n_iter_ : int
    init_indices_ : ndarray of int or None
        Pixels chosen as initial endmembers.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    vca, fcls, spectral_angle_distance, abundance_rmse

    References
    ----------
    .. [1] F. Zhu, Y. Wang, S. Xiang, B. Fan and C. Pan, "Structured sparse
       method for hyperspectral unmixing", ISPRS Journal of Photogrammetry
       and Remote Sensing 88, 2014.
    .. [2] A. Huck, M. Guillaume and J. Blanc-Talon, "Minimum dispersion
       constrained nonnegative matrix factorization to unmix hyperspectral
       data", IEEE TGRS 48(6), 2010.
    .. [3] J. M. P. Nascimento and J. M. Bioucas Dias, "Vertex component
       analysis", IEEE TGRS 43(4), 2005.

    Examples
    --------
    >>> from nmfkit import SSNMF
    >>> from nmfkit.datasets import make_hyperspectral_scene
    >>> from nmfkit.unmixing import spectral_angle_distance
    >>> X, A, M = make_hyperspectral_scene(30, 30, n_bands=60, n_endmembers=3,
    ...                                    random_state=0)
    >>> model = SSNMF(n_components=3, image_shape=(30, 30), random_state=0)
    >>> abundances = model.fit_transform(X)
    >>> abundances.shape
    (900, 3)
    >>> bool(spectral_angle_distance(M, model.components_)[1] < 3)
    True

    A (rows, cols, bands) cube works as it is; the abundances come back as
    maps:

    >>> cube = X.reshape(30, 30, 60)
    >>> maps = SSNMF(n_components=3, random_state=0).fit_transform(cube)
    >>> maps.shape
    (30, 30, 3)

    The number of endmembers by :class:`~sklearn.model_selection.GridSearchCV`
    on the whole image (the spatial graph needs every pixel, so the folds
    keep them all and :meth:`score` holds out entries instead):

    >>> from sklearn.model_selection import GridSearchCV
    >>> from nmfkit.model_selection import WholeImageSplit
    >>> search = GridSearchCV(SSNMF(image_shape=(30, 30), random_state=0,
    ...                             max_iter=50),
    ...                       {"n_components": [2, 3]}, cv=WholeImageSplit())
    >>> search.fit(X).cv_results_["mean_test_score"].shape  # one score per rank
    (2,)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "affinity": [StrOptions({"auto", "spatial", "knn"}), "array-like",
                     "sparse matrix"],
        "window": [Interval(Integral, 1, None, closed="left")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "lam": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "mu": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "dispersion": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "sum_to_one": ["boolean"],
        "normalize": ["boolean"],
        "init": [StrOptions({"vca", "random"})],
        "negative": [StrOptions({"clip", "raise"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_components=3, *, image_shape=None, affinity="auto",
                 window=1, n_neighbors=10, lam="auto", mu="auto", dispersion="auto",
                 sum_to_one=True, normalize=True, init="vca", negative="clip",
                 tol=1e-4, max_iter=500, random_state=None, verbose=0):
        self.n_components = n_components
        self.image_shape = image_shape
        self.affinity = affinity
        self.window = window
        self.n_neighbors = n_neighbors
        self.lam = lam
        self.mu = mu
        self.dispersion = dispersion
        self.sum_to_one = sum_to_one
        self.normalize = normalize
        self.init = init
        self.negative = negative
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.negative == "raise"
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    # ------------------------------------------------------------ helpers
    def _unfold(self, X):
        """``(pixels, cube_shape)``: a (rows, cols, bands) cube as its pixels.

        ``cube_shape`` is ``(rows, cols)`` for a cube, ``None`` for a matrix.
        """
        if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.ndim == 3):
            arr = np.asarray(X)
            if arr.ndim == 3:
                if arr.shape[0] == 0 or arr.shape[1] == 0:
                    raise ValueError(
                        f"X is a cube of shape {arr.shape} without pixels; a "
                        "(rows, cols, bands) cube needs rows, cols >= 1.")
                return arr.reshape(-1, arr.shape[2]), arr.shape[:2]
        return X, None

    def _image_shape(self, n_pixels, cube_shape):
        """The validated ``(rows, cols)`` of the fitted image, or ``None``."""
        shape = self.image_shape
        if shape is not None:
            try:
                shape = tuple(int(v) for v in shape)
            except (TypeError, ValueError):
                raise ValueError(f"image_shape must be (rows, cols); got {shape!r}.")
            if len(shape) != 2 or min(shape) < 1:
                raise ValueError(f"image_shape must be (rows, cols) of positive "
                                 f"integers; got {self.image_shape!r}.")
            if cube_shape is not None and shape != tuple(cube_shape):
                raise ValueError(
                    f"image_shape={self.image_shape!r} does not match the cube X "
                    f"of {cube_shape[0]} x {cube_shape[1]} pixels; leave "
                    "image_shape=None to take it from the cube.")
            if shape[0] * shape[1] != n_pixels:
                raise ValueError(
                    f"image_shape={self.image_shape!r} holds {shape[0] * shape[1]} "
                    f"pixels but X has {n_pixels} rows (pixels); they must match.")
        else:
            shape = None if cube_shape is None else tuple(int(v) for v in cube_shape)
        return shape

    def _prepare(self, X, reset):
        """Validate ``X``, handle negatives, normalise the pixels."""
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                          accept_sparse=False)
        if X.size and X.min() < 0:
            if self.negative == "raise":
                raise ValueError(
                    "Negative values in data passed to SSNMF (input X); set "
                    "negative='clip' to set them to zero.")
            n_neg = int(np.count_nonzero(X < 0))
            warnings.warn(
                f"SSNMF: {n_neg} negative reflectance(s) in X (min {X.min():.3g}) "
                "were clipped to zero (negative='clip').", UserWarning)
            X = np.ascontiguousarray(np.maximum(X, 0))
        elif self.normalize:
            X = np.array(X, order="C", copy=True)
        else:
            X = np.ascontiguousarray(X)
        if self.normalize:
            norms = np.sqrt(np.einsum("ij,ij->i", X, X))
            X /= np.where(norms > 0, norms, 1)[:, None]
        return X

    def _graph(self, X):
        m = X.shape[0]
        aff = self.affinity
        shape = self.image_shape_
        if isinstance(aff, str):
            if aff == "spatial" and shape is None:
                raise ValueError("affinity='spatial' needs image_shape=(rows, cols) "
                                 "or a (rows, cols, bands) cube X.")
            if aff == "spatial" or (aff == "auto" and shape is not None):
                if self.window >= max(shape):
                    raise ValueError(
                        f"window={self.window} reaches beyond the {shape[0]} x "
                        f"{shape[1]} image (it links pixels up to {self.window} "
                        "rows and columns apart); use a window smaller than "
                        f"{max(shape)}.")
                return spatial_affinity(X, shape, self.window)[0]
            return knn_affinity(X, self.n_neighbors)[0]
        S = sp.csr_matrix(aff, dtype=np.float64) if sp.issparse(aff) else \
            sp.csr_matrix(check_array(aff, dtype=np.float64, input_name="affinity"))
        if S.shape != (m, m):
            raise ValueError(f"The precomputed affinity has shape {S.shape}; it must "
                             f"be (n_pixels, n_pixels) = ({m}, {m}).")
        if S.nnz and not np.isfinite(S.data).all():
            raise ValueError("The precomputed affinity contains NaN or infinity.")
        if S.nnz and S.data.min() < 0:
            raise ValueError("The precomputed affinity has negative weights; "
                             "affinities must be non-negative.")
        S.setdiag(0)
        S.eliminate_zeros()
        asymmetric = S.nnz and abs(S - S.T).max() > 1e-12 * abs(S).max()
        if asymmetric:
            warnings.warn("The precomputed affinity is not symmetric; using "
                          "(S + S^T) / 2.", UserWarning)
            S = ((S + S.T) * 0.5).tocsr()
        return S

    def _weights(self, X, S):
        m = X.shape[0]
        k = self.n_components
        e = float(np.einsum("ij,ij->", X, X, dtype=np.float64)) / max(m, 1)
        e = e if e > 0 else 1.0
        degree = float(S.sum()) / max(m, 1) if S is not None else 0.0
        if self.lam == "auto":
            lam = _LAM_RATIO * e / degree if degree > 0 else 0.0
        else:
            lam = float(self.lam)
        mu = _MU_RATIO * e if self.mu == "auto" else float(self.mu)
        tau = (_DISPERSION_RATIO * m / k if self.dispersion == "auto"
               else float(self.dispersion))
        delta = np.sqrt(_SUM_TO_ONE_RATIO * e) if self.sum_to_one else 0.0
        return lam, mu, tau, delta

    def _abundances(self, X, M):
        """Sum-to-one (soft) NNLS with the L1 term: the abundances for fixed ``M``."""
        delta = self.sum_to_one_weight_
        if not delta:
            return nnls(X, M, l1=self.mu_)
        return nnls(augment(X, delta), augment(M, delta, X.dtype), l1=self.mu_)

    def _fit(self, X):
        """Graph, weights, initialisation and the core fit; sets attributes."""
        m, n = X.shape
        k = self.n_components
        rng = check_random_state(self.random_state)
        if self.lam != 0:
            S = self._graph(X).astype(X.dtype)
        else:
            S = sp.csr_matrix((m, m), dtype=X.dtype)
        lam, mu, tau, delta = self._weights(X, S)
        self.lam_, self.mu_, self.dispersion_ = lam, mu, tau
        self.sum_to_one_weight_ = float(delta)
        self.affinity_ = S
        if self.init == "vca":
            M0, idx = vca(X, k, random_state=rng)
        else:
            idx = rng.choice(m, size=k, replace=m < k)
            M0 = X[idx].copy()
        M0 = np.asarray(M0, dtype=X.dtype)
        # all-zero initial endmembers (all-zero pixels): any positive spectrum
        zero = ~(M0 > 0).any(axis=1)
        if zero.any():
            M0[zero] = X.mean(axis=0) + np.finfo(X.dtype).eps
            M0[zero] += rng.uniform(0, 1e-3, size=(int(zero.sum()), n)).astype(X.dtype)
        self.init_indices_ = np.asarray(idx)
        self.components_ = M0
        A, M, n_iter, history = fit_graph_nmf(
            X, None, M0, S=S if lam > 0 else None, lam=lam, mu=mu,
            delta=delta, tau=tau, center=X.mean(axis=0), tol=self.tol,
            max_iter=self.max_iter, verbose=solver_verbose(self.verbose))
        return A, M, n_iter, history

    # ------------------------------------------------------------ methods
    def fit(self, X, y=None):
        """Fit the endmembers and abundances of the pixels ``X``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_bands) or (rows, cols, n_bands)
            Pixels in row-major image order (``cube.reshape(-1, n_bands)``),
            or the cube itself (``image_shape`` is then taken from it).
        y : Ignored

        Returns
        -------
        self : SSNMF
        """
        self.fit_transform(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit, and return the abundances of the pixels ``X``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_bands) or (rows, cols, n_bands)
            Pixels, or the cube (see :meth:`fit`).
        y : Ignored

        Returns
        -------
        abundances : ndarray of shape (n_pixels, n_components) or \
                (rows, cols, n_components)
            Abundance maps in the shape of ``X``: a cube gives a cube.
        """
        X, cube = self._unfold(X)
        X = self._prepare(X, reset=True)
        self.image_shape_ = self._image_shape(X.shape[0], cube)
        m, n = X.shape
        k = self.n_components
        if k > n:
            raise ValueError(
                f"n_components={k} is larger than the number of bands "
                f"(n_features = {n}); at most {n} endmembers can be unmixed.")
        # The products have k (a few) columns: memory-bound; BLAS threads only
        # add synchronisation (measured 2-3x slower on a shared machine, the
        # small SVDs of VCA even more).
        t0 = time.perf_counter()
        with threadpool_limits(limits=1, user_api="blas"):
            A, M, n_iter, history = self._fit(X)
        if self.verbose:
            print(f"SSNMF: {n_iter} iterations in {time.perf_counter() - t0:.3f} s, "
                  f"objective {history[-1]:.8g}")
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(
                f"Maximum number of iterations {self.max_iter} reached. Increase "
                "it to improve convergence.", ConvergenceWarning)
        self.components_ = M
        self.n_components_ = k
        self.n_iter_ = n_iter
        self.objective_ = history
        R = X - A @ M
        self.reconstruction_err_ = float(np.sqrt(np.einsum("ij,ij->", R, R)))
        return A if cube is None else A.reshape(cube + (k,))

    def transform(self, X):
        """Abundances of new pixels for the fitted endmembers.

        Sum-to-one (soft, as in the fit) non-negative least squares with the
        L1 term, pixel by pixel; the graph term is left out (it needs the
        whole image). For the exact fully constrained abundances use
        :func:`fcls` with ``components_``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_bands) or (rows, cols, n_bands)
            Pixels, or a cube of any size (pixels are unmixed one by one).

        Returns
        -------
        abundances : ndarray of shape (n_pixels, n_components) or \
                (rows, cols, n_components)
            In the shape of ``X``: a cube gives a cube of abundance maps.
        """
        check_is_fitted(self)
        X, cube = self._unfold(X)
        X = self._prepare(X, reset=False)
        A = self._abundances(X, self.components_.astype(X.dtype, copy=False))
        return A if cube is None else A.reshape(cube + (A.shape[1],))

    def inverse_transform(self, X):
        """Pixels reconstructed from abundances: ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_components) or \
                (rows, cols, n_components)
            Abundances, e.g. from :meth:`transform`.

        Returns
        -------
        pixels : ndarray of shape (n_pixels, n_bands) or (rows, cols, n_bands)
            In the shape of ``X``; unit-norm scale with ``normalize=True``.
        """
        check_is_fitted(self)
        X, cube = self._unfold(X)
        out = check_inverse_input(self, X) @ self.components_
        return out if cube is None else out.reshape(cube + (out.shape[1],))

    def score(self, X, y=None):
        """Held-out-entry score of the endmembers (higher is better).

        The bi-cross-validation score of the foundation (as
        :meth:`nmfkit.NMF.score`, :mod:`nmfkit._core.heldout`): a fixed random
        20 % of the entries of the (normalised) pixels is hidden, the
        abundances are fitted on the visible entries with ``components_``
        fixed -- here with the model's own sum-to-one row and L1 term, i.e.
        :meth:`transform` on the visible entries -- and the score is minus the
        mean squared error of the prediction of the hidden entries. The same
        entries are hidden for every model, so ``GridSearchCV`` over
        ``n_components`` compares the numbers of endmembers fairly: the score
        peaks near the right one. (Without the sum-to-one row, the
        regularised endmembers of too many components keep improving an
        unconstrained fit a little, and the peak flattens out.)

        The hidden entries are entries of whatever pixels ``X`` holds, so the
        score works on the whole image: with ``image_shape`` (whose fit needs
        every pixel) search the rank with
        ``GridSearchCV(..., cv=nmfkit.model_selection.WholeImageSplit())``,
        which fits and scores every candidate on all pixels.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_bands) or (rows, cols, n_bands)
        y : Ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X, _ = self._unfold(X)
        X = self._prepare(X, reset=False)
        M = self.components_.astype(X.dtype, copy=False)
        delta = self.sum_to_one_weight_
        if not delta:
            return heldout_score(X, M, beta=2.0, fraction=0.2, random_state=0,
                                 l1=self.mu_)
        rng = np.random.RandomState(0)
        X_vis, visible, rows, cols, values, _ = _split_dense(X, None, 0.2, rng)
        if rows.size == 0:
            return 0.0
        # the sum-to-one column is always visible
        observed = augment(visible, True)
        A = nnls(augment(X_vis, delta), augment(M, delta), observed=observed,
                 l1=self.mu_)
        pred = wh_at(A, M, rows, cols)
        return -float(np.mean((np.asarray(values, dtype=np.float64) - pred) ** 2))
