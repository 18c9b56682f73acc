"""physnn.josephson: a differentiable, batched Josephson-junction circuit simulator that reads
JoSIM/WRspice-style netlists and reproduces JoSIM v2.7's phase-mode BDF2 results.

Main entry points: :func:`simulate` (netlist -> xarray.Dataset), :func:`parse_netlist`,
:func:`transient_torch` (autograd through the time loop), analysis helpers (:func:`switch_times`,
:func:`delays`, :func:`pulse_count`, :func:`pulse_areas`, :func:`switch_time_torch`) and the shipped
cell library (:func:`cell_path`, :func:`cell_library`: JTL, splitter, merger, DFF, DC/SFQ, SFQ/DC).
"""

from .analysis import (SwitchComparison, compare_switch_times, crossings, default_min_dwell, delays, pulse_areas,
                       pulse_count, switch_time_torch, switch_times, switching_events)
from .circuit import K_JOSEPHSON, Circuit, compile_circuit
from .netlist import JJModel, Netlist, NetlistError, NetlistWarning, parse_netlist, parse_value
from .simulate import Ensemble, simulate
from .transient import SimulationError, run_transient
from .differentiable import transient_torch
from .iv import iv_curve, iv_curves
from .spread import apply_spread
from .cells import cell_path, cell_library, jtl_chain, CELLS

__all__ = [
    "simulate", "Ensemble", "parse_netlist", "parse_value", "Netlist", "NetlistError", "NetlistWarning", "JJModel",
    "SimulationError", "run_transient", "compile_circuit", "Circuit", "K_JOSEPHSON",
    "crossings", "default_min_dwell", "switch_times", "compare_switch_times", "SwitchComparison", "switching_events", "delays", "pulse_count", "pulse_areas",
    "switch_time_torch", "transient_torch", "iv_curve", "iv_curves", "apply_spread", "cell_path", "cell_library", "jtl_chain", "CELLS",
]
