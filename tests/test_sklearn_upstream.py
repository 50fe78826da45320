"""scikit-learn's own NMF test suite, run against nmfkit.

The test module of the INSTALLED scikit-learn
(``sklearn/decomposition/tests/test_nmf.py``) is copied at test time with one
change: ``NMF``, ``MiniBatchNMF`` and ``non_negative_factorization`` are
imported from nmfkit instead of scikit-learn (its tests of scikit-learn's
private helpers, ``_nmf._initialize_nmf`` and ``_nmf._beta_divergence``, still
test scikit-learn's). It runs in a subprocess of pytest, so it follows the
installed scikit-learn version. Only the tests in ``DESELECTED`` are left out,
each with the reason it cannot apply.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# The import line of the upstream module, and what replaces it.
_IMPORT = re.compile(
    r"^from sklearn\.decomposition import NMF, MiniBatchNMF, "
    r"non_negative_factorization$",
    re.MULTILINE,
)
_NMFKIT_IMPORT = "from nmfkit import NMF, MiniBatchNMF, non_negative_factorization"

_EQUIVALENCE = (
    "scikit-learn's MiniBatchNMF(batch_size=n_samples, forget_factor=0) is "
    "NMF(solver='mu') by construction (the same multiplicative-update code). "
    "nmfkit's NMF(solver='mu') starts from a short HALS fit and its "
    "MiniBatchNMF learns Frobenius components by online HALS: both reach a "
    "given loss in fewer passes, so their iterates are not the same sequence. "
    "Not an accuracy test: test_minibatch.py checks each against scikit-learn's "
    "loss instead."
)

# test id (as pytest prints it, relative to the copied module) -> reason
DESELECTED = {
    **{f"test_nmf_minibatchnmf_equivalence[{beta}]": _EQUIVALENCE
       for beta in ("-0.5", "0", "0.5", "1", "1.5", "2", "2.5")},
    "test_minibatch_nmf_partial_fit": (
        "passes in scikit-learn only by aliasing: fit and partial_fit update the "
        "caller's H array in place and components_ IS that array, so both "
        "estimators end up holding the same object although partial_fit is fed "
        "other (overlapping) batches. nmfkit never writes into the caller's "
        "arrays. The real equivalence (fit with one epoch and fresh restarts vs "
        "partial_fit on the same batches) is "
        "tests/test_minibatch.py::test_fit_one_epoch_equals_partial_fit."
    ),
}


def _upstream_module():
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "decomposition" / "tests" / "test_nmf.py"
    return path


def _copy_with_nmfkit(src, dst_dir):
    text = src.read_text()
    text, n = _IMPORT.subn(_NMFKIT_IMPORT, text)
    assert n == 1, (
        f"the import line of {src} changed; update _IMPORT in {__file__}")
    dst = dst_dir / "test_nmf_upstream.py"
    dst.write_text(text)
    return dst


@pytest.mark.slow
def test_sklearn_nmf_suite_passes_on_nmfkit(tmp_path):
    src = _upstream_module()
    if not src.is_file():
        pytest.skip(f"the installed scikit-learn ships no tests ({src} absent)")
    dst = _copy_with_nmfkit(src, tmp_path)
    args = [sys.executable, "-m", "pytest", str(dst), "-q", "-p", "no:cacheprovider",
            "-p", "no:randomly", "--rootdir", str(tmp_path), "-o", "addopts=",
            "-W", "ignore::DeprecationWarning"]
    for test_id in DESELECTED:
        args += ["--deselect", f"{dst.name}::{test_id}"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    # one BLAS thread: many tiny fits, threads only cost synchronisation
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    out = proc.stdout + proc.stderr
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    assert proc.returncode == 0, out[-6000:]
    n_passed = int(re.search(r"(\d+) passed", summary).group(1))
    n_deselected = int(re.search(r"(\d+) deselected", summary).group(1))
    # every deselection matched a test (a renamed upstream test must be noticed)
    assert n_deselected == len(DESELECTED), summary
    assert "failed" not in summary and "error" not in summary, summary
    assert n_passed >= 200, summary


def test_upstream_import_swap_is_exact(tmp_path):
    """Only the one import line changes; the rest of the module is upstream's."""
    src = _upstream_module()
    if not src.is_file():
        pytest.skip(f"the installed scikit-learn ships no tests ({src} absent)")
    dst = _copy_with_nmfkit(src, tmp_path)
    old, new = src.read_text().splitlines(), dst.read_text().splitlines()
    changed = [(a, b) for a, b in zip(old, new) if a != b]
    assert len(old) == len(new)
    assert changed == [(_IMPORT.pattern.replace("\\", "").strip("^$"), _NMFKIT_IMPORT)]
