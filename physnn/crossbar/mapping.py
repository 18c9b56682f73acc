"""Weight -> conductance mapping: conductance range, differential pair, reference column, levels.

Convention: a weight matrix ``w`` of shape ``(..., out, in)`` (``torch.nn.Linear`` layout) maps to
devices of the same shape; device ``(o, i)`` sits between input row ``i`` and output column ``o``.
``w_max`` is the weight that maps to the full conductance swing ``g_max - g_min``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ._common import as_tensor_input, positive_scale, round_ste
from .params import AbstractDeviceEffect, param

__all__ = [
    "ConductanceRange",
    "DifferentialPair",
    "ReferenceColumn",
    "weights_to_conductances",
    "conductances_to_weights",
    "quantize_levels",
]


@dataclass(frozen=True)
class ConductanceRange(AbstractDeviceEffect):
    """Programmable conductance window of one device.

    Parameters
    ----------
    g_min, g_max : float
        Lowest / highest programmable conductance in S, ``0 <= g_min < g_max``.
    levels : int, optional
        Number of distinguishable, equally spaced programmed levels (>= 2); ``None``: analog.
    """

    card_section = "conductance"
    card_doc = "programmable conductance range of one device"

    g_min: float = param(
        units="S",
        lo=0.0,
        card_required=True,
        long_name="minimum programmable conductance",
        doc="lowest programmable conductance",
    )
    g_max: float = param(
        units="S",
        lo=0.0,
        lo_open=True,
        card_required=True,
        long_name="maximum programmable conductance",
        doc="highest programmable conductance",
    )
    levels: int | None = param(
        None,
        units="1",
        kind="int",
        lo=2,
        long_name="programmable conductance levels",
        doc="distinguishable programmed levels",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.g_max <= self.g_min:
            raise ValueError(f"g_max={self.g_max!r}: must be > g_min={self.g_min!r} (inverted or empty range)")

    @property
    def swing(self) -> float:
        """``g_max - g_min`` in S."""
        return self.g_max - self.g_min

    @property
    def is_ideal(self) -> bool:
        """True for an analog window (``levels`` None): no level quantisation."""
        return self.levels is None

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "ConductanceRange":
        """Range of a :class:`physnn.cards.DeviceCard` (``[conductance]`` section)."""
        return super().from_card(card, **overrides)


@dataclass(frozen=True)
class DifferentialPair:
    """Two devices per weight: ``w ∝ g_plus - g_minus``; the unused device sits at ``g_min``."""

    range: ConductanceRange

    def __post_init__(self) -> None:
        if not isinstance(self.range, ConductanceRange):
            raise TypeError(f"range: expected a ConductanceRange, got {type(self.range).__name__}")


@dataclass(frozen=True)
class ReferenceColumn:
    """One device per weight plus a shared reference column at mid-range: ``w ∝ g - g_ref``.

    ``g_ref = (g_min + g_max) / 2`` (:attr:`reference_conductance`); ``w = ±w_max`` maps to
    ``g_max`` / ``g_min``.
    """

    range: ConductanceRange

    def __post_init__(self) -> None:
        if not isinstance(self.range, ConductanceRange):
            raise TypeError(f"range: expected a ConductanceRange, got {type(self.range).__name__}")

    @property
    def reference_conductance(self) -> float:
        """Conductance of the reference-column devices in S."""
        return 0.5 * (self.range.g_min + self.range.g_max)


def _check_scheme(scheme: Any) -> None:
    if not isinstance(scheme, (DifferentialPair, ReferenceColumn)):
        raise TypeError(f"scheme: expected DifferentialPair or ReferenceColumn, got {type(scheme).__name__}")


def weights_to_conductances(
    w: torch.Tensor, scheme: DifferentialPair | ReferenceColumn, *, w_max: float | torch.Tensor
) -> torch.Tensor:
    """Target conductances (S) of the weights ``w``.

    Parameters
    ----------
    w : Tensor
        Weights of any shape (leading ensemble dim allowed). Must be finite.
    scheme : DifferentialPair or ReferenceColumn
    w_max : float or Tensor
        Weight mapped to the full swing (> 0; a tensor broadcastable to ``w``, e.g. one value per
        ensemble member of shape ``(E, 1, 1)``). Weights with ``|w| > w_max`` saturate at the
        range ends (a device cannot be programmed beyond ``g_max``); their gradient is zero.

    Returns
    -------
    Tensor
        DifferentialPair: shape ``(2, *w.shape)`` holding ``(g_plus, g_minus)``.
        ReferenceColumn: shape ``w.shape``; the reference device is
        ``scheme.reference_conductance``. Always inside ``[g_min, g_max]``; differentiable
        (piecewise linear) in ``w``.
    """
    _check_scheme(scheme)
    w = as_tensor_input(w, "w")
    w_max = positive_scale(w_max, "w_max")
    r = scheme.range
    x = torch.clamp(w / w_max, -1.0, 1.0)
    if isinstance(scheme, DifferentialPair):
        g = torch.stack((r.g_min + r.swing * torch.relu(x), r.g_min + r.swing * torch.relu(-x)))
    else:
        g = scheme.reference_conductance + 0.5 * r.swing * x
    return torch.clamp(g, r.g_min, r.g_max)  # only removes floating-point round-off at the ends


def conductances_to_weights(
    g: torch.Tensor,
    scheme: DifferentialPair | ReferenceColumn,
    *,
    w_max: float | torch.Tensor,
    g_reference: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Weights read back from conductances (inverse of :func:`weights_to_conductances`).

    Parameters
    ----------
    g : Tensor
        DifferentialPair: shape ``(2, ...)`` (g_plus, g_minus). ReferenceColumn: any shape.
        Conductances may lie outside the range (noise, drift); no clipping is done.
    w_max : float or Tensor
        Same as used for the mapping.
    g_reference : float or Tensor, optional
        ReferenceColumn only: actual (e.g. noisy) reference conductance(s), broadcastable to
        ``g``; default the nominal ``scheme.reference_conductance``.
    """
    _check_scheme(scheme)
    g = as_tensor_input(g, "g")
    w_max = positive_scale(w_max, "w_max")
    r = scheme.range
    if isinstance(scheme, DifferentialPair):
        if g.dim() == 0 or g.shape[0] != 2:
            raise ValueError(
                f"g: DifferentialPair needs a leading dimension of 2 (g_plus, g_minus), got shape {tuple(g.shape)}"
            )
        return (g[0] - g[1]) * (w_max / r.swing)
    g_ref = scheme.reference_conductance if g_reference is None else g_reference
    return (g - g_ref) * (2.0 * w_max / r.swing)


def quantize_levels(g: torch.Tensor, range: ConductanceRange) -> torch.Tensor:  # noqa: A002
    """Round conductances to the ``range.levels`` equally spaced levels of ``[g_min, g_max]``.

    Values outside the range are first clamped to it (targets beyond the window cannot be
    programmed). Gradient: straight-through (identity) inside the range, zero outside.
    ``range.levels is None`` (analog device) returns ``g`` unchanged.
    """
    if not isinstance(range, ConductanceRange):
        raise TypeError(f"range: expected a ConductanceRange, got {type(range).__name__}")
    g = as_tensor_input(g, "g")
    if range.levels is None:
        return g
    step = range.swing / (range.levels - 1)
    gc = torch.clamp(g, range.g_min, range.g_max)
    return range.g_min + round_ste((gc - range.g_min) / step) * step
