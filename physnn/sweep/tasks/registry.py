"""Task lookup: the built-in tasks by name (:data:`TASKS`), ``"module:Class"`` and
``"module:factory"`` (:func:`task_class`), and one task instance per spec and process
(:func:`make_task`)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..spec import SweepError, SweepSpec
from .base import AbstractTask
from .crossbar import CrossbarLinear, CrossbarMLP
from .toy import Toy
from .user import UserModuleTask

__all__ = ["TASKS", "task_class", "make_task"]

#: built-in tasks by name
TASKS: dict[str, type[AbstractTask]] = {"crossbar_mlp": CrossbarMLP, "crossbar_linear": CrossbarLinear, "toy": Toy}


def task_class(name: str) -> Any:
    """A built-in task by name, or ``"module:Class"`` (a subclass of :class:`AbstractTask`), or
    ``"module:factory"`` (a function returning a :class:`UserModel`: run by :class:`UserModuleTask`)."""
    if name in TASKS:
        return TASKS[name]
    if ":" in name:
        mod, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise SweepError(f"task {name!r}: cannot import it ({exc})") from None
        if isinstance(cls, type) and issubclass(cls, AbstractTask):
            return cls
        if callable(cls) and not isinstance(cls, type):
            return cls
        raise SweepError(
            f"task {name!r}: neither a subclass of physnn.sweep.tasks.AbstractTask nor a factory "
            f"function (def factory(seed, **params) -> UserModel)"
        )
    raise SweepError(f"task {name!r}: unknown (built-in tasks: {sorted(TASKS)}, 'module:Class' or 'module:factory')")


_CACHE: dict[str, AbstractTask] = {}


def _task_near(spec: SweepSpec) -> Any:
    """:func:`task_class` of the spec's task; a ``module:...`` task is also looked up in the
    folder of the spec's TOML file (a user's module next to the spec). Worker processes
    (``processes``/``dask`` executors) import it from their own ``sys.path`` (set PYTHONPATH)."""
    import sys

    folder = str(Path(spec.source).resolve().parent) if spec.source else None
    if folder is None or ":" not in spec.task or folder in sys.path:
        return task_class(spec.task)
    sys.path.insert(0, folder)
    try:
        return task_class(spec.task)
    finally:
        sys.path.remove(folder)


def make_task(spec: SweepSpec) -> AbstractTask:
    """The task of ``spec`` (one instance per spec and process: trained networks are reused)."""
    t = _CACHE.get(spec.digest)
    if t is not None and t.fingerprint() != getattr(t, "_fingerprint", None):
        t = None  # e.g. the device card's file changed: build it again
    if t is None:
        try:
            obj = _task_near(spec)
            if isinstance(obj, type):
                t = obj(master_seed=spec.seed, **spec.task_params)
            else:
                t = UserModuleTask(factory=obj, factory_name=spec.task, master_seed=spec.seed, **spec.task_params)
        except TypeError as exc:
            raise SweepError(f"task {spec.task}: {exc}", table="task") from None
        t._fingerprint = t.fingerprint()
        _CACHE.clear()
        _CACHE[spec.digest] = t
    return t
