"""Attention on crossbar tiles: ``AnalogMultiheadAttention``, ``AnalogTransformerEncoderLayer``, ``convert``.

* with an ideal config the analog attention equals ``nn.MultiheadAttention`` (packed and separate
  projections, ``add_bias_kv``/``add_zero_attn``, no bias, masks, causal hint, returned weights,
  batch_first or not, unbatched) to float64 round-off; a converted encoder layer / 2-layer
  encoder / decoder layer equals the float one, also on the inputs where torch's fused and
  nested-tensor fast paths run;
* the analog weights are what is read: perturbing the programmed chip changes the output (no
  fast path on the float weights), PCM devices change it, an ensemble gives ``E`` different outputs;
* rules by the projections' names, report rows, ``state_dict`` round trip, messages;
* a char-level transformer LM (embedding, 2 causal layers, d_model 64, 4 heads) converts end to end
  with 8 PCM chips (finite, chips differ, gradients to every tile in training).
"""

import io

import pytest
import torch
from torch import nn

from physnn.crossbar import (
    AnalogMultiheadAttention,
    AnalogTransformerEncoderLayer,
    CrossbarConfig,
    Rule,
    TiledAnalogLinear,
    TileMapping,
    analog_layers,
    convert,
    program_model,
    set_model_time,
)

IDEAL = CrossbarConfig.ideal()
PCM = CrossbarConfig.from_card("pcm_aihwkit")
TILE = TileMapping(rows=5, cols=7)
D = torch.float64
TOL = dict(rtol=1e-10, atol=1e-10)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _mha(seed=0, **kw):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(8, 2, **kw).to(D).eval()
    if m.bias_k is not None:
        nn.init.normal_(m.bias_k)
        nn.init.normal_(m.bias_v)
    return m


MHA_KW = [
    dict(),
    dict(kdim=5, vdim=3),
    dict(add_bias_kv=True, add_zero_attn=True),
    dict(bias=False),
    dict(kdim=8, vdim=6, add_zero_attn=True),
]


def test_config_is_ideal():
    assert IDEAL.is_ideal and not PCM.is_ideal


@pytest.mark.parametrize("kw", MHA_KW)
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_ideal_equals_torch(kw, batch_first):
    m = _mha(**kw, batch_first=batch_first)
    a = AnalogMultiheadAttention.from_torch(m, config=IDEAL, tile=TILE).eval()
    assert a.packed == m._qkv_same_embed_dim
    N, L, S = 3, 4, 6
    g = _gen(1)
    q = torch.randn(N, L, 8, dtype=D, generator=g)
    k = torch.randn(N, S, m.kdim, dtype=D, generator=g)
    v = torch.randn(N, S, m.vdim, dtype=D, generator=g)
    if not batch_first:
        q, k, v = (t.transpose(0, 1) for t in (q, k, v))
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[0, -2:] = True
    cases = [
        dict(),
        dict(key_padding_mask=kpm),
        dict(attn_mask=torch.randn(L, S, dtype=D, generator=g)),
        dict(attn_mask=torch.rand(L, S, generator=g) > 0.7, key_padding_mask=kpm, need_weights=False),
        dict(attn_mask=torch.randn(N * 2, L, S, dtype=D, generator=g), average_attn_weights=False),
        dict(key_padding_mask=kpm.to(D) * -3.0, need_weights=False),
    ]
    for c in cases:
        ref, w_ref = m(q, k, v, **c)
        y, w = a(q, k, v, **c)
        torch.testing.assert_close(y, ref, **TOL)
        if w_ref is None:
            assert w is None
        else:
            torch.testing.assert_close(w, w_ref, **TOL)
    # unbatched
    ub = [t[:, 1] if not batch_first else t[1] for t in (q, k, v)]
    torch.testing.assert_close(a(*ub)[0], m(*ub)[0], **TOL)
    torch.testing.assert_close(a(*ub)[1], m(*ub)[1], **TOL)


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention_fast_path_and_causal_hint(batch_first):
    """``query is key is value`` in eval without gradients: torch's fused kernel on the float
    side, one read of the packed in-projection on the analog side; the causal hint."""
    m = _mha(2, batch_first=batch_first)
    a = AnalogMultiheadAttention.from_torch(m, config=IDEAL, tile=TILE).eval()
    x = torch.randn(3, 5, 8, dtype=D, generator=_gen(3))
    x = x if batch_first else x.transpose(0, 1).contiguous()
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=D)
    with torch.no_grad():
        for c in (
            dict(),
            dict(need_weights=False),
            dict(attn_mask=causal, is_causal=True, need_weights=False),
            dict(attn_mask=causal, is_causal=True),
        ):
            torch.testing.assert_close(a(x, x, x, **c)[0], m(x, x, x, **c)[0], **TOL)
    with pytest.raises(RuntimeError, match="is_causal: needs attn_mask"):
        a(x, x, x, is_causal=True)


def _perturb_(model):
    """Scale every programmed tile's conductances by 1.5 (the chip, not the float weights)."""
    for _, layer in analog_layers(model):
        for t in _tiles(layer):
            t.g_prog.mul_(1.5)
            t.set_time(t.t_inference)


def _tiles(layer):
    if isinstance(layer, TiledAnalogLinear):
        return list(layer.tiles)
    return [t for m in layer.modules() if isinstance(m, TiledAnalogLinear) for t in m.tiles]


def _enc_layer(batch_first=True, norm_first=False, activation="relu", seed=4):
    torch.manual_seed(seed)
    return (
        nn.TransformerEncoderLayer(
            8, 2, 16, dropout=0.1, activation=activation, batch_first=batch_first, norm_first=norm_first
        )
        .to(D)
        .eval()
    )


@pytest.mark.parametrize(
    "batch_first,norm_first,activation", [(True, False, "relu"), (False, True, "gelu"), (True, True, torch.tanh)]
)
def test_encoder_layer_ideal_equals_torch_and_no_fast_path(batch_first, norm_first, activation):
    layer = _enc_layer(batch_first, norm_first, activation)
    a, rep = convert(layer, IDEAL, tile=TILE)
    assert isinstance(a, AnalogTransformerEncoderLayer) and not isinstance(a, nn.TransformerEncoderLayer)
    assert isinstance(a.self_attn, AnalogMultiheadAttention) and isinstance(a.linear1, TiledAnalogLinear)
    assert [r.name for r in rep.converted] == ["self_attn.in_proj", "self_attn.out_proj", "linear1", "linear2"]
    assert rep["self_attn.in_proj"].weight_shape == (24, 8) and rep["self_attn.in_proj"].tiles == 2 * 4
    x = torch.randn(3, 5, 8, dtype=D, generator=_gen(5))
    x = x if batch_first else x.transpose(0, 1)
    kpm = torch.zeros(3, 5, dtype=torch.bool)
    kpm[2, -1] = True
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=D)
    with torch.no_grad():  # eval + no grad: torch's fused kernel where allowed
        for c in (dict(), dict(src_key_padding_mask=kpm), dict(src_mask=mask, is_causal=True)):
            torch.testing.assert_close(a(x, **c), layer(x, **c), **TOL)
    program_model(a)
    before = a(x)
    _perturb_(a)
    with torch.no_grad():
        after = a(x)
    assert (after - before).abs().max() > 1e-3  # the chip is read, not the float weights


@pytest.mark.parametrize("batch_first", [False, True])
def test_two_layer_encoder_ideal_equals_torch(batch_first):
    torch.manual_seed(6)
    # (torch's nested-tensor fast path exists only for batch_first: asking for it otherwise warns)
    enc = (
        nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 2, 16, batch_first=batch_first),
            2,
            norm=nn.LayerNorm(8),
            enable_nested_tensor=batch_first,
        )
        .to(D)
        .eval()
    )
    a, rep = convert(enc, IDEAL, tile=TILE)
    assert a.use_nested_tensor is False and len(rep.converted) == 8
    x = torch.randn(4, 6, 8, dtype=D, generator=_gen(7))
    x = x if batch_first else x.transpose(0, 1)
    kpm = torch.zeros(4, 6, dtype=torch.bool)
    kpm[1, -2:] = True  # left aligned: torch's nested-tensor path (batch_first)
    keep = ~kpm if batch_first else ~kpm.T
    mask = nn.Transformer.generate_square_subsequent_mask(6, dtype=D)
    with torch.no_grad():
        torch.testing.assert_close(a(x), enc(x), **TOL)
        torch.testing.assert_close(a(x, mask=mask), enc(x, mask=mask), **TOL)
        # the nested path leaves zeros at padded positions; the composite path computes them
        torch.testing.assert_close(a(x, src_key_padding_mask=kpm)[keep], enc(x, src_key_padding_mask=kpm)[keep], **TOL)
        program_model(a)
        y = a(x, src_key_padding_mask=kpm)
        _perturb_(a)
        assert (a(x, src_key_padding_mask=kpm) - y)[keep].abs().max() > 1e-3


def test_decoder_layer_ideal_equals_torch():
    torch.manual_seed(8)
    dec = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True).to(D).eval()
    a, rep = convert(dec, IDEAL, tile=TILE)
    assert {r.name for r in rep.converted} == {
        "self_attn.in_proj",
        "self_attn.out_proj",
        "multihead_attn.in_proj",
        "multihead_attn.out_proj",
        "linear1",
        "linear2",
    }
    tgt = torch.randn(2, 4, 8, dtype=D, generator=_gen(9))
    mem = torch.randn(2, 6, 8, dtype=D, generator=_gen(10))
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=D)
    torch.testing.assert_close(a(tgt, mem, tgt_mask=mask, tgt_is_causal=True), dec(tgt, mem, tgt_mask=mask), **TOL)
    aE, _ = convert(dec, IDEAL, tile=TILE, ensemble=3)
    y = aE(tgt, mem, tgt_mask=mask)  # query per chip after the first layer, memory shared
    assert y.shape == (3, 2, 4, 8)
    torch.testing.assert_close(y, dec(tgt, mem, tgt_mask=mask).expand(3, -1, -1, -1), **TOL)


def test_pcm_differs_and_ensemble_members_differ():
    torch.manual_seed(11)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2).eval()
    x = torch.randn(3, 7, 16, generator=_gen(12))
    with torch.no_grad():
        ref = enc(x)
    a, _ = convert(enc, PCM, tile=TileMapping(rows=8, cols=16), ensemble=4, generator=_gen(13))
    set_model_time(program_model(a), 86400.0)
    with torch.no_grad():
        y = a(x)
    assert y.shape == (4, 3, 7, 16) and torch.isfinite(y).all()
    err = ((y - ref).norm(dim=(-2, -1)) / ref.norm(dim=(-2, -1))).mean()
    assert 1e-3 < float(err) < 0.5, float(err)
    assert all((y[i] - y[0]).abs().max() > 1e-4 for i in range(1, 4))
    ideal, _ = convert(enc, IDEAL, ensemble=4)
    with torch.no_grad():
        torch.testing.assert_close(ideal(x), ref.expand(4, -1, -1, -1), rtol=1e-5, atol=1e-5)


def test_mha_ensemble_inputs_and_messages():
    m = _mha(14, batch_first=True)
    a = AnalogMultiheadAttention.from_torch(m, config=IDEAL, ensemble=2).eval()
    x = torch.randn(2, 3, 8, dtype=D, generator=_gen(15))  # N == E: still a shared batch
    y, w = a(x, x, x)
    assert y.shape == (2, 2, 3, 8) and w.shape == (2, 2, 3, 3)
    torch.testing.assert_close(y, m(x, x, x)[0].expand(2, -1, -1, -1), **TOL)
    xe = torch.stack([x, 2 * x])  # one input per chip
    ye, _ = a(xe, xe, xe)
    torch.testing.assert_close(ye[1], m(2 * x, 2 * x, 2 * x)[0], **TOL)
    ymix, _ = a(xe, x, x)  # per-chip query, shared key/value
    torch.testing.assert_close(ymix[1], m(2 * x, x, x)[0], **TOL)
    with pytest.raises(ValueError, match="ensemble=2"):
        a(torch.randn(3, 2, 3, 8, dtype=D), x, x)
    with pytest.raises(ValueError, match="unbatched"):
        a(x[0], x[0], x[0])
    with pytest.raises(ValueError, match="key_padding_mask"):
        a(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="attn_mask"):
        a(x, x, x, attn_mask=torch.zeros(3, 4))
    with pytest.raises(ValueError, match="num_heads"):
        AnalogMultiheadAttention(8, 3, config=IDEAL)
    with pytest.raises(TypeError, match="mha"):
        AnalogMultiheadAttention.from_torch(nn.Linear(8, 8), config=IDEAL)


def test_rules_on_projections_and_report():
    torch.manual_seed(16)
    net = nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), nn.Linear(8, 3)).eval()
    other = CrossbarConfig.ideal(drift_compensation=True)  # another (still ideal) config
    a, rep = convert(
        net,
        IDEAL,
        tile=TILE,
        rules=[
            Rule(match="0.self_attn.out_proj", skip=True),
            Rule(match="0.self_attn", tile=TileMapping.single()),
            Rule(match="0.linear1", config=other),
        ],
    )
    assert type(a[0].self_attn.out_proj) is nn.Linear
    assert rep["0.self_attn.out_proj"].status == "left digital"
    assert a[0].self_attn.in_proj.n_tiles == 1 and rep["0.self_attn.in_proj"].tiles == 1
    assert a[0].linear1.config is other and a[0].linear2.config is IDEAL
    x = torch.randn(2, 4, 8)
    torch.testing.assert_close(a(x), net(x), rtol=1e-5, atol=1e-5)
    b, rep_b = convert(net, IDEAL, rules=[Rule(match=nn.MultiheadAttention, skip=True)])
    assert type(b[0].self_attn) is nn.MultiheadAttention and rep_b["0.self_attn"].status == "left digital"
    assert isinstance(b[0], AnalogTransformerEncoderLayer) and isinstance(b[0].linear1, TiledAnalogLinear)
    mha = nn.MultiheadAttention(8, 2, add_bias_kv=True)
    c, rep_c = convert(mha, IDEAL)
    assert isinstance(c, AnalogMultiheadAttention)
    assert rep_c[""].status == "left digital" and "bias_k" in rep_c[""].reason
    assert [r.name for r in rep_c.converted] == ["in_proj", "out_proj"]


def test_state_dict_round_trip():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2).eval()
    a, _ = convert(enc, PCM, tile=TILE, ensemble=2, generator=_gen(17))
    set_model_time(program_model(a), 3600.0)
    b, _ = convert(enc, PCM, tile=TILE, ensemble=2, generator=_gen(18))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert "layers.1.self_attn.in_proj.tiles.0.g_prog" in a.state_dict()
    x = torch.randn(2, 5, 8)
    outs = []
    for m in (a, b):
        for t in (t for _, layer in analog_layers(m) for t in _tiles(layer)):
            t.generator.manual_seed(3)
        with torch.no_grad():
            outs.append(m(x))
    assert torch.equal(outs[0], outs[1])


class _CharLM(nn.Module):
    """Embedding + learned positions + 2-layer causal encoder (d_model 64, 4 heads) + linear head."""

    def __init__(self, vocab=40, d=64, ctx=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(0.02 * torch.randn(ctx, d))
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 4, 128, dropout=0.1, batch_first=True), 2)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx):
        T = idx.shape[-1]
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        return self.head(self.enc(self.emb(idx) + self.pos[:T], mask=mask, is_causal=True))


def test_char_lm_end_to_end_pcm_ensemble():
    torch.manual_seed(19)
    lm = _CharLM().eval()
    idx = torch.randint(0, 40, (3, 16), generator=_gen(20))
    a, rep = convert(lm, PCM, tile=TileMapping(rows=64, cols=64), ensemble=8, generator=_gen(21))
    assert len(rep.converted) == 2 * 4 + 1
    assert rep["emb"].status == "left digital" and "table lookup" in rep["emb"].reason
    assert rep[""].status == "left digital" and "pos" in rep[""].reason
    assert rep["enc.layers.0.self_attn.in_proj"].tiles == 3 and rep["enc.layers.1.linear2"].tiles == 2
    set_model_time(program_model(a), 86400.0)
    with torch.no_grad():
        logits, ref = a(idx), lm(idx)
    assert logits.shape == (8, 3, 16, 40) and torch.isfinite(logits).all()
    assert all((logits[i] - logits[0]).abs().max() > 1e-3 for i in range(1, 8))
    agree = (logits.argmax(-1) == ref.argmax(-1)).float().mean()
    assert 0.5 < float(agree) < 1.0, float(agree)  # close to the float model, not equal
    ideal, _ = convert(lm, IDEAL, ensemble=8)
    with torch.no_grad():
        torch.testing.assert_close(ideal(idx), ref.expand(8, -1, -1, -1), rtol=1e-4, atol=1e-4)
    # training (HWA): a forward with noise and dropout, gradients to every tile
    a.train()
    loss = nn.functional.cross_entropy(a(idx).flatten(0, 2), idx.expand(8, -1, -1).flatten())
    loss.backward()
    tiles = [t for _, layer in analog_layers(a) for t in _tiles(layer)]
    assert len(tiles) == sum(r.tiles for r in rep.converted)
    assert all(t.weight.grad is not None and t.weight.grad.abs().sum() > 0 for t in tiles)


def test_full_transformer_and_attention_dropout_generator():
    torch.manual_seed(22)
    t = nn.Transformer(8, 2, 1, 1, 16, batch_first=True).to(D).eval()
    a, rep = convert(t, IDEAL, tile=TILE)
    assert len(rep.converted) == 4 + 6 and a.encoder.use_nested_tensor is False
    src = torch.randn(2, 5, 8, dtype=D, generator=_gen(23))
    tgt = torch.randn(2, 4, 8, dtype=D, generator=_gen(24))
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=D)
    with torch.no_grad():
        torch.testing.assert_close(a(src, tgt, tgt_mask=mask), t(src, tgt, tgt_mask=mask), **TOL)
    # attention dropout in training draws its masks from the module's generator
    m = AnalogMultiheadAttention.from_torch(
        _mha(25, dropout=0.5, batch_first=True), config=None, generator=_gen(26)
    ).train()
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=D)
    outs = []
    for _ in range(2):
        m.generator.manual_seed(27)
        outs.append(m(src, src, src, attn_mask=causal, is_causal=True, need_weights=False)[0])
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], m.eval()(src, src, src, attn_mask=causal, need_weights=False)[0])


def test_subclass_with_its_own_forward_is_left_digital():
    class Scaled(nn.MultiheadAttention):
        def forward(self, *a, **k):
            y, w = super().forward(*a, **k)
            return 2 * y, w

    net = nn.Sequential()
    net.add_module("attn", Scaled(8, 2))
    a, rep = convert(net, IDEAL)
    assert type(a.attn) is Scaled and rep["attn"].status == "left digital" and "subclass" in rep["attn"].reason
    with pytest.raises(ValueError, match="attn: Scaled cannot be converted"):
        convert(net, IDEAL, rules=[Rule(match="attn", require=True)])
