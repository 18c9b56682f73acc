"""Silicon area of a layer: cells (F^2 each), ADCs, row drivers, adders and buffers."""

from __future__ import annotations

from .technology import Number

__all__ = ["array_area"]


def array_area(devices: int, cell_area_f2: Number, feature_size: Number) -> Number:
    """Area in m^2 of ``devices`` memory cells of ``cell_area_f2`` F^2 each at feature size F (m)."""
    if devices < 0:
        raise ValueError(f"devices={devices!r}: must be >= 0")
    return cell_area_f2 * feature_size * feature_size * float(devices)
