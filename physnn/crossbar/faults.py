"""Stuck-at faults: devices frozen at ``g_max`` (stuck-at-ON, SA1) or ``g_min`` (stuck-at-OFF, SA0).

Each device independently is stuck-ON with probability ``stuck_on_rate``, stuck-OFF with
``stuck_off_rate`` (mutually exclusive; their sum must be <= 1), else healthy. Masks are drawn
once per device instance; a stuck device ignores programming, noise and drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ._common import as_tensor_input
from .mapping import ConductanceRange
from .params import AbstractDeviceEffect, param

__all__ = ["StuckAtFaults", "sample_fault_masks", "apply_faults"]


@dataclass(frozen=True)
class StuckAtFaults(AbstractDeviceEffect):
    """Fault rates (probabilities per device).

    Parameters
    ----------
    stuck_on_rate : float
        Probability of stuck at ``g_max`` (SA1).
    stuck_off_rate : float
        Probability of stuck at ``g_min`` (SA0).
    """

    card_section = "faults"
    card_doc = "fraction of devices stuck regardless of programming"

    stuck_on_rate: float = param(
        0.0, units="1", lo=0.0, hi=1.0, long_name="stuck-at-ON fraction", doc="stuck at g_max (stuck-at-ON / SA1)"
    )
    stuck_off_rate: float = param(
        0.0, units="1", lo=0.0, hi=1.0, long_name="stuck-at-OFF fraction", doc="stuck at g_min (stuck-at-OFF / SA0)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stuck_on_rate + self.stuck_off_rate > 1.0:
            raise ValueError(
                f"stuck_on_rate + stuck_off_rate = {self.stuck_on_rate + self.stuck_off_rate!r}: must be <= 1"
            )

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "StuckAtFaults":
        """From the ``[faults]`` section of a card."""
        return super().from_card(card, **overrides)


def sample_fault_masks(
    shape: tuple[int, ...] | torch.Size,
    cfg: StuckAtFaults,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``(stuck_on, stuck_off)`` boolean masks of ``shape`` (disjoint).

    ``shape`` may include a leading ensemble dimension (independent draws per entry).
    """
    if not isinstance(cfg, StuckAtFaults):
        raise TypeError(f"cfg: expected a StuckAtFaults, got {type(cfg).__name__}")
    try:
        shape = torch.Size(shape)
    except TypeError:
        raise TypeError(f"shape: expected a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape={tuple(shape)}: sizes must be >= 0")
    u = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    stuck_on = u < cfg.stuck_on_rate
    stuck_off = (u >= cfg.stuck_on_rate) & (u < cfg.stuck_on_rate + cfg.stuck_off_rate)
    return stuck_on, stuck_off


def apply_faults(g: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor], range: ConductanceRange) -> torch.Tensor:  # noqa: A002
    """Set stuck devices of ``g`` to ``range.g_max`` (ON) / ``range.g_min`` (OFF).

    ``masks`` from :func:`sample_fault_masks`, broadcastable to ``g``. Gradient is zero at stuck
    devices and identity elsewhere.
    """
    if not isinstance(range, ConductanceRange):
        raise TypeError(f"range: expected a ConductanceRange, got {type(range).__name__}")
    g = as_tensor_input(g, "g")
    if not (isinstance(masks, (tuple, list)) and len(masks) == 2):
        raise TypeError("masks: expected a (stuck_on, stuck_off) pair of bool tensors")
    on, off = masks
    for name, m in (("masks[0] (stuck_on)", on), ("masks[1] (stuck_off)", off)):
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise TypeError(f"{name}: expected a bool tensor")
        try:
            torch.broadcast_shapes(m.shape, g.shape)
        except RuntimeError:
            raise ValueError(f"{name}: shape {tuple(m.shape)} does not broadcast to g {tuple(g.shape)}") from None
    g = torch.where(on, torch.as_tensor(range.g_max, dtype=g.dtype, device=g.device), g)
    return torch.where(off, torch.as_tensor(range.g_min, dtype=g.dtype, device=g.device), g)
