"""Device-agnostic effects: every function keeps tensors on their device (runs where CUDA exists)."""

import pytest
import torch

from physnn.cards import load_card
from physnn.crossbar import (ADC, DAC, ConductanceRange, DeviceVariation, DifferentialPair, Drift,
                             ProgrammingNoise, ReadNoise, SinhIV, StuckAtFaults, adc, apply_device_variation,
                             apply_drift, apply_faults, apply_programming_noise, apply_read_noise, dac,
                             expand_ensemble, ir_drop_fast, quantize_levels, sample_drift_exponents,
                             sample_fault_masks, weights_to_conductances)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_pipeline_stays_on_cuda_and_is_seeded():
    dev = torch.device("cuda")
    card = load_card("pcm_aihwkit")
    rng = ConductanceRange(0.0, 25e-6, levels=64)

    def run(seed):
        gen = torch.Generator(device=dev).manual_seed(seed)
        w = torch.randn(32, 16, device=dev, generator=gen)
        g = expand_ensemble(weights_to_conductances(w, DifferentialPair(rng), w_max=float(w.abs().max())), 4)
        g = quantize_levels(g, rng)
        g = apply_programming_noise(g, ProgrammingNoise.from_card(card), generator=gen)
        g = apply_device_variation(g, DeviceVariation(device_to_device_rel=0.05), generator=gen)
        g = apply_faults(g, sample_fault_masks(g.shape, StuckAtFaults(stuck_on_rate=0.01), generator=gen, device=dev), rng)
        nu = sample_drift_exponents(g, Drift.from_card(card), generator=gen)
        g = apply_drift(g, nu, 3600.0, Drift.from_card(card))
        g = apply_read_noise(g, ReadNoise.from_card(card), t_inference=3600.0, generator=gen)
        x = dac(torch.rand(8, 16, device=dev, generator=gen), DAC(8, 1.0))
        sol = ir_drop_fast(g[:, 0], x[:, None, :] * 0.2, 1.0, iv=SinhIV(0.3))
        return adc(sol.i_out / 1e-4, ADC(8, 1.0))

    a, b = run(0), run(0)
    assert a.device.type == "cuda" and torch.equal(a, b)
