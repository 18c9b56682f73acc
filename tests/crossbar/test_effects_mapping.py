"""Mapping, DAC, ADC and ensemble helper: ranges, level counts, STE gradients, error paths."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from physnn.crossbar import (
    ADC,
    DAC,
    ConductanceRange,
    DifferentialPair,
    ReferenceColumn,
    adc,
    conductances_to_weights,
    dac,
    expand_ensemble,
    quantize_levels,
    weights_to_conductances,
)

R = ConductanceRange(1e-6, 25e-6)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    g_min=st.floats(0.0, 1e-5),
    swing=st.floats(1e-7, 1e-4),
    w_max=st.floats(0.01, 10.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_mapping_roundtrip_and_range(shape, g_min, swing, w_max, seed):
    rng = ConductanceRange(g_min, g_min + swing)
    w = (torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1) * w_max
    for scheme in (DifferentialPair(rng), ReferenceColumn(rng)):
        g = weights_to_conductances(w, scheme, w_max=w_max)
        assert g.shape == ((2, *shape) if isinstance(scheme, DifferentialPair) else tuple(shape))
        assert float(g.min()) >= rng.g_min - 1e-18 and float(g.max()) <= rng.g_max + 1e-18
        back = conductances_to_weights(g, scheme, w_max=w_max)
        torch.testing.assert_close(back, w, rtol=1e-9, atol=1e-12 * w_max)


def test_differential_pair_one_device_at_gmin_and_saturation():
    w = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], dtype=torch.float64)
    gp, gm = weights_to_conductances(w, DifferentialPair(R), w_max=1.0)
    assert torch.all((gp == R.g_min) | (gm == R.g_min))
    assert gp[-1] == R.g_max and gm[0] == R.g_max  # |w| > w_max saturates at g_max
    ref = ReferenceColumn(R)
    g = weights_to_conductances(w, ref, w_max=1.0)
    assert float(g[3]) == pytest.approx(ref.reference_conductance, rel=1e-12)
    assert float(g[-2]) == pytest.approx(R.g_max, rel=1e-12) and float(g[1]) == pytest.approx(R.g_min, rel=1e-12)


def test_mapping_gradcheck_and_per_ensemble_wmax():
    w = (torch.rand(3, 4, dtype=torch.float64) - 0.5).requires_grad_()
    for scheme in (DifferentialPair(R), ReferenceColumn(R)):
        assert torch.autograd.gradcheck(lambda x: weights_to_conductances(x, scheme, w_max=1.0) * 1e5, (w,))
    w_max = torch.tensor([1.0, 2.0], dtype=torch.float64).view(2, 1, 1)
    g = weights_to_conductances(torch.ones(2, 3, 4, dtype=torch.float64), DifferentialPair(R), w_max=w_max)
    assert torch.allclose(g[0, 0], torch.full((3, 4), R.g_max, dtype=torch.float64))
    assert torch.allclose(g[0, 1], torch.full((3, 4), R.g_min + 0.5 * R.swing, dtype=torch.float64))


@pytest.mark.parametrize("levels", [2, 3, 16])
def test_quantize_levels_count_and_ste(levels):
    rng = ConductanceRange(2e-6, 20e-6, levels)
    g = torch.linspace(0.0, 30e-6, 5001, dtype=torch.float64, requires_grad=True)
    q = quantize_levels(g, rng)
    uniq = torch.unique(q.detach())
    assert len(uniq) == levels
    torch.testing.assert_close(uniq, torch.linspace(2e-6, 20e-6, levels, dtype=torch.float64))
    # nearest level: error at most half a step inside the range
    inside = (g > rng.g_min) & (g < rng.g_max)
    assert float((q - g).detach()[inside].abs().max()) <= rng.swing / (levels - 1) / 2 + 1e-18
    q.sum().backward()
    torch.testing.assert_close(g.grad, inside.to(torch.float64))
    assert quantize_levels(g, ConductanceRange(0.0, 1.0)) is g  # analog device: untouched


@pytest.mark.parametrize("bits", [2, 3, 8])
@pytest.mark.parametrize("conv", ["dac", "adc"])
def test_converter_levels_saturation_ste(bits, conv):
    bound = 0.7
    cfg = DAC(bits, bound) if conv == "dac" else ADC(bits, bound)
    f = dac if conv == "dac" else adc
    x = torch.linspace(-2.0, 2.0, 20001, dtype=torch.float64, requires_grad=True)
    y = f(x, cfg)
    levels = torch.unique(y.detach())
    assert len(levels) == 2**bits - 1 == cfg.levels
    assert float(levels.min()) == pytest.approx(-bound) and float(levels.max()) == pytest.approx(bound)
    torch.testing.assert_close(torch.diff(levels), torch.full((len(levels) - 1,), cfg.step, dtype=torch.float64))
    inside = x.detach().abs() <= bound  # clamp passes the gradient at the boundary itself
    assert float((y - x).detach()[inside].abs().max()) <= cfg.step / 2 + 1e-12
    y.sum().backward()
    torch.testing.assert_close(x.grad, inside.to(torch.float64))  # straight-through inside, 0 saturated


def test_dac_8bit_resolution_is_aihwkit_inp_res():
    # aihwkit TorchInferenceRPUConfig: inp_res = 1/254 on the normalised range [-1, 1] -> step 2/254
    assert DAC(8, 1.0).step == pytest.approx(2 / 254)
    x = torch.tensor([[0.5, -0.25], [2.0, 0.1]])
    y = dac(x, DAC(8, 1.0), x_max=x.abs().amax(-1, keepdim=True))  # per-row dynamic range
    torch.testing.assert_close(y[0], torch.tensor([0.5, -0.25]), atol=0.5 / 127 / 2, rtol=0)
    assert float(y[1, 0]) == 2.0


def test_expand_ensemble():
    t = torch.rand(3, 4)
    assert expand_ensemble(t, None) is t
    e = expand_ensemble(t, 5)
    assert e.shape == (5, 3, 4) and torch.equal(e[2], t)
    assert expand_ensemble(e, 5, has_ensemble=True) is e
    with pytest.raises(ValueError, match="ensemble"):
        expand_ensemble(t, 0)
    with pytest.raises(ValueError, match="leading"):
        expand_ensemble(t, 4, has_ensemble=True)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="g_min"):
        ConductanceRange(-1e-6, 1e-5)
    with pytest.raises(ValueError, match="g_max"):
        ConductanceRange(2e-5, 1e-5)  # inverted
    with pytest.raises(ValueError, match="g_max"):
        ConductanceRange(0.0, math.inf)
    with pytest.raises(ValueError, match="levels"):
        ConductanceRange(0.0, 1e-5, 1)
    with pytest.raises(TypeError, match="range"):
        DifferentialPair((0.0, 1e-5))
    w = torch.tensor([0.1, float("nan")])
    with pytest.raises(ValueError, match="w"):
        weights_to_conductances(w, DifferentialPair(R), w_max=1.0)
    with pytest.raises(ValueError, match="w_max"):
        weights_to_conductances(torch.ones(2), DifferentialPair(R), w_max=0.0)
    with pytest.raises(ValueError, match="w_max"):
        weights_to_conductances(torch.ones(2), DifferentialPair(R), w_max=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="g"):
        conductances_to_weights(torch.ones(3, 2), DifferentialPair(R), w_max=1.0)
    for bits in (0, 1, -3):
        with pytest.raises(ValueError, match="bits"):
            DAC(bits, 1.0)
        with pytest.raises(ValueError, match="bits"):
            ADC(bits, 1.0)
    with pytest.raises(TypeError, match="bits"):
        DAC(8.0, 1.0)
    with pytest.raises(ValueError, match="x_max"):
        DAC(8, -1.0)
    with pytest.raises(ValueError, match="y_max"):
        ADC(8, 0.0)
    with pytest.raises(ValueError, match="x"):
        dac(torch.tensor([float("inf")]), DAC(8, 1.0))
    with pytest.raises(ValueError, match="y"):
        adc(torch.tensor([float("nan")]), ADC(8, 1.0))
    with pytest.raises(ValueError, match="x_max"):
        dac(torch.ones(2), DAC(8, 1.0), x_max=torch.tensor([0.0, 1.0]))
