"""Characterise the SFQ cells at circuit level and fit their transfer curves (one entry point)."""

from __future__ import annotations

import numpy as np
import torch

from ..random import check_generator
from .characterise import combine_neuron_responses, neuron_response, synapse_context_response, synapse_scurve
from .transfer import TransferCurves, curves_from_context, curves_from_neuron, curves_from_synapse

__all__ = ["SYNAPSE_RANGE_A", "NEURON_RANGE_A", "CONTEXT_BIASES_A", "characterise_cells"]

#: physical gate-bias range of the synapse (A): the cell behaves (one pulse out at most per pulse
#: in, no free running) over it; its S-curve lies inside
SYNAPSE_RANGE_A = (100e-6, 220e-6)
#: physical bias range of the neuron's threshold junction (A; Ic = 250 uA)
NEURON_RANGE_A = (0.0, 240e-6)
#: neuron biases of the long runs near the top of the range (rare firings without enough input)
TAIL_BIASES_A = np.linspace(180e-6, 240e-6, 7)
#: synapse gate biases of the context bench: dense over the S-curve, sparse up to the open end
CONTEXT_BIASES_A = np.concatenate([np.linspace(134e-6, 164e-6, 20), np.linspace(172e-6, 220e-6, 6)])


def characterise_cells(
    *,
    synapse_points: int = 25,
    neuron_points: int = 25,
    fan_ins=(2, 4),
    synapse_ensemble: int = 40,
    neuron_ensemble=(48, 32),
    repeats=(6, 2),
    context_biases_A=CONTEXT_BIASES_A,
    context_slots: int = 32,
    context_ensemble: int = 16,
    tail_fan_ins=(2,),
    tail_biases_A=TAIL_BIASES_A,
    tail_ensemble: int = 64,
    tail_repeats: int = 8,
    temp_K: float = 4.2,
    generator: torch.Generator | None = None,
    progress=None,
):
    """Run the characterisations and fit the curves.

    Returns ``(TransferCurves, {"synapse": ds, "neuron_fan_in_K": ds, "context_fan_in_K": ds})``.
    The synapse sweep covers 130-180 uA (its transition) in one batched call of ``synapse_points *
    synapse_ensemble`` noisy runs; the neuron sweeps its whole physical range per fan-in
    (``neuron_ensemble`` and ``repeats`` per fan-in, in the order of ``fan_ins``; more trials for
    fan-in 2, whose output neurons sit high in their range where spontaneous firing sets the
    floor, and ``tail_fan_ins`` get a long run over ``tail_biases_A`` on top); the context bench
    (:func:`synapse_context_response`) fits the synapses' pass curves inside the neuron cell of
    every fan-in for the contexts where an earlier line passed (the empty context is the synapse
    S-curve).
    """
    generator = check_generator(generator)
    out = {}
    sb = np.linspace(130e-6, 180e-6, synapse_points)
    out["synapse"] = synapse_scurve(sb, ensemble=synapse_ensemble, temp_K=temp_K, generator=generator)
    if progress:
        progress("synapse done")
    syn = curves_from_synapse(out["synapse"], SYNAPSE_RANGE_A)
    ens = dict(zip(fan_ins, np.broadcast_to(neuron_ensemble, (len(fan_ins),)).tolist()))
    rep = dict(zip(fan_ins, np.broadcast_to(repeats, (len(fan_ins),)).tolist()))
    neurons, contexts = {}, {}
    nb = np.linspace(*NEURON_RANGE_A, neuron_points)
    for k in fan_ins:
        ds = neuron_response(
            nb,
            fan_in=k,
            ensemble=int(ens[k]),
            repeats=int(rep[k]),
            temp_K=temp_K,
            copies_per_call=5 if k <= 2 else 3,
            generator=generator,
        )
        if k in tail_fan_ins and len(tail_biases_A):
            tail = neuron_response(
                tail_biases_A,
                fan_in=k,
                ensemble=tail_ensemble,
                repeats=tail_repeats,
                temp_K=temp_K,
                copies_per_call=len(tail_biases_A),
                generator=generator,
            )
            ds = combine_neuron_responses(ds, tail)
        out[f"neuron_fan_in_{k}"] = ds
        neurons[k] = curves_from_neuron(ds, NEURON_RANGE_A)
        if progress:
            progress(f"neuron fan-in {k} done")
    for k in fan_ins:
        if k < 2:
            continue
        ds = synapse_context_response(
            context_biases_A,
            fan_in=k,
            slots=context_slots,
            ensemble=context_ensemble,
            line_prob=0.85,
            neuron_bias_A=NEURON_RANGE_A,
            copies_per_call=13,
            temp_K=temp_K,
            generator=generator,
        )
        out[f"context_fan_in_{k}"] = ds
        contexts[k] = curves_from_context(ds, base=syn)
        if progress:
            progress(f"context fan-in {k} done")
    prov = {
        "generated_by": "physnn.sfq.build.characterise_cells",
        "simulator": "physnn.josephson.simulate",
        "temperature_K": float(temp_K),
        "synapse_ensemble": synapse_ensemble,
        "neuron_ensemble": [int(ens[k]) for k in fan_ins],
        "neuron_repeats": [int(rep[k]) for k in fan_ins],
        "fit": "binomial maximum likelihood logistic per cell / input pattern",
        "neuron_bench": "lines: source -> JTL -> splitter -> synapse (200 uA) -> JTL -> merger tree -> neuron "
        "(clocked) -> JTL -> splitter -> loads (network environment); patterns in random order",
        "context_bench": (
            f"neuron cells with random synapse gate biases ({len(context_biases_A)} values "
            f"{float(np.min(context_biases_A)) * 1e6:.0f}-{float(np.max(context_biases_A)) * 1e6:.0f} uA, "
            "independent permutation per line), neuron bias uniform over its range, line pulse "
            f"probability 0.85, {context_slots} slots x {context_ensemble} members; "
            "per (line, context) ML logistic, I50 piecewise linear in the latest passed line's bias"
        ),
        "neuron_tail": (
            f"fan-ins {list(tail_fan_ins)}: {len(tail_biases_A)} biases "
            f"{float(np.min(tail_biases_A)) * 1e6:.0f}-{float(np.max(tail_biases_A)) * 1e6:.0f} uA, "
            f"{tail_ensemble} members x {tail_repeats} rounds, pooled with the sweep"
        )
        if len(tail_biases_A)
        else "none",
        "timing": "slot 200 ps, line stagger 12 ps, clock 120 ps after line 0 (physnn.sfq.characterise.TIMING)",
    }
    return TransferCurves(synapse=syn, neurons=neurons, contexts=contexts, provenance=prov), out
