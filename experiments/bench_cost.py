"""Chip cost of VGG-8 / CIFAR-10 on 22 nm RRAM against DNN+NeuroSim's published breakdown (issue 25).

Reference: the DNN+NeuroSim V1.4 release regression data, ``Data/1.4_Release_test.csv`` of
github.com/neurosim/DNN_NeuroSim_V1.4 (commit 9e6742cd777b63f68ca56e3b60f774967b4b3c1f), row 1;
its columns are the ones ``Inference_pytorch/NeuroSIM/main.cpp`` (commit 0e3bff12746b) writes:
technode 22, operationmode 2 (conventional parallel), memcelltype 2 (RRAM), accesstype 1 (1T1R),
sub-arrays 128 x 128, all 128 rows in parallel, 1-bit cells (8-bit weights over 8 cells), 4-bit
multi-level sense amplifier (levelOutput 16), current mode, on/off ratio 17, input toggle rate
0.18 (its value for VGG-8 on CIFAR-10), 8-bit activations applied bit-serially; numComputation
1.23184e9 (= 2 x the MACs of the VGG-8 below). NeuroSim's own Param.cpp gives the device and
design numbers the card ``rram_neurosim_22nm`` copies (0.5 V / 10 ns read, 100 kOhm, 1 GHz,
8 columns per ADC, 48 F^2 cells at F = 40 nm); the periphery energies on that card are
independent published figures, not fitted to NeuroSim.

Mapping of the components (NeuroSim's summary groups -> physnn's):

* "ADC (or S/As and precharger)" readDynamicEnergy, which includes the cells' current (NeuroSim
  maintainers, DNN_NeuroSim_V2.1 issue 2) -> ``array + adc + sense_amp``;
* "Accumulation Circuits" (adders, shift-adds, accumulation units) -> ``shift_add + partial_sum``;
* "Other Peripheries" (decoders, mux, switch matrix, buffers, interconnect, pooling,
  activation) -> ``dac + buffer + interconnect``; its parts "buffer" and "ic" are compared too.
* Latency: "ADC" -> ``adc``; "Accumulation" -> ``shift_add + partial_sum``; "Other" -> ``array +
  buffer`` (physnn has no interconnect latency; layers run one after another as NeuroSim's
  layer-by-layer mode, tiles of a layer in parallel).

The network (NeuroSim's VGG8: 3x3 'same' convolutions 128, 128, pool, 256, 256, pool, 512, 512,
pool, linear 8192-1024-10, no bias) is converted on 128-row tiles of 16 weight columns (x 8 slices
= 128 physical columns). No data is needed: every layer reads a random input of its shape whose
8-bit codes have each bit set with probability 0.18 (the stated toggle rate), one image.

``cost_overhead``: time of a forward of the converted VGG-8 with cost recording over the same
forward without (2 torch threads, A/B alternated, medians), minus 1.

Usage: ``python experiments/bench_cost.py [--quick] [--seed N] [--threads T]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _publish import publish  # noqa: E402
from _timing import interleaved  # noqa: E402

import xarray as xr  # noqa: E402

from physnn.crossbar import ADC, DAC, CrossbarConfig, TileMapping, analog_layers, convert  # noqa: E402
from physnn.crossbar.cost import (BitSerialInput, CostConfig, CostRecorder, CostTechnology,  # noqa: E402
                                  FlashConverter, layer_cost)
from physnn.crossbar.mapping import ReferenceColumn  # noqa: E402

#: DNN+NeuroSim V1.4, Data/1.4_Release_test.csv row 1 (see the module doc); energies pJ, times ns
NEUROSIM = {
    "source": "github.com/neurosim/DNN_NeuroSim_V1.4 Data/1.4_Release_test.csv (commit 9e6742c) row 1; "
              "columns per Inference_pytorch/NeuroSIM/main.cpp (commit 0e3bff1)",
    "energy_pJ": {"total": 4.20048e7, "adc": 2.1612e7, "accumulation": 3.57428e6, "other": 1.68186e7,
                  "buffer": 203455.0, "interconnect": 6.09182e6},
    "latency_ns": {"total": 194225.0, "adc": 8032.31, "accumulation": 3325.04, "other": 184876.0,
                   "buffer": 136858.0, "interconnect": 47868.9},
    "area_um2": {"total": 8.47747e7, "array": 3.60536e6, "adc": 5.06475e6, "accumulation": 1.50639e7},
    "ops": 1.23184e9,
}


def vgg8() -> nn.Sequential:
    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.ReLU()]
    return nn.Sequential(*conv(3, 128), *conv(128, 128), nn.MaxPool2d(2), *conv(128, 256), *conv(256, 256),
                         nn.MaxPool2d(2), *conv(256, 512), *conv(512, 512), nn.MaxPool2d(2), nn.Flatten(-3),
                         nn.Linear(8192, 1024, bias=False), nn.ReLU(), nn.Linear(1024, 10, bias=False))


def activity_input(shape, p: float, bits: int, gen: torch.Generator) -> torch.Tensor:
    """Values ``code / (2**bits - 1)`` whose ``bits``-bit codes have each bit set with probability ``p``."""
    b = (torch.rand((*shape, bits), generator=gen) < p).to(torch.int64)
    codes = (b * (2 ** torch.arange(bits))).sum(-1)
    return codes.to(torch.float32) / (2 ** bits - 1)


def ratio(a: float, b: float) -> float:
    return float(a) / float(b)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer timing samples (smoke test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)

    card = "rram_neurosim_22nm"
    base = CrossbarConfig.from_card(card)
    xcfg = CrossbarConfig.from_card(card, mapping=ReferenceColumn(base.range), dac=DAC(9, 1.0), adc=ADC(8, 64.0),
                                    drift_compensation=False)
    model, _ = convert(vgg8(), xcfg, tile=TileMapping(rows=128, cols=16), generator=gen)
    model.eval()
    cost = CostConfig(technology=CostTechnology.from_card(card), adc=FlashConverter(bits=4),
                      inputs=BitSerialInput(bits=8), weight_slices=8, columns_per_adc=8, tiles_parallel=True,
                      activation_bits=8, accumulator_bits=16)

    # --- cost per layer, each on a random input of its shape with the stated activity
    layers = analog_layers(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, a, n=n: shapes.__setitem__(n, tuple(a[0].shape)))
             for n, m in layers]
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    t0 = time.perf_counter()
    parts = [layer_cost(m, activity_input(shapes[n], 0.18, 8, gen), cost).assign_coords(layer=[n])
             for n, m in layers]
    t_cost = time.perf_counter() - t0
    ds = xr.concat(parts, "layer", data_vars="all")
    e = ds["energy"].sum("layer")
    lat = ds["latency"].sum("layer")
    area = ds["area"].sum("layer")
    E = {c: float(e.sel(energy_component=c)) * 1e12 for c in e["energy_component"].values}     # pJ
    L = {c: float(lat.sel(latency_component=c)) * 1e9 for c in lat["latency_component"].values}  # ns
    A = {c: float(area.sel(area_component=c)) * 1e12 for c in area["area_component"].values}    # um^2
    mine_e = {"adc": E["array"] + E["adc"] + E["sense_amp"], "accumulation": E["shift_add"] + E["partial_sum"],
              "other": E["dac"] + E["buffer"] + E["interconnect"], "buffer": E["buffer"],
              "interconnect": E["interconnect"]}
    mine_e["total"] = mine_e["adc"] + mine_e["accumulation"] + mine_e["other"]
    mine_l = {"adc": L["adc"], "accumulation": L["shift_add"] + L["partial_sum"], "other": L["array"] + L["buffer"],
              "buffer": L["buffer"]}
    mine_l["total"] = mine_l["adc"] + mine_l["accumulation"] + mine_l["other"]
    ref_e, ref_l = NEUROSIM["energy_pJ"], NEUROSIM["latency_ns"]
    print(f"{'energy (pJ)':<14}{'physnn':>14}{'NeuroSim':>14}{'ratio':>8}")
    for c in mine_e:
        print(f"{c:<14}{mine_e[c]:>14.4g}{ref_e[c]:>14.4g}{mine_e[c] / ref_e[c]:>8.3f}")
    print(f"{'latency (ns)':<14}{'physnn':>14}{'NeuroSim':>14}{'ratio':>8}")
    for c in mine_l:
        print(f"{c:<14}{mine_l[c]:>14.4g}{ref_l[c]:>14.4g}{mine_l[c] / ref_l[c]:>8.3f}")
    print("physnn energy parts (pJ):", {k: round(v, 1) for k, v in E.items()})
    print("physnn latency parts (ns):", {k: round(v, 1) for k, v in L.items()})
    print("physnn area parts (um^2):", {k: round(v, 1) for k, v in A.items()})
    print(f"cost evaluation of all layers: {t_cost:.2f} s")

    # --- overhead of cost recording on a forward (same input, A/B alternated)
    xin = activity_input((1, 3, 32, 32), 0.18, 8, gen)
    rec = CostRecorder(model, cost)

    def plain():
        with torch.no_grad():
            model(xin)

    def costed():
        with rec, torch.no_grad():
            model(xin)

    ta, tb = interleaved(plain, costed, repeats=3 if args.quick else 9, warmup=2)
    overhead = statistics.median(b / a for a, b in zip(ta, tb)) - 1.0
    print(f"forward {statistics.median(ta) * 1e3:.1f} ms, with cost {statistics.median(tb) * 1e3:.1f} ms, "
          f"overhead {overhead * 100:.1f} % (load {os.getloadavg()[0]:.2f})")

    comp_e = {f"neurosim_energy_ratio_{c}": round(ratio(mine_e[c], ref_e[c]), 4)
              for c in ("adc", "accumulation", "other", "buffer", "interconnect")}
    comp_l = {f"neurosim_latency_ratio_{c}": round(ratio(mine_l[c], ref_l[c]), 4)
              for c in ("adc", "accumulation", "other", "buffer")}
    figures = {
        "neurosim_energy_ratio": round(ratio(mine_e["total"], ref_e["total"]), 4),
        "neurosim_latency_ratio": round(ratio(mine_l["total"], ref_l["total"]), 4),
        **comp_e, **comp_l,
        "neurosim_latency_ratio_interconnect": None,
        "neurosim_area_ratio_array": round(ratio(A["array"], NEUROSIM["area_um2"]["array"]), 4),
        "neurosim_area_ratio_adc": round(ratio(A["adc"], NEUROSIM["area_um2"]["adc"]), 4),
        "cost_overhead": round(overhead, 4),
        "physnn_energy_pJ": round(mine_e["total"], 1),
        "physnn_latency_ns": round(mine_l["total"], 1),
        "neurosim_reference": NEUROSIM["source"],
        "pareto_points": None,
        "pareto_points_reason": "not built: the accuracy-vs-energy sweep (issue 25 item 4) is not part of this delivery",
        "neurosim_latency_ratio_interconnect_reason": "physnn models no interconnect latency",
    }
    publish("bench_cost", figures, quick=args.quick)


if __name__ == "__main__":
    main()
