"""The user's own network as a sweep task: ``task = "module:factory"`` (:class:`UserModuleTask`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec import SweepError
from .base import Param, Point, point_key
from .crossbar import CrossbarTask

__all__ = ["UserModel", "UserModuleTask"]


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
_USER_DEFAULT_METRICS = {
    "accuracy": ("1", "accuracy of the converted model on the factory's evaluation data (fraction correct)")
}


def _factory_params(factory: Any, name: str) -> dict[str, Param]:
    """The keyword parameters of ``factory`` after ``seed`` whose defaults are scalars: [task] parameters."""
    import inspect

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"task {name!r}: cannot read the factory's signature ({exc})") from None
    ps = list(sig.parameters.values())
    if not ps or ps[0].name != "seed" or ps[0].kind not in (ps[0].POSITIONAL_ONLY, ps[0].POSITIONAL_OR_KEYWORD):
        raise SweepError(
            f"task {name!r}: a factory must take the seed as its first parameter: "
            f"def factory(seed, *, ...) -> physnn.sweep.tasks.UserModel"
        )
    out = {}
    for p in ps[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise SweepError(
                f"task {name!r}: factory parameter {p.name!r} needs a default (int, float, bool "
                f"or str; it is set in the spec's [task] table)"
            )
        if not isinstance(p.default, (bool, int, float, str)):
            raise SweepError(
                f"task {name!r}: factory parameter {p.name!r} has a default of type "
                f"{type(p.default).__name__}; only int, float, bool and str can come from a spec"
            )
        out[p.name] = Param(default=p.default, doc=f"parameter of the factory {name}")
    return out


class UserModuleTask(CrossbarTask):
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
        base = {
            **CrossbarTask.schema,
            "tile_rows": Param(default=512, low=0, doc="inputs per array (0: one array)"),
            "tile_cols": Param(default=512, low=0, doc="outputs per array (0: one array)"),
            "bound_management": Param(default=False, doc="iterative bound management of the ADC"),
        }
        own = _factory_params(factory, factory_name)
        clash = sorted(set(own) & set(base))
        if clash:
            raise SweepError(
                f"task {factory_name!r}: factory parameter(s) {clash} collide with the task's own "
                f"parameters {sorted(base)}; rename them"
            )
        self.schema = {**base, **own}
        self._own = tuple(own)
        m = getattr(factory, "metrics", None)
        if m is None:
            m = _USER_DEFAULT_METRICS
        if (
            not isinstance(m, dict)
            or not m
            or not all(isinstance(k, str) and isinstance(v, tuple) and len(v) == 2 for k, v in m.items())
        ):
            raise SweepError(
                f"task {factory_name!r}: factory.metrics must be a dict name -> (units, long_name), got {m!r}"
            )
        self.metrics = dict(m)
        super().__init__(**kw)

    def _periphery(self) -> dict[str, Any]:
        kw = super()._periphery()
        kw["bound_management"] = bool(self.params["bound_management"]) and kw["adc"] is not None
        return kw

    def check_point(self, values: dict[str, float]) -> None:
        bad = sorted(k for k in values if not (k.startswith("config.") or k.startswith("card.")))
        if bad:
            raise SweepError(
                f"{bad[0]}: the user-module task sweeps config.* and card.* fields (set factory parameters in [task])"
            )
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
                raise SweepError(
                    f"task {self.factory_name!r}: the factory returned {type(um).__name__}, "
                    f"expected physnn.sweep.tasks.UserModel(model=..., x=..., y=...)"
                )
            if not isinstance(um.model, torch.nn.Module):
                raise SweepError(
                    f"task {self.factory_name!r}: UserModel.model must be a torch.nn.Module, "
                    f"got {type(um.model).__name__}"
                )
            self._nets[seed] = um
        return self._nets[seed]

    def _score(self, um: UserModel, out: Any) -> dict[str, Any]:
        if um.score is None:
            pred = out.argmax(-1)
            return {"accuracy": (pred == um.y).double().mean(tuple(range(1, pred.dim())))}
        return um.score(out, um.y)

    def evaluate(self, points: list[Point], replicates: int) -> list[dict[str, np.ndarray]]:
        import torch

        from ...crossbar import TileMapping, convert, program_model, set_model_time

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
                    raise SweepError(
                        f"task {self.factory_name!r}: the score returned metrics {sorted(met)}, the "
                        f"factory declares {sorted(self.metrics)} (factory.metrics)"
                    )
                row = {}
                for k, v in met.items():
                    a = np.asarray(torch.as_tensor(v).detach().double().cpu().numpy()).reshape(-1)
                    if a.shape != (replicates,):
                        raise SweepError(
                            f"task {self.factory_name!r}: metric {k!r} has shape {a.shape}, expected "
                            f"({replicates},) (one value per replicate)"
                        )
                    row[k] = a
                out.append(row)
        return out

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["factory"] = self.factory_name
        return d
