"""Numbers of a netlist: SPICE / JoSIM scale suffixes (the one table, used by the netlist parser
and the CLI) and :func:`parse_value`.

Standard library only (importing it pulls in no numerics). JoSIM v2.7 reads ``f`` as femto (so
``1F`` is 1 fF), ``m`` as milli, ``meg`` and ``x`` as mega, ``mil`` as 25.4 um; letters after the
suffix name a unit and are ignored (``2.8mV``, ``0.25ps``).
"""

from __future__ import annotations

import re
from types import MappingProxyType

from .errors import NetlistError

__all__ = ["SCALE_SUFFIXES", "UNITS", "UNIT_FACTORS", "scale_factor", "parse_value"]

#: (suffix, factor), upper case; longer suffixes first where one is a prefix of another (MEG, MIL before M)
SCALE_SUFFIXES: tuple[tuple[str, float], ...] = (
    ("MEG", 1e6),
    ("MIL", 25.4e-6),
    ("F", 1e-15),
    ("P", 1e-12),
    ("N", 1e-9),
    ("U", 1e-6),
    ("M", 1e-3),
    ("K", 1e3),
    ("X", 1e6),
    ("G", 1e9),
    ("T", 1e12),
)


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
        if s.startswith(name) and s[len(name) :] in units:
            return factor
    return 1.0 if s in units else None


#: unit letters JoSIM ignores after a number (and its scale suffix)
UNITS = frozenset({"", "V", "A", "H", "F", "OHM", "OHMS", "S", "HZ", "W", "WB", "C", "K", "R", "SEC"})


def _factor_table(units) -> MappingProxyType:
    """Every ``suffix + unit`` and bare unit -> factor, as :func:`scale_factor` resolves them (the
    first matching suffix of SCALE_SUFFIXES wins, a bare unit only when no suffix matches)."""
    table = dict.fromkeys(units, 1.0)
    for name, factor in reversed(SCALE_SUFFIXES):
        for unit in units:
            table[name + unit] = factor
    return MappingProxyType(table)


#: the letters after a netlist number -> factor (:func:`scale_factor` with :data:`UNITS`, precomputed)
UNIT_FACTORS = _factor_table(UNITS)
_NUM_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[E][+-]?\d+)?)([A-Z]*)$")


def parse_value(token: str, *, line: int | None = None) -> float:
    """Convert one number with an optional JoSIM scale suffix to ``float`` (SI).

    >>> parse_value("0.07pF"), parse_value("1F"), parse_value("2.8mV"), parse_value("1meg")
    (7e-14, 1e-15, 0.0028, 1000000.0)
    """
    t = token.strip().upper()
    m = _NUM_RE.match(t)
    if m is None:
        raise NetlistError("not a number", line=line, token=token)
    base = float(m.group(1))
    factor = UNIT_FACTORS.get(m.group(2))
    if factor is None:
        raise NetlistError("unknown scale suffix or unit", line=line, token=token)
    return base if factor == 1.0 else base * factor
