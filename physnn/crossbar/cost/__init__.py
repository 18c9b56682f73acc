"""What a chip costs: energy, latency and area of analog crossbar layers, per component.

One file per component: :mod:`.array` (device Joule energy ``t V^2 G``), :mod:`.dac` (input
encoding and row drivers), :mod:`.adc` (SAR / ramp / flash, Walden figure of merit),
:mod:`.sense_amp`, :mod:`.digital` (shift-add, partial sums, buffers, interconnect),
:mod:`.programming`, :mod:`.latency`, :mod:`.area`, :mod:`.duplication` (weight copies reading in
parallel), :mod:`.pareto` (accuracy-cost fronts); technology numbers from a card's ``[cost]``
section (:class:`CostTechnology`); :mod:`.chip` puts them together per layer and model.

Examples
--------
>>> import torch
>>> from physnn.crossbar import CrossbarConfig, AnalogLinear, DAC, ADC
>>> from physnn.crossbar.cost import CostConfig, CostTechnology, SARConverter, layer_cost
>>> layer = AnalogLinear(64, 10, config=CrossbarConfig.from_card("rram_40nm", dac=DAC(8), adc=ADC(8, 12.0)))
>>> cfg = CostConfig(technology=CostTechnology.from_card("rram_40nm"), adc=SARConverter(bits=8))
>>> ds = layer_cost(layer.eval(), torch.rand(4, 64), cfg)
>>> ds["energy"].attrs["units"], list(ds["energy"].dims)
('J', ['layer', 'energy_component'])
"""

from .adc import FlashConverter, RampConverter, SARConverter, conversion_energy, conversion_time
from .array import array_read_energy
from .chip import (
    AREA_COMPONENTS,
    ENERGY_COMPONENTS,
    LATENCY_COMPONENTS,
    CostConfig,
    CostRecorder,
    layer_cost,
    layer_cost_tensors,
    model_cost,
)
from .dac import AmplitudeInput, BitSerialInput, row_pulses
from .duplication import duplicated_vectors, pipeline_copies
from .pareto import pareto_front
from .technology import CostTechnology

__all__ = [
    "CostTechnology",
    "CostConfig",
    "CostRecorder",
    "layer_cost",
    "layer_cost_tensors",
    "model_cost",
    "SARConverter",
    "RampConverter",
    "FlashConverter",
    "AmplitudeInput",
    "BitSerialInput",
    "array_read_energy",
    "row_pulses",
    "conversion_energy",
    "conversion_time",
    "ENERGY_COMPONENTS",
    "LATENCY_COMPONENTS",
    "AREA_COMPONENTS",
    "pareto_front",
    "duplicated_vectors",
    "pipeline_copies",
]
