"""Hyperspectral scenes: a generator with planted endmembers, and a ``.mat`` loader.

Pixel order
-----------
Everything in nmfkit stores an image of ``rows x cols`` pixels and ``n_bands``
bands as a ``(rows * cols, n_bands)`` matrix whose rows are the pixels in
**row-major** (C) order: pixel ``(r, c)`` is row ``r * cols + c``, i.e.
``X = cube.reshape(-1, n_bands)`` for a ``(rows, cols, n_bands)`` cube, and
``X.reshape(rows, cols, n_bands)`` gives the cube back. Abundances follow the
same order (``(rows * cols, k)``). MATLAB files usually store the pixels in
column-major order (pixel ``(r, c)`` at ``r + rows * c``);
:func:`load_mat_scene` converts them.
"""

from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_hyperspectral_scene", "load_mat_scene", "load_samson"]


# --------------------------------------------------------------------------
# generator
# --------------------------------------------------------------------------
def _smooth_spectra(k, n_bands, rng, min_angle=8.0):
    """``k`` smooth spectra in (0, 1], pairwise at least ``min_angle`` degrees apart."""
    grid = np.linspace(0.0, 1.0, n_bands)
    for _ in range(1000):
        M = np.empty((k, n_bands))
        for j in range(k):
            spec = rng.uniform(0.05, 0.3) + rng.uniform(-0.2, 0.2) * grid
            for _ in range(rng.randint(2, 5)):
                center = rng.uniform(-0.1, 1.1)
                width = rng.uniform(0.05, 0.3)
                spec = spec + rng.uniform(0.1, 0.8) * np.exp(
                    -0.5 * ((grid - center) / width) ** 2)
            M[j] = np.maximum(spec, 0.02)
        M /= M.max(axis=1, keepdims=True)
        U = M / np.linalg.norm(M, axis=1, keepdims=True)
        cos = np.clip(U @ U.T, -1, 1)
        np.fill_diagonal(cos, -1)
        if np.degrees(np.arccos(cos.max())) >= min_angle:
            return M
    return M  # pragma: no cover - 1000 draws of distinct spectra never fail


def _gaussian_field(shape, sigma, rng):
    from scipy.ndimage import gaussian_filter

    z = gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (z - z.mean()) / (z.std() + 1e-12)


def make_hyperspectral_scene(n_rows=40, n_cols=40, n_bands=100, n_endmembers=4, *,
                             snr=40.0, smoothness=3.0, sparsity=0.3,
                             pure_pixels=True, shading=0.0, random_state=None):
    """Generate a hyperspectral image with planted endmembers and abundances.

    Endmember spectra are smooth (a sloped baseline plus a few Gaussian
    absorption/reflection bumps, scaled to a maximum of 1), pairwise at
    least 8 degrees apart. Abundance maps are spatially smooth and sparse:
    each endmember has a smooth random field (Gaussian-filtered noise of
    width ``smoothness`` pixels); a softmax of the fields makes one or two
    endmembers dominate each pixel, entries below ``sparsity / n_endmembers``
    are set to zero and each pixel is renormalised to sum to one. With
    ``pure_pixels`` a 3 x 3 patch of pure pixels is planted for each
    endmember (where its field peaks); without, every abundance is shrunk
    toward the uniform mixture (``0.8 a + 0.2 / k``): no pixel is pure.

    Pixels are returned in row-major order (see the module notes).

    Parameters
    ----------
    n_rows, n_cols : int, default=40
        Image shape.
    n_bands : int, default=100
        Number of spectral bands.
    n_endmembers : int, default=4
        Number of planted endmembers.
    snr : float or None, default=40.0
        Signal-to-noise ratio in dB of the white Gaussian noise added
        (``10 log10(mean(X_clean^2) / sigma^2)``); ``None``: no noise. Noisy
        values are clipped at zero (reflectances are non-negative).
    smoothness : float, default=3.0
        Width in pixels of the smoothing of the abundance fields.
    sparsity : float in [0, 1), default=0.3
        Threshold (times ``1 / n_endmembers``) below which abundances are zero.
    pure_pixels : bool, default=True
        Plant pure pixels of every endmember (or make sure there is none).
    shading : float in [0, 1), default=0.0
        Per-pixel brightness varies smoothly in ``[1 - shading, 1]``
        (topography, illumination): ``X = b_i * (A M)_i``.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_rows * n_cols, n_bands)
        The pixels, row-major.
    abundances : ndarray of shape (n_rows * n_cols, n_endmembers)
        Non-negative, summing to one per pixel.
    endmembers : ndarray of shape (n_endmembers, n_bands)

    Examples
    --------
    >>> from nmfkit.datasets import make_hyperspectral_scene
    >>> X, A, M = make_hyperspectral_scene(20, 30, n_bands=50, n_endmembers=3,
    ...                                    random_state=0)
    >>> X.shape, A.shape, M.shape
    ((600, 50), (600, 3), (3, 50))
    >>> bool(abs(A.sum(axis=1) - 1).max() < 1e-12)
    True
    """
    rng = check_random_state(random_state)
    k = int(n_endmembers)
    if k < 1 or n_rows < 1 or n_cols < 1 or n_bands < 1:
        raise ValueError("n_rows, n_cols, n_bands and n_endmembers must be >= 1.")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1); got {sparsity!r}.")
    if not 0 <= shading < 1:
        raise ValueError(f"shading must be in [0, 1); got {shading!r}.")
    M = _smooth_spectra(k, n_bands, rng)
    fields = np.stack([_gaussian_field((n_rows, n_cols), smoothness, rng)
                       for _ in range(k)], axis=-1)
    z = 2.5 * fields
    z -= z.max(axis=-1, keepdims=True)
    A = np.exp(z)
    A /= A.sum(axis=-1, keepdims=True)
    A[A < sparsity / k] = 0.0
    A /= A.sum(axis=-1, keepdims=True)
    if pure_pixels:
        for j in range(k):
            others = np.delete(fields, j, axis=-1).max(axis=-1, initial=-np.inf)
            r, c = np.unravel_index(np.argmax(fields[..., j] - others),
                                    (n_rows, n_cols))
            r0, c0 = max(0, r - 1), max(0, c - 1)
            A[r0:r + 2, c0:c + 2] = 0.0
            A[r0:r + 2, c0:c + 2, j] = 1.0
    else:
        A = 0.8 * A + 0.2 / k
    A = A.reshape(-1, k)
    X = A @ M
    if shading:
        b = 1.0 - shading * (0.5 + 0.5 * np.tanh(
            _gaussian_field((n_rows, n_cols), 2 * smoothness, rng))).ravel()
        X *= b[:, None]
    if snr is not None:
        sigma = np.sqrt(np.mean(X**2) / 10.0 ** (snr / 10.0))
        X = np.maximum(X + sigma * rng.standard_normal(X.shape), 0.0)
    return X, A, M


# --------------------------------------------------------------------------
# loader
# --------------------------------------------------------------------------
def _scalar(value):
    return int(np.asarray(value).ravel()[0])


def _to_row_major(flat, rows, cols, order):
    """``(rows*cols, d)`` pixels stored in ``order`` ('F' or 'C') -> row-major."""
    if order == "C":
        return np.ascontiguousarray(flat)
    # column-major: pixel (r, c) at r + rows * c, i.e. a (cols, rows) grid
    d = flat.shape[1]
    return np.ascontiguousarray(
        flat.reshape(cols, rows, d).transpose(1, 0, 2).reshape(rows * cols, d))


def load_mat_scene(path, *, data_key, image_shape=None, shape_keys=("lines", "cols"),
                   pixel_order="F", endmembers_key=None, abundances_key=None):
    """Load a hyperspectral scene from a MATLAB ``.mat`` file (``scipy.io.loadmat``).

    The common layout stores the image as a ``(n_bands, n_pixels)`` matrix
    (or ``(n_pixels, n_bands)``, recognised by the number of pixels), its
    pixels in MATLAB's column-major order, with the image shape in two
    scalar variables; reference endmembers as ``(k, n_bands)`` (or
    ``(n_bands, k)``) and reference abundances either as a
    ``(rows, cols, k)`` cube or as a ``(k, n_pixels)`` / ``(n_pixels, k)``
    matrix in the same pixel order as the image.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file.
    data_key : str
        Name of the image variable.
    image_shape : tuple (rows, cols), default=None
        The image shape; ``None`` reads it from the ``shape_keys`` variables.
    shape_keys : tuple of two str, default=("lines", "cols")
        Variables holding the number of rows and of columns.
    pixel_order : {"F", "C"}, default="F"
        Order of the pixels in the flat image (and flat abundances) of the
        file: ``"F"``, MATLAB's column-major (pixel ``(r, c)`` at
        ``r + rows * c``), or ``"C"``, row-major.
    endmembers_key, abundances_key : str, default=None
        Variables of the reference endmembers and abundances, if any.

    Returns
    -------
    scene : :class:`~sklearn.utils.Bunch`
        ``data`` (``(rows * cols, n_bands)``, pixels in **row-major** order,
        float64), ``image_shape``, ``endmembers`` (``(k, n_bands)`` or None),
        ``abundances`` (``(rows * cols, k)`` row-major, or None),
        ``pixel_order`` (``"C"``, the order of the returned rows).
    """
    from scipy.io import loadmat

    if pixel_order not in ("F", "C"):
        raise ValueError(f"pixel_order must be 'F' or 'C'; got {pixel_order!r}.")
    mat = loadmat(str(path))
    if data_key not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise KeyError(f"{data_key!r} is not a variable of {path}; found {found}.")
    if image_shape is None:
        missing = [k for k in shape_keys if k not in mat]
        if missing:
            raise KeyError(f"image_shape not given and {missing} not in {path}.")
        image_shape = (_scalar(mat[shape_keys[0]]), _scalar(mat[shape_keys[1]]))
    rows, cols = (int(v) for v in image_shape)
    n = rows * cols
    Y = np.asarray(mat[data_key], dtype=np.float64)
    if Y.ndim == 3:  # a (rows, cols, bands) cube: already indexed by (r, c)
        X = np.ascontiguousarray(Y.reshape(n, Y.shape[2]))
    else:
        if Y.ndim != 2 or n not in Y.shape:
            raise ValueError(f"{data_key} has shape {Y.shape}, which does not hold "
                             f"rows * cols = {n} pixels.")
        flat = Y.T if Y.shape[1] == n and Y.shape[0] != n else Y
        X = _to_row_major(flat, rows, cols, pixel_order)
    n_bands = X.shape[1]
    endmembers = abundances = None
    if endmembers_key is not None:
        E = np.asarray(mat[endmembers_key], dtype=np.float64)
        endmembers = np.ascontiguousarray(E if E.shape[1] == n_bands else E.T)
    if abundances_key is not None:
        S = np.asarray(mat[abundances_key], dtype=np.float64)
        if S.ndim == 3:
            abundances = np.ascontiguousarray(S.reshape(n, S.shape[2]))
        else:
            flat = S.T if S.shape[1] == n and S.shape[0] != n else S
            abundances = _to_row_major(flat, rows, cols, pixel_order)
    return Bunch(data=X, image_shape=(rows, cols), endmembers=endmembers,
                 abundances=abundances, pixel_order="C")


def load_samson(path):
    """Load the Samson scene (95 x 95 pixels, 156 bands, 3 endmembers).

    Parameters
    ----------
    path : str or Path
        ``Samson.mat`` or the folder holding it (in this project,
        ``../shared/data/hyperspectral/samson``).

    Returns
    -------
    scene : :class:`~sklearn.utils.Bunch`
        As :func:`load_mat_scene`: ``data`` (9025 x 156, row-major pixels),
        ``image_shape`` (95, 95), ``endmembers`` (3 x 156, rows soil/rock, tree,
        water, each scaled to a maximum of 1 -- not the scale of ``data``:
        compare them with the scale-invariant spectral angle only),
        ``abundances`` (9025 x 3, same endmember order, summing to one) and
        ``target_names``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "Samson.mat"
    scene = load_mat_scene(path, data_key="Y", shape_keys=("lines", "cols"),
                           pixel_order="F", endmembers_key="GT",
                           abundances_key="S_GT")
    scene.target_names = ["soil", "tree", "water"]
    return scene
