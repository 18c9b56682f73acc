"""The task protocol of :mod:`physnn.sweep.tasks`: points, parameters, the base class, and the
two ways a point changes a device: a dotted ``config.*`` path set on a
:class:`~physnn.crossbar.CrossbarConfig` (:func:`apply_config`) and a ``card.*`` field changed in a
copy of the device card (:func:`card_with`)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from ..spec import FieldInfo, SweepError

__all__ = ["Point", "Param", "AbstractTask", "point_key", "apply_config", "card_with"]


class Point(NamedTuple):
    """One sweep point: its flat index, SI field values, the seed of its ``seed`` coordinate and
    a 63-bit key for its own random draws."""

    index: int  # type: ignore[assignment]  # a public field name that shadows tuple.index
    values: dict[str, float]
    seed: int
    key: int


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
        doc = (
            f" ({self.doc}, in {self.units})"
            if self.doc and self.units != "1"
            else f" ({self.doc})"
            if self.doc
            else ""
        )

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
        if (
            self.low is not None
            and (value < self.low or (self.low_open and value == self.low))
            or self.high is not None
            and value > self.high
        ):
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
    #: :meth:`fingerprint` when :func:`~physnn.sweep.tasks.make_task` built the task (None before)
    _fingerprint: dict[str, Any] | None = None

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
            raise SweepError(
                f"task {self.name}: unknown parameter(s) {sorted(bad)} (known: {sorted(schema)})",
                table="task",
                key=sorted(bad)[0],
            )
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


def apply_config(cfg: Any, path: str, value: float, integer: bool) -> Any:
    """``cfg`` with the dotted ``path`` (below ``config.``) set to ``value`` (ValueError naming it)."""
    parts = path.split(".")
    v: Any = int(round(value)) if integer else float(value)
    if len(parts) == 1:
        return cfg.replace(**{parts[0]: v})
    sub = getattr(cfg, parts[0])
    if sub is None:
        raise SweepError(
            f"config.{path}: the task's base config has no {parts[0]} (switch it on in [task] or sweep a field it has)"
        )
    new = replace(sub, **{parts[1]: v})
    if parts[0] == "range":
        return cfg.replace(range=new)
    return cfg.replace(**{parts[0]: new})


def card_with(card: Any, changes: dict[str, float]) -> Any:
    """A validated copy of ``card`` with ``{"section.key": SI value}`` changed (re-parsed)."""
    from ..._compat import tomllib

    import tomli_w

    from ...cards import load_card, parse_card

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
    from ...card_schema import SECTIONS

    units = SECTIONS[sec].fields[key].units
    if units is None:
        raise SweepError(f"card.{sec}.{key}: not a numeric field of the card schema (no units)")
    return units
