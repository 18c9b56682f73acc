"""Ensembles (one batched call == independent runs), Johnson noise, step halving and blow-ups."""

from pathlib import Path

import numpy as np
import pytest
import torch

from physnn.josephson import Ensemble, SimulationError, jtl_chain, parse_netlist, run_transient, simulate, switch_times

OVERDRIVEN = Path(__file__).parent / "data" / "overdriven_jj.cir"

CHAIN = jtl_chain(3, tstop=80e-12, extra=".print nodev c 0")


def test_batched_ensemble_equals_individual_runs():
    ens = Ensemble(n=5, ic_spread=0.05)
    ds = simulate(CHAIN, ensemble=ens, generator=torch.Generator().manual_seed(3))
    assert ds["phase"].dims == ("ensemble", "junction", "time")
    assert ds["V(C,0)"].dims == ("ensemble", "time")
    mult = ds["ic"].values / simulate(CHAIN)["ic"].values  # (E, J) drawn Ic multipliers
    assert np.all(np.abs(mult - 1) <= 0.05) and mult.std() > 0.005
    for e in (0, 3):
        single = simulate(CHAIN, ensemble=mult[e : e + 1], generator=None)
        np.testing.assert_allclose(
            ds["phase"].isel(ensemble=e).values, single["phase"].isel(ensemble=0).values, rtol=0, atol=1e-9
        )
        np.testing.assert_allclose(
            ds["V(C,0)"].isel(ensemble=e).values, single["V(C,0)"].isel(ensemble=0).values, rtol=0, atol=1e-12
        )
    # Ic spread changes the delay: members differ
    d = [switch_times(ds, "B1|X3", member=e)[0] - switch_times(ds, "B1|X2", member=e)[0] for e in range(5)]
    assert np.ptp(d) > 0.01e-12


def test_ensemble_generator_policy_and_shape():
    # physnn.random policy: a torch.Generator, or None for torch's global generator
    with pytest.raises(TypeError, match="generator"):
        simulate(CHAIN, ensemble=Ensemble(n=2), generator=3)
    torch.manual_seed(11)
    a = simulate(CHAIN, ensemble=Ensemble(n=2))["ic"].values
    torch.manual_seed(11)
    b = simulate(CHAIN, ensemble=Ensemble(n=2))["ic"].values
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shape"):
        simulate(CHAIN, ensemble=np.ones((2, 3)))


def test_thermal_noise_seeded_and_scaled():
    text = CHAIN.replace(".tran", ".temp 4.2\n.tran")
    a = simulate(text, ensemble=2, generator=torch.Generator().manual_seed(1))
    b = simulate(text, ensemble=2, generator=torch.Generator().manual_seed(1))
    c = simulate(text, ensemble=2, generator=torch.Generator().manual_seed(2))
    np.testing.assert_array_equal(a["phase"].values, b["phase"].values)
    assert not np.array_equal(a["phase"].values, c["phase"].values)
    quiet = simulate(CHAIN)["phase"].values
    dev = np.abs(a["phase"].isel(ensemble=0).values - quiet).max()
    assert 1e-5 < dev < 0.5  # 4.2 K noise perturbs but does not break the JTL
    with pytest.raises(TypeError, match="generator"):
        simulate(text, generator="seed")


def test_step_halving_then_named_error():
    # a junction driven far above Ic: its phase runs ~ K*I*R*h per step
    text = OVERDRIVEN.read_text()
    net = parse_netlist(text)
    res = run_transient(net, tstep=0.25e-12, tstop=40e-12, max_halvings=6)
    assert res.halvings >= 1 and res.h < 0.25e-12
    with pytest.raises(SimulationError, match="B1"):
        run_transient(net, tstep=0.25e-12, tstop=40e-12, max_halvings=1)


def test_singular_matrix_is_reported():
    text = """* two ideal voltage sources in parallel
.model jm jj(icrit=0.1mA, cap=0.07pF)
B1 1 0 jm
V1 1 0 pwl(0 0 10p 1u)
V2 1 0 pwl(0 0 10p 2u)
.tran 0.25p 20p
"""
    with pytest.raises(SimulationError, match="singular"):
        simulate(text)
