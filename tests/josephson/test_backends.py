"""Transient back ends: registry, ``unsupported()`` reasons, ``"auto"`` and family choice, the
``use_backend`` context (the crossbar engine's pattern)."""

from pathlib import Path

import numpy as np
import pytest

from physnn.josephson import (
    AbstractTransientBackend,
    TransientProblem,
    compile_circuit,
    current_backend,
    parse_netlist,
    simulate,
    use_backend,
)
from physnn.josephson import backends as jb
from physnn.josephson import transient as tr

JTL = """* two-junction JTL, one SFQ pulse
.model jm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)
B1 1 0 jm area=2.5
B2 2 0 jm area=2.5
L1 1 2 2p
IB1 0 1 pwl(0 0 5p 175u)
IB2 0 2 pwl(0 0 5p 175u)
I1 0 1 pwl(0 0 40p 0 42p 600u 44p 0)
.tran 0.25p 80p
"""
NUMBA = tr._kern.available()
DCSFQ = Path(__file__).parent / "data" / "dcsfq_jtl_sink_physnn.cir"  # DC/SFQ, JTLs, sink: 53 unknowns


def _problem(text=JTL, members=1):
    return TransientProblem.of(compile_circuit(parse_netlist(text), 0.25e-12), members)


def test_registry_lists_the_reference_first_and_every_loop():
    assert jb.backends() == [
        "sparse-numpy",
        "dense-numpy",
        "fused-numpy",
        "fused-compiled",
        "sparse-compiled",
        "tiled-compiled",
    ]


def test_problem_describes_the_circuit():
    p = _problem(JTL.replace(".tran", ".temp 4.2\n.tran"), members=3)
    assert (p.n_jj, p.n_c, p.n_t, p.members, p.noise) == (2, 0, 0, 3, True)


@pytest.mark.skipif(not NUMBA, reason="numba not installed")
def test_auto_choice():
    pick = jb.select_backend
    assert pick(_problem(), "auto").name == "sparse-compiled"
    assert pick(_problem(members=8), "auto").name == "tiled-compiled"
    noisy = JTL.replace(".tran", ".temp 4.2\n.tran")
    assert pick(_problem(noisy), "auto").name == "dense-numpy"
    assert pick(_problem(noisy, members=8), "auto").name == "dense-numpy"
    # a capacitor branch: the tiled loop cannot, the dense reference loop does the ensemble
    assert pick(_problem(JTL.replace("L1 1 2 2p", "L1 1 2 2p\nC1 2 0 0.1p"), members=8), "auto").name == "dense-numpy"


@pytest.mark.skipif(not NUMBA, reason="numba not installed")
def test_families_pick_compiled_first_and_fused_falls_back_to_dense():
    pick = jb.select_backend
    assert pick(_problem(), "fused").name == "fused-compiled"
    assert pick(_problem(members=4), "fused").name == "tiled-compiled"
    assert pick(_problem(), "dense").name == "dense-numpy"
    assert pick(_problem(), "sparse").name == "sparse-compiled"
    assert pick(_problem(members=4), "sparse").name == "sparse-numpy"


@pytest.mark.parametrize(
    "name, members, text, reason",
    [
        ("fused-numpy", 4, JTL, "4 ensemble members: single runs only"),
        ("fused-numpy", 1, JTL.replace(".tran", ".temp 4.2\n.tran"), "thermal noise"),
        ("fused-numpy", 1, JTL.replace("L1 1 2 2p", "T1 1 0 2 0 Z0=5 TD=2p"), "transmission lines"),
        ("tiled-compiled", 1, JTL, "a single run"),
        ("tiled-compiled", 4, JTL.replace("L1 1 2 2p", "L1 1 2 2p\nC1 2 0 0.1p"), "capacitor branches"),
        ("sparse-compiled", 4, JTL, "4 ensemble members"),
    ],
)
def test_named_backend_says_why_it_cannot(name, members, text, reason):
    p = _problem(text, members)
    assert reason in jb.get_backend(name).unsupported(p)
    with pytest.raises(ValueError, match=f"backend='{name}' cannot integrate this circuit: {reason}"):
        jb.select_backend(p, name)


def test_unknown_backend_is_an_error_naming_it():
    with pytest.raises(ValueError, match="backend='nope': unknown; registered: .*'fused-numpy'"):
        simulate(JTL, backend="nope")
    with pytest.raises(ValueError, match="backend='nope'"):
        with use_backend("nope"):
            pass
    with pytest.raises(TypeError, match="backend=3"):
        simulate(JTL, backend=3)


def test_use_backend_context_chooses_and_restores():
    assert current_backend() == "auto"
    with use_backend("dense-numpy"):
        assert current_backend() == "dense-numpy"
        assert simulate(DCSFQ, tstop=20e-12).attrs["loop"] == "dense-numpy"
        with use_backend("sparse-numpy"):
            assert simulate(DCSFQ, tstop=20e-12).attrs["loop"] == "sparse-numpy"
        # an explicit backend= wins over the context
        assert simulate(DCSFQ, tstop=20e-12, backend="fused-numpy").attrs["loop"] == "fused-numpy"
        assert simulate(DCSFQ, tstop=20e-12).attrs["loop"] == "dense-numpy"
    assert current_backend() == "auto"


def test_every_loop_integrates_the_same_steps():
    # the reference loop (dense and sparse) and the other loops: same switching, same phases to
    # round-off (the bit-level comparisons of the compiled loops: test_sparse_kernel,
    # test_ensemble_kernel)
    names = [n for n in jb.backends() if jb.get_backend(n).unsupported(_problem(DCSFQ.read_text())) is None]
    assert {"sparse-numpy", "dense-numpy", "fused-numpy"} <= set(names)
    runs = {n: simulate(DCSFQ, tstop=250e-12, backend=n) for n in names}
    ref = runs["dense-numpy"]["phase"].values
    assert ref[-1].max() > 2 * np.pi  # the DC/SFQ pulse went through the JTLs
    for n, ds in runs.items():
        assert ds.attrs["loop"] == n and ds.attrs["step_halvings"] == 0
        np.testing.assert_allclose(ds["phase"].values, ref, rtol=0, atol=1e-9, err_msg=n)


def test_an_unregistered_backend_object_is_used_as_it_is():
    class CountingDense(tr.ReferenceDense):
        name = "counting-dense"
        calls = 0

        def unsupported(self, problem):
            return "no junctions" if not problem.n_jj else None

        def integrate(self, *args):
            CountingDense.calls += 1
            return super().integrate(*args)

    be = CountingDense()
    assert isinstance(be, AbstractTransientBackend)
    with use_backend(be):
        ds = simulate(DCSFQ, tstop=20e-12)
    assert ds.attrs["loop"] == "counting-dense" and CountingDense.calls == 1
    with pytest.raises(ValueError, match="backend='counting-dense' cannot integrate this circuit: no junctions"):
        simulate("* r\nR1 1 0 1\nI1 0 1 pwl(0 0 1p 1u)\n.tran 0.25p 2p\n", backend=be)


def test_register_backend_checks_the_object():
    with pytest.raises(TypeError, match="missing 'unsupported'"):
        jb.register_backend(type("X", (), {"name": "x", "family": "dense", "auto_declines": None})())
    bad = tr.ReferenceDense()
    bad.family = "banded"
    with pytest.raises(ValueError, match="family='banded'"):
        jb.register_backend(bad)


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"threads": 0}, "threads=0"),
        ({"tile": 0}, "tile=0"),
        ({"min_members_per_thread": 0}, "min_members_per_thread=0"),
    ],
)
def test_tiled_backend_options_are_checked(kw, msg):
    with pytest.raises(ValueError, match=msg):
        tr.TiledCompiled(**kw)
