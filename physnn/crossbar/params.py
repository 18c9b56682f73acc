"""Metadata of the crossbar configs, written once per parameter: units, long name, range, card key.

Every parameter of a device-effect config is declared with :func:`param` (a
``dataclasses.field`` whose ``metadata`` holds its units, long name, physical range and key on a
device card), every effect of :class:`~physnn.crossbar.CrossbarConfig` with :func:`effect`. From
that one declaration come

* validation — :func:`check_params` (called by :class:`AbstractDeviceEffect`'s ``__post_init__``);
* reading a device card — :func:`params_from_card` (``AbstractDeviceEffect.from_card``) and
  ``CrossbarConfig.from_card``, which reads the section of every effect the card has;
* ``CrossbarConfig.is_ideal`` — from each field's ``ideal`` value;
* the card schema — :func:`card_sections` gives :data:`physnn.card_schema.SECTIONS` the section
  of every effect;
* the sweep's field table — :func:`sweep_fields` (the ``config.*`` axes of ``physnn sweep``).

A new device effect is one file (a frozen dataclass deriving from :class:`AbstractDeviceEffect`,
its numbers declared with :func:`param`, its card section named by ``card_section``) and one
field ``name: NewEffect | None = effect(NewEffect)`` of ``CrossbarConfig``; see CONTRIBUTING.md.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, kw_only=True)
... class Leak(AbstractDeviceEffect):
...     card_section = "leak"
...     card_doc = "leakage of a stored conductance"
...     rate: float = param(0.0, units="1/s", long_name="leak rate", lo=0.0)
>>> Leak(rate=2).rate
2.0
>>> Leak(rate=-1.0)
Traceback (most recent call last):
...
ValueError: rate=-1.0: must be finite and >= 0 (1/s)
>>> card_section_of(Leak).fields["rate"].units
'1/s'
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import Any, Callable, ClassVar, Iterator

__all__ = [
    "param",
    "effect",
    "AbstractDeviceEffect",
    "check_params",
    "check_choice",
    "params_from_card",
    "card_section_of",
    "card_sections",
    "sweep_fields",
    "effect_fields",
    "ideal_fields",
    "is_ideal",
    "hooked_effects",
]

_KEY = "physnn"  # metadata key under which a field's description is stored
_MISSING = dataclasses.MISSING
_KINDS = ("float", "int", "vector", "str", "bool")


def param(
    default: Any = _MISSING,
    *,
    units: str | None,
    long_name: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    kind: str = "float",
    choices: tuple[str, ...] | None = None,
    card: str | None = "",
    card_required: bool = False,
    doc: str = "",
    allow_inf: bool = False,
    check: bool = True,
    sweep: bool = True,
    ideal: Any = _MISSING,
) -> Any:
    """A config field with its metadata (a ``dataclasses.field``).

    Parameters
    ----------
    default
        Default value (omit for a required field).
    units : str or None
        SI unit (``"1"`` dimensionless); None for a string or bool field.
    long_name : str
        What the number is, in a few words (sweep axes and result attrs).
    lo, hi, lo_open, hi_open
        Physical range, inclusive unless open; checked by :func:`check_params` and by the card loader.
    kind : {"float", "int", "vector", "str", "bool"}
        ``vector``: a tuple of floats in ``units``; ``str``: one of ``choices``.
    choices : tuple of str, optional
        Allowed values of a ``str`` field (take them from the field's ``Literal`` type).
    card : str or None
        Key on the device card: ``""`` (default) the field's name in the effect's section,
        ``"section.key"`` a key of another section, None: not on a card.
    card_required : bool
        A card that has the section must give the key.
    doc : str
        Longer explanation for the card schema (default: none).
    allow_inf : bool
        Accept ``inf`` (an open bound such as a clip level that is off).
    check : bool
        False: :func:`check_params` leaves the field to the class's own ``__post_init__``
        (range still used by the card schema).
    sweep : bool
        Offer the field as a sweep axis (scalar ``float``/``int`` fields only).
    ideal
        For fields of ``CrossbarConfig``: the value (or, if callable, the predicate) at which the
        field adds no nonideality; fields without it do not count in ``is_ideal``.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind={kind!r}: must be one of {_KINDS}")
    if kind == "str" and not choices:
        raise ValueError(f"param {long_name!r}: a str field needs its choices")
    meta = dict(
        units=units,
        long_name=long_name,
        lo=lo,
        hi=hi,
        lo_open=lo_open,
        hi_open=hi_open,
        kind=kind,
        choices=None if choices is None else tuple(choices),
        card=card,
        card_required=card_required,
        doc=doc,
        allow_inf=allow_inf,
        check=check,
        sweep=sweep,
        ideal=ideal,
    )
    return dataclasses.field(default=default, metadata={_KEY: meta})


def _effect_ideal(v: Any) -> bool:
    return v is None or bool(getattr(v, "is_ideal", False))


def effect(
    types: type | tuple[type, ...],
    *,
    required: bool = False,
    build: Callable[[Any], Any] | None = None,
    section: str | None = None,
    ideal: Any = _effect_ideal,
    schema: bool | Callable[[], tuple[type, ...]] = True,
) -> Any:
    """A ``CrossbarConfig`` field holding an effect config (None = off unless ``required``).

    Parameters
    ----------
    types : type or tuple of types
        Accepted config class(es); the value is checked against them.
    required : bool
        The field has no default (e.g. the conductance range).
    build : callable, optional
        ``build(card) -> config or None``: reads the effect from a card (default
        ``types.from_card(card)`` when the card has the class's ``card_section``).
    section : str, optional
        Card section (default: the class's ``card_section``).
    ideal : callable or None
        Predicate of "adds no nonideality" for ``CrossbarConfig.is_ideal``; default: the value
        is None or its config says ``is_ideal``. None: the field does not count (a learning
        rule, say, that leaves the read alone).
    schema : bool or callable
        False: the section's schema is written in :mod:`physnn.card_schema` by hand (its card
        keys do not map one to one onto the config's fields), not derived. A callable returns the
        classes whose fields make up the section, where ``types`` is their abstract base (the
        pulsed update models: ``[update].model`` chooses one of them).
    """
    types = types if isinstance(types, tuple) else (types,)
    sec = section if section is not None else getattr(types[0], "card_section", None)
    meta = dict(
        effect=True, types=types, build=build, section=sec, schema=schema, ideal=_MISSING if ideal is None else ideal
    )
    return dataclasses.field(default=_MISSING if required else None, metadata={_KEY: meta})


def _meta(f: dataclasses.Field) -> dict[str, Any] | None:
    return f.metadata.get(_KEY)


def _span(m: dict[str, Any]) -> str:
    lo, hi = m["lo"], m["hi"]
    if lo is not None and hi is not None:
        return f"in {'(' if m['lo_open'] else '['}{lo:g}, {hi:g}{')' if m['hi_open'] else ']'}"
    if lo is not None:
        return f"{'>' if m['lo_open'] else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if m['hi_open'] else '<='} {hi:g}"
    return ""


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else ``ValueError`` naming ``name`` and the choices."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}={value!r}: must be one of {tuple(choices)}")
    return value


def _check_one(name: str, v: Any, m: dict[str, Any]) -> Any:
    kind = m["kind"]
    unit = f" ({m['units']})" if m["units"] not in (None, "1") else ""
    if kind == "str":
        return check_choice(v, name, m["choices"])
    if kind == "bool":
        if not isinstance(v, bool):
            raise TypeError(f"{name}: expected a bool, got {v!r}")
        return v
    if kind == "vector":
        try:
            out = tuple(float(x) for x in v)
        except TypeError:
            raise TypeError(f"{name}: expected a sequence of numbers, got {v!r}") from None
        if not all(math.isfinite(x) for x in out):
            raise ValueError(f"{name}={v!r}: must be finite")
        return out
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name}: expected an integer, got {v!r}")
        x: Any = v if isinstance(v, int) else int(v)
    else:
        if isinstance(v, (bool, str)):
            raise TypeError(f"{name}: expected a number, got {v!r}")
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected a number, got {v!r}") from None
    bad = math.isnan(x) or (math.isinf(x) and not m["allow_inf"])
    lo, hi = m["lo"], m["hi"]
    if lo is not None:
        bad |= x < lo or (m["lo_open"] and x == lo)
    if hi is not None:
        bad |= x > hi or (m["hi_open"] and x == hi)
    if bad:
        span = _span(m)
        what = ("finite and " + span if span else "finite") if not m["allow_inf"] else (span or "a number")
        raise ValueError(f"{name}={v!r}: must be {what}{unit}")
    return x


def check_params(obj: Any) -> None:
    """Check (and coerce: floats to ``float``, vectors to tuples) every :func:`param` field of ``obj``.

    ``None`` passes (an optional parameter not given); an error names the field, its allowed
    range and unit.
    """
    for f in dataclasses.fields(obj):
        m = _meta(f)
        if m is None or m.get("effect") or not m["check"]:
            continue
        v = getattr(obj, f.name)
        if v is None:
            continue
        new = _check_one(f.name, v, m)
        if new is not v:
            object.__setattr__(obj, f.name, new)


class AbstractDeviceEffect:
    """Base of a device-effect config: validation and card reading from the fields' metadata.

    Subclasses are frozen dataclasses whose numbers are :func:`param` fields. Class attributes:
    ``card_section`` (the card's section for the effect; None: not on a card), ``card_doc`` (its
    one-line description), ``card_model`` (where several classes share a section: the
    ``model = "…"`` value that selects this one). A subclass with checks beyond the ranges calls
    ``super().__post_init__()`` first.

    Optional hooks, for an effect that :class:`~physnn.crossbar.AnalogLinear` has no
    hand-written place for (the layer calls them, in field order, after the built-in effects):

    * ``on_program(self, g, *, generator) -> g``: at each programming event, after faults, on the
      programmed conductances (S, any leading ensemble dimension);
    * ``on_read(self, g, t_inference, *, generator) -> g``: on the conductances at time
      ``t_inference`` (s) since programming, after drift and before read noise.
    """

    card_section: ClassVar[str | None] = None
    card_doc: ClassVar[str] = ""
    card_model: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        check_params(self)

    @property
    def is_ideal(self) -> bool:
        """True where the config, although switched on, adds no nonideality (default False)."""
        return False

    @classmethod
    def from_card(cls, card: Any, **overrides: Any) -> Any:
        """From the card's ``card_section`` (see :func:`params_from_card`); ``overrides``: any field."""
        return cls(**params_from_card(cls, card, **overrides))


def params_from_card(cls: type, card: Any, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of ``cls`` read from a card: each :func:`param` with a card key that the
    card gives (missing ones keep their defaults), then ``overrides``."""
    from ..cards import load_card

    card = load_card(card)
    own = getattr(cls, "card_section", None)
    if own is not None and own not in card:
        raise ValueError(f"card: {card.name!r} has no [{own}] section (needed by {cls.__name__})")
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        m = _meta(f)
        if m is None or m.get("effect") or m["card"] is None:
            continue
        sec, _, key = m["card"].rpartition(".") if "." in m["card"] else (own, "", m["card"] or f.name)
        if sec is not None and sec in card and key in card[sec]:
            kw[f.name] = card[sec][key]
    kw.update(overrides)
    return kw


# -- derived tables -------------------------------------------------------------------------
def effect_fields(config_cls: type) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(name, metadata)`` of every :func:`effect` field of a config class."""
    for f in dataclasses.fields(config_cls):
        m = _meta(f)
        if m is not None and m.get("effect"):
            yield f.name, m


@functools.lru_cache(maxsize=None)
def _hooked(config_cls: type, hook: str) -> tuple[str, ...]:
    return tuple(name for name, m in effect_fields(config_cls) if any(hasattr(t, hook) for t in m["types"]))


def hooked_effects(cfg: Any, hook: str) -> Iterator[Any]:
    """The effects of ``cfg`` (switched on) whose class defines ``hook`` (``"on_program"`` or
    ``"on_read"``, see :class:`AbstractDeviceEffect`), in field order: how the layer runs an effect
    that has no hand-written place in its programming or read."""
    cfg_cls: type = type(cfg)
    for name in _hooked(cfg_cls, hook):
        eff = getattr(cfg, name)
        if eff is not None and hasattr(eff, hook):
            yield eff


def _params(cls: type) -> Iterator[tuple[str, dict[str, Any]]]:
    if not dataclasses.is_dataclass(cls):
        return
    for f in dataclasses.fields(cls):
        m = _meta(f)
        if m is not None and not m.get("effect"):
            yield f.name, m


def ideal_fields(config_cls: type) -> dict[str, Any]:
    """``{field: ideal value or predicate}`` of a config class (the fields ``is_ideal`` looks at)."""
    out = {}
    for f in dataclasses.fields(config_cls):
        m = _meta(f)
        if m is not None and m["ideal"] is not _MISSING:
            out[f.name] = m["ideal"]
    return out


def is_ideal(cfg: Any) -> bool:
    """True when every field of ``cfg`` with an ``ideal`` is at it (see :func:`param`, :func:`effect`)."""
    for name, ideal in ideal_fields(type(cfg)).items():
        v = getattr(cfg, name)
        if not (ideal(v) if callable(ideal) else v == ideal):
            return False
    return True


def _schema_field(name: str, m: dict[str, Any]) -> Any:
    from ..card_schema import Field

    return Field(
        units=m["units"],
        kind="float" if m["kind"] == "bool" else m["kind"],
        lo=m["lo"],
        hi=m["hi"],
        lo_open=m["lo_open"],
        hi_open=m["hi_open"],
        choices=m["choices"],
        required=m["card_required"],
        doc=m["doc"],
    )


def card_section_of(*classes: type, required: bool = False, extra: dict[str, Any] | None = None) -> Any:
    """The card-schema :class:`~physnn.card_schema.Section` of effect class(es) sharing one section.

    Fields: every :func:`param` whose card key is in the section (several classes: the union,
    plus a required ``model`` field choosing among their ``card_model`` names). ``extra``:
    fields of other configs that live in this section (``CrossbarConfig.v_read`` in
    ``[conductance]``). A class's ``card_keys`` (``{key: Field keywords}``) add the card keys that
    stand for no one field and that its own ``from_card`` reads.
    """
    from ..card_schema import Field, Section

    out: dict[str, Any] = {}
    if len(classes) > 1:
        # (class attributes of an effect class: AbstractDeviceEffect's or an update model's; classes
        # sharing a section each name their model)
        names = tuple(getattr(c, "card_model") for c in classes)
        out["model"] = Field(units=None, kind="str", choices=names, required=True)
    for cls in classes:
        for name, m in _params(cls):
            key = m["card"]
            if key is None or "." in key:
                continue
            out.setdefault(key or name, _schema_field(name, m))
        for key, kw in getattr(cls, "card_keys", {}).items():
            out.setdefault(key, Field(**kw))
    out.update(extra or {})
    return Section(fields=out, required=required, doc=getattr(classes[0], "card_doc"))


def card_sections(config_cls: type | None = None) -> dict[str, Any]:
    """``{section: Section}`` of every effect of ``config_cls`` (default ``CrossbarConfig``) that
    lives on a device card, derived from the fields' metadata."""
    if config_cls is None:
        from .config import CrossbarConfig

        config_cls = CrossbarConfig
    extra: dict[str, dict[str, Any]] = {}
    for name, m in _params(config_cls):
        key = m["card"]
        if key and "." in key:
            sec, _, k = key.rpartition(".")
            extra.setdefault(sec, {})[k] = _schema_field(name, m)
    out: dict[str, Any] = {}
    for name, m in effect_fields(config_cls):
        if m["section"] is None or not m["schema"]:
            continue
        f = next(f for f in dataclasses.fields(config_cls) if f.name == name)
        required = f.default is _MISSING and f.default_factory is _MISSING
        if m["section"] in out:
            continue
        classes = m["schema"]() if callable(m["schema"]) else m["types"]
        out[m["section"]] = card_section_of(*classes, required=required, extra=extra.get(m["section"]))
    return out


def sweep_fields(config_cls: type | None = None) -> dict[str, tuple[str, str, bool]]:
    """``{dotted field: (SI unit, long name, integer)}`` of every scalar number of ``config_cls``
    (default ``CrossbarConfig``) and of its effects: the ``config.*`` axes of a sweep."""
    if config_cls is None:
        from .config import CrossbarConfig

        config_cls = CrossbarConfig
    out: dict[str, tuple[str, str, bool]] = {}

    def add(prefix: str, cls: type) -> None:
        for name, m in _params(cls):
            if m["sweep"] and m["kind"] in ("float", "int") and m["units"] is not None:
                out.setdefault(prefix + name, (m["units"], m["long_name"], m["kind"] == "int"))

    add("", config_cls)
    for name, m in effect_fields(config_cls):
        for cls in m["types"]:
            add(name + ".", cls)
    return out


# -- the torch-free table -------------------------------------------------------------------
#: the generated table that :mod:`physnn.card_schema` and :mod:`physnn.sweep` read (they must
#: work without importing torch, which importing :mod:`physnn.crossbar` does)
TABLE_MODULE = "physnn.params_table"


def table_source(config_cls: type | None = None) -> str:
    """Source text of :data:`TABLE_MODULE`: the card sections and sweep fields of ``config_cls``
    (default ``CrossbarConfig``), as plain literals (a card field: its non-default attributes)."""
    import pprint

    from ..card_schema import Field

    default = dataclasses.asdict(Field())
    secs = {}
    for name, sec in card_sections(config_cls).items():
        flds = {k: {a: v for a, v in dataclasses.asdict(f).items() if v != default[a]} for k, f in sec.fields.items()}
        secs[name] = {"required": sec.required, "doc": sec.doc, "fields": flds}
    return (
        '"""Card sections and sweep fields of the crossbar effects, derived from their configs\' field metadata.\n\n'
        "Generated by ``python -m physnn.crossbar.params`` (:func:`physnn.crossbar.params.write_table`); do\n"
        "not edit (``tests/crossbar/test_params.py`` fails when it is stale). Plain data, so that reading a\n"
        'card or checking a sweep spec does not import torch.\n"""\n\n'
        f"CARD_SECTIONS = {pprint.pformat(secs, width=116, sort_dicts=False)}\n\n"
        f"SWEEP_FIELDS = {pprint.pformat(sweep_fields(config_cls), width=116, sort_dicts=False)}\n"
    )


def write_table() -> str:
    """Write :data:`TABLE_MODULE` from the metadata of ``CrossbarConfig``; returns its path."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(TABLE_MODULE)
    if spec is None or spec.origin is None:  # (a module of this package: found, from a file)
        raise RuntimeError(f"{TABLE_MODULE}: not found as a file on the import path")
    path = Path(spec.origin)
    path.write_text(table_source())
    return str(path)


if __name__ == "__main__":  # pragma: no cover - the generator
    print(f"wrote {write_table()}")
