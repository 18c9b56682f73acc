"""A programmed chip is state: save + load gives the same devices bit for bit and the same reads."""

import io

import pytest
import torch

from physnn.crossbar import AnalogLinear, CrossbarConfig, StuckAtFaults
from physnn.crossbar.config import aihwkit_preset
from physnn.crossbar.mapping import ConductanceRange, ReferenceColumn

CFG = aihwkit_preset(t_inference=3600.0).replace(faults=StuckAtFaults(stuck_on_rate=0.01, stuck_off_rate=0.02))


def _layer(seed, cfg=CFG, ensemble=8, n_in=12, n_out=5):
    torch.manual_seed(0)  # same float weights
    return AnalogLinear(n_in, n_out, config=cfg, ensemble=ensemble, generator=torch.Generator().manual_seed(seed))


def _roundtrip(sd):
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_save_load_gives_the_same_chip_and_reads():
    a = _layer(1).eval().program().set_time(86400.0)
    sd = _roundtrip(a.state_dict())
    for name in (
        "g_prog",
        "nu",
        "g_now",
        "stuck_on",
        "stuck_off",
        "baseline",
        "alpha",
        "t_inference_s",
        "ensemble_size",
        "w_max",
    ):
        assert name in sd, name
    assert int(sd["ensemble_size"]) == 8 and float(sd["t_inference_s"]) == 86400.0
    b = _layer(99).eval()  # another generator: would draw another chip
    b.load_state_dict(sd)
    assert b.is_programmed and b.t_inference == 86400.0
    for name, v in a.state_dict().items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, b.state_dict()[name]), name
    x = torch.randn(7, 12)
    a.generator.manual_seed(5)
    b.generator.manual_seed(5)
    ya, yb = a(x), b(x)
    assert ya.shape == (8, 7, 5)
    assert torch.equal(ya, yb)  # identical reads, not a reprogrammed chip
    assert torch.equal(a(x), b(x))
    # programmed state survives a save of an unprogrammed layer too (nothing to restore)
    c = _layer(3).eval()
    c.load_state_dict(_layer(4).state_dict())
    assert not c.is_programmed


def test_reprogramming_after_load_keeps_device_draws():
    a = _layer(1).eval().program()
    b = _layer(2).eval()
    b.load_state_dict(a.state_dict())
    b.program(torch.Generator().manual_seed(7))  # new programming event, same devices
    assert torch.equal(b.stuck_on, a.stuck_on) and torch.equal(b.stuck_off, a.stuck_off)


def test_loading_into_another_layer_names_the_entry():
    sd = _layer(1).eval().program().state_dict()
    with pytest.raises(ValueError, match="ensemble_size"):
        _layer(2, ensemble=4).load_state_dict(sd)
    with pytest.raises(ValueError, match="ensemble_size"):
        _layer(2, ensemble=None).load_state_dict(sd)
    with pytest.raises(ValueError, match="g_prog: checkpoint shape"):
        _layer(2, n_in=13).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"config\.out_noise"):
        _layer(2, cfg=CFG.replace(out_noise=0.05)).load_state_dict(sd)
    rc = CFG.replace(mapping=ReferenceColumn(CFG.range))
    with pytest.raises(ValueError, match="config.mapping|g_prog"):
        _layer(2, cfg=rc).load_state_dict(sd)


def test_ideal_layer_state_dict_without_ensemble():
    cfg = CrossbarConfig.ideal(range=ConductanceRange(0.0, 25e-6))
    a = _layer(1, cfg=cfg, ensemble=None).eval().program()
    b = _layer(2, cfg=cfg, ensemble=None).eval()
    b.load_state_dict(_roundtrip(a.state_dict()))
    x = torch.randn(3, 12)
    assert torch.equal(a(x), b(x))
