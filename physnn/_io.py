"""File helpers shared by the caches, checkpoints and result stores: atomic writes, content keys.

Internal to physnn (one home for what the dataset caches, the training checkpoints and the sweep
store all need); not a user API.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_write", "content_key", "file_sha256"]


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], Any], *, fsync: bool = False, suffix: str = ""
) -> Path:
    """Write a file so that a reader sees the old file or the whole new one, never half of it.

    ``write(tmp)`` writes the temporary file ``.{name}.{pid}.tmp{suffix}`` beside ``path`` (same
    folder, so the rename does not cross file systems), which then replaces ``path`` with
    ``os.replace``. On an error the temporary file is removed and the error raised. ``fsync``:
    flush it to disk first. ``suffix``: for writers that append their own otherwise
    (``numpy.savez`` adds ``.npz`` to a name without it).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write(p, lambda tmp: tmp.write_text("done")).read_text()
    'done'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def content_key(obj: Any, *, default: Callable[[Any], Any] | None = None, length: int | None = None) -> str:
    """SHA-256 hex digest of ``obj`` as canonical JSON (keys sorted): a key that changes exactly
    when the content does. ``default``: as for ``json.dumps``; ``length``: keep that many hex digits.

    >>> content_key({"b": 1, "a": [2.0]}) == content_key({"a": [2.0], "b": 1})
    True
    """
    text = json.dumps(obj, sort_keys=True, default=default)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return digest if length is None else digest[:length]


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
