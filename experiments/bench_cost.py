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
  buffer + interconnect``; its parts "buffer" and "ic" too. NeuroSim ran its default pipelined
  mode (Param.cpp at the data's commit: ``pipeline = true``, ``speedUpDegree = 8``): its chip
  latency is the slowest layer's and each component the largest over layers (main.cpp); physnn
  runs the same design (``CostConfig(layer_pipeline=True)``, weight copies per layer by
  :func:`physnn.crossbar.cost.pipeline_copies`, shift-adds pipelined with the sensing, NeuroSim's
  128-bit buffer port and 2048-bit bus: ``NEUROSIM_DESIGN``), tiles of a layer in parallel.

The network (NeuroSim's VGG8: 3x3 'same' convolutions 128, 128, pool, 256, 256, pool, 512, 512,
pool, linear 8192-1024-10, no bias) is converted on 128-row tiles of 16 weight columns (x 8 slices
= 128 physical columns). No data is needed: every layer reads a random input of its shape whose
8-bit codes have each bit set with probability 0.18 (the stated toggle rate), one image.

Workload: NeuroSim counts (H - k + 1)^2 input vectors per convolution (Chip.cpp ``numInVector``),
not the H^2 output positions of the padded network; the comparison (``neurosim_*`` figures) runs
that count (each convolution reads an input of side H - 2 through its padding: :data:`WORKLOADS`),
the ``neurosim_*_padded`` figures are the padded network's own read (1.38x the conversions).

``cost_overhead``: time of a forward of the converted VGG-8 with cost recording over the same
forward without (2 torch threads, A/B alternated, medians), minus 1.

``pareto_points``: accuracy (digits, 4 chips) and read energy per inference of a 64-32-10 MLP on
PCM (card ``pcm_aihwkit``, read 1 h after programming; periphery numbers of card ``rram_40nm``)
over ADC bits x array rows x weight slicing (8-bit weights on one 256-level device, or on two
16-level devices added digitally, :mod:`physnn.crossbar.bit_slicing`), each marked Pareto-optimal
or not; the figure goes to ``results/bench_cost/pareto.png``. ``slicing_digits``: the same MLP on
unsliced analog PCM against two 4-bit slices (8 chips, 8-bit ADCs). ``neurosim_notes``: why the
two models differ, component by component.

``experiments/chip_cost.py`` (the name issue 25 gives) runs this script.

Usage: ``python experiments/bench_cost.py [--quick] [--seed N] [--threads T] [--out DIR]``
"""

from __future__ import annotations

import argparse
import dataclasses
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

from physnn.crossbar import (
    ADC,
    DAC,
    AnalogLinear,
    CrossbarConfig,
    TileMapping,
    analog_layers,  # noqa: E402
    convert,
)
from physnn.crossbar.bit_slicing import BitSlicing, SlicedAnalogLinear  # noqa: E402
from physnn.crossbar.cost import (
    BitSerialInput,
    CostConfig,
    CostRecorder,
    CostTechnology,  # noqa: E402
    FlashConverter,
    SARConverter,
    layer_cost,
    layer_cost_tensors,
    pareto_front,
    pipeline_copies,
)
from physnn.crossbar.cost.digital import adder_energy  # noqa: E402
from physnn.data.digits import build_digits  # noqa: E402
from physnn.crossbar.mapping import ReferenceColumn  # noqa: E402

#: DNN+NeuroSim V1.4, Data/1.4_Release_test.csv row 1 (see the module doc); energies pJ, times ns
NEUROSIM = {
    "source": "github.com/neurosim/DNN_NeuroSim_V1.4 Data/1.4_Release_test.csv (commit 9e6742c) row 1; "
    "columns per Inference_pytorch/NeuroSIM/main.cpp (commit 0e3bff1)",
    "energy_pJ": {
        "total": 4.20048e7,
        "adc": 2.1612e7,
        "accumulation": 3.57428e6,
        "other": 1.68186e7,
        "buffer": 203455.0,
        "interconnect": 6.09182e6,
    },
    "latency_ns": {
        "total": 194225.0,
        "adc": 8032.31,
        "accumulation": 3325.04,
        "other": 184876.0,
        "buffer": 136858.0,
        "interconnect": 47868.9,
    },
    "area_um2": {"total": 8.47747e7, "array": 3.60536e6, "adc": 5.06475e6, "accumulation": 1.50639e7},
    "ops": 1.23184e9,
}


#: NeuroSim's architecture choices this comparison copies (design parameters of its code, not
#: fitted): Param.cpp of commit 9e6742c (the commit of the regression data): pipeline = true,
#: speedUpDegree = 8 (per feature-map side); globalBufferCoreSizeCol = 128 (bits per buffer-core
#: access); maxGlobalBusWidth = 2048 (the bus width bound, Chip.cpp halves the floorplan's width
#: to it); SubArray.cpp charges its shift-adders once per read (shiftAddInput.CalculateLatency(1)), not
#: once per sensing cycle: they add while the next cycle senses (commit 0e3bff1)
NEUROSIM_DESIGN = {
    "pipeline": True,
    "speed_up_degree": 8,
    "buffer_width_bits": 128,
    "bus_width_bits": 2048,
    "overlap_accumulation": True,
    "source": "github.com/neurosim/DNN_NeuroSim_V1.4 Inference_pytorch/NeuroSIM/Param.cpp (commit 9e6742c), "
    "Chip.cpp (ChipDesignInitialize, ChipFloorPlan, OverallEachLayer; commit 0e3bff1)",
}

#: why physnn and NeuroSim differ, component by component (published in the JSON; none fitted)
NOTES = {
    "design": "both run NeuroSim's design: a layer pipeline (Param.cpp pipeline = true: the chip latency is the "
    "slowest layer's, per component the largest over layers, as main.cpp reports them; energies add up), "
    "weight copies by its speed-up rule (speedUpDegree 8 per side: 16, 16, 4, 4, 1, 1, 1, 1 copies, "
    "cost/duplication.py pipeline_copies = Chip.cpp's pipelineSpeedUp; NeuroSim also copies layer 5 twice "
    "and layer 8 eight times over idle sub-arrays, neither the slowest layer), shift-adds pipelined "
    "with the sensing (SubArray.cpp charges them once per read), a 128-bit buffer port "
    "(globalBufferCoreSizeCol) and a bus of 2048 bits (maxGlobalBusWidth)",
    "vector_count": (
        "the comparison runs NeuroSim's workload (WORKLOADS['neurosim']): NeuroSim's Chip.cpp "
        "(ChipCalculatePerformance, commit 0e3bff1) counts numInVector = (H - k + 1)^2 input vectors per "
        "convolution (30^2, 30^2, 14^2, 14^2, 6^2, 6^2: 2066 with the two linear layers) for every tile "
        "read, buffer and bus transfer and accumulation, although its operation count (numComputation) "
        "uses H^2; the padded network reads H^2 (32^2, 32^2, 16^2, 16^2, 8^2, 8^2: 2690), "
        "neurosim_conversion_count_ratio (1.38) times NeuroSim's conversions. physnn reads an input of "
        "side H - 2 through the same padded convolution to get NeuroSim's count; the *_padded figures "
        "are the padded network's"
    ),
    "adc_latency": (
        "the slowest layer (conv 1 and 2: 900 vectors over 16 copies = 57 per copy) x 8 input cycles x 8 "
        "columns per ADC x one 1 ns conversion (the card's 1 GHz clock) = 3.65 us; NeuroSim: 900 / 16 x 64 "
        "x 2.2312 ns = 8.03 us, its synchronous clock (Param.cpp synchronous = true: the clock is set by the "
        "sensing delay; CSV column clkPeriod, incl. its x1.4 calibration of the sensing cycle): "
        "57/56.25 / 2.2312 = 0.45, outside 2x; physnn's cycle is max(10 ns pulse, 8 conversions) = 10 ns, "
        "NeuroSim's 8 x 2.23 = 17.9 ns. On the padded workload (1024 vectors) 0.51"
    ),
    "accumulation_latency": (
        "shift-adds pipelined with the next vector's read leave one 6-stage drain (6 ns); the "
        "partial sums of conv 2's 9 input tiles are added in the layer's shared accumulation "
        "unit, 4 adder-tree stages per vector for all 900 vectors (copies share it, as NeuroSim's "
        "chip-level accumulation): 3.6 us against NeuroSim's 3.3 us at its 2.23 ns clock"
    ),
    "array_latency": "the read pulse overlaps the conversions of its cycle (max(t_read, q t_conv), cost/latency.py; "
    "NeuroSim's sensing cycle has no separate pulse at all): 2 ns of the 10 ns pulse per cycle "
    "remain as array time",
    "buffer_latency": (
        "physnn: one 128-bit buffer port, conv 2 reads 1152 and writes 128 8-bit activations per "
        "vector: 900 x 80 clocks = 72 us; NeuroSim's 137 us also holds its tile and PE input buffers "
        "(register files of 32 x 32 bits) at 2.23 ns per clock, which physnn does not have, and spreads "
        "its global buffer over up to 16 cores"
    ),
    "interconnect_latency": (
        "the bits the interconnect energy counts (inputs broadcast to conv 2's 8 output tiles, "
        "partial sums from its 9 input tiles: 75 Mbit) over a 2048-bit bus, one clock per word: "
        "36 us; NeuroSim's X-Y bus of at most 2048 bits adds wire delay, at its 2.23 ns clock"
    ),
    "other_latency": "array + buffer + interconnect of the slowest layer; NeuroSim's 'other' adds decoders, switch "
    "matrices, pooling and activation units",
    "adc_energy": "Walden FOM 6.8 fJ/step x 2^4 per 4-bit conversion (survey data) + 5 fJ sense amplifier + the "
    "devices' t V^2 G over the 10 ns pulse; per conversion 1.56x NeuroSim's, whose 15 current-mode "
    "comparators come from its own circuit model and whose cell current is its sense amplifier's over "
    "the sensing time (its array term is bit-line and word-line capacitance only, SubArray.cpp). The "
    "array term uses the read's own devices, one binary cell per weight (bit-sliced conversion is not "
    "available for tiled convolutions; weight_slices = 8 counts the 8 cells' conversions, adders, "
    "cells and area): 8 one-bit cells per weight charged t V^2 G would be ~8 x 10.7 uJ, 4x NeuroSim's "
    "whole ADC group, so physnn does not charge them",
    "accumulation_energy": "63 additions per output and tile (8 cycles x 8 slices) of 16 bits at 1.9 fJ/bit "
    "(Horowitz, halved for 22 nm); per conversion 1.9x NeuroSim's, whose adders and flip-flops "
    "switch with its silicon-calibrated activities (Param.cpp validated: adders 0.15, DFF 0.5)",
    "buffer_energy": (
        "physnn reads the same bits as NeuroSim's global buffer (im2col: numBitToLoadOut = "
        "weightMatrixRow x numBitInput x numInVector, 16.0 Mbit, Chip.cpp) and writes every convolution "
        "output (2.9 Mbit) where NeuroSim writes after its pooling unit (numBitToLoadIn / 4 on layers "
        "followed by max-pool, 1.85 Mbit; physnn has no pooling unit). Per bit: a 2 kB SRAM core (the "
        "design's 128 x 128-bit core) at Horowitz's capacity law, 39 fJ/bit; NeuroSim's buffers are "
        "register files (Param.cpp globalBufferType = tileBufferType = peBufferType = false) whose "
        "per-bit energy is one D flip-flop's switching (DFF.cpp: clock inverters, transmission gates, "
        "D-to-Q path, x 0.5 validated activity) plus the row decoder, and its 0.20 uJ covers its tile and "
        "PE buffers too: at most 11.4 fJ per global-buffer bit"
    ),
    "other_energy": (
        "physnn has no decoders, multiplexers, switch matrices, level shifters, pooling or activation "
        "units, which NeuroSim's 'other peripheries' include: 16.8 uJ of which buffer and interconnect "
        "are 6.3 uJ, so 10.5 uJ (63 %) of the group has no counterpart in physnn"
    ),
    "area": "copies are silicon: the 16 + 16 + 4 + 4 copies raise physnn's cell area to 3.2x NeuroSim's CIM-array "
    "area, which (3.6 mm^2) is below 13.0 M weights x 8 cells x 48 F^2 = 8.0 mm^2 of a single copy",
}


def vgg8() -> nn.Sequential:
    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.ReLU()]

    return nn.Sequential(
        *conv(3, 128),
        *conv(128, 128),
        nn.MaxPool2d(2),
        *conv(128, 256),
        *conv(256, 256),
        nn.MaxPool2d(2),
        *conv(256, 512),
        *conv(512, 512),
        nn.MaxPool2d(2),
        nn.Flatten(-3),
        nn.Linear(8192, 1024, bias=False),
        nn.ReLU(),
        nn.Linear(1024, 10, bias=False),
    )


#: the input vectors a convolution reads, two ways (issue 25's "same configuration" is the same
#: workload): ``padded``, the 'same' convolutions' own output positions (H^2 per layer, what the
#: converted network reads); ``neurosim``, DNN+NeuroSim's count, (H - k + 1)^2 per layer:
#: Chip.cpp (commit 0e3bff1), ChipCalculatePerformance, ``int numInVector = (netStructure[l][0] -
#: netStructure[l][3] + 1) / netStructure[l][7] * (netStructure[l][1] - netStructure[l][4] + 1) /
#: netStructure[l][7]`` (IFM height/width minus kernel height/width plus 1, over the stride), the
#: count every tile read, the buffer and bus traffic and the accumulation of the layer use
#: (``numInVector * param->numBitInput`` input columns per tile; ``numBitToLoadOut =
#: weightMatrixRow * numBitInput * numInVector``). The NeuroSim comparison uses ``neurosim``; both
#: are published.
WORKLOADS = {
    "neurosim": "(H - k + 1)^2 output positions per convolution, NeuroSim's numInVector",
    "padded": "H^2 output positions per 'same' convolution, the converted network's own read",
}


def workload_shape(shape: tuple[int, ...], layer: nn.Module, workload: str) -> tuple[int, ...]:
    """The input shape whose read by ``layer`` has the ``workload``'s number of input vectors (see
    :data:`WORKLOADS`). Under ``neurosim`` a stride-1 convolution of kernel k and padding p, whose
    own input has side H, reads an input of side ``H - 2 p``: ``(H - 2 p) + 2 p - k + 1 = H - k + 1``
    positions per side, NeuroSim's count (its 'same' padding zeros stay at the border, as in the
    padded input NeuroSim's vectors are cut from). Linear layers and ``padded`` keep ``shape``."""
    if workload not in WORKLOADS:
        raise ValueError(f"workload={workload!r}: expected one of {sorted(WORKLOADS)}")
    if workload == "padded" or len(shape) != 4:
        return shape
    pad = layer.padding
    if not isinstance(pad, tuple) or any(s != 1 for s in layer.stride):
        raise ValueError(
            f"workload='neurosim': needs stride 1 and explicit padding, got stride {layer.stride}, padding {pad!r}"
        )
    # output side with padding p: H_in + 2p - k + 1 = H - k + 1  =>  H_in = H - 2p
    return (*shape[:-2], *(h - 2 * p for h, p in zip(shape[-2:], pad)))


def chip_figures(layers, shapes, layer_cfg, pipelined: bool, gen: torch.Generator) -> dict:
    """Per-layer cost of each layer on a random input of ``shapes[name]`` (toggle rate 0.18), and
    the chip figures grouped as NeuroSim's (energies pJ, latencies ns, areas um^2)."""
    parts = [
        layer_cost(m, activity_input(shapes[n], 0.18, 8, gen), layer_cfg[n]).assign_coords(layer=[n]) for n, m in layers
    ]
    ds = xr.concat(parts, "layer", data_vars="all")
    e = ds["energy"].sum("layer")
    # NeuroSim's chip figures: energies add up over layers; a pipelined chip's latencies are the
    # slowest layer's (per component, as its main.cpp reports them), else they add up
    lat = ds["latency"].max("layer") if pipelined else ds["latency"].sum("layer")
    lat_total = float((ds["latency"].sum("latency_component").max("layer") if pipelined else ds["latency"].sum())) * 1e9
    area = ds["area"].sum("layer")
    E = {c: float(e.sel(energy_component=c)) * 1e12 for c in e["energy_component"].values}  # pJ
    L = {c: float(lat.sel(latency_component=c)) * 1e9 for c in lat["latency_component"].values}  # ns
    A = {c: float(area.sel(area_component=c)) * 1e12 for c in area["area_component"].values}  # um^2
    mine_e = {
        "adc": E["array"] + E["adc"] + E["sense_amp"],
        "accumulation": E["shift_add"] + E["partial_sum"],
        "other": E["dac"] + E["buffer"] + E["interconnect"],
        "buffer": E["buffer"],
        "interconnect": E["interconnect"],
    }
    mine_e["total"] = mine_e["adc"] + mine_e["accumulation"] + mine_e["other"]
    if pipelined:  # per component the slowest layer (NeuroSim's MAX over layers)
        Lmax = ds["latency"] * 1e9
        acc = Lmax.sel(latency_component=["shift_add", "partial_sum"]).sum("latency_component").max("layer")
        oth = Lmax.sel(latency_component=["array", "buffer", "interconnect"]).sum("latency_component").max("layer")
        mine_l = {"adc": L["adc"], "accumulation": float(acc), "other": float(oth)}
    else:
        mine_l = {
            "adc": L["adc"],
            "accumulation": L["shift_add"] + L["partial_sum"],
            "other": L["array"] + L["buffer"] + L["interconnect"],
        }
    mine_l["buffer"] = L["buffer"]
    mine_l["interconnect"] = L["interconnect"]
    mine_l["total"] = lat_total
    return {"ds": ds, "E": E, "L": L, "A": A, "mine_e": mine_e, "mine_l": mine_l}


def activity_input(shape, p: float, bits: int, gen: torch.Generator) -> torch.Tensor:
    """Values ``code / (2**bits - 1)`` whose ``bits``-bit codes have each bit set with probability ``p``."""
    b = (torch.rand((*shape, bits), generator=gen) < p).to(torch.int64)
    codes = (b * (2 ** torch.arange(bits))).sum(-1)
    return codes.to(torch.float32) / (2**bits - 1)


# ------------------------------------------------------------------------------------------------
# Accuracy-vs-energy trade-off (issue 25, Deliver 3 and 4): a digits MLP on PCM, sliced or not
# ------------------------------------------------------------------------------------------------
class BlockSliced(nn.Module):
    """A linear layer on arrays of ``rows`` rows: the inputs split into blocks of ``rows``, each
    block a :class:`SlicedAnalogLinear` (its own DAC scaling and ADC), the block outputs added
    digitally (the partial sums of a tiled layer). With a ``CostConfig`` in ``self.cost`` each
    forward adds its cost (J per component, summed over the ensemble mean) to ``self.energy``."""

    def __init__(
        self,
        linear: nn.Linear,
        rows: int,
        config: CrossbarConfig,
        slicing: BitSlicing,
        ensemble: int,
        gen: torch.Generator,
    ):
        super().__init__()
        n = linear.in_features
        self.edges = list(range(0, n, rows)) + [n]
        self.blocks = nn.ModuleList()
        for i, (lo, hi) in enumerate(zip(self.edges[:-1], self.edges[1:])):
            lin = nn.Linear(hi - lo, linear.out_features, bias=(i == 0 and linear.bias is not None))
            with torch.no_grad():
                lin.weight.copy_(linear.weight[:, lo:hi])
                if lin.bias is not None:
                    lin.bias.copy_(linear.bias)
            self.blocks.append(
                SlicedAnalogLinear.from_linear(lin, config=config, slicing=slicing, ensemble=ensemble, generator=gen)
            )
        self.cost: CostConfig | None = None
        self.energy: dict[str, float] = {}

    def forward(self, x):
        y = None
        for blk, lo, hi in zip(self.blocks, self.edges[:-1], self.edges[1:]):
            xb = x[..., lo:hi]
            yb = blk(xb)
            y = yb if y is None else y + yb
            if self.cost is not None:
                for sub in blk.slices:
                    r = layer_cost_tensors(sub, xb, self.cost)
                    for c, v in r["energy"].items():
                        self.energy[c] = self.energy.get(c, 0.0) + float(v.mean())
        if self.cost is not None:  # slice and block outputs combined digitally
            k = len(self.blocks) * len(self.blocks[0].slices)
            vec = x.shape[-2] if x.dim() >= 2 else 1
            e = adder_energy(
                vec * (k - 1) * self.blocks[0].out_features,
                self.cost.accumulator_bits,
                self.cost.technology.adder_energy_per_bit,
            )
            self.energy["partial_sum"] = self.energy.get("partial_sum", 0.0) + float(e)
        return y


def digits_mlp(seed: int) -> tuple[nn.Sequential, object]:
    """A float 64-32-10 MLP trained on digits (inputs scaled to [0, 1]); its hyperparameters are
    fixed (not tuned on the test set)."""
    data = build_digits(seed)
    torch.manual_seed(seed)
    mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(mlp.parameters(), 1e-2)
    xs = data.x_train / 16.0
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(mlp(xs), data.y_train).backward()
        opt.step()
    return mlp, data


def hardware_mlp(
    mlp: nn.Sequential, rows: int, adc_bits: int, slicing: BitSlicing, ensemble: int, seed: int
) -> nn.Sequential:
    """The MLP on PCM arrays (card ``pcm_aihwkit``: programming noise, drift, 1/f read noise) of
    ``rows`` rows, 8-bit abs-max DACs, ``adc_bits`` ADCs of range ``rows / 4`` normalised units (a
    fixed design rule, not tuned), weights sliced as ``slicing``; read 1 h after programming."""
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for m in mlp:
        if isinstance(m, nn.Linear):
            r = min(rows, m.in_features)
            cfg = CrossbarConfig.from_card(
                "pcm_aihwkit", dac=DAC(8, 1.0), adc=ADC(adc_bits, r / 4.0), input_scaling="abs_max"
            )
            layers.append(BlockSliced(m, r, cfg, slicing, ensemble, gen))
        else:
            layers.append(m)
    hw = nn.Sequential(*layers).eval()
    for m in hw:
        if isinstance(m, BlockSliced):
            for b in m.blocks:
                b.set_time(3600.0)
    return hw


def pareto_sweep(seed: int, quick: bool) -> tuple[list[dict], dict]:
    """Accuracy and energy per inference over ADC bits x array rows x weight slicing (8-bit
    weights on one 256-level device or on two 16-level devices), 4 chips each."""
    mlp, data = digits_mlp(seed)
    xt = data.x_test / 16.0
    with torch.no_grad():
        float_acc = float((mlp(xt).argmax(-1) == data.y_test).float().mean())
    tech = CostTechnology.from_card("rram_40nm")
    points = []
    grid_bits = (4, 8) if quick else (4, 5, 6, 8)
    grid_rows = (16, 64) if quick else (16, 32, 64)
    slicings = {
        "1x8b": BitSlicing(weight_slices=1, bits_per_slice=8),
        "2x4b": BitSlicing(weight_slices=2, bits_per_slice=4),
    }
    for bits in grid_bits:
        for rows in grid_rows:
            for sname, sl in slicings.items():
                hw = hardware_mlp(mlp, rows, bits, sl, 4, seed)
                cost = CostConfig(technology=tech, adc=SARConverter(bits=bits), activation_bits=8)
                for m in hw:
                    if isinstance(m, BlockSliced):
                        m.cost = cost
                with torch.no_grad():
                    y = hw(xt)  # (E, N, 10)
                acc = (y.argmax(-1) == data.y_test).float().mean(-1)  # per chip
                energy = sum(sum(m.energy.values()) for m in hw if isinstance(m, BlockSliced)) / xt.shape[0]
                points.append(
                    {
                        "adc_bits": bits,
                        "rows": rows,
                        "slicing": sname,
                        "energy_J": energy,
                        "accuracy": round(float(acc.mean()), 4),
                        "accuracy_std": round(float(acc.std()), 4),
                        "label": f"{bits}b/{rows}r/{sname}",
                    }
                )
    front = pareto_front([p["energy_J"] for p in points], [p["accuracy"] for p in points])
    for p, f in zip(points, front):
        p["pareto"] = bool(f)
        p["energy_J"] = float(f"{p['energy_J']:.4g}")
    # the 2-slice 4-bit PCM layer against the unsliced one (issue 25 target), 8-bit ADC, 64 rows;
    # unsliced = one analog PCM device (pair) per weight, no weight quantisation
    gen = torch.Generator().manual_seed(seed)
    cfg = CrossbarConfig.from_card("pcm_aihwkit", dac=DAC(8, 1.0), adc=ADC(8, 16.0), input_scaling="abs_max")
    un = nn.Sequential(
        AnalogLinear.from_linear(mlp[0], config=cfg, ensemble=8, generator=gen),
        nn.ReLU(),
        AnalogLinear.from_linear(mlp[2], config=dataclasses.replace(cfg, adc=ADC(8, 8.0)), ensemble=8, generator=gen),
    ).eval()
    sl2 = BitSlicing(weight_slices=2, bits_per_slice=4)
    gen = torch.Generator().manual_seed(seed)
    sv = nn.Sequential(
        SlicedAnalogLinear.from_linear(mlp[0], config=cfg, slicing=sl2, ensemble=8, generator=gen),
        nn.ReLU(),
        SlicedAnalogLinear.from_linear(
            mlp[2], config=dataclasses.replace(cfg, adc=ADC(8, 8.0)), slicing=sl2, ensemble=8, generator=gen
        ),
    ).eval()
    for m in (*un, *sv):
        if hasattr(m, "set_time"):
            m.set_time(3600.0)
    with torch.no_grad():
        a_un = (un(xt).argmax(-1) == data.y_test).float().mean(-1)
        a_sl = (sv(xt).argmax(-1) == data.y_test).float().mean(-1)
    slicing_acc = {
        "float": round(float_acc, 4),
        "unsliced_mean": round(float(a_un.mean()), 4),
        "unsliced_std": round(float(a_un.std()), 4),
        "sliced_2x4b_mean": round(float(a_sl.mean()), 4),
        "sliced_2x4b_std": round(float(a_sl.std()), 4),
        "chips": 8,
    }
    return points, slicing_acc


def ratio(a: float, b: float) -> float:
    return float(a) / float(b)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer timing samples (smoke test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "results" / "bench_cost",
        help="folder of the Pareto figure (pareto.png)",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)

    card = "rram_neurosim_22nm"
    base = CrossbarConfig.from_card(card)
    xcfg = CrossbarConfig.from_card(
        card, mapping=ReferenceColumn(base.range), dac=DAC(9, 1.0), adc=ADC(8, 64.0), drift_compensation=False
    )
    model, _ = convert(vgg8(), xcfg, tile=TileMapping(rows=128, cols=16), generator=gen)
    model.eval()
    # NeuroSim's architecture choices (Param.cpp / Chip.cpp, see NEUROSIM_DESIGN): layer pipeline,
    # weight copies by its speed-up rule, shift-adds pipelined with the sensing, 128-bit buffer
    # port, bus of at most 2048 bits
    cost = CostConfig(
        technology=CostTechnology.from_card(card),
        adc=FlashConverter(bits=4),
        inputs=BitSerialInput(bits=8),
        weight_slices=8,
        columns_per_adc=8,
        tiles_parallel=True,
        activation_bits=8,
        accumulator_bits=16,
        layer_pipeline=NEUROSIM_DESIGN["pipeline"],
        overlap_accumulation=NEUROSIM_DESIGN["overlap_accumulation"],
        buffer_width=NEUROSIM_DESIGN["buffer_width_bits"],
        interconnect_width=NEUROSIM_DESIGN["bus_width_bits"],
    )

    # --- cost per layer, each on a random input of its shape with the stated activity
    layers = analog_layers(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, a, n=n: shapes.__setitem__(n, tuple(a[0].shape))) for n, m in layers
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    # the two workloads (see WORKLOADS): the padded network's own output positions, and NeuroSim's
    # count of them, (H - k + 1)^2 per convolution, which the NeuroSim comparison uses
    work = {w: {n: workload_shape(shapes[n], m, w) for n, m in layers} for w in WORKLOADS}
    vectors = {n: shapes[n][-2] * shapes[n][-1] if len(shapes[n]) == 4 else 1 for n, _ in layers}
    copies = (
        pipeline_copies(vectors, NEUROSIM_DESIGN["speed_up_degree"] ** 2)
        if NEUROSIM_DESIGN["pipeline"]
        else {n: 1 for n in vectors}
    )
    layer_cfg = {n: dataclasses.replace(cost, weight_copies=copies[n]) for n, _ in layers}
    t0 = time.perf_counter()
    res = {w: chip_figures(layers, work[w], layer_cfg, cost.layer_pipeline, gen) for w in WORKLOADS}
    t_cost = time.perf_counter() - t0
    for w in WORKLOADS:
        print(
            f"workload {w!r} ({WORKLOADS[w]}): input vectors per layer",
            {n: int(res[w]["ds"]["vectors"].sel(layer=n)) for n, _ in layers},
        )
    # conversions physnn reads on the padded network over the ones NeuroSim counts (each layer's
    # ADC energy is proportional to its conversions, vectors x cycles x columns)
    conv_ratio = res["padded"]["E"]["adc"] / res["neurosim"]["E"]["adc"]
    ref_e, ref_l = NEUROSIM["energy_pJ"], NEUROSIM["latency_ns"]
    for w in WORKLOADS:
        mine_e, mine_l = res[w]["mine_e"], res[w]["mine_l"]
        print(f"--- workload {w!r}" + ("  (the NeuroSim comparison)" if w == "neurosim" else ""))
        print(f"{'energy (pJ)':<14}{'physnn':>14}{'NeuroSim':>14}{'ratio':>8}")
        for c in mine_e:
            print(f"{c:<14}{mine_e[c]:>14.4g}{ref_e[c]:>14.4g}{mine_e[c] / ref_e[c]:>8.3f}")
        print(f"{'latency (ns)':<14}{'physnn':>14}{'NeuroSim':>14}{'ratio':>8}")
        for c in mine_l:
            print(f"{c:<14}{mine_l[c]:>14.4g}{ref_l[c]:>14.4g}{mine_l[c] / ref_l[c]:>8.3f}")
        print("physnn energy parts (pJ):", {k: round(v, 1) for k, v in res[w]["E"].items()})
        print("physnn latency parts (ns):", {k: round(v, 1) for k, v in res[w]["L"].items()})
        print("physnn area parts (um^2):", {k: round(v, 1) for k, v in res[w]["A"].items()})
    print("weight copies per layer:", copies)
    print(f"conversions physnn reads / NeuroSim counts (padding): {conv_ratio:.3f}")
    print(f"cost evaluation of all layers: {t_cost:.2f} s")

    # --- overhead of cost recording on a forward (same input, A/B alternated)
    xin = activity_input((1, 3, 32, 32), 0.18, 8, gen)
    rec = CostRecorder(model, cost, layer_configs=layer_cfg)

    def plain():
        with torch.no_grad():
            model(xin)

    def costed():
        with rec, torch.no_grad():
            model(xin)

    ta, tb = interleaved(plain, costed, repeats=3 if args.quick else 9, warmup=2)
    overhead = statistics.median(b / a for a, b in zip(ta, tb)) - 1.0
    print(
        f"forward {statistics.median(ta) * 1e3:.1f} ms, with cost {statistics.median(tb) * 1e3:.1f} ms, "
        f"overhead {overhead * 100:.1f} % (load {os.getloadavg()[0]:.2f})"
    )

    # --- accuracy-vs-energy trade-off and the sliced PCM layer (digits)
    points, slicing_acc = pareto_sweep(args.seed, args.quick)
    print(f"{'design':<16}{'energy (pJ)':>12}{'accuracy':>10}  pareto")
    for q in points:
        print(f"{q['label']:<16}{q['energy_J'] * 1e12:>12.1f}{q['accuracy']:>10.4f}  {'*' if q['pareto'] else ''}")
    print(
        "digits, 8 chips: float",
        slicing_acc["float"],
        "| unsliced PCM",
        slicing_acc["unsliced_mean"],
        "+-",
        slicing_acc["unsliced_std"],
        "| 2 slices x 4 bit PCM",
        slicing_acc["sliced_2x4b_mean"],
        "+-",
        slicing_acc["sliced_2x4b_std"],
    )
    from matplotlib.figure import Figure

    from physnn.plot import pareto

    fig = Figure(figsize=(6, 4))
    ax = pareto(points, ax=fig.subplots(), label="label")
    ax.set_title("digits MLP on PCM: ADC bits x array rows x weight slicing")
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / ("pareto_quick.png" if args.quick else "pareto.png"), dpi=120)

    comps = ("adc", "accumulation", "other", "buffer", "interconnect")

    def ratios(w: str, suffix: str) -> dict:
        me, ml, A = res[w]["mine_e"], res[w]["mine_l"], res[w]["A"]
        return {
            f"neurosim_energy_ratio{suffix}": round(ratio(me["total"], ref_e["total"]), 4),
            f"neurosim_latency_ratio{suffix}": round(ratio(ml["total"], ref_l["total"]), 4),
            **{f"neurosim_energy_ratio_{c}{suffix}": round(ratio(me[c], ref_e[c]), 4) for c in comps},
            **{f"neurosim_latency_ratio_{c}{suffix}": round(ratio(ml[c], ref_l[c]), 4) for c in comps},
            f"neurosim_area_ratio_array{suffix}": round(ratio(A["array"], NEUROSIM["area_um2"]["array"]), 4),
            f"neurosim_area_ratio_adc{suffix}": round(ratio(A["adc"], NEUROSIM["area_um2"]["adc"]), 4),
            f"physnn_energy_pJ{suffix}": round(me["total"], 1),
            f"physnn_latency_ns{suffix}": round(ml["total"], 1),
        }

    figures = {
        # the comparison on NeuroSim's workload (WORKLOADS["neurosim"]), then the padded network's
        **ratios("neurosim", ""),
        **ratios("padded", "_padded"),
        "neurosim_workload": WORKLOADS["neurosim"],
        "padded_workload": WORKLOADS["padded"],
        "input_vectors": {w: {n: int(res[w]["ds"]["vectors"].sel(layer=n)) for n, _ in layers} for w in WORKLOADS},
        "cost_overhead": round(overhead, 4),
        "neurosim_reference": NEUROSIM["source"],
        "pareto_points": points,
        "pareto_front_size": int(sum(q["pareto"] for q in points)),
        "slicing_digits": slicing_acc,
        "neurosim_conversion_count_ratio": round(conv_ratio, 4),
        "weight_copies": copies,
        "neurosim_design": NEUROSIM_DESIGN,
        "neurosim_notes": NOTES,
    }
    publish("bench_cost", figures, quick=args.quick)


if __name__ == "__main__":
    main()
