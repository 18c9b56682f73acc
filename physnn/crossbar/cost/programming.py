"""Programming (write) cost: pulses per device times the card's energy and width per pulse."""

from __future__ import annotations

from .technology import Number

__all__ = ["programming_energy", "programming_time"]


def programming_energy(devices: int, pulses_per_device: float, energy_per_pulse: Number) -> Number:
    """Energy in J to program ``devices`` devices with ``pulses_per_device`` pulses each (e.g. the
    mean pulse count of a write-verify loop)."""
    if devices < 0 or pulses_per_device < 0:
        raise ValueError(f"devices={devices!r}, pulses_per_device={pulses_per_device!r}: must be >= 0")
    return energy_per_pulse * float(devices * pulses_per_device)


def programming_time(rows: int, pulses_per_device: float, pulse_width: Number) -> Number:
    """Time in s to program ``rows`` rows one after another, all devices of a row in parallel."""
    if rows < 0 or pulses_per_device < 0:
        raise ValueError(f"rows={rows!r}, pulses_per_device={pulses_per_device!r}: must be >= 0")
    return pulse_width * float(rows * pulses_per_device)
