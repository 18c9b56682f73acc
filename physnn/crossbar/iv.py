"""Device current-voltage law: linear (ohmic) or sinh-type nonlinear.

``SinhIV``: ``I = G v_nl sinh(V / v_nl)``, normalised so the small-signal conductance
``dI/dV(0) = G``; the current at the read voltage exceeds ``G V`` by ``sinh(u)/u``, ``u = V/v_nl``
(a common compact model of the tunnelling-gap current of filamentary RRAM cells; the RRAM cards
give ``v_nl`` with its source). ``v_nl -> inf`` recovers the linear law.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ._common import as_tensor_input
from .params import AbstractDeviceEffect, param

__all__ = ["LinearIV", "SinhIV", "iv_from_card", "device_current", "device_conductance"]


_IV_DOC = "nonlinear current-voltage law I = G V_nl sinh(V / V_nl) scaled so dI/dV(0) = G"


@dataclass(frozen=True)
class LinearIV(AbstractDeviceEffect):
    """Ohmic device: ``I = G V``."""

    card_section = "iv"
    card_doc = _IV_DOC
    card_model = "linear"

    @property
    def is_ideal(self) -> bool:
        """True: the ohmic law is the ideal read."""
        return True

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "LinearIV":
        """A ``LinearIV`` (any card; kept for a uniform interface; it has no field to override)."""
        return cls(**overrides)


@dataclass(frozen=True)
class SinhIV(AbstractDeviceEffect):
    """Nonlinear device ``I = G v_nl sinh(V / v_nl)``.

    Parameters
    ----------
    v_nl : float
        Voltage scale of the nonlinearity in V (> 0).
    """

    card_section = "iv"
    card_doc = _IV_DOC
    card_model = "sinh"

    v_nl: float = param(
        units="V",
        lo=0.0,
        lo_open=True,
        long_name="sinh I-V nonlinearity voltage",
        doc="sinh: voltage scale of the nonlinearity",
    )

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "SinhIV":
        """From ``[iv]`` of a card whose ``model = "sinh"``; ``overrides``: any field."""
        from ..cards import load_card

        card = load_card(card)
        sec = card["iv"]
        if sec["model"] != "sinh" or "v_nl" not in sec:
            raise ValueError(f"card {card.name!r}: [iv] must have model = 'sinh' and v_nl for SinhIV")
        return cls(**{"v_nl": sec["v_nl"], **overrides})


def iv_from_card(card: Any) -> LinearIV | SinhIV:
    """The I-V law of a card's ``[iv]`` section (``LinearIV`` if the card has none)."""
    from ..cards import load_card

    card = load_card(card)
    if "iv" not in card or card["iv"]["model"] == "linear":
        return LinearIV()
    return SinhIV.from_card(card)


def _check_cfg(cfg: Any) -> None:
    if not isinstance(cfg, (LinearIV, SinhIV)):
        raise TypeError(f"cfg: expected LinearIV or SinhIV, got {type(cfg).__name__}")


def device_current(g: torch.Tensor, v: torch.Tensor, cfg: LinearIV | SinhIV, *, check: bool = True) -> torch.Tensor:
    """Current (A) through devices of small-signal conductance ``g`` (S) at voltage ``v`` (V).

    ``g`` and ``v`` broadcast against each other. Differentiable in both; odd in ``v``.
    """
    _check_cfg(cfg)
    if check:
        g = as_tensor_input(g, "g")
        v = as_tensor_input(v, "v")
    if isinstance(cfg, LinearIV):
        return g * v
    return g * (cfg.v_nl * torch.sinh(v / cfg.v_nl))


def device_conductance(g: torch.Tensor, v: torch.Tensor, cfg: LinearIV | SinhIV) -> torch.Tensor:
    """Differential conductance ``dI/dV`` (S) at voltage ``v``: ``g cosh(v / v_nl)`` for SinhIV."""
    _check_cfg(cfg)
    if isinstance(cfg, LinearIV):
        return g * torch.ones_like(v)
    return g * torch.cosh(v / cfg.v_nl)
