"""The crossbar tasks: ``crossbar_mlp`` (a digits MLP) and ``crossbar_linear`` (one random layer),
and their shared machinery (:class:`CrossbarTask`: base config, field table, the vectorised reads
of points that share their device; see :mod:`physnn.sweep.tasks`)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import fields as dc_fields
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import file_sha256
from ..spec import FieldInfo, SweepError
from .base import AbstractTask, Param, Point, apply_config, card_with, point_key

__all__ = ["CrossbarTask", "CrossbarMLP", "CrossbarLinear", "train_mlp", "READOUT_FIELDS", "TIME_FIELD"]

#: fields applied per point to the analog outputs (no re-programming)
READOUT_FIELDS = ("config.out_noise", "config.adc.bits", "config.adc.y_max")
#: the drift time: one ``set_time`` per value, no re-programming
TIME_FIELD = "config.t_inference"


def train_mlp(xtr, ytr, *, hidden: int, seed: int, epochs: int):
    """A 64-``hidden``-10 ReLU MLP trained by full-batch :class:`torch.optim.Adam` (lr 1e-2) in
    floating point; the initial weights and biases are ``U(-1/sqrt(in), 1/sqrt(in))`` drawn from
    a generator seeded by ``seed``."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    lins = (nn.Linear(xtr.shape[1], hidden), nn.Linear(hidden, 10))
    net = nn.Sequential(lins[0], nn.ReLU(), lins[1])
    with torch.no_grad():
        for lin in lins:
            bound = 1.0 / math.sqrt(lin.in_features)
            lin.weight.uniform_(-bound, bound, generator=g)
            lin.bias.uniform_(-bound, bound, generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xtr), ytr).backward()
        opt.step()
    return net.eval()


#: test fraction of the crossbar_mlp task's digits split (stratified, physnn.data.build_digits)
DIGITS_TEST_FRACTION = 0.3


def _digits(seed: int):
    from ...data.digits import build_digits

    return build_digits(seed, test_fraction=DIGITS_TEST_FRACTION)


class CrossbarTask(AbstractTask):
    """Shared machinery of the crossbar tasks: base config, field table, vectorised reads."""

    schema = {
        "card": Param(default="pcm_aihwkit", doc="device card: a name or a path to a .toml file"),
        "dac_bits": Param(default=8, low=0, high=32, units="bit", doc="DAC resolution, 0: no DAC"),
        "adc_bits": Param(default=8, low=0, high=32, units="bit", doc="ADC resolution, 0: no ADC"),
        "adc_y_max": Param(default=12.0, low=0.0, low_open=True, doc="ADC saturation level (output units)"),
        "out_noise": Param(default=0.0, low=0.0, doc="output read noise std (output units)"),
        "input_scaling": Param(default="abs_max", choices=("fixed", "abs_max"), doc="DAC input scaling"),
        "output_units": Param(default="weight", choices=("normalized", "weight"), doc="output units"),
        "t_inference": Param(default=0.0, low=0.0, units="s", doc="time since programming"),
        "drift_compensation": Param(default=True, doc="global drift compensation"),
        "max_elements": Param(default=1 << 23, low=1, doc="numbers per batched read buffer"),
        "cost_card": Param(
            default="",
            doc="card with a [cost] section (e.g. rram_40nm): adds the metrics "
            "energy and latency per input vector (physnn.crossbar.cost, SAR ADCs of the "
            "point's bits); empty: no cost metrics",
        ),
    }
    default_chunk = 64
    #: the cost metrics a ``cost_card`` adds
    cost_metrics = {
        "energy": ("J", "read energy per input vector, all layers (physnn.crossbar.cost)"),
        "latency": ("s", "read latency per input vector, layers in sequence (physnn.crossbar.cost)"),
    }

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
        from ...crossbar import ADC, DAC

        p = self.params
        kw: dict[str, Any] = dict(
            out_noise=float(p["out_noise"]),
            input_scaling=p["input_scaling"],
            output_units=p["output_units"],
            t_inference=float(p["t_inference"]),
            drift_compensation=bool(p["drift_compensation"]),
            bound_management=False,
        )
        kw["dac"] = DAC(int(p["dac_bits"]), 1.0) if p["dac_bits"] else None
        kw["adc"] = ADC(int(p["adc_bits"]), float(p["adc_y_max"])) if p["adc_bits"] else None
        return kw

    def _base_config(self, card: Any = None):
        from ...cards import CardError
        from ...crossbar import CrossbarConfig

        try:
            return CrossbarConfig.from_card(self.params["card"] if card is None else card, **self._periphery())
        except (CardError, TypeError) as exc:
            raise SweepError(f"task {self.name}: {exc}") from None
        except ValueError as exc:
            raise SweepError(f"task {self.name}: {exc}") from None

    def fields(self) -> dict[str, FieldInfo]:
        from ...card_schema import SECTIONS

        from ...params_table import SWEEP_FIELDS  # CrossbarConfig's field metadata (physnn.crossbar.params)

        out = {f"config.{k}": FieldInfo(units=u, long_name=ln, integer=i) for k, (u, ln, i) in SWEEP_FIELDS.items()}
        for sec, schema in SECTIONS.items():
            for key, f in schema.fields.items():
                if f.kind in ("float", "int") and f.units is not None:
                    out[f"card.{sec}.{key}"] = FieldInfo(
                        units=f.units, long_name=f.doc or f"[{sec}].{key} of the device card", integer=f.kind == "int"
                    )
        return out

    def fingerprint(self) -> dict[str, Any]:
        """The SHA-256 of the device card's file (its contents, wherever it is found)."""
        from ...cards import CardError, load_card

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
            p.pop("card")  # the card's name and contents are in the fingerprint
        return p

    def _shapes(self) -> tuple[int, int, list[tuple[int, int]]]:
        """``(batch, width, [(in, out) per layer])`` of the network, from the parameters alone."""
        raise NotImplementedError

    def memory_bytes(self, n_points: int, replicates: int, chunk: int) -> int:
        R = replicates
        B, width, layers = self._shapes()
        read = 8 * 4 * max(int(self.params["max_elements"]), R * B * width)  # read buffers of one call
        weights = 8 * 6 * R * sum(i * o for i, o in layers)  # conductances, drift, masks
        results = 8 * n_points * R * (6 * len(self.metrics) + 1)
        return read + weights + results

    def config_for(self, values: dict[str, float]):
        """The CrossbarConfig of a point (card fields re-parse the card, config fields replace)."""
        infos = self.fields()
        card_changes = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("card.")}
        cfg = self._base_config(card_with(self.params["card"], card_changes)) if card_changes else self.base_config
        for k, v in values.items():
            if k.startswith("config."):
                try:
                    cfg = apply_config(cfg, k.split(".", 1)[1], v, infos[k].integer)
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
        return (p.seed, tuple(sorted((k, v) for k, v in p.values.items() if k not in READOUT_FIELDS)))

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in self.params.items()},
            "base_config": _jsonable(self.base_config),
        }

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
            dev = tuple(sorted((k, v) for k, v in p.values.items() if k not in READOUT_FIELDS and k != TIME_FIELD))
            groups[(dev, p.seed)].append(i)
        with torch.no_grad():
            for (dev, seed), idx in groups.items():
                self._evaluate_group(dict(dev), seed, [points[i] for i in idx], replicates, results, idx)
        return results  # type: ignore[return-value]

    def _evaluate_group(
        self, dev: dict[str, float], seed: int, pts: list[Point], R: int, results: list, where: list[int]
    ) -> None:
        import torch
        from torch import nn

        from ...crossbar import AnalogLinear

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
        cached, self._programmed = self._programmed, None  # set again only when this group succeeds
        if cached is not None and cached[0] == ident:
            _, layers, w_max, t_now = cached
        else:
            cached = None  # frees the other group's layers
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
            by_t[float(p.values.get(TIME_FIELD, cfg.t_inference))].append(j)
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
            js = sorted(
                js,
                key=lambda j: (self._readout_of(cfg, pts[j].values)[1:] if cfg.adc is not None else (), pts[j].index),
            )
            for s in range(0, len(js), k_max):
                sub = js[s : s + k_max]
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

        from ...crossbar.cost import CostConfig, CostTechnology, SARConverter, layer_cost_tensors

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
                if h.dim() == 2:  # the shared first-layer input: once per ADC setting
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

        from ...crossbar import ADC, read_out_points

        K = len(pts)
        R = layers[0].ensemble
        B = x.shape[0]
        h = x  # shared (B, in)
        self._inputs = []  # each layer's input (for the cost)
        for li, (layer, lin) in enumerate(zip(layers, lins)):
            self._inputs.append(h)
            if h.dim() == 2:
                y = layer(h).unsqueeze(1)  # (R, 1, B, out)
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
            scale = alpha * xs * unit  # (R, 1|K, B|1, 1)
            ys = y / scale  # analog output in ADC units, (R, 1|K, B, out)
            # per point: output noise N(0, sigma) with the point's own key, the point's ADC (the
            # quantiser of physnn.crossbar.adc), the digital rescale, bias and activation: the
            # public batched read-out of physnn.crossbar (tests/sweep checks it against an
            # AnalogLinear whose config holds the noise and the ADC)
            adcs = [ADC(r[1], r[2]) if r[1] is not None else None for r in ro]
            h = read_out_points(
                ys,
                scale,
                [r[0] for r in ro],
                [point_key(p.key, li) for p in pts],
                adcs,
                bias=lin.bias.detach() if lin.bias is not None else None,
                relu=li < len(layers) - 1,
            )
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


class CrossbarMLP(CrossbarTask):
    """Digits MLP on crossbars; metric ``accuracy`` (fraction of the test split correct)."""

    name = "crossbar_mlp"
    metrics = {"accuracy": ("1", "test accuracy of the analog MLP (fraction correct)")}
    schema = {
        **CrossbarTask.schema,
        "hidden": Param(default=64, low=1, doc="hidden units"),
        "epochs": Param(default=300, low=0, doc="full-batch Adam steps of the float training"),
        "data_seed": Param(
            default=0, low=0, doc="seed of the stratified 70/30 train/test split (physnn.data.build_digits)"
        ),
    }

    def _shapes(self) -> tuple[int, int, list[tuple[int, int]]]:
        h = int(self.params["hidden"])
        return 540, max(64, h), [(64, h), (h, 10)]

    def network(self, seed: int) -> list:
        import torch

        d = _digits(int(self.params["data_seed"]))
        xtr, ytr = d.x_train, d.y_train
        # one thread: the same network in every process, whatever its thread count
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.enable_grad():
                net = train_mlp(
                    xtr, ytr, hidden=int(self.params["hidden"]), seed=seed, epochs=int(self.params["epochs"])
                )
        finally:
            torch.set_num_threads(threads)
        return [net[0], net[2]]

    def data(self, seed: int):
        d = _digits(int(self.params["data_seed"]))
        return d.x_test, d.y_test

    def float_accuracy(self, seed: int) -> float:
        """Test accuracy of the floating-point network of ``seed``."""
        import torch

        lins, (x, y) = self._cached_net(seed)
        with torch.no_grad():
            out = lins[1](torch.relu(lins[0](x)))
        return float((out.argmax(-1) == y).float().mean())

    def score(self, out, target, net_out) -> dict[str, Any]:
        return {"accuracy": (out.argmax(-1) == target).float().mean(-1)}


class CrossbarLinear(CrossbarTask):
    """One random ``in_features`` x ``out_features`` layer on a random batch; metric
    ``rel_error`` = ``||y - y_float|| / ||y_float||`` over the batch."""

    name = "crossbar_linear"
    metrics = {"rel_error": ("1", "relative output error against the float layer (Frobenius norm)")}
    schema = {
        **CrossbarTask.schema,
        "in_features": Param(default=256, low=1, doc="layer inputs"),
        "out_features": Param(default=256, low=1, doc="layer outputs"),
        "batch": Param(default=64, low=1, doc="input vectors of the evaluation batch"),
    }

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

        err = torch.linalg.vector_norm(out.sub_(target), dim=(-2, -1))  # out is not used again
        return {"rel_error": err / torch.linalg.vector_norm(target)}
