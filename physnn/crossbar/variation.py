"""Device-to-device (fixed per device) and cycle-to-cycle (per programming) conductance variation.

Both are multiplicative and lognormal with unit mean: ``g' = g exp(s n - s**2 / 2)``,
``s = sqrt(ln(1 + cv**2))``, ``n ~ N(0, 1)``, so that ``E[g'] = g`` and ``std(g') / g = cv``
exactly (``cv`` = the configured relative spread, the coefficient of variation that device papers
report) and ``g' >= 0`` always. A lognormal keeps conductances positive without clipping and is
the usual description of RRAM state spreads (e.g. Wan et al., Nature 608, 504 (2022),
doi:10.1038/s41586-022-04992-8). Variation may move a conductance outside ``[g_min, g_max]``
(each device has its own window); pass ``range`` to clamp into the nominal window instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ._common import as_tensor_input, randn_like
from .mapping import ConductanceRange
from .params import AbstractDeviceEffect, param

__all__ = ["DeviceVariation", "apply_device_variation", "apply_cycle_variation"]


@dataclass(frozen=True)
class DeviceVariation(AbstractDeviceEffect):
    """Relative (coefficient-of-variation) spreads, dimensionless, >= 0.

    Parameters
    ----------
    device_to_device_rel : float
        Spread between devices programmed to the same target; drawn once per device.
    cycle_to_cycle_rel : float
        Spread between successive programming cycles of one device; drawn per programming.
    """

    card_section = "variation"
    card_doc = "device-to-device and cycle-to-cycle spread of the programmed conductance"

    device_to_device_rel: float = param(0.0, units="1", lo=0.0, long_name="device-to-device relative spread")
    cycle_to_cycle_rel: float = param(0.0, units="1", lo=0.0, long_name="cycle-to-cycle relative spread")

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "DeviceVariation":
        """From the ``[variation]`` section of a card."""
        return super().from_card(card, **overrides)


def _lognormal_unit_mean(
    g: torch.Tensor, cv: float, generator: torch.Generator | None, range: ConductanceRange | None
) -> torch.Tensor:  # noqa: A002
    if range is not None and not isinstance(range, ConductanceRange):
        raise TypeError(f"range: expected a ConductanceRange or None, got {type(range).__name__}")
    if cv == 0.0:
        out = g
    else:
        s = math.sqrt(math.log1p(cv * cv))
        with torch.no_grad():
            factor = torch.exp(s * randn_like(g, generator) - 0.5 * s * s)
        out = g * factor
    if range is not None:
        out = torch.clamp(out, range.g_min, range.g_max)
    return out


def apply_device_variation(
    g: torch.Tensor,
    cfg: DeviceVariation,
    *,
    generator: torch.Generator | None = None,
    range: ConductanceRange | None = None,
) -> torch.Tensor:  # noqa: A002
    """Apply device-to-device variation (call once per device instance, at programming).

    ``g`` (S) of any shape; a leading ensemble dimension gives ``E`` independent arrays.
    Differentiable in ``g`` (multiplication by a fixed random factor).
    """
    if not isinstance(cfg, DeviceVariation):
        raise TypeError(f"cfg: expected a DeviceVariation, got {type(cfg).__name__}")
    g = as_tensor_input(g, "g")
    return _lognormal_unit_mean(g, cfg.device_to_device_rel, generator, range)


def apply_cycle_variation(
    g: torch.Tensor,
    cfg: DeviceVariation,
    *,
    generator: torch.Generator | None = None,
    range: ConductanceRange | None = None,
) -> torch.Tensor:  # noqa: A002
    """Apply cycle-to-cycle variation (call at every programming cycle)."""
    if not isinstance(cfg, DeviceVariation):
        raise TypeError(f"cfg: expected a DeviceVariation, got {type(cfg).__name__}")
    g = as_tensor_input(g, "g")
    return _lognormal_unit_mean(g, cfg.cycle_to_cycle_rel, generator, range)
