"""The ``python -m nmfkit demo`` job, in-process and as a subprocess."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from nmfkit.__main__ import main
from nmfkit._demo import run_demo

REPO_ROOT = Path(__file__).resolve().parent.parent

PRINTED_FIELDS = [
    "parameters (NMF.get_params()):",
    "n_components = 16",
    "init = 'nndsvda'",
    "max_iter = 500",
    "random_state = 0",
    "reconstruction_err_",
    "relative error ||X-WH||/||X||",
    "n_iter_",
    "time (s",
    "nmfkit.NMF",
    "sklearn NMF",
    "speed-up",
]


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _run_module(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.setdefault("MPLBACKEND", "Agg")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # as in the demo_run fixture
    return subprocess.run(
        [sys.executable, "-m", "nmfkit", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One in-process run of the default demo: (result, printed text, png path)."""
    output = tmp_path_factory.mktemp("demo") / "components.png"
    buffer = io.StringIO()
    # One BLAS thread: the timings are not tested, and busy BLAS threads slow
    # down badly when the cores are shared with other processes.
    with threadpool_limits(limits=1):
        result = run_demo(output=output, file=buffer)
    return result, buffer.getvalue(), output


def test_demo_in_process_prints_fields_and_writes_png(demo_run):
    result, out, output = demo_run
    for field in PRINTED_FIELDS:
        assert field in out, f"{field!r} missing from the demo's output:\n{out}"
    if _has_matplotlib():
        assert result["plot_path"] == output
        assert output.is_file() and output.stat().st_size > 1000
        assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"components image written to {output}" in out
    else:
        assert result["plot_path"] is None and not output.exists()
        assert "nmfkit[plot]" in out


def test_demo_result_matches_scikit_learn(demo_run):
    result, _, _ = demo_run
    assert result["data_shape"] == (1797, 64)
    assert result["params"]["n_components"] == 16
    assert result["params"]["init"] == "nndsvda"
    ours, theirs = result["nmfkit"], result["sklearn"]
    # 16 NMF components of the digits explain most of the pixels.
    assert 0 < ours["relative_error"] < 0.35
    assert ours["n_iter_"] >= 1 and ours["time_s"] > 0
    # Same objective, same init: nmfkit is at least as accurate (to 2%).
    assert ours["relative_error"] <= 1.02 * theirs["relative_error"]
    assert result["speedup"] > 0


def test_main_in_process(tmp_path, capsys):
    output = tmp_path / "c.png"
    status = main(["demo", "--n-components", "4", "--no-compare", "--output",
                   str(output)])
    out = capsys.readouterr().out
    assert status == 0
    assert "n_components = 4" in out and "sklearn NMF" not in out
    assert output.is_file() == _has_matplotlib()


def test_demo_without_matplotlib_prints_hint(tmp_path, capsys, monkeypatch):
    # A None entry in sys.modules makes the import fail as if not installed.
    for name in ["matplotlib", "matplotlib.figure", "matplotlib.backends",
                 "matplotlib.backends.backend_agg"]:
        monkeypatch.setitem(sys.modules, name, None)
    output = tmp_path / "c.png"
    result = run_demo(n_components=4, output=output, compare=False)
    out = capsys.readouterr().out
    assert result["plot_path"] is None
    assert not output.exists()
    assert "nmfkit[plot]" in out


def test_demo_subprocess_no_plot(tmp_path):
    proc = _run_module("demo", "--no-plot", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for field in PRINTED_FIELDS:
        assert field in proc.stdout, f"{field!r} missing:\n{proc.stdout}"
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # --no-plot writes nothing


def test_no_subcommand_prints_usage_and_fails(tmp_path):
    proc = _run_module(cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr
    assert "demo" in proc.stderr


def test_bad_n_components_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["demo", "--n-components", "0", "--no-plot"])
    assert excinfo.value.code == 2
    assert "--n-components" in capsys.readouterr().err
