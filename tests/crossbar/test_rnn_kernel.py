"""The compiled evaluation loops of the crossbar RNNs (physnn.crossbar._rnn_kernel)."""

import numpy as np
import pytest
import torch
from torch import nn

from physnn.crossbar import _rnn_kernel
from physnn.crossbar.config import aihwkit_preset
from physnn.crossbar.rnn import AnalogLSTM, IdealActivations, RampActivations

pytestmark = pytest.mark.skipif(not _rnn_kernel.available(torch.float32), reason="numba or torch's sgemm_ missing")


@pytest.mark.parametrize("dtype,max_ulp", [(np.float32, 2.5), (np.float64, 4.5)])
def test_sigmoid_routine_within_a_few_ulp(dtype, max_ulp):
    z = np.linspace(-59.0, 60.0, 100_001).astype(dtype)
    got = _rnn_kernel.sigmoid_array(z)
    ref = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))          # float64 reference
    assert np.max(np.abs(got - ref) / np.spacing(ref.astype(dtype))) <= max_ulp
    assert _rnn_kernel.sigmoid_array(np.zeros(1, dtype))[0] == 0.5
    far = _rnn_kernel.sigmoid_array(np.array([-200.0, 200.0, np.inf, -np.inf, np.nan], dtype))
    assert 0.0 <= far[0] < 1e-25 and far[1] == 1.0 and far[2] == 1.0 and far[3] < 1e-25   # saturated
    assert np.isnan(far[4])                                                               # NaN stays NaN


def _outputs(model, x, compiled, monkeypatch, seed=7):
    """One evaluation of ``model`` with the compiled loop on or off, same generator state."""
    with monkeypatch.context() as mp:
        if not compiled:
            mp.setattr(_rnn_kernel, "available", lambda dtype: False)
        model.cell.hh.generator.manual_seed(seed)
        model.cell.ih.generator.manual_seed(seed + 1)
        with torch.no_grad():
            out, (h, c) = model(x)
    return out, h, c


def _fused_and_generic(m, x, monkeypatch, kernel_name):
    """Outputs of ``m(x)`` in evaluation (must run the compiled kernel ``kernel_name`` once) and
    of the per-step reads (an input that requires grad takes the per-step path)."""
    calls = []
    kernel = getattr(_rnn_kernel, kernel_name)
    monkeypatch.setattr(_rnn_kernel, kernel_name, lambda *a: (calls.append(1), kernel(*a))[1])
    with torch.no_grad():
        fused = m(x)
    assert calls == [1]                                    # the evaluation ran the compiled loop
    out, state = m(x.clone().requires_grad_())
    generic = (out.detach(), tuple(t.detach() for t in state) if isinstance(state, tuple) else state.detach())
    return fused, generic


@pytest.mark.parametrize("adc", [False, True])
@pytest.mark.parametrize("ensemble", [None, 3])
def test_compiled_loop_equals_scripted_loop_with_the_same_noise(adc, ensemble, monkeypatch):
    # float64 + ideal activations: no rounding boundary anywhere near, so the two loops must agree
    # to float round-off -- including every output-noise draw (drawn inside the compiled loop,
    # pre-drawn into an array for the scripted one), the deferred input noise and the ensemble
    torch.manual_seed(0)
    ref = nn.LSTM(6, 8)
    cfg = aihwkit_preset(bound_management=False) if adc else aihwkit_preset(adc=None, bound_management=False)
    m = AnalogLSTM.from_torch(ref, config=cfg, activations=IdealActivations(), ensemble=ensemble,
                              generator=torch.Generator().manual_seed(1)).double().eval().program()
    x = torch.randn(12, 5, 6, dtype=torch.float64)
    a = _outputs(m, x, True, monkeypatch)
    b = _outputs(m, x, False, monkeypatch)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        torch.testing.assert_close(u, v, rtol=0, atol=1e-12)
    # the noise is there (another seed gives other outputs) and is the configured one
    c = _outputs(m, x, True, monkeypatch, seed=8)
    assert (c[0] - a[0]).abs().max() > 1e-3


def test_compiled_loop_ramp_codes_match_the_layer_reads(monkeypatch):
    # 5-bit ramp activations in float32: the compiled loop against the per-step AnalogLinear reads
    # (noise-free); a code may differ only where a pre-activation is within float round-off of a
    # ramp threshold, which does not happen on these few values
    torch.manual_seed(2)
    ref = nn.LSTM(5, 16)
    cfg = aihwkit_preset(adc=None, bound_management=False, out_noise=0.0)
    m = AnalogLSTM.from_torch(ref, config=cfg, activations=RampActivations(bits=5),
                              generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(10, 4, 5)
    (fused, (h, c)), (generic, (hg, cg)) = _fused_and_generic(m, x, monkeypatch, "lstm_sequence")
    torch.testing.assert_close(fused, generic, rtol=0, atol=1e-6)
    torch.testing.assert_close(c, cg, rtol=0, atol=1e-6)
    # outputs are ramp levels: o (a sigmoid level k/31) times a tanh level (2 k2 - 31)/31
    lv = fused * 31 * 31
    assert torch.allclose(lv, lv.round(), atol=2e-3)
    # a NaN input is not turned into finite ramp levels
    x[3, 1, 0] = float("nan")
    with torch.no_grad():
        bad, _ = m(x)
    assert torch.isnan(bad[3:, 1]).all() and not torch.isnan(bad[:3]).any() and not torch.isnan(bad[:, 0]).any()


@pytest.mark.parametrize("ensemble", [None, 2])
def test_programmed_ramp_columns_run_compiled_and_match_the_layer_reads(ensemble, monkeypatch):
    # ramps with PCM programming noise: no closed form; the compiled loop counts comparator
    # thresholds with the same exact cell tables as the per-step path (one table per ensemble
    # member: each chip has its own programmed ramps)
    from physnn.crossbar.programming_noise import ProgrammingNoise
    from physnn.crossbar.ramp_adc import RampDevices

    torch.manual_seed(3)
    ref = nn.LSTM(5, 12)
    dev = RampDevices(programming_noise=ProgrammingNoise(model="relative", sigma_rel=0.05))
    cfg = aihwkit_preset(adc=None, bound_management=False, out_noise=0.0)
    m = AnalogLSTM.from_torch(ref, config=cfg, activations=RampActivations(bits=5, devices=dev),
                              ensemble=ensemble, generator=torch.Generator().manual_seed(0)).eval().program()
    assert not m.cell.gate_act.closed_form
    x = torch.randn(8, 3, 5)
    (fused, (h, c)), (generic, (hg, cg)) = _fused_and_generic(m, x, monkeypatch, "lstm_sequence")
    torch.testing.assert_close(fused, generic, rtol=0, atol=1e-6)
    torch.testing.assert_close(c, cg, rtol=0, atol=1e-6)
    if ensemble:
        assert not torch.allclose(fused[0], fused[1])               # different programmed ramps


def _noisy_ramps():
    from physnn.crossbar.programming_noise import ProgrammingNoise
    from physnn.crossbar.ramp_adc import RampDevices

    return RampActivations(bits=5, devices=RampDevices(programming_noise=ProgrammingNoise(model="relative",
                                                                                          sigma_rel=0.05)))


@pytest.mark.parametrize("kind", ["gru", "rnn"])
@pytest.mark.parametrize("acts,adc,ensemble", [("ideal", False, None), ("ramp", True, 2), ("noisy", False, 2),
                                               ("noisy", True, None)])
def test_gru_and_elman_loops_match_the_per_step_reads(kind, acts, adc, ensemble, monkeypatch):
    # noise-free reads: the compiled GRU / Elman loop against the per-step AnalogLinear reads
    from physnn.crossbar.rnn import AnalogGRU, AnalogRNN

    torch.manual_seed(5)
    ref, cls = (nn.GRU(5, 9), AnalogGRU) if kind == "gru" else (nn.RNN(5, 9), AnalogRNN)
    activations = {"ideal": IdealActivations(), "ramp": RampActivations(bits=5), "noisy": _noisy_ramps()}[acts]
    cfg = aihwkit_preset(bound_management=False, out_noise=0.0) if adc else \
        aihwkit_preset(adc=None, bound_management=False, out_noise=0.0)
    m = cls.from_torch(ref, config=cfg, activations=activations, ensemble=ensemble,
                       generator=torch.Generator().manual_seed(1)).double().eval().program()
    x = torch.randn(7, 4, 5, dtype=torch.float64)
    (fused, h), (generic, hg) = _fused_and_generic(m, x, monkeypatch, "gated_sequence")
    assert fused.shape == generic.shape and h.shape == hg.shape
    torch.testing.assert_close(fused, generic, rtol=0, atol=1e-12)
    torch.testing.assert_close(h, hg, rtol=0, atol=1e-12)


def test_gru_loop_output_noise_has_the_configured_spread():
    # with output noise, identical input rows spread as much in the compiled loop as in the
    # per-step reads (other numbers, same distribution)
    from physnn.crossbar.rnn import AnalogGRU

    torch.manual_seed(6)
    cfg = aihwkit_preset(adc=None, bound_management=False, out_noise=0.04)
    m = AnalogGRU.from_torch(nn.GRU(5, 7), config=cfg, generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(3, 1, 5).expand(3, 3000, 5).contiguous()
    with torch.no_grad():
        s_fused = m(x)[0].std(-2).mean()
    s_generic = m(x.clone().requires_grad_())[0].detach().std(-2).mean()
    assert s_fused > 0.01 and abs(float(s_fused / s_generic) - 1) < 0.05


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_compiled_loops_step_aside_where_they_cannot_reproduce_the_reads(kind, monkeypatch):
    # ramps with read noise (one read of the ramp columns per conversion) and training mode take
    # the per-step path; the kernels are not called
    from physnn.crossbar.rnn import AnalogGRU
    from physnn.crossbar.ramp_adc import RampDevices
    from physnn.crossbar.read_noise import ReadNoise

    calls = []
    for name in ("lstm_sequence", "gated_sequence"):
        kernel = getattr(_rnn_kernel, name)
        monkeypatch.setattr(_rnn_kernel, name, lambda *a, k=kernel: (calls.append(1), k(*a))[1])
    torch.manual_seed(7)
    ref, cls = (nn.LSTM(4, 6), AnalogLSTM) if kind == "lstm" else (nn.GRU(4, 6), AnalogGRU)
    cfg = aihwkit_preset(adc=None, bound_management=False)
    noisy_read = RampActivations(bits=4, devices=RampDevices(read_noise=ReadNoise(model="gaussian", sigma_rel=0.02)))
    m = cls.from_torch(ref, config=cfg, activations=noisy_read, generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(5, 2, 4)
    with torch.no_grad():
        out = m(x)[0]
    assert out.shape == (5, 2, 6) and torch.isfinite(out).all()
    m = cls.from_torch(ref, config=cfg, activations=RampActivations(bits=4), generator=torch.Generator().manual_seed(0))
    m.train()
    m(x)[0].sum().backward()
    assert calls == []
    m.eval()
    with torch.no_grad():
        m(x)
    assert calls == [1]                                     # the same model in eval: compiled


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("ensemble", [None, 3])
def test_compiled_loops_with_batch_first_and_a_given_state(kind, ensemble):
    # batch-first inputs and a caller's initial state (per member with an ensemble) give the
    # per-step numbers; the caller's state tensors are not modified
    from physnn.crossbar.rnn import AnalogGRU, AnalogRNN

    torch.manual_seed(8)
    ref, cls = {"lstm": (nn.LSTM, AnalogLSTM), "gru": (nn.GRU, AnalogGRU), "rnn": (nn.RNN, AnalogRNN)}[kind]
    m = cls.from_torch(ref(5, 7, batch_first=True), activations=RampActivations(bits=5), ensemble=ensemble,
                       config=aihwkit_preset(adc=None, bound_management=False, out_noise=0.0),
                       generator=torch.Generator().manual_seed(0)).double().eval()
    x = torch.randn(4, 6, 5, dtype=torch.float64)
    h0 = torch.randn((4, 7) if ensemble is None else (ensemble, 4, 7), dtype=torch.float64)
    state = (h0, 0.5 * h0) if kind == "lstm" else h0
    keep = h0.clone()
    with torch.no_grad():
        fused, _ = m(x, state)
    generic, _ = m(x.clone().requires_grad_(), state)
    assert fused.shape == ((4, 6, 7) if ensemble is None else (ensemble, 4, 6, 7))
    torch.testing.assert_close(fused, generic.detach(), rtol=0, atol=1e-12)
    assert torch.equal(h0, keep)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("adc", [False, True])
def test_compiled_loops_take_per_member_inputs(kind, adc, monkeypatch):
    # an ensemble fed per-member inputs (E, B, T, in) -- e.g. the output of an ensemble layer --
    # runs compiled too and gives the per-step numbers (noise-free)
    from physnn.crossbar.rnn import AnalogGRU, AnalogRNN

    torch.manual_seed(9)
    ref, cls = {"lstm": (nn.LSTM, AnalogLSTM), "gru": (nn.GRU, AnalogGRU), "rnn": (nn.RNN, AnalogRNN)}[kind]
    cfg = aihwkit_preset(bound_management=False, out_noise=0.0) if adc else \
        aihwkit_preset(adc=None, bound_management=False, out_noise=0.0)
    m = cls.from_torch(ref(5, 7, batch_first=True), activations=RampActivations(bits=5), ensemble=3, config=cfg,
                       generator=torch.Generator().manual_seed(0)).double().eval()
    x = torch.randn(3, 4, 6, 5, dtype=torch.float64)
    name = "lstm_sequence" if kind == "lstm" else "gated_sequence"
    (fused, _), (generic, _) = _fused_and_generic(m, x, monkeypatch, name)
    assert fused.shape == (3, 4, 6, 7)
    torch.testing.assert_close(fused, generic, rtol=0, atol=1e-12)
    assert not torch.allclose(fused[0], fused[1])                   # members see their own inputs
