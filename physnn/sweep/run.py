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
that raises is stored as failed with its error and the sweep goes on (``retry_failed=True``
runs it again on resume).

Faults (issue 27): :func:`validate` finds bad input before any work (every ``[task]`` parameter
typed and ranged, every distinct design point applied to the task, memory estimated), naming the
spec's file and line; :func:`identity` is what a results folder refuses to mix; a dead
process-pool worker costs a bounded retry; pool and local-cluster workers die with their parent
(:func:`die_with_parent`); dask without workers or scheduler stops after ``worker_timeout``;
ordinary OS conditions (read-only folder, full disk) are one-line :class:`SweepError`.
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

import hashlib
import os
import sqlite3
import sys

from .spec import DESIGN_SAMPLER, SweepError, SweepSpec, locate, unit_factor
from .store import DATASET, Journal, describe_os_error, read_journal, write_atomic
from .tasks import AbstractTask, Point, make_task, point_key

__all__ = [
    "Layout",
    "run_sweep",
    "evaluate_chunk",
    "to_dataset",
    "validate",
    "open_results",
    "identity",
    "available_memory",
    "die_with_parent",
    "export_results",
]

#: attempts of a chunk whose worker process died, before it is split into single points; a
#: single point whose worker died this often is recorded as failed with the cause
MAX_WORKER_DEATHS = 3

_EXECUTORS = ("inprocess", "processes", "dask")
_PENDING, _OK, _FAILED = 0, 1, 2


class Layout:
    """The points of a spec: design matrix x seeds, flat index ``i = design_row * n_seeds + s``."""

    def __init__(self, spec: SweepSpec, task: AbstractTask):
        infos = task.fields()
        for a in spec.axes:
            if a.field not in infos:
                near = difflib.get_close_matches(a.field, list(infos), n=3, cutoff=0.6)
                hint = (
                    f"; did you mean {', '.join(near)}?"
                    if near
                    else f"; fields start with {sorted({k.split('.')[0] + '.' for k in infos})}"
                )
                raise SweepError(f"axis {a.field}: unknown field for task {spec.task}{hint}")
            info = infos[a.field]
            if a.units is not None and unit_factor(a.units, info.units) is None:
                raise SweepError(
                    f"axis {a.field}: units {a.units!r} do not match the field's unit "
                    f"{info.units!r} (give {info.units!r} or a prefixed form of it)"
                )
        self.spec = spec
        self.infos = {a.field: infos[a.field] for a in spec.axes}
        n_design = (
            spec.samples
            if spec.design != "grid"
            else math.prod(len(a.values) if a.values is not None else int(a.num) for a in spec.axes)
        )
        need = 8 * 3 * n_design * len(spec.axes)
        avail = available_memory()
        if avail is not None and need > avail:
            raise SweepError(
                f"the design has {n_design:,} points x {len(spec.axes)} axes: its table alone needs "
                f"~{need / 2**30:.3g} GiB, more than the {avail / 2**30:.3g} GiB available; "
                f"sweep fewer values"
            )
        self.per_axis, self.design = spec.design_values(self.infos)
        if spec.design == "grid":
            for a, v in zip(spec.axes, self.per_axis):
                u, c = np.unique(v, return_counts=True)
                if (c > 1).any():
                    raise SweepError(
                        f"axis {a.field}: value {float(u[c > 1][0])!r} (SI{', rounded to an integer' if infos[a.field].integer else ''}) "
                        f"appears twice: each grid value once",
                        table="axis",
                        axis=a.field,
                    )
        self.seeds = spec.seed_values
        self.n = len(self.design) * len(self.seeds)

    def point(self, i: int) -> Point:
        d, s = divmod(int(i), len(self.seeds))
        values = {a.field: float(self.design[d, j]) for j, a in enumerate(self.spec.axes)}
        seed = self.seeds[s]
        return Point(int(i), values, seed, point_key(self.spec.seed, seed, sorted(values.items())))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``;
    None where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return None


#: design points listed in a refusal
_LIST_FAILING = 5


def validate(spec: SweepSpec) -> tuple[AbstractTask, Layout]:
    """Check ``spec`` completely before any work: task and its parameters (type, range, units),
    fields, units, ranges, repeated values, every distinct combination of axis values of the
    whole design applied to the task, and the memory the sweep needs. Returns ``(task, layout)``.
    Errors of a spec read from a file name the file and line (``spec.source``)."""
    try:
        return _validate(spec)
    except SweepError as exc:
        if spec.source:
            raise locate(exc, spec.source) from None
        raise


def _validate(spec: SweepSpec) -> tuple[AbstractTask, Layout]:
    task = make_task(spec)
    layout = Layout(spec, task)
    rows = np.unique(layout.design, axis=0) if len(layout.design) else layout.design
    failing: list[str] = []
    n_bad = 0
    first_exc: SweepError | None = None
    for row in rows:
        values = {a.field: float(v) for a, v in zip(spec.axes, row)}
        try:
            task.check_point(values)
        except (SweepError, ValueError, TypeError) as exc:
            n_bad += 1
            if first_exc is None and isinstance(exc, SweepError):
                first_exc = exc
            if len(failing) < _LIST_FAILING:
                where = ", ".join(f"{k}={v!r}" for k, v in values.items())
                failing.append(f"({where}): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if n_bad:
        axis = None
        if len(spec.axes) == 1:
            axis = spec.axes[0].field
        more = f"; and {n_bad - len(failing)} more" if n_bad > len(failing) else ""
        raise SweepError(
            f"{n_bad} of {len(rows)} distinct design point(s) cannot be applied (found before any "
            f"work): {'; '.join(failing)}{more}",
            table="axis" if axis else None,
            axis=axis,
        )
    chunk = spec.chunk_points or task.default_chunk
    need = task.memory_bytes(layout.n, spec.replicates, chunk) + layout.design.nbytes
    avail = available_memory()
    if avail is not None and need > avail:
        raise SweepError(
            f"the sweep needs an estimated {need / 2**30:.3g} GiB of memory ({layout.n:,} points x "
            f"{spec.replicates} replicates and one task call), more than the {avail / 2**30:.3g} GiB "
            f"available: fewer points, replicates or smaller [task] sizes"
        )
    return task, layout


def identity(spec: SweepSpec, task: AbstractTask, layout: Layout) -> dict[str, Any]:
    """Everything that defines the numbers of the sweep's points: task, design in SI units, seeds,
    replicates, the task's parameters (with defaults, normalised: ``0`` and ``0.0`` are one value),
    the task's fingerprint (name and SHA-256 of the device card's contents, which stand for the
    card's path: a folder moved with its card resumes) and the physnn version. Not in it: the
    title and the chunking (:attr:`SweepSpec.HARMLESS`)."""
    from .. import __version__

    design = np.ascontiguousarray(layout.design, dtype="<f8")
    out: dict[str, Any] = {
        "task": spec.task,
        "design": spec.design,
        "seed": spec.seed,
        "seeds": list(spec.seeds) if spec.seeds is not None else None,
        "replicates": spec.replicates,
        "axes": {a.dim: a.field for a in spec.axes},
        "axis_order": [a.dim for a in spec.axes],
        "design_sha256": hashlib.sha256(design.tobytes()).hexdigest(),
        "task_params": json.loads(json.dumps(task.identity_params(), sort_keys=True, default=str)),
        "fingerprint": task.fingerprint(),
        "physnn_version": __version__,
    }
    if spec.design == "grid":
        out["values"] = {
            a.dim: (v.tolist() if len(v) <= 64 else hashlib.sha256(v.tobytes()).hexdigest())
            for a, v in zip(spec.axes, layout.per_axis)
        }
    else:
        out["samples"] = spec.samples
        out["design_sampler"] = DESIGN_SAMPLER
    return out


# ---------------------------------------------------------------------------------------------
# work units
# ---------------------------------------------------------------------------------------------
_LAYOUTS: dict[str, Layout] = {}


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this (worker) process end when its parent does, even by ``kill -9``: Linux's
    ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere nothing. A parent already gone ends it now."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def evaluate_chunk(
    spec_json: str, indices: list[int], threads: int | None = None, fingerprint: dict | None = None
) -> list[tuple]:
    """Evaluate the points ``indices`` of the spec (JSON form): rows
    ``(index, status, metrics, error, seconds)``. A chunk that raises is retried point by point,
    so one failing point fails alone. Runs in any process (it rebuilds the task from the spec);
    with ``fingerprint`` it first checks that the task's fingerprint (the device card's contents)
    is the run's, and raises :class:`SweepError` if the card changed while the sweep ran."""
    if threads is not None:
        if "torch" in sys.modules:
            torch = sys.modules["torch"]
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        else:  # read by torch when a task first imports it
            os.environ["OMP_NUM_THREADS"] = str(threads)
    spec = SweepSpec.from_dict(json.loads(spec_json))
    task = make_task(spec)
    if fingerprint is not None and task._fingerprint != fingerprint:
        from .store import identity_diff

        raise SweepError(
            f"the task's inputs changed while the sweep ran ({'; '.join(identity_diff(fingerprint, task._fingerprint))}): "
            f"stopped so that no points of two cards mix; the journal keeps every finished point"
        )
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
        rows += evaluate_chunk(spec_json, [p.index], None, fingerprint)
    return rows


def _chunks(spec: SweepSpec, task: AbstractTask, layout: Layout, todo: list[int], size: int | None) -> list[list[int]]:
    size = size or spec.chunk_points or task.default_chunk
    # points sharing their device group (all fields but the read-out ones and time) run together
    sort_key: Callable[[int], Any] = getattr(task, "sort_key", None) or (lambda i: 0)
    todo = sorted(todo, key=lambda i: (sort_key(layout.point(i)), i))
    return [todo[k : k + size] for k in range(0, len(todo), size)]


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
def to_dataset(
    spec: SweepSpec, task: AbstractTask, layout: Layout, rows: dict[int, tuple], ident: dict[str, Any] | None = None
) -> Any:
    """The labelled Dataset of the rows stored so far (pending points: NaN, status 0); ``ident``
    (:func:`identity`) is stored as the ``identity`` and ``identity_digest`` attributes."""
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
        coords: dict[str, Any] = {
            a.dim: (
                a.dim,
                v.astype(np.int64) if layout.infos[a.field].integer else v,
                {"units": layout.infos[a.field].units, "long_name": layout.infos[a.field].long_name, "field": a.field},
            )
            for a, v in zip(spec.axes, layout.per_axis)
        }
    else:
        shape = [len(layout.design)]
        dims = ["point"]
        coords = {
            "point": (
                "point",
                np.arange(len(layout.design)),
                {"units": "1", "long_name": f"{spec.design} design point"},
            )
        }
        for j, a in enumerate(spec.axes):
            col = layout.design[:, j]
            coords[a.dim] = (
                "point",
                col.astype(np.int64) if layout.infos[a.field].integer else col,
                {"units": layout.infos[a.field].units, "long_name": layout.infos[a.field].long_name, "field": a.field},
            )
    has_seed = spec.seeds is not None
    if has_seed:
        shape.append(S)
        dims.append("seed")
        coords["seed"] = (
            "seed",
            np.array(layout.seeds),
            {"units": "1", "long_name": "seed of the task (e.g. training)"},
        )
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
            half = np.where(
                cnt > 1,
                stats.t.ppf(0.5 + level / 2, np.maximum(cnt - 1, 1)) * std / np.sqrt(np.maximum(cnt, 1)),
                np.where(cnt == 1, 0.0, np.nan),
            )
        dd = tuple(dims)
        data[m] = (dd + ("replicate",), v, {"units": units, "long_name": f"{long_name}, per replicate"})
        data[f"{m}_mean"] = (dd, mean, {"units": units, "long_name": f"{long_name}, mean over replicates"})
        data[f"{m}_std"] = (dd, std, {"units": units, "long_name": f"{long_name}, sample std over replicates"})
        data[f"{m}_ci_low"] = (
            dd,
            mean - half,
            {
                "units": units,
                "long_name": f"{long_name}, lower end of the {level:.0%} Student-t confidence interval of the mean",
            },
        )
        data[f"{m}_ci_high"] = (
            dd,
            mean + half,
            {
                "units": units,
                "long_name": f"{long_name}, upper end of the {level:.0%} Student-t confidence interval of the mean",
            },
        )
    data["status"] = (
        tuple(dims),
        shaped(status),
        {
            "units": "1",
            "long_name": "0 pending, 1 done, 2 failed",
            "flag_values": [0, 1, 2],
            "flag_meanings": "pending done failed",
        },
    )
    data["error"] = (tuple(dims), shaped(error.astype(str)), {"units": "1", "long_name": "error of a failed point"})
    attrs = {
        "title": spec.name or f"physnn sweep ({spec.task})",
        "task": spec.task,
        "design": spec.design,
        "replicates": R,
        "ci_level": level,
        "spec": spec.to_json(),
        "spec_toml": spec.to_toml(),
        "spec_digest": spec.digest,
        "config": json.dumps(task.describe(), sort_keys=True, default=str),
        "physnn_version": __version__,
        "points_total": int(n),
        "points_done": int((status == _OK).sum()),
        "points_failed": int((status == _FAILED).sum()),
    }
    if ident is not None:
        ij = json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)
        attrs["identity"] = ij
        attrs["identity_digest"] = hashlib.sha256(ij.encode()).hexdigest()
    return xr.Dataset(data, coords=coords, attrs=attrs)


def open_results(folder: str | Path) -> Any:
    """The Dataset of a results folder, built from its journal (works on an unfinished sweep, on
    one a sweep is writing, and on a finished read-only folder: nothing is written)."""
    folder = Path(folder)
    try:
        meta, rows = read_journal(folder)
    except sqlite3.Error as exc:
        raise SweepError(describe_os_error(exc, f"{str(folder)!r}: cannot read the journal")) from None
    spec = SweepSpec.from_dict(json.loads(meta["spec"]))
    task, layout = validate(spec)
    ds = to_dataset(spec, task, layout, rows)
    if "identity" in meta:
        ds.attrs["identity"] = meta["identity"]
        ds.attrs["identity_digest"] = meta["identity_digest"]
    return ds


def export_results(folder: str | Path, dest: str | Path) -> Path:
    """A consistent, complete copy of the sweep in ``folder`` (running or not) into the new folder
    ``dest``: the journal by SQLite's online backup and ``sweep.nc`` rebuilt from that copy."""
    from .store import export

    dest = export(folder, dest)
    ds = open_results(dest)
    write_atomic(ds, Path(dest) / DATASET)
    return Path(dest)


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------
def _dask_client(scheduler: str | None, workers: int, timeout: float):
    """A client that is not the process's default: xarray would otherwise take its locks for
    writing ``sweep.nc`` from the scheduler (a lost scheduler then fails the snapshot)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise SweepError(f"the dask executor needs dask.distributed ({exc})") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{timeout}s", set_as_default=False), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise SweepError(f"scheduler {scheduler!r}: unreachable within {timeout:g} s ({_brief(exc)})") from None
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    client = Client(cluster, set_as_default=False)
    from .dask_plugin import DieWithParent

    client.register_plugin(DieWithParent(), name=DieWithParent.name)
    return client, cluster


def _worker_died(ch: list[int], deaths: dict[tuple, int], cause: str) -> tuple[list[list[int]], list[tuple]]:
    """After a worker died running chunk ``ch``: the chunks to submit again and the rows to record
    as failed (bounded retries; a chunk that keeps killing workers is split into single points)."""
    key = tuple(ch)
    deaths[key] = deaths.get(key, 0) + 1
    if deaths[key] < MAX_WORKER_DEATHS:
        return [ch], []
    if len(ch) > 1:
        return [[i] for i in ch], []
    return [], [
        (
            ch[0],
            "failed",
            None,
            f"the worker process died {deaths[key]} times while computing this point ({cause})",
            0.0,
        )
    ]


def _new_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def _run_pool(chunks: list[list[int]], workers: int, spec_json: str, fp: dict, commit: Callable) -> None:
    """Chunks on a process pool. When a worker dies, every chunk in flight fails with
    ``BrokenProcessPool``: a chunk alone in flight is charged with the death; several are run
    again one at a time on a one-worker pool, so that a death is charged to the chunk that
    caused it (bounded by :data:`MAX_WORKER_DEATHS`, see :func:`_worker_died`)."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    deaths: dict[tuple, int] = {}
    broken: list[list[int]] = []
    cause = ""
    pool = _new_pool(workers)
    try:
        futs = {pool.submit(evaluate_chunk, spec_json, ch, 1, fp): ch for ch in chunks}
        for f in as_completed(futs):
            try:
                rows = f.result()
            except BrokenProcessPool as exc:
                broken.append(futs[f])
                cause = f"BrokenProcessPool: {exc}"
            else:
                commit(rows)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    suspects: list[list[int]] = []
    if len(broken) == 1:
        more, failed = _worker_died(broken[0], deaths, cause)
        suspects += more
        if failed:
            commit(failed)
    else:
        suspects = sorted(broken)
    pool = None
    try:
        while suspects:
            ch = suspects.pop(0)
            if pool is None:
                pool = _new_pool(1)
            try:
                rows = pool.submit(evaluate_chunk, spec_json, ch, 1, fp).result()
            except BrokenProcessPool as exc:
                pool.shutdown(wait=True)
                pool = None
                more, failed = _worker_died(ch, deaths, f"BrokenProcessPool: {exc}")
                suspects[:0] = more
                if failed:
                    commit(failed)
            else:
                commit(rows)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _brief(exc: BaseException) -> str:
    """``Type: message`` of an exception on one line (at most 300 characters)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 300 else text[:297] + "..."


def _run_dask(
    client: Any,
    scheduler: str | None,
    chunks: list[list[int]],
    spec_json: str,
    fp: dict,
    commit: Callable,
    worker_timeout: float,
) -> None:
    from distributed.scheduler import KilledWorker

    addr = scheduler or "the local cluster"
    deaths: dict[tuple, int] = {}
    futs = {client.submit(evaluate_chunk, spec_json, ch, 1, fp, pure=False): ch for ch in chunks}
    no_workers_since: float | None = None
    lost_since: float | None = None
    while futs:
        # poll the futures' state (the client is not the process's default, which
        # distributed.wait would need); at most 1 s between the health checks below
        until = time.monotonic() + 1.0
        while time.monotonic() < until and not any(f.done() for f in futs):
            time.sleep(0.02)
        for f in [f for f in futs if f.done()]:
            ch = futs.pop(f)
            if f.status == "finished":
                try:
                    commit(f.result(timeout=worker_timeout))
                except (OSError, TimeoutError) as exc:
                    raise SweepError(
                        f"dask scheduler at {addr} lost while fetching a result ({_brief(exc)}); the journal keeps every finished point: resume with --resume"
                    ) from None
                continue
            if f.status == "cancelled":
                raise SweepError(
                    f"dask scheduler at {addr} lost (its tasks were cancelled); the journal keeps "
                    f"every finished point: resume with --resume"
                )
            exc = f.exception()
            if isinstance(exc, KilledWorker):
                more, failed = _worker_died(ch, deaths, f"KilledWorker: {exc}")
                for c in more:
                    futs[client.submit(evaluate_chunk, spec_json, c, 1, fp, pure=False)] = c
                if failed:
                    commit(failed)
                continue
            if isinstance(exc, SweepError):
                raise exc
            raise SweepError(f"dask: a chunk failed outside the task ({_brief(exc)})")
        now = time.monotonic()
        if client.status != "running":
            lost_since = lost_since or now
            if now - lost_since > worker_timeout:
                raise SweepError(
                    f"dask scheduler at {addr} lost (no connection for {worker_timeout:g} s); the "
                    f"journal keeps every finished point: resume with --resume"
                )
            continue
        lost_since = None
        try:
            n_workers = len(client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - treated like no workers
            n_workers = 0
        if futs and n_workers == 0:
            no_workers_since = no_workers_since or now
            if now - no_workers_since > worker_timeout:
                raise SweepError(
                    f"dask: no workers at {addr} for {worker_timeout:g} s; the journal keeps every "
                    f"finished point: start workers and resume with --resume"
                )
        else:
            no_workers_since = None


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    executor: str = "inprocess",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
    connect_timeout: float = 10.0,
    snapshot_s: float = 10.0,
    chunk_points: int | None = None,
    on_commit: Callable[[int], None] | None = None,
    retry_failed: bool = False,
    worker_timeout: float = 30.0,
    log: Callable[[str], None] | None = None,
) -> Any:
    """Run ``spec`` into the folder ``out`` and return the :class:`xarray.Dataset`.

    Parameters
    ----------
    spec : SweepSpec
    out : path
        Results folder (``journal.sqlite`` + ``sweep.nc``), locked while the sweep runs.
    executor : {"inprocess", "processes", "dask"}
        Where the points run (``scheduler=`` implies ``"dask"``).
    workers : int, optional
        Worker processes of ``"processes"`` / a dask ``LocalCluster`` (default 2).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``).
    resume : bool
        Continue the sweep already in ``out`` (same identity: :func:`identity`); finished points
        are not recomputed. A changed title or chunking is accepted (and said through ``log``).
    progress : bool, optional
        ``tqdm`` progress bar (None: on when writing to a terminal).
    connect_timeout : float
        Seconds to wait for ``scheduler``.
    snapshot_s : float
        Minimum seconds between rewrites of ``sweep.nc`` while running (each also checkpoints the
        journal's write-ahead log).
    chunk_points : int, optional
        Points per task call (overrides the spec's and the task's choice).
    on_commit : callable, optional
        Called with the number of points committed so far (after each commit).
    retry_failed : bool
        With ``resume``: run the points recorded as failed again.
    worker_timeout : float
        Seconds (dask) without any worker, or without the scheduler, before the run stops with a
        :class:`SweepError` (the journal keeps every finished point).
    log : callable, optional
        Receives one-line notes (harmless spec changes accepted on resume, retried points).

    A process-pool worker that dies (killed, out of memory) costs only its chunk: the chunk runs
    again on a new pool, up to :data:`MAX_WORKER_DEATHS` times, then point by point, and a point
    that keeps killing its worker is recorded as failed with the cause. Pool and local-cluster
    workers end with the process that started them.

    Raises
    ------
    SweepError
        Before any work: unknown task/field, bad [task] parameter, empty range, units that do not
        match, design points the task refuses, too little memory, an unreachable scheduler, an
        output folder holding another sweep (or this one without ``resume``), in use by another
        run, read-only, or with an empty/damaged/foreign journal. While running: a full disk, a
        lost scheduler or no dask workers, a device card changed under the run (one line each;
        the journal keeps every finished point).
    """
    if scheduler:
        executor = "dask"
    if executor not in _EXECUTORS:
        raise SweepError(f"executor={executor!r}: must be one of {_EXECUTORS}")
    task, layout = validate(spec)
    ident = identity(spec, task, layout)
    fp = task._fingerprint
    workers = int(workers or 2)
    say = log or (lambda msg: None)
    client = cluster = None
    if executor == "dask":
        client, cluster = _dask_client(scheduler, workers, connect_timeout)
    folder = Path(out)
    journal = None
    try:
        journal = Journal(out, spec, ident, resume=resume, retry_failed=retry_failed)
        for note in journal.notes:
            say(f"note: {note}")
        if retry_failed and getattr(journal, "n_retried", 0):
            say(f"note: running {journal.n_retried} failed point(s) again")
        spec_json = spec.to_json()
        done = journal.done()
        todo = [i for i in range(layout.n) if i not in done]
        chunks = _chunks(spec, task, layout, todo, chunk_points)
        last = [time.monotonic()]

        def snapshot(force: bool = False) -> None:
            if force or time.monotonic() - last[0] >= snapshot_s:
                journal.checkpoint()
                write_atomic(to_dataset(spec, task, layout, journal.rows(), ident), folder / DATASET)
                last[0] = time.monotonic()

        snapshot(force=True)
        from tqdm.auto import tqdm

        bar = tqdm(
            total=layout.n,
            initial=len(done),
            desc=f"sweep {spec.task}",
            unit="pt",
            disable=(None if progress is None else not progress),
            leave=False,
        )

        def commit(rows: list[tuple]) -> None:
            journal.record(rows)
            bar.update(len(rows))
            if on_commit is not None:
                on_commit(journal.n_done())
            snapshot()

        if executor == "inprocess":
            for ch in chunks:
                commit(evaluate_chunk(spec_json, ch, None, fp))
        elif executor == "processes":
            _run_pool(chunks, workers, spec_json, fp, commit)
        else:
            _run_dask(client, scheduler, chunks, spec_json, fp, commit, worker_timeout)
        bar.close()
        journal.checkpoint()
        ds = to_dataset(spec, task, layout, journal.rows(), ident)
        write_atomic(ds, folder / DATASET)
        return ds
    except (OSError, sqlite3.Error) as exc:
        raise SweepError(
            describe_os_error(exc, f"sweep into {str(folder)!r}")
            + ("; the journal keeps every finished point" if journal is not None else "")
        ) from None
    finally:
        if journal is not None:
            journal.close()
        if client is not None:
            try:
                client.close(timeout=5)
            except Exception:  # noqa: BLE001 - a lost scheduler cannot be closed cleanly
                pass
        if cluster is not None:
            try:
                cluster.close(timeout=10)
            except Exception:  # noqa: BLE001
                pass
