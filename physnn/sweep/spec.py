"""Sweep specifications: which fields vary over which values, how the points are laid out, with
which seeds and how many replicates; checked against the task before any work starts.

A spec names a *task* (what one point computes, :mod:`physnn.sweep.tasks`) and a list of
:class:`Axis`. An axis addresses a field by a dotted path:

* ``config.<field>[.<sub>]`` — a field of the task's :class:`~physnn.crossbar.CrossbarConfig`
  (``config.out_noise``, ``config.adc.bits``, ``config.t_inference``, ``config.read_noise.scale``);
* ``card.<section>.<key>`` — a number of the device card (``card.drift.t0``);
* ``task.<name>`` — a parameter of the task itself.

Designs: ``"grid"`` (every combination; one result dimension per axis), ``"random"`` (``samples``
independent uniform or log-uniform draws) and ``"lhs"`` (Latin hypercube,
:class:`scipy.stats.qmc.LatinHypercube`); random and LHS results have a ``point`` dimension with
one coordinate per axis.

TOML form (``load_spec`` / :meth:`SweepSpec.to_toml`)::

    [sweep]
    task = "crossbar_mlp"
    design = "grid"
    replicates = 8
    seed = 0

    [task]
    card = "pcm_aihwkit"

    [[axis]]
    field = "config.out_noise"
    name = "read_noise"
    values = [0.0, 0.05, 0.1]
    units = "1"

    [[axis]]
    field = "config.t_inference"
    start = 1.0
    stop = 3.156e7
    num = 5
    scale = "log"
    units = "s"
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._compat import tomllib
from ..units import scale_exact, unit_factor

__all__ = ["SweepError", "Axis", "SweepSpec", "FieldInfo", "load_spec", "unit_factor", "DESIGN_SAMPLER"]

_DESIGNS = ("grid", "random", "lhs")
#: version of the random/LHS point sampler (2: numpy draws derived from a torch generator)
DESIGN_SAMPLER = 2
_SCALES = ("linear", "log")


class SweepError(ValueError):
    """A sweep cannot run as specified: the message names the field, file or address at fault.

    ``table`` (``"sweep"``, ``"task"`` or ``"axis"``), ``key`` and ``axis`` (the axis's ``field``)
    say where in a spec the fault is, so that :func:`load_spec` can name the file's line.
    """

    def __init__(self, msg: str = "", *, table: str | None = None, key: str | None = None, axis: str | None = None):
        super().__init__(msg)
        self.table, self.key, self.axis = table, key, axis


@dataclass(frozen=True, kw_only=True)
class FieldInfo:
    """What a task knows about a sweepable field.

    Parameters
    ----------
    units : str
        SI unit of the field (``"1"`` dimensionless, ``"bit"`` for converter resolutions).
    long_name : str
        Description used as the coordinate's ``long_name``.
    integer : bool
        The field takes integer values (designs round to integers).
    """

    units: str
    long_name: str
    integer: bool = False


@dataclass(frozen=True, kw_only=True)
class Axis:
    """One swept field.

    Parameters
    ----------
    field : str
        Dotted path (``config.adc.bits``, ``card.drift.t0``, ``task.hidden``).
    values : tuple of float, optional
        Explicit values (grid designs).
    start, stop : float, optional
        Range: grid uses ``num`` points from ``start`` to ``stop``; random/LHS draw in it.
    num : int, optional
        Grid points of a ``start``/``stop`` range.
    scale : {"linear", "log"}
        Spacing of a range (log: geometric, both ends > 0).
    units : str, optional
        Units of the numbers given here; must be the field's unit or a prefixed form of it
        (default: the field's unit). Values are converted to SI.
    name : str, optional
        Dimension name in the results (default: the path without its first part, dots -> ``_``).
    """

    field: str
    values: tuple[float, ...] | None = None
    start: float | None = None
    stop: float | None = None
    num: int | None = None
    scale: str = "linear"
    units: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field.strip():
            raise SweepError(f"axis field: expected a dotted path such as 'config.out_noise', got {self.field!r}")
        if self.values is not None:
            if isinstance(self.values, (str, bytes)) or not hasattr(self.values, "__iter__"):
                raise SweepError(f"axis {self.field}: values must be a list of numbers, got {self.values!r}")
            vals = tuple(self.values)
            for v in vals:
                if (
                    isinstance(v, bool)
                    or not isinstance(v, (int, float, np.integer, np.floating))
                    or not math.isfinite(v)
                ):
                    raise SweepError(
                        f"axis {self.field}: values must be finite numbers, got {v!r}",
                        table="axis",
                        key="values",
                        axis=self.field,
                    )
            seen: set[float] = set()
            for v in vals:
                if float(v) in seen:
                    raise SweepError(
                        f"axis {self.field}: value {v!r} appears twice in values (each grid value once)",
                        table="axis",
                        key="values",
                        axis=self.field,
                    )
                seen.add(float(v))
            object.__setattr__(self, "values", tuple(v.item() if isinstance(v, np.generic) else v for v in vals))
        if self.scale not in _SCALES:
            raise SweepError(
                f"axis {self.field}: scale={self.scale!r} must be one of {_SCALES}",
                table="axis",
                key="scale",
                axis=self.field,
            )

    @property
    def dim(self) -> str:
        """Name of the result dimension."""
        if self.name:
            return self.name
        parts = self.field.split(".")
        return "_".join(parts[1:] if len(parts) > 1 else parts)

    def check_range(self, design: str) -> None:
        """Raise :class:`SweepError` (naming the field) for an empty or inconsistent range."""
        f = self.field
        if self.values is not None:
            if any(x is not None for x in (self.start, self.stop, self.num)):
                raise SweepError(f"axis {f}: give either values or start/stop(/num), not both")
            if len(self.values) == 0:
                raise SweepError(f"axis {f}: empty range (values = [])")
            if design != "grid":
                raise SweepError(f"axis {f}: a {design} design draws from start/stop; explicit values only make a grid")
            return
        if self.start is None or self.stop is None:
            raise SweepError(f"axis {f}: empty range (give values, or start and stop)")
        for nm in ("start", "stop"):
            v = getattr(self, nm)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise SweepError(f"axis {f}: {nm}={v!r} must be a finite number")
        if design == "grid":
            if self.num is None or isinstance(self.num, bool) or not isinstance(self.num, int) or self.num < 1:
                raise SweepError(f"axis {f}: empty range (num={self.num!r}; a grid range needs num >= 1)")
            if self.num > 1 and self.start == self.stop:
                raise SweepError(f"axis {f}: empty range (start == stop == {self.start} with num={self.num})")
        elif not self.stop > self.start:
            raise SweepError(f"axis {f}: empty range (start={self.start} must be < stop={self.stop})")
        if self.scale == "log" and not (self.start > 0 and self.stop > 0):
            raise SweepError(f"axis {f}: a log scale needs start > 0 and stop > 0 (got {self.start}, {self.stop})")

    def grid_values(self) -> np.ndarray:
        """Grid values in the spec's units (not yet SI)."""
        if self.values is not None:
            return np.asarray(self.values, dtype=float)
        # (check_range: a grid range has start, stop and num)
        start, stop, num = cast(float, self.start), cast(float, self.stop), cast(int, self.num)
        if self.scale == "log":
            return np.geomspace(start, stop, num)
        return np.linspace(start, stop, num)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map uniform numbers in [0, 1) into the range (spec units)."""
        start, stop = cast(float, self.start), cast(float, self.stop)  # (check_range: a drawn range has both)
        if self.scale == "log":
            lo, hi = math.log(start), math.log(stop)
            return np.exp(lo + u * (hi - lo))
        return start + u * (stop - start)


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """A sweep: task, axes, design, seeds and replicates.

    Parameters
    ----------
    task : str
        A registered task name (:data:`physnn.sweep.tasks.TASKS`), ``"module:Class"`` (a
        subclass of :class:`~physnn.sweep.tasks.AbstractTask`) or ``"module:factory"`` (the
        user's own network: :class:`~physnn.sweep.tasks.UserModuleTask`; the module is also
        looked up next to the spec's TOML file).
    axes : tuple of Axis
    design : {"grid", "random", "lhs"}
    samples : int, optional
        Points of a random / LHS design.
    seed : int
        Master seed (device instances, noise, random designs).
    seeds : tuple of int, optional
        Extra seeds swept as a ``seed`` dimension (the task's ``seed``, e.g. of its training);
        ``None``: no seed dimension, ``seed`` is used.
    replicates : int
        Independent device instances per point (the ``replicate`` dimension; statistics over it).
    task_params : dict
        Fixed parameters of the task (its ``[task]`` table).
    chunk_points : int, optional
        Points handed to one task call (default: the task's choice).
    name : str
        Free-text title.
    """

    task: str
    axes: tuple[Axis, ...]
    design: str = "grid"
    samples: int | None = None
    seed: int = 0
    seeds: tuple[int, ...] | None = None
    replicates: int = 1
    task_params: dict[str, Any] = field(default_factory=dict)
    chunk_points: int | None = None
    name: str = ""
    #: the TOML file the spec was read from (not part of the spec: error messages name its lines)
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise SweepError(f"task: expected a task name, got {self.task!r}")
        axes = tuple(a if isinstance(a, Axis) else Axis(**a) for a in self.axes)
        object.__setattr__(self, "axes", axes)
        if not axes:
            raise SweepError("axes: a sweep needs at least one axis")
        if self.design not in _DESIGNS:
            raise SweepError(f"design={self.design!r}: must be one of {_DESIGNS}")
        if self.design != "grid":
            if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
                raise SweepError(f"samples={self.samples!r}: a {self.design} design needs samples >= 1")
        elif self.samples is not None:
            raise SweepError("samples: only random and lhs designs take samples (a grid's size is its axes')")
        for nm in ("seed", "replicates"):
            v = getattr(self, nm)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if nm == "replicates" else 0):
                raise SweepError(f"{nm}={v!r}: must be an integer >= {1 if nm == 'replicates' else 0}")
        if self.seeds is not None:
            if isinstance(self.seeds, (str, bytes, int, float)) or not hasattr(self.seeds, "__iter__"):
                raise SweepError(
                    f"seeds={self.seeds!r}: must be a list of integers >= 0 (e.g. seeds = [0, 1, 2, 3]; "
                    f"a single seed is seed = ...)",
                    table="sweep",
                    key="seeds",
                )
            s = tuple(self.seeds)
            if not s or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in s):
                raise SweepError(f"seeds={self.seeds!r}: must be a non-empty list of integers >= 0")
            if len(set(s)) != len(s):
                raise SweepError(f"seeds={self.seeds!r}: repeated seed")
            object.__setattr__(self, "seeds", s)
        if self.chunk_points is not None and (not isinstance(self.chunk_points, int) or self.chunk_points < 1):
            raise SweepError(f"chunk_points={self.chunk_points!r}: must be an integer >= 1")
        dims = [a.dim for a in axes]
        fields_ = [a.field for a in axes]
        for lst, what in ((dims, "dimension name"), (fields_, "field")):
            dup = {d for d in lst if lst.count(d) > 1}
            if dup:
                raise SweepError(f"axes: {what} {sorted(dup)[0]!r} appears twice")
        for d in dims:
            if d in ("replicate", "seed", "point"):
                raise SweepError(f"axis {d!r}: the name is reserved for a result dimension; set name=")
        for a in axes:
            a.check_range(self.design)
        object.__setattr__(self, "task_params", dict(self.task_params))

    # -- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON/TOML-able), ``None`` entries dropped."""
        sweep = {
            k: v
            for k, v in (
                ("name", self.name),
                ("task", self.task),
                ("design", self.design),
                ("samples", self.samples),
                ("seed", self.seed),
                ("seeds", list(self.seeds) if self.seeds is not None else None),
                ("replicates", self.replicates),
                ("chunk_points", self.chunk_points),
            )
            if v is not None and v != ""
        }
        axes = [
            {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(a).items()
                if v is not None and not (k == "scale" and v == "linear")
            }
            for a in self.axes
        ]
        out: dict[str, Any] = {"sweep": sweep, "axis": axes}
        if self.task_params:
            out["task"] = dict(self.task_params)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "spec") -> "SweepSpec":
        """Inverse of :meth:`to_dict` (the layout of the TOML file)."""
        unknown = set(d) - {"sweep", "axis", "task"}
        if unknown:
            raise SweepError(f"{source}: unknown table(s) {sorted(unknown)} (known: [sweep], [task], [[axis]])")
        sw = dict(d.get("sweep", {}))
        known = {"name", "task", "design", "samples", "seed", "seeds", "replicates", "chunk_points"}
        bad = set(sw) - known
        if bad:
            raise SweepError(
                f"{source}: unknown key(s) {sorted(bad)} in [sweep] (known: {sorted(known)})",
                table="sweep",
                key=sorted(bad)[0],
            )
        if "task" not in sw:
            raise SweepError(f'{source}: [sweep] needs task = "..."', table="sweep")
        axes = []
        akeys = {"field", "values", "start", "stop", "num", "scale", "units", "name"}
        for i, a in enumerate(d.get("axis", [])):
            if not isinstance(a, dict):
                raise SweepError(f"{source}: [[axis]] #{i + 1} must be a table")
            bad = set(a) - akeys
            if bad:
                raise SweepError(
                    f"{source}: [[axis]] #{i + 1} ({a.get('field', '?')}): unknown key(s) "
                    f"{sorted(bad)} (known: {sorted(akeys)})",
                    table="axis",
                    key=sorted(bad)[0],
                    axis=a.get("field"),
                )
            if "field" not in a:
                raise SweepError(f'{source}: [[axis]] #{i + 1} needs field = "..."')
            a = dict(a)
            if "values" in a:
                a["values"] = tuple(a["values"]) if isinstance(a["values"], list) else a["values"]
            axes.append(Axis(**a))
        if isinstance(sw.get("seeds"), list):
            sw["seeds"] = tuple(sw["seeds"])
        return cls(axes=tuple(axes), task_params=dict(d.get("task", {})), **sw)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal specs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """SHA-256 of :meth:`to_json` (identifies the sweep in a results folder); random and
        Latin-hypercube designs add the version of their point sampler, so a results folder
        written with other draws is refused on resume instead of mixing two sets of points."""
        tag = "" if self.design == "grid" else f"|design-sampler={DESIGN_SAMPLER}"
        return hashlib.sha256((self.to_json() + tag).encode()).hexdigest()

    #: fields of the spec that do not change any point's numbers (a resume may change them)
    HARMLESS = ("name", "chunk_points")

    def replace(self, **changes: Any) -> "SweepSpec":
        return replace(self, **changes)

    # -- layout -----------------------------------------------------------------------------------
    @property
    def seed_values(self) -> tuple[int, ...]:
        return self.seeds if self.seeds is not None else (self.seed,)

    def design_values(self, infos: dict[str, FieldInfo]) -> tuple[list[np.ndarray], np.ndarray]:
        """SI values: per axis its grid values (grid), and the design matrix ``(n_design, n_axes)``.

        ``infos`` maps each axis field to its :class:`FieldInfo` (units, integer).
        """
        per_axis: list[np.ndarray] = []
        factors: list[float] = []
        for a in self.axes:
            info = infos[a.field]
            # (the axes' units were checked against the fields' before: physnn.sweep.run.Layout)
            fac = cast(float, unit_factor(a.units, info.units)) if a.units is not None else 1.0
            factors.append(fac)
        if self.design == "grid":
            for a, fac in zip(self.axes, factors):
                # exact decimal scaling: 10 uS is 1e-05, not 9.999999999999999e-06
                v = np.array([scale_exact(float(x), fac) for x in a.grid_values()], dtype=float)
                if infos[a.field].integer:
                    v = np.round(v)
                per_axis.append(v)
            mesh = np.meshgrid(*per_axis, indexing="ij")
            return per_axis, np.stack([m.ravel() for m in mesh], axis=-1)
        n, k = int(cast(int, self.samples)), len(self.axes)  # (__post_init__: a drawn design has samples)
        # design draws through the package's randomness policy: one torch generator from the
        # seed, numpy's from it (scipy's sampler wants one); see DESIGN_SAMPLER in digest
        from ..random import generator_from_seed, numpy_rng  # imports torch: only when drawing

        rng = numpy_rng(generator_from_seed(self.seed))
        if self.design == "lhs":
            from scipy.stats import qmc

            u = qmc.LatinHypercube(d=k, seed=rng).random(n)
        else:
            u = rng.random((n, k))
        cols = []
        for j, (a, fac) in enumerate(zip(self.axes, factors)):
            c = np.array([scale_exact(float(x), fac) for x in a.from_unit(u[:, j])], dtype=float)
            if infos[a.field].integer:
                c = np.round(c)
            cols.append(c)
            per_axis.append(c)
        return per_axis, np.stack(cols, axis=-1)


_SWEEP_KEYS = ("name", "task", "design", "samples", "seed", "seeds", "replicates", "chunk_points")


def spec_line(text: str, *, table: str | None, key: str | None = None, axis: str | None = None) -> int | None:
    """Line number (1-based) in the TOML ``text`` of ``key`` in ``[table]`` (``table="axis"``: in the
    ``[[axis]]`` whose ``field`` is ``axis``); the table's header line when the key is not written
    there; None when the table is not in the text. (The standard library's TOML reader keeps no
    positions: the text is scanned for the header and the key.)"""
    import re

    if table is None:
        return None
    blocks: list[tuple[int, str, list[tuple[int, str]]]] = []  # (header line, table, lines)
    cur: tuple[int, str, list] | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        st = line.split("#", 1)[0].strip() if '"' not in line.split("#", 1)[0] else line.strip()
        m = re.match(r"^\[\[\s*([A-Za-z_]+)\s*\]\]$|^\[\s*([A-Za-z_]+)\s*\]$", st)
        if m:
            cur = (n, m.group(1) or m.group(2), [])
            blocks.append(cur)
        elif cur is not None:
            cur[2].append((n, line))
    for head, name, lines in blocks:
        if name != table:
            continue
        if axis is not None:
            if not any(re.match(r'^\s*field\s*=\s*["\']' + re.escape(axis) + r'["\']', ln) for _, ln in lines):
                continue
        if key is None:
            k = "field" if table == "axis" else None
            hit = [n for n, ln in lines if k and re.match(rf"^\s*{k}\s*=", ln)]
            return hit[0] if hit else head
        for n, ln in lines:
            if re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", ln):
                return n
        return head
    return None


def where_of(exc: SweepError) -> tuple[str | None, str | None, str | None]:
    """``(table, key, axis)`` of a :class:`SweepError`: its own, or read from the message's prefix
    (``axis FIELD: ...``, ``seeds=...``)."""
    import re

    if exc.table is not None:
        return exc.table, exc.key, exc.axis
    msg = str(exc)
    m = re.match(r"^axis (\S+?):", msg)
    if m:
        return "axis", None, m.group(1).strip("'")
    m = re.match(r"^(\w+)=", msg)
    if m and m.group(1) in _SWEEP_KEYS:
        return "sweep", m.group(1), None
    return None, None, None


def locate(exc: SweepError, path: str | Path, text: str | None = None) -> SweepError:
    """``exc`` with its message prefixed by ``FILE:LINE: `` (or ``FILE: ``) of ``path``."""
    msg = str(exc)
    p = str(path)
    if msg.startswith(p + ":"):
        if exc.table is None:
            return exc
        msg = msg[len(p) + 1 :].lstrip()
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            text = ""
    table, key, axis = where_of(exc)
    line = spec_line(text, table=table, key=key, axis=axis)
    out = SweepError(f"{p}:{line}: {msg}" if line else f"{p}: {msg}", table=table, key=key, axis=axis)
    return out


def load_spec(path: str | Path) -> SweepSpec:
    """Read a :class:`SweepSpec` from a TOML file (errors name the file and, where they can, the line)."""
    p = Path(path)
    if not p.is_file():
        raise SweepError(f"sweep spec {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"{p}: cannot read the spec ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{p}: TOML syntax error: {exc}") from None
    try:
        spec = SweepSpec.from_dict(raw, source=str(p))
    except SweepError as exc:
        raise locate(exc, p, text) from None
    except TypeError as exc:
        raise SweepError(f"{p}: {exc}") from None
    return replace(spec, source=str(p))
