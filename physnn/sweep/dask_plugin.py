"""A dask worker plugin of the sweep (imported only by the dask executor: it imports distributed)."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin

__all__ = ["DieWithParent"]


class DieWithParent(WorkerPlugin):
    """Each worker process of a local cluster ends with the process that started the cluster
    (:func:`physnn.sweep.run.die_with_parent`), even when that one is killed with ``kill -9``."""

    name = "physnn-die-with-parent"

    def setup(self, worker: Any) -> None:
        from .run import die_with_parent

        die_with_parent()
