"""Digital periphery: shift-and-add of bit cycles and weight slices, partial-sum adders across
input tiles, activation buffers and the interconnect between them (energy per bit)."""

from __future__ import annotations

from .technology import Number

__all__ = ["adder_energy", "buffer_energy", "interconnect_energy"]


def adder_energy(additions: float, width_bits: int, energy_per_bit: Number) -> Number:
    """Energy in J of ``additions`` additions of ``width_bits`` bits (ripple adder: energy per bit)."""
    if additions < 0 or width_bits < 0:
        raise ValueError(f"additions={additions!r}, width_bits={width_bits!r}: must be >= 0")
    return energy_per_bit * float(additions * width_bits)


def buffer_energy(bits: float, energy_per_bit: Number) -> Number:
    """Energy in J of reading or writing ``bits`` bits of an activation buffer."""
    if bits < 0:
        raise ValueError(f"bits={bits!r}: must be >= 0")
    return energy_per_bit * float(bits)


def interconnect_energy(bits: float, toggle: float, energy_per_bit: Number) -> Number:
    """Energy in J of moving ``bits`` bits of which a fraction ``toggle`` changes state."""
    if bits < 0 or not 0 <= toggle <= 1:
        raise ValueError(f"bits={bits!r} must be >= 0 and toggle={toggle!r} in [0, 1]")
    return energy_per_bit * float(bits * toggle)
