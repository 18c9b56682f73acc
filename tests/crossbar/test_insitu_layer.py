"""AnalogLinear learning in place: layer.update / update_outer, pulse counts, SET-only pairs with
refresh, AnalogSGD / TikiTakaV2 / MixedPrecision, and refused updates that change nothing."""

from __future__ import annotations

import pytest
import torch

from physnn.crossbar import AnalogLinear, CrossbarConfig
from physnn.crossbar.update import (
    AnalogSGD,
    ConstantStep,
    DeterministicPulses,
    ExpStep,
    MixedPrecision,
    SoftBounds,
    StochasticPulses,
    TikiTakaV2,
)

D = torch.float64


def layer_with(model, *, n_in=6, n_out=4, ensemble=None, seed=0, w_max=1.0):
    cfg = CrossbarConfig.ideal(w_max=w_max, update=model)
    l = AnalogLinear(
        n_in, n_out, config=cfg, ensemble=ensemble, dtype=D, generator=torch.Generator().manual_seed(seed)
    ).eval()
    with torch.no_grad():
        l.weight.uniform_(-0.3, 0.3, generator=torch.Generator().manual_seed(seed + 1))
    return l.program()


def test_deterministic_update_moves_weights_by_whole_pulses_and_counts_them():
    l = layer_with(ConstantStep(dw_min=0.01), w_max=2.0)
    w0 = l.programmed_weight().clone()
    k = torch.randint(-3, 4, (4, 6), generator=torch.Generator().manual_seed(5))
    n = l.update(k * (0.01 * 2.0), DeterministicPulses())
    assert torch.equal(n, k)
    assert torch.allclose(l.programmed_weight(), w0 + k * 0.02, atol=1e-12)
    assert torch.allclose(l.weight, w0 + k * 0.02, atol=1e-12)  # float weights follow
    assert torch.equal(l.pulses_, k.abs())
    x = torch.randn(3, 6, dtype=D)
    assert torch.allclose(l(x), x @ l.weight.T + l.bias, atol=1e-10)  # the read sees the new state
    l.update(-k * 0.02)
    assert torch.allclose(l.programmed_weight(), w0, atol=1e-12) and torch.equal(l.pulses_, 2 * k.abs())


def test_stochastic_pulse_trains_are_unbiased_for_the_outer_product():
    E = 400
    l = layer_with(ConstantStep(dw_min=0.001), ensemble=E)
    w0 = l.programmed_weight().clone()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 6, dtype=D, generator=g)
    d = torch.randn(8, 4, dtype=D, generator=g)
    lr = 0.002
    l.update_outer(x, d, lr=lr, rule=StochasticPulses(bl=31))
    dw = l.programmed_weight() - w0  # (E, out, in)
    want = lr * d.T @ x
    se = dw.std(0) / E**0.5
    assert float(((dw.mean(0) - want).abs() / (se + 1e-12)).max()) < 5
    assert torch.allclose(dw.mean(0), want, atol=0.1 * float(want.abs().max()))
    assert int(l.pulses_.max()) <= 31 * 8  # at most BL per sample
    # deterministic rule on the same factors: the rounded product
    l2 = layer_with(ConstantStep(dw_min=0.001))
    w0 = l2.programmed_weight().clone()
    l2.update_outer(x, d, lr=lr, rule=DeterministicPulses())
    assert torch.allclose(l2.programmed_weight() - w0, torch.round(want / 0.001) * 0.001, atol=1e-12)


def test_soft_bounds_layer_update_saturates_as_the_device():
    l = layer_with(SoftBounds(dw_min=0.01), n_in=1, n_out=1)
    with torch.no_grad():
        l.weight.zero_()
    l.program()
    for _ in range(50):
        l.update(torch.full((1, 1), 0.01))
    assert abs(float(l.programmed_weight()) - (1 - 0.99**50)) < 1e-12


def test_set_only_pair_pulses_one_device_per_sign_and_refreshes():
    m = ExpStep(dw_min=0.05, w_min=0.0, w_max=1.0, gamma_up=0.0, set_only=True, refresh_threshold=0.75)
    l = layer_with(m, n_in=1, n_out=1)
    with torch.no_grad():
        l.weight.zero_()
    l.program()
    r = l.config.range
    l.update(torch.tensor([[0.10]]))  # 2 SET pulses on g_plus
    l.update(torch.tensor([[-0.05]]))  # 1 SET pulse on g_minus
    u = (l.g_prog - r.g_min) / r.swing
    assert torch.allclose(u[:, 0, 0], torch.tensor([0.10, 0.05], dtype=D), atol=1e-12)
    assert torch.equal(l.pulses_[:, 0, 0], torch.tensor([2, 1]))
    for _ in range(7):  # g_plus passes 0.75 -> refresh
        l.update(torch.tensor([[0.10]]))
    assert int(l.refreshes_.sum()) == 1
    u = (l.g_prog - r.g_min) / r.swing
    assert float(u.max()) <= 0.75 + 1e-12 and float(u[1].max()) == 0.0  # both RESET, weight on g_plus
    assert abs(float(l.programmed_weight()) - (0.10 - 0.05 + 0.70)) < 1e-12  # the weight survives
    with pytest.raises(ValueError, match="Tiki-Taka needs bidirectional devices"):
        TikiTakaV2([l], lr=0.1)


def test_refused_updates_name_the_parameter_and_change_nothing():
    l = layer_with(SoftBounds(dw_min=0.01, endurance=5.0))
    l.update(torch.full((4, 6), 0.03))  # 3 pulses per device
    g0, p0, w0 = l.g_prog.clone(), l.pulses_.clone(), l.weight.detach().clone()
    bad = torch.zeros(4, 6, dtype=D)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="delta_w: 1 non-finite"):
        l.update(bad)
    with pytest.raises(ValueError, match="past the endurance 5 pulses"):
        l.update(torch.full((4, 6), 0.03))
    with pytest.raises(ValueError, match="delta_w: expected shape"):
        l.update(torch.zeros(6, 4, dtype=D))
    with pytest.raises(TypeError, match="rule: layer.update takes DeterministicPulses"):
        l.update(torch.zeros(4, 6, dtype=D), StochasticPulses())
    opt = AnalogSGD([l], lr=0.1)
    with pytest.raises(ValueError, match=r"grads\[0\]: 1 non-finite"):
        opt.step([bad])
    assert torch.equal(l.g_prog, g0) and torch.equal(l.pulses_, p0) and torch.equal(l.weight.detach(), w0)
    plain = AnalogLinear(6, 4, config=CrossbarConfig.ideal()).eval()
    with pytest.raises(ValueError, match="config.update: the layer's device has no update model"):
        plain.update(torch.zeros(4, 6))
    with pytest.raises(ValueError, match=r"layers\[0\]: config.update is None"):
        MixedPrecision([plain], lr=0.1)


def test_mixed_precision_accumulates_below_threshold_then_pulses():
    l = layer_with(ConstantStep(dw_min=0.01))
    w0 = l.programmed_weight().clone()
    opt = MixedPrecision([l], lr=1.0)
    g = torch.full((4, 6), -0.004, dtype=D)  # each step asks for +0.004 = 0.4 pulse
    opt.step([g])
    opt.step([g])
    assert torch.equal(l.programmed_weight(), w0) and getattr(l, "pulses_", None) is None
    opt.step([g])  # chi = 0.012 -> one pulse, chi = 0.002 left
    assert torch.allclose(l.programmed_weight(), w0 + 0.01, atol=1e-12)
    assert torch.allclose(opt.chi_[0], torch.full((4, 6), 0.002, dtype=D), atol=1e-12)


def test_tiki_taka_transfers_a_consistent_gradient_to_c():
    l = layer_with(SoftBounds(dw_min=0.001, up_down=0.3))
    opt = TikiTakaV2([l], lr=0.05, transfer_lr=0.5, columns=6, generator=torch.Generator().manual_seed(0))
    # A starts at its symmetry point (reads 0): no gradient, no transfer pulses
    opt.step([torch.zeros(4, 6, dtype=D)])
    assert getattr(l, "pulses_", None) is None
    w0 = l.programmed_weight().clone()
    g = torch.zeros(4, 6, dtype=D)
    g[0] = 1.0
    g[1] = -1.0
    for _ in range(20):
        opt.step([g])
    dw = l.programmed_weight() - w0
    assert bool((dw[0] < 0).all()) and bool((dw[1] > 0).all())  # descent on C
    assert torch.equal(dw[2:], torch.zeros_like(dw[2:]))
    assert int(opt.a_pulses_[0][0].min()) > 0 and int(opt.a_pulses_[0][2:].max()) == 0


def test_analog_sgd_on_asymmetric_devices_drifts_to_the_symmetry_point():
    """Zero-mean gradient noise: plain analog SGD walks each weight to its device's symmetry
    point (here 0.3), the failure mode Tiki-Taka removes (Gokmen & Haensch 2020)."""
    l = layer_with(SoftBounds(dw_min=0.01, up_down=0.3), n_in=50, n_out=20)
    with torch.no_grad():
        l.weight.zero_()
    l.program()
    opt = AnalogSGD([l], lr=1.0, rule=DeterministicPulses())
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        opt.step([0.01 * torch.sign(torch.randn(20, 50, dtype=D, generator=g))])
    assert abs(float(l.programmed_weight().mean()) - 0.3) < 0.05


def test_state_dict_round_trip_with_an_update_model():
    l = layer_with(SoftBounds(dw_min=0.01))
    l.update(torch.full((4, 6), 0.05))
    l2 = layer_with(SoftBounds(dw_min=0.01), seed=3)
    l2.load_state_dict(l.state_dict())
    assert torch.equal(l2.g_prog, l.g_prog)
    x = torch.randn(2, 6, dtype=D)
    assert torch.allclose(l2(x), l(x))
    l3 = layer_with(SoftBounds(dw_min=0.02))
    with pytest.raises(ValueError, match="config.update"):
        l3.load_state_dict(l.state_dict())
