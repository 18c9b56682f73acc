"""CUDA gives the CPU's numbers: every effect and the read, fed the same inputs and draws, agrees
with the CPU within float round-off (runs where CUDA exists; skipped elsewhere).

Random draws come from generators of their own device, and CPU and CUDA generators give
different streams; so the stochastic inputs (conductance noise, drift exponents, fault maps) are
drawn once on the CPU and moved, and every function is then compared on both devices. The read's
output noise is counter-based (a hash of the key and the element's index, no generator), so the
same spec and key give the same noise on both devices: compared directly.
"""

import dataclasses

import pytest
import torch

from physnn.cards import load_card
from physnn.crossbar import (
    ADC,
    DAC,
    ConductanceRange,
    DifferentialPair,
    Drift,
    ProgrammingNoise,
    SinhIV,
    StuckAtFaults,
    adc,
    apply_drift,
    apply_faults,
    apply_programming_noise,
    dac,
    expand_ensemble,
    ir_drop_fast,
    quantize_levels,
    sample_drift_exponents,
    sample_fault_masks,
    weights_to_conductances,
)
from physnn.crossbar.read import ReadSpec, reference_read

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def _close(a_cuda, b_cpu, **kw):
    assert a_cuda.device.type == "cuda"
    torch.testing.assert_close(a_cuda.cpu(), b_cpu, **kw)


def test_effects_on_cuda_equal_the_cpu():
    card = load_card("pcm_aihwkit")
    rng = ConductanceRange(0.0, 25e-6, levels=64)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(32, 16, generator=gen, dtype=torch.float64)
    g = expand_ensemble(weights_to_conductances(w, DifferentialPair(rng), w_max=float(w.abs().max())), 4)
    g_cuda = expand_ensemble(weights_to_conductances(w.to(CUDA), DifferentialPair(rng), w_max=float(w.abs().max())), 4)
    _close(g_cuda, g)
    q, q_cuda = quantize_levels(g, rng), quantize_levels(g_cuda, rng)
    _close(q_cuda, q, rtol=0, atol=0)
    # draws on the CPU, applied on both devices
    noisy = apply_programming_noise(q, ProgrammingNoise.from_card(card), generator=gen)
    masks = sample_fault_masks(noisy.shape, StuckAtFaults(stuck_on_rate=0.01), generator=gen)
    f, f_cuda = (
        apply_faults(noisy, masks, rng),
        apply_faults(
            noisy.to(CUDA), tuple(m.to(CUDA) for m in masks) if isinstance(masks, tuple) else masks.to(CUDA), rng
        ),
    )
    _close(f_cuda, f, rtol=0, atol=0)
    drift = Drift.from_card(card)
    nu = sample_drift_exponents(f, drift, generator=gen)
    d, d_cuda = apply_drift(f, nu, 3600.0, drift), apply_drift(f.to(CUDA), nu.to(CUDA), 3600.0, drift)
    _close(d_cuda, d, rtol=1e-12, atol=0)
    x = torch.rand(8, 16, generator=gen, dtype=torch.float64)
    v, v_cuda = dac(x, DAC(8, 1.0)), dac(x.to(CUDA), DAC(8, 1.0))
    _close(v_cuda, v, rtol=0, atol=0)
    sol = ir_drop_fast(d[:, 0], v[:, None, :] * 0.2, 1.0, iv=SinhIV(0.3))
    sol_cuda = ir_drop_fast(d_cuda[:, 0], v_cuda[:, None, :] * 0.2, 1.0, iv=SinhIV(0.3))
    _close(sol_cuda.i_out, sol.i_out, rtol=1e-10, atol=1e-18)
    a, a_cuda = adc(sol.i_out / 1e-4, ADC(8, 1.0)), adc(sol_cuda.i_out / 1e-4, ADC(8, 1.0))
    # an ADC code may flip where round-off puts a value on the other side of a level boundary
    assert float(((a_cuda.cpu() - a).abs() > 1e-12).double().mean()) < 0.01


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_read_on_cuda_equals_the_cpu_with_the_same_noise_key(dtype):
    g = torch.Generator().manual_seed(1)
    spec = ReadSpec(
        weight=torch.rand(3, 13, 37, generator=g, dtype=dtype) * 2 - 1,
        scale=torch.rand(3, generator=g, dtype=dtype) + 0.5,
        bias=torch.randn(13, generator=g, dtype=dtype),
        in_step=1 / 127,
        in_levels=127.0,
        abs_max=True,
        noise_std=2.0,
        adc_levels=None,
        bound_management=False,
        max_reduction=31.75,
        key=123456789,
    )
    x = torch.randn(5, 37, generator=g, dtype=dtype)
    cpu = reference_read(spec, x)
    spec_cuda = dataclasses.replace(
        spec, weight=spec.weight.to(CUDA), scale=spec.scale.to(CUDA), bias=spec.bias.to(CUDA)
    )
    tol = {"rtol": 1e-5, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-10}
    _close(reference_read(spec_cuda, x.to(CUDA)), cpu, **tol)
    # and the noise is there: another key moves the read by about the noise's size
    other = reference_read(dataclasses.replace(spec_cuda, key=987654321), x.to(CUDA)).cpu()
    assert float((other - cpu).abs().mean()) > 0.1
