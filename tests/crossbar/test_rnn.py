"""Crossbar RNNs: equal to torch.nn with ideal devices, ramp activations, compiled loop == per-step reference."""

import pytest
import torch
from torch import nn

from physnn.crossbar.config import CrossbarConfig, aihwkit_preset
from physnn.crossbar.programming_noise import ProgrammingNoise
from physnn.crossbar.ramp_adc import RampDevices
from physnn.crossbar.read import use_backend
from physnn.crossbar.rnn import (
    AnalogGRU,
    AnalogGRUCell,
    AnalogLSTM,
    AnalogLSTMCell,
    AnalogRNN,
    AnalogRNNCell,
    IdealActivations,
    RampActivations,
)

IDEAL = CrossbarConfig.ideal()


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(9, 4, 5, generator=g), torch.randn(4, 7, generator=g), torch.randn(4, 7, generator=g)


def test_cells_equal_torch_cells_with_ideal_config(data):
    x, h0, c0 = data
    torch.manual_seed(1)
    ref = nn.LSTMCell(5, 7)
    cell = AnalogLSTMCell.from_torch(ref, config=IDEAL).eval()
    h, c = cell(x[0], (h0, c0))
    hr, cr = ref(x[0], (h0, c0))
    assert torch.allclose(h, hr, atol=1e-6) and torch.allclose(c, cr, atol=1e-6)
    for tcls, acls in ((nn.GRUCell, AnalogGRUCell), (nn.RNNCell, AnalogRNNCell)):
        ref = tcls(5, 7)
        cell = acls.from_torch(ref, config=IDEAL).eval()
        assert torch.allclose(cell(x[0], h0), ref(x[0], h0), atol=1e-6)


@pytest.mark.parametrize("tcls,acls", [(nn.LSTM, AnalogLSTM), (nn.GRU, AnalogGRU), (nn.RNN, AnalogRNN)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_sequences_equal_torch_with_ideal_config(data, tcls, acls, batch_first):
    x, h0, c0 = data
    if batch_first:
        x = x.transpose(0, 1).contiguous()
    torch.manual_seed(2)
    ref = tcls(5, 7, batch_first=batch_first)
    mod = acls.from_torch(ref, config=IDEAL).eval()
    state = (h0[None], c0[None]) if tcls is nn.LSTM else h0[None]
    my_state = (h0, c0) if tcls is nn.LSTM else h0
    out_r, st_r = ref(x, state)
    out, st = mod(x, my_state)
    assert out.shape == out_r.shape
    assert torch.allclose(out, out_r, atol=1e-5)
    if tcls is nn.LSTM:
        assert torch.allclose(st[1], st_r[1][0], atol=1e-5)


def test_ramp_activations_quantise_the_gates():
    # 8-bit ramp: close to float; 3-bit: visibly different, outputs on the ramp's product levels
    torch.manual_seed(3)
    ref = nn.LSTM(5, 7)
    x = torch.randn(12, 3, 5)
    out_r, _ = ref(x)
    errs = {}
    for b in (3, 8):
        m = AnalogLSTM.from_torch(ref, config=IDEAL, activations=RampActivations(bits=b)).eval()
        with torch.no_grad():
            errs[b] = float((m(x)[0] - out_r).abs().max())
    assert errs[8] < 0.02 < errs[3]
    # the gate activation of the module equals the ramp ADC's table lookup (exact threshold count)
    m = AnalogRNN.from_torch(nn.RNN(5, 7), config=IDEAL, activations=RampActivations(bits=4)).eval()
    z = torch.linspace(-5, 5, 2001).unsqueeze(-1).expand(-1, 7)
    ga = m.cell.gate_act
    assert ga.closed_form
    tbl = ga._lut(z)(z)
    mismatch = ((ga(z) - tbl).abs() > 1e-5).float().mean()
    assert float(mismatch) < 1e-3  # only float round-off at thresholds


@pytest.mark.parametrize("adc", [False, True])
@pytest.mark.parametrize("acts", [IdealActivations(), RampActivations(bits=5)])
@pytest.mark.parametrize("ens,per_member", [(None, False), (2, False), (2, True)])
def test_compiled_lstm_equals_per_step_reference_with_same_noise(adc, acts, ens, per_member):
    """The compiled sequence loop and the per-step torch path draw the same noise (one key per
    sequence) and agree to float round-off (float64: no ADC or ramp code near a tie flips)."""
    torch.manual_seed(4)
    ref = nn.LSTM(5, 7).double()
    x = torch.randn(*((2,) if per_member else ()), 6, 3, 5, dtype=torch.float64) * 2
    cfg = aihwkit_preset(bound_management=False, out_noise=0.04, t_inference=3600.0)
    if not adc:
        cfg = cfg.replace(adc=None)
    outs = []
    for backend in ("auto", "reference"):
        m = (
            AnalogLSTM.from_torch(
                ref, config=cfg, activations=acts, ensemble=ens, generator=torch.Generator().manual_seed(0)
            )
            .double()
            .eval()
        )
        assert m.cell._compilable(torch.zeros(1, dtype=torch.float64))
        with torch.no_grad(), use_backend(backend):
            outs.append(m(x))
    (o1, (h1, c1)), (o2, (h2, c2)) = outs
    assert o1.shape == o2.shape == ((2,) if ens else ()) + (6, 3, 7)
    for a, b in ((o1, o2), (h1, h2), (c1, c2)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    # and the noise is really there: another generator seed gives other outputs
    m = (
        AnalogLSTM.from_torch(
            ref, config=cfg, activations=acts, ensemble=ens, generator=torch.Generator().manual_seed(1)
        )
        .double()
        .eval()
    )
    with torch.no_grad():
        assert not torch.allclose(m(x)[0], o1)


def _compiled_and_reference(ref, cfg, x, **kw):
    """Outputs of the same float32 AnalogLSTM (same generator seed) through the compiled loop
    ("auto", which must take it) and through the per-step reference."""
    outs = []
    for backend in ("auto", "reference"):
        m = AnalogLSTM.from_torch(ref, config=cfg, generator=torch.Generator().manual_seed(0), **kw).eval()
        assert m.cell._compilable(torch.zeros(1))
        with torch.no_grad(), use_backend(backend):
            outs.append(m(x)[0])
    return outs


def test_compiled_lstm_float32_close_to_reference():
    torch.manual_seed(4)
    ref = nn.LSTM(5, 7)
    x = torch.randn(6, 3, 5)
    cfg = aihwkit_preset(adc=None, bound_management=False, out_noise=0.04)
    outs = _compiled_and_reference(ref, cfg, x)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("acts", [IdealActivations(), RampActivations(bits=5)])
@pytest.mark.parametrize("ens,adc", [(None, False), (2, True)])
def test_compiled_lstm_equals_its_torch_reference_bit_for_bit(dtype, acts, ens, adc, monkeypatch):
    """The compiled loop against :func:`lstm_loop.reference_sequence` (the same arithmetic in
    plain torch operations): equal, not close, in float32 as in float64, with output noise, ADC,
    abs-max DAC, ramp gates and an ensemble."""
    from physnn.crossbar.backends import lstm_loop

    torch.manual_seed(4)
    ref = nn.LSTM(16, 24).to(dtype)
    x = torch.randn(20, 8, 16, dtype=dtype)
    cfg = aihwkit_preset(bound_management=False, out_noise=0.04, t_inference=3600.0)
    cfg = cfg if adc else cfg.replace(adc=None)
    ran = []

    def run():
        m = (
            AnalogLSTM.from_torch(
                ref, config=cfg, activations=acts, ensemble=ens, generator=torch.Generator().manual_seed(0)
            )
            .to(dtype)
            .eval()
        )
        assert m.cell._compilable(torch.zeros(1, dtype=dtype))
        with torch.no_grad():
            o, (h, c) = m(x)
        return o, h, c

    compiled = lstm_loop.lstm_sequence

    def spy(fn):
        def call(*args):
            ran.append(fn.__name__)
            return fn(*args)

        return call

    monkeypatch.setattr(lstm_loop, "lstm_sequence", spy(compiled))
    fast = run()
    monkeypatch.setattr(lstm_loop, "lstm_sequence", spy(lstm_loop.reference_sequence))
    slow = run()
    assert ran == ["lstm_sequence", "reference_sequence"]
    for a, b in zip(fast, slow):
        assert a.dtype == dtype and torch.equal(a, b), float((a - b).abs().max())


def test_ensemble_shapes_and_independent_instances():
    torch.manual_seed(5)
    ref = nn.LSTM(5, 7, batch_first=True)
    dev = RampDevices(programming_noise=ProgrammingNoise(model="relative", sigma_rel=0.05))
    m = AnalogLSTM.from_torch(
        ref,
        config=aihwkit_preset(adc=None, bound_management=False),
        activations=RampActivations(bits=5, devices=dev),
        ensemble=3,
        generator=torch.Generator().manual_seed(0),
    ).eval()
    x = torch.randn(2, 6, 5)
    with torch.no_grad():
        out, (h, c) = m(x)
    assert out.shape == (3, 2, 6, 7) and h.shape == (3, 2, 7) and c.shape == (3, 2, 7)
    assert not torch.allclose(out[0], out[1])  # different device instances
    out2, _ = m(x.unsqueeze(0).expand(3, -1, -1, -1))  # per-member input
    assert out2.shape == (3, 2, 6, 7)
    for cls in (AnalogGRU, AnalogRNN):
        mm = (
            cls(
                5,
                7,
                config=IDEAL,
                ensemble=2,
                activations=RampActivations(bits=4, devices=dev),
                generator=torch.Generator().manual_seed(1),
            )
            .eval()
            .program()
        )
        o, h = mm(torch.randn(6, 2, 5))
        assert o.shape == (2, 6, 2, 7) and h.shape == (2, 2, 7)
        assert not torch.allclose(o[0], o[1])


def _train_lstm_classifier(config, activations=None, steps=60):
    """Adam on a tiny sequence task (sign of the summed first channel over 4 steps), every
    training forward a fresh programming (train mode); returns (loss, accuracy) of the trained
    weights programmed on one chip (eval mode) on 512 held-out sequences."""
    import torch.nn.functional as F

    def task(n, g):
        x = torch.randn(4, n, 3, generator=g)
        return x, (x[:, :, 0].sum(0) > 0).long()

    torch.manual_seed(0)
    kw = {} if activations is None else {"activations": activations}
    m = AnalogLSTM(3, 8, config=config, generator=torch.Generator().manual_seed(0), **kw)
    head = nn.Linear(8, 2)
    opt = torch.optim.Adam([*m.parameters(), *head.parameters()], lr=5e-2)
    g = torch.Generator().manual_seed(1)
    m.train()
    for _ in range(steps):
        x, y = task(32, g)
        loss = F.cross_entropy(head(m(x)[0][-1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    xt, yt = task(512, torch.Generator().manual_seed(2))
    m.eval().program(torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = head(m(xt)[0][-1])
    return float(F.cross_entropy(logits, yt)), float((logits.argmax(-1) == yt).float().mean())


def test_hardware_aware_training_reaches_float_weights():
    """HWA (noise, 5-bit ramp gates in the loop) evaluated on a programmed noisy chip reaches
    what float training reaches with ideal devices; untrained weights are at chance."""
    cfg = aihwkit_preset(adc=None, bound_management=False)
    m = AnalogLSTM(5, 7, config=cfg, activations=RampActivations(bits=5), generator=torch.Generator().manual_seed(0))
    m.train()
    x = torch.randn(8, 3, 5)
    assert not torch.allclose(m(x)[0], m(x)[0])  # fresh noise each sequence
    float_loss, float_acc = _train_lstm_classifier(IDEAL)
    hwa_loss, hwa_acc = _train_lstm_classifier(cfg, RampActivations(bits=5))
    chance_loss, chance_acc = _train_lstm_classifier(cfg, RampActivations(bits=5), steps=0)
    assert float_acc > 0.8 and chance_acc < 0.6 and chance_loss > 0.6
    assert hwa_acc > float_acc - 0.05 and hwa_acc > 0.8, (hwa_acc, float_acc)
    assert hwa_loss < float_loss + 0.1, (hwa_loss, float_loss)


def test_bad_input():
    with pytest.raises(TypeError, match="activations"):
        AnalogLSTM(5, 7, config=IDEAL, activations="ramp")
    with pytest.raises(TypeError, match="config"):
        AnalogLSTM(5, 7, config=None)
    with pytest.raises(ValueError, match="x"):
        AnalogLSTM(5, 7, config=IDEAL)(torch.randn(4, 5))
    with pytest.raises(ValueError, match="x"):
        AnalogGRU(5, 7, config=IDEAL)(torch.randn(3, 4, 6))
    with pytest.raises(ValueError, match="bits"):
        RampActivations(bits=0)
    with pytest.raises(ValueError, match="hidden_size"):
        AnalogRNN(5, 0, config=IDEAL)
