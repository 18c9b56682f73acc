"""AnalogLinear / analog_linear: shapes, gradients, programming vs reads, seeds, drift, conversions, errors."""

import math

import pytest
import torch
from torch import nn

from physnn.crossbar import (
    ADC,
    DAC,
    AnalogLinear,
    ConductanceRange,
    CrossbarConfig,
    DeviceVariation,
    Drift,
    ProgrammingNoise,
    ReferenceColumn,
    SinhIV,
    StuckAtFaults,
    adc,
    analog_linear,
    dac,
)
from physnn.crossbar.config import IRDrop, aihwkit_preset
from physnn.crossbar.read import counter_normal

R = ConductanceRange(0.0, 25e-6)
NOISY = CrossbarConfig(
    range=R,
    programming_noise=ProgrammingNoise(model="relative", sigma_rel=0.05),
    dac=DAC(8),
    adc=ADC(8, 20.0),
    out_noise=0.02,
    drift_compensation=False,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _layer(cfg, n_in=16, n_out=8, seed=0, **kw):
    torch.manual_seed(seed)
    return AnalogLinear(n_in, n_out, config=cfg, generator=_gen(seed), **kw)


# --- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [CrossbarConfig.ideal(), NOISY, aihwkit_preset(t_inference=3600.0)])
def test_shapes_with_and_without_ensemble(cfg):
    lay = _layer(cfg).eval()
    assert lay(torch.randn(5, 16)).shape == (5, 8)
    assert lay(torch.randn(2, 3, 16)).shape == (2, 3, 8)
    assert lay(torch.randn(16)).shape == (8,)
    ens = _layer(cfg, ensemble=4).eval()
    assert ens(torch.randn(5, 16)).shape == (4, 5, 8)  # shared input
    assert ens(torch.randn(4, 3, 16)).shape == (4, 3, 8)  # per-member input
    assert ens(torch.randn(4, 2, 3, 16)).shape == (4, 2, 3, 8)
    assert ens(torch.randn(4, 16), shared_input=True).shape == (4, 4, 8)
    assert ens.train()(torch.randn(5, 16)).shape == (4, 5, 8)


def test_ensemble_members_are_independent_and_shared_equals_per_member():
    ens = _layer(NOISY.replace(out_noise=0.0), ensemble=3).eval().program()
    x = torch.randn(6, 16)
    y_shared = ens(x)
    y_member = ens(x.expand(3, 6, 16).contiguous())
    torch.testing.assert_close(y_shared, y_member)
    assert not torch.allclose(y_shared[0], y_shared[1])  # different device instances


# --- exactness of the fused read -------------------------------------------------------------


def test_ideal_round_trip_equals_linear():
    torch.manual_seed(0)
    lin = nn.Linear(20, 7)
    x = torch.randn(9, 20)
    for mapping in (None, ReferenceColumn(R)):
        cfg = CrossbarConfig.ideal(mapping=mapping) if mapping else CrossbarConfig.ideal()
        lay = AnalogLinear.from_linear(lin, config=cfg).eval()
        torch.testing.assert_close(lay(x), lin(x), rtol=1e-5, atol=1e-6)
        back = lay.to_linear()
        torch.testing.assert_close(back.weight, lin.weight, rtol=0, atol=0)
        torch.testing.assert_close(back.bias, lin.bias, rtol=0, atol=0)
    assert CrossbarConfig.ideal().is_ideal and not NOISY.is_ideal


@pytest.mark.parametrize("scaling", ["fixed", "abs_max"])
def test_fused_read_equals_dac_matmul_adc(scaling):
    """The cached integer-domain read gives exactly adc(dac(x) W^T / w_max) * w_max + b."""
    # (abs_max with x_max = 1: the largest input sits on a level, not on a rounding tie)
    cfg = CrossbarConfig.ideal(dac=DAC(6, 2.0 if scaling == "fixed" else 1.0), adc=ADC(5, 3.0), input_scaling=scaling)
    lay = _layer(cfg, 12, 5).eval()
    x = 1.5 * torch.randn(40, 12, dtype=torch.float32)
    with torch.no_grad():
        w = lay.weight
        w_max = float(w.abs().max())
        s = x.abs().amax(-1, keepdim=True) if scaling == "abs_max" else torch.ones(40, 1)
        ref = adc(dac(x / s, cfg.dac) @ (w / w_max).T, cfg.adc) * w_max * s + lay.bias
        torch.testing.assert_close(lay(x), ref, rtol=1e-5, atol=1e-5)
        # and the differentiable (general) path agrees
        xg = x.clone().requires_grad_(True)
    torch.testing.assert_close(lay(xg), ref, rtol=1e-5, atol=1e-5)


def test_bound_management_avoids_adc_saturation():
    cfg = CrossbarConfig.ideal(dac=DAC(8), adc=ADC(8, 1.0), input_scaling="abs_max")
    lay = _layer(cfg, 32, 4).eval()
    with torch.no_grad():
        lay.weight.fill_(1.0)
        lay.bias.zero_()
    x = torch.ones(3, 32)  # ideal output 32 >> y_max = 1
    assert float(lay(x).max()) == pytest.approx(1.0, rel=1e-6)  # saturated
    lay.config = cfg.replace(bound_management=True)
    y = lay(x)  # inputs halved until no saturation, at most 0.25/step_in = 31.75 -> 32x
    assert float(y.max()) == pytest.approx(32.0, rel=0.02)


# --- gradients -------------------------------------------------------------------------------


def test_gradcheck_ideal_functional():
    cfg = CrossbarConfig.ideal()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(4, 5, dtype=torch.float64, generator=g) * 0.3
    w[0, 0] = 1.0  # fixes w_max so the mapping scale does not move under perturbation
    w.requires_grad_(True)
    b = torch.randn(4, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x_, w_, b_: analog_linear(x_, w_, b_, cfg), (x, w, b))


def test_hardware_aware_training_gradient_is_straight_through():
    """Programming noise injected in train(): the weight gradient equals nn.Linear's (STE)."""
    cfg = CrossbarConfig(
        range=R, programming_noise=ProgrammingNoise(model="relative", sigma_rel=0.1), drift_compensation=False
    )
    lay = _layer(cfg, 6, 3).train()
    lin = lay.to_linear()
    x = torch.randn(10, 6)
    y = lay(x)
    assert not torch.allclose(y, lin(x))  # noise injected
    y.sum().backward()
    lin(x).sum().backward()
    torch.testing.assert_close(lay.weight.grad, lin.weight.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lay.bias.grad, lin.bias.grad)
    y2 = lay(x)
    assert not torch.allclose(y, y2)  # re-sampled every training forward
    # gradients also flow to the input in eval mode (straight-through DAC/ADC)
    lay.eval()
    xg = x.clone().requires_grad_(True)
    lay(xg).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()


# --- programming vs reads, seeds ----------------------------------------------------------------


def test_program_once_read_many():
    lay = _layer(NOISY.replace(out_noise=0.0, adc=None, dac=None), 32, 16).eval().program()
    x = torch.randn(64, 32)
    y1, y2 = lay(x), lay(x)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)  # no read noise: identical reads
    ideal = lay.to_linear()(x).detach()
    assert float((y1 - ideal).abs().max()) > 1e-3  # but programming noise is there
    lay.program()
    assert not torch.allclose(lay(x), y1)  # a new programming event
    noisy = _layer(NOISY.replace(adc=None, dac=None, out_noise=0.05), 32, 16).eval().program()
    r1, r2 = noisy(x), noisy(x)
    d = (r1 - r2) / math.sqrt(2)  # read noise only
    w_max = float(noisy.weight.detach().abs().max())
    assert float(d.std()) == pytest.approx(0.05 * w_max, rel=0.1)  # 1024 draws: 2 % s.e.


def test_same_seed_same_output():
    x = torch.randn(7, 16)
    outs = []
    for seed in (3, 3, 4):
        lay = _layer(aihwkit_preset(t_inference=86400.0), seed=0, ensemble=2)
        lay.generator = _gen(seed)
        outs.append(lay.eval().program()(x))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    assert not torch.allclose(outs[0], outs[2])


def test_counter_normal_distribution_and_reproducibility():
    import scipy.stats as st

    idx = torch.arange(200_001)
    a = counter_normal(12345, idx, torch.float64)
    b = counter_normal(12345, idx, torch.float64)
    c = counter_normal(2**63 + 7, idx, torch.float64)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert st.kstest(a.numpy(), "norm").pvalue > 1e-3
    assert abs(float(a.mean())) < 5 / math.sqrt(2e5) and float(a.std()) == pytest.approx(1.0, abs=0.01)
    assert abs(float(torch.corrcoef(torch.stack([a, c]))[0, 1])) < 5 / math.sqrt(2e5)
    assert abs(float(torch.corrcoef(torch.stack([a[:-1], a[1:]]))[0, 1])) < 5 / math.sqrt(2e5)


# --- drift -----------------------------------------------------------------------------------


def test_drift_power_law_and_compensation():
    nu, t0 = 0.06, 20.0
    cfg = CrossbarConfig(range=R, drift=Drift(model="power_law", nu=nu, t0=t0), drift_compensation=False)
    lay = _layer(cfg).eval()
    w = lay.weight.detach()
    for t in (0.0, 3600.0, 86400.0 * 365.25):
        lay.set_time(t)
        expected = w * ((t + t0) / t0) ** (-nu)
        torch.testing.assert_close(lay.programmed_weight(), expected, rtol=1e-5, atol=1e-7)
    lay.config = cfg.replace(drift_compensation=True)
    lay.set_time(86400.0)
    torch.testing.assert_close(lay.programmed_weight(), w, rtol=1e-5, atol=1e-7)  # uniform nu: exact
    assert lay.drift_alpha == pytest.approx(((86400.0 + t0) / t0) ** nu, rel=1e-5)


def test_pcm_drift_lowers_accuracy_without_compensation():
    # after a year PCM conductances have drifted to ~(t/t0)^-nu ~ 1/2 of their programmed values:
    # without compensation the read's gain over the ideal output is ~0.5, with global drift
    # compensation ~1, and the error at least halves (its remainder is programming/read noise)
    x = torch.randn(512, 16, generator=_gen(100))  # its own generator: the same inputs in every test order
    errs, gains = {}, {}
    for comp in (False, True):
        lay = _layer(aihwkit_preset(drift_compensation=comp), ensemble=8).eval().program()
        ideal = lay.to_linear()(x).detach()
        lay.set_time(365.25 * 86400.0)
        y = lay(x)
        errs[comp] = float((y - ideal).pow(2).mean())
        i, d = ideal - lay.bias.detach(), y - lay.bias.detach()
        gains[comp] = float((d * i).sum() / (i * i).sum()) / 8  # regression slope per chip
    assert gains[False] < 0.7 and abs(gains[True] - 1.0) < 0.1, gains
    assert errs[False] > 2 * errs[True], errs


# --- other effects ----------------------------------------------------------------------------


@torch.no_grad()
def test_faults_variation_ir_drop_and_iv_paths():
    x = torch.rand(5, 16)
    base = _layer(CrossbarConfig.ideal(), 16, 8).eval()
    y0 = base(x)
    stuck = _layer(CrossbarConfig.ideal(faults=StuckAtFaults(stuck_on_rate=1.0)), 16, 8).eval()
    # every device at g_max: each weight = (g_max - g_max) = 0 -> output = bias only
    torch.testing.assert_close(stuck(x), stuck.bias.expand(5, 8))
    var = _layer(CrossbarConfig.ideal(variation=DeviceVariation(device_to_device_rel=0.2)), 16, 8).eval().program()
    y1 = var(x)
    var.program()
    torch.testing.assert_close(var(x), y1)  # d2d factors belong to the device
    ir_small = _layer(CrossbarConfig.ideal(ir_drop=IRDrop(r_wire=1e-3)), 16, 8).eval()
    torch.testing.assert_close(ir_small(x), y0, rtol=1e-3, atol=1e-4)
    ir = _layer(CrossbarConfig.ideal(ir_drop=IRDrop(r_wire=100.0)), 16, 8, ensemble=2).eval()
    y_ir = ir(x)
    assert y_ir.shape == (2, 5, 8)
    assert float((y_ir[0] - ir.bias).abs().sum()) < float((y0 - base.bias).abs().sum())  # IR drop shrinks outputs
    exact = _layer(CrossbarConfig.ideal(ir_drop=IRDrop(r_wire=100.0, exact=True)), 16, 8).eval()
    torch.testing.assert_close(exact(x), y_ir[0], rtol=2e-3, atol=2e-3)  # fast model vs exact solve
    sinh = _layer(CrossbarConfig.ideal(iv=SinhIV(0.05), v_read=0.2), 16, 8).eval()
    xs = torch.full((1, 16), 1.0)
    with torch.no_grad():
        sinh.weight.fill_(0.5)
    # a full-scale input at 4 v_nl gives sinh(4)/4 times the ohmic current
    torch.testing.assert_close(sinh(xs) - sinh.bias, torch.full((1, 8), 16 * 0.5 * math.sinh(4.0) / 4.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu_shapes():
    lay = _layer(aihwkit_preset(t_inference=3600.0), ensemble=4).cuda()
    lay.generator = torch.Generator(device="cuda").manual_seed(0)
    y = lay.eval()(torch.randn(5, 16, device="cuda"))
    assert y.device.type == "cuda" and y.shape == (4, 5, 8)


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_errors_name_the_parameter():
    lay = _layer(NOISY).eval()
    with pytest.raises(ValueError, match="x"):
        lay(torch.randn(3, 15))
    with pytest.raises(TypeError, match="x"):
        lay(torch.ones(3, 16, dtype=torch.int64))
    with torch.no_grad():
        lay.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="weight"):
        lay.program()
    with torch.no_grad():
        lay.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="weight"):
        analog_linear(torch.randn(2, 16), lay.weight, None, NOISY)
    with pytest.raises(ValueError, match="bits"):
        DAC(0)
    with pytest.raises(ValueError, match="bits"):
        CrossbarConfig.ideal(adc=ADC(1, 1.0))
    with pytest.raises(ValueError, match="ensemble"):
        AnalogLinear(4, 4, config=NOISY, ensemble=0)
    with pytest.raises(ValueError, match="in_features"):
        AnalogLinear(0, 4, config=NOISY)
    with pytest.raises(TypeError, match="config"):
        AnalogLinear(4, 4, config="pcm")
    with pytest.raises(ValueError, match="t_inference"):
        _layer(NOISY).set_time(-1.0)
    with pytest.raises(ValueError, match="out_noise"):
        CrossbarConfig.ideal(out_noise=-0.1)
    with pytest.raises(ValueError, match="g_max"):
        CrossbarConfig.ideal(range=ConductanceRange(1e-5, 1e-6))
    with pytest.raises(ValueError, match="input_scaling"):
        CrossbarConfig.ideal(input_scaling="max")
    with pytest.raises(ValueError, match="ensemble"):
        _layer(NOISY, ensemble=3).eval()(torch.randn(2, 5, 16), shared_input=False)
    with pytest.raises(ValueError, match="bias"):
        analog_linear(torch.randn(2, 16), torch.randn(8, 16), torch.randn(3), NOISY)


@torch.no_grad()
def test_card_config_with_wire_resistance_and_compensation():
    """A full card config (IR drop + drift compensation + ensemble) programs and reads."""
    cfg = CrossbarConfig.from_card(
        "pcm_aihwkit", ir_drop=IRDrop(r_wire=1.0), dac=DAC(8), adc=ADC(8, 10.0), t_inference=3600.0
    )
    lay = _layer(cfg, 8, 4, ensemble=2).eval()
    y = lay(torch.rand(3, 8))
    assert y.shape == (2, 3, 4) and torch.isfinite(y).all()
    assert lay.drift_alpha.shape == (2,) and bool((lay.drift_alpha > 1).all())  # drift was compensated
