"""physnn.josephson: a differentiable, batched Josephson-junction circuit simulator that reads
JoSIM/WRspice-style netlists and reproduces JoSIM v2.7's phase-mode BDF2 results.

Main entry points: :func:`simulate` (netlist -> xarray.Dataset), :func:`parse_netlist`,
:func:`transient_torch` (autograd through the time loop), analysis helpers (:func:`switch_times`,
:func:`delays`, :func:`pulse_count`, :func:`pulse_areas`, :func:`switch_time_torch`) and the shipped
cell library (:func:`cell_path`, :func:`cell_library`: JTL, splitter, merger, DFF, DC/SFQ, SFQ/DC).

The names are imported on first use (module ``__getattr__``): ``import physnn.josephson.netlist``
or ``from physnn.josephson import parse_netlist`` reads netlists without importing torch, scipy,
xarray or numba.
"""

from __future__ import annotations

import importlib
import sys
import types

#: public name -> submodule that defines it
_HOME = {
    **dict.fromkeys(
        (
            "SwitchComparison",
            "compare_switch_times",
            "crossings",
            "default_min_dwell",
            "delays",
            "pulse_areas",
            "pulse_count",
            "switch_time_torch",
            "switch_times",
            "switching_events",
        ),
        "analysis",
    ),
    **dict.fromkeys(("K_JOSEPHSON", "Circuit", "compile_circuit"), "circuit"),
    **dict.fromkeys(
        ("JJModel", "Netlist", "NetlistError", "NetlistWarning", "parse_netlist", "parse_value"), "netlist"
    ),
    **dict.fromkeys(("Ensemble", "simulate"), "simulate"),
    **dict.fromkeys(("SimulationError", "run_transient"), "transient"),
    **dict.fromkeys(
        ("use_backend", "current_backend", "register_backend", "AbstractTransientBackend", "TransientProblem"),
        "backends",
    ),
    "transient_torch": "differentiable",
    **dict.fromkeys(("iv_curve", "iv_curves"), "iv"),
    "apply_spread": "spread",
    **dict.fromkeys(("cell_path", "cell_library", "jtl_chain", "CELLS"), "cells"),
}

__all__ = [
    "simulate",
    "Ensemble",
    "parse_netlist",
    "parse_value",
    "Netlist",
    "NetlistError",
    "NetlistWarning",
    "JJModel",
    "SimulationError",
    "run_transient",
    "use_backend",
    "current_backend",
    "register_backend",
    "AbstractTransientBackend",
    "TransientProblem",
    "compile_circuit",
    "Circuit",
    "K_JOSEPHSON",
    "crossings",
    "default_min_dwell",
    "switch_times",
    "compare_switch_times",
    "SwitchComparison",
    "switching_events",
    "delays",
    "pulse_count",
    "pulse_areas",
    "switch_time_torch",
    "transient_torch",
    "iv_curve",
    "iv_curves",
    "apply_spread",
    "cell_path",
    "cell_library",
    "jtl_chain",
    "CELLS",
]


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        if not name.startswith("_") or name in ("_ensemble_kernel", "_sparse_kernel"):
            try:  # a submodule (``physnn.josephson.transient``), as when __init__ imported them all
                return importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Importing the submodule ``physnn.josephson.simulate`` binds the package attribute
    ``simulate``; the public name is the function of that name defined in it (as when this
    package imported everything eagerly)."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _HOME.get(name) == name and value.__name__ == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
