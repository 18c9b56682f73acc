"""SPICE / JoSIM number scale suffixes: the one table, used by the netlist parser and the CLI.

Standard library only (importing it pulls in no numerics). JoSIM v2.7 reads ``f`` as femto (so
``1F`` is 1 fF), ``m`` as milli, ``meg`` and ``x`` as mega, ``mil`` as 25.4 um; letters after the
suffix name a unit and are ignored (``2.8mV``, ``0.25ps``).
"""

from __future__ import annotations

__all__ = ["SCALE_SUFFIXES", "scale_factor"]

#: (suffix, factor), upper case; longer suffixes first where one is a prefix of another (MEG, MIL before M)
SCALE_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("MEG", 1e6), ("MIL", 25.4e-6), ("F", 1e-15), ("P", 1e-12), ("N", 1e-9), ("U", 1e-6),
    ("M", 1e-3), ("K", 1e3), ("X", 1e6), ("G", 1e9), ("T", 1e12))


def scale_factor(suffix: str, units) -> float | None:
    """Factor of the letters after a number: a scale suffix optionally followed by one of
    ``units`` (upper-case strings, ``""`` for none), else a bare unit (1.0); None if neither.

    >>> scale_factor("pF", {"", "F"}), scale_factor("MEG", {""}), scale_factor("V", {"", "V"})
    (1e-12, 1000000.0, 1.0)
    """
    s = suffix.upper()
    if s == "":
        return 1.0
    for name, factor in SCALE_SUFFIXES:
        if s.startswith(name) and s[len(name):] in units:
            return factor
    return 1.0 if s in units else None
