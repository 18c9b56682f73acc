"""Run a sweep: validate, lay out the points, execute them, store them, build the Dataset.

Executors (the same spec runs unchanged on each):

``"inprocess"`` (default)
    Chunks of points go to the task in this process; the crossbar tasks put each chunk's device
    instances on the ensemble dimension and its read-out parameters on the batch (a 1,000-point
    read-noise sweep is a few batched calls).
``"processes"``
    A :class:`concurrent.futures.ProcessPoolExecutor` (spawned workers, one torch thread each).
``"dask"``
    :mod:`dask.distributed`: a ``LocalCluster`` of worker processes, or the scheduler at
    ``scheduler="tcp://host:port"`` (connection time-out ``connect_timeout`` s, then a
    :class:`SweepError` naming the address).

Results go to a folder (:mod:`physnn.sweep.store`): finished points are committed as they
arrive, a killed sweep resumes with ``resume=True`` (no point lost or computed twice), a point
that raises is stored as failed with its error and the sweep goes on.
"""

from __future__ import annotations

import difflib
import json
import math
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .spec import FieldInfo, SweepError, SweepSpec, unit_factor
from .store import DATASET, Journal, write_atomic
from .tasks import AbstractTask, Point, make_task, point_key

__all__ = ["Layout", "run_sweep", "evaluate_chunk", "to_dataset", "validate", "open_results"]

_EXECUTORS = ("inprocess", "processes", "dask")
_PENDING, _OK, _FAILED = 0, 1, 2


class Layout:
    """The points of a spec: design matrix x seeds, flat index ``i = design_row * n_seeds + s``."""

    def __init__(self, spec: SweepSpec, task: AbstractTask):
        infos = task.fields()
        for a in spec.axes:
            if a.field not in infos:
                near = difflib.get_close_matches(a.field, list(infos), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(near)}?" if near else \
                    f"; fields start with {sorted({k.split('.')[0] + '.' for k in infos})}"
                raise SweepError(f"axis {a.field}: unknown field for task {spec.task}{hint}")
            info = infos[a.field]
            if a.units is not None and unit_factor(a.units, info.units) is None:
                raise SweepError(f"axis {a.field}: units {a.units!r} do not match the field's unit "
                                 f"{info.units!r} (give {info.units!r} or a prefixed form of it)")
        self.spec = spec
        self.infos = {a.field: infos[a.field] for a in spec.axes}
        self.per_axis, self.design = spec.design_values(self.infos)
        self.seeds = spec.seed_values
        self.n = len(self.design) * len(self.seeds)

    def point(self, i: int) -> Point:
        d, s = divmod(int(i), len(self.seeds))
        values = {a.field: float(self.design[d, j]) for j, a in enumerate(self.spec.axes)}
        seed = self.seeds[s]
        return Point(int(i), values, seed, point_key(self.spec.seed, seed, sorted(values.items())))


def validate(spec: SweepSpec) -> tuple[AbstractTask, Layout]:
    """Check ``spec`` completely before any work: task and its parameters, fields, units, ranges,
    and every axis at both ends of its range applied to the task. Returns ``(task, layout)``."""
    task = make_task(spec)
    layout = Layout(spec, task)
    first = layout.point(0).values
    for j, a in enumerate(spec.axes):
        col = layout.design[:, j]
        for v in (float(col.min()), float(col.max())):
            try:
                task.check_point({**first, a.field: v})
            except SweepError:
                raise
            except (ValueError, TypeError) as exc:
                raise SweepError(f"axis {a.field}={v!r}: {exc}") from None
    return task, layout


# ---------------------------------------------------------------------------------------------
# work units
# ---------------------------------------------------------------------------------------------
_LAYOUTS: dict[str, Layout] = {}


def evaluate_chunk(spec_json: str, indices: list[int], threads: int | None = None) -> list[tuple]:
    """Evaluate the points ``indices`` of the spec (JSON form): rows
    ``(index, status, metrics, error, seconds)``. A chunk that raises is retried point by point,
    so one failing point fails alone. Runs in any process (it rebuilds the task from the spec)."""
    if threads is not None:
        import os
        import sys

        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        else:                            # read by torch when a task first imports it
            os.environ["OMP_NUM_THREADS"] = str(threads)
    spec = SweepSpec.from_dict(json.loads(spec_json))
    task = make_task(spec)
    layout = _LAYOUTS.get(spec.digest)
    if layout is None:
        _LAYOUTS.clear()
        layout = _LAYOUTS[spec.digest] = Layout(spec, task)
    pts = [layout.point(i) for i in indices]
    t0 = time.perf_counter()
    try:
        res = task.evaluate(pts, spec.replicates)
        dt = (time.perf_counter() - t0) / max(1, len(pts))
        return [(p.index, "ok", r, None, dt) for p, r in zip(pts, res)]
    except Exception as exc:  # noqa: BLE001 - recorded per point below
        if len(pts) == 1:
            err = f"{type(exc).__name__}: {exc}"
            tb = traceback.format_exc(limit=3)
            return [(pts[0].index, "failed", None, f"{err}\n{tb}", time.perf_counter() - t0)]
    rows: list[tuple] = []
    for p in pts:
        rows += evaluate_chunk(spec_json, [p.index])
    return rows


def _chunks(spec: SweepSpec, task: AbstractTask, layout: Layout, todo: list[int], size: int | None) -> list[list[int]]:
    size = size or spec.chunk_points or task.default_chunk
    # points sharing their device group (all fields but the read-out ones and time) run together
    sort_key: Callable[[int], Any] = getattr(task, "sort_key", None) or (lambda i: 0)
    todo = sorted(todo, key=lambda i: (sort_key(layout.point(i)), i))
    return [todo[k:k + size] for k in range(0, len(todo), size)]


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
def to_dataset(spec: SweepSpec, task: AbstractTask, layout: Layout, rows: dict[int, tuple]) -> Any:
    """The labelled Dataset of the rows stored so far (pending points: NaN, status 0)."""
    import xarray as xr
    from scipy import stats

    from .. import __version__

    R = spec.replicates
    n = layout.n
    S = len(layout.seeds)
    status = np.zeros(n, dtype=np.int8)
    error = np.full(n, "", dtype=object)
    vals = {m: np.full((n, R), np.nan) for m in task.metrics}
    for idx, (st, met, err) in rows.items():
        if idx >= n:
            continue
        status[idx] = _OK if st == "ok" else _FAILED
        error[idx] = err or ""
        if met:
            for m, v in met.items():
                if m in vals:
                    vals[m][idx] = np.array([np.nan if x is None else x for x in v], dtype=float)
    if spec.design == "grid":
        shape = [len(v) for v in layout.per_axis]
        dims = [a.dim for a in spec.axes]
        coords: dict[str, Any] = {a.dim: (a.dim, v.astype(np.int64) if layout.infos[a.field].integer else v, {"units": layout.infos[a.field].units,
                                                      "long_name": layout.infos[a.field].long_name,
                                                      "field": a.field})
                                  for a, v in zip(spec.axes, layout.per_axis)}
    else:
        shape = [len(layout.design)]
        dims = ["point"]
        coords = {"point": ("point", np.arange(len(layout.design)), {"units": "1", "long_name": f"{spec.design} design point"})}
        for j, a in enumerate(spec.axes):
            col = layout.design[:, j]
            coords[a.dim] = ("point", col.astype(np.int64) if layout.infos[a.field].integer else col, {"units": layout.infos[a.field].units,
                                                          "long_name": layout.infos[a.field].long_name,
                                                          "field": a.field})
    has_seed = spec.seeds is not None
    if has_seed:
        shape.append(S)
        dims.append("seed")
        coords["seed"] = ("seed", np.array(layout.seeds), {"units": "1", "long_name": "seed of the task (e.g. training)"})
    coords["replicate"] = ("replicate", np.arange(R), {"units": "1", "long_name": "device instance (ensemble member)"})

    def shaped(a: np.ndarray, extra: tuple = ()) -> np.ndarray:
        return a.reshape(tuple(shape) + extra)

    data: dict[str, Any] = {}
    level = 0.95
    for m, (units, long_name) in task.metrics.items():
        v = shaped(vals[m], (R,))
        ok = np.isfinite(v)
        cnt = ok.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, np.nansum(v, -1) / np.maximum(cnt, 1), np.nan)
            var = np.where(cnt > 1, np.nansum((v - mean[..., None]) ** 2, -1) / np.maximum(cnt - 1, 1), np.nan)
            std = np.where(cnt > 1, np.sqrt(var), np.where(cnt == 1, 0.0, np.nan))
            half = np.where(cnt > 1, stats.t.ppf(0.5 + level / 2, np.maximum(cnt - 1, 1)) * std / np.sqrt(np.maximum(cnt, 1)),
                            np.where(cnt == 1, 0.0, np.nan))
        dd = tuple(dims)
        data[m] = (dd + ("replicate",), v, {"units": units, "long_name": f"{long_name}, per replicate"})
        data[f"{m}_mean"] = (dd, mean, {"units": units, "long_name": f"{long_name}, mean over replicates"})
        data[f"{m}_std"] = (dd, std, {"units": units, "long_name": f"{long_name}, sample std over replicates"})
        data[f"{m}_ci_low"] = (dd, mean - half, {"units": units, "long_name": f"{long_name}, lower end of the "
                                                 f"{level:.0%} Student-t confidence interval of the mean"})
        data[f"{m}_ci_high"] = (dd, mean + half, {"units": units, "long_name": f"{long_name}, upper end of the "
                                                  f"{level:.0%} Student-t confidence interval of the mean"})
    data["status"] = (tuple(dims), shaped(status), {"units": "1", "long_name": "0 pending, 1 done, 2 failed",
                                                    "flag_values": [0, 1, 2], "flag_meanings": "pending done failed"})
    data["error"] = (tuple(dims), shaped(error.astype(str)), {"units": "1", "long_name": "error of a failed point"})
    attrs = {"title": spec.name or f"physnn sweep ({spec.task})", "task": spec.task, "design": spec.design,
             "replicates": R, "ci_level": level, "spec": spec.to_json(), "spec_toml": spec.to_toml(),
             "spec_digest": spec.digest, "config": json.dumps(task.describe(), sort_keys=True, default=str),
             "physnn_version": __version__, "points_total": int(n), "points_done": int((status == _OK).sum()),
             "points_failed": int((status == _FAILED).sum())}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def open_results(folder: str | Path) -> Any:
    """The Dataset of a results folder, built from its journal (works on an unfinished sweep)."""
    folder = Path(folder)
    import sqlite3

    p = folder / "journal.sqlite"
    if not p.is_file():
        raise SweepError(f"{str(folder)!r} holds no sweep journal")
    con = sqlite3.connect(str(p))
    spec = SweepSpec.from_dict(json.loads(con.execute("SELECT value FROM meta WHERE key='spec'").fetchone()[0]))
    con.close()
    task, layout = validate(spec)
    j = Journal(folder, spec, resume=True)
    try:
        return to_dataset(spec, task, layout, j.rows())
    finally:
        j.close()


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------
def _dask_client(scheduler: str | None, workers: int, timeout: float):
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise SweepError(f"the dask executor needs dask.distributed ({exc})") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{timeout}s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(f"scheduler {scheduler!r}: unreachable within {timeout:g} s "
                             f"({type(exc).__name__}: {exc})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    return Client(cluster), cluster


def run_sweep(spec: SweepSpec, out: str | Path, *, executor: str = "inprocess", workers: int | None = None,
              scheduler: str | None = None, resume: bool = False, progress: bool | None = None,
              connect_timeout: float = 10.0, snapshot_s: float = 10.0, chunk_points: int | None = None,
              on_commit: Callable[[int], None] | None = None) -> Any:
    """Run ``spec`` into the folder ``out`` and return the :class:`xarray.Dataset`.

    Parameters
    ----------
    spec : SweepSpec
    out : path
        Results folder (``journal.sqlite`` + ``sweep.nc``).
    executor : {"inprocess", "processes", "dask"}
        Where the points run (``scheduler=`` implies ``"dask"``).
    workers : int, optional
        Worker processes of ``"processes"`` / a dask ``LocalCluster`` (default 2).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``).
    resume : bool
        Continue the sweep already in ``out`` (same spec); finished points are not recomputed.
    progress : bool, optional
        ``tqdm`` progress bar (None: on when writing to a terminal).
    connect_timeout : float
        Seconds to wait for ``scheduler``.
    snapshot_s : float
        Minimum seconds between rewrites of ``sweep.nc`` while running.
    chunk_points : int, optional
        Points per task call (overrides the spec's and the task's choice).
    on_commit : callable, optional
        Called with the number of points committed so far (after each commit).

    Raises
    ------
    SweepError
        Before any work: unknown task/field, empty range, units that do not match, an unreachable
        scheduler, an output folder holding another sweep (or this one without ``resume``).
    """
    if scheduler:
        executor = "dask"
    if executor not in _EXECUTORS:
        raise SweepError(f"executor={executor!r}: must be one of {_EXECUTORS}")
    task, layout = validate(spec)
    workers = int(workers or 2)
    client = cluster = None
    if executor == "dask":
        client, cluster = _dask_client(scheduler, workers, connect_timeout)
    try:
        journal = Journal(out, spec, resume=resume)
    except BaseException:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        raise
    folder = Path(out)
    spec_json = spec.to_json()
    try:
        done = journal.done()
        todo = [i for i in range(layout.n) if i not in done]
        chunks = _chunks(spec, task, layout, todo, chunk_points)
        last = [time.monotonic()]

        def snapshot(force: bool = False) -> None:
            if force or time.monotonic() - last[0] >= snapshot_s:
                write_atomic(to_dataset(spec, task, layout, journal.rows()), folder / DATASET)
                last[0] = time.monotonic()

        snapshot(force=True)
        from tqdm.auto import tqdm

        bar = tqdm(total=layout.n, initial=len(done), desc=f"sweep {spec.task}", unit="pt",
                   disable=(None if progress is None else not progress), leave=False)

        def commit(rows: list[tuple]) -> None:
            journal.record(rows)
            bar.update(len(rows))
            if on_commit is not None:
                on_commit(journal.n_done())
            snapshot()

        if executor == "inprocess":
            for ch in chunks:
                commit(evaluate_chunk(spec_json, ch))
        elif executor == "processes":
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futs = [pool.submit(evaluate_chunk, spec_json, ch, 1) for ch in chunks]
                for f in as_completed(futs):
                    commit(f.result())
        else:
            from distributed import as_completed as dask_completed

            futs = [client.submit(evaluate_chunk, spec_json, ch, 1, pure=False) for ch in chunks]
            for f in dask_completed(futs):
                commit(f.result())
        bar.close()
        ds = to_dataset(spec, task, layout, journal.rows())
        write_atomic(ds, folder / DATASET)
        return ds
    finally:
        journal.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
