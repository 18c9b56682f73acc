"""The compact read of converted convolutions (``TiledAnalogLinear.read_patches``: DAC codes from
the image, a GEMM per tile at its own size, the padded read's noise counters) equals the plain
unfold + reference read: same generator state -> same numbers (float64 equal to round-off,
float32 with at most a few outputs one ADC step apart where round-off meets an ADC rounding
edge), over tiles (edge tiles in both directions), bias, groups, stride, padding, dilation,
ensembles (shared and per-chip inputs), fixed-range and abs-max DACs, and bound management."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from physnn.crossbar import AnalogConv1d, AnalogConv2d, TileMapping, aihwkit_preset
from physnn.crossbar.adc import ADC
from physnn.crossbar.read import use_backend


def _pair(layer, x):
    """(compact, reference) outputs of ``layer`` on ``x`` from the same generator state."""
    gen = layer.linear.generator
    with torch.no_grad():
        assert layer.linear.compact_unsupported(x) is None
        state = gen.get_state()
        got = layer(x)
        gen.set_state(state)
        with use_backend("reference"):
            ref = layer(x)
    return got, ref


def _check(got, ref, dtype):
    assert got.shape == ref.shape
    if dtype == torch.float64:
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    else:
        close = torch.isclose(got, ref, rtol=1e-5, atol=1e-6)
        assert close.float().mean() >= 0.999, f"{int((~close).sum())} of {close.numel()} differ"


CFG = aihwkit_preset(t_inference=3600.0)
CASES = [  # (channels in, out, kernel, stride, padding, dilation, groups, bias, tile rows, cols, config)
    (8, 12, 3, 1, 1, 1, 1, True, 40, 5, CFG),  # 72 rows -> 40 + 32, 12 cols -> 5+5+2
    (8, 12, 3, 2, 0, 1, 1, False, 512, 512, CFG),  # one tile, stride
    (6, 9, (3, 2), (1, 2), (2, 1), (2, 1), 3, True, 5, 2, CFG),  # groups, dilation, odd tiles
    (4, 4, 3, 1, "same", 1, 4, True, 4, 1, CFG),  # depthwise, 'same'
    (8, 12, 3, 1, 1, 1, 1, True, 40, 5, replace(CFG, input_scaling="fixed")),  # fixed-range DAC
    (8, 12, 3, 1, 1, 1, 1, True, 40, 5, replace(CFG, adc=ADC(8, 0.3))),  # bound management
]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("ensemble", [None, 3])
def test_compact_conv2d_equals_unfold_reference(case, ensemble, dtype):
    cin, cout, k, s, p, d, g, bias, rows, cols, cfg = CASES[case]
    conv = nn.Conv2d(cin, cout, k, s, p, d, g, bias).to(dtype)
    layer = (
        AnalogConv2d.from_conv(
            conv,
            config=cfg,
            tile=TileMapping(rows=rows, cols=cols),
            ensemble=ensemble,
            generator=torch.Generator().manual_seed(case),
        )
        .eval()
        .program()
    )
    x = torch.randn(2, cin, 9, 11, generator=torch.Generator().manual_seed(7), dtype=dtype)
    got, ref = _pair(layer, x)
    _check(got, ref, dtype)
    assert got.abs().max() > 0
    if ensemble is not None:  # one input per chip
        xe = torch.randn(ensemble, 2, cin, 9, 11, generator=torch.Generator().manual_seed(8), dtype=dtype)
        got, ref = _pair(layer, xe)
        _check(got, ref, dtype)


def test_bound_management_case_saturates():
    # the bound-management case really re-reads: the same read without it differs
    cin, cout, k, s, p, d, g, bias, rows, cols, cfg = CASES[-1]
    x = torch.randn(2, cin, 9, 11, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    outs = []
    for c in (cfg, replace(cfg, bound_management=False)):
        layer = (
            AnalogConv2d(
                cin,
                cout,
                k,
                s,
                p,
                d,
                g,
                bias,
                config=c,
                tile=TileMapping(rows=rows, cols=cols),
                generator=torch.Generator().manual_seed(3),
                dtype=torch.float64,
            )
            .eval()
            .program()
        )
        with torch.no_grad():
            layer.linear.generator.manual_seed(11)
            outs.append(layer(x))
    assert not torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ensemble", [None, 2])
def test_compact_conv1d_equals_unfold_reference(ensemble, dtype):
    conv = nn.Conv1d(6, 10, 5, 2, 1, dilation=2).to(dtype)
    layer = (
        AnalogConv1d.from_conv(
            conv,
            config=CFG,
            tile=TileMapping(rows=16, cols=4),
            ensemble=ensemble,
            generator=torch.Generator().manual_seed(0),
        )
        .eval()
        .program()
    )
    x = torch.randn(3, 6, 40, generator=torch.Generator().manual_seed(1), dtype=dtype)
    got, ref = _pair(layer, x)
    _check(got, ref, dtype)
    xu = x[0]  # unbatched
    got, ref = _pair(layer, xu)
    _check(got, ref, dtype)


def test_compact_path_choice_is_explicit():
    layer = (
        AnalogConv2d(4, 6, 3, config=CFG, tile=TileMapping(rows=20, cols=4), generator=torch.Generator().manual_seed(0))
        .eval()
        .program()
    )
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        assert layer.linear.compact_unsupported(x) is None
        with use_backend("reference"):
            assert "reference" in layer.linear.compact_unsupported(x)
    assert "autograd" in layer.linear.compact_unsupported(x.clone().requires_grad_())
    assert "train()" in layer.train().linear.compact_unsupported(x)
    # output noise that alone could reach the ADC full scale in a padded column: the plain read
    loud = (
        AnalogConv2d(
            4,
            6,
            3,
            config=replace(CFG, out_noise=5.0),
            tile=TileMapping(rows=20, cols=4),
            generator=torch.Generator().manual_seed(0),
        )
        .eval()
        .program()
    )
    with torch.no_grad():
        assert "padded columns" in loud.linear.compact_unsupported(x.detach())


@pytest.mark.parametrize("ensemble", [None, 2])
def test_fused_conv_output_is_channel_major_and_equals_reference(ensemble):
    """The fused read writes the convolution's own layout (B, C_out, H, W): the layer's output is
    contiguous (no copy in the next layer's pad / ReLU / flatten) and has the reference's numbers."""
    conv = nn.Conv2d(3, 7, 3, 2, 1)
    layer = (
        AnalogConv2d.from_conv(
            conv,
            config=CFG,
            tile=TileMapping(rows=512, cols=512),
            ensemble=ensemble,
            generator=torch.Generator().manual_seed(4),
        )
        .eval()
        .program()
    )
    x = torch.randn(5, 3, 9, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    layer = layer.double()
    got, ref = _pair(layer, x)
    assert got.is_contiguous() and got.shape == (*(() if ensemble is None else (ensemble,)), 5, 7, 5, 4)
    _check(got, ref, torch.float64)
    assert torch.equal(got.flatten(-3), ref.flatten(-3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_strided_draws_are_the_reference_counter_normal(dtype):
    """The fused read's per-output-column draws (counters base + k * step, modulo 2**32, across
    the wrap) are the reference's counter_normal draws at those counters, bit for bit."""
    import numba
    import numpy as np

    from physnn.crossbar.backends.patch_read import strided_draws
    from physnn.crossbar.read import counter_normal, noise_tables

    ft = np.float32 if dtype == torch.float32 else np.float64
    draws = strided_draws(ft)
    t, d = (a.numpy() for a in noise_tables(dtype))

    @numba.njit
    def run(n, base, step, klo, khi, hb, z):
        draws(n, np.uint32(base), np.uint32(step), np.uint32(klo), np.uint32(khi), t, d, hb, z)

    key, n, base, step = 0x9E3779B97F4A7C15, 300, 2**32 - 1000, 37
    z = np.full(n, np.nan, ft)
    run(n, base, step, key & 0xFFFFFFFF, key >> 32, np.zeros(n, np.uint32), z)
    idx = (base + step * torch.arange(n, dtype=torch.int64)) % 2**32
    ref = counter_normal(key, idx, dtype)
    assert torch.equal(torch.from_numpy(z), ref)
    assert 0.5 < float(ref.std()) < 1.5
