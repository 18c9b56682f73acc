"""Recurrent layers on crossbar tiles: ``convert`` of ``nn.LSTM/GRU/RNN`` and their cells.

* the stacked analog modules equal ``nn.LSTM``/``GRU``/``RNN`` under an ideal config (several
  layers, both directions, batch_first, no bias, initial states, unbatched input) to float64
  round-off, through the per-step reference read and the compiled LSTM loop;
* an ensemble gives ``E`` outputs (shared or per-chip inputs and states); PCM devices change
  the output, differently per chip; gradients reach every crossbar in training;
* ``convert``: report rows (tiles, devices, both matrices on tiles), options the
  analog cells lack left digital by name (or an error under ``require``), ``program_model`` /
  ``set_model_time`` reach every crossbar, ``state_dict`` round trip.
"""

import io

import pytest
import torch
from torch import nn

from physnn.crossbar import (
    AnalogGRUCell,
    AnalogLSTMCell,
    AnalogRNNCell,
    CrossbarConfig,
    Rule,
    StackedAnalogGRU,
    StackedAnalogLSTM,
    StackedAnalogRNN,
    TiledAnalogLinear,
    TileMapping,
    analog_layers,
    convert,
    program_model,
    set_model_time,
)

IDEAL = CrossbarConfig.ideal()
PCM = CrossbarConfig.from_card("pcm_aihwkit")
TILE = TileMapping(rows=3, cols=7)
D = torch.float64
TOL = dict(rtol=1e-10, atol=1e-10)
PAIRS = [(nn.LSTM, StackedAnalogLSTM), (nn.GRU, StackedAnalogGRU), (nn.RNN, StackedAnalogRNN)]
OPTIONS = [
    dict(),
    dict(num_layers=2, bidirectional=True, batch_first=True, dropout=0.3),
    dict(bias=False, num_layers=3),
    dict(bidirectional=True),
]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _close(a, b, **tol):
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b)
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, **tol)
    else:
        torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("backend", ["reference", None])
@pytest.mark.parametrize("kw", OPTIONS)
@pytest.mark.parametrize("tcls,acls", PAIRS)
def test_stacked_ideal_equals_torch(tcls, acls, kw, backend):
    torch.manual_seed(0)
    m = tcls(5, 6, **kw).to(D).eval()
    a = acls.from_torch(m, config=IDEAL, tile=TILE, backend=backend).eval()
    x = torch.randn(4, 7, 5, dtype=D, generator=_gen(1))
    n = m.num_layers * (2 if m.bidirectional else 1)
    B = 4 if m.batch_first else 7
    h0 = torch.randn(n, B, 6, dtype=D, generator=_gen(2))
    hx = (h0, torch.randn(n, B, 6, dtype=D, generator=_gen(3))) if tcls is nn.LSTM else h0
    with torch.no_grad():
        for args in ((x,), (x, hx)):
            y, s = a(*args)
            r, rs = m(*args)
            _close(y, r, **TOL)
            _close(s, rs, **TOL)
        ub = x[0]  # unbatched (T, in)
        hub = tuple(h[:, 0] for h in hx) if isinstance(hx, tuple) else hx[:, 0]
        _close(a(ub, hub), m(ub, hub), **TOL)


@pytest.mark.parametrize("tcls,acls", PAIRS)
def test_stacked_ensemble(tcls, acls):
    torch.manual_seed(4)
    m = tcls(5, 6, num_layers=2, bidirectional=True).to(D).eval()
    a = acls.from_torch(m, config=IDEAL, ensemble=3).eval()
    x = torch.randn(7, 3, 5, dtype=D, generator=_gen(5))  # T == E: still a shared batch
    h0 = torch.randn(4, 3, 6, dtype=D, generator=_gen(6))
    hx = (h0, h0.flip(0)) if tcls is nn.LSTM else h0
    with torch.no_grad():
        y, s = a(x, hx)
        r, rs = m(x, hx)
        assert y.shape == (3, 7, 3, 12)
        _close(y, r.expand(3, -1, -1, -1), **TOL)
        _close(
            s, tuple(t.expand(3, -1, -1, -1) for t in rs) if isinstance(rs, tuple) else rs.expand(3, -1, -1, -1), **TOL
        )
        xe = torch.stack([x, -x, 2 * x])  # one input per chip
        ye, _ = a(xe)
        _close(ye[2], m(2 * x)[0], **TOL)
    with pytest.raises(ValueError, match="ensemble=3"):
        a(torch.randn(2, 7, 3, 5, dtype=D))
    with pytest.raises(ValueError, match="unbatched"):
        a(x[:, 0])
    with pytest.raises(ValueError, match="hx"):
        a(x, (h0[:2], h0[:2]) if tcls is nn.LSTM else h0[:2])
    with pytest.raises(TypeError, match="PackedSequence"):
        a(nn.utils.rnn.pack_sequence([x[:, 0], x[:3, 1]]))


@pytest.mark.parametrize(
    "tcls,acls", [(nn.LSTMCell, AnalogLSTMCell), (nn.GRUCell, AnalogGRUCell), (nn.RNNCell, AnalogRNNCell)]
)
def test_cells_convert_and_equal_torch(tcls, acls):
    torch.manual_seed(7)
    m = tcls(5, 6).to(D)
    a, rep = convert(m, IDEAL, tile=TILE)
    n_ih = 2 * -(-acls.n_gates * 6 // 7)  # 5 inputs on 3 rows, G*6 outputs on 7 columns
    assert isinstance(a, acls) and isinstance(a.ih, TiledAnalogLinear) and a.ih.n_tiles == n_ih
    n_hh = 2 * -(-acls.n_gates * 6 // 7)  # 6 hidden inputs on 3 rows, the same outputs
    assert isinstance(a.hh, TiledAnalogLinear) and a.hh.n_tiles == n_hh
    assert rep[""].tiles == n_ih + n_hh and "W_ih and W_hh on tiles" in rep[""].reason
    x = torch.randn(3, 5, dtype=D, generator=_gen(8))
    h = torch.randn(3, 6, dtype=D, generator=_gen(9))
    st = (h, h.flip(0)) if tcls is nn.LSTMCell else h
    a.eval()
    with torch.no_grad():
        _close(a(x, st), m(x, st), **TOL)
        _close(a(x), m(x), **TOL)


class _Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(4, 8)
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(32, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(self.emb(x))
        y, _ = self.gru(y)
        return self.head(y[..., -1, :])


def test_convert_model_with_recurrent_layers():
    torch.manual_seed(10)
    net = _Seq().eval()
    x = torch.randn(5, 9, 4, generator=_gen(11))
    ideal, rep = convert(net, IDEAL, tile=TileMapping(rows=16, cols=32))
    assert [r.name for r in rep.converted] == ["emb", "lstm", "gru", "head"]
    # lstm: W_ih (64 x 8) and (64 x 32) on 1x2 and 2x2 tiles per direction, W_hh (64 x 16) on 1x2 tiles
    # per layer and direction (64 outputs > 32 columns)
    assert rep["lstm"].tiles == 2 * (2 + 2) + 2 * (4 + 2) and rep["lstm"].devices == 2 * 2 * 64 * (8 + 16 + 32 + 16)
    assert "per layer and direction" in rep["lstm"].reason and "W_hh 64x16: 2 tiles" in rep["lstm"].reason
    with torch.no_grad():
        torch.testing.assert_close(ideal(x), net(x), rtol=1e-5, atol=1e-5)
    a, _ = convert(net, PCM, tile=TileMapping(rows=16, cols=32), ensemble=4, generator=_gen(12))
    set_model_time(program_model(a), 86400.0)
    cells = [s.cell for s in a.lstm.layers] + [s.cell for s in a.gru.layers]
    assert all(c.hh.t_inference == 86400.0 and c.ih.t_inference == 86400.0 and c.hh.is_programmed for c in cells)
    assert [n for n, _ in analog_layers(a)] == ["emb", "lstm", "gru", "head"]
    with torch.no_grad():
        y, ref = a(x), net(x)
        e = net.emb(x)  # the converted LSTM alone on the float input
        y_l, ref_l = a.lstm(e)[0], net.lstm(e)[0]
    assert y.shape == (4, 5, 3) and torch.isfinite(y).all()
    assert all((y[i] - y[0]).abs().max() > 1e-4 for i in range(1, 4))
    assert float((y - ref).abs().max()) > 1e-3
    err = float(((y_l - ref_l).flatten(1).norm(dim=1) / ref_l.norm()).mean())
    assert 1e-3 < err < 0.2, err
    # training: gradients reach the tiled input projections and the recurrent arrays
    a.train()
    a(x).square().mean().backward()
    for c in cells:
        assert isinstance(c.hh, TiledAnalogLinear)
        assert all(t.weight.grad is not None and t.weight.grad.abs().sum() > 0 for t in c.hh.tiles)
        assert all(t.weight.grad is not None for t in c.ih.tiles)


def test_unsupported_options_left_digital_or_required():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.LSTM(4, 8, proj_size=3)
            self.relu = nn.RNN(4, 3, nonlinearity="relu")
            self.rcell = nn.RNNCell(4, 3, nonlinearity="relu")
            self.ok = nn.RNN(4, 3)

    a, rep = convert(Net(), IDEAL)
    assert type(a.proj) is nn.LSTM and "proj_size=3" in rep["proj"].reason
    assert rep["relu"].status == "left digital" and "nonlinearity='relu'" in rep["relu"].reason
    assert rep["rcell"].status == "left digital" and "tanh only" in rep["rcell"].reason
    assert isinstance(a.ok, StackedAnalogRNN) and rep["ok"].status == "converted"
    with pytest.raises(ValueError, match=r"proj: LSTM cannot be converted \(proj_size=3"):
        convert(Net(), IDEAL, rules=[Rule(match=nn.RNNBase, require=True)])
    b, rep_b = convert(Net(), IDEAL, rules=[Rule(match="ok", skip=True)])
    assert type(b.ok) is nn.RNN and "skip=True" in rep_b["ok"].reason
    with pytest.raises(ValueError, match="proj_size"):
        StackedAnalogLSTM.from_torch(nn.LSTM(4, 8, proj_size=3), config=IDEAL)
    with pytest.raises(TypeError, match="nn.GRU"):
        StackedAnalogGRU.from_torch(nn.LSTM(4, 8), config=IDEAL)


def test_state_dict_round_trip():
    net = _Seq().eval()
    a, _ = convert(net, PCM, tile=TileMapping(rows=16, cols=32), ensemble=2, generator=_gen(13))
    set_model_time(program_model(a), 3600.0)
    b, _ = convert(net, PCM, tile=TileMapping(rows=16, cols=32), ensemble=2, generator=_gen(14))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert "lstm.layers.3.cell.ih.tiles.3.g_prog" in a.state_dict()
    x = torch.randn(2, 6, 4)
    outs = []
    for m in (a, b):
        for mod in m.modules():
            if getattr(mod, "generator", None) is not None:
                mod.generator.manual_seed(5)
        with torch.no_grad():
            outs.append(m(x))
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("compiled", [True, False])
def test_recurrent_matrix_on_one_tile_reads_as_one_array(compiled, monkeypatch):
    # no size threshold: a W_hh that fits the tile is a one-tile TiledAnalogLinear and reads exactly
    # as the untiled AnalogLinear (same programming draws, same noise keys), through the compiled
    # LSTM loop and through the per-step reads
    from physnn.crossbar import AnalogLSTM
    from physnn.crossbar.backends import lstm_loop

    if not compiled:
        monkeypatch.setattr(lstm_loop, "available", lambda: False)
    torch.manual_seed(3)
    m = nn.LSTM(5, 6).to(D)
    x = torch.randn(7, 3, 5, dtype=D, generator=_gen(4))
    outs = []
    for tile in (None, TileMapping(rows=64, cols=64)):
        a = AnalogLSTM.from_torch(m, config=PCM, ensemble=2, generator=_gen(5), tile=tile).eval()
        assert isinstance(a.cell.hh, TiledAnalogLinear) == (tile is not None)
        a.program()
        a.set_time(3600.0)
        with torch.no_grad():
            outs.append(a(x))
    _close(outs[1], outs[0], rtol=0, atol=0)


def test_recurrent_matrix_over_several_tiles_has_per_tile_converters():
    # W_hh (24 x 6) on 3-row x 8-column tiles: 2 x 3 tiles, each with its own ADC; the tiled read
    # is the sum of its tiles' reads (partial sums added digitally). With an ADC range of 2
    # normalised units the one-array read of 6 inputs saturates, the 3-input partial sums do not:
    # the tiled recurrent read is closer to the float one
    import dataclasses

    from physnn.crossbar import ADC, DAC

    cfg = dataclasses.replace(IDEAL, dac=DAC(6), adc=ADC(6, 2.0))
    torch.manual_seed(6)
    m = nn.LSTMCell(5, 6).to(D)
    one = AnalogLSTMCell.from_torch(m, config=cfg).eval()
    tiled = AnalogLSTMCell.from_torch(m, config=cfg, tile=TileMapping(rows=3, cols=8)).eval()
    assert tiled.hh.n_tiles == 2 * 3 and tiled.n_tiles == tiled.ih.n_tiles + 6
    h = 2 * torch.rand(4, 6, dtype=D, generator=_gen(7)) - 1  # states of a tanh cell
    with torch.no_grad():
        y_one, y_tiled = one.recurrent(h, 0), tiled.recurrent(h, 0)
        exact = h @ m.weight_hh.T + m.bias_hh
        parts = torch.zeros_like(exact)
        ie, oe, n_out = tiled.hh.in_edges, tiled.hh.out_edges, tiled.hh.grid[2]
        for k, t in enumerate(tiled.hh.tiles):  # tile order: input block, output block
            i, j = divmod(k, n_out)
            parts[:, oe[j] : oe[j + 1]] += t(h[:, ie[i] : ie[i + 1]])
        parts += tiled.hh.bias
    _close(y_tiled, parts, rtol=1e-12, atol=1e-12)
    err_one, err_tiled = float((y_one - exact).abs().max()), float((y_tiled - exact).abs().max())
    assert err_tiled < 0.5 * err_one, (err_tiled, err_one)
