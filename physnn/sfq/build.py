"""Characterise the SFQ cells at circuit level and fit their transfer curves (one entry point)."""

from __future__ import annotations

import numpy as np
import torch

from ..random import check_generator
from .characterise import neuron_response, synapse_scurve
from .transfer import TransferCurves, curves_from_neuron, curves_from_synapse

__all__ = ["SYNAPSE_RANGE_A", "NEURON_RANGE_A", "characterise_cells"]

#: physical gate-bias range of the synapse (A): the cell behaves (one pulse out at most per pulse
#: in, no free running) over it; its S-curve lies inside
SYNAPSE_RANGE_A = (100e-6, 220e-6)
#: physical bias range of the neuron's threshold junction (A; Ic = 250 uA)
NEURON_RANGE_A = (0.0, 240e-6)


def characterise_cells(*, synapse_points: int = 25, neuron_points: int = 25, fan_ins=(2, 4),
                       synapse_ensemble: int = 40, neuron_ensemble: int = 32, repeats: int = 2,
                       temp_K: float = 4.2, generator: torch.Generator | None = None, progress=None):
    """Run the characterisations and fit the curves.

    Returns ``(TransferCurves, {"synapse": ds, "neuron_fan_in_K": ds, ...})``. The synapse sweep
    covers 130-180 uA (its transition) in one batched call of ``synapse_points * synapse_ensemble``
    noisy runs; the neuron sweeps its whole physical range per fan-in.
    """
    generator = check_generator(generator)
    out = {}
    sb = np.linspace(130e-6, 180e-6, synapse_points)
    out["synapse"] = synapse_scurve(sb, ensemble=synapse_ensemble, temp_K=temp_K, generator=generator)
    if progress:
        progress("synapse done")
    syn = curves_from_synapse(out["synapse"], SYNAPSE_RANGE_A)
    neurons = {}
    nb = np.linspace(*NEURON_RANGE_A, neuron_points)
    for k in fan_ins:
        ds = neuron_response(nb, fan_in=k, ensemble=neuron_ensemble, repeats=repeats, temp_K=temp_K,
                             copies_per_call=4 if k <= 2 else 2, generator=generator)
        out[f"neuron_fan_in_{k}"] = ds
        neurons[k] = curves_from_neuron(ds, NEURON_RANGE_A)
        if progress:
            progress(f"neuron fan-in {k} done")
    prov = {"generated_by": "physnn.sfq.build.characterise_cells", "simulator": "physnn.josephson.simulate",
            "temperature_K": float(temp_K), "synapse_ensemble": synapse_ensemble, "neuron_ensemble": neuron_ensemble,
            "neuron_repeats": repeats, "fit": "binomial maximum likelihood logistic per cell / input pattern",
            "timing": "slot 200 ps, line stagger 12 ps, clock 120 ps after line 0 (physnn.sfq.characterise.TIMING)"}
    return TransferCurves(synapse=syn, neurons=neurons, provenance=prov), out
