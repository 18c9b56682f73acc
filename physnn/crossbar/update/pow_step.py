"""Power step device: the step is a power of the distance to the bound.

Up: ``dw = dw_up (2 v)^gamma_up``, ``v = (w_max - w) / (w_max - w_min)``; down:
``dw = dw_down (2 u)^gamma_down``, ``u = (w - w_min) / (w_max - w_min)`` (aihwkit
``PowStepDevice``): the step at mid-range is ``dw_up``; ``gamma = 1`` with symmetric bounds is soft
bounds. Continuum limit of ``n`` up pulses (``gamma != 1``):
``v_n^(1 - gamma) = v_0^(1 - gamma) + (gamma - 1) n 2^gamma dw_up / span``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..params import param
from .base import AbstractUpdateModel, PulseParams

__all__ = ["PowStep"]


@dataclass(frozen=True, kw_only=True)
class PowStep(AbstractUpdateModel):
    """Step ``∝ (distance to the bound)^gamma`` (``gamma_up``, ``gamma_down`` > 0; normalised weight units)."""

    gamma_up: float = param(
        1.0, units="1", long_name="exponent of the up step", doc="exponent of the up step", lo=0.0, lo_open=True
    )
    gamma_down: float = param(
        1.0, units="1", long_name="exponent of the down step", doc="exponent of the down step", lo=0.0, lo_open=True
    )
    card_model: ClassVar[str] = "pow_step"

    def up_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        v = ((p.w_max - w) / (p.w_max - p.w_min)).clamp(min=0.0)
        return p.dw_up * (2.0 * v) ** p.gamma_up

    def down_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        u = ((w - p.w_min) / (p.w_max - p.w_min)).clamp(min=0.0)
        return p.dw_down * (2.0 * u) ** p.gamma_down
