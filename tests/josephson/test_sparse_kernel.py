"""Compiled single-run loop of the sparse back end (numba, optional) == the numpy loop it replaces:
transmission lines, capacitors, voltage sources, quasiparticle state changes, the step rule."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import physnn.josephson.transient as tr
from physnn.josephson import simulate, switch_times

DATA = Path(__file__).parent / "data"
NUMPY_LOOP = tr.reference_loop


@pytest.fixture
def compiled_only(monkeypatch):
    from physnn.josephson import _ensemble_kernel

    if not _ensemble_kernel.available():
        pytest.skip("numba not installed")

    def no_numpy_loop(*args, **kw):  # the compiled loop must do every step of a single run
        raise AssertionError("numpy loop used")

    monkeypatch.setattr(tr, "reference_loop", no_numpy_loop)


def _both(monkeypatch, src, **kw):
    fast = simulate(src, backend="sparse", **kw)
    monkeypatch.setattr(tr, "reference_loop", NUMPY_LOOP)
    ref = simulate(src, backend="sparse-numpy", **kw)
    assert (fast.attrs["loop"], ref.attrs["loop"]) == ("sparse-compiled", "sparse-numpy")
    return fast, ref


def _close(fast, ref, atol=1e-9):
    np.testing.assert_allclose(fast["phase"].values, ref["phase"].values, rtol=0, atol=atol)
    vs = float(np.abs(ref["voltage"].values).max())
    np.testing.assert_allclose(fast["voltage"].values, ref["voltage"].values, rtol=0, atol=atol * vs)
    for name in [k for k in ref.data_vars if "(" in k]:
        scale = float(np.abs(ref[name].values).max()) or 1.0
        np.testing.assert_allclose(fast[name].values, ref[name].values, rtol=0, atol=atol * scale)


def test_ptl_pipeline_equals_numpy_loop(compiled_only, monkeypatch):
    # 165 junctions, 10 transmission lines (delay-line history), current sources, .print phases
    fast, ref = _both(monkeypatch, DATA / "ptl_pipeline_small.cir")
    _close(fast, ref)
    # and JoSIM v2.7's switching time of the last output junction (160.71861144896982 ps)
    t = switch_times(fast, "B1|XL1B2O2")
    assert len(t) == 1 and abs(t[0] - 1.6071861144896982e-10) < 1e-15


CAPS_VSRC = """* capacitors, a voltage source, a phase source and an overdriven rtype=1 junction
.model jm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)
V1 10 0 pwl(0 0 5p 0 6p 600u 7p 0)
R1 10 1 5
B1 1 0 jm area=2.5
RS1 1 0 2.87
IB1 0 1 pwl(0 0 10p 175u)
L1 1 2 3.3p
C2 2 0 0.2pF
B2 2 0 jm area=2.5
IB2 0 2 pwl(0 0 10p 175u 40p 175u 45p 900u)
L2 2 3 2p
B3 3 0 jm
C3 3 4 0.1pF
R4 4 0 3
P1 5 0 pwl(0 0 30p 0 40p 6.283)
L5 5 3 20p
.tran 0.25p 80p
.print nodev 2 0
.print devi L2
.print nodep 4 0
"""


def test_caps_sources_and_gap_states_equal_numpy_loop(compiled_only, monkeypatch):
    # B2 is driven far above Ic from 45 ps: its predicted voltage enters the gap region, so the
    # compiled loop hands back and refactorises for each new pattern of quasiparticle states
    calls = []
    from physnn.josephson import _sparse_kernel as sk

    orig = sk.SparseFactors

    class Counted(orig):
        def __init__(self, A):
            calls.append(A.shape)
            super().__init__(A)

    monkeypatch.setattr(sk, "SparseFactors", Counted)
    fast, ref = _both(monkeypatch, CAPS_VSRC)
    assert len(calls) >= 2  # more than one state pattern was met
    assert fast.attrs["step_halvings"] == ref.attrs["step_halvings"]
    _close(fast, ref)


def test_step_rule_halves_as_numpy_loop(compiled_only, monkeypatch):
    # overdriven junction: the run breaks JoSIM's 0.2*2pi rule and restarts at h/2, h/4, ...
    fast, ref = _both(monkeypatch, DATA / "overdriven_jj.cir")
    assert fast.attrs["step_halvings"] == ref.attrs["step_halvings"] > 0
    _close(fast, ref)


def test_factors_solve_the_system():
    from physnn.josephson import parse_netlist
    from physnn.josephson._sparse_kernel import SparseFactors
    from physnn.josephson.circuit import compile_circuit

    circ = compile_circuit(parse_netlist(CAPS_VSRC), 0.25e-12)
    A = circ.matrix(np.zeros(circ.n_jj, dtype=np.int8))
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    f = SparseFactors(A)
    x = f.solve(b)
    np.testing.assert_allclose(A @ x, b, rtol=0, atol=1e-9 * np.abs(b).max())
    with pytest.raises((RuntimeError, ZeroDivisionError)):
        SparseFactors(sp.csc_matrix((3, 3)))


def test_single_runs_default_to_the_compiled_loop(compiled_only):
    # a small circuit's single run ('auto') takes the compiled sparse loop, and agrees with the
    # fused back end (the same equations folded into dense matrices) and with JoSIM v2.7
    fast = simulate(DATA / "dcsfq_jtl_sink_physnn.cir", tstop=250e-12)
    fused = simulate(DATA / "dcsfq_jtl_sink_physnn.cir", tstop=250e-12, backend="fused")
    assert fast.attrs["loop"] == "sparse-compiled"
    assert fused.attrs["loop"] == "fused-compiled"
    _close(fast, fused)


def test_the_loop_that_ran_is_recorded():
    src = DATA / "dcsfq_jtl_sink_physnn.cir"
    for name in ("sparse-numpy", "fused-numpy", "dense-numpy"):
        assert simulate(src, tstop=50e-12, backend=name).attrs["loop"] == name
    assert simulate(src, tstop=50e-12, backend="dense").attrs["loop"] == "dense-numpy"


def test_skipped_substitution_rows_leave_the_wanted_unknowns_bitwise_equal():
    # the inner nodes of L-L chains have no right-hand side and nobody reads them: the solve
    # skips their rows, and every branch terminal comes out bitwise as in the full solve
    from physnn.josephson import _sparse_kernel as sk
    from physnn.josephson import parse_netlist
    from physnn.josephson.circuit import compile_circuit

    if sk.sparse_segment is None:
        pytest.skip("numba not installed")
    circ = compile_circuit(parse_netlist(DATA / "ptl_pipeline_small.cir"), 0.25e-12)
    f = sk.SparseFactors(circ.matrix(np.zeros(circ.n_jj, dtype=np.int8)))
    terms = np.unique(circ.D.tocsr().indices)
    inj = np.unique(circ.inj.tocsr().indices)
    fwd, bwd = f.rows(np.concatenate([terms, inj]), terms)
    assert fwd.size < f.n and bwd.size < f.n  # the 1 pH / cell-port inductor nodes are skipped
    rng = np.random.default_rng(3)
    b = np.zeros(f.n)
    rows = np.concatenate([terms, inj])
    b[rows] = rng.standard_normal(rows.size)
    z_full = np.zeros(f.n + 1)
    z_full[f.perm_r] = b
    z_skip = z_full.copy()
    all_rows = np.arange(f.n, dtype=np.int64)
    sk._tri_solve(z_full, *f.L, *f.U, f.Udi, all_rows, all_rows)
    sk._tri_solve(z_skip, *f.L, *f.U, f.Udi, fwd, bwd)
    np.testing.assert_array_equal(z_skip[f.perm_c[terms]], z_full[f.perm_c[terms]])
    np.testing.assert_allclose(z_full[f.perm_c], f.solve(b), rtol=0, atol=1e-9 * np.abs(z_full).max())
