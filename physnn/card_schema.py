"""Schema of the device cards in ``devices/*.toml``.

A card is a TOML file made of sections. Every number is a table ``{ value = …, units = "…",
source = "…" }``; strings (model names, descriptions) are bare. This module is data only: the
loader in :mod:`physnn.cards` checks each card against :data:`SECTIONS`. A new physical effect
of :class:`~physnn.crossbar.CrossbarConfig` does not come here: its section is derived from its
config class's field metadata (:mod:`physnn.crossbar.params`); other card data (substrates that
are not crossbar effects) adds a section here (one entry, its fields with units and ranges).

Units are SI. A card may write a prefixed unit (``"uS"``, ``"ns"``, ``"mV"``); the loader converts
it to the SI unit named here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "Section", "SECTIONS", "DEVICE_KINDS"]


@dataclass(frozen=True, kw_only=True)
class Field:
    """One entry of a card section.

    Parameters
    ----------
    units : str
        SI unit of the value (``"1"`` for dimensionless). ``None`` for a string field.
    kind : {"float", "int", "vector", "str"}
        ``vector`` is a list of floats (all in ``units``).
    lo, hi : float, optional
        Physical range, inclusive unless ``lo_open`` / ``hi_open``.
    choices : tuple of str, optional
        Allowed values of a string field.
    required : bool
        Whether a card having the section must give the field.
    doc : str
        What the number is.
    """

    units: str | None = "1"
    kind: str = "float"
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None
    required: bool = False
    doc: str = ""


@dataclass(frozen=True, kw_only=True)
class Section:
    """A card section: its fields and whether every card must have it."""

    fields: dict[str, Field]
    required: bool = False
    doc: str = ""


DEVICE_KINDS = ("pcm", "rram", "ecram", "fefet", "flash", "mram", "generic")

_nonneg: dict[str, Any] = dict(lo=0.0)
_pos: dict[str, Any] = dict(lo=0.0, lo_open=True)
_frac: dict[str, Any] = dict(lo=0.0, hi=1.0)


class _Sections(MutableMapping):
    """The card sections: those written below, and (added on first use) the section of every
    device effect of :class:`~physnn.crossbar.CrossbarConfig`, derived from its fields' metadata
    by :func:`physnn.crossbar.params.card_sections` and read from the table it generates
    (:mod:`physnn.params_table`, plain data: reading a card does not import torch)."""

    def __init__(self, written: dict[str, Section]) -> None:
        self._d = dict(written)
        self._derived = False

    def _full(self) -> dict[str, Section]:
        if not self._derived:
            from .params_table import CARD_SECTIONS

            self._derived = True
            # generated plain data: each section a dict of required (bool), doc (str) and fields
            # (field name -> Field's keyword arguments)
            table: Mapping[str, Mapping[str, Any]] = CARD_SECTIONS
            for name, d in table.items():
                sec = Section(
                    fields={k: Field(**f) for k, f in d["fields"].items()}, required=d["required"], doc=d["doc"]
                )
                if name in self._d:
                    raise RuntimeError(
                        f"card section [{name}] is both written in card_schema and derived from a CrossbarConfig effect"
                    )
                self._d[name] = sec
        return self._d

    def __getitem__(self, key: str) -> Section:
        return self._full()[key]

    def __setitem__(self, key: str, value: Section) -> None:
        self._d[key] = value

    def __delitem__(self, key: str) -> None:
        del self._full()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())

    def __repr__(self) -> str:
        return f"SECTIONS({sorted(self)})"


#: card sections by name. The crossbar effects' sections ([conductance], [programming_noise],
#: [drift], [read_noise], [variation], [faults], [iv], [wire], [update]) are not written here: each comes
#: from the fields of its config class (units, ranges, card keys: physnn.crossbar.params).
SECTIONS: MutableMapping[str, Section] = _Sections(
    {
        "card": Section(
            required=True,
            doc="identity and provenance of the card",
            fields={
                "name": Field(
                    units=None,
                    kind="str",
                    required=True,
                    doc="card name; must equal the file stem (a copied card gets its new file name here)",
                ),
                "kind": Field(units=None, kind="str", choices=DEVICE_KINDS, required=True),
                "description": Field(units=None, kind="str", required=True),
                "source": Field(units=None, kind="str", required=True, doc="main reference (DOI)"),
            },
        ),
        "sources": Section(doc="named references; a quantity's `source` may name one of these keys", fields={}),
        "switching": Section(
            doc="stochastic conductance after forming / soft breakdown (random-weight substrates)",
            fields={
                "distribution": Field(units=None, kind="str", choices=("lognormal", "normal"), required=True),
                "g_median": Field(units="S", **_pos, doc="median conductance after forming"),
                "log_sigma": Field(units="1", **_nonneg, doc="lognormal: std of ln(g)"),
                "g_std": Field(units="S", **_nonneg, doc="normal: std of g"),
                "forming_yield": Field(units="1", **_frac, doc="fraction of devices that form"),
            },
        ),
    }
)

# [cost]: technology numbers of the chip-cost model (physnn.crossbar.cost); a separate block so that
# other sections added beside it merge without conflict.
SECTIONS["cost"] = Section(
    doc="technology numbers of the energy / latency / area model (physnn.crossbar.cost)",
    fields={
        "feature_size": Field(units="m", required=True, **_pos, doc="lithographic feature size F (cell area unit F^2)"),
        "cell_area": Field(units="1", required=True, **_pos, doc="area of one memory cell in F^2 (1T1R, crossbar)"),
        "t_read": Field(units="s", required=True, **_pos, doc="read pulse width per input cycle"),
        "clock_period": Field(units="s", required=True, **_pos, doc="digital clock period (ADC steps, adders)"),
        "adc_fom": Field(
            units="J", required=True, **_pos, doc="Walden figure of merit: energy per conversion step (E = FOM 2^bits)"
        ),
        "adc_area": Field(units="m^2", **_nonneg, doc="area of one ADC"),
        "sense_amp_energy": Field(units="J", **_nonneg, doc="sense amplifier / integrator energy per conversion"),
        "dac_energy": Field(units="J", **_nonneg, doc="row driver / DAC energy per driven row and input cycle"),
        "dac_area": Field(units="m^2", **_nonneg, doc="area of one row driver / DAC"),
        "adder_energy_per_bit": Field(units="J", **_nonneg, doc="digital adder energy per bit of an addition"),
        "adder_area_per_bit": Field(units="m^2", **_nonneg, doc="adder area per bit"),
        "buffer_energy_per_bit": Field(units="J", **_nonneg, doc="buffer (SRAM / register file) access energy per bit"),
        "buffer_area_per_bit": Field(units="m^2", **_nonneg, doc="buffer area per stored bit"),
        "interconnect_energy_per_bit": Field(
            units="J", **_nonneg, doc="on-chip interconnect energy per toggling bit moved"
        ),
        "programming_energy_per_pulse": Field(
            units="J", **_nonneg, doc="energy of one programming (write) pulse of one device"
        ),
        "programming_pulse_width": Field(units="s", **_nonneg, doc="duration of one programming pulse"),
    },
)
