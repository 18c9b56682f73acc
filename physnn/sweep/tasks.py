"""What one sweep point computes.

A task turns points (field values + seeds) into metrics, one value per replicate (independent
device instance). :func:`make_task` builds one from a spec; :data:`TASKS` names the built-in ones:

``crossbar_mlp``
    Test accuracy of a small MLP (64-``hidden``-10, trained in floating point on scikit-learn's
    8x8 digits, read from the csv inside scikit-learn) whose layers run on simulated crossbars.
``crossbar_linear``
    Relative output error of one ``in_features`` x ``out_features`` :class:`AnalogLinear` of
    random weights on a random batch, against the float product.
``"module:factory"``
    The user's own network (:class:`UserModuleTask`): ``factory(seed, **params)`` returns a
    :class:`UserModel` (float model, evaluation data, optional score); every point converts the
    model with :func:`physnn.crossbar.convert` onto the point's crossbar tiles and reads it once.
``toy``
    ``sin(x) cos(y)`` plus noise, with an optional CPU-bound busy loop and a failure threshold
    (for tests and for the executor benchmark).

Vectorisation (the crossbar tasks)
----------------------------------
Points that share their device (card and device-effect fields, seed) are evaluated together:
the layers are programmed once with ``replicates`` device instances on the ensemble dimension of
:class:`~physnn.crossbar.AnalogLinear`; each drift time is one :meth:`AnalogLinear.set_time`;
the points' read-out parameters (output read noise ``config.out_noise``, ADC ``config.adc.bits``
and ``config.adc.y_max``) are applied per point to the array's analog outputs, with the points
folded into the batch of the next layer's per-member input. The analog output, the noise and the
ADC are the layer's own read semantics (see :mod:`physnn.crossbar.config`): the layer reads with
its DAC, without output noise and ADC; output noise ``N(0, out_noise)`` and the public
:func:`~physnn.crossbar.adc` act on ``y / (alpha x_scale)`` in the config's output units, then
the digital rescale and the bias follow. ``tests/sweep`` checks this path against an
:class:`AnalogLinear` whose config holds the ADC. One difference: with global drift
compensation the factor ``alpha`` comes from the array's calibration read *without* output noise
and ADC (an ideal calibration read, the same for every read-out setting), where a layer holding
the ADC calibrates through it. Bound management is not batched: the crossbar tasks run with it
off. A shared input (the first layer's) is read once per device instance and drift time — the
analog read before output noise is deterministic — and each point adds its own noise and ADC. Every random draw of a point comes from
generators keyed by the sweep seed and the point (or its device group, or its drift time), so a
point's numbers do not depend on which other points share its call. For the same reason the
programmed layers of the last device group are kept for the task's next call of that group (a
sweep's consecutive chunks): a group is programmed once per process, not once per chunk, with
the numbers a fresh programming gives (``tests/sweep`` checks it).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import fields as dc_fields
from dataclasses import is_dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .._io import file_sha256
from .spec import FieldInfo, SweepError, SweepSpec

__all__ = ["Point", "Param", "AbstractTask", "CrossbarMLP", "CrossbarLinear", "Toy", "TASKS", "make_task", "point_key",
           "UserModel", "UserModuleTask"]


class Point(NamedTuple):
    """One sweep point: its flat index, SI field values, the seed of its ``seed`` coordinate and
    a 63-bit key for its own random draws."""

    index: int
    values: dict[str, float]
    seed: int
    key: int


def _numpy_rng_of(seed: int) -> np.random.Generator:
    """numpy draws of ``seed`` through :mod:`physnn.random` (imported here: it imports torch)."""
    from ..random import generator_from_seed, numpy_rng

    return numpy_rng(generator_from_seed(seed))


def point_key(*parts: Any) -> int:
    """A stable 63-bit integer from JSON-able parts (SHA-256; same parts -> same key)."""
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=float).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


@dataclass(frozen=True, kw_only=True)
class Param:
    """Type, range and unit of one task parameter (a key of the spec's ``[task]`` table).

    Parameters
    ----------
    default : int, float, bool or str
        The value when the spec does not give one; its type is the parameter's type (an integer
        parameter also takes an integral float such as ``16.0``; a float one takes integers).
    units : str
        SI unit of the value (``"1"`` dimensionless).
    doc : str
        What the parameter is (used in error messages).
    low, high : float, optional
        Inclusive bounds (``low_open``: ``low`` itself excluded).
    choices : tuple of str, optional
        Allowed strings.
    """

    default: Any
    units: str = "1"
    doc: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None

    def check(self, name: str, value: Any) -> Any:
        """``value`` normalised to the parameter's type, or :class:`SweepError` naming ``[task] name``."""
        d = self.default
        what = f"[task] {name} = {value!r}"
        doc = f" ({self.doc}, in {self.units})" if self.doc and self.units != "1" else f" ({self.doc})" if self.doc else ""

        def bad(expect: str) -> SweepError:
            return SweepError(f"{what}: must be {expect}{doc}", table="task", key=name)

        if isinstance(d, bool):
            if not isinstance(value, bool):
                raise bad("true or false (a TOML boolean, not a string or number)")
            return value
        if isinstance(d, str):
            if not isinstance(value, str):
                raise bad("a string" + (f", one of {list(self.choices)}" if self.choices else ""))
            if self.choices is not None and value not in self.choices:
                raise bad(f"one of {list(self.choices)}")
            return value
        rng = []
        if self.low is not None:
            rng.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            rng.append(f"<= {self.high:g}")
        if isinstance(d, int):
            if isinstance(value, float) and math.isfinite(value) and value == int(value):
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad("an integer" + (" " + " and ".join(rng) if rng else ""))
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise bad("a number" + (" " + " and ".join(rng) if rng else ""))
            value = float(value)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)) or \
                self.high is not None and value > self.high:
            raise bad(("an integer " if isinstance(d, int) else "") + " and ".join(rng))
        return value


class AbstractTask:
    """Base of sweep tasks.

    Subclasses set :attr:`name`, :attr:`metrics` (name -> (units, long_name)) and implement
    :meth:`fields`, :meth:`evaluate` and :meth:`describe`; parameters come as keyword arguments
    (the spec's ``[task]`` table) and unknown ones are refused by :meth:`_take`.
    """

    name = "abstract"
    metrics: dict[str, tuple[str, str]] = {}
    #: points per task call when the spec does not say
    default_chunk = 64

    def __init__(self, *, master_seed: int = 0, **params: Any):
        self.master_seed = int(master_seed)
        self.params = self._take(params)

    #: parameter -> :class:`Param` (type, range, unit, default)
    schema: dict[str, Param] = {}

    @property
    def defaults(self) -> dict[str, Any]:
        """Parameter -> default value."""
        return {k: p.default for k, p in self.schema.items()}

    def _take(self, params: dict[str, Any]) -> dict[str, Any]:
        # a subclass may still declare plain ``defaults = {...}``: each then typed by its default
        schema = self.schema or {k: Param(default=v) for k, v in self.defaults.items()}
        bad = set(params) - set(schema)
        if bad:
            raise SweepError(f"task {self.name}: unknown parameter(s) {sorted(bad)} "
                             f"(known: {sorted(schema)})", table="task", key=sorted(bad)[0])
        out = {k: p.default for k, p in schema.items()}
        for k, v in params.items():
            out[k] = schema[k].check(k, v)
        return out

    def fingerprint(self) -> dict[str, Any]:
        """What defines the points besides the spec and the parameters (e.g. the SHA-256 of a
        device card's contents): a results folder refuses to mix points of another fingerprint."""
        return {}

    def identity_params(self) -> dict[str, Any]:
        """The parameters that define the points (default: all); a parameter whose meaning the
        fingerprint covers (a card's path, where its contents are hashed) may be left out, so
        that a folder moved with its card still resumes."""
        return dict(self.params)

    def memory_bytes(self, n_points: int, replicates: int, chunk: int) -> int:
        """Estimated peak memory of a sweep of ``n_points`` (results plus one task call of
        ``chunk`` points), checked against the machine's memory before any work."""
        return 0

    def fields(self) -> dict[str, FieldInfo]:
        """Every sweepable field with its SI unit."""
        raise NotImplementedError

    def check_point(self, values: dict[str, float]) -> None:
        """Raise (naming the field) when ``values`` cannot be applied; called before any work."""

    def evaluate(self, points: list[Point], replicates: int) -> list[dict[str, np.ndarray]]:
        """Metrics of ``points``: per point a dict metric -> array of shape ``(replicates,)``."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """JSON-able description of everything fixed (stored in the results' attrs)."""
        return {"task": self.name, "params": self.params}


# ---------------------------------------------------------------------------------------------
# toy task
# ---------------------------------------------------------------------------------------------
class Toy(AbstractTask):
    """``f = sin(x) cos(y) + noise * N(0, 1)``; ``work`` iterations of a pure-Python loop per
    point (CPU-bound, holds the GIL); points with ``x > fail_above`` raise; points with
    ``x > crash_above`` end the worker process computing them (fault-tolerance tests)."""

    name = "toy"
    metrics = {"f": ("1", "sin(x) cos(y) plus Gaussian noise")}
    schema = {"x": Param(default=0.0, doc="toy input x"), "y": Param(default=0.0, doc="toy input y"),
              "noise": Param(default=0.1, low=0.0, doc="std of the additive noise"),
              "work": Param(default=0, low=0, doc="busy-loop iterations per point"),
              "fail_above": Param(default=math.inf, doc="points with x above it raise"),
              "crash_above": Param(default=math.inf, doc="points with x above it end their worker process "
                                   "(os._exit; in the main process they raise instead)")}
    default_chunk = 1

    def fields(self) -> dict[str, FieldInfo]:
        return {"task.x": FieldInfo(units="1", long_name="toy input x"),
                "task.y": FieldInfo(units="1", long_name="toy input y"),
                "task.noise": FieldInfo(units="1", long_name="std of the additive noise"),
                "task.work": FieldInfo(units="1", long_name="busy-loop iterations per point", integer=True)}

    def memory_bytes(self, n_points: int, replicates: int, chunk: int) -> int:
        return 8 * n_points * replicates * (6 * len(self.metrics) + 1)

    def evaluate(self, points: list[Point], replicates: int) -> list[dict[str, np.ndarray]]:
        out = []
        for p in points:
            v = {**self.params, **{k.split(".", 1)[1]: x for k, x in p.values.items()}}
            if v["x"] > float(self.params["fail_above"]):
                raise ValueError(f"toy: x={v['x']} > fail_above={self.params['fail_above']}")
            if v["x"] > float(self.params["crash_above"]):
                import multiprocessing
                import os

                if multiprocessing.parent_process() is not None:      # a worker process: die
                    os._exit(70)
                raise ValueError(f"toy: x={v['x']} > crash_above={self.params['crash_above']} (not in a worker "
                                 f"process: raised instead)")
            acc = 0
            for i in range(int(v["work"])):
                acc += i * i
            rng = _numpy_rng_of(p.key)
            f = math.sin(v["x"]) * math.cos(v["y"]) + v["noise"] * rng.standard_normal(replicates)
            out.append({"f": f})
        return out


# ---------------------------------------------------------------------------------------------
# crossbar tasks
# ---------------------------------------------------------------------------------------------
#: fields applied per point to the analog outputs (no re-programming)
_READOUT = ("config.out_noise", "config.adc.bits", "config.adc.y_max")
_TIME = "config.t_inference"


def _apply_config(cfg: Any, path: str, value: float, integer: bool) -> Any:
    """``cfg`` with the dotted ``path`` (below ``config.``) set to ``value`` (ValueError naming it)."""
    parts = path.split(".")
    v: Any = int(round(value)) if integer else float(value)
    if len(parts) == 1:
        return cfg.replace(**{parts[0]: v})
    sub = getattr(cfg, parts[0])
    if sub is None:
        raise SweepError(f"config.{path}: the task's base config has no {parts[0]} (switch it on in [task] "
                         f"or sweep a field it has)")
    new = replace(sub, **{parts[1]: v})
    if parts[0] == "range":
        return cfg.replace(range=new)
    return cfg.replace(**{parts[0]: new})


def _card_with(card: Any, changes: dict[str, float]) -> Any:
    """A validated copy of ``card`` with ``{"section.key": SI value}`` changed (re-parsed)."""
    from .._compat import tomllib

    import tomli_w

    from ..cards import load_card, parse_card

    card = load_card(card)
    if card.path is None:
        raise SweepError("card.*: sweeping card fields needs a card read from a file")
    raw = tomllib.loads(card.path.read_text(encoding="utf-8"))
    for path, v in changes.items():
        sec, key = path.split(".", 1)
        if sec not in raw or key not in raw[sec]:
            raw.setdefault(sec, {})
        q = raw[sec].get(key)
        entry = dict(q) if isinstance(q, dict) else {"source": "sweep override"}
        entry["value"] = v
        entry["units"] = card.quantity(sec, key).units if isinstance(q, dict) else _card_units(sec, key)
        raw[sec][key] = entry
    try:
        return parse_card(tomli_w.dumps(raw))
    except ValueError as exc:
        # the message of the re-parsed copy names its own lines: name the user's card instead
        import re

        msg = re.sub(r"^<card text>(:\d+)?: ", "", str(exc))
        what = ", ".join(f"card.{k} = {v!r}" for k, v in changes.items())
        raise SweepError(f"{what}: {msg} (overriding the card {str(card.path)!r})") from None


def _card_units(sec: str, key: str) -> str:
    from ..card_schema import SECTIONS

    return SECTIONS[sec].fields[key].units


def digits(seed: int):
    """sklearn's 8x8 digits from the csv inside scikit-learn (no download, no sklearn import),
    scaled to [0, 1] and split 70/30 by a seeded permutation: ``(xtr, ytr, xte, yte)`` tensors."""
    import gzip
    import importlib.util

    import torch

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the crossbar_mlp task needs scikit-learn (its bundled digits data set)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = raw[:, :-1] / 16.0, raw[:, -1].astype(np.int64)
    perm = _numpy_rng_of(seed).permutation(len(y))
    n_test = int(round(0.3 * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    t = torch.from_numpy
    return t(x[tr]), t(y[tr]), t(x[te]), t(y[te])


def train_mlp(xtr, ytr, *, hidden: int, seed: int, epochs: int):
    """A 64-``hidden``-10 ReLU MLP trained by full-batch Adam (lr 1e-2) in floating point."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Linear(xtr.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10))
    with torch.no_grad():
        for lin in (net[0], net[2]):
            bound = 1.0 / math.sqrt(lin.in_features)
            lin.weight.uniform_(-bound, bound, generator=g)
            lin.bias.uniform_(-bound, bound, generator=g)
    params = list(net.parameters())
    m = [torch.zeros_like(q) for q in params]
    v = [torch.zeros_like(q) for q in params]
    lr, b1, b2, eps = 1e-2, 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        loss = nn.functional.cross_entropy(net(xtr), ytr)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for q, gr, mi, vi in zip(params, grads, m, v):
                mi.mul_(b1).add_(gr, alpha=1 - b1)
                vi.mul_(b2).addcmul_(gr, gr, value=1 - b2)
                q.sub_(lr * (mi / (1 - b1 ** step)) / ((vi / (1 - b2 ** step)).sqrt() + eps))
    return net.eval()


class _CrossbarTask(AbstractTask):
    """Shared machinery of the crossbar tasks: base config, field table, vectorised reads."""

    schema = {"card": Param(default="pcm_aihwkit", doc="device card: a name or a path to a .toml file"),
              "dac_bits": Param(default=8, low=0, high=32, units="bit", doc="DAC resolution, 0: no DAC"),
              "adc_bits": Param(default=8, low=0, high=32, units="bit", doc="ADC resolution, 0: no ADC"),
              "adc_y_max": Param(default=12.0, low=0.0, low_open=True, doc="ADC saturation level (output units)"),
              "out_noise": Param(default=0.0, low=0.0, doc="output read noise std (output units)"),
              "input_scaling": Param(default="abs_max", choices=("fixed", "abs_max"), doc="DAC input scaling"),
              "output_units": Param(default="weight", choices=("normalized", "weight"), doc="output units"),
              "t_inference": Param(default=0.0, low=0.0, units="s", doc="time since programming"),
              "drift_compensation": Param(default=True, doc="global drift compensation"),
              "max_elements": Param(default=1 << 23, low=1, doc="numbers per batched read buffer"),
              "cost_card": Param(default="", doc="card with a [cost] section (e.g. rram_40nm): adds the metrics "
                                 "energy and latency per input vector (physnn.crossbar.cost, SAR ADCs of the "
                                 "point's bits); empty: no cost metrics")}
    default_chunk = 64
    #: the cost metrics a ``cost_card`` adds
    cost_metrics = {"energy": ("J", "read energy per input vector, all layers (physnn.crossbar.cost)"),
                    "latency": ("s", "read latency per input vector, layers in sequence (physnn.crossbar.cost)")}

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        if self.params["cost_card"]:
            self.metrics = {**type(self).metrics, **self.cost_metrics}
        self._cost_tech: Any = None
        self._nets: dict[int, Any] = {}
        self._base: Any = None
        # the last device group's programmed layers: (group key, layers, w_max, their drift time)
        self._programmed: tuple | None = None

    @property
    def base_config(self):
        """The CrossbarConfig of the task parameters (built on first use: torch is imported
        only after the spec's fields, units and ranges have been checked)."""
        if self._base is None:
            self._base = self._base_config()
        return self._base

    # -- configuration ------------------------------------------------------------------------
    def _periphery(self) -> dict[str, Any]:
        from ..crossbar import ADC, DAC

        p = self.params
        kw: dict[str, Any] = dict(out_noise=float(p["out_noise"]), input_scaling=p["input_scaling"],
                                  output_units=p["output_units"], t_inference=float(p["t_inference"]),
                                  drift_compensation=bool(p["drift_compensation"]), bound_management=False)
        kw["dac"] = DAC(int(p["dac_bits"]), 1.0) if p["dac_bits"] else None
        kw["adc"] = ADC(int(p["adc_bits"]), float(p["adc_y_max"])) if p["adc_bits"] else None
        return kw

    def _base_config(self, card: Any = None):
        from ..cards import CardError
        from ..crossbar import CrossbarConfig

        try:
            return CrossbarConfig.from_card(self.params["card"] if card is None else card, **self._periphery())
        except (CardError, TypeError) as exc:
            raise SweepError(f"task {self.name}: {exc}") from None
        except ValueError as exc:
            raise SweepError(f"task {self.name}: {exc}") from None

    def fields(self) -> dict[str, FieldInfo]:
        from ..card_schema import SECTIONS

        from ..params_table import SWEEP_FIELDS      # CrossbarConfig's field metadata (physnn.crossbar.params)

        out = {f"config.{k}": FieldInfo(units=u, long_name=ln, integer=i) for k, (u, ln, i) in SWEEP_FIELDS.items()}
        for sec, schema in SECTIONS.items():
            for key, f in schema.fields.items():
                if f.kind in ("float", "int") and f.units is not None:
                    out[f"card.{sec}.{key}"] = FieldInfo(units=f.units, long_name=f.doc or f"[{sec}].{key} of the device card",
                                                         integer=f.kind == "int")
        return out

    def fingerprint(self) -> dict[str, Any]:
        """The SHA-256 of the device card's file (its contents, wherever it is found)."""
        from ..cards import CardError, load_card

        try:
            card = load_card(self.params["card"])
        except (CardError, OSError, ValueError) as exc:
            raise SweepError(f"[task] card = {self.params['card']!r}: {exc}", table="task", key="card") from None
        if card.path is None:
            return {"card": card.name}
        return {"card": card.name, "card_sha256": file_sha256(card.path)}

    def identity_params(self) -> dict[str, Any]:
        p = dict(self.params)
        if "card_sha256" in self.fingerprint():
            p.pop("card")                         # the card's name and contents are in the fingerprint
        return p

    def _shapes(self) -> tuple[int, int, list[tuple[int, int]]]:
        """``(batch, width, [(in, out) per layer])`` of the network, from the parameters alone."""
        raise NotImplementedError

    def memory_bytes(self, n_points: int, replicates: int, chunk: int) -> int:
        R = replicates
        B, width, layers = self._shapes()
        read = 8 * 4 * max(int(self.params["max_elements"]), R * B * width)       # read buffers of one call
        weights = 8 * 6 * R * sum(i * o for i, o in layers)                       # conductances, drift, masks
        results = 8 * n_points * R * (6 * len(self.metrics) + 1)
        return read + weights + results

    def config_for(self, values: dict[str, float]):
        """The CrossbarConfig of a point (card fields re-parse the card, config fields replace)."""
        infos = self.fields()
        card_changes = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("card.")}
        cfg = self._base_config(_card_with(self.params["card"], card_changes)) if card_changes else self.base_config
        for k, v in values.items():
            if k.startswith("config."):
                try:
                    cfg = _apply_config(cfg, k.split(".", 1)[1], v, infos[k].integer)
                except SweepError:
                    raise
                except (ValueError, TypeError) as exc:
                    raise SweepError(f"{k}={v!r}: {exc}") from None
        return cfg

    def check_point(self, values: dict[str, float]) -> None:
        self._readout_of(self.config_for(values), values)

    def forget_programming(self) -> None:
        """Drop the programmed layers kept from the last call (frees their memory; the next call
        programs its device group again, with the same numbers)."""
        self._programmed = None

    def sort_key(self, p: Point) -> tuple:
        """Points of one device group and drift time sort together (one batched read)."""
        return (p.seed, tuple(sorted((k, v) for k, v in p.values.items() if k not in _READOUT)))

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in self.params.items()},
                "base_config": _jsonable(self.base_config)}

    # -- what subclasses provide --------------------------------------------------------------
    def network(self, seed: int) -> list:
        """The float ``nn.Linear`` layers (ReLU between them) for ``seed``."""
        raise NotImplementedError

    def data(self, seed: int):
        """``(x, target)`` of the evaluation batch."""
        raise NotImplementedError

    def score(self, out, target, net_out) -> dict[str, Any]:
        """Metrics of outputs ``out`` ``(R, K, B, n_out)``: dict name -> ``(R, K)`` tensor."""
        raise NotImplementedError

    def _cached_net(self, seed: int):
        if seed not in self._nets:
            self._nets[seed] = (self.network(seed), self.data(seed))
        return self._nets[seed]

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, points: list[Point], replicates: int) -> list[dict[str, np.ndarray]]:
        import torch

        results: list[dict[str, np.ndarray] | None] = [None] * len(points)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, p in enumerate(points):
            dev = tuple(sorted((k, v) for k, v in p.values.items() if k not in _READOUT and k != _TIME))
            groups[(dev, p.seed)].append(i)
        with torch.no_grad():
            for (dev, seed), idx in groups.items():
                self._evaluate_group(dict(dev), seed, [points[i] for i in idx], replicates, results, idx)
        return results  # type: ignore[return-value]

    def _evaluate_group(self, dev: dict[str, float], seed: int, pts: list[Point], R: int,
                        results: list, where: list[int]) -> None:
        import torch
        from torch import nn

        from ..crossbar import AnalogLinear

        cfg = self.config_for(dev)
        dev_cfg = cfg.replace(out_noise=0.0, adc=None)
        lins, (x, target) = self._cached_net(seed)
        gkey = point_key(self.master_seed, seed, sorted(dev.items()))
        # programming is a pure function of the group key, and set_time of (programming, time,
        # its keyed generator): the layers of the last group are kept and serve the next call of
        # the same group (the points of a group arrive in consecutive chunks) with the same
        # numbers, without programming again. Not with read noise drawn per forward (the
        # layers' generator then moves with every read).
        ident = (tuple(sorted(dev.items())), seed, R)
        cached, self._programmed = self._programmed, None      # set again only when this group succeeds
        if cached is not None and cached[0] == ident:
            _, layers, w_max, t_now = cached
        else:
            cached = None                                          # frees the other group's layers
            gen = torch.Generator().manual_seed(gkey)
            layers = []
            for lin in lins:
                plain = nn.Linear(lin.in_features, lin.out_features, bias=False)
                plain.weight.data.copy_(lin.weight.data)
                layers.append(AnalogLinear.from_linear(plain, config=dev_cfg, ensemble=R, generator=gen).eval())
            for layer in layers:
                layer.program()
            w_max = []
            for lin in lins:
                w = lin.weight.detach()
                if cfg.weight_clip is not None:
                    w = w.clamp(-cfg.weight_clip, cfg.weight_clip)
                w_max.append(float(cfg.w_max) if cfg.w_max is not None else (float(w.abs().max()) or 1.0))
            t_now = None
        by_t: dict[float, list[int]] = defaultdict(list)
        for j, p in enumerate(pts):
            by_t[float(p.values.get(_TIME, cfg.t_inference))].append(j)
        B = x.shape[0]
        width = max(max(lin.in_features, lin.out_features) for lin in lins)
        # points per batched read: bounds each (R, K, B, width) buffer to max_elements numbers
        k_max = max(1, int(self.params["max_elements"]) // (R * B * width))
        for t, js in by_t.items():
            if t != t_now:
                for li, layer in enumerate(layers):
                    layer.set_time(t, generator=torch.Generator().manual_seed(point_key(gkey, t, li)))
                t_now = t
            # equal ADC settings next to each other: one ADC pass per setting and block
            js = sorted(js, key=lambda j: (self._readout_of(cfg, pts[j].values)[1:] if cfg.adc is not None else (),
                                           pts[j].index))
            for s in range(0, len(js), k_max):
                sub = js[s:s + k_max]
                sub_pts = [pts[j] for j in sub]
                ro = [self._readout_of(cfg, p.values) for p in sub_pts]
                out = self._forward(layers, lins, x, ro, sub_pts, w_max, cfg)
                met = self.score(out, target, None)
                if self.params["cost_card"]:
                    met.update(self._cost(layers, self._inputs, ro, cfg))
                for kk, j in enumerate(sub):
                    results[where[j]] = {m: v[:, kk].double().numpy().copy() for m, v in met.items()}
        if not dev_cfg.read_noise_per_forward:
            self._programmed = (ident, layers, w_max, t_now)

    def _cost(self, layers, inputs, ro, cfg) -> dict[str, Any]:
        """Cost metrics ``(R, K)`` of the points read last: each layer's cost from the input it saw
        (per point after the first layer) and the point's ADC bits (a SAR ADC; 8 bits without one)."""
        import torch

        from ..crossbar.cost import CostConfig, CostTechnology, SARConverter, layer_cost_tensors

        if self._cost_tech is None:
            try:
                self._cost_tech = CostTechnology.from_card(self.params["cost_card"])
            except (ValueError, TypeError, OSError) as exc:
                raise SweepError(f"task {self.name}: cost_card: {exc}") from None
        K = len(ro)
        R = layers[0].ensemble
        energy = torch.zeros(R, K, dtype=torch.float64)
        latency = torch.zeros(R, K, dtype=torch.float64)
        shared: dict[Any, Any] = {}
        for layer, h in zip(layers, inputs):
            for k in range(K):
                bits = ro[k][1] if ro[k][1] is not None else 8
                c = CostConfig(technology=self._cost_tech, adc=SARConverter(bits=int(bits)))
                if h.dim() == 2:                    # the shared first-layer input: once per ADC setting
                    key = (id(layer), bits)
                    if key not in shared:
                        shared[key] = layer_cost_tensors(layer, h, c, shared_input=True)
                    r = shared[key]
                    B = h.shape[0]
                else:
                    r = layer_cost_tensors(layer, h[:, k], c, shared_input=False)
                    B = h.shape[-2]
                energy[:, k] += sum(v for v in r["energy"].values()).double() / B
                latency[:, k] += float(sum(r["latency"].values())) / B
        return {"energy": energy, "latency": latency}

    @staticmethod
    def _readout_of(cfg: Any, values: dict[str, float]) -> tuple[float, int | None, float | None]:
        sigma = float(values.get("config.out_noise", cfg.out_noise))
        if cfg.adc is None:
            if "config.adc.bits" in values or "config.adc.y_max" in values:
                raise SweepError("config.adc.*: the task's base config has no adc (set adc_bits in [task])")
            return sigma, None, None
        bits = int(round(values.get("config.adc.bits", cfg.adc.bits)))
        y_max = float(values.get("config.adc.y_max", cfg.adc.y_max))
        return sigma, bits, y_max

    def _forward(self, layers, lins, x, ro, pts: list[Point], w_max: list[float], cfg):
        """Outputs ``(R, K, B, n_out)`` of the points' reads through every layer."""
        import torch

        from ..crossbar.read import add_counter_normal

        K = len(pts)
        R = layers[0].ensemble
        B = x.shape[0]
        h = x                                                           # shared (B, in)
        self._inputs = []                                               # each layer's input (for the cost)
        for li, (layer, lin) in enumerate(zip(layers, lins)):
            self._inputs.append(h)
            if h.dim() == 2:
                y = layer(h).unsqueeze(1)                               # (R, 1, B, out)
                xs_in = h.unsqueeze(0).unsqueeze(0)
            else:
                y = layer(h.reshape(R, K * B, -1)).reshape(R, K, B, -1)
                xs_in = h
            if cfg.input_scaling == "abs_max":
                xs = xs_in.abs().amax(-1, keepdim=True).clamp(min=1e-30)
            else:
                xs = torch.tensor(cfg.dac.x_max if cfg.dac is not None else 1.0, dtype=x.dtype)
            alpha = torch.as_tensor(layer.drift_alpha, dtype=x.dtype).reshape(R, 1, 1, 1)
            unit = 1.0 if cfg.output_units == "weight" else w_max[li]
            scale = alpha * xs * unit                                   # (R, 1|K, B|1, 1)
            ys = y / scale                           # analog output in ADC units, (R, 1|K, B, out)
            n_out = y.shape[-1]
            from ..buffers import empty_torch

            h = empty_torch((R, K, B, n_out), x.dtype)      # every element written below
            # blocks of points (~2**21 numbers, cache-resident), in place on the block's slice of
            # the output: per point, output noise N(0, sigma) drawn by the crossbar's counter-based
            # generator (physnn.crossbar.read.add_counter_normal) with the point's own key; per run
            # of points with equal resolution and range, the ADC of physnn.crossbar.adc (saturate
            # at +-y_max, round to 2**bits - 1 levels: the same formula, float32 bounds and step
            # y_max / (2**(bits-1) - 1); tests/sweep checks it against an AnalogLinear holding
            # the ADC), then the digital rescale (step and input scale in one factor, as the
            # layer's own read), bias and activation. Every step is per element, so the numbers
            # do not depend on the block size.
            last = li == len(layers) - 1
            bias = lin.bias.detach() if lin.bias is not None else None
            f32 = np.float32 if x.dtype == torch.float32 else np.float64
            kb = max(1, (1 << 21) // (R * B * n_out))
            for a in range(0, K, kb):
                b = min(K, a + kb)
                zb = h[:, a:b]
                yb = ys if ys.shape[1] == 1 else ys[:, a:b]
                add_counter_normal(yb.reshape(R, yb.shape[1], B * n_out), [ro[k][0] for k in range(a, b)],
                                   [point_key(pts[k].key, li) for k in range(a, b)], out=zb.view(R, b - a, B * n_out))
                i = a
                while i < b:
                    j = i + 1
                    while j < b and ro[j][1:] == ro[i][1:]:
                        j += 1
                    zr = h[:, i:j]
                    sr = scale if scale.shape[1] == 1 else scale[:, i:j]
                    bits, y_max = ro[i][1], ro[i][2]
                    if bits is not None:
                        m = f32(y_max)
                        step = m / f32(2 ** (bits - 1) - 1)
                        zr.clamp_(-float(m), float(m)).div_(float(step)).round_().mul_(sr * float(step))
                    else:
                        zr.mul_(sr)
                    i = j
                if bias is not None:
                    zb.add_(bias)
                if not last:
                    zb.relu_()
        return h


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {"type": type(obj).__name__, **{f.name: _jsonable(getattr(obj, f.name)) for f in dc_fields(obj)}}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


class CrossbarMLP(_CrossbarTask):
    """Digits MLP on crossbars; metric ``accuracy`` (fraction of the test split correct)."""

    name = "crossbar_mlp"
    metrics = {"accuracy": ("1", "test accuracy of the analog MLP (fraction correct)")}
    schema = {**_CrossbarTask.schema, "hidden": Param(default=64, low=1, doc="hidden units"),
              "epochs": Param(default=300, low=0, doc="full-batch Adam steps of the float training"),
              "data_seed": Param(default=0, low=0, doc="seed of the train/test split")}

    def _shapes(self) -> tuple[int, int, list[tuple[int, int]]]:
        h = int(self.params["hidden"])
        return 540, max(64, h), [(64, h), (h, 10)]

    def network(self, seed: int) -> list:
        import torch

        xtr, ytr, _, _ = digits(int(self.params["data_seed"]))
        # one thread: the same network in every process, whatever its thread count
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.enable_grad():
                net = train_mlp(xtr, ytr, hidden=int(self.params["hidden"]), seed=seed,
                                epochs=int(self.params["epochs"]))
        finally:
            torch.set_num_threads(threads)
        return [net[0], net[2]]

    def data(self, seed: int):
        _, _, xte, yte = digits(int(self.params["data_seed"]))
        return xte, yte

    def float_accuracy(self, seed: int) -> float:
        """Test accuracy of the floating-point network of ``seed``."""
        import torch

        lins, (x, y) = self._cached_net(seed)
        with torch.no_grad():
            out = lins[1](torch.relu(lins[0](x)))
        return float((out.argmax(-1) == y).float().mean())

    def score(self, out, target, net_out) -> dict[str, Any]:
        return {"accuracy": (out.argmax(-1) == target).float().mean(-1)}


class CrossbarLinear(_CrossbarTask):
    """One random ``in_features`` x ``out_features`` layer on a random batch; metric
    ``rel_error`` = ``||y - y_float|| / ||y_float||`` over the batch."""

    name = "crossbar_linear"
    metrics = {"rel_error": ("1", "relative output error against the float layer (Frobenius norm)")}
    schema = {**_CrossbarTask.schema, "in_features": Param(default=256, low=1, doc="layer inputs"),
              "out_features": Param(default=256, low=1, doc="layer outputs"),
              "batch": Param(default=64, low=1, doc="input vectors of the evaluation batch")}

    def _shapes(self) -> tuple[int, int, list[tuple[int, int]]]:
        i, o = int(self.params["in_features"]), int(self.params["out_features"])
        return int(self.params["batch"]), max(i, o), [(i, o)]

    def network(self, seed: int) -> list:
        import torch
        from torch import nn

        g = torch.Generator().manual_seed(seed)
        lin = nn.Linear(int(self.params["in_features"]), int(self.params["out_features"]), bias=False)
        with torch.no_grad():
            lin.weight.uniform_(-1.0, 1.0, generator=g)
        return [lin]

    def data(self, seed: int):
        import torch

        g = torch.Generator().manual_seed(seed + 1)
        x = torch.rand(int(self.params["batch"]), int(self.params["in_features"]), generator=g) * 2 - 1
        lin = self.network(seed)[0]
        with torch.no_grad():
            return x, lin(x)

    def score(self, out, target, net_out) -> dict[str, Any]:
        import torch

        err = torch.linalg.vector_norm(out.sub_(target), dim=(-2, -1))     # out is not used again
        return {"rel_error": err / torch.linalg.vector_norm(target)}


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
        raise SweepError(f"task {name!r}: neither a subclass of physnn.sweep.tasks.AbstractTask nor a factory "
                         f"function (def factory(seed, **params) -> UserModel)")
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
        t = None                        # e.g. the device card's file changed: build it again
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


# ---------------------------------------------------------------------------------------------
# the user's own network: task = "module:factory"
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class UserModel:
    """What a user factory returns for :class:`UserModuleTask`.

    Parameters
    ----------
    model : torch.nn.Module
        The (trained) float network; every ``nn.Linear``/``nn.Conv1d``/``nn.Conv2d`` (and the
        other layers :func:`physnn.crossbar.convert` knows) is put on crossbar tiles per point.
    x : torch.Tensor
        Evaluation inputs ``(N, ...)`` (one batch, read once per point and device instance).
    y : torch.Tensor
        Targets ``(N, ...)``.
    score : callable, optional
        ``score(out, y) -> {metric: tensor (R,)}`` with ``out`` the converted model's output
        ``(R, N, ...)`` (``R`` device instances). Default: ``{"accuracy": fraction of
        argmax(out, -1) == y}`` per instance. Its keys must be the factory's metrics (see
        :class:`UserModuleTask`).
    """

    model: Any
    x: Any
    y: Any
    score: Any = None


#: metrics of a factory that declares none: the default score's
_USER_DEFAULT_METRICS = {"accuracy": ("1", "accuracy of the converted model on the factory's evaluation data "
                                      "(fraction correct)")}


def _factory_params(factory: Any, name: str) -> dict[str, Param]:
    """The keyword parameters of ``factory`` after ``seed`` whose defaults are scalars: [task] parameters."""
    import inspect

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"task {name!r}: cannot read the factory's signature ({exc})") from None
    ps = list(sig.parameters.values())
    if not ps or ps[0].name != "seed" or ps[0].kind not in (ps[0].POSITIONAL_ONLY, ps[0].POSITIONAL_OR_KEYWORD):
        raise SweepError(f"task {name!r}: a factory must take the seed as its first parameter: "
                         f"def factory(seed, *, ...) -> physnn.sweep.tasks.UserModel")
    out = {}
    for p in ps[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise SweepError(f"task {name!r}: factory parameter {p.name!r} needs a default (int, float, bool "
                             f"or str; it is set in the spec's [task] table)")
        if not isinstance(p.default, (bool, int, float, str)):
            raise SweepError(f"task {name!r}: factory parameter {p.name!r} has a default of type "
                             f"{type(p.default).__name__}; only int, float, bool and str can come from a spec")
        out[p.name] = Param(default=p.default, doc=f"parameter of the factory {name}")
    return out


class UserModuleTask(_CrossbarTask):
    """The user's own network, converted onto crossbar tiles at every point (``task =
    "module:factory"`` in a spec).

    ``factory(seed, **params) -> UserModel`` builds (and usually trains) the float model and
    its evaluation data for a ``seed`` (the spec's ``seed``, or each of its ``seeds``); its
    keyword parameters with scalar defaults are [task] parameters. At every point the model is
    converted with :func:`physnn.crossbar.convert` (the point's :class:`~physnn.crossbar.CrossbarConfig`:
    the device card plus the swept ``config.*`` / ``card.*`` fields; ``tile_rows`` x
    ``tile_cols`` arrays, 0 = one array per layer), ``replicates`` device instances on the
    ensemble dimension, programmed, moved to ``config.t_inference`` (drift, 1/f noise, global
    drift compensation) and read once on ``x``: one forward of the whole ensemble. Every draw of
    a point comes from a generator keyed by the sweep seed and the point, so a point's numbers
    do not depend on the points it is computed with.

    Metrics: the attribute ``factory.metrics`` (``{name: (units, long_name)}``) if the factory
    has one, else ``accuracy``; the score's keys must match them. The factory's models are
    built once per seed and process.

    Examples
    --------
    A module ``mynets.py`` on the path::

        from physnn.sweep.tasks import UserModel

        def make(seed, *, hidden=32):
            net = train_my_net(seed, hidden)          # any nn.Module
            return UserModel(model=net, x=x_test, y=y_test)

    and a spec with ``task = "mynets:make"``, ``[task] hidden = 64``, ``card = "pcm_aihwkit"``
    and an axis ``field = "config.t_inference"`` (see ``experiments/sweeps/user_module_drift.toml``).
    """

    name = "user_module"
    default_chunk = 8

    def __init__(self, *, factory: Any, factory_name: str, **kw: Any):
        self.factory = factory
        self.factory_name = factory_name
        self.name = factory_name
        base = {**_CrossbarTask.schema, "tile_rows": Param(default=512, low=0, doc="inputs per array (0: one array)"),
                "tile_cols": Param(default=512, low=0, doc="outputs per array (0: one array)"),
                "bound_management": Param(default=False, doc="iterative bound management of the ADC")}
        own = _factory_params(factory, factory_name)
        clash = sorted(set(own) & set(base))
        if clash:
            raise SweepError(f"task {factory_name!r}: factory parameter(s) {clash} collide with the task's own "
                             f"parameters {sorted(base)}; rename them")
        self.schema = {**base, **own}
        self._own = tuple(own)
        m = getattr(factory, "metrics", None)
        if m is None:
            m = _USER_DEFAULT_METRICS
        if not isinstance(m, dict) or not m or not all(isinstance(k, str) and isinstance(v, tuple) and len(v) == 2
                                                        for k, v in m.items()):
            raise SweepError(f"task {factory_name!r}: factory.metrics must be a dict name -> (units, long_name), "
                             f"got {m!r}")
        self.metrics = dict(m)
        super().__init__(**kw)

    def _periphery(self) -> dict[str, Any]:
        kw = super()._periphery()
        kw["bound_management"] = bool(self.params["bound_management"]) and kw["adc"] is not None
        return kw

    def check_point(self, values: dict[str, float]) -> None:
        bad = sorted(k for k in values if not (k.startswith("config.") or k.startswith("card.")))
        if bad:
            raise SweepError(f"{bad[0]}: the user-module task sweeps config.* and card.* fields "
                             f"(set factory parameters in [task])")
        self.config_for(values)

    def memory_bytes(self, n_points: int, replicates: int, chunk: int) -> int:
        return 8 * n_points * replicates * (6 * len(self.metrics) + 1)

    def _built(self, seed: int) -> UserModel:
        if seed not in self._nets:
            import torch

            kw = {k: self.params[k] for k in self._own}
            with torch.enable_grad():
                um = self.factory(seed, **kw)
            if not isinstance(um, UserModel):
                raise SweepError(f"task {self.factory_name!r}: the factory returned {type(um).__name__}, "
                                 f"expected physnn.sweep.tasks.UserModel(model=..., x=..., y=...)")
            if not isinstance(um.model, torch.nn.Module):
                raise SweepError(f"task {self.factory_name!r}: UserModel.model must be a torch.nn.Module, "
                                 f"got {type(um.model).__name__}")
            self._nets[seed] = um
        return self._nets[seed]

    def _score(self, um: UserModel, out: Any) -> dict[str, Any]:
        if um.score is None:
            pred = out.argmax(-1)
            return {"accuracy": (pred == um.y).double().mean(tuple(range(1, pred.dim())))}
        return um.score(out, um.y)

    def evaluate(self, points: list[Point], replicates: int) -> list[dict[str, np.ndarray]]:
        import torch

        from ..crossbar import TileMapping, convert, program_model, set_model_time

        p = self.params
        tile = TileMapping(rows=int(p["tile_rows"]) or None, cols=int(p["tile_cols"]) or None)
        out = []
        with torch.no_grad():
            for pt in points:
                um = self._built(pt.seed)
                cfg = self.config_for(pt.values)
                gen = torch.Generator().manual_seed(point_key(self.master_seed, pt.seed, sorted(pt.values.items())))
                chips, _ = convert(um.model, cfg, tile=tile, ensemble=replicates, generator=gen)
                chips.eval()
                program_model(chips, gen)
                set_model_time(chips, cfg.t_inference, gen)
                met = self._score(um, chips(um.x))
                if set(met) != set(self.metrics):
                    raise SweepError(f"task {self.factory_name!r}: the score returned metrics {sorted(met)}, the "
                                     f"factory declares {sorted(self.metrics)} (factory.metrics)")
                row = {}
                for k, v in met.items():
                    a = np.asarray(torch.as_tensor(v).detach().double().cpu().numpy()).reshape(-1)
                    if a.shape != (replicates,):
                        raise SweepError(f"task {self.factory_name!r}: metric {k!r} has shape {a.shape}, expected "
                                         f"({replicates},) (one value per replicate)")
                    row[k] = a
                out.append(row)
        return out

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["factory"] = self.factory_name
        return d
