"""Locate the data shipped with physnn (device cards, netlists).

The top-level ``devices/`` and ``circuits/`` folders of the source tree are copied into the
wheel as ``physnn/_data/devices`` and ``physnn/_data/circuits`` (see ``pyproject.toml``).
:func:`data_dir` finds them in both layouts, so the same code works from an installed wheel,
an editable install and a plain checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "search_path", "cache_dir"]

_PKG = Path(__file__).resolve().parent

#: Environment variable holding extra folders (``os.pathsep``-separated) searched for user cards
#: and netlists before the shipped ones.
ENV_VAR = {"devices": "PHYSNN_DEVICE_PATH", "circuits": "PHYSNN_CIRCUIT_PATH"}


def data_dir(kind: str) -> Path:
    """Return the shipped folder of ``kind`` (``"devices"`` or ``"circuits"``).

    Raises
    ------
    ValueError
        If ``kind`` is not a known data kind.
    FileNotFoundError
        If neither the wheel layout nor the checkout layout holds the folder.
    """
    if kind not in ENV_VAR:
        raise ValueError(f"kind={kind!r}: expected one of {sorted(ENV_VAR)}")
    for candidate in (_PKG / "_data" / kind, _PKG.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"physnn data folder {kind!r} not found in {_PKG / '_data'} (wheel) "
        f"or {_PKG.parent} (checkout); is the installation complete?"
    )


def search_path(kind: str) -> list[Path]:
    """Folders searched for ``kind`` files: the user's (``$PHYSNN_*_PATH``) first, then shipped."""
    extra = [Path(p) for p in os.environ.get(ENV_VAR.get(kind, ""), "").split(os.pathsep) if p]
    return [*extra, data_dir(kind)]


def cache_dir(*parts: str) -> Path:
    """Folder for generated data (datasets synthesised offline): ``$PHYSNN_CACHE`` or ``~/.cache/physnn``.

    Created on demand. Nothing is ever downloaded into it: physnn only writes what it generates.
    """
    root = Path(os.environ.get("PHYSNN_CACHE", Path.home() / ".cache" / "physnn"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
