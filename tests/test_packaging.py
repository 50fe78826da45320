"""Packaging hygiene: declared dependencies, import cost, no machine paths."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

REPO_ROOT = Path(__file__).resolve().parent.parent


def _requirement_name(requirement):
    """'scikit-learn>=1.6' -> 'scikit-learn' (PEP 508 name, normalised)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def pyproject():
    if tomllib is None:
        pytest.skip("tomllib needs Python >= 3.11")
    path = REPO_ROOT / "pyproject.toml"
    if not path.is_file():
        pytest.skip("not run from a source checkout (no pyproject.toml)")
    with open(path, "rb") as f:
        return tomllib.load(f)


def test_runtime_dependencies_are_exactly_the_four(pyproject):
    deps = pyproject["project"]["dependencies"]
    names = sorted(_requirement_name(d) for d in deps)
    assert names == ["numpy", "scikit-learn", "scipy", "threadpoolctl"]
    # scikit-learn >= 1.6 for validate_data and __sklearn_tags__.
    sklearn_req = next(d for d in deps if _requirement_name(d) == "scikit-learn")
    assert ">=1.6" in sklearn_req.replace(" ", "")


def test_extras_and_metadata(pyproject):
    project = pyproject["project"]
    assert project["name"] == "nmfkit"
    assert project["version"] == "0.1.0"
    extras = {k: {_requirement_name(r) for r in v}
              for k, v in project["optional-dependencies"].items()}
    assert extras["plot"] == {"matplotlib"}
    assert {"pytest", "hypothesis", "matplotlib", "pandas"} <= extras["test"]
    assert {"matplotlib", "pandas"} <= extras["bench"]
    assert {"networkx", "tqdm"} <= extras["test"]
    assert extras["graph"] == {"networkx"}
    assert extras["progress"] == {"tqdm"}
    assert extras["gurobi"] == {"gurobipy"}
    # `all` is every runtime extra (not test, bench or docs)
    runtime = set().union(*(extras[k] for k in
                            ("plot", "torch", "dask", "qubo", "graph", "progress",
                             "gurobi")))
    assert extras["all"] == runtime
    # docs: the Sphinx stack and what the executed gallery imports
    assert {"sphinx", "pydata-sphinx-theme", "numpydoc", "sphinx-gallery",
            "sphinx-copybutton", "myst-parser", "matplotlib", "pandas", "dask",
            "distributed", "networkx"} <= extras["docs"]
    assert {"Documentation", "Source", "Issues"} <= set(project["urls"])
    versions = {c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                if c.startswith("Programming Language :: Python :: 3.")}
    assert {"3.10", "3.11", "3.12", "3.13"} <= versions
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]
    assert packages["include"] == ["nmfkit*"]


def test_version_matches_pyproject(pyproject):
    import nmfkit

    assert nmfkit.__version__ == pyproject["project"]["version"]


_IMPORT_ALL = """
import importlib, pkgutil, nmfkit
for info in pkgutil.walk_packages(nmfkit.__path__, "nmfkit."):
    importlib.import_module(info.name)
"""


def _python(code):
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# What the extras bring (plot, test, bench, torch, dask, qubo): never imported by
# ``import nmfkit`` or any of its modules, only inside the functions that need them.
_OPTIONAL = ("matplotlib", "pandas", "torch", "transformers", "dask", "distributed",
             "dimod", "dwave", "tensorly", "surprise")


def test_import_does_not_pull_optional_dependencies():
    # scikit-learn itself may import pandas when it is installed; nmfkit (all
    # of its modules) must not add any optional extra to what it imports.
    code = (
        "import sys\n"
        "import scipy.sparse, sklearn.base, sklearn.decomposition\n"
        "import sklearn.model_selection, sklearn.utils.validation\n"
        f"optional = {_OPTIONAL!r}\n"
        "before = {m for m in optional if m in sys.modules}\n"
        + _IMPORT_ALL +
        "after = {m for m in optional if m in sys.modules}\n"
        "print(','.join(sorted(after - before)))\n"
    )
    added = _python(code).strip()
    assert added == "", f"importing nmfkit imported {added}; import it lazily"


def test_works_without_optional_dependencies():
    # A finder placed first on sys.meta_path makes `import matplotlib`,
    # `import torch` ... fail as if they were not installed (runtime
    # dependencies exclude them). Not `sys.modules[name] = None`: scipy probes
    # sys.modules for torch and would trip over the None.
    code = (
        "import sys\n"
        "class _Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {_OPTIONAL!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Absent())\n"
        + _IMPORT_ALL +
        "import numpy as np\n"
        "X = np.random.default_rng(0).random((12, 6))\n"
        "model = nmfkit.NMF(n_components=2, random_state=0).fit(X)\n"
        "print(model.components_.shape)\n"
    )
    assert _python(code).strip() == "(2, 6)"


_MACHINE_PATH = re.compile(r"(?<![\w.])/(work|home|root|Users|tmp/ci)/")


def _tracked_files():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    proc = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT,
                          capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    return [REPO_ROOT / p for p in proc.stdout.decode().split("\0") if p]


def test_no_absolute_machine_paths_in_tracked_files():
    offenders = []
    for path in _tracked_files():
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary file (images)
        for lineno, line in enumerate(text.splitlines(), 1):
            if _MACHINE_PATH.search(line):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, (
        "absolute paths of a machine in tracked files; refer to data as "
        "../shared/data/... relative to the repository root:\n" + "\n".join(offenders)
    )


# -- the API reference lists every public name --------------------------------

_API_RST = REPO_ROOT / "docs" / "api.rst"


def _documented_objects(text):
    """``{id(obj): 'module.name'}`` of the autosummary entries of api.rst."""
    import importlib

    documented, module, in_block = {}, None, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(".. currentmodule::"):
            module = stripped.split("::", 1)[1].strip()
            in_block = False
        elif stripped.startswith(".. autosummary::"):
            in_block = True
        elif in_block and line and not line[0].isspace():
            in_block = False
        elif in_block and stripped and not stripped.startswith(":"):
            dotted = f"{module}.{stripped}" if module else stripped
            mod_name, _, attr = dotted.rpartition(".")
            obj = getattr(importlib.import_module(mod_name), attr, None)
            assert obj is not None, f"docs/api.rst lists {dotted}, which does not exist"
            documented[id(obj)] = dotted
    return documented


def _public_api():
    """``{'module.name': obj}``: nmfkit.__all__ and the public names of every
    public module (its ``__all__``, else the functions and classes it defines)."""
    import importlib
    import inspect
    import pkgutil

    import nmfkit

    public = {}
    names = [info.name for info in pkgutil.walk_packages(nmfkit.__path__, "nmfkit.")
             if not any(part.startswith("_") for part in info.name.split("."))]
    for mod_name in ["nmfkit"] + sorted(names):
        module = importlib.import_module(mod_name)
        if hasattr(module, "__all__"):
            attrs = list(module.__all__)
        else:
            attrs = [n for n, o in vars(module).items()
                     if not n.startswith("_")
                     and (inspect.isfunction(o) or inspect.isclass(o))
                     and o.__module__ == mod_name]
        for attr in attrs:
            obj = getattr(module, attr)
            if callable(obj):  # not __version__
                public[f"{mod_name}.{attr}"] = obj
    return public


def test_api_reference_lists_every_public_name():
    if not _API_RST.is_file():
        pytest.skip("not run from a source checkout (no docs/api.rst)")
    documented = _documented_objects(_API_RST.read_text(encoding="utf-8"))
    public = _public_api()
    # the modules this check must see (a module renamed or dropped from the
    # walk would otherwise go unchecked silently)
    for name in ("nmfkit.NMF", "nmfkit.datasets.make_topic_corpus",
                 "nmfkit.unmixing.vca", "nmfkit.text.sppmi",
                 "nmfkit.tensor.select_mutated_genes",
                 "nmfkit.activations.collect_activations"):
        assert name in public
    missing = sorted(name for name, obj in public.items() if id(obj) not in documented)
    assert not missing, (
        "public names without a page in docs/api.rst (add them to the section "
        "of their task, or a new section):\n  " + "\n  ".join(missing))
