"""Argument checks shared by every subpackage: each raises ValueError/TypeError naming the parameter."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["check_finite", "check_positive", "check_int_range", "check_interval", "check_probability"]


def check_finite(x: Any, name: str) -> None:
    """Raise ``ValueError`` if tensor/array/number ``x`` holds NaN or inf."""
    if isinstance(x, torch.Tensor):
        if x.is_floating_point() or x.is_complex():
            bad = ~torch.isfinite(x)
            if bool(bad.any()):
                n = int(bad.sum())
                raise ValueError(f"{name}: {n} non-finite value(s) (NaN or inf) of {x.numel()}")
        return
    try:
        import numpy as np

        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number or array, got {type(x).__name__}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: non-finite value(s) (NaN or inf)")


def check_positive(x: float, name: str, *, allow_zero: bool = False) -> float:
    """Return ``float(x)``; raise ``ValueError`` unless finite and > 0 (>= 0 with ``allow_zero``)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number, got {x!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}={x!r}: must be finite and {rel}")
    return v


def check_int_range(x: int, name: str, lo: int, hi: int | None = None) -> int:
    """Return ``x``; raise unless it is an int in ``[lo, hi]``."""
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{name}: expected an integer, got {x!r}")
    if x < lo or (hi is not None and x > hi):
        span = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name}={x}: must be in {span}")
    return x


def check_interval(lo: float, hi: float, name: str) -> tuple[float, float]:
    """Return ``(lo, hi)`` as floats; raise unless finite with ``lo < hi``."""
    lo_f, hi_f = float(lo), float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)) or lo_f >= hi_f:
        raise ValueError(f"{name}=({lo!r}, {hi!r}): need finite lo < hi")
    return lo_f, hi_f


def check_probability(p: float, name: str) -> float:
    """Return ``float(p)``; raise unless ``0 <= p <= 1``."""
    v = float(p)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name}={p!r}: must be a probability in [0, 1]")
    return v
