"""Linear step device: the step of a pulse falls linearly with the state.

Up: ``dw = dw_up (1 - gamma_up w / w_max)``; down: ``dw = dw_down (1 - gamma_down w / w_min)``
(``w_min < 0``), steps clipped at 0, states at the bounds (aihwkit ``LinearStepDevice``, with the
device's own bounds in the slope). The recurrence is linear, so ``n`` pulses have a closed form:
``w_n = w_0 + a_0 (1 - (1 - c)^n) / c`` with ``a_0`` the first step and ``c = dw_up gamma_up / w_max``
(up) or ``c = dw_down gamma_down / |w_min|`` (down).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import AbstractUpdateModel, PulseParams

__all__ = ["LinearStep"]


def _geometric(n: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``(1 - (1 - c)^n) / c`` (``n`` where ``c = 0``)."""
    safe = torch.where(c > 0, c, torch.ones_like(c))
    return torch.where(c > 0, -torch.expm1(n * torch.log1p(-safe.clamp(max=1.0 - 1e-12))) / safe, n)


@dataclass(frozen=True, kw_only=True)
class LinearStep(AbstractUpdateModel):
    """Step falling linearly with the state (slopes ``gamma_up``, ``gamma_down``; normalised
    weight units). ``gamma = 0`` is the constant step, ``gamma = 1`` soft bounds."""

    card_model: ClassVar[str] = "linear_step"

    def up_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        return (p.dw_up * (1.0 - p.gamma_up * w / p.w_max)).clamp(min=0.0)

    def down_step(self, w: torch.Tensor, p: PulseParams) -> torch.Tensor:
        w_min = torch.where(p.w_min < 0, p.w_min, -torch.ones_like(p.w_min))
        return (p.dw_down * (1.0 - p.gamma_down * w / w_min)).clamp(min=0.0)

    def closed_form(self, w: torch.Tensor, n: torch.Tensor, p: PulseParams) -> torch.Tensor | None:
        w_min_s = torch.where(p.w_min < 0, p.w_min, -torch.ones_like(p.w_min))
        c_up = p.dw_up * p.gamma_up / p.w_max
        c_dn = p.dw_down * p.gamma_down / w_min_s.abs()
        if bool((c_up >= 1).any()) or bool((c_dn >= 1).any()) or bool((c_up < 0).any()) or bool((c_dn < 0).any()):
            return None  # overshooting / growing steps: no closed form
        nf = n.abs().to(w.dtype)
        up = w + self.up_step(w, p) * _geometric(nf, c_up)
        dn = w - self.down_step(w, p) * _geometric(nf, c_dn)
        out = torch.where(n > 0, up, torch.where(n < 0, dn, w))
        return torch.minimum(torch.maximum(out, p.w_min), p.w_max)
