"""Sphinx configuration of physnn's API reference (built from the docstrings).

Build: ``.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``-W``: a warning fails the build; ``.ci/run`` builds it this way).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
import physnn  # noqa: E402

project = "physnn"
author = "physnn developers"
copyright = "physnn developers"
release = physnn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# autodoc: a package page documents the names in its ``__all__`` (imported ones included),
# members in source order; signatures keep the annotations as written
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False  # torch.nn.Module's docstrings are not ours
autosummary_generate = False

# numpydoc: no per-class member tables (autodoc lists the members), no docstring validation in
# the build (its checks are style, not correctness)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = False

# the docs never go to the network (no intersphinx): a reference outside physnn stays plain text
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Analog in-memory and physical-substrate neural networks as differentiable PyTorch layers",
    "page_width": "1200px",
}


def _drop_foreign_docstrings(app, what, name, obj, options, lines):
    """An attribute whose value is another library's object (a dataclass field defaulting to
    ``torch.tanh``) would show that library's docstring as ours: show none instead."""
    if what in ("module", "class", "exception"):
        return
    module = getattr(obj, "__module__", None)
    if isinstance(module, str) and module.split(".")[0] != "physnn" and not name.startswith(module):
        lines.clear()


def setup(app):
    app.connect("autodoc-process-docstring", _drop_foreign_docstrings)
