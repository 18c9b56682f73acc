"""Ramp ADC whose memristor-programmed ramp makes the comparator count equal a monotone f(x)."""

import math

import pytest
import torch
import torch.nn.functional as F

from physnn.crossbar.faults import StuckAtFaults
from physnn.crossbar.programming_noise import ProgrammingNoise
from physnn.crossbar.ramp_adc import (
    RampADC,
    RampADCActivation,
    RampDevices,
    ThresholdLookup,
    ramp_error,
    solve_ramp,
    uniform_adc_lut_error,
)

FUNCS = [
    (torch.tanh, (-3.0, 3.0)),
    (torch.sigmoid, (-6.0, 6.0)),
    (F.softplus, (-4.0, 4.0)),
    (F.hardsigmoid, (-4.0, 4.0)),
    (F.gelu, (-0.75, 3.0)),  # GELU is monotone for x > -0.7518
    (lambda x: -torch.tanh(x), (-3.0, 3.0)),  # decreasing target
]


@pytest.mark.parametrize("f,rng", FUNCS)
@pytest.mark.parametrize("bits", [3, 5, 8])
def test_ideal_count_is_the_quantised_function(f, rng, bits):
    act = RampADCActivation(RampADC(function=f, bits=bits, x_range=rng))
    d = act.design
    x = torch.linspace(rng[0] - 0.5, rng[1] + 0.5, 30001, dtype=torch.float64)
    out = act.convert(x)
    # real-valued code (LSB); outside x_range the ADC saturates at the range's end codes
    exact = d.direction * (f(x.clamp(*rng)) - d.y0) / d.lsb
    expect = torch.clamp(torch.round(exact), 0, 2**bits - 1)
    tie = (exact - torch.floor(exact) - 0.5).abs() < 1e-6  # round-half ambiguity
    assert torch.equal(out.code[~tie].double(), expect[~tie])
    inside = (x >= rng[0]) & (x <= rng[1])
    assert float((out.code.double() - exact)[inside].abs().max()) <= 0.5 + 1e-6
    assert torch.allclose(out.value, d.levels[out.code])


@pytest.mark.parametrize("f,rng", [(torch.tanh, (-3.0, 3.0)), (torch.sigmoid, (-6.0, 6.0))])
def test_five_bit_target_and_uniform_adc_baseline(f, rng):
    cfg = RampADC(function=f, bits=5, x_range=rng)
    err = ramp_error(RampADCActivation(cfg))
    assert float(err["max_lsb"]) <= 1.0  # issue target
    # a uniform 5-bit ADC + digital lookup cannot follow the steep middle of tanh/sigmoid:
    # its bins are (hi - lo)/32 wide while f changes by up to slope*width = 1.55 LSB per bin
    base = uniform_adc_lut_error(cfg)
    assert base["max_lsb"] > 1.0 > float(err["max_lsb"])
    # the paper's column: 32 conductances for 5 bits (31 steps + reference), plus calibration
    assert act_devices(cfg) <= 2**5 + cfg.devices.n_calibration


def act_devices(cfg):
    d = solve_ramp(cfg)
    return d.n_step_devices + cfg.devices.n_calibration


def test_latency_in_cycles():
    act = RampADCActivation(RampADC(function=torch.tanh, bits=5, x_range=(-3.0, 3.0)))
    out = act.convert(torch.tensor([-10.0, 10.0]))
    assert out.cycles.tolist() == [1, 32]  # best case 1, worst 2**N
    x = torch.linspace(-3, 3, 20001, dtype=torch.float64)
    # tanh is odd: code(x) + code(-x) = 2**N - 1 -> mean code (2**N - 1)/2 over a symmetric range
    assert abs(float(ramp_error(act)["mean_cycles"]) - (31 / 2 + 1)) < 0.01
    assert torch.equal(act.convert(x).cycles, act.convert(x).code + 1)


def test_read_voltage_change_cancels_because_ramp_and_signal_share_the_array():
    act = RampADCActivation(RampADC(function=torch.sigmoid, bits=5, x_range=(-6.0, 6.0)))
    x = torch.linspace(-7, 7, 5001, dtype=torch.float64)
    ref = act.convert(x).code
    for v in (0.15, 0.25):  # paper's Vread range
        assert torch.equal(act.convert(x, v_read=v).code, ref)
    # a ramp from a separate reference kept at 0.2 V while the array reads at 0.15 V: thresholds
    # scale by 0.2/0.15 -> codes move toward the centre
    untracked = act.convert(x, v_read=0.15, ramp_v_read=0.2).code
    assert not torch.equal(untracked, ref)
    pos = x > 1.0
    assert bool((untracked[pos] <= ref[pos]).all()) and bool((untracked[pos] < ref[pos]).any())


def test_stuck_at_off_step_devices_are_replaced_by_calibration_spares():
    kw = dict(function=torch.tanh, bits=5, x_range=(-3.0, 3.0))
    m = 2**5 - 1
    for n_cal, compensated in ((6, True), (1, False)):  # 3 bias + 3 spares / 1 bias, no spare
        dev = RampDevices(faults=StuckAtFaults(stuck_off_rate=0.03), n_calibration=n_cal)
        assert solve_ramp(RampADC(**kw, devices=dev)).n_spares == (3 if compensated else 0)
        act = RampADCActivation(RampADC(**kw, devices=dev), ensemble=300, generator=torch.Generator().manual_seed(3))
        p = act.programmed
        err = ramp_error(act)["max_lsb"]
        step_faulty = (p.stuck_off & (p.role <= m)).any(-1)  # a stuck device still in use
        hit = p.stuck_off[:, : act.design.n_step_devices].any(-1)  # a step device was born stuck
        assert int(hit.sum()) > 30
        if compensated:
            assert not bool(step_faulty[hit & (p.stuck_off.sum(-1) <= 3)].any())
            assert float(err[~step_faulty].max()) <= 0.5 + 1e-6  # exact, like a fault-free column
        else:
            assert bool(step_faulty[hit].all())
            assert float(err[hit].min()) > 0.5 and float(err.max()) > 1.0


def test_programming_noise_accumulates_along_the_ramp():
    # threshold k is a cumulative sum of k+1 programmed steps: Var(t_k) = (k+1) sigma^2 / g_unit^2
    sigma = 0.2e-6
    dev = RampDevices(
        programming_noise=ProgrammingNoise(model="absolute", sigma_abs=sigma), n_calibration=0, calibrate_bias=False
    )
    cfg = RampADC(function=F.softplus, bits=4, x_range=(0.0, 4.0), devices=dev)  # lo=0: no bias devices
    act = RampADCActivation(cfg, ensemble=4000, generator=torch.Generator().manual_seed(0))
    d = act.design
    var = (act.thresholds - d.thresholds).var(0)
    k = torch.arange(1, cfg.n_steps + 1, dtype=torch.float64)
    expect = k * sigma**2 / d.g_unit**2
    assert torch.allclose(var, expect, rtol=0.12)
    # monotone code for every noisy instance
    x = torch.linspace(-1, 5, 2001, dtype=torch.float64).expand(4000, -1)
    code = act.convert(x).code
    assert bool((torch.diff(code, dim=-1) >= 0).all())


def test_bias_calibration_reduces_the_error():
    dev = RampDevices.from_card("pcm_aihwkit", read_noise=False)
    kw = dict(function=torch.tanh, bits=5, x_range=(-3.0, 3.0))
    on = RampADCActivation(RampADC(**kw, devices=dev), ensemble=200, generator=torch.Generator().manual_seed(1))
    off = RampADCActivation(
        RampADC(**kw, devices=RampDevices.from_card("pcm_aihwkit", read_noise=False, calibrate_bias=False)),
        ensemble=200,
        generator=torch.Generator().manual_seed(1),
    )
    assert float(ramp_error(on)["rms_lsb"].mean()) < float(ramp_error(off)["rms_lsb"].mean())


@pytest.mark.parametrize(
    "f,df",
    [
        (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2),
        (torch.sigmoid, lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))),
    ],
)
def test_straight_through_gradient_is_f_prime(f, df):
    act = RampADCActivation(RampADC(function=f, bits=5, x_range=(-4.0, 4.0)))
    x = torch.linspace(-5, 5, 301, dtype=torch.float64, requires_grad=True)
    y = act(x)
    assert torch.equal(y.detach(), act.convert(x.detach()).value)  # forward is the quantised value
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(g, df(x.detach()), atol=1e-12)
    # the surrogate's gradient is itself a correct derivative (checked numerically in double)
    assert torch.autograd.gradcheck(
        lambda z: act(z) - act(z).detach() + f(z).detach(), (x[:20].detach().clone().requires_grad_(),)
    )


def test_ensemble_shapes_and_lookup_matches_binary_search():
    dev = RampDevices(programming_noise=ProgrammingNoise(model="relative", sigma_rel=0.05))
    act = RampADCActivation(
        RampADC(function=torch.tanh, bits=6, x_range=(-3.0, 3.0), devices=dev),
        ensemble=4,
        generator=torch.Generator().manual_seed(0),
    )
    assert act.thresholds.shape == (4, 63)
    x = 2 * torch.randn(4, 5, 7)
    y = act(x)
    assert y.shape == (4, 5, 7)
    assert torch.equal(act.lookup().count(x), act.convert(x).code)  # fast table == searchsorted
    assert torch.allclose(y, act.convert(x).value, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="x"):
        act(torch.randn(3, 5, 7))
    # exactness of the table on ties: inputs equal to thresholds are not counted
    thr = act.thresholds.to(torch.float32)
    xt = torch.cat([thr, thr + 1e-3, torch.randn(4, 200)], -1)
    lut = ThresholdLookup([(thr, 0.0, 1.0)])
    assert torch.equal(lut.count(xt), torch.searchsorted(thr.contiguous(), xt.contiguous()))
    lut2 = ThresholdLookup([(thr, 0.0, 1.0)], max_cells=8)  # several thresholds per cell
    assert lut2.k > 1 and torch.equal(lut2.count(xt), lut.count(xt))


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="function"):
        solve_ramp(RampADC(function=torch.sin, x_range=(-3.0, 3.0)))
    with pytest.raises(ValueError, match="function"):
        solve_ramp(RampADC(function=F.gelu, x_range=(-3.0, 3.0)))
    with pytest.raises(ValueError, match="x_range"):
        RampADC(x_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="x_range"):
        RampADC(x_range=(2.0, -2.0))
    for b in (0, 13):
        with pytest.raises(ValueError, match="bits"):
            RampADC(bits=b)
    with pytest.raises(ValueError, match="column_devices"):
        solve_ramp(RampADC(bits=5, column_devices=20))
    with pytest.raises(ValueError, match="column_devices"):
        # a finer gain spreads big steps over several devices and overflows the column
        solve_ramp(RampADC(function=F.softplus, bits=5, x_range=(0.0, 4.0), g_unit=1e-3))
    with pytest.raises(ValueError, match="n_calibration"):
        solve_ramp(RampADC(bits=5, g_unit=1e-4))  # the bias no longer fits the calibration devices
    with pytest.raises(TypeError, match="function"):
        RampADC(function=3.0)
    assert math.isfinite(solve_ramp(RampADC(bits=12)).lsb)
