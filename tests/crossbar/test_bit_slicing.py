"""Bit slicing (issue 25): weight digits over devices, inputs over cycles, fast back end bit-equal."""

import dataclasses

import pytest
import torch
from torch import nn

from physnn.crossbar import ADC, DAC, CrossbarConfig
from physnn.crossbar.bit_slicing import (
    BitSlicing,
    SlicedAnalogLinear,
    SlicedReadSpec,
    input_cycles,
    slice_weights,
    sliced_read,
)
from physnn.crossbar.mapping import ConductanceRange
from physnn.crossbar.read import ReadSpec, reference_read


def _spec(E, seed, *, dtype=torch.float32, adc=True, noise=2.0, abs_max=True):
    g = torch.Generator().manual_seed(seed)
    lead = () if E is None else (E,)
    w = torch.rand(*lead, 13, 37, generator=g, dtype=dtype) * 2 - 1
    return ReadSpec(
        weight=w,
        scale=torch.rand(lead, generator=g, dtype=dtype) + 0.5,
        in_step=1 / 127,
        in_levels=127.0,
        abs_max=abs_max,
        noise_std=noise,
        adc_levels=127.0 if adc else None,
    )


def test_weight_digits_rebuild_the_quantised_weight_exactly():
    w = torch.randn(50, 40, dtype=torch.float64)
    sl = BitSlicing(weight_slices=3, bits_per_slice=3)
    d = slice_weights(w, 2.0, sl)
    assert len(d) == 3 and all(float(x.abs().max()) <= 7 for x in d)
    q = torch.round((w.abs() / 2.0).clamp(max=1) * 511) * torch.sign(w)
    assert torch.equal(d[0] + 8 * d[1] + 64 * d[2], q)
    assert float(d[2].abs().max()) == 7  # |w| > 2 saturates to the top code


def test_input_cycles_rebuild_the_codes_exactly():
    c = torch.randint(-255, 256, (7, 9)).to(torch.float32)
    for p, T in ((1, 8), (3, 3), (8, 1)):
        dig = input_cycles(c, p, 255.0)
        assert dig.shape == (T, 7, 9) and float(dig.abs().max()) <= 2**p - 1
        assert torch.equal(sum(dig[t] * 2 ** (p * t) for t in range(T)), c)


@pytest.mark.parametrize("p", [1, 2, 3, 7])
def test_input_cycles_without_adc_or_noise_equal_the_unsliced_read(p):
    # the read is linear in the codes: the cycles, recombined, are the whole code
    s = _spec(None, 0, dtype=torch.float64, adc=False, noise=0.0)
    x = torch.randn(6, 37, dtype=torch.float64)
    sp = SlicedReadSpec(slices=(s,), significance=(1.0,), input_bits_per_cycle=p)
    assert sp.cycles == -(-7 // p)
    torch.testing.assert_close(sliced_read(sp, x), reference_read(s, x), rtol=1e-12, atol=1e-12)


def test_weight_slices_without_adc_equal_the_read_of_the_quantised_weight():
    w = torch.randn(11, 20, dtype=torch.float64)
    sl = BitSlicing(weight_slices=2, bits_per_slice=4)
    one = torch.tensor(1.0, dtype=torch.float64)
    specs = tuple(ReadSpec(weight=d, scale=one, in_step=1 / 127, in_levels=127.0) for d in slice_weights(w, 3.0, sl))
    sp = SlicedReadSpec(slices=specs, significance=sl.significance(3.0), input_bits_per_cycle=1)
    q = sum(d * 16**j for j, d in enumerate(slice_weights(w, 3.0, sl))) * (3.0 / 255)
    x = torch.rand(5, 20, dtype=torch.float64)
    ref = ReadSpec(weight=q, scale=one, in_step=1 / 127, in_levels=127.0)
    torch.testing.assert_close(sliced_read(sp, x), reference_read(ref, x), rtol=1e-12, atol=1e-12)


def test_every_cycle_is_converted_by_the_adc():
    # one row, weight 1, ADC levels 3: a full-scale bit drives acc = 127 per cycle, clamped to 3
    s = ReadSpec(
        weight=torch.ones(1, 1, dtype=torch.float64),
        scale=torch.tensor(1.0, dtype=torch.float64),
        in_step=1.0,
        in_levels=127.0,
        adc_levels=3.0,
    )
    sp = SlicedReadSpec(slices=(s,), significance=(1.0,), input_bits_per_cycle=1)
    y = sliced_read(sp, torch.tensor([[5.0]], dtype=torch.float64))  # bits 0 and 2 set
    assert float(y) == pytest.approx(3.0 * (1 + 4) / 127, rel=1e-15)


@pytest.mark.parametrize("E,per_member", [(None, False), (4, False), (4, True)])
@pytest.mark.parametrize("p", [None, 1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_back_end_is_bit_equal_to_the_reference(E, per_member, p, dtype):
    sp = SlicedReadSpec(
        slices=(_spec(E, 1, dtype=dtype), _spec(E, 2, dtype=dtype)),
        significance=(1.0, 16.0),
        input_bits_per_cycle=p,
        bias=torch.randn(13, dtype=dtype),
        key=987654321,
    )
    for lead in ((5,), (2, 3), (0,), (64,)):
        x = torch.randn(
            ((E,) if per_member else ()) + lead + (37,), dtype=dtype, generator=torch.Generator().manual_seed(3)
        )
        ref = sliced_read(sp, x, per_member=per_member, backend="reference")
        got = sliced_read(sp, x, per_member=per_member, backend="numba_cpu")
        assert got.shape == ref.shape and torch.equal(got, ref)
    # noise: another key, other numbers; each slice reads with its own key
    x = torch.randn(((E,) if per_member else ()) + (8, 37), dtype=dtype)
    assert not torch.equal(
        sliced_read(sp, x, per_member=per_member), sliced_read(sp.with_key(1), x, per_member=per_member)
    )


def test_sliced_layer_of_ideal_devices_is_the_quantised_linear():
    torch.manual_seed(0)
    lin = nn.Linear(20, 7).double()
    cfg = CrossbarConfig(range=ConductanceRange(0.0, 1e-5))
    sl = BitSlicing(weight_slices=2, bits_per_slice=3)
    layer = SlicedAnalogLinear.from_linear(lin, config=cfg, slicing=sl).eval()
    x = torch.randn(9, 20, dtype=torch.float64)
    w_max = float(lin.weight.detach().abs().max())
    q = sum(d * 8**j for j, d in enumerate(slice_weights(lin.weight, w_max, sl))) * (w_max / 63)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), x @ q.T + lin.bias, rtol=1e-10, atol=1e-10)
    assert all(s.config.range.levels == 8 for s in layer.slices)


def test_sliced_layer_with_devices_and_ensemble_runs_both_back_ends_equal():
    cfg = CrossbarConfig.from_card("pcm_aihwkit", dac=DAC(8, 1.0), adc=ADC(8, 12.0))
    lin = nn.Linear(16, 5)
    sl = BitSlicing(weight_slices=2, bits_per_slice=4, input_bits_per_cycle=1)
    layer = SlicedAnalogLinear.from_linear(
        lin, config=cfg, slicing=sl, ensemble=3, generator=torch.Generator().manual_seed(0)
    ).eval()
    layer.set_time(3600.0)
    spec = layer.read_spec().with_key(5)
    x = torch.rand(4, 16)
    a = sliced_read(spec, x, backend="reference")
    assert a.shape == (3, 4, 5) and torch.equal(a, sliced_read(spec, x, backend="numba_cpu"))
    assert not torch.equal(a[0], a[1])  # independent devices per member


def test_bad_input_names_the_parameter():
    s = _spec(None, 0)
    with pytest.raises(ValueError, match="bound_management"):
        SlicedReadSpec(slices=(dataclasses.replace(s, bound_management=True),), significance=(1.0,))
    with pytest.raises(ValueError, match="significance"):
        SlicedReadSpec(slices=(s, s), significance=(1.0,))
    with pytest.raises(ValueError, match="input_bits_per_cycle"):
        SlicedReadSpec(slices=(dataclasses.replace(s, in_levels=None),), significance=(1.0,), input_bits_per_cycle=1)
    with pytest.raises(ValueError, match="weight_slices"):
        BitSlicing(weight_slices=0)
    with pytest.raises(ValueError, match="24 bits"):
        BitSlicing(weight_slices=5, bits_per_slice=5)
    cfg = CrossbarConfig(range=ConductanceRange(0.0, 1e-5))
    with pytest.raises(ValueError, match="input_bits_per_cycle"):
        SlicedAnalogLinear(4, 2, config=cfg, slicing=BitSlicing(input_bits_per_cycle=1))
    with pytest.raises(RuntimeError, match="inference"):
        SlicedAnalogLinear(4, 2, config=cfg, slicing=BitSlicing())(torch.rand(1, 4))
