"""physnn.sfq: SFQ neuromorphic networks (stochastic synapses, integrate-and-fire neurons).

Circuit level (netlists ``circuits/sfq_*.cir``, simulated with :mod:`physnn.josephson` at 4.2 K):
:func:`synapse_scurve`, :func:`neuron_response`, :func:`neuron_rate_curve`,
:func:`synapse_context_response`, :func:`merger_splitter_check` return xarray datasets with units and ensemble confidence
intervals. Network level: :class:`SFQSynapse`, :class:`SFQNeuron`, :class:`SFQLayer`,
:class:`SFQNetwork` (bias currents, A, are the parameters; ``physical_bounds()`` gives their ranges)
built on the logistic transfer curves of ``circuits/sfq_transfer.toml`` (:func:`load_transfer`).
:func:`network_netlist` / :func:`simulate_network` turn a trained network back into one netlist.
"""

from .cells import SFQ_CELLS, CellLibraryError, cell, library_text
from .characterise import (
    TIMING,
    SlotTiming,
    combine_neuron_responses,
    merger_splitter_check,
    neuron_rate_curve,
    neuron_response,
    synapse_context_response,
    synapse_scurve,
    wilson_interval,
)
from .transfer import ContextCurves, TransferCurves, TransferFileError, fit_logistic, load_transfer, save_transfer
from .layers import SFQLayer, SFQNetwork, SFQNeuron, SFQSynapse, check_rates, sample_window
from .netgen import LayerSpec, energy_latency, network_netlist, network_spec, simulate_network

__all__ = [
    "SFQ_CELLS",
    "CellLibraryError",
    "cell",
    "library_text",
    "TIMING",
    "SlotTiming",
    "synapse_scurve",
    "neuron_response",
    "neuron_rate_curve",
    "merger_splitter_check",
    "wilson_interval",
    "TransferCurves",
    "synapse_context_response",
    "combine_neuron_responses",
    "ContextCurves",
    "TransferFileError",
    "fit_logistic",
    "load_transfer",
    "save_transfer",
    "SFQSynapse",
    "SFQNeuron",
    "SFQLayer",
    "SFQNetwork",
    "check_rates",
    "sample_window",
    "LayerSpec",
    "network_spec",
    "network_netlist",
    "simulate_network",
    "energy_latency",
]
