"""Sense amplifier / integrator in front of each ADC: a fixed energy per conversion."""

from __future__ import annotations

from .technology import Number

__all__ = ["sense_amp_energy"]


def sense_amp_energy(conversions: float, energy_per_conversion: Number) -> Number:
    """Energy in J of ``conversions`` column conversions at ``energy_per_conversion`` J each."""
    if conversions < 0:
        raise ValueError(f"conversions={conversions!r}: must be >= 0")
    return energy_per_conversion * float(conversions)
