"""Compiled ensemble loop (numba, optional) == numpy loop; member reruns at h/2 == individual runs."""

from pathlib import Path

import numpy as np
import pytest
import torch

import physnn.josephson._ensemble_kernel as kern
import physnn.josephson.transient as tr
from physnn.josephson import Ensemble, simulate

DCSFQ = Path(__file__).parent / "data" / "dcsfq_jtl_sink_physnn.cir"
TSTOP = 250e-12  # first DC/SFQ pulse (input ramp at 170-182 ps) through the JTLs into the sink


def _ens(seed=0, n=24):
    return simulate(DCSFQ, tstop=TSTOP, ensemble=Ensemble(n=n, ic_spread=0.05),
                    generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def compiled():
    pytest.importorskip("numba")
    assert kern.available()
    steps = []
    orig = kern.dense_steps

    def counted(*args):
        m = orig(*args)
        steps.append(m)
        return m

    kern.dense_steps = counted
    try:
        ds = _ens()
    finally:
        kern.dense_steps = orig
    # the compiled loop did most steps of the 1000-step run and of the 2000-step reruns
    assert sum(steps) > 2000
    return ds


def test_compiled_loop_equals_numpy_loop(compiled, monkeypatch):
    # with +-5 % Ic spread some members break JoSIM's 0.2*2pi step rule and are rerun at h/2
    halved = compiled["step_halvings"].values
    assert 0 < (halved > 0).sum() < halved.size
    monkeypatch.setattr(kern, "USE_NUMBA", False)
    ref = _ens()
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
        single = simulate(DCSFQ, tstop=TSTOP, ensemble=mult[e:e + 1])  # whole run halved: fine grid
        assert single.attrs["step_halvings"] == compiled["step_halvings"].values[e]
        f = int(round(compiled.attrs["tstep_s"] / single.attrs["tstep_s"]))
        fine = single["phase"].isel(ensemble=0).values[:, ::f]
        np.testing.assert_allclose(compiled["phase"].isel(ensemble=e).values, fine, rtol=0, atol=1e-9)


def test_threaded_blocks_equal_one_thread(compiled, monkeypatch):
    monkeypatch.setattr(tr, "ENSEMBLE_THREADS", 2)
    monkeypatch.setattr(tr, "MIN_MEMBERS_PER_THREAD", 8)
    thr = _ens()
    np.testing.assert_array_equal(thr["step_halvings"].values, compiled["step_halvings"].values)
    np.testing.assert_allclose(thr["phase"].values, compiled["phase"].values, rtol=0, atol=1e-9)


def test_compiled_sin_accuracy():
    pytest.importorskip("numba")
    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(-300.0, 300.0, 200001), rng.uniform(-1e4, 1e4, 100000),
                        np.arange(-200, 201) * (np.pi / 2)])
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
