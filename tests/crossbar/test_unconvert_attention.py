"""``to_float`` of converted attention: ``convert`` then ``to_float`` gives back the float modules
(``nn.MultiheadAttention`` packed and separate, ``nn.TransformerEncoderLayer``) with their weights."""

import torch
from torch import nn

from physnn.crossbar import AnalogMultiheadAttention, AnalogTransformerEncoderLayer, CrossbarConfig, convert, to_float

PCM = CrossbarConfig.from_card("pcm_aihwkit")


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(
            16, 4, 32, dropout=0.0, batch_first=True, norm_first=True, activation=nn.GELU()
        )
        self.cross = nn.MultiheadAttention(16, 2, kdim=12, vdim=10, add_bias_kv=True, batch_first=True)

    def forward(self, x, k, v):
        h = self.enc(x)
        return self.cross(h, k, v, need_weights=False)[0]


def _inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 5, 16, generator=g), torch.randn(3, 7, 12, generator=g), torch.randn(3, 7, 10, generator=g)


def test_round_trip_restores_the_float_model():
    torch.manual_seed(0)
    net = _Net().eval()
    with torch.no_grad():
        net.cross.bias_k.normal_()
        net.cross.bias_v.normal_()
    chip, _ = convert(net, PCM, generator=torch.Generator().manual_seed(1))
    assert isinstance(chip.enc, AnalogTransformerEncoderLayer) and isinstance(chip.cross, AnalogMultiheadAttention)
    back = to_float(chip)
    assert type(back.enc) is nn.TransformerEncoderLayer and type(back.cross) is nn.MultiheadAttention
    assert back.enc.norm_first and back.enc.self_attn.batch_first and isinstance(back.enc.activation, nn.GELU)
    assert not back.cross._qkv_same_embed_dim
    sd, sd0 = back.state_dict(), net.state_dict()
    assert set(sd) == set(sd0)
    for k in sd0:
        torch.testing.assert_close(sd[k], sd0[k], rtol=0, atol=0, msg=k)
    x, k, v = _inputs()
    torch.testing.assert_close(back(x, k, v), net(x, k, v), rtol=0, atol=0)
    assert back.training == net.training


def test_trained_analog_weights_come_back():
    """What HWA changed on the analog layers (the float target weights) is what to_float returns."""
    torch.manual_seed(0)
    net = _Net()
    chip, _ = convert(net, PCM, ensemble=2, generator=torch.Generator().manual_seed(1))
    chip.train()
    opt = torch.optim.SGD(chip.parameters(), lr=0.1)
    x, k, v = _inputs()
    chip(x, k, v).pow(2).mean().backward()
    opt.step()
    back = to_float(chip)
    w_in = chip.enc.self_attn.in_proj.weight
    assert not torch.equal(w_in, net.enc.self_attn.in_proj_weight)  # training moved it
    torch.testing.assert_close(back.enc.self_attn.in_proj_weight, w_in, rtol=0, atol=0)
    torch.testing.assert_close(back.cross.q_proj_weight, chip.cross.q_proj.weight, rtol=0, atol=0)
    torch.testing.assert_close(back.enc.linear2.weight, chip.enc.linear2.weight, rtol=0, atol=0)
    # and a second conversion of the float copy programs those weights
    again, _ = convert(back, PCM, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(again.enc.self_attn.in_proj.weight, w_in, rtol=0, atol=0)
