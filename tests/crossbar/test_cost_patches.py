"""The cost of a convolution's read from its padded images (no unfolded matrix) equals the cost of
the unfolded matrix, bit for bit; the recorder's cached read spec follows every change of the
devices (programming, time, edited weights, state loads)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from physnn.crossbar import DAC, CrossbarConfig, TileMapping, convert
from physnn.crossbar.cost import BitSerialInput, CostConfig, CostRecorder, CostTechnology, layer_cost_tensors
from physnn.crossbar.cost.row_activity import patch_row_activity, row_activity_reference
from physnn.crossbar.layer import state_epoch
from physnn.crossbar.patches import PatchColumns

TECH = CostTechnology(
    feature_size=40e-9,
    cell_area=48.0,
    t_read=10e-9,
    clock_period=1e-9,
    adc_fom=5e-15,
    sense_amp_energy=2e-15,
    dac_energy=3e-15,
    adder_energy_per_bit=1e-15,
    buffer_energy_per_bit=50e-15,
    interconnect_energy_per_bit=100e-15,
    adc_area=1e-9,
    programming_energy_per_pulse=4e-12,
    programming_pulse_width=100e-9,
)


def _matrix_activity(p, members, step, levels, bit_serial, nbits, G, n_in, R):
    """The definition: the unfolded matrix, split into tile slices, through the torch reference."""
    m = p.matrix()
    K = m.shape[-1]
    x3 = m.reshape(members, -1, K)
    xg = x3.reshape(members, x3.shape[1], G, K // G)
    xg = torch.nn.functional.pad(xg, (0, n_in * R - K // G))
    return row_activity_reference(xg.reshape(members, x3.shape[1], G * n_in, R), step, levels, bit_serial, nbits)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bit_serial", [False, True])
@pytest.mark.parametrize(
    "geom",
    [
        ((3, 3), (1, 1), (1, 1), 1, 1, 1, 16),
        ((3, 2), (2, 1), (2, 3), 2, 2, 2, 7),  # dilation, stride, groups, members
        ((1, 5), (1, 2), (1, 1), 1, 3, 1, 40),
    ],
)  # a 1-d convolution, one tile
def test_patch_row_activity_equals_the_unfolded_matrix(dtype, bit_serial, geom):
    (kh, kw), dil, stride, G, imgs, members, R = geom
    C = 4 * G
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(members * imgs, C, 1 if kh == 1 else 11, 13, generator=g, dtype=dtype) * 2 - 1) * 1.2
    x[..., :2] = 0  # zero padding, clamped codes
    p = PatchColumns(x, (kh, kw), dil, stride, (members, imgs) if members > 1 else (imgs,))
    K = p.width
    n_in = -(-(K // G) // R)
    levels, step = 255.0, 1 / 255
    want = _matrix_activity(p, members, step, levels, bit_serial, 8, G, n_in, R)
    got = patch_row_activity(p, members, step, levels, bit_serial, 8, G, n_in, R)
    assert got is not None
    for a, b in zip(got, want):  # integer sums on both sides (float64 holds them exactly)
        assert a.dtype == b.dtype == torch.float64 and torch.equal(a, b)
    assert float(got[0].sum()) > 0


def test_patch_row_activity_refuses_non_finite_pixels_that_are_read():
    x = torch.rand(1, 2, 6, 6)
    x[0, 1, 4, 4] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        patch_row_activity(PatchColumns(x, (3, 3), (1, 1), (1, 1)), 1, 1 / 127, 127.0, True, 7, 1, 1, 18)
    # a pixel no window reads (stride 2 leaves the last column out) is not a read's input
    y = torch.rand(1, 2, 7, 7)
    y[0, 0, 2, 6] = float("nan")
    p = PatchColumns(y, (2, 2), (1, 1), (2, 2))
    assert torch.isnan(p.matrix()).sum() == 0
    got = patch_row_activity(p, 1, 1 / 127, 127.0, True, 7, 1, 1, 8)
    want = _matrix_activity(p, 1, 1 / 127, 127.0, True, 7, 1, 1, 8)
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def _model(card="rram_40nm", ensemble=None, seed=0):
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(8, 6, 3, stride=2))
    cfg = CrossbarConfig.from_card(card, dac=DAC(8, 1.0))
    model, _ = convert(
        net, cfg, tile=TileMapping(rows=32, cols=4), ensemble=ensemble, generator=torch.Generator().manual_seed(seed)
    )
    return model.eval()


def _patches_of(model, x):
    """The PatchColumns each convolution's tiled layer reads, and the model's output."""
    seen = {}
    hooks = [
        m.linear.register_forward_pre_hook(lambda mod, a, n=n: seen.__setitem__(n, a[0]))
        for n, m in ((n, m) for n, m in model.named_children() if hasattr(m, "linear"))
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("ensemble,per_member", [(None, False), (2, False), (2, True)])
@pytest.mark.parametrize("bit_serial", [False, True])
def test_recorder_costs_a_convolution_as_its_unfolded_matrix(ensemble, per_member, bit_serial):
    model = _model(ensemble=ensemble)
    g = torch.Generator().manual_seed(4)
    x = torch.rand((2, 3, 3, 9, 9) if per_member else (3, 3, 9, 9), generator=g)
    cfg = CostConfig(
        technology=TECH, inputs=BitSerialInput(bits=8) if bit_serial else CostConfig(technology=TECH).inputs
    )
    with CostRecorder(model, cfg) as rec, torch.no_grad():
        model(x)
    seen = _patches_of(model, x)
    assert set(seen) == {"0", "2"} and all(isinstance(p, PatchColumns) for p in seen.values())
    ref = CostConfig(technology=TECH, inputs=cfg.inputs, fast=False)  # the torch reference
    for n, p in seen.items():
        want = layer_cost_tensors(model[int(n)].linear, p.matrix(), ref)
        got = rec.results[n]
        for c in want["energy"]:
            assert torch.equal(got["energy"][c], want["energy"][c]), (n, c)
        for c in want["latency"]:
            assert torch.equal(got["latency"][c], want["latency"][c]), (n, c)
        assert got["vectors"] == want["vectors"]
        # layer_cost_tensors takes the patches too, with the same numbers
        direct = layer_cost_tensors(model[int(n)].linear, p, cfg)
        assert all(torch.equal(direct["energy"][c], want["energy"][c]) for c in want["energy"])


def _array_energy(rec, model, x):
    rec.results.clear()
    with rec, torch.no_grad():
        model(x)
    return rec.results["0"]["energy"]["array"].clone()


def _fresh(model, x, cfg):
    p = _patches_of(model, x)["0"]
    return layer_cost_tensors(model[0].linear, p.matrix(), cfg)["energy"]["array"]


def test_cached_read_spec_follows_reprogramming_time_edits_and_state_loads():
    model = _model(card="pcm_aihwkit")  # PCM drifts: set_time changes the conductances
    x = torch.rand(2, 3, 9, 9, generator=torch.Generator().manual_seed(2))
    cfg = CostConfig(technology=TECH)
    rec = CostRecorder(model, cfg)
    e0 = _array_energy(rec, model, x)
    assert torch.equal(_array_energy(rec, model, x), e0)  # nothing changed: the cache holds
    state = copy.deepcopy(model.state_dict())
    lin = model[0].linear
    k0 = state_epoch()
    lin.program(torch.Generator().manual_seed(9))  # new programming noise
    assert state_epoch() > k0
    e1 = _array_energy(rec, model, x)
    assert not torch.equal(e1, e0) and torch.equal(e1, _fresh(model, x, cfg))
    lin.set_time(3600.0 * 24)  # a day of drift
    e2 = _array_energy(rec, model, x)
    assert not torch.equal(e2, e1) and torch.equal(e2, _fresh(model, x, cfg))
    with torch.no_grad():  # weights edited in place: the read
        lin.copy_weight_(lin.weight * 0.5)  # re-programs, the cost follows
    e3 = _array_energy(rec, model, x)
    assert not torch.equal(e3, e2) and torch.equal(e3, _fresh(model, x, cfg))
    model.load_state_dict(state)  # back to the first programming
    assert torch.equal(_array_energy(rec, model, x), e0)
