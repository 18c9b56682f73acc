"""How inputs reach the rows, and what the row drivers cost.

* :class:`AmplitudeInput`: one read pulse per vector at the DAC voltage ``V = code * in_step *
  v_read / x_ref`` (the read model of :mod:`physnn.crossbar.read`); each row with a non-zero
  code costs one DAC conversion.
* :class:`BitSerialInput`: the magnitude of an integer input code is applied bit by bit over
  ``bits`` read cycles (DNN+NeuroSim's scheme): in cycle ``k`` a row is pulsed to ``v_read`` when
  bit ``k`` of ``|code|`` is 1 (the sign by the polarity of the pulse); each pulse costs one
  driver energy, and the array sees ``V^2 = v_read^2`` per pulse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..._checks import check_int_range

__all__ = ["AmplitudeInput", "BitSerialInput", "row_pulses", "popcount"]


@dataclass(frozen=True, kw_only=True)
class AmplitudeInput:
    """Analog amplitude inputs: one read cycle per vector."""

    cycles = 1


@dataclass(frozen=True, kw_only=True)
class BitSerialInput:
    """Inputs applied bit-serially over ``bits`` cycles (needs a DAC: integer codes with
    ``2**bits - 1 >= in_levels``).

    Parameters
    ----------
    bits : int
        Magnitude bits of an input code, >= 1.
    """

    bits: int = 8

    def __post_init__(self) -> None:
        check_int_range(self.bits, "bits", 1, 32)

    @property
    def cycles(self) -> int:
        return self.bits


def row_pulses(codes: torch.Tensor, inputs: AmplitudeInput | BitSerialInput) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row the number of pulses and the sum of ``(V / v_read)^2`` over the cycles of each vector.

    Parameters
    ----------
    codes : Tensor, (..., N, R)
        DAC codes (integers for :class:`BitSerialInput`), already scaled so that ``codes *
        in_step / x_ref`` is the fraction of ``v_read`` (see :func:`~physnn.crossbar.read.input_codes`).
    inputs : AmplitudeInput or BitSerialInput

    Returns
    -------
    pulses : Tensor (..., N, R)
        Driven row-cycles (non-zero codes, or set bits).
    v2 : Tensor (..., N, R)
        ``sum over cycles of (V / v_read)^2`` in units of ``(in_step / x_ref)^-2`` for amplitude
        inputs (the caller scales), number of set bits for bit-serial inputs.
    """
    if isinstance(inputs, AmplitudeInput):
        return (codes != 0).to(codes.dtype), codes * codes
    if not isinstance(inputs, BitSerialInput):
        raise TypeError(f"inputs: expected AmplitudeInput or BitSerialInput, got {type(inputs).__name__}")
    m = codes.detach().abs()
    if bool((m != torch.round(m)).any()):
        raise ValueError("inputs=BitSerialInput: needs integer DAC codes (a config with a dac)")
    top = float(m.max()) if m.numel() else 0.0
    if top > 2**inputs.bits - 1:
        raise ValueError(
            f"inputs=BitSerialInput(bits={inputs.bits}): codes up to {top:g} need {math.ceil(math.log2(top + 1))} bits"
        )
    pc = popcount(m, inputs.bits).to(codes.dtype)
    return pc, pc


_LUT: dict[tuple[int, str], torch.Tensor] = {}


def popcount(m: torch.Tensor, bits: int) -> torch.Tensor:
    """Set bits of the non-negative integer values ``m`` (< ``2**bits``): one table look-up for
    ``bits <= 16``, a loop over the bits otherwise."""
    if bits <= 16:
        key = (bits, str(m.device))
        lut = _LUT.get(key)
        if lut is None:
            v = torch.arange(2**bits, device=m.device)
            lut = torch.zeros_like(v)
            for k in range(bits):
                lut += (v >> k) & 1
            lut = _LUT[key] = lut.to(torch.uint8)
        return lut[m.to(torch.int32 if bits < 31 else torch.int64)]
    mi = m.to(torch.int64)
    ones = torch.zeros_like(mi)
    for k in range(bits):
        ones += (mi >> k) & 1
    return ones
