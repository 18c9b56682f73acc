"""Private helpers shared by the crossbar effect modules (argument checks, noise draws, STE)."""

from __future__ import annotations

import math
from typing import Any

import torch

from .._checks import check_finite
from .params import check_params


def as_tensor_input(x: Any, name: str) -> torch.Tensor:
    """Return ``x`` as a floating tensor; raise ``TypeError``/``ValueError`` naming ``name``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    check_finite(x, name)
    return x


def positive_scale(x: float | torch.Tensor, name: str, *, allow_zero: bool = False) -> float | torch.Tensor:
    """Validate a positive scalar or tensor of positive values (e.g. a per-sample range)."""
    if isinstance(x, torch.Tensor):
        check_finite(x, name)
        bad = (x < 0) if allow_zero else (x <= 0)
        if bool(bad.any()):
            raise ValueError(f"{name}: {int(bad.sum())} value(s) not {'>= 0' if allow_zero else '> 0'}")
        return x
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{name}: expected a number or tensor, got {x!r}")
    v = float(x)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name}={x!r}: must be finite and {'>= 0' if allow_zero else '> 0'}")
    return v


def nonneg_float(x: Any, name: str) -> float:
    """``float(x)`` if finite and >= 0, else ``ValueError`` naming ``name``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"{name}: expected a number, got {x!r}")
    v = float(x)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name}={x!r}: must be finite and >= 0")
    return v


def randn_like(g: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal draws of ``g``'s shape, dtype and device (one independent draw per entry)."""
    return torch.randn(g.shape, generator=generator, dtype=g.dtype, device=g.device)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` in the forward pass, identity gradient (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def symmetric_quantize(
    x: torch.Tensor,
    bits: int,
    bound: float | torch.Tensor,
    *,
    out: torch.Tensor | None = None,
    gain: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Saturate ``x`` to ``[-bound, bound]`` and round to ``2**bits - 1`` symmetric levels.

    Levels are ``k * step`` with ``step = 2 bound / (2**bits - 2)`` and
    ``k = -(2**(bits-1) - 1) … 2**(bits-1) - 1`` (so ``bits = 8`` gives a resolution of
    ``bound / 127 = 2 bound / 254``, as aihwkit's ``inp_res = 1/254``). Gradient: identity inside
    ``(-bound, bound)``, zero where saturated (straight-through estimator of the rounding).
    ``gain``: the levels are multiplied by ``gain * step`` (one factor) instead of ``step``.
    ``out``: written in place (may be ``x`` itself), without gradient.
    """
    half = float(2 ** (bits - 1) - 1)
    step = bound / half
    f = step if gain is None else gain * step
    if out is None:
        # (torch's overloads of clamp take both bounds as tensors or both as numbers)
        xc = torch.clamp(x, -bound, bound) if isinstance(bound, torch.Tensor) else torch.clamp(x, -bound, bound)
        return round_ste(xc / step) * f
    if torch.is_grad_enabled() and (x.requires_grad or out.requires_grad):
        raise ValueError("out: the in-place quantiser has no gradient (call it without out)")
    if isinstance(bound, torch.Tensor):
        torch.clamp(x, -bound, bound, out=out)
    else:
        torch.clamp(x, -bound, bound, out=out)
    return out.div_(step).round_().mul_(f)


class SymmetricLevels:
    """Shared part of the DAC and ADC configs: ``2**bits - 1`` levels symmetric about 0 over
    ``±full scale``; subclasses name their full-scale field in ``_full_scale``."""

    _full_scale = ""
    # a field of each subclass (a dataclass); declared here for the properties below
    bits: int

    def __post_init__(self) -> None:
        check_params(self)

    @property
    def levels(self) -> int:
        """Number of levels, ``2**bits - 1``."""
        return 2**self.bits - 1

    @property
    def step(self) -> float:
        """Quantisation step (LSB)."""
        return getattr(self, self._full_scale) / (2 ** (self.bits - 1) - 1)
