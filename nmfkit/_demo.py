"""The ``python -m nmfkit demo`` job: NMF of scikit-learn's bundled digits.

Fits :class:`nmfkit.NMF` and, with the same parameters,
:class:`sklearn.decomposition.NMF` to the 1797 8x8 images of
:func:`sklearn.datasets.load_digits`, prints the parameters, the
reconstruction errors, the iteration counts and the fit times side by side,
and draws the learned components as 8x8 images when matplotlib is installed.
"""

import math
import sys
import time
import warnings

import numpy as np

__all__ = ["run_demo"]

_PLOT_HINT = (
    "matplotlib is not installed, so no image of the components was written; "
    'install it with `pip install "nmfkit[plot]"` (or `pip install matplotlib`).'
)


def _fit_timed(model, X, repeats=2):
    """Fit ``model`` to ``X`` ``repeats`` times; return ``(W, seconds, converged)``.

    ``seconds`` is the best of the repeats (the first fit also pays one-off
    costs such as starting the BLAS threads).
    """
    from sklearn.exceptions import ConvergenceWarning

    best = math.inf
    for _ in range(repeats):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            start = time.perf_counter()
            W = model.fit_transform(X)
            best = min(best, time.perf_counter() - start)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return W, best, converged


def _summary(model, X, W, seconds, converged):
    """Fit statistics of one model: errors, iterations, time."""
    residual = np.linalg.norm(X - W @ model.components_)
    return {
        "reconstruction_err_": float(model.reconstruction_err_),
        "relative_error": float(residual / np.linalg.norm(X)),
        "n_iter_": int(model.n_iter_),
        "time_s": float(seconds),
        "converged": bool(converged),
    }


def plot_components(components, path, image_shape=(8, 8)):
    """Write a PNG grid of the rows of ``components`` as images.

    Uses matplotlib's object-oriented API with the Agg canvas, so the
    caller's pyplot backend is left untouched.

    Parameters
    ----------
    components : ndarray of shape (n_components, prod(image_shape))
        One image per row.
    path : str or path-like
        Where to write the PNG.
    image_shape : tuple of int, default=(8, 8)
        Height and width of each image.

    Returns
    -------
    path : str or path-like
        ``path``, once written.

    Raises
    ------
    ImportError
        When matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised without matplotlib
        raise ImportError(_PLOT_HINT) from exc

    k = components.shape[0]
    n_cols = math.ceil(math.sqrt(k))
    n_rows = math.ceil(k / n_cols)
    fig = Figure(figsize=(1.6 * n_cols, 1.6 * n_rows + 0.4))
    FigureCanvasAgg(fig)
    for i in range(n_rows * n_cols):
        ax = fig.add_subplot(n_rows, n_cols, i + 1)
        ax.set_axis_off()
        if i < k:
            ax.imshow(components[i].reshape(image_shape), cmap="gray_r",
                      interpolation="nearest")
            ax.set_title(f"{i}", fontsize=8)
    fig.suptitle(f"nmfkit.NMF: {k} components of the digits")
    fig.savefig(path, dpi=100)
    return path


def _format_value(key, value):
    if key == "time_s":
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def run_demo(n_components=16, solver="cd", output="nmf_digits_components.png",
             plot=True, compare=True, file=None):
    """Fit NMF to scikit-learn's digits and report how it went.

    Parameters
    ----------
    n_components : int, default=16
        Rank of the factorization.
    solver : {'cd', 'mu'}, default='cd'
        Solver of both NMF implementations.
    output : str or path-like, default='nmf_digits_components.png'
        Where the PNG of the components is written (when ``plot`` and
        matplotlib is installed).
    plot : bool, default=True
        Whether to draw the components.
    compare : bool, default=True
        Whether to also fit :class:`sklearn.decomposition.NMF` with the same
        parameters and print the two side by side.
    file : file-like, default=None
        Where to print; ``None`` is ``sys.stdout``.

    Returns
    -------
    result : dict
        ``params`` (the ``get_params()`` of the fitted model), ``data_shape``,
        ``nmfkit`` and, when ``compare``, ``sklearn``: dicts with
        ``reconstruction_err_``, ``relative_error`` (``||X - WH||_F / ||X||_F``),
        ``n_iter_``, ``time_s`` (best of two fits) and ``converged``; ``plot_path`` (``None`` when
        nothing was written).

    Examples
    --------
    >>> import io
    >>> from nmfkit._demo import run_demo
    >>> result = run_demo(n_components=4, plot=False, compare=False,
    ...                   file=io.StringIO())
    >>> result["data_shape"]
    (1797, 64)
    >>> bool(result["nmfkit"]["relative_error"] < 1)
    True
    """
    from sklearn.datasets import load_digits

    from . import NMF

    out = sys.stdout if file is None else file

    def say(line=""):
        print(line, file=out)

    X = load_digits().data.astype(np.float64)
    params = dict(n_components=n_components, init="nndsvda", solver=solver,
                  max_iter=500, random_state=0)

    model = NMF(**params)
    W, seconds, converged = _fit_timed(model, X)
    result = {
        "params": model.get_params(),
        "data_shape": X.shape,
        "nmfkit": _summary(model, X, W, seconds, converged),
        "plot_path": None,
    }
    if compare:
        from sklearn.decomposition import NMF as SklearnNMF

        sk_model = SklearnNMF(**params)
        sk_W, sk_seconds, sk_converged = _fit_timed(sk_model, X)
        result["sklearn"] = _summary(sk_model, X, sk_W, sk_seconds, sk_converged)

    say(f"nmfkit demo: NMF of scikit-learn's digits "
        f"({X.shape[0]} images of 8x8 pixels, X of shape {X.shape[0]} x {X.shape[1]})")
    say()
    say("parameters (NMF.get_params()):")
    for name, value in sorted(result["params"].items()):
        say(f"  {name} = {value!r}")
    say()

    columns = ["nmfkit"] + (["sklearn"] if compare else [])
    headers = {"nmfkit": "nmfkit.NMF", "sklearn": "sklearn NMF"}
    rows = [
        ("reconstruction_err_", "reconstruction_err_"),
        ("relative error ||X-WH||/||X||", "relative_error"),
        ("n_iter_", "n_iter_"),
        ("time (s, best of 2 fits)", "time_s"),
        ("converged", "converged"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    say(" " * width + "".join(f"{headers[c]:>16}" for c in columns))
    for label, key in rows:
        cells = "".join(f"{_format_value(key, result[c][key]):>16}" for c in columns)
        say(f"{label:<{width}}{cells}")
    if compare:
        ratio = result["sklearn"]["time_s"] / max(result["nmfkit"]["time_s"], 1e-12)
        result["speedup"] = ratio
        say()
        say(f"speed-up (scikit-learn time / nmfkit time): {ratio:.2f}x")
    say()

    if plot:
        try:
            plot_components(model.components_, output)
        except ImportError:
            say(_PLOT_HINT)
        else:
            result["plot_path"] = output
            say(f"components image written to {output}")
    else:
        say("plot skipped (--no-plot)")
    return result
