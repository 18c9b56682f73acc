"""Latency of one layer's reads: input cycles, ADC conversions per ADC, digital stages.

Per input vector a tile needs ``cycles * (t_read + columns_per_adc * t_conversion)`` (the read
pulse, then the columns that share one ADC converted one after another). Tiles work in parallel
(the layer takes as long as its slowest tile) or in sequence (the sum over tiles); vectors are
read one after another.
"""

from __future__ import annotations

import math

from .technology import Number

__all__ = ["tile_read_time", "layer_read_latency", "adder_tree_stages"]


def tile_read_time(cycles: int, conversions_per_adc: int, t_read: Number, t_conversion: Number) -> tuple[Number, Number]:
    """``(array time, ADC time)`` in s of one input vector on one tile."""
    return t_read * float(cycles), t_conversion * float(cycles * conversions_per_adc)


def layer_read_latency(vectors: int, per_tile: list[tuple[Number, Number]], parallel: bool) -> tuple[Number, Number]:
    """``(array, ADC)`` latency in s of ``vectors`` reads of a layer whose tiles take ``per_tile``
    each: the slowest tile when ``parallel``, else the sum over tiles."""
    if vectors < 0:
        raise ValueError(f"vectors={vectors!r}: must be >= 0")
    if parallel:
        k = max(range(len(per_tile)), key=lambda i: _value(per_tile[i][0]) + _value(per_tile[i][1]))
        a, c = per_tile[k]
    else:
        a = sum(p[0] for p in per_tile)
        c = sum(p[1] for p in per_tile)
    return a * float(vectors), c * float(vectors)


def _value(v: Number) -> float:
    return float(v.detach()) if hasattr(v, "detach") else float(v)


def adder_tree_stages(inputs: int) -> int:
    """Stages of a binary adder tree summing ``inputs`` partial sums (0 for one input)."""
    return 0 if inputs <= 1 else math.ceil(math.log2(inputs))
