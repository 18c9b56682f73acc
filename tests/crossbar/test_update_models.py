"""Pulsed device update models (physnn.crossbar.update): analytic pulse responses, asymmetry,
noise and spread statistics, cards, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from physnn.cards import CardError, load_card, parse_card
from physnn.crossbar import CrossbarConfig
from physnn.crossbar.update import (
    ConstantStep,
    ExpStep,
    LinearStep,
    PowStep,
    SoftBounds,
    apply_pulses,
    reset,
    step_size,
    symmetry_point,
    update_model_from_card,
)

D = torch.float64


def pulse_train(w, params, n, sign):
    """States after each of ``n`` single pulses (one apply_pulses call per pulse)."""
    out = [w]
    one = torch.full(w.shape, sign, dtype=torch.int64)
    for _ in range(n):
        w = apply_pulses(w, one, params)
        out.append(w)
    return torch.stack(out)


def test_soft_bounds_up_then_down_matches_closed_form():
    m = SoftBounds(dw_min=0.01, up_down=0.2, w_min=-0.8, w_max=1.2)
    p = m.nominal_params((1,), dtype=D)
    a, b = 0.01 * 1.2, 0.01 * 0.8
    w0 = torch.tensor([0.1], dtype=D)
    up = pulse_train(w0, p, 300, +1)[:, 0]
    n = torch.arange(301, dtype=D)
    assert torch.allclose(up, 1.2 - (1.2 - 0.1) * (1 - a / 1.2) ** n, rtol=0, atol=1e-12)
    dn = pulse_train(up[-1:].clone(), p, 300, -1)[:, 0]
    assert torch.allclose(dn, -0.8 + (up[-1] + 0.8) * (1 - b / 0.8) ** n, rtol=0, atol=1e-12)
    # all pulses at once (closed form) equals the pulse-by-pulse train
    assert torch.allclose(apply_pulses(w0, torch.tensor([300]), p), up[-1:], atol=1e-12)


def test_constant_step_is_linear_then_clipped():
    m = ConstantStep(dw_min=0.05, up_down=0.1)
    p = m.nominal_params((1,), dtype=D)
    up = pulse_train(torch.zeros(1, dtype=D), p, 30, +1)[:, 0]
    n = torch.arange(31, dtype=D)
    assert torch.allclose(up, (n * 0.05 * 1.1).clamp(max=1.0), atol=1e-12)
    dn = pulse_train(up[-1:].clone(), p, 50, -1)[:, 0]
    assert torch.allclose(dn, (1.0 - torch.arange(51, dtype=D) * 0.05 * 0.9).clamp(min=-1.0), atol=1e-12)


def test_linear_step_closed_form_and_pulse_train_agree():
    m = LinearStep(dw_min=0.01, up_down=-0.1, w_min=-0.8276, w_max=1.1724, gamma_up=0.1153, gamma_down=0.5085)
    p = m.nominal_params((1,), dtype=D)
    up = pulse_train(torch.zeros(1, dtype=D), p, 200, +1)[:, 0]
    a = 0.01 * 0.9
    c = a * 0.1153 / 1.1724
    w_star = 1.1724 / 0.1153  # fixed point beyond w_max: clipped there
    n = torch.arange(201, dtype=D)
    assert torch.allclose(up, (w_star - w_star * (1 - c) ** n).clamp(max=1.1724), atol=1e-12)
    many = torch.tensor([0, 3, 77, 200, -5, -150])
    w = torch.full((6,), 0.3, dtype=D)
    pp = m.nominal_params((6,), dtype=D)
    one_by_one = torch.stack(
        [
            pulse_train(w[i : i + 1], m.nominal_params((1,), dtype=D), abs(int(k)), 1 if k >= 0 else -1)[-1, 0]
            for i, k in enumerate(many)
        ]
    )
    assert torch.allclose(apply_pulses(w, many, pp), one_by_one, atol=1e-12)


def test_exp_step_step_size_and_continuum_limit():
    m = ExpStep(dw_min=1e-4, w_min=-1.0, w_max=1.0, gamma_up=3.0, gamma_down=1.5)
    p = m.nominal_params((1,), dtype=D)
    w = torch.tensor([0.4], dtype=D)
    u = (0.4 + 1) / 2
    assert torch.allclose(step_size(w, p, +1), torch.tensor([1e-4 * math.exp(3.0 * (0.5 - u))], dtype=D))
    assert torch.allclose(step_size(w, p, -1), torch.tensor([1e-4 * math.exp(1.5 * (0.5 - (1 - u)))], dtype=D))
    n = 4000
    w_n = apply_pulses(torch.tensor([-1.0], dtype=D), torch.tensor([n]), p)
    u_n = math.log(1.0 + 3.0 * n * (1e-4 / 2) * math.exp(1.5)) / 3.0  # u0 = 0
    assert abs(float(w_n) - (-1 + 2 * u_n)) < 2e-4


def test_pow_step_continuum_limit_and_gamma_one_is_soft_bounds():
    m = PowStep(dw_min=1e-4, gamma_up=2.0, gamma_down=0.5)
    p = m.nominal_params((1,), dtype=D)
    n = 5000
    w_n = float(apply_pulses(torch.tensor([0.0], dtype=D), torch.tensor([n]), p))
    v0 = 0.5
    v_n = 1.0 / (1.0 / v0 + (2.0 - 1.0) * n * 4.0 * 1e-4 / 2.0)  # v^(1-g) law, g = 2
    assert abs(w_n - (1.0 - 2.0 * v_n)) < 1e-4
    ps = PowStep(dw_min=0.02, up_down=0.3).nominal_params((1,), dtype=D)
    sb = SoftBounds(dw_min=0.02, up_down=0.3).nominal_params((1,), dtype=D)
    w0 = torch.tensor([0.2], dtype=D)
    assert torch.allclose(pulse_train(w0, ps, 40, 1), pulse_train(w0, sb, 40, 1), atol=1e-12)
    assert torch.allclose(pulse_train(w0, ps, 40, -1), pulse_train(w0, sb, 40, -1), atol=1e-12)


def test_asymmetry_moves_the_symmetry_point_and_alternating_pulses_converge_there():
    m = SoftBounds(dw_min=0.01, up_down=0.3)
    p = m.nominal_params((1,), dtype=D)
    assert torch.allclose(symmetry_point(p), torch.tensor([0.3], dtype=D), atol=1e-9)
    assert torch.allclose(step_size(torch.zeros(1, dtype=D), p, 1), torch.tensor([0.013], dtype=D))
    assert torch.allclose(step_size(torch.zeros(1, dtype=D), p, -1), torch.tensor([0.007], dtype=D))
    w = torch.tensor([-0.5], dtype=D)
    for _ in range(2000):  # up, down, up, down ...: a net drift to the symmetry point
        w = apply_pulses(apply_pulses(w, torch.tensor([1]), p), torch.tensor([-1]), p)
    # after an up-down pair starting at s*: s* + up(s*) - down(s* + up(s*)) -> converges near s*
    assert abs(float(w) - 0.3) < 0.02
    sym = SoftBounds(dw_min=0.01).nominal_params((1,), dtype=D)
    assert abs(float(symmetry_point(sym))) < 1e-9


def test_cycle_to_cycle_noise_statistics():
    n = 200_000
    g = torch.Generator().manual_seed(1)
    for additive in (False, True):
        m = ConstantStep(dw_min=0.001, up_down=0.2, dw_min_std=0.3, c2c_additive=additive)
        p = m.nominal_params((n,), dtype=D)
        dw = apply_pulses(torch.zeros(n, dtype=D), torch.ones(n, dtype=torch.int64), p, generator=g)
        assert abs(float(dw.mean()) - 0.0012) < 4 * 0.3 * 0.0012 / math.sqrt(n)
        assert abs(float(dw.std()) / (0.3 * 0.0012) - 1) < 0.01
    # soft bounds, multiplicative noise scales with the state-dependent step; additive does not
    w0 = torch.full((n,), 0.5, dtype=D)
    for additive, want in ((False, 0.3 * 0.001 * 0.5), (True, 0.3 * 0.001)):
        m = SoftBounds(dw_min=0.001, dw_min_std=0.3, c2c_additive=additive)
        dw = apply_pulses(w0, torch.ones(n, dtype=torch.int64), m.nominal_params((n,), dtype=D), generator=g) - w0
        assert abs(float(dw.std()) / want - 1) < 0.01
    # reproducible with the same generator
    m = SoftBounds(dw_min=0.001, dw_min_std=0.3)
    p = m.nominal_params((100,), dtype=D)
    a = apply_pulses(w0[:100], torch.full((100,), 7), p, generator=torch.Generator().manual_seed(3))
    b = apply_pulses(w0[:100], torch.full((100,), 7), p, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_device_to_device_spread_statistics_and_ensemble_dimension():
    m = SoftBounds(dw_min=0.002, up_down=0.1, dw_min_dtod=0.2, up_down_dtod=0.05, w_max_dtod=0.1, w_min_dtod=0.2)
    p = m.sample_params((8, 100, 100), generator=torch.Generator().manual_seed(0), dtype=D)
    assert p.shape == (8, 100, 100)
    dw = (p.dw_up + p.dw_down) / 2  # = dw_min of the device
    ud = (p.dw_up - p.dw_down) / (p.dw_up + p.dw_down)
    assert abs(float(dw.mean()) / 0.002 - 1) < 0.01
    assert abs(float(dw.std()) / (0.2 * 0.002) - 1) < 0.03
    assert abs(float(ud.mean()) - 0.1) < 0.002 and abs(float(ud.std()) / 0.05 - 1) < 0.03
    assert abs(float(p.w_max.std()) / 0.1 - 1) < 0.03 and abs(float(p.w_min.std()) / 0.2 - 1) < 0.03
    # members are independent draws
    assert not torch.equal(p.dw_up[0], p.dw_up[1])
    q = m.sample_params((8, 100, 100), generator=torch.Generator().manual_seed(0), dtype=D)
    assert torch.equal(p.dw_up, q.dw_up)
    # the spread of up_down spreads the symmetry points
    sp = symmetry_point(m.sample_params((20000,), generator=torch.Generator().manual_seed(1), dtype=D))
    assert abs(float(sp.mean()) - 0.1) < 0.01 and float(sp.std()) > 0.03


def test_reset_and_set_only():
    m = ExpStep(dw_min=0.005, w_min=0.0, w_max=1.0, set_only=True, reset_value=0.005, refresh_threshold=0.75)
    p = m.nominal_params((3,), dtype=D)
    w = apply_pulses(torch.zeros(3, dtype=D), torch.tensor([0, 10, 100]), p)
    assert float(w[0]) == 0.0 and 0 < float(w[1]) < float(w[2]) < 1.0
    r = reset(w, p, torch.tensor([False, True, True]))
    assert torch.equal(r, torch.tensor([0.0, 0.005, 0.005], dtype=D))
    with pytest.raises(ValueError, match="n_pulses_signed: a set_only device takes no down pulses"):
        apply_pulses(w, torch.tensor([0, -1, 0]), p)
    with pytest.raises(ValueError, match="params: a set_only device has no symmetry point"):
        symmetry_point(p)


@pytest.mark.parametrize(
    "kw, fragment",
    [
        (dict(dw_min=0.0), "dw_min=0.0"),
        (dict(up_down=1.0), "up_down=1.0"),
        (dict(w_min=1.0, w_max=1.0), "w_min=1.0: must be < w_max"),
        (dict(w_min=0.0), "bidirectional device needs w_min < 0"),
        (dict(dw_min=3.0), "dw_min=3.0: must be smaller than the range"),
        (dict(dw_min_std=-0.1), "dw_min_std=-0.1"),
        (dict(refresh_threshold=0.5), "refresh_threshold: only a set_only device"),
        (dict(endurance=0.5), "endurance=0.5"),
    ],
)
def test_bad_model_parameters_name_the_parameter(kw, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment.replace("(", r"\(").replace(")", r"\)")):
        ConstantStep(**kw)


def test_bad_pulse_input_names_the_parameter():
    p = SoftBounds(dw_min=0.01).nominal_params((2,), dtype=D)
    with pytest.raises(ValueError, match="w: 1 non-finite"):
        apply_pulses(torch.tensor([0.0, float("nan")], dtype=D), torch.tensor([1, 1]), p)
    with pytest.raises(ValueError, match="n_pulses_signed: pulse counts must be whole numbers"):
        apply_pulses(torch.zeros(2, dtype=D), torch.tensor([0.5, 1.0]), p)
    with pytest.raises(ValueError, match="n_pulses_signed: shape"):
        apply_pulses(torch.zeros(2, dtype=D), torch.tensor([1, 1, 1]), p)
    with pytest.raises(ValueError, match="params: device shape"):
        apply_pulses(torch.zeros(3, dtype=D), torch.tensor([1, 1, 1]), p)
    with pytest.raises(TypeError, match="params: expected PulseParams"):
        apply_pulses(torch.zeros(2, dtype=D), torch.tensor([1, 1]), None)
    with pytest.raises(ValueError, match="gamma_up=2.0: a soft-bounds device has unit slope"):
        SoftBounds(gamma_up=2.0)


def test_cards_give_the_aihwkit_preset_numbers():
    ecram = update_model_from_card("ecram_tang2018")
    assert isinstance(ecram, LinearStep)
    assert (ecram.dw_min, ecram.w_max, ecram.w_min, ecram.gamma_up, ecram.gamma_down) == (
        0.002,
        1.1724,
        -0.8276,
        0.1153,
        0.5085,
    )
    rram = CrossbarConfig.from_card("rram_softbounds_gong2018").update
    assert isinstance(rram, SoftBounds) and rram.c2c_additive and rram.dw_min_std == 3.75
    pcm = update_model_from_card("pcm_set_only")
    assert isinstance(pcm, ExpStep) and pcm.set_only and pcm.refresh_threshold == 0.75 and pcm.endurance == 1e8
    assert load_card("pcm_set_only").quantity("update", "refresh_threshold").source.startswith("IBM aihwkit")
    assert CrossbarConfig.from_card("pcm_aihwkit").update is None
    with pytest.raises(ValueError, match="has no \\[update\\] section"):
        update_model_from_card("pcm_aihwkit")
    with pytest.raises(ValueError, match="not 'soft_bounds'"):
        SoftBounds.from_card("ecram_tang2018")


BASE = """
[card]
name = "x"
kind = "ecram"
description = "test card"
source = "made up for a test"

[sources]
test = "made up for a test"

[conductance]
source = "test"
g_min = { value = 0.0, units = "uS" }
g_max = { value = 1.0, units = "uS" }

[update]
source = "test"
model = "soft_bounds"
dw_min = { value = 0.01, units = "1" }
"""


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (('model = "soft_bounds"', 'model = "magic"'), "[update].model: 'magic' is not one of"),
        (("dw_min = { value = 0.01", "dw_mn = { value = 0.01"), "[update].dw_mn: unknown key"),
        (("dw_min = { value = 0.01", "dw_min = { value = -0.01"), "[update].dw_min"),
        (
            (
                'dw_min = { value = 0.01, units = "1" }',
                'dw_min = { value = 0.01, units = "1" }\nup_down = { value = 1.5, units = "1" }',
            ),
            "[update].up_down",
        ),
        (('model = "soft_bounds"\n', ""), "missing required key 'model'"),
    ],
)
def test_card_schema_validates_the_update_section(edit, fragment):
    assert isinstance(update_model_from_card(parse_card(BASE)), SoftBounds)
    with pytest.raises(CardError) as e:
        parse_card(BASE.replace(*edit))
    assert fragment in str(e.value)


def test_update_section_of_the_card_schema_is_derived_from_the_models_fields():
    # one home per parameter: the [update] schema comes from the models' field metadata
    from physnn.card_schema import SECTIONS
    from physnn.crossbar.params import card_sections
    from physnn.crossbar.update import MODELS

    sec = card_sections()["update"]
    assert sec.fields["model"].choices == tuple(MODELS) and sec.fields["model"].required
    assert sec.fields["dw_min"].required and sec.fields["dw_min"].lo == 0.0 and sec.fields["dw_min"].lo_open
    assert sec.fields["direction"].choices == ("bidirectional", "set_only")
    assert "set_only" not in sec.fields and "c2c_additive" not in sec.fields  # card keys direction / noise
    assert SECTIONS["update"] == sec  # the generated table agrees


@pytest.mark.parametrize(
    "cls, kw, fragment",
    [
        (ExpStep, dict(gamma_up=-0.5), "gamma_up=-0.5: must be finite and >= 0"),
        (PowStep, dict(gamma_down=0.0), "gamma_down=0.0: must be finite and > 0"),
        (ConstantStep, dict(set_only="yes"), "set_only: expected a bool"),
        (ConstantStep, dict(w_max=float("nan")), "w_max=nan: expected a finite number"),
    ],
)
def test_model_ranges_come_from_the_field_metadata(cls, kw, fragment):
    with pytest.raises((ValueError, TypeError), match=fragment):
        cls(**kw)
