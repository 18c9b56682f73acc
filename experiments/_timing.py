"""Side-by-side timing for the benchmarks: two callables alternated call by call, after the same
warm-up, so that both sides see the same machine state (load, caches, allocator)."""

from __future__ import annotations

import time
from typing import Callable


def interleaved(
    fa: Callable[[], object], fb: Callable[[], object], *, repeats: int, warmup: int = 2
) -> tuple[list[float], list[float]]:
    """Wall seconds of ``repeats`` calls of ``fa`` and of ``fb``, alternated (``fa`` first each
    round), after ``warmup`` untimed rounds of both."""
    for _ in range(warmup):
        fa()
        fb()
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t)
        t = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t)
    return ta, tb
