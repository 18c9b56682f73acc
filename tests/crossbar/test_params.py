"""Config metadata (physnn.crossbar.params): one declaration per parameter drives validation,
card reading, is_ideal, the card schema and the sweep field table."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import physnn
from physnn.card_schema import SECTIONS
from physnn.cards import CardError, list_cards, load_card, parse_card
from physnn.crossbar import AnalogLinear, ConductanceRange, CrossbarConfig, Drift, ReadNoise
from physnn.crossbar.params import (
    AbstractDeviceEffect,
    card_sections,
    effect,
    effect_fields,
    param,
    sweep_fields,
    table_source,
)


# -- a toy effect: its own "file" (this class) and one field of a config ----------------------
@dataclass(frozen=True, kw_only=True)
class ToyLeak(AbstractDeviceEffect):
    """Leakage of a stored conductance towards ``floor`` at ``rate`` (a made-up effect)."""

    card_section = "toy_leak"
    card_doc = "leakage of a stored conductance (test effect)"

    rate: float = param(units="1/s", lo=0.0, card_required=True, long_name="toy leak rate", doc="relaxation rate")
    floor: float = param(0.0, units="S", lo=0.0, long_name="toy leak floor conductance")

    def on_read(self, g, t_inference, *, generator=None):
        return self.floor + (g - self.floor) * math.exp(-self.rate * t_inference)


@dataclass(frozen=True, kw_only=True)
class ToyConfig(CrossbarConfig):
    toy_leak: ToyLeak | None = effect(ToyLeak)


def _toy_card(extra: str):
    text = Path(load_card("pcm_aihwkit").path).read_text() + "\n" + extra
    return parse_card(text, sections={**SECTIONS, **card_sections(ToyConfig)})


def test_toy_effect_is_picked_up_everywhere():
    # validation from the metadata: range and unit in the message, naming the parameter
    with pytest.raises(ValueError, match=r"rate=-1.0: must be finite and >= 0 \(1/s\)"):
        ToyLeak(rate=-1.0)
    with pytest.raises(TypeError, match="rate: expected a number"):
        ToyLeak(rate="fast")
    with pytest.raises(TypeError, match="toy_leak: expected ToyLeak or None, got str"):
        ToyConfig.ideal(toy_leak="on")
    assert ToyLeak(rate=3).rate == 3.0 and isinstance(ToyLeak(rate=3).rate, float)
    # from_card reads the new section; a card without it leaves the effect off
    cfg = ToyConfig.from_card(
        _toy_card(
            '[toy_leak]\nrate = { value = 2.0, units = "1/s", source = "made up for a test" }\n'
            'floor = { value = 1.0, units = "uS", source = "made up for a test" }\n'
        )
    )
    assert cfg.toy_leak == ToyLeak(rate=2.0, floor=1e-6)
    assert cfg.drift == CrossbarConfig.from_card("pcm_aihwkit").drift  # the rest as before
    assert ToyConfig.from_card("pcm_aihwkit").toy_leak is None
    # the card schema's section: range, unit and required key checked by the card loader
    sec = card_sections(ToyConfig)["toy_leak"]
    assert sec.fields["rate"].units == "1/s" and sec.fields["rate"].required and sec.doc == ToyLeak.card_doc
    with pytest.raises(
        CardError, match=r"\[toy_leak\]\.rate: value: value -2.0 1/s out of physical range \(must be >= 0.0\)"
    ):
        _toy_card('[toy_leak]\nrate = { value = -2.0, units = "1/s", source = "made up for a test" }\n')
    with pytest.raises(CardError, match=r"\[toy_leak\]: missing required key 'rate' \(relaxation rate\)"):
        _toy_card('[toy_leak]\nfloor = { value = 1.0, units = "S", source = "made up for a test" }\n')
    with pytest.raises(CardError, match=r"\[toy_leak\]: unknown section"):  # not in the default schema
        parse_card(
            Path(load_card("pcm_aihwkit").path).read_text() + "\n[toy_leak]\n"
            'rate = { value = 2.0, units = "1/s", source = "made up for a test" }\n'
        )
    # is_ideal counts the new effect
    assert ToyConfig.ideal().is_ideal
    assert not ToyConfig.ideal(toy_leak=ToyLeak(rate=1.0)).is_ideal
    # the sweep's field table
    fields = sweep_fields(ToyConfig)
    assert fields["toy_leak.rate"] == ("1/s", "toy leak rate", False)
    assert fields["toy_leak.floor"] == ("S", "toy leak floor conductance", False)
    assert {k: v for k, v in fields.items() if not k.startswith("toy_leak.")} == sweep_fields(CrossbarConfig)


def test_toy_effect_acts_in_the_layer():
    """The layer calls the effect's on_read hook: with the differential pair and a zero floor, a
    leak of rate r scales every weight by exp(-r t) (analytic), and leaves t = 0 alone."""
    torch.manual_seed(0)
    w, x = torch.randn(4, 6, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    rate, t = 0.5, 2.0
    cfg = ToyConfig.ideal(toy_leak=ToyLeak(rate=rate), w_max=4.0)
    layer = AnalogLinear(6, 4, bias=False, config=cfg).double()
    with torch.no_grad():
        layer.weight.copy_(w)
    layer.eval().program()
    torch.testing.assert_close(layer(x), x @ w.T, rtol=1e-12, atol=1e-12)
    layer.set_time(t)
    torch.testing.assert_close(layer(x), math.exp(-rate * t) * (x @ w.T), rtol=1e-12, atol=1e-12)


def test_generated_table_is_current():
    """physnn/params_table.py (read by the card loader and the sweep without torch) is what the
    metadata gives; regenerate with ``python -m physnn.crossbar.params``."""
    path = Path(physnn.__file__).parent / "params_table.py"
    assert path.read_text() == table_source(), "stale: run python -m physnn.crossbar.params"
    derived = card_sections()
    for name, sec in derived.items():
        assert SECTIONS[name] == sec
    from physnn.sweep.tasks import CrossbarMLP

    assert {k for k in CrossbarMLP.__new__(CrossbarMLP).fields() if k.startswith("config.")} == {
        f"config.{k}" for k in sweep_fields()
    }


def test_card_key_of_every_parameter_is_in_its_section():
    """Every card key a parameter names exists in the schema, with the parameter's unit."""
    for name, m in effect_fields(CrossbarConfig):
        for cls in m["types"]:
            if not dataclasses.is_dataclass(cls) or m["section"] is None or not m["schema"]:
                continue
            for f in dataclasses.fields(cls):
                meta = f.metadata.get("physnn")
                if meta is None or meta["card"] is None:
                    continue
                sec, _, key = (
                    meta["card"].rpartition(".") if "." in meta["card"] else (m["section"], "", meta["card"] or f.name)
                )
                assert SECTIONS[sec].fields[key].units == meta["units"], (cls.__name__, f.name)


@pytest.mark.parametrize("card", list_cards())
def test_config_and_card_share_the_ranges(card):
    """For every effect a card gives, a value just outside a parameter's range is refused by the
    config with the parameter's name (the card loader refuses it with the same range)."""
    cfg = CrossbarConfig.from_card(card)
    for name, _m in effect_fields(CrossbarConfig):
        eff = getattr(cfg, name)
        if eff is None or not dataclasses.is_dataclass(eff):
            continue
        for f in dataclasses.fields(eff):
            meta = f.metadata.get("physnn")
            if meta is None or meta["kind"] != "float" or not meta["check"] or meta["lo"] is None:
                continue
            bad = meta["lo"] if meta["lo_open"] else meta["lo"] - 1.0
            with pytest.raises(ValueError, match=rf"^{f.name}="):
                dataclasses.replace(eff, **{f.name: bad})
            with pytest.raises(ValueError, match=rf"^{f.name}=nan"):
                dataclasses.replace(eff, **{f.name: math.nan})


def test_model_choices_are_checked_with_the_allowed_values():
    with pytest.raises(ValueError, match=r"model='power': must be one of \('power_law', 'pcm_lognormal'\)"):
        Drift(model="power", nu=0.1)
    with pytest.raises(ValueError, match=r"model='1/f': must be one of \('one_over_f', 'gaussian'\)"):
        ReadNoise(model="1/f")
    rng = ConductanceRange(0.0, 1e-5)
    with pytest.raises(ValueError, match=r"input_scaling='absmax': must be one of \('fixed', 'abs_max'\)"):
        CrossbarConfig(range=rng, input_scaling="absmax")
    with pytest.raises(ValueError, match=r"output_units='A': must be one of \('normalized', 'weight'\)"):
        CrossbarConfig(range=rng, output_units="A")
    with pytest.raises(TypeError, match="drift_compensation: expected a bool"):
        CrossbarConfig(range=rng, drift_compensation=1)


def test_is_ideal_follows_the_declared_ideal_values():
    rng = ConductanceRange(0.0, 1e-5)
    assert CrossbarConfig(range=rng).is_ideal
    assert not CrossbarConfig(range=ConductanceRange(0.0, 1e-5, levels=16)).is_ideal
    assert not CrossbarConfig(range=rng, out_noise=0.01).is_ideal
    assert not CrossbarConfig(range=rng, weight_clip=1.0).is_ideal
    assert CrossbarConfig(range=rng, t_inference=10.0, w_max=2.0).is_ideal  # no ideal declared: do not count
    assert not CrossbarConfig.from_card("pcm_aihwkit").is_ideal
