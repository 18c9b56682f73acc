"""Technology numbers of the chip-cost model: a frozen :class:`CostTechnology` read from a card's
``[cost]`` section (SI units; every number on the card has its source).

Fields are floats or 0-dim tensors: a tensor with ``requires_grad`` makes every cost that uses it
differentiable in it (design optimisation of continuous parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Union

import torch

__all__ = ["CostTechnology", "Number", "check_number"]

#: a continuous config value: a float, or a 0-dim floating tensor (differentiable)
Number = Union[float, torch.Tensor]


def check_number(v: Any, name: str, *, allow_zero: bool = True) -> Number:
    """``v`` as a finite float >= 0 (> 0 unless ``allow_zero``) or a 0-dim floating tensor of such a
    value; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(v, torch.Tensor):
        if v.dim() != 0 or not v.is_floating_point():
            raise ValueError(f"{name}: a tensor value must be a 0-dim floating tensor, got {tuple(v.shape)} {v.dtype}")
        x = float(v.detach())
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        x = float(v)
    else:
        raise ValueError(f"{name}: expected a number, got {type(v).__name__}")
    if not (x == x and abs(x) != float("inf")) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name}={x!r}: must be finite and {'>=' if allow_zero else '>'} 0")
    return v if isinstance(v, torch.Tensor) else x


@dataclass(frozen=True, kw_only=True)
class CostTechnology:
    """Per-component technology numbers (SI units) of one process node and memory cell.

    Parameters
    ----------
    feature_size : float
        Feature size F in m (cell area unit F^2).
    cell_area : float
        Memory-cell area in F^2.
    t_read : float
        Read pulse width per input cycle in s.
    clock_period : float
        Digital clock period in s (one SAR bit cycle, one ramp step, one adder stage).
    adc_fom : float
        Walden figure of merit in J per conversion step: one conversion of a ``b``-bit ADC costs
        ``adc_fom * 2**b``.
    adc_area : float
        Area of one ADC in m^2.
    sense_amp_energy : float
        Sense-amplifier / integrator energy per conversion in J.
    dac_energy : float
        Row driver / DAC energy per driven row and input cycle in J.
    dac_area : float
        Area of one row driver in m^2.
    adder_energy_per_bit, adder_area_per_bit : float
        Digital adder energy (J) and area (m^2) per bit of an addition.
    buffer_energy_per_bit, buffer_area_per_bit : float
        Buffer access energy (J) and storage area (m^2) per bit.
    interconnect_energy_per_bit : float
        Energy per toggling bit moved between tiles and buffers in J.
    programming_energy_per_pulse : float
        Energy of one programming pulse of one device in J.
    programming_pulse_width : float
        Duration of one programming pulse in s.
    """

    feature_size: Number
    cell_area: Number
    t_read: Number
    clock_period: Number
    adc_fom: Number
    adc_area: Number = 0.0
    sense_amp_energy: Number = 0.0
    dac_energy: Number = 0.0
    dac_area: Number = 0.0
    adder_energy_per_bit: Number = 0.0
    adder_area_per_bit: Number = 0.0
    buffer_energy_per_bit: Number = 0.0
    buffer_area_per_bit: Number = 0.0
    interconnect_energy_per_bit: Number = 0.0
    programming_energy_per_pulse: Number = 0.0
    programming_pulse_width: Number = 0.0

    def __post_init__(self) -> None:
        strict = ("feature_size", "cell_area", "t_read", "clock_period", "adc_fom")
        for f in fields(self):
            object.__setattr__(
                self, f.name, check_number(getattr(self, f.name), f.name, allow_zero=f.name not in strict)
            )

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> "CostTechnology":
        """The ``[cost]`` section of a card (e.g. ``"rram_neurosim_22nm"``); ``overrides`` replace fields."""
        from ...cards import load_card

        card = load_card(card)
        if "cost" not in card:
            raise ValueError(
                f"card {card.name!r} has no [cost] section (cards with one: rram_neurosim_22nm, rram_40nm)"
            )
        kw: dict[str, Any] = dict(card["cost"])
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"overrides: unknown CostTechnology fields {sorted(unknown)}")
        kw.update(overrides)
        return cls(**kw)
