"""Shared pytest fixtures of the nmfkit test suite.

* matplotlib (when installed) is switched to the non-interactive Agg backend,
  so tests that draw never need a display.
* ``shared_data_dir``: the real data sets, ``../shared/data`` beside the
  repository (or the folder named by the ``NMFKIT_DATA`` environment
  variable); tests that use it are skipped, with the reason, when it is absent.
* ``rng``: a seeded :class:`numpy.random.Generator`, fresh for each test.
"""

import os
from pathlib import Path

import numpy as np
import pytest

try:  # headless plotting for every test that draws
    import matplotlib
except ImportError:  # pragma: no cover - matplotlib is an optional extra
    matplotlib = None
else:
    matplotlib.use("Agg")

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_data_path():
    """Where the shared data should be: ``$NMFKIT_DATA`` or ``../shared/data``."""
    env = os.environ.get("NMFKIT_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir():
    """Path of the shared real data sets; skips the test when they are absent."""
    path = _shared_data_path()
    if not path.is_dir():
        pytest.skip(
            f"shared data not found at {path}: put the shared/ folder beside the "
            "repository (../shared/data) or set NMFKIT_DATA to the data folder"
        )
    return path


@pytest.fixture
def rng():
    """A seeded random generator, fresh for each test."""
    return np.random.default_rng(0)
