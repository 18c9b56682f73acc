"""Click parameter types of the ``physnn`` command (standard library only)."""

from __future__ import annotations

import re

import click

from ..josephson.netlist.values import scale_factor  # the netlists' suffix table (standard library only)

# a number with the scale suffixes of SPICE/JoSIM netlists (case-insensitive; "meg" before "m";
# "µ" for "u"), optionally followed by a unit ("100ps", "2.5ns", "1e-10")
_NUM = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Zµ]*)\s*$")


def parse_si(text: str, unit: str = "s") -> float:
    """``"100p"`` / ``"100ps"`` / ``"1e-10"`` -> float (SI), as netlists write numbers."""
    m = _NUM.match(str(text))
    if m is None:
        raise ValueError(f"{text!r} is not a number (write e.g. 100p, 0.25ps or 1e-10)")
    base, suffix = float(m.group(1)), m.group(2).replace("µ", "u")
    factor = scale_factor(suffix, {"", unit.upper()})
    if factor is not None:
        return base if factor == 1.0 else base * factor
    raise ValueError(f"{text!r}: unknown suffix {m.group(2)!r} (f p n u m k meg g t, optionally + {unit!r})")


class SIValue(click.ParamType):
    """A number with an optional SPICE scale suffix (``100p``, ``0.25ps``, ``1e-10``)."""

    name = "VALUE"

    def __init__(self, unit: str = "s"):
        self.unit = unit

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            v = parse_si(value, self.unit)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if not v > 0:
            self.fail(f"{value!r} must be > 0", param, ctx)
        return v


class InputError(click.ClickException):
    """Bad input found after parsing (a file's content, a spec): exit status 2."""

    exit_code = 2
