"""Click parameter types of the ``physnn`` command (standard library only)."""

from __future__ import annotations

import re

import click

# the scale suffixes of SPICE/JoSIM netlists (case-insensitive; "meg" before "m"), optionally
# followed by a unit ("100ps", "2.5ns", "1e-10")
_NUM = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Zµ]*)\s*$")
_SCALE = (("meg", 1e6), ("mil", 25.4e-6), ("f", 1e-15), ("p", 1e-12), ("n", 1e-9), ("u", 1e-6), ("µ", 1e-6),
          ("m", 1e-3), ("k", 1e3), ("g", 1e9), ("t", 1e12))


def parse_si(text: str, unit: str = "s") -> float:
    """``"100p"`` / ``"100ps"`` / ``"1e-10"`` -> float (SI), as netlists write numbers."""
    m = _NUM.match(str(text))
    if m is None:
        raise ValueError(f"{text!r} is not a number (write e.g. 100p, 0.25ps or 1e-10)")
    base, suffix = float(m.group(1)), m.group(2).lower()
    if suffix in ("", unit.lower()):
        return base
    for name, scale in _SCALE:
        if suffix.startswith(name) and suffix[len(name):] in ("", unit.lower()):
            return base * scale
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
