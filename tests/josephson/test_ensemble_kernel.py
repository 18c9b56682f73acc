"""Compiled tiled ensemble loop (numba, optional) == numpy loop; member reruns at h/2 == individual runs;
thread groups, whole-ensemble halving and blow-up errors."""

from pathlib import Path

import numpy as np
import pytest
import torch

import physnn.josephson._ensemble_kernel as kern
import physnn.josephson.transient as tr
from physnn.josephson import Ensemble, pulse_areas, simulate, use_backend

DCSFQ = Path(__file__).parent / "data" / "dcsfq_jtl_sink_physnn.cir"
OVERDRIVEN = Path(__file__).parent / "data" / "overdriven_jj.cir"
TSTOP = 250e-12  # first DC/SFQ pulse (input ramp at 170-182 ps) through the JTLs into the sink


def _ens(seed=0, n=24, **kw):
    return simulate(
        DCSFQ, tstop=TSTOP, ensemble=Ensemble(n=n, ic_spread=0.05), generator=torch.Generator().manual_seed(seed), **kw
    )


@pytest.fixture(scope="module")
def compiled():
    pytest.importorskip("numba")
    assert kern.available()
    calls = []
    names = ("tiled_run_group", "tiled_run_groups")
    origs, orig_branch = {n: getattr(kern, n) for n in names}, tr.reference_loop

    def counting(name):
        def counted(*args):
            calls.append(args[1].size)  # members (output columns) of this pass, all groups
            return origs[name](*args)

        return counted

    def no_numpy_loop(*args, **kw):  # the compiled loop must do every step
        raise AssertionError("numpy loop used")

    for n in names:
        setattr(kern, n, counting(n))
    tr.reference_loop = no_numpy_loop
    try:
        ds = _ens()
    finally:
        for n in names:
            setattr(kern, n, origs[n])
        tr.reference_loop = orig_branch
    # one pass of all members at h, one of the flagged members at h/2 (from t = 0)
    halved = int((ds["step_halvings"].values > 0).sum())
    assert calls == [24, halved]
    assert ds.attrs["loop"] == "tiled-compiled"
    return ds


def test_compiled_loop_equals_numpy_loop(compiled):
    # with +-5 % Ic spread some members break JoSIM's 0.2*2pi step rule and are rerun at h/2
    halved = compiled["step_halvings"].values
    assert 0 < (halved > 0).sum() < halved.size
    with use_backend("dense-numpy"):  # the reference loop
        ref = _ens()
    assert ref.attrs["loop"] == "dense-numpy"
    np.testing.assert_array_equal(compiled["step_halvings"].values, halved)
    np.testing.assert_array_equal(ref["step_halvings"].values, halved)
    # same equations; only the matrix-product summation order and the ~1 ulp of the compiled sin
    # differ (measured: 1e-12 rad, 1e-15 V)
    np.testing.assert_allclose(compiled["phase"].values, ref["phase"].values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(compiled["voltage"].values, ref["voltage"].values, rtol=0, atol=1e-12)
    traces = [k for k in ref.data_vars if "time" in ref[k].dims and k not in ("phase", "voltage")]
    assert traces  # the .print nodev line
    for name in traces:
        scale = float(np.abs(ref[name].values).max())
        np.testing.assert_allclose(compiled[name].values, ref[name].values, rtol=0, atol=1e-9 * scale)


def test_rerun_members_equal_individual_half_step_runs(compiled):
    halved = np.nonzero(compiled["step_halvings"].values > 0)[0]
    mult = compiled["ic"].values / simulate(DCSFQ, tstop=TSTOP)["ic"].values
    for e in halved[:2]:
        single = simulate(DCSFQ, tstop=TSTOP, ensemble=mult[e : e + 1])  # whole run halved
        assert single.attrs["step_halvings"] == compiled["step_halvings"].values[e]
        # printed on the .tran grid (as JoSIM prints after a halving): the ensemble's time axis
        np.testing.assert_array_equal(single["time"].values, compiled["time"].values)
        fine = single["phase"].isel(ensemble=0).values
        np.testing.assert_allclose(compiled["phase"].isel(ensemble=e).values, fine, rtol=0, atol=1e-9)


def test_without_junction_voltages_the_same_phases_and_prints(compiled):
    # junction_voltage=False: the loop skips storing the voltages; every other number is the same
    lean = _ens(junction_voltage=False)
    assert "voltage" not in lean and "voltage" in compiled
    for k in lean.data_vars:
        np.testing.assert_array_equal(lean[k].values, compiled[k].values)
    with pytest.raises(ValueError, match="junction_voltage"):
        pulse_areas(lean, str(lean["junction"].values[0]), member=0)


def test_float32_phases_are_the_float64_run_rounded(compiled):
    # phase_dtype=float32 only changes how the phases are stored: the compiled loop writes each
    # value rounded to nearest, which is what astype(float32) of the float64 run gives, bit for bit;
    # every other variable is unchanged
    lean = _ens(phase_dtype=np.float32)
    assert lean["phase"].dtype == np.float32
    np.testing.assert_array_equal(lean["phase"].values, compiled["phase"].values.astype(np.float32))
    for k in compiled.data_vars:
        if k != "phase":
            np.testing.assert_array_equal(lean[k].values, compiled[k].values)
    # the numpy loop (and a single run) round at the end: its own float64 run rounded (the numpy
    # loop sums in another order than the compiled one, so its float64 phases may differ from the
    # compiled ones in the last bits, and a value on a float32 rounding boundary can then round
    # the other way: compare each loop with itself)
    with use_backend("dense-numpy"):
        np.testing.assert_array_equal(
            _ens(phase_dtype=np.float32)["phase"].values, _ens()["phase"].values.astype(np.float32)
        )
    single = simulate(DCSFQ, tstop=TSTOP, phase_dtype="float32")
    assert single["phase"].dtype == np.float32
    with pytest.raises(ValueError, match="phase_dtype"):
        simulate(DCSFQ, tstop=TSTOP, phase_dtype=np.int32)


def test_kernel_thread_groups_equal_one_group(compiled):
    # members split into two groups run concurrently (GIL released): same numbers, bit for bit
    # (each member's arithmetic does not depend on which group or tile it is in... up to BLAS
    # blocking of the tile product, hence the tolerance)
    # tile=5: several tiles per group, uneven last tile
    with use_backend(tr.TiledCompiled(threads=2, min_members_per_thread=4, tile=5)):
        thr = _ens()
    assert thr.attrs["loop"] == "tiled-compiled"
    np.testing.assert_array_equal(thr["step_halvings"].values, compiled["step_halvings"].values)
    np.testing.assert_allclose(thr["phase"].values, compiled["phase"].values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(thr["voltage"].values, compiled["voltage"].values, rtol=0, atol=1e-12)


GAP = """* two rtype=1 junctions driven through the gap region into the normal branch and back
.model jq jj(rtype=1, vg=2.8mV, delv=0.1mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)
B1 1 0 jq
B2 2 0 jq
R1 1 2 20
I1 0 1 pwl(0 0 20p 0.25m 60p 0.25m 80p 0)
I2 0 2 pwl(0 0 30p 0.15m 70p 0.15m 90p 0)
.tran 0.025p 100p
"""


def test_compiled_gap_branch_equals_numpy_loop():
    # per-member quasiparticle states (subgap / gap transition / normal, JoSIM rtype=1): the compiled
    # loop's per-member low-rank correction vs the numpy loop (exact systems or its own correction)
    pytest.importorskip("numba")
    from physnn.josephson import compile_circuit, parse_netlist

    mult = np.array([[1.0, 1.0], [0.95, 0.97], [1.04, 1.02], [1.01, 0.96]])
    comp = simulate(GAP, ensemble=mult)
    assert comp.attrs["loop"] == "tiled-compiled"
    ref = simulate(GAP, ensemble=mult, backend="dense-numpy")
    circ = compile_circuit(parse_netlist(GAP), 0.025e-12)
    vmax = np.abs(ref["voltage"].values).max(axis=(0, 2))
    assert np.all(vmax > circ.upper)  # every junction visits all three branches
    # running junctions: phases reach ~500 rad; measured differences 2e-8 rad, 1e-11 V
    np.testing.assert_allclose(comp["phase"].values, ref["phase"].values, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(comp["voltage"].values, ref["voltage"].values, rtol=0, atol=1e-10)


def test_all_members_halved_refines_grid_like_single_run():
    # every member breaks the 0.2*2pi rule: the whole ensemble restarts at h/2 on the finer grid,
    # exactly as a single run does (an overdriven junction, phase ~ K I R h per step)
    text = OVERDRIVEN.read_text()
    single = simulate(text)
    ens = simulate(text, ensemble=np.ones((3, 1)))
    assert single.attrs["step_halvings"] >= 1
    assert ens.attrs["tstep_s"] == single.attrs["tstep_s"]
    np.testing.assert_array_equal(ens["step_halvings"].values, single.attrs["step_halvings"])
    np.testing.assert_allclose(ens["phase"].isel(ensemble=2).values, single["phase"].values, rtol=0, atol=1e-9)


def test_ensemble_blow_up_names_junction():
    from physnn.josephson import SimulationError, parse_netlist, run_transient

    net = parse_netlist("""* overdriven junction
.model jm jj(rtype=0, rn=2, cap=0.01pF, icrit=0.1mA)
B1 1 0 jm
I1 0 1 pwl(0 0 2p 5m)
.tran 0.25p 40p
""")
    with pytest.raises(SimulationError, match="B1.*1 step halvings"):
        run_transient(net, tstep=0.25e-12, tstop=40e-12, ic_scale=np.ones((1, 4)), max_halvings=1)


def test_compiled_sin_accuracy():
    pytest.importorskip("numba")
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [np.linspace(-300.0, 300.0, 200001), rng.uniform(-1e4, 1e4, 100000), np.arange(-200, 201) * (np.pi / 2)]
    )
    assert np.max(np.abs(kern.sin_vec(x) - np.sin(x))) <= 2.3e-16


def test_merge_members_matches_fancy_indexing():
    rng = np.random.default_rng(2)
    dst = rng.standard_normal((6, 3, 10))
    src = rng.standard_normal((11, 3, 4))
    members = np.array([1, 4, 5, 9])
    ref = dst.copy()
    ref[:, :, members] = src[::2][:6]
    kern.merge_members(dst, src, members, 2)
    np.testing.assert_array_equal(dst, ref)


def test_ensemble_non_finite_state_is_reported():
    # a NaN critical current poisons one member's state: NaN never trips the phase-step rule, so the
    # compiled loop's finiteness flag has to catch it and the run names a junction
    from physnn.josephson import SimulationError, parse_netlist, run_transient

    net = parse_netlist(DCSFQ)
    scale = np.ones((len(net.junctions), 3))
    scale[2, 1] = np.nan
    with pytest.raises(SimulationError, match="non-finite"):
        run_transient(net, tstep=0.25e-12, tstop=20e-12, ic_scale=scale)


def test_compiled_single_run_equals_numpy_loop():
    # the compiled single-run loop (fused_segment) against the numpy fused loop it replaces:
    # the same equations, summation order of the row products aside
    if not kern.available():
        pytest.skip("numba not installed")
    fast = simulate(DCSFQ, tstop=TSTOP, backend="fused")
    ref = simulate(DCSFQ, tstop=TSTOP, backend="fused-numpy")
    assert (fast.attrs["loop"], ref.attrs["loop"]) == ("fused-compiled", "fused-numpy")
    np.testing.assert_allclose(fast["phase"].values, ref["phase"].values, rtol=0, atol=1e-9)
    for name in [k for k in ref.data_vars if "(" in k]:
        scale = float(np.abs(ref[name].values).max())
        np.testing.assert_allclose(fast[name].values, ref[name].values, rtol=0, atol=1e-9 * scale)
