"""Soft-bounds device: the step shrinks linearly to zero at the bounds.

Up: ``dw = dw_up (1 - w / w_max)``; down: ``dw = dw_down (1 - w / w_min)`` (aihwkit
``SoftBoundsDevice``; the model of the Tiki-Taka papers, Gokmen & Haensch, Front. Neurosci.
14:103, 2020). Closed form of ``n`` up pulses: ``w_n = w_max - (w_max - w_0)(1 - dw_up / w_max)^n``;
down: ``w_n = w_min + (w_0 - w_min)(1 - dw_down / |w_min|)^n``. The symmetry point (up step = down
step) is ``(dw_up - dw_down) / (dw_up / w_max - dw_down / w_min)``: ``up_down`` for bounds ``±1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .linear_step import LinearStep

__all__ = ["SoftBounds"]


@dataclass(frozen=True, kw_only=True)
class SoftBounds(LinearStep):
    """Linear step with unit slopes (``gamma_up = gamma_down = 1``, no spread of them): the
    spread of the bounds is the spread of the slopes."""

    gamma_up: float = 1.0
    gamma_down: float = 1.0
    card_model: ClassVar[str] = "soft_bounds"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("gamma_up", "gamma_down"):
            if getattr(self, name) != 1.0:
                raise ValueError(
                    f"{name}={getattr(self, name)!r}: a soft-bounds device has unit slope (use LinearStep)"
                )
        if self.gamma_dtod != 0.0:
            raise ValueError(
                f"gamma_dtod={self.gamma_dtod!r}: soft bounds have no slope spread (use w_max_dtod / w_min_dtod)"
            )
