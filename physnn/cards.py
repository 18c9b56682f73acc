"""Device cards: load, validate and list the TOML descriptions of device technologies.

A card lives in ``devices/NAME.toml`` (shipped inside the wheel) or anywhere the user points
to (a path, or a folder on ``$PHYSNN_DEVICE_PATH``). The schema is :mod:`physnn.card_schema`.

Examples
--------
>>> from physnn.cards import load_card
>>> card = load_card("pcm_aihwkit")
>>> card["conductance"]["g_max"]          # SI units: siemens
2.5e-05
>>> card.quantity("conductance", "g_max").source   # doctest: +ELLIPSIS
'...'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from ._compat import tomllib
from ._resources import search_path
from .card_schema import SECTIONS as _SECTIONS
from .card_schema import Field, Section
from .units import scale_exact, unit_factor

__all__ = ["CardError", "Quantity", "DeviceCard", "load_card", "list_cards", "parse_card"]


class CardError(ValueError):
    """A device card is malformed: the message names the file, the field and (if known) the line."""


@dataclass(frozen=True)
class Quantity:
    """A number from a card with its SI unit and its source."""

    value: float | int | tuple[float, ...]
    units: str
    source: str
    note: str = ""


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """1-based line of ``key`` inside ``[section]`` of a TOML text (best effort, for messages)."""
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if re.match(rf"^\s*\[\s*{re.escape(section)}\s*\]", line):
            start = i
            break
    if start is None:
        return None
    if key is None:
        return start + 1
    for j in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[j]):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[j]):
            return j + 1
    return start + 1


class DeviceCard(Mapping):
    """A validated device card: a read-only mapping ``section -> {field: SI value}``.

    Attributes
    ----------
    name, kind, description, source : str
        From the ``[card]`` section.
    path : pathlib.Path or None
        File the card was read from (None when parsed from text).
    """

    def __init__(
        self, meta: dict[str, str], sections: dict[str, dict[str, Any]], sources: dict[str, str], path: Path | None
    ):
        self.name = meta["name"]
        self.kind = meta["kind"]
        self.description = meta["description"]
        self.source = meta["source"]
        self.path = path
        self._sources = MappingProxyType(dict(sources))
        self._quantities = MappingProxyType({k: MappingProxyType(v) for k, v in sections.items()})
        self._values = MappingProxyType(
            {
                sec: MappingProxyType({f: (q.value if isinstance(q, Quantity) else q) for f, q in fields.items()})
                for sec, fields in sections.items()
            }
        )

    # Mapping interface -------------------------------------------------------------------------
    def __getitem__(self, section: str) -> Mapping[str, Any]:
        try:
            return self._values[section]
        except KeyError:
            raise KeyError(f"card {self.name!r} has no section [{section}]; it has {sorted(self._values)}") from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    # Helpers -----------------------------------------------------------------------------------
    def quantity(self, section: str, name: str) -> Quantity:
        """The :class:`Quantity` (value, SI unit, source) of ``[section].name``."""
        q = self._quantities[section][name] if section in self._quantities else None
        if not isinstance(q, Quantity):
            raise KeyError(f"card {self.name!r}: [{section}].{name} is not a number on this card")
        return q

    def get_value(self, section: str, name: str, default: Any = None) -> Any:
        """``[section].name`` in SI units, or ``default`` when the card lacks it."""
        values = self._values.get(section)
        return default if values is None else values.get(name, default)

    @property
    def sources(self) -> Mapping[str, str]:
        """Named references of the card's ``[sources]`` table."""
        return self._sources

    def provenance(self) -> dict[str, str]:
        """Attributes to attach to results computed with this card (e.g. xarray ``attrs``)."""
        return {
            "device_card": self.name,
            "device_kind": self.kind,
            "device_source": self.source,
            "device_card_path": str(self.path) if self.path else "",
        }

    def __repr__(self) -> str:
        return f"DeviceCard(name={self.name!r}, kind={self.kind!r}, sections={list(self._values)})"


def _check_number(x: Any, spec: Field, where: str) -> float | int | tuple[float, ...]:
    if spec.kind == "vector":
        if (
            not isinstance(x, list)
            or not x
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x)
        ):
            raise ValueError(f"{where}: value must be a non-empty list of numbers, got {x!r}")
        vals = tuple(float(v) for v in x)
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{where}: value has a non-finite entry {x!r}")
        return vals
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{where}: value must be a number, got {x!r}")
    if spec.kind == "int" and not isinstance(x, int):
        raise ValueError(f"{where}: value must be an integer, got {x!r}")
    if not math.isfinite(x):
        raise ValueError(f"{where}: value must be finite, got {x!r}")
    return x


def _check_range(v: float, spec: Field, where: str) -> None:
    if spec.lo is not None and (v < spec.lo or (spec.lo_open and v == spec.lo)):
        rel = ">" if spec.lo_open else ">="
        raise ValueError(f"{where}: value {v!r} {spec.units} out of physical range (must be {rel} {spec.lo})")
    if spec.hi is not None and (v > spec.hi or (spec.hi_open and v == spec.hi)):
        rel = "<" if spec.hi_open else "<="
        raise ValueError(f"{where}: value {v!r} {spec.units} out of physical range (must be {rel} {spec.hi})")


#: A ``source`` written as a bare identifier (no spaces or punctuation beyond ``_ - .``) is a
#: reference to an entry of the card's ``[sources]`` table; anything else is a citation in full.
_REF = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


def _resolve_source(src: str, sources: Mapping[str, str], fail) -> str:
    """The citation text for ``src``: its ``[sources]`` entry if it is a reference key.

    A bare identifier that names no ``[sources]`` entry is an error (a typo must not become the
    citation); a free-text citation (with spaces) is kept as written.
    """
    if src in sources:
        return sources[src]
    if _REF.match(src.strip()):
        known = sorted(sources) or "none: the card has no [sources] table"
        raise fail(
            f"source {src!r} names no entry of [sources] (known: {known}); fix the key, add "
            f'{src} = "<full citation>" to [sources], or write the citation in full'
        )
    return src


def parse_card(
    text: str, *, path: Path | str | None = None, sections: Mapping[str, Section] | None = None
) -> DeviceCard:
    """Validate the TOML ``text`` of a card and return the :class:`DeviceCard`.

    ``sections``: the schema to check against (default :data:`physnn.card_schema.SECTIONS`;
    e.g. ``{**SECTIONS, **physnn.crossbar.params.card_sections(MyConfig)}`` for a config class
    with effects of its own).

    Raises
    ------
    CardError
        Naming the file, ``[section].field`` and line of the first problem found: TOML syntax,
        unknown section or key, missing field, missing/unknown unit, missing source, value out of
        its physical range, inconsistent ranges (g_min >= g_max).
    """
    known = _SECTIONS if sections is None else sections
    label = str(path) if path is not None else "<card text>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CardError(f"{label}: TOML syntax error: {exc}") from None

    def fail(section: str, key: str | None, msg: str) -> CardError:
        line = _line_of(text, section, key)
        where = f"{label}" + (f":{line}" if line else "") + f": [{section}]" + (f".{key}" if key else "")
        return CardError(f"{where}: {msg}")

    for sec in raw:
        if sec not in known:
            raise fail(sec, None, f"unknown section; known sections: {sorted(known)}")
        if not isinstance(raw[sec], dict):
            raise fail(sec, None, "must be a table")
    for sec, schema in known.items():
        if schema.required and sec not in raw:
            raise CardError(f"{label}: missing required section [{sec}]")

    sources = {}
    for key, val in raw.get("sources", {}).items():
        if not isinstance(val, str) or not val.strip():
            raise fail("sources", key, "a named source must be a non-empty string")
        sources[key] = val

    meta: dict[str, str] = {}
    parsed: dict[str, dict[str, Any]] = {}
    for sec, table in raw.items():
        if sec == "sources":
            continue
        schema = known[sec]
        sec_source = table.get("source") if sec != "card" else None
        if isinstance(sec_source, str) and sec_source.strip():
            _resolve_source(sec_source, sources, lambda m: fail(sec, "source", m))
        out: dict[str, Any] = {}
        for key, val in table.items():
            if key == "source" and sec != "card":
                if not isinstance(val, str) or not val.strip():
                    raise fail(sec, key, "section source must be a non-empty string")
                continue
            if key not in schema.fields:
                raise fail(sec, key, f"unknown key; known keys of [{sec}]: {sorted(schema.fields)}")
            spec = schema.fields[key]
            if spec.kind == "str":
                if not isinstance(val, str):
                    raise fail(sec, key, f"must be a string, got {val!r}")
                if spec.choices and val not in spec.choices:
                    raise fail(sec, key, f"{val!r} is not one of {list(spec.choices)}")
                out[key] = val
                continue
            if not isinstance(val, dict):
                raise fail(
                    sec,
                    key,
                    f'a number must be written as {{ value = …, units = "{spec.units}", source = "…" }}, got {val!r}',
                )
            extra = set(val) - {"value", "units", "source", "note"}
            if extra:
                raise fail(
                    sec, key, f"unknown key(s) {sorted(extra)} in quantity (allowed: value, units, source, note)"
                )
            if "value" not in val:
                raise fail(sec, key, "missing 'value'")
            if "units" not in val:
                raise fail(sec, key, f"missing 'units' (expected {spec.units!r})")
            src = val.get("source", sec_source)
            if not isinstance(src, str) or not src.strip():
                raise fail(sec, key, "missing 'source' (give it here or as the section's `source`)")
            src = _resolve_source(src, sources, lambda m: fail(sec, key, m))
            units = cast(str, spec.units)  # (a number's field has a unit; None is a string field's)
            factor = unit_factor(str(val["units"]), units)
            if factor is None:
                raise fail(sec, key, f"units {val['units']!r} cannot be converted to {spec.units!r}")
            try:
                number = _check_number(val["value"], spec, "value")
                # (_check_number: a tuple for a vector field, else a number)
                if spec.kind == "vector":
                    number = tuple(scale_exact(v, factor) for v in cast("tuple[float, ...]", number))
                    for v in number:
                        _check_range(v, spec, "entry")
                else:
                    if spec.kind == "int" and factor != 1.0:
                        raise ValueError(f"integer quantity must be given in {spec.units!r}")
                    number = scale_exact(cast(float, number), factor)
                    _check_range(number, spec, "value")
            except ValueError as exc:
                raise fail(sec, key, str(exc)) from None
            out[key] = Quantity(number, units, src, str(val.get("note", "")))
        for key, spec in schema.fields.items():
            if spec.required and key not in out:
                raise fail(sec, None, f"missing required key {key!r} ({spec.doc or spec.units})")
        if sec == "card":
            meta = out
        else:
            parsed[sec] = out

    cond = parsed["conductance"]
    if cond["g_min"].value >= cond["g_max"].value:
        raise fail("conductance", "g_min", f"g_min={cond['g_min'].value} S must be < g_max={cond['g_max'].value} S")
    if path is not None and Path(path).stem != meta["name"]:
        stem = Path(path).stem
        raise fail(
            "card",
            "name",
            f"name {meta['name']!r} must equal the file name {stem!r} (a card is looked up by its "
            f'file name, so the two must agree): set name = "{stem}" in [card], or rename the file '
            f"to {meta['name']}.toml",
        )
    return DeviceCard(meta, parsed, sources, Path(path) if path is not None else None)


def _find(name: str) -> Path:
    for folder in search_path("devices"):
        p = folder / f"{name}.toml"
        if p.is_file():
            return p
    raise CardError(f"no device card named {name!r}; known cards: {list_cards()} (or pass a path to a .toml file)")


def load_card(card: str | Path | DeviceCard) -> DeviceCard:
    """Load a card by name (``"pcm_aihwkit"``), by path, or pass a :class:`DeviceCard` through."""
    if isinstance(card, DeviceCard):
        return card
    p = Path(card)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise CardError(f"device card file {str(p)!r} does not exist")
    else:
        p = _find(str(card))
    return parse_card(p.read_text(encoding="utf-8"), path=p)


def list_cards() -> list[str]:
    """Names of every card on the search path (user folders first, then the shipped cards)."""
    names: list[str] = []
    for folder in search_path("devices"):
        if folder.is_dir():
            names += [p.stem for p in sorted(folder.glob("*.toml")) if p.stem not in names]
    return names
