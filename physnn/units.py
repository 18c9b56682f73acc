"""Units written in cards, sweep specs and the command line: one conversion rule to SI.

A value may be given in its SI unit, with an SI prefix (``"ns"`` for ``"s"``, ``"uS"`` for
``"S"``, ``"kOhm"`` for ``"Ohm"``), as ``"%"`` for a dimensionless ``"1"``, or for seconds as
``min``, ``h``, ``day`` or ``year`` (365.25 days). Dimensionless ``"1"`` and ``"bit"`` take no
prefix.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["unit_factor", "scale_exact", "label", "PREFIX", "TIME_UNITS"]

PREFIX = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
TIME_UNITS = {"min": 60.0, "h": 3600.0, "day": 86400.0, "year": 365.25 * 86400.0}


def unit_factor(given: str, expected: str) -> float | None:
    """Factor turning a value in ``given`` units into ``expected`` (SI) units; None if they differ."""
    if given == expected:
        return 1.0
    if expected == "1" and given == "%":
        return 0.01
    if expected == "s" and given in TIME_UNITS:
        return TIME_UNITS[given]
    if expected not in ("1", "bit") and len(given) > len(expected) and given.endswith(expected):
        return PREFIX.get(given[: -len(expected)])
    return None


def scale_exact(v: float, factor: float) -> float:
    """``v * factor`` without binary round-off for decimal prefixes (25 uS -> 2.5e-05, not 2.4999…e-05)."""
    if factor == 1.0:
        return v
    exp = math.log10(factor)
    if abs(exp - round(exp)) < 1e-12:
        return float(f"{float(v)!r}e{int(round(exp))}")
    return v * factor


def label(ds: Any, **spec: tuple[str, str]) -> Any:
    """Give variables / coordinates of an xarray object their ``units`` and ``long_name`` attrs.

    ``label(ds, current=("A", "bias current"), epoch=("1", "epoch"))``; returns ``ds``. The one
    helper for the house rule that every xarray output says its unit and what it is.

    Raises
    ------
    ValueError
        Naming the entry whose value is not a ``(units, long_name)`` pair of strings.
    """
    for name, pair in spec.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise ValueError(f"{name}={pair!r}: must be a (units, long_name) pair of strings")
        ds[name].attrs.update(units=pair[0], long_name=pair[1])
    return ds
