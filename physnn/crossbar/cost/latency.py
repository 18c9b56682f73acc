"""Latency of one layer's reads: input cycles, ADC conversions per ADC, digital stages.

Per input vector and input cycle a tile drives its rows for the read pulse ``t_read`` and converts
the ``columns_per_adc`` columns that share one ADC one after another (``q t_conversion``). The
conversions overlap the pulse (the rows stay driven, or a sample-and-hold frees the array, while the
multiplexer steps through the columns; DNN+NeuroSim's sensing cycle has no separate pulse either), so
a cycle takes ``max(t_read, q t_conversion)``: ``q t_conversion`` counted as ADC time, the part of the
pulse the conversions do not cover, ``max(t_read - q t_conversion, 0)``, as array time. With
``overlap=False`` the two follow each other (``t_read + q t_conversion``). Tiles work in parallel
(the layer takes as long as its slowest tile) or in sequence (the sum over tiles); vectors are
read one after another (or shared out over copies of the weights, :mod:`.duplication`).

The shift-and-add of a vector's conversions (``stages`` adder-tree stages of one clock each) runs
after its conversions, or, pipelined (``overlap=True`` in :func:`accumulation_latency`; DNN+NeuroSim
overlaps its shift-adders with the next sensing cycle the same way), while the next vector converts:
only the part of it longer than a vector's conversions, and the last vector's drain, add time.
Moving bits over a bus of ``width`` bits per clock takes ``ceil(bits / width)`` clocks
(:func:`bus_latency`).
"""

from __future__ import annotations

import math

from .technology import Number

__all__ = ["tile_read_time", "layer_read_latency", "adder_tree_stages", "accumulation_latency", "bus_latency"]


def tile_read_time(
    cycles: int, conversions_per_adc: int, t_read: Number, t_conversion: Number, *, overlap: bool = True
) -> tuple[Number, Number]:
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


def accumulation_latency(vectors: int, t_accumulate: Number, t_convert: Number, *, overlap: bool) -> Number:
    """Time in s of the shift-and-add of ``vectors`` vectors, ``t_accumulate`` s each.

    ``overlap=False``: one after another, ``vectors * t_accumulate``. ``overlap=True``: pipelined
    with the next vector's read (``t_convert`` s per vector: its pulse and conversions): ``vectors * max(t_accumulate - t_convert, 0)
    + t_accumulate`` (the stall per vector, plus the last vector's drain; 0 for no vectors).
    """
    if vectors < 0:
        raise ValueError(f"vectors={vectors!r}: must be >= 0")
    if not overlap or vectors == 0:
        return t_accumulate * float(vectors)
    d = t_accumulate - t_convert
    stall = d.clamp(min=0.0) if hasattr(d, "clamp") else max(float(d), 0.0)
    return stall * float(vectors) + t_accumulate


def bus_latency(bits: int, width: int, clock_period: Number) -> Number:
    """Time in s to move ``bits`` bits over a bus of ``width`` bits per clock: ``ceil(bits / width)``
    clocks."""
    if bits < 0 or width < 1:
        raise ValueError(f"bits={bits!r} must be >= 0 and width={width!r} >= 1")
    return clock_period * float(-(-int(bits) // int(width)))
