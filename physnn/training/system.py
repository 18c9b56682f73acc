"""The forward-only physical-system protocol: query a black box, never differentiate it.

A :class:`AbstractPhysicalSystem` takes an input batch ``x`` ``(B, *input_spec.shape)`` and a flat
parameter vector ``theta`` ``(parameters.size,)`` and returns outputs ``(B, *output_shape)``.
Inputs and parameters have declared bounds and units (:class:`InputSpec`,
:class:`ParameterSpec`); every query is checked and counted. A system may be noisy, drift
between calls, and cost time per query (``latency_s``, kept on a simulated clock
``physical_time_s`` or really slept); it may be a simulated substrate (see
:mod:`physnn.training.adapters`), a user callback (:class:`CallbackSystem`, with a time-out) or a
subprocess talking to an instrument (:class:`SubprocessSystem`).

Every failure raises :class:`PhysicalSystemError` naming the parameter or the query (its
1-based index) -- a parameter outside its bounds, NaN/inf or wrongly shaped outputs, a callback
that raises or times out. Counters are only advanced by queries that succeed.
"""

from __future__ import annotations

import abc
import math
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..random import check_generator, own_generator

__all__ = [
    "ParameterSpec",
    "ParameterSpace",
    "InputSpec",
    "PhysicalSystemError",
    "AbstractPhysicalSystem",
    "CallbackSystem",
    "SubprocessSystem",
    "NoisyDriftingSystem",
    "SequentialSystem",
]


class PhysicalSystemError(ValueError):
    """A query of a physical system failed (bad parameter, bad output, callback error/time-out)."""


@dataclass(frozen=True, kw_only=True)
class ParameterSpec:
    """One named block of a system's parameter vector.

    Parameters
    ----------
    name : str
        E.g. ``"weight"``, ``"leak_rate"``, ``"phase"``.
    shape : tuple of int
        Shape of the block (``()`` for a scalar).
    low, high : float
        Inclusive bounds of every element (``low < high``; infinite bounds allowed).
    units : str
        SI unit of the values (``"1"`` for dimensionless, ``"V"``, ``"Hz"``, ``"rad"``, ``"S"``).
    init : float, optional
        Initial value of every element (default: the middle of finite bounds, else 0).
    """

    name: str
    shape: tuple[int, ...] = ()
    low: float = -math.inf
    high: float = math.inf
    units: str = "1"
    init: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r}: must be a non-empty string")
        shape = tuple(int(s) for s in self.shape)
        if any(s < 1 for s in shape):
            raise ValueError(f"{self.name}: shape={self.shape!r} must have positive sizes")
        object.__setattr__(self, "shape", shape)
        lo, hi = float(self.low), float(self.high)
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise ValueError(f"{self.name}: bounds low={self.low!r}, high={self.high!r} need low < high")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)
        if self.init is not None and not lo <= float(self.init) <= hi:
            raise ValueError(f"{self.name}: init={self.init!r} is outside [{lo}, {hi}] {self.units}")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def default(self) -> float:
        if self.init is not None:
            return float(self.init)
        if math.isfinite(self.low) and math.isfinite(self.high):
            return 0.5 * (self.low + self.high)
        return min(max(0.0, self.low), self.high)


class ParameterSpace:
    """An ordered tuple of :class:`ParameterSpec` laid out in one flat vector ``theta``."""

    def __init__(self, specs: Sequence[ParameterSpec]):
        specs = tuple(specs)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names must be unique, got {names}")
        for s in specs:
            if not isinstance(s, ParameterSpec):
                raise TypeError(f"specs: expected ParameterSpec, got {type(s).__name__}")
        self.specs = specs
        self.offsets = np.cumsum([0] + [s.size for s in specs]).tolist()
        self.size = int(self.offsets[-1])

    def __iter__(self):
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __repr__(self) -> str:
        return (
            "ParameterSpace("
            + ", ".join(f"{s.name}{list(s.shape)} in [{s.low:g}, {s.high:g}] {s.units}" for s in self.specs)
            + ")"
        )

    def bounds(self, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Element-wise ``(low, high)`` vectors of length :attr:`size`."""
        lo = (
            torch.cat([torch.full((s.size,), s.low, dtype=torch.float64) for s in self.specs])
            if self.specs
            else torch.zeros(0, dtype=torch.float64)
        )
        hi = (
            torch.cat([torch.full((s.size,), s.high, dtype=torch.float64) for s in self.specs])
            if self.specs
            else torch.zeros(0, dtype=torch.float64)
        )
        return lo.to(dtype), hi.to(dtype)

    def initial(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The default vector (every block at its :attr:`ParameterSpec.default`)."""
        return (
            torch.cat([torch.full((s.size,), s.default, dtype=dtype) for s in self.specs])
            if self.specs
            else torch.zeros(0, dtype=dtype)
        )

    def split(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{name: block}`` views of ``theta`` in their declared shapes."""
        return {s.name: theta[a:b].view(s.shape) for s, a, b in zip(self.specs, self.offsets[:-1], self.offsets[1:])}

    def join(self, blocks: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Inverse of :meth:`split`."""
        missing = [s.name for s in self.specs if s.name not in blocks]
        if missing:
            raise ValueError(f"blocks: missing parameters {missing}")
        return torch.cat([torch.as_tensor(blocks[s.name], dtype=dtype).reshape(-1) for s in self.specs])

    def clip(self, theta: torch.Tensor) -> torch.Tensor:
        """``theta`` projected onto the bounds (a new tensor)."""
        lo, hi = self.bounds(theta.dtype)
        return torch.maximum(torch.minimum(theta, hi.to(theta.device)), lo.to(theta.device))

    def check(self, theta: Any, where: str = "") -> torch.Tensor:
        """Return ``theta`` as a 1-D tensor, or raise :class:`PhysicalSystemError` naming the
        parameter (and element index) that is non-finite or outside its bounds."""
        if not isinstance(theta, torch.Tensor):
            raise PhysicalSystemError(f"{where}theta: expected a torch.Tensor, got {type(theta).__name__}")
        if theta.dim() != 1 or theta.numel() != self.size:
            raise PhysicalSystemError(f"{where}theta: expected shape ({self.size},), got {tuple(theta.shape)}")
        td = theta.detach()
        for s, a, b in zip(self.specs, self.offsets[:-1], self.offsets[1:]):
            blk = td[a:b]
            bad = ~torch.isfinite(blk)
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                raise PhysicalSystemError(
                    f"{where}parameter {s.name!r}{_unravel(i, s.shape)} = {float(blk[i])!r} is not finite"
                )
            out = (blk < s.low) | (blk > s.high)
            if bool(out.any()):
                i = int(out.nonzero()[0])
                raise PhysicalSystemError(
                    f"{where}parameter {s.name!r}{_unravel(i, s.shape)} = {float(blk[i]):.6g} "
                    f"{s.units} is outside its bounds [{s.low:g}, {s.high:g}] {s.units}"
                )
        return theta


def _unravel(i: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(str(int(k)) for k in np.unravel_index(i, shape)) + "]"


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """Shape (per sample), bounds and units of a system's input.

    ``low``/``high`` are checked per query (inclusive); infinite bounds skip the check.
    """

    shape: tuple[int, ...]
    low: float = -math.inf
    high: float = math.inf
    units: str = "1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if not float(self.low) < float(self.high):
            raise ValueError(f"InputSpec: bounds low={self.low!r}, high={self.high!r} need low < high")


class AbstractPhysicalSystem(abc.ABC):
    """A forward-only physical system: ``y = system(x, theta)``; queried, never differentiated.

    Subclasses set :attr:`parameters` (a :class:`ParameterSpace`), :attr:`input_spec`,
    :attr:`output_shape` and :attr:`output_units`, and implement :meth:`_query` (``x`` and
    ``theta`` already checked; no gradient is recorded). Stateful substrates (generators, device
    states, clocks) extend :meth:`state_dict` / :meth:`load_state_dict` so that a checkpointed
    run resumes with the same numbers.

    Parameters
    ----------
    latency_s : float
        Time one query costs in s (added to :attr:`physical_time_s`).
    sleep : bool
        Really sleep ``latency_s`` per query (an instrument emulation); otherwise the clock is
        simulated.

    Attributes
    ----------
    queries : int
        Successful queries so far (one per call, whatever the batch size).
    samples : int
        Input vectors sent so far (sum of batch sizes).
    physical_time_s : float
        Simulated time spent by the system (``latency_s`` per query).
    writes : int
        Write events of the parameters so far (systems that program a substrate count them;
        0 for the others).
    pulses : int
        Programming pulses applied so far, all devices (systems with pulsed writes; else 0).
    verify_reads : int
        Array reads of closed-loop programming (write-verify) so far (else 0).
    """

    writes: int = 0
    pulses: int = 0
    verify_reads: int = 0
    parameters: ParameterSpace
    input_spec: InputSpec
    output_shape: tuple[int, ...]
    output_units: str = "1"

    def __init__(self, *, latency_s: float = 0.0, sleep: bool = False):
        if not math.isfinite(float(latency_s)) or latency_s < 0:
            raise ValueError(f"latency_s={latency_s!r}: must be finite and >= 0 s")
        self.latency_s = float(latency_s)
        self.sleep = bool(sleep)
        self.queries = 0
        self.samples = 0
        self.physical_time_s = 0.0

    # -- to implement ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B, *output_shape)`` for checked inputs ``(B, *input_spec.shape)``."""

    # -- the protocol ----------------------------------------------------------------------------
    def initial_parameters(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A starting ``theta`` (default: the parameter space's defaults; adapters may draw)."""
        check_generator(generator)
        return self.parameters.initial()

    def query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """One query: check ``x`` and ``theta``, run the system, check and count the output.

        Raises
        ------
        PhysicalSystemError
            Naming the query (1-based index) and the parameter or output at fault.
        """
        n = self.queries + 1
        where = f"{type(self).__name__} query #{n}: "
        theta = self.parameters.check(theta, where)
        x = self._check_x(x, where)
        with torch.no_grad():
            try:
                y = self._query(x, theta.detach())
            except PhysicalSystemError:
                raise
            except Exception as exc:
                raise PhysicalSystemError(f"{where}the system raised {type(exc).__name__}: {exc}") from exc
        y = self._check_y(y, x.shape[0], where)
        self.queries = n
        self.samples += int(x.shape[0])
        self.physical_time_s += self.latency_s
        if self.sleep and self.latency_s > 0:
            time.sleep(self.latency_s)
        return y

    __call__ = query

    def _check_x(self, x: Any, where: str) -> torch.Tensor:
        spec = self.input_spec
        if not isinstance(x, torch.Tensor):
            raise PhysicalSystemError(f"{where}x: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 1 + len(spec.shape) or tuple(x.shape[1:]) != spec.shape:
            raise PhysicalSystemError(
                f"{where}x: expected shape (B, {', '.join(map(str, spec.shape))}), got {tuple(x.shape)}"
            )
        if not bool(torch.isfinite(x).all()):
            raise PhysicalSystemError(f"{where}x: contains NaN or inf")
        if (math.isfinite(spec.low) and bool((x < spec.low).any())) or (
            math.isfinite(spec.high) and bool((x > spec.high).any())
        ):
            raise PhysicalSystemError(
                f"{where}x: values in [{float(x.min()):.4g}, {float(x.max()):.4g}] outside "
                f"the input bounds [{spec.low:g}, {spec.high:g}] {spec.units}"
            )
        return x.detach()

    def _check_y(self, y: Any, batch: int, where: str) -> torch.Tensor:
        if not isinstance(y, torch.Tensor):
            try:
                y = torch.as_tensor(np.asarray(y, dtype=np.float32))
            except Exception as exc:
                raise PhysicalSystemError(f"{where}output: not an array ({type(y).__name__})") from exc
        want = (batch, *self.output_shape)
        if tuple(y.shape) != want:
            raise PhysicalSystemError(f"{where}output: expected shape {want}, got {tuple(y.shape)}")
        if not bool(torch.isfinite(y).all()):
            k = int((~torch.isfinite(y)).sum())
            raise PhysicalSystemError(f"{where}output: {k} of {y.numel()} values are NaN or inf")
        return y.detach()

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Counters, clock and, where the system keeps one in ``self.generator``, the state of its
        generator (``"gen"``); subclasses add device state and any other generator."""
        out = {"queries": self.queries, "samples": self.samples, "physical_time_s": self.physical_time_s}
        gen = getattr(self, "generator", None)
        if isinstance(gen, torch.Generator):
            out["gen"] = gen.get_state()
        return out

    def load_state_dict(self, state: dict) -> None:
        self.queries = int(state["queries"])
        self.samples = int(state["samples"])
        self.physical_time_s = float(state["physical_time_s"])
        gen = getattr(self, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.set_state(state["gen"])

    def differentiable(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """A differentiable simulation of the same system (only for simulated substrates).

        Used by the trainers that are *not* model-free (hardware-aware training, backprop
        baselines). Not counted as a query. Raises ``NotImplementedError`` for black boxes.
        """
        raise NotImplementedError(f"{type(self).__name__} is a black box: no differentiable simulation")


# ------------------------------------------------------------------------------------------------
# user callbacks and instruments
# ------------------------------------------------------------------------------------------------
class CallbackSystem(AbstractPhysicalSystem):
    """A system behind a user function ``fn(x, params) -> y`` (numpy or torch).

    ``params`` is the ``{name: block}`` dict of the parameter vector (torch tensors). The call
    runs in one worker thread and is abandoned after ``timeout_s`` (a Python thread cannot be
    killed: a hung callback keeps its thread; for a process that must be killed use
    :class:`SubprocessSystem`).

    Parameters
    ----------
    fn : callable
    parameters : sequence of ParameterSpec
    input_spec : InputSpec
    output_shape : tuple of int
    timeout_s : float, optional
        Per-query time-out in s (None: wait forever).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        parameters: Sequence[ParameterSpec],
        input_spec: InputSpec,
        output_shape: Sequence[int],
        *,
        timeout_s: float | None = None,
        output_units: str = "1",
        latency_s: float = 0.0,
        sleep: bool = False,
    ):
        super().__init__(latency_s=latency_s, sleep=sleep)
        if not callable(fn):
            raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
        if timeout_s is not None and not float(timeout_s) > 0:
            raise ValueError(f"timeout_s={timeout_s!r}: must be > 0 s or None")
        self.fn = fn
        self.parameters = ParameterSpace(parameters)
        self.input_spec = input_spec
        self.output_shape = tuple(int(s) for s in output_shape)
        self.output_units = output_units
        self.timeout_s = None if timeout_s is None else float(timeout_s)
        self._pool: ThreadPoolExecutor | None = None

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        where = f"{type(self).__name__} query #{self.queries + 1}: "
        params = self.parameters.split(theta)
        if self.timeout_s is None:
            try:
                y = self.fn(x, params)
            except Exception as exc:
                raise PhysicalSystemError(
                    f"{where}callback {getattr(self.fn, '__name__', 'fn')} raised {type(exc).__name__}: {exc}"
                ) from exc
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="physnn-callback")
            fut = self._pool.submit(self.fn, x, params)
            try:
                y = fut.result(timeout=self.timeout_s)
            except FutureTimeout:
                self._pool.shutdown(wait=False)  # the hung worker is abandoned, a new one serves the next query
                self._pool = None
                raise PhysicalSystemError(
                    f"{where}callback {getattr(self.fn, '__name__', 'fn')} timed out after {self.timeout_s:g} s"
                ) from None
            except Exception as exc:
                raise PhysicalSystemError(
                    f"{where}callback {getattr(self.fn, '__name__', 'fn')} raised {type(exc).__name__}: {exc}"
                ) from exc
        if not isinstance(y, torch.Tensor):
            y = torch.as_tensor(np.asarray(y, dtype=np.float32))
        return y


class SubprocessSystem(AbstractPhysicalSystem):
    """A system driven by an external program (e.g. an instrument driver), one process per query.

    The command is run as ``[*command, IN.npz, OUT.npz]``: ``IN.npz`` holds ``x`` and one array
    per parameter (by name); the program writes ``OUT.npz`` with an array ``y``. A non-zero exit
    status, a missing ``y`` or a run longer than ``timeout_s`` (the process is killed) is a
    :class:`PhysicalSystemError` carrying the program's stderr.
    """

    def __init__(
        self,
        command: Sequence[str],
        parameters: Sequence[ParameterSpec],
        input_spec: InputSpec,
        output_shape: Sequence[int],
        *,
        timeout_s: float = 60.0,
        output_units: str = "1",
        latency_s: float = 0.0,
        env: dict | None = None,
    ):
        super().__init__(latency_s=latency_s)
        if isinstance(command, str) or not command:
            raise TypeError("command: expected a non-empty list of arguments, e.g. [sys.executable, 'driver.py']")
        self.command = [str(c) for c in command]
        self.parameters = ParameterSpace(parameters)
        self.input_spec = input_spec
        self.output_shape = tuple(int(s) for s in output_shape)
        self.output_units = output_units
        self.timeout_s = float(timeout_s)
        self.env = env

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        where = f"{type(self).__name__} query #{self.queries + 1}: "
        with tempfile.TemporaryDirectory(prefix="physnn-query-") as d:
            fin, fout = os.path.join(d, "in.npz"), os.path.join(d, "out.npz")
            arrays: dict[str, Any] = {k: v.cpu().numpy() for k, v in self.parameters.split(theta).items()}
            np.savez(fin, x=x.cpu().numpy(), **arrays)
            env = None if self.env is None else {**os.environ, **self.env}
            try:
                r = subprocess.run(
                    [*self.command, fin, fout], capture_output=True, text=True, timeout=self.timeout_s, env=env
                )
            except subprocess.TimeoutExpired:
                raise PhysicalSystemError(
                    f"{where}{self.command[-1]} timed out after {self.timeout_s:g} s (killed)"
                ) from None
            if r.returncode != 0:
                raise PhysicalSystemError(
                    f"{where}{self.command[-1]} exited with status {r.returncode}: {r.stderr.strip()[-500:]}"
                )
            try:
                with np.load(fout) as f:
                    y = np.array(f["y"])
            except (OSError, KeyError) as exc:
                raise PhysicalSystemError(f"{where}{self.command[-1]} wrote no array 'y' to {fout}") from exc
        return torch.as_tensor(y)


# ------------------------------------------------------------------------------------------------
# robustness: a wrapper that drifts and is noisy
# ------------------------------------------------------------------------------------------------
class NoisyDriftingSystem(AbstractPhysicalSystem):
    """Wrap a system so that it drifts and is noisy *during training*.

    ``y = g(q) * inner(x, theta) + offset(q) + sigma * |scale| * n``, with ``q`` the query index:
    the gain ``g(q) = 1 + gain_drift * q / 1000`` (relative change per thousand queries), an
    offset random walk of step ``offset_walk`` per query, and Gaussian noise of relative std
    ``noise`` (``scale`` = std of the clean output of the batch). All dimensionless, in units of
    the inner system's output. Draws come from ``generator`` (None: a generator seeded from
    torch's global one, so ``torch.manual_seed`` fixes them).
    """

    def __init__(
        self,
        inner: AbstractPhysicalSystem,
        *,
        noise: float = 0.0,
        gain_drift: float = 0.0,
        offset_walk: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__(latency_s=inner.latency_s, sleep=inner.sleep)
        for name, v in (("noise", noise), ("offset_walk", offset_walk)):
            if not math.isfinite(float(v)) or v < 0:
                raise ValueError(f"{name}={v!r}: must be finite and >= 0")
        self.inner = inner
        self.parameters, self.input_spec = inner.parameters, inner.input_spec
        self.output_shape, self.output_units = inner.output_shape, inner.output_units
        self.noise, self.gain_drift, self.offset_walk = float(noise), float(gain_drift), float(offset_walk)
        self.generator = own_generator(generator)
        self._offset = torch.zeros(self.output_shape)

    def initial_parameters(self, generator=None):
        return self.inner.initial_parameters(generator)

    def _query(self, x, theta):
        y = self.inner.query(x, theta)
        q = self.queries
        gain = 1.0 + self.gain_drift * q / 1000.0
        if self.offset_walk > 0:
            self._offset = self._offset + self.offset_walk * torch.randn(self.output_shape, generator=self.generator)
        out = gain * y + self._offset.to(y.dtype)
        if self.noise > 0:
            out = out + self.noise * y.std() * torch.randn(y.shape, generator=self.generator, dtype=y.dtype)
        return out

    def differentiable(self, x, theta):
        return self.inner.differentiable(x, theta)

    @property
    def writes(self) -> int:
        return self.inner.writes

    @property
    def pulses(self) -> int:
        return self.inner.pulses

    @property
    def verify_reads(self) -> int:
        return self.inner.verify_reads

    def state_dict(self):
        return {**super().state_dict(), "inner": self.inner.state_dict(), "offset": self._offset.clone()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.inner.load_state_dict(state["inner"])
        self._offset = state["offset"].clone()


class SequentialSystem(AbstractPhysicalSystem):
    """Physical systems chained in hardware: the output of one drives the next; one query of
    the chain is one query of each stage (counted on the stages and on the chain).

    ``theta`` is the concatenation of the stages' vectors, the blocks named ``"{i}.{name}"``.
    ``differentiable`` and ``ideal`` compose the stages' own (where they have them).
    """

    def __init__(self, stages: Sequence[AbstractPhysicalSystem]):
        stages = list(stages)
        if not stages:
            raise ValueError("stages: need at least one system")
        super().__init__(latency_s=0.0)
        for i, s in enumerate(stages):
            if not isinstance(s, AbstractPhysicalSystem):
                raise TypeError(f"stages[{i}]: expected an AbstractPhysicalSystem, got {type(s).__name__}")
            if i and tuple(s.input_spec.shape) != tuple(stages[i - 1].output_shape):
                raise ValueError(
                    f"stages[{i}]: input shape {s.input_spec.shape} != output shape "
                    f"{stages[i - 1].output_shape} of stages[{i - 1}]"
                )
        self.stages = stages
        self.parameters = ParameterSpace(
            [
                ParameterSpec(name=f"{i}.{p.name}", shape=p.shape, low=p.low, high=p.high, units=p.units, init=p.init)
                for i, s in enumerate(stages)
                for p in s.parameters
            ]
        )
        self.input_spec = stages[0].input_spec
        self.output_shape, self.output_units = stages[-1].output_shape, stages[-1].output_units
        self._cuts = np.cumsum([0] + [s.parameters.size for s in stages]).tolist()

    @property
    def writes(self) -> int:
        """Write events of all stages."""
        return sum(s.writes for s in self.stages)

    @property
    def pulses(self) -> int:
        """Programming pulses of all stages."""
        return sum(s.pulses for s in self.stages)

    @property
    def verify_reads(self) -> int:
        """Write-verify array reads of all stages."""
        return sum(s.verify_reads for s in self.stages)

    def _thetas(self, theta):
        return [theta[a:b] for a, b in zip(self._cuts[:-1], self._cuts[1:])]

    def initial_parameters(self, generator=None):
        return torch.cat([s.initial_parameters(generator) for s in self.stages])

    def _query(self, x, theta):
        for s, t in zip(self.stages, self._thetas(theta)):
            x = s.query(x, t)
        self.physical_time_s = sum(s.physical_time_s for s in self.stages) - self.latency_s
        return x

    def _compose(self, method, x, theta, **kw):
        for s, t in zip(self.stages, self._thetas(theta)):
            f = getattr(s, method, None)
            if f is None:
                raise NotImplementedError(f"{type(s).__name__} has no {method}()")
            x = f(x, t, **kw)
        return x

    def differentiable(self, x, theta, **kw):
        return self._compose("differentiable", x, theta, **kw)

    def ideal(self, x, theta):
        return self._compose("ideal", x, theta)

    def state_dict(self):
        return {**super().state_dict(), "stages": [s.state_dict() for s in self.stages]}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        for s, st in zip(self.stages, state["stages"]):
            s.load_state_dict(st)
