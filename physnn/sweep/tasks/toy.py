"""The ``toy`` task: ``sin(x) cos(y)`` plus noise, with a CPU-bound busy loop and failure
thresholds (for the executor and fault-tolerance tests and benchmarks)."""

from __future__ import annotations

import math

import numpy as np

from ..spec import FieldInfo
from .base import AbstractTask, Param, Point

__all__ = ["Toy"]


class Toy(AbstractTask):
    """``f = sin(x) cos(y) + noise * N(0, 1)``; ``work`` iterations of a pure-Python loop per
    point (CPU-bound, holds the GIL); points with ``x > fail_above`` raise; points with
    ``x > crash_above`` end the worker process computing them (fault-tolerance tests)."""

    name = "toy"
    metrics = {"f": ("1", "sin(x) cos(y) plus Gaussian noise")}
    schema = {
        "x": Param(default=0.0, doc="toy input x"),
        "y": Param(default=0.0, doc="toy input y"),
        "noise": Param(default=0.1, low=0.0, doc="std of the additive noise"),
        "work": Param(default=0, low=0, doc="busy-loop iterations per point"),
        "fail_above": Param(default=math.inf, doc="points with x above it raise"),
        "crash_above": Param(
            default=math.inf,
            doc="points with x above it end their worker process (os._exit; in the main process they raise instead)",
        ),
    }
    default_chunk = 1

    def fields(self) -> dict[str, FieldInfo]:
        return {
            "task.x": FieldInfo(units="1", long_name="toy input x"),
            "task.y": FieldInfo(units="1", long_name="toy input y"),
            "task.noise": FieldInfo(units="1", long_name="std of the additive noise"),
            "task.work": FieldInfo(units="1", long_name="busy-loop iterations per point", integer=True),
        }

    def memory_bytes(self, n_points: int, replicates: int, chunk: int) -> int:
        return 8 * n_points * replicates * (6 * len(self.metrics) + 1)

    def evaluate(self, points: list[Point], replicates: int) -> list[dict[str, np.ndarray]]:
        from ...random import generator_from_seed, numpy_rng  # here: it imports torch

        out = []
        for p in points:
            v = {**self.params, **{k.split(".", 1)[1]: x for k, x in p.values.items()}}
            if v["x"] > float(self.params["fail_above"]):
                raise ValueError(f"toy: x={v['x']} > fail_above={self.params['fail_above']}")
            if v["x"] > float(self.params["crash_above"]):
                import multiprocessing
                import os

                if multiprocessing.parent_process() is not None:  # a worker process: die
                    os._exit(70)
                raise ValueError(
                    f"toy: x={v['x']} > crash_above={self.params['crash_above']} (not in a worker "
                    f"process: raised instead)"
                )
            acc = 0
            for i in range(int(v["work"])):
                acc += i * i
            rng = numpy_rng(generator_from_seed(p.key))
            f = math.sin(v["x"]) * math.cos(v["y"]) + v["noise"] * rng.standard_normal(replicates)
            out.append({"f": f})
        return out
