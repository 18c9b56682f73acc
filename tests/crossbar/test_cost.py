"""Chip-cost model: analytic energies, data dependence, latency of ADC architectures, gradients,
reports with units, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from physnn.crossbar import ADC, DAC, AnalogLinear, CrossbarConfig, TileMapping, TiledAnalogLinear, convert
from physnn.crossbar.cost import (
    AmplitudeInput,
    BitSerialInput,
    CostConfig,
    CostTechnology,
    FlashConverter,
    RampConverter,
    SARConverter,
    array_read_energy,
    layer_cost,
    layer_cost_tensors,
    model_cost,
)

TECH = dict(
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


def _layer(weight, *, bits=8, v_read=0.5, ensemble=None, card=None):
    cfg = (
        CrossbarConfig.ideal(dac=DAC(bits, 1.0), w_max=1.0, v_read=v_read)
        if card is None
        else CrossbarConfig.from_card(card, dac=DAC(bits, 1.0), w_max=1.0)
    )
    w = torch.as_tensor(weight, dtype=torch.float64)
    lay = AnalogLinear(
        w.shape[1],
        w.shape[0],
        bias=False,
        config=cfg,
        ensemble=ensemble,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    with torch.no_grad():
        lay.weight.copy_(w)
    return lay.eval().program()


def test_array_energy_analytic_tiny_array():
    # differential pair on 0..25 uS, w_max = 1: |w| = 1 -> one device at 25 uS, the other at 0
    lay = _layer([[1.0, 0.0, -1.0], [0.5, 0.0, 0.0]])
    x = torch.tensor([[1.0, 1.0, -1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)  # codes +-127 -> V = +-v_read
    cfg = CostConfig(technology=CostTechnology(**TECH))
    r = layer_cost_tensors(lay, x, cfg)
    g_row = torch.tensor([37.5e-6, 0.0, 25e-6], dtype=torch.float64)  # row sums over both devices of each output
    want = 10e-9 * 0.5**2 * (g_row.sum() + g_row[0])  # vector 1: all rows; vector 2: row 0
    assert float(r["energy"]["array"][0]) == pytest.approx(float(want), rel=1e-12)
    # the same from the component function directly
    v = 0.5 * x.abs()
    assert float(array_read_energy(v, g_row, 10e-9)) == pytest.approx(float(want), rel=1e-12)
    # DAC: one conversion per non-zero row code and vector (3 + 1), one output tile
    assert float(r["energy"]["dac"][0]) == pytest.approx(4 * 3e-15, rel=1e-12)
    # ADC: FOM * 2^bits per conversion, 2 vectors x 2 columns, SAR 8 bit
    assert float(r["energy"]["adc"][0]) == pytest.approx(2 * 2 * 5e-15 * 256, rel=1e-12)


def test_array_energy_scales_with_input_activity():
    torch.manual_seed(1)
    lay = _layer(torch.rand(8, 32) * 2 - 1)
    cfg = CostConfig(technology=CostTechnology(**TECH))
    x = torch.rand(16, 32, dtype=torch.float64) * 0.99
    e1 = layer_cost_tensors(lay, x, cfg)["energy"]
    # fixed DAC scaling: halving every input quarters the array energy (V^2) up to code rounding
    e2 = layer_cost_tensors(lay, x / 2, cfg)["energy"]
    assert float(e2["array"][0] / e1["array"][0]) == pytest.approx(0.25, rel=0.02)
    # zeroing half the rows: drivers count only driven rows
    xz = x.clone()
    xz[:, 16:] = 0
    e3 = layer_cost_tensors(lay, xz, cfg)["energy"]
    assert float(e3["dac"][0]) < 0.55 * float(e1["dac"][0])
    # bit-serial: array energy proportional to the set bits of the codes
    cfg_bs = CostConfig(technology=CostTechnology(**TECH), inputs=BitSerialInput(bits=7))
    xb = torch.full((1, 32), 3 / 127, dtype=torch.float64)  # code 3: two bits set
    xc = torch.full((1, 32), 1 / 127, dtype=torch.float64)  # code 1: one bit set
    eb = layer_cost_tensors(lay, xb, cfg_bs)["energy"]["array"]
    ec = layer_cost_tensors(lay, xc, cfg_bs)["energy"]["array"]
    assert float(eb[0] / ec[0]) == pytest.approx(2.0, rel=1e-12)


def test_energy_is_per_chip_and_follows_the_conductances():
    lay = _layer(torch.rand(4, 16) * 2 - 1, ensemble=3, card="rram_taox")  # d2d and c2c spread, v_read 0.2 V
    cfg = CostConfig(technology=CostTechnology.from_card("rram_40nm"))
    x = torch.rand(5, 16, dtype=torch.float64)
    e = layer_cost_tensors(lay, x, cfg)["energy"]["array"]
    assert e.shape == (3,)
    g = lay.g_now.sum((-3, -2))  # (E, in)
    codes = torch.round(x * 127)
    want = 10e-9 * (0.2 / 127) ** 2 * ((codes**2).sum(0) * g).sum(-1)
    torch.testing.assert_close(e, want, rtol=1e-10, atol=0)
    assert len(set(e.tolist())) == 3  # programming noise: every chip its own


def test_latency_ramp_vs_sar_vs_flash():
    lay = _layer(torch.rand(4, 8) * 2 - 1)
    x = torch.rand(10, 8, dtype=torch.float64)
    lat = {}
    for adc in (SARConverter(bits=6), RampConverter(bits=6), FlashConverter(bits=6)):
        lat[type(adc).__name__] = layer_cost_tensors(
            lay, x, CostConfig(technology=CostTechnology(**TECH), adc=adc, columns_per_adc=4)
        )["latency"]["adc"]
    # 10 vectors x 4 columns on one ADC x steps x 1 ns
    assert float(lat["SARConverter"]) == pytest.approx(10 * 4 * 6 * 1e-9, rel=1e-12)
    assert float(lat["RampConverter"]) == pytest.approx(10 * 4 * 64 * 1e-9, rel=1e-12)
    assert float(lat["FlashConverter"]) == pytest.approx(10 * 4 * 1e-9, rel=1e-12)


def test_tiles_parallel_or_in_sequence():
    cfg = CrossbarConfig.ideal(dac=DAC(8, 1.0))
    lay = TiledAnalogLinear(40, 20, config=cfg, tile=TileMapping(rows=16, cols=8), dtype=torch.float64).eval()
    x = torch.rand(3, 40, dtype=torch.float64)
    par = layer_cost_tensors(lay, x, CostConfig(technology=CostTechnology(**TECH)))
    seq = layer_cost_tensors(lay, x, CostConfig(technology=CostTechnology(**TECH), tiles_parallel=False))
    assert lay.n_tiles == 9
    # tile read time: one ADC per column -> 1 conversion per ADC (8-bit SAR: 8 ns), overlapping
    # the 10 ns pulse: 2 ns of array time per vector left
    assert float(par["latency"]["array"]) == pytest.approx(3 * 2e-9, rel=1e-12)
    assert float(seq["latency"]["array"]) == pytest.approx(9 * 3 * 2e-9, rel=1e-12)
    assert float(par["latency"]["adc"]) == pytest.approx(3 * 8e-9, rel=1e-12)
    # partial sums: 2 extra input tiles per output, 20 outputs, 16-bit adders
    assert float(par["energy"]["partial_sum"][0]) == pytest.approx(3 * 2 * 20 * 16 * 1e-15, rel=1e-12)
    # energies do not depend on the schedule
    for c in par["energy"]:
        torch.testing.assert_close(par["energy"][c], seq["energy"][c])


def test_conversions_overlap_the_read_pulse():
    lay = _layer(torch.rand(16, 8) * 2 - 1)
    x = torch.rand(5, 8, dtype=torch.float64)

    def lat(cols, overlap):
        r = layer_cost_tensors(
            lay,
            x,
            CostConfig(
                technology=CostTechnology(**TECH), adc=SARConverter(bits=4), columns_per_adc=cols, overlap_pulse=overlap
            ),
        )["latency"]
        return float(r["array"]), float(r["adc"])

    # 10 ns pulse; SAR 4 bits = 4 ns per conversion; 2 columns per ADC: 8 ns hidden in the pulse
    assert lat(2, True) == pytest.approx((5 * 2e-9, 5 * 8e-9), rel=1e-12)
    # 4 columns: 16 ns of conversions, the pulse is covered entirely
    assert lat(4, True) == pytest.approx((0.0, 5 * 16e-9), abs=1e-20)
    assert lat(4, False) == pytest.approx((5 * 10e-9, 5 * 16e-9), rel=1e-12)


def test_gradient_in_continuous_fields():
    lay = _layer(torch.rand(4, 8) * 2 - 1)
    x = torch.rand(6, 8, dtype=torch.float64)

    def total(t_read, fom, v_read):
        tech = CostTechnology(**{**TECH, "t_read": t_read, "adc_fom": fom})
        r = layer_cost_tensors(lay, x, CostConfig(technology=tech, v_read=v_read))
        return sum(v.sum() for v in r["energy"].values()) + sum(r["latency"].values())

    args = tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (10e-9, 5e-15, 0.3))
    assert torch.autograd.gradcheck(
        lambda a, b, c: total(a * 1e-8, b * 1e-15, c),
        (args[0].detach().mul(1e8).requires_grad_(), args[1].detach().mul(1e15).requires_grad_(), args[2]),
    )
    t = args[2].detach().requires_grad_()
    e = layer_cost_tensors(lay, x, CostConfig(technology=CostTechnology(**TECH), v_read=t))["energy"]["array"]
    e.sum().backward()
    assert float(t.grad) == pytest.approx(2 * float(e.detach().sum()) / 0.3, rel=1e-10)  # E ~ v^2


def test_model_cost_dataset_has_units_and_layers():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(-3), nn.Linear(4 * 6 * 6, 10))
    cfg = CrossbarConfig.from_card("rram_40nm", dac=DAC(8, 1.0), adc=ADC(8, 12.0))
    analog, _ = convert(
        net, cfg, tile=TileMapping(rows=64, cols=64), ensemble=2, generator=torch.Generator().manual_seed(0)
    )
    ds = model_cost(analog.eval(), torch.rand(2, 1, 8, 8), CostConfig(technology=CostTechnology.from_card("rram_40nm")))
    assert list(ds["layer"].values) == ["0", "3"]
    assert ds["energy"].dims == ("ensemble", "layer", "energy_component")
    assert int(ds["vectors"].sel(layer="0")) == 2 * 36
    for name in list(ds.data_vars) + list(ds.coords):
        assert ds[name].attrs.get("units") and ds[name].attrs.get("long_name"), name
    assert float(ds["energy_total"].min()) > 0 and float(ds["area_total"]) > 0
    # one layer alone, on the input the model gave it, costs what the model's record says
    x1 = torch.rand(2, 1, 8, 8)
    whole = model_cost(analog, x1, CostConfig(technology=CostTechnology.from_card("rram_40nm")))
    alone = layer_cost(analog[0], x1, CostConfig(technology=CostTechnology.from_card("rram_40nm")))
    assert whole["energy"].sel(layer="0").values.tolist() == alone["energy"].isel(layer=0).values.tolist()
    # area of the array: devices x 48 F^2
    devices = 2 * 4 * 9 + 2 * 10 * 144
    assert float(ds["area"].sel(layer=["0", "3"], area_component="array").sum()) == pytest.approx(
        devices * 48 * (40e-9) ** 2, rel=1e-12
    )


def test_bad_input():
    with pytest.raises(ValueError, match="t_read"):
        CostTechnology(**{**TECH, "t_read": -1.0})
    with pytest.raises(ValueError, match="no \\[cost\\] section"):
        CostTechnology.from_card("pcm_aihwkit")
    with pytest.raises(TypeError, match="adc"):
        CostConfig(technology=CostTechnology(**TECH), adc="sar")
    with pytest.raises(ValueError, match="weight_slices"):
        CostConfig(technology=CostTechnology(**TECH), weight_slices=0)
    lay = AnalogLinear(4, 2, config=CrossbarConfig.ideal()).eval()
    cfg = CostConfig(technology=CostTechnology(**TECH), inputs=BitSerialInput(bits=8))
    with pytest.raises(ValueError, match="integer DAC codes"):
        layer_cost_tensors(lay, torch.rand(3, 4) + 0.1, cfg)
    with pytest.raises(ValueError, match="in_features=4"):
        layer_cost_tensors(lay, torch.rand(3, 5), CostConfig(technology=CostTechnology(**TECH)))
    with pytest.raises(ValueError, match="bits"):
        layer_cost_tensors(
            _layer(torch.rand(2, 4)),
            torch.ones(1, 4, dtype=torch.float64),
            CostConfig(technology=CostTechnology(**TECH), inputs=BitSerialInput(bits=4)),
        )
    with pytest.raises(TypeError, match="convolutions"):
        layer_cost_tensors(nn.Linear(3, 3), torch.rand(1, 3), CostConfig(technology=CostTechnology(**TECH)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("abs_max", [False, True])
@pytest.mark.parametrize("bit_serial", [False, True])
def test_row_activity_fast_pass_equals_reference(dtype, abs_max, bit_serial):
    from physnn.crossbar.cost.row_activity import row_activity, row_activity_reference

    g = torch.Generator().manual_seed(3)
    xt = (torch.rand(2, 37, 3, 20, generator=g, dtype=dtype) * 2 - 1) * 1.3  # some codes clamp
    xt[:, :5] = 0
    levels, step = 127.0, 1 / 127
    div = (xt.abs().amax(-1, keepdim=True).clamp(min=1e-30) * step) if abs_max else step
    a = row_activity(xt, div, levels, bit_serial, 7)
    b = row_activity_reference(xt, div, levels, bit_serial, 7)
    for u, v in zip(a, b):
        assert torch.equal(u, v)


def test_layer_cost_fast_equals_reference_path():
    lay = TiledAnalogLinear(
        300,
        40,
        config=CrossbarConfig.ideal(dac=DAC(8, 1.0), input_scaling="abs_max"),
        tile=TileMapping(rows=128, cols=16),
        ensemble=2,
        generator=torch.Generator().manual_seed(0),
    )
    lay.eval().program()
    x = torch.randn(2, 9, 300)
    for inputs in (AmplitudeInput(), BitSerialInput(bits=7)):
        a = layer_cost_tensors(lay, x, CostConfig(technology=CostTechnology(**TECH), inputs=inputs))
        b = layer_cost_tensors(lay, x, CostConfig(technology=CostTechnology(**TECH), inputs=inputs, fast=False))
        for c in a["energy"]:
            assert torch.equal(a["energy"][c], b["energy"][c]), c


def test_row_activity_refuses_non_finite_input():
    from physnn.crossbar.cost.row_activity import row_activity

    xt = torch.rand(1, 4, 1, 8)
    xt[0, 2, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        row_activity(xt, 1 / 127, 127.0, True, 7)


def test_row_activity_serial_and_parallel_agree():
    from physnn.crossbar.cost.row_activity import row_activity, row_activity_reference

    xt = torch.rand(1, 50, 2, 16, generator=torch.Generator().manual_seed(5))
    want = row_activity_reference(xt, 1 / 255, 255.0, True, 8)
    before = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            for par in (False, True):
                for u, v in zip(row_activity(xt, 1 / 255, 255.0, True, 8, parallel=par), want):
                    assert torch.equal(u, v)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bit_serial", [True, False])
def test_row_activity_of_a_transposed_view_and_wide_codes_equals_reference(dtype, bit_serial):
    # the layout of an unfolded convolution input (vectors innermost) and 16-bit codes (c^2 near 2**30)
    from physnn.crossbar.cost.row_activity import row_activity, row_activity_reference

    g = torch.Generator().manual_seed(11)
    xt = (torch.rand(2, 3, 16, 40, generator=g, dtype=dtype) * 2.2 - 1.1).permute(0, 3, 1, 2)  # (2, 40, 3, 16)
    levels = 32767.0
    for div in (1 / levels, xt.abs().amax(-1, keepdim=True).clamp(min=1e-30) / levels):
        a = row_activity(xt, div, levels, bit_serial, 15)
        b = row_activity_reference(xt, div, levels, bit_serial, 15)
        for u, v in zip(a, b):
            assert torch.equal(u, v)


def test_pareto_front_keeps_only_undominated_points():
    from physnn.crossbar.cost import pareto_front

    energy = [1.0, 2.0, 2.0, 3.0, 0.5, float("nan"), 1.0]
    acc = [0.8, 0.9, 0.85, 0.9, 0.5, 0.99, 0.8]
    # (2, 0.85) is dominated by (2, 0.9); (3, 0.9) by (2, 0.9); equal points (1, 0.8) both stay
    assert pareto_front(energy, acc).tolist() == [True, True, False, False, True, False, True]
    with pytest.raises(ValueError, match="cost, quality"):
        pareto_front([1.0, 2.0], [1.0])


def test_pareto_plot_returns_its_axes():
    from matplotlib.figure import Figure

    from physnn.plot import pareto

    ax = Figure().subplots()
    pts = [
        {"energy_J": e, "accuracy": a, "name": str(i)}
        for i, (e, a) in enumerate([(1e-9, 0.8), (2e-9, 0.9), (3e-9, 0.85)])
    ]
    assert pareto(pts, ax=ax, label="name") is ax
    assert len(ax.lines) == 1 and list(ax.lines[0].get_xdata()) == [1e-9, 2e-9]


def test_sliced_layer_costs_its_slices():
    from physnn.crossbar.bit_slicing import BitSlicing, SlicedAnalogLinear

    torch.manual_seed(0)
    lin = torch.nn.Linear(12, 5).double()
    cfg = CrossbarConfig.ideal(dac=DAC(8, 1.0))
    sl = SlicedAnalogLinear.from_linear(lin, config=cfg, slicing=BitSlicing(weight_slices=3, bits_per_slice=2)).eval()
    x = torch.rand(7, 12, dtype=torch.float64)
    tech = CostTechnology(**TECH)
    got = layer_cost_tensors(sl, x, CostConfig(technology=tech))
    parts = [layer_cost_tensors(s, x, CostConfig(technology=tech)) for s in sl.slices]
    # every slice's devices dissipate, every slice column converts
    for c in ("array", "dac", "adc", "sense_amp"):
        torch.testing.assert_close(got["energy"][c], sum(p["energy"][c] for p in parts), rtol=1e-12, atol=0)
    # the 3 slice outputs of each of the 5 outputs combine in 2 additions (16 bits each)
    assert float(got["energy"]["shift_add"][0]) == pytest.approx(7 * 5 * 2 * 16 * 1e-15, rel=1e-12)
    torch.testing.assert_close(got["area"]["array"], sum(p["area"]["array"] for p in parts))
    with pytest.raises(ValueError, match="weight_slices"):
        layer_cost_tensors(sl, x, CostConfig(technology=tech, weight_slices=2))
