"""Channel-wise weight mapping (``CrossbarConfig.w_max_per_column``, aihwkit's
``weight_scaling_columnwise``): each output column's largest |w| on the full conductance swing."""

import pytest
import torch
from torch import nn

from physnn.crossbar import AnalogLinear, CrossbarConfig, aihwkit_preset, convert
from physnn.crossbar.programming_noise import ProgrammingNoise


def _weights():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 40, generator=g, dtype=torch.float64)
    w[0] *= 10.0  # one large column, the others 10x smaller
    return w


def _layer(cfg, w, **kw):
    lin = nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
    with torch.no_grad():
        lin.weight.copy_(w)
    return AnalogLinear.from_linear(lin, config=cfg, generator=torch.Generator().manual_seed(1), **kw).eval()


def test_noise_free_read_equals_the_float_layer():
    w = _weights()
    cfg = CrossbarConfig.ideal(output_units="weight", w_max_per_column=True)
    layer = _layer(cfg, w)
    x = torch.randn(5, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref = x @ w.T + layer.bias.detach()
    torch.testing.assert_close(layer(x), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.programmed_weight(), w, rtol=1e-12, atol=1e-12)


def test_every_column_reaches_the_full_swing():
    w = _weights()
    cfg = CrossbarConfig.ideal(output_units="weight", w_max_per_column=True)
    layer = _layer(cfg, w).program()
    swing = cfg.range.swing
    diff = (layer.g_prog[0] - layer.g_prog[1]).abs().amax(1)  # per output column
    torch.testing.assert_close(diff, torch.full_like(diff, swing), rtol=1e-12, atol=0.0)
    torch.testing.assert_close(layer.col_gain, w.abs().amax(1) / w.abs().max(), rtol=1e-12, atol=0.0)
    plain = _layer(CrossbarConfig.ideal(output_units="weight"), w).program()
    assert float((plain.g_prog[0] - plain.g_prog[1]).abs().amax(1)[1:].max()) < 0.3 * swing


def test_absolute_programming_noise_shrinks_for_small_columns():
    """With an absolute programming-noise floor (sigma in S), a column of small weights mapped to
    the full swing has an error smaller by its gain: std(w_prog - w) / max|w_col| = sigma / swing."""
    w = _weights()
    pn = ProgrammingNoise(model="polynomial", coefficients=(0.5e-6,), g_max=25e-6)
    base = CrossbarConfig.ideal(output_units="weight", programming_noise=pn)
    err = {}
    for per_col in (False, True):
        layer = _layer(base.replace(w_max_per_column=per_col), w, ensemble=64)
        e = layer.programmed_weight() - w  # (E, out, in)
        err[per_col] = e[:, 1:].std() / w[1:].abs().amax(1).mean()  # small columns, relative
    assert float(err[True]) < 0.3 * float(err[False])
    # the predicted level: each device of the pair independent, sigma / swing per weight unit of the column max
    sw = base.range.swing
    assert float(err[True]) == pytest.approx(2**0.5 * 0.5e-6 / sw, rel=0.15)


def test_state_dict_round_trip_and_ensemble():
    w = _weights().float()
    cfg = aihwkit_preset(w_max_per_column=True, t_inference=86400.0)
    a = _layer(cfg, w, ensemble=3).program()
    b = _layer(cfg, torch.zeros_like(w), ensemble=3)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.col_gain, a.col_gain)
    x = torch.randn(4, 40, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.programmed_weight(), b.programmed_weight())
    assert a(x).shape == (3, 4, 6)


def test_converted_model_and_training_forward():
    net = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    chips, _ = convert(
        net, aihwkit_preset(w_max_per_column=True), ensemble=2, generator=torch.Generator().manual_seed(0)
    )
    x = torch.randn(5, 12)
    chips.train()
    out = chips(x)
    out.sum().backward()
    assert out.shape == (2, 5, 3) and net[0].weight.grad is None
    assert all(p.grad is not None for p in chips.parameters())


@pytest.mark.parametrize("kw, name", [({"w_max": 1.0}, "w_max"), ({"output_units": "normalized"}, "output_units")])
def test_incompatible_settings_name_the_field(kw, name):
    with pytest.raises(ValueError, match=rf"^{name}=.*w_max_per_column=True"):
        CrossbarConfig.ideal(**{"output_units": "weight", **kw, "w_max_per_column": True})


def test_w_max_per_column_must_be_a_bool():
    with pytest.raises(TypeError, match="w_max_per_column"):
        CrossbarConfig.ideal(output_units="weight", w_max_per_column=1)
