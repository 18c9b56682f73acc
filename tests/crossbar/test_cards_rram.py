"""RRAM device cards: they load, their numbers match their sources, and the effects build from them."""

import math

import pytest
import torch

from physnn.cards import CardError, load_card, parse_card
from physnn.crossbar import (
    ConductanceRange,
    DeviceVariation,
    LinearIV,
    ProgrammingNoise,
    SinhIV,
    StuckAtFaults,
    apply_programming_noise,
    iv_from_card,
    programming_noise_std,
    sample_fault_masks,
)


@pytest.mark.parametrize("name", ["rram_hfo2", "rram_taox"])
def test_rram_cards_complete_and_sourced(name):
    card = load_card(name)
    assert card.kind == "rram"
    for sec, fields in {
        "conductance": ("g_min", "g_max", "levels"),
        "variation": ("device_to_device_rel", "cycle_to_cycle_rel"),
        "faults": ("stuck_on_rate", "stuck_off_rate"),
    }.items():
        for f in fields:
            q = card.quantity(sec, f)
            assert q.source.strip() and q.units
    rng = ConductanceRange.from_card(card)
    assert 0 <= rng.g_min < rng.g_max and rng.levels >= 2
    DeviceVariation.from_card(card)
    StuckAtFaults.from_card(card)
    assert isinstance(iv_from_card(card), (LinearIV, SinhIV))


def test_hfo2_card_matches_aihwkit_fits():
    aihwkit_reram = pytest.importorskip("aihwkit.inference.noise.reram")
    presets = pytest.importorskip("aihwkit.simulator.presets.devices")
    card = load_card("rram_hfo2")
    # programming noise: aihwkit's ReRamWan2022NoiseModel 1 s fit, coefficients in uS at g_max = 40 uS
    model = aihwkit_reram.ReRamWan2022NoiseModel()
    assert card["conductance"]["g_max"] == pytest.approx(model.prog_coeff_g_max_reference * 1e-6)
    min_t = min(model.coeff_dic)
    assert card["programming_noise"]["coefficients"] == pytest.approx(tuple(c * 1e-6 for c in model.coeff_dic[min_t]))
    # our sampled std equals the aihwkit polynomial evaluated at the same conductance
    cfg = ProgrammingNoise.from_card(card)
    g = torch.tensor([5.0, 20.0, 35.0], dtype=torch.float64) * 1e-6
    x = g / 40e-6
    expected = sum(c * x**k for k, c in enumerate(model.coeff_dic[min_t])) * 1e-6
    torch.testing.assert_close(programming_noise_std(g, cfg), expected)
    n = 20000
    draws = apply_programming_noise(g[:, None].expand(-1, n), cfg, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        draws.std(1) / expected, torch.ones(3, dtype=torch.float64), atol=5 / math.sqrt(2 * n), rtol=0
    )
    # device-to-device / cycle-to-cycle spreads of the Gong et al. 2018 fit (ReRamESPresetDevice)
    es = presets.ReRamESPresetDevice()
    assert card["variation"]["device_to_device_rel"] == pytest.approx(es.w_max_dtod)
    assert card["variation"]["cycle_to_cycle_rel"] == pytest.approx(es.write_noise_std * es.dw_min, rel=0.02)


def test_card_numbers_against_quoted_sources():
    hf = load_card("rram_hfo2")
    # Li et al. 2018 abstract: device yield 99.8 %
    assert hf["faults"]["stuck_on_rate"] + hf["faults"]["stuck_off_rate"] == pytest.approx(1 - 0.998)
    assert isinstance(iv_from_card(hf), LinearIV)  # "linear device current-voltage characteristics"
    assert hf["conductance"]["levels"] == 2**4  # Wan et al. 2022: four-bit weights
    ta = load_card("rram_taox")
    # DNN+NeuroSim Table 1, TaOx/HfOx: Ron = 100 kOhm, on/off = 10, 4-bit cells
    assert ta["conductance"]["g_max"] == pytest.approx(1 / 100e3)
    assert ta["conductance"]["g_max"] / ta["conductance"]["g_min"] == pytest.approx(10.0)
    assert ta["conductance"]["levels"] == 16
    iv = iv_from_card(ta)
    assert isinstance(iv, SinhIV) and iv.v_nl == pytest.approx(0.25)
    # from_card takes field overrides, as every effect's does (the card's value otherwise)
    assert SinhIV.from_card(ta, v_nl=0.4).v_nl == 0.4
    with pytest.raises(TypeError, match="v_nl"):
        LinearIV.from_card(ta, v_nl=0.4)  # the ohmic law has no field


def test_card_fault_rates_observed():
    cfg = StuckAtFaults.from_card("rram_hfo2")
    on, off = sample_fault_masks((64, 256, 256), cfg, generator=torch.Generator().manual_seed(1))
    n = on.numel()
    for mask, p in ((on, cfg.stuck_on_rate), (off, cfg.stuck_off_rate)):
        assert abs(int(mask.sum()) - n * p) < 5 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("levels = {", "levelz = {", r"rram_taox.toml:\d+: \[conductance\]\.levelz"),  # typo
        ('v_nl = { value = 0.25, units = "V"', "v_nl = { value = 0.25", r"\[iv\]\.v_nl: missing 'units'"),
        ("g_min = { value = 1.0,", "g_min = { value = -1.0,", r"\[conductance\]\.g_min.*out of physical range"),
        ("stuck_on_rate = { value = 0.1,", "stuck_on_rate = { value = 150.0,", r"\[faults\]\.stuck_on_rate"),
    ],
)
def test_bad_rram_card_names_file_and_field(tmp_path, old, new, message):
    text = load_card("rram_taox").path.read_text()
    assert old in text
    p = tmp_path / "rram_taox.toml"
    p.write_text(text.replace(old, new))
    with pytest.raises(CardError, match=message):
        load_card(p)


def test_bad_rram_card_errors():
    text = load_card("rram_taox").path.read_text()
    with pytest.raises(CardError, match="g_min"):
        parse_card(text.replace("g_min = { value = 1.0,", "g_min = { value = 20.0,"))
    # a card without a sinh law cannot build SinhIV
    with pytest.raises(ValueError, match="sinh"):
        SinhIV.from_card("rram_hfo2")
