"""Device-to-device / cycle-to-cycle variation, stuck-at faults and the sinh I-V law."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from physnn.crossbar import (
    ConductanceRange,
    DeviceVariation,
    LinearIV,
    SinhIV,
    StuckAtFaults,
    apply_cycle_variation,
    apply_device_variation,
    apply_faults,
    device_conductance,
    device_current,
    expand_ensemble,
    sample_fault_masks,
)

R = ConductanceRange(1e-6, 100e-6)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("cv", [0.05, 0.3])
@pytest.mark.parametrize("which", ["d2d", "c2c"])
def test_variation_unit_mean_and_cv(cv, which):
    cfg = DeviceVariation(
        device_to_device_rel=cv if which == "d2d" else 0.0, cycle_to_cycle_rel=cv if which == "c2c" else 0.0
    )
    f = apply_device_variation if which == "d2d" else apply_cycle_variation
    n = 40000
    g = torch.full((n,), 20e-6, dtype=torch.float64)
    out = f(g, cfg, generator=_gen(1))
    assert float(out.min()) > 0
    # lognormal with unit mean: E = g, std/mean = cv; tolerances from the lognormal moments
    s2 = math.log1p(cv * cv)
    sd_mean = 20e-6 * cv / math.sqrt(n)
    assert abs(float(out.mean()) - 20e-6) < 5 * sd_mean
    kurt = math.exp(4 * s2) + 2 * math.exp(3 * s2) + 3 * math.exp(2 * s2) - 6  # excess kurtosis
    rel_tol_std = 5 * math.sqrt((2 + kurt) / (4 * n))
    assert abs(float(out.std() / out.mean()) / cv - 1) < rel_tol_std
    other = apply_cycle_variation(g, cfg) if which == "d2d" else apply_device_variation(g, cfg)
    assert torch.equal(other, g)  # the other spread is 0 -> untouched
    clamped = f(g, cfg, generator=_gen(1), range=ConductanceRange(1e-6, 21e-6))
    assert float(clamped.max()) <= 21e-6


def test_variation_seed_ensemble_gradient():
    cfg = DeviceVariation(device_to_device_rel=0.1)
    g = (torch.rand(4, 5, dtype=torch.float64) * 1e-5 + 1e-6).requires_grad_()
    ge = expand_ensemble(g, 64)
    a = apply_device_variation(ge, cfg, generator=_gen(2))
    assert torch.equal(a, apply_device_variation(ge, cfg, generator=_gen(2)))
    ratio = (a / ge).detach().reshape(64, -1)
    c = torch.corrcoef(ratio)[~torch.eye(64, dtype=torch.bool)]
    assert float(c.abs().mean()) < 1.5 * math.sqrt(2 / math.pi / 20)
    a.sum().backward()
    torch.testing.assert_close(g.grad, ratio.sum(0).reshape(4, 5))  # d(g f)/dg = f


@pytest.mark.parametrize("p_on,p_off", [(0.0, 0.0), (0.01, 0.02), (0.1, 0.0), (0.3, 0.7)])
def test_fault_rates_binomial(p_on, p_off):
    cfg = StuckAtFaults(stuck_on_rate=p_on, stuck_off_rate=p_off)
    shape = (16, 128, 128)
    on, off = sample_fault_masks(shape, cfg, generator=_gen(3))
    n = math.prod(shape)
    assert on.shape == shape and on.dtype == torch.bool
    assert not bool((on & off).any())
    for mask, p in ((on, p_on), (off, p_off)):
        k = int(mask.sum())
        assert abs(k - n * p) <= 5 * math.sqrt(n * p * (1 - p))
    # independent draws per ensemble member, same seed -> same masks
    on2, _ = sample_fault_masks(shape, cfg, generator=_gen(3))
    assert torch.equal(on, on2)
    if 0 < p_on < 1:
        assert not torch.equal(on[0], on[1])


def test_apply_faults_values_and_gradient():
    cfg = StuckAtFaults(stuck_on_rate=0.2, stuck_off_rate=0.2)
    g = (torch.rand(2, 50, 40, dtype=torch.float64) * R.swing + R.g_min).requires_grad_()
    on, off = sample_fault_masks(g.shape[1:], cfg, generator=_gen(4))  # broadcast over the pair dim
    out = apply_faults(g, (on, off), R)
    assert torch.all(out[:, on] == R.g_max) and torch.all(out[:, off] == R.g_min)
    healthy = ~(on | off)
    assert torch.equal(out[:, healthy], g[:, healthy])
    assert float(out.detach().min()) >= R.g_min and float(out.detach().max()) <= R.g_max
    out.sum().backward()
    torch.testing.assert_close(g.grad, healthy.expand_as(g).to(torch.float64))


@settings(max_examples=20, deadline=None)
@given(v_nl=st.floats(0.05, 2.0), v=st.floats(-1.0, 1.0), g=st.floats(1e-7, 1e-4))
def test_sinh_iv_properties(v_nl, v, g):
    cfg = SinhIV(v_nl)
    gt = torch.tensor(g, dtype=torch.float64)
    vt = torch.tensor(v, dtype=torch.float64)
    i = device_current(gt, vt, cfg)
    assert float(i) == pytest.approx(g * v_nl * math.sinh(v / v_nl), rel=1e-12, abs=1e-300)
    assert float(device_current(gt, -vt, cfg)) == pytest.approx(-float(i), rel=1e-12, abs=1e-300)  # odd
    assert abs(float(i)) >= abs(g * v) * (1 - 1e-12)  # superlinear
    assert float(device_conductance(gt, torch.tensor(0.0, dtype=torch.float64), cfg)) == pytest.approx(g)


def test_iv_gradcheck_and_linear_limit():
    g = (torch.rand(3, 4, dtype=torch.float64) * 1e-5).requires_grad_()
    v = (torch.rand(3, 4, dtype=torch.float64) - 0.5).requires_grad_()
    cfg = SinhIV(0.3)
    assert torch.autograd.gradcheck(lambda a, b: device_current(a, b, cfg) * 1e5, (g, v))
    vv = v.detach().requires_grad_()
    device_current(g.detach(), vv, cfg).sum().backward()
    torch.testing.assert_close(vv.grad, device_conductance(g.detach(), vv.detach(), cfg))
    lin = device_current(g, v, LinearIV())
    big = device_current(g, v, SinhIV(1e4))
    torch.testing.assert_close(big, lin, rtol=1e-8, atol=0)


def test_device_effects_bad_input():
    with pytest.raises(ValueError, match="device_to_device_rel"):
        DeviceVariation(device_to_device_rel=-0.1)
    with pytest.raises(ValueError, match="cycle_to_cycle_rel"):
        DeviceVariation(cycle_to_cycle_rel=float("inf"))
    with pytest.raises(ValueError, match="g"):
        apply_device_variation(torch.tensor([float("nan")]), DeviceVariation(device_to_device_rel=0.1))
    with pytest.raises(ValueError, match="stuck_on_rate"):
        StuckAtFaults(stuck_on_rate=1.5)
    with pytest.raises(ValueError, match="stuck_off_rate"):
        StuckAtFaults(stuck_off_rate=-0.01)
    with pytest.raises(ValueError, match="stuck_on_rate"):
        StuckAtFaults(stuck_on_rate=0.6, stuck_off_rate=0.6)
    with pytest.raises(ValueError, match="shape"):
        sample_fault_masks((3, -1), StuckAtFaults())
    on, off = sample_fault_masks((3, 4), StuckAtFaults(stuck_on_rate=0.1))
    with pytest.raises(ValueError, match="masks"):
        apply_faults(torch.ones(5, 4), (on, off), R)
    with pytest.raises(TypeError, match="masks"):
        apply_faults(torch.ones(3, 4), (on.float(), off), R)
    with pytest.raises(ValueError, match="v_nl"):
        SinhIV(0.0)
    with pytest.raises(TypeError, match="cfg"):
        device_current(torch.ones(1), torch.ones(1), "sinh")
