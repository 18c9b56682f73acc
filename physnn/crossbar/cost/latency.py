"""Latency of one layer's reads: input cycles, ADC conversions per ADC, digital stages.

Per input vector and input cycle a tile drives its rows for the read pulse ``t_read`` and converts
the ``columns_per_adc`` columns that share one ADC one after another (``q t_conversion``). The
conversions overlap the pulse (the rows stay driven, or a sample-and-hold frees the array, while the
multiplexer steps through the columns; DNN+NeuroSim's sensing cycle has no separate pulse either), so
a cycle takes ``max(t_read, q t_conversion)``: ``q t_conversion`` counted as ADC time, the part of the
pulse the conversions do not cover, ``max(t_read - q t_conversion, 0)``, as array time. With
``overlap=False`` the two follow each other (``t_read + q t_conversion``). Tiles work in parallel
(the layer takes as long as its slowest tile) or in sequence (the sum over tiles); vectors are
read one after another.
"""

from __future__ import annotations

import math

from .technology import Number

__all__ = ["tile_read_time", "layer_read_latency", "adder_tree_stages"]


def tile_read_time(cycles: int, conversions_per_adc: int, t_read: Number, t_conversion: Number, *,
                   overlap: bool = True) -> tuple[Number, Number]:
    """``(array time, ADC time)`` in s of one input vector on one tile (see the module doc)."""
    t_adc = t_conversion * float(conversions_per_adc)
    t_arr = t_read
    if overlap:
        d = t_read - t_adc
        t_arr = d.clamp(min=0.0) if hasattr(d, "clamp") else max(float(d), 0.0)
    return t_arr * float(cycles), t_adc * float(cycles)


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
