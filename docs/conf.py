"""Sphinx configuration of the nmfkit documentation.

Build from the repository root (``pip install ".[docs]"`` first)::

    python -m sphinx -W -b html docs docs/_build/html

The gallery (``examples/plot_*.py``) is executed during the build; add
``-D plot_gallery=0`` for a quick build that does not run it.
"""

import os
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
# nmfkit is imported from the source tree when it is not installed (a plain
# checkout); an installed nmfkit (pip install ".[docs]") is the same code.
sys.path.insert(0, str(REPO))

import nmfkit  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")
# The examples find the shared real data sets (when present) through
# NMFKIT_DATA, else ../shared/data relative to the repository root; the
# gallery runs them from examples/, so the build names the folder.
_SHARED_DATA = REPO.parent / "shared" / "data"
if "NMFKIT_DATA" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["NMFKIT_DATA"] = str(_SHARED_DATA)

project = "nmfkit"
author = "nmfkit developers"
copyright = "nmfkit developers, BSD-3-Clause"
version = release = nmfkit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.ipynb",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
    "auto_examples/*.pickle",
    "sg_execution_times.rst",
]

# -- autodoc / autosummary / numpydoc ------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
# numpydoc renders the Parameters/Attributes/... sections; the members are
# listed by the autosummary class template, not by numpydoc (no duplicate
# targets for inherited scikit-learn methods).
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Types become cross-references (``ndarray of shape (n_samples, n_components_)``
# would otherwise be read as reST targets ``n_components_``).
numpydoc_xref_param_type = True
numpydoc_xref_ignore = {
    "of", "or", "shape", "default", "optional", "and", "the", "a", "an", "in",
    "with", "to", "for", "if", "is", "by", "as", "are", "per", "one", "any",
    "same", "None", "True", "False", "than", "at", "least", "most", "each",
}
numpydoc_xref_aliases = {
    "estimator": ":term:`estimator`",
}

# -- MyST (the markdown pages) --------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# The markdown pages link to repository files (../README.md,
# ../benchmarks/*.py, ../examples/*.py) that are not part of the site; MyST
# leaves those as plain links.
suppress_warnings = ["myst.xref_missing", "myst.header"]

# -- intersphinx (offline builds must pass: no inventories are fetched) ----
intersphinx_mapping = {}

# -- sphinx-gallery --------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    # examples/plot_*.py are executed at build time; the other scripts
    # (they need data or packages a docs build does not have) are shown
    # with their code only.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("nmfkit",),
    "reference_url": {"nmfkit": None},
    "remove_config_comments": True,
    "show_memory": False,
    "plot_gallery": "True",
    # an example that raises fails the build
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# The examples silence ConvergenceWarning themselves where a short run is
# intended; anything else they warn is shown in their output, not fatal.
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- hooks -------------------------------------------------------------------

def _join_continued_lines(app, what, name, obj, options, lines):
    """Join numpydoc type lines continued with a backslash.

    scikit-learn's habit ``name : {'a', 'b'}, \\`` + an indented
    ``default='a'`` line relies on a non-raw docstring (the backslash-newline
    is removed by Python). In a raw docstring the backslash stays, and
    numpydoc would read the continuation as the description. Runs before
    numpydoc (lower priority number).
    """
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("\\") and i + 1 < len(lines):
            lines[i] = line.rstrip()[:-1].rstrip() + " " + lines[i + 1].strip()
            del lines[i + 1]
            continue
        i += 1
    # The types of the Attributes section are not cross-referenced by numpydoc:
    # ``(n_features_in_,)`` would be read as a reST target there.
    in_attributes = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            in_attributes = stripped == "Attributes"
            continue
        if in_attributes and " : " in line and not line.startswith((" ", "\t")):
            head, _, kind = line.partition(" : ")
            lines[i] = head + " : " + re.sub(r"\b(\w+)_(?=[,)\s]|$)", r"\1\\_", kind)


# Labels and glossary terms of scikit-learn's own site, used by the docstrings
# of the methods nmfkit's estimators inherit (set_output, set_*_request,
# get_metadata_routing). This build fetches no inventories (it must pass
# offline), so they are resolved here to scikit-learn's stable pages.
_SKLEARN = "https://scikit-learn.org/stable/"
_SKLEARN_REFS = {
    "sphx_glr_auto_examples_miscellaneous_plot_set_output.py":
        "auto_examples/miscellaneous/plot_set_output.html",
    "df_output_transform": "auto_examples/miscellaneous/plot_set_output.html",
    "metadata_routing": "metadata_routing.html",
    "meta-estimator": "glossary.html#term-meta-estimator",
    "estimator": "glossary.html#term-estimator",
}


def _sklearn_reference(app, env, node, contnode):
    from docutils import nodes

    target = node.get("reftarget", "")
    if node.get("refdomain") != "std":
        return None
    if target.startswith(("numpy:", "python:", "scipy:")):
        # numpydoc's default type aliases point into intersphinx inventories
        # that an offline build does not have: plain text instead.
        return contnode
    if target not in _SKLEARN_REFS:
        return None
    ref = nodes.reference("", "", internal=False,
                          refuri=_SKLEARN + _SKLEARN_REFS[target])
    ref += contnode
    return ref


def setup(app):
    app.connect("autodoc-process-docstring", _join_continued_lines, priority=100)
    app.connect("missing-reference", _sklearn_reference)


# -- HTML ------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"nmfkit {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_show_sourcelink = True
html_sidebars = {"index": []}
