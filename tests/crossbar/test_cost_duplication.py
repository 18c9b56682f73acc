"""Weight duplication, pipelined accumulation, bus latency and layer pipelines of the cost model:
analytic latencies, energy conservation across copies, NeuroSim's pipeline speed-up rule, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from physnn.crossbar import DAC, AnalogLinear, CrossbarConfig, convert
from physnn.crossbar.cost import (
    BitSerialInput,
    CostConfig,
    CostTechnology,
    SARConverter,
    duplicated_vectors,
    layer_cost_tensors,
    model_cost,
    pipeline_copies,
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
    dac_area=2e-12,
    adder_area_per_bit=1e-12,
    programming_energy_per_pulse=4e-12,
    programming_pulse_width=100e-9,
)


def _layer(out_f=4, in_f=8, seed=0):
    cfg = CrossbarConfig.ideal(dac=DAC(8, 1.0), w_max=1.0)
    torch.manual_seed(seed)
    lay = AnalogLinear(
        in_f, out_f, bias=False, config=cfg, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    with torch.no_grad():
        lay.weight.copy_(torch.rand(out_f, in_f, dtype=torch.float64) * 2 - 1)
    return lay.eval().program()


def _cfg(**kw):
    return CostConfig(technology=CostTechnology(**TECH), **kw)


def test_duplicated_vectors_and_bad_input():
    assert duplicated_vectors(12, 4) == 3
    assert duplicated_vectors(12, 5) == 3
    assert duplicated_vectors(0, 3) == 0
    assert duplicated_vectors(7, 1) == 7
    with pytest.raises(ValueError, match="copies"):
        duplicated_vectors(4, 0)
    with pytest.raises(ValueError, match="vectors"):
        duplicated_vectors(-1, 2)


@pytest.mark.parametrize("copies", [2, 3, 4, 5])
def test_latency_of_a_duplicated_layer_is_vectors_over_copies(copies):
    lay = _layer()
    x = torch.rand(12, 8, dtype=torch.float64)
    kw = dict(adc=SARConverter(bits=4), columns_per_adc=4, weight_slices=4)
    one = layer_cost_tensors(lay, x, _cfg(**kw))
    dup = layer_cost_tensors(lay, x, _cfg(weight_copies=copies, **kw))
    per_vec_adc = float(one["latency"]["adc"]) / 12
    assert per_vec_adc == pytest.approx(4 * 4e-9, rel=1e-12)  # 16 columns on 4 ADCs: 4 conversions x 4-bit SAR
    nc = math.ceil(12 / copies)
    assert float(dup["latency"]["adc"]) == pytest.approx(nc * per_vec_adc, rel=1e-12)
    assert float(dup["latency"]["shift_add"]) == pytest.approx(nc * 2 * 1e-9, rel=1e-12)  # 4 slices: 2 stages
    # shared buffer, interconnect and partial sums: not faster
    for c in ("buffer", "partial_sum", "interconnect"):
        assert float(dup["latency"][c]) == float(one["latency"][c])
    # energy conservation: every vector is read once, by one copy
    for c in one["energy"]:
        torch.testing.assert_close(dup["energy"][c], one["energy"][c], rtol=0, atol=0)
    # every copy has its cells, drivers, ADCs and shift-adders, and is programmed
    for c in ("array", "dac", "adc", "shift_add"):
        assert float(dup["area"][c]) == pytest.approx(copies * float(one["area"][c]), rel=1e-12)
    assert float(dup["area"]["buffer"]) == float(one["area"]["buffer"])
    assert float(dup["programming_energy"]) == pytest.approx(copies * float(one["programming_energy"]), rel=1e-12)


def test_pipelined_accumulation():
    lay = _layer()
    x = torch.rand(6, 8, dtype=torch.float64)
    # 7 input cycles x 4 slices = 28 partial results per output: 5 adder stages = 5 ns per vector
    kw = dict(inputs=BitSerialInput(bits=7), weight_slices=4, adc=SARConverter(bits=4))
    seq = layer_cost_tensors(lay, x, _cfg(**kw))["latency"]
    assert float(seq["shift_add"]) == pytest.approx(6 * 5e-9, rel=1e-12)
    # pipelined behind the next vector's read (7 cycles x 10 ns pulse): only the last vector's drain is left
    ovl = layer_cost_tensors(lay, x, _cfg(overlap_accumulation=True, **kw))["latency"]
    assert float(ovl["shift_add"]) == pytest.approx(5e-9, rel=1e-12)
    assert float(ovl["adc"]) == float(seq["adc"])
    # a read shorter than the adder tree (1 ns pulse, 1-bit conversions, one ADC per column, one
    # amplitude cycle, 32 slices: 5 stages): each vector stalls 5 - 1 ns, the last drains 5 ns
    tech = CostTechnology(**{**TECH, "t_read": 1e-9})
    cfg2 = CostConfig(technology=tech, weight_slices=32, adc=SARConverter(bits=1), overlap_accumulation=True)
    r = layer_cost_tensors(lay, x, cfg2)["latency"]
    assert float(r["adc"]) + float(r["array"]) == pytest.approx(6 * 1e-9, rel=1e-12)
    assert float(r["shift_add"]) == pytest.approx(6 * 4e-9 + 5e-9, rel=1e-12)


def test_interconnect_latency_moves_the_counted_bits():
    lay = _layer()
    x = torch.rand(5, 8, dtype=torch.float64)
    none = layer_cost_tensors(lay, x, _cfg())["latency"]["interconnect"]
    assert float(none) == 0.0
    r = layer_cost_tensors(lay, x, _cfg(interconnect_width=32))
    bits = 5 * (8 + 4) * 8  # inputs in, outputs out, 8-bit activations
    assert float(r["latency"]["interconnect"]) == pytest.approx(math.ceil(bits / 32) * 1e-9, rel=1e-12)
    with pytest.raises(ValueError, match="interconnect_width"):
        _cfg(interconnect_width=0)
    with pytest.raises(ValueError, match="weight_copies"):
        _cfg(weight_copies=0)
    with pytest.raises(TypeError, match="overlap_accumulation"):
        _cfg(overlap_accumulation=1)


def test_pipeline_copies_is_neurosims_speed_up_rule():
    # VGG-8 on 32x32 CIFAR images: output pixels 32^2, 32^2, 16^2, 16^2, 8^2, 8^2, then two linear
    # layers; NeuroSim (speedUpDegree 8 per side = 64, clipped to 32/8 = 4 per side = 16) gives
    # ceil((H / 8)^2) = 16, 16, 4, 4, 1, 1, 1, 1 (Chip.cpp, ChipDesignInitialize)
    vec = {"c1": 1024, "c2": 1024, "c3": 256, "c4": 256, "c5": 64, "c6": 64, "f1": 1, "f2": 1}
    assert pipeline_copies(vec, 64) == {"c1": 16, "c2": 16, "c3": 4, "c4": 4, "c5": 1, "c6": 1, "f1": 1, "f2": 1}
    # a smaller degree: bound ceil(1024 / 4) = 256 vectors per copy
    assert pipeline_copies(vec, 4) == {"c1": 4, "c2": 4, "c3": 1, "c4": 1, "c5": 1, "c6": 1, "f1": 1, "f2": 1}
    # balance: with the copies, no layer reads more vectors per copy than the bound
    cp = pipeline_copies(vec, 64)
    assert max(duplicated_vectors(n, cp[k]) for k, n in vec.items()) == 64
    with pytest.raises(ValueError, match="speed_up"):
        pipeline_copies(vec, 0)
    with pytest.raises(ValueError, match="vectors"):
        pipeline_copies({"a": 0}, 4)


def test_layer_pipeline_and_per_layer_copies():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    model, _ = convert(net, CrossbarConfig.ideal(dac=DAC(8, 1.0)), generator=torch.Generator().manual_seed(0))
    model.eval()
    x = torch.rand(10, 8)
    seq = model_cost(model, x, _cfg())
    per_layer = seq["latency"].sum("latency_component")
    assert float(seq["latency_total"]) == pytest.approx(float(per_layer.sum()), rel=1e-12)
    pip = model_cost(model, x, _cfg(layer_pipeline=True))
    assert float(pip["latency_total"]) == pytest.approx(float(per_layer.max()), rel=1e-12)
    names = [str(n) for n in seq["layer"].values]
    dup = model_cost(model, x, _cfg(), layer_configs={names[0]: _cfg(weight_copies=5)})
    assert list(dup["weight_copies"].values) == [5, 1]
    a1 = float(seq["latency"].sel(layer=names[0], latency_component="adc"))
    assert float(dup["latency"].sel(layer=names[0], latency_component="adc")) == pytest.approx(a1 * 2 / 10, rel=1e-12)
    torch.testing.assert_close(torch.as_tensor(dup["energy"].values), torch.as_tensor(seq["energy"].values))
    with pytest.raises(ValueError, match="not analog layers"):
        model_cost(model, x, _cfg(), layer_configs={"nope": _cfg()})
    with pytest.raises(ValueError, match="layer_pipeline"):
        model_cost(model, x, _cfg(), layer_configs={names[0]: _cfg(layer_pipeline=True)})
