"""ADC architectures of the cost model: conversion energy from the Walden figure of merit and
conversion time from the architecture.

The Walden (ISSCC) figure of merit ``FOM = P / (2^ENOB f_s)`` is the energy of one conversion
step (B. Murmann, ADC Performance Survey; B. E. Jonsson, converterpassion.wordpress.com), so one
conversion of a ``b``-bit ADC costs ``FOM * 2^b`` (ENOB taken as the nominal ``b``). Times:

* :class:`SARConverter`: successive approximation, ``b`` clock cycles;
* :class:`RampConverter`: single-slope ramp (as :mod:`physnn.crossbar.ramp_adc`), ``2^b`` steps;
* :class:`FlashConverter`: ``2^b - 1`` comparators in parallel (a multi-level sense amplifier as
  DNN+NeuroSim's default), one clock cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._checks import check_int_range
from .technology import Number

__all__ = ["SARConverter", "RampConverter", "FlashConverter", "conversion_energy", "conversion_time"]


@dataclass(frozen=True, kw_only=True)
class _Converter:
    bits: int = 8

    def __post_init__(self) -> None:
        check_int_range(self.bits, "bits", 1, 24)

    def steps(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class SARConverter(_Converter):
    """Successive-approximation ADC of ``bits`` bits: ``bits`` clock cycles per conversion."""

    def steps(self) -> int:
        return self.bits


@dataclass(frozen=True, kw_only=True)
class RampConverter(_Converter):
    """Single-slope (ramp) ADC of ``bits`` bits: ``2**bits`` clock steps per conversion."""

    def steps(self) -> int:
        return 2**self.bits


@dataclass(frozen=True, kw_only=True)
class FlashConverter(_Converter):
    """Flash ADC / multi-level sense amplifier of ``bits`` bits: one clock cycle per conversion."""

    def steps(self) -> int:
        return 1


def conversion_energy(adc: _Converter, fom: Number) -> Number:
    """Energy of one conversion in J: ``fom * 2**bits`` (Walden FOM ``fom`` in J per step)."""
    if not isinstance(adc, _Converter):
        raise TypeError(f"adc: expected SARConverter, RampConverter or FlashConverter, got {type(adc).__name__}")
    return fom * float(2**adc.bits)


def conversion_time(adc: _Converter, clock_period: Number) -> Number:
    """Time of one conversion in s: ``steps * clock_period``."""
    if not isinstance(adc, _Converter):
        raise TypeError(f"adc: expected SARConverter, RampConverter or FlashConverter, got {type(adc).__name__}")
    return clock_period * float(adc.steps())
