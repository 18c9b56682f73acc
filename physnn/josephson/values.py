"""Former home of the suffix table, kept for imports: the table is
:mod:`physnn.josephson.netlist.values` (standard library only)."""

from __future__ import annotations

from .netlist.values import SCALE_SUFFIXES, scale_factor

__all__ = ["SCALE_SUFFIXES", "scale_factor"]
