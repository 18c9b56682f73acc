"""Accuracy-cost trade-offs: which designs are Pareto-optimal (no other design is at least as good
in both and better in one)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["pareto_front"]


def pareto_front(cost: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Boolean mask of the Pareto-optimal points: low ``cost`` (e.g. energy in J) and high
    ``quality`` (e.g. accuracy).

    A point is on the front when no other point has ``cost <=`` and ``quality >=`` its own with
    at least one of them strict. Equal points are all on the front. NaN points never are.
    """
    c = np.asarray(cost, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if c.ndim != 1 or c.shape != q.shape:
        raise ValueError(f"cost, quality: expected two 1-D sequences of one length, got {c.shape} and {q.shape}")
    ok = np.isfinite(c) & np.isfinite(q)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        dom = ok & (c <= c[i]) & (q >= q[i]) & ((c < c[i]) | (q > q[i]))
        front[i] = not dom.any()
    return front
