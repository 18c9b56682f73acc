"""Errors and warnings of the netlist reader: every one names the line (and the file of an
included line) and the offending token (standard library only)."""

from __future__ import annotations

import warnings

__all__ = ["NetlistError", "NetlistWarning", "LineNo", "where", "warn"]


class NetlistError(ValueError):
    """Bad netlist input. ``line`` is the 1-based line number, ``token`` the offending text,
    ``source`` the file (an included file for its own lines)."""

    def __init__(self, message: str, *, line: int | None = None, token: str | None = None, source: str | None = None):
        if source is None and getattr(line, "src", None):
            source = line.src
        self.line = None if line is None else int(line)
        self.token = token
        self.source = source
        self.message = message
        where = []
        if source:
            where.append(str(source))
        if line is not None:
            where.append(f"line {int(line)}")
        prefix = ":".join(where)
        tok = f" (token {token!r})" if token is not None else ""
        super().__init__(f"{prefix + ': ' if prefix else ''}{message}{tok}")


class NetlistWarning(UserWarning):
    """Input that JoSIM accepts with a warning (physnn warns too and goes on; ``strict=True``
    turns it into a :class:`NetlistError`)."""


class LineNo(int):
    """A line number (``int``) that remembers its file (lines pulled in by ``.include``)."""

    src: str | None = None

    def __new__(cls, value: int, src: str | None = None):
        obj = super().__new__(cls, value)
        obj.src = src
        return obj

    def __reduce__(self):
        return (LineNo, (int(self), self.src))


def where(line, default: str | None = None) -> str:
    src = getattr(line, "src", None) or default
    return f"{src + ' ' if src else ''}line {int(line)}" if line is not None else (src or "<netlist>")


def warn(message: str, *, line=None, token: str | None = None, strict: bool = False, src: str | None = None) -> None:
    """JoSIM-style warning: a :class:`NetlistWarning` naming the line, or an error when strict."""
    if strict:
        raise NetlistError(
            message + " (strict=True)", line=line, token=token, source=None if getattr(line, "src", None) else src
        )
    tok = f" (token {token!r})" if token is not None else ""
    warnings.warn(f"{where(line, src)}: {message}{tok}", NetlistWarning, stacklevel=4)


# --------------------------------------------------------------------------------------------
