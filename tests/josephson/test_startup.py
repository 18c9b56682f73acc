"""JoSIM's start-up steps before t = 0 (physnn.josephson.transient.startup_history).

Netlists: this project's own. Reference numbers: JoSIM v2.7 (josim-cli, git 02a34ee), phase mode,
printed phases (7 significant digits) of the same netlists, with and without ``DST`` at the end of
``.tran``, copied here; switching times from those printed phases by physnn's event rule
((2k+1)pi + offset crossings, min_dwell 0.5 ps).
"""

import numpy as np
import pytest

from physnn.josephson import parse_netlist, simulate, switch_times
from physnn.josephson.backends import TransientProblem, backends, get_backend, select_backend, use_backend
from physnn.josephson.circuit import compile_circuit, josim_startup_steps
from physnn.josephson.transient import run_transient, startup_history

MODEL = ".model jjm jj(rtype=0, vg=2.8mV, cap={cap}, r0=160, rn=16, icrit=0.1mA)\n"

# a DC-biased junction with a large capacitance: its start-up relaxation is slow, so the phase at
# t = 0 depends on the number of start-up steps (one step more or less moves it by 1e-4 rad or more)
SLOW = (
    MODEL.format(cap="1pF")
    + """B1 1 0 jjm area=1
R1 1 0 100ohm
I1 0 1 dc 50uA
.tran {h} 3p 0 {h}
.print phase B1
.end
"""
)
# JoSIM's P(B1) at t = 0, per step
SLOW_T0 = {"0.25p": 0.5095132, "1p": 0.5143654, "0.5p": 0.5102978, "0.1p": 0.4409876, "0.3p": 0.5095479}

DC1 = (
    MODEL.format(cap="0.07pF")
    + """B1 1 0 jjm area=1
R1 1 0 10ohm
I1 0 1 dc 50uA
.tran 0.25p 5p 0 0.25p{dst}
.print phase B1
.end
"""
)

PI1 = """* pi junction in a superconducting loop (beta_L ~ 3), small DC bias, a current pulse later
.model jjm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)
.model pijj jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA, phi=pi)
B1 1 0 pijj area=1
R1 1 0 8ohm
L1 1 2 10pH
B2 2 0 jjm area=1.5
R2 2 0 6ohm
I1 0 2 dc 20uA
I2 0 1 pwl(0 0 20p 0 25p 180uA 45p 180uA 50p 0)
.tran 0.25p 100p 0 0.25p{dst}
.print phase B1
.print phase B2
.end
"""

MIX = """* start-up with a DC voltage source, a capacitor, a transmission line and a pi junction
.model jjm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)
.model pijj jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA, phi=pi)
V1 5 0 dc 0.2mV
R5 5 1 20ohm
B1 1 0 jjm area=1.2
L1 1 2 3pH
B2 2 0 pijj area=1
C2 2 0 0.05pF
T1 2 0 3 0 Z0=5 TD=4p
R3 3 0 5ohm
B3 3 0 jjm area=1
I3 0 3 pwl(0 0 30p 0 35p 100uA 60p 100uA 65p 0)
.tran 0.25p 100p 0 0.25p{dst}
.print phase B1
.print phase B2
.print phase B3
.end
"""
# JoSIM: the first three printed rows (t = 0, 0.25, 0.5 ps) and the switching times
MIX_ROWS = {
    "": [[5.002249e-02, 1.356186e-02, 0.0], [5.035583e-02, 1.726424e-02, 0.0], [5.173284e-02, 2.543050e-02, 0.0]],
    " DST": [[8.249106e-03, 4.667764e-04, 0.0], [2.431165e-02, 2.511532e-03, 0.0], [4.356301e-02, 7.570713e-03, 0.0]],
}
MIX_SWITCH = {
    "": {
        "B1": [4.875537471369885e-11, 6.541717894360068e-11],
        "B2": [5.2527600313282924e-11],
        "B3": [4.243117169527844e-11, 5.91873469529268e-11],
    },
    " DST": {
        "B1": [4.8605282185693896e-11, 6.518705671815879e-11],
        "B2": [5.231291685030433e-11],
        "B3": [4.228295198677836e-11, 5.896373897376035e-11],
    },
}


def _rows(ds, names, n=3):
    return np.array([[float(ds[f"P({k})"].values[i]) for k in names] for i in range(n)])


def test_startup_step_count_is_josims():
    assert [josim_startup_steps(h) for h in (1e-12, 0.5e-12, 0.3e-12, 0.25e-12, 0.1e-12, 1e-15)] == [
        20,
        80,
        222,
        320,
        1000,
        1000,
    ]
    with pytest.raises(ValueError, match="h=0"):
        josim_startup_steps(0)


@pytest.mark.parametrize("h", sorted(SLOW_T0))
def test_slow_relaxation_pins_the_number_of_steps(h):
    # JoSIM's phase at t = 0 after an incomplete relaxation: only the right step count gives it
    ds = simulate(SLOW.format(h=h))
    assert abs(float(ds["P(B1)"].values[0]) - SLOW_T0[h]) < 6e-8


def test_dc_biased_junction_starts_in_its_static_state():
    ds = simulate(DC1.format(dst=""))
    # JoSIM prints 5.235988e-01 at every step: asin(50 uA / 100 uA)
    assert np.allclose(ds["P(B1)"].values, 0.5235988, atol=6e-8)
    assert abs(float(ds["P(B1)"].values[0]) - np.arcsin(0.5)) < 1e-7
    ds = simulate(DC1.format(dst=" DST"))  # without start-up the bias is switched on at t = 0
    assert np.allclose(ds["P(B1)"].values[:3], [4.346974e-02, 1.287999e-01, 2.370789e-01], atol=6e-8)


@pytest.mark.parametrize("dst", ["", " DST"])
def test_pi_junction_loop(dst):
    ds = simulate(PI1.format(dst=dst))
    ref = (
        [[2.470209, 0.5800272]] * 3
        if not dst
        else [[3.615093e-04, 1.231843e-02], [2.023856e-03, 3.666287e-02], [6.417884e-03, 6.730511e-02]]
    )
    assert np.allclose(_rows(ds, ["B1", "B2"]), ref, rtol=1e-6, atol=6e-10)
    # the pi junction ends in its static state (~pi minus the loop current's share), not near 0
    assert abs(float(ds["P(B1)"].values[-1]) - 2.470209) < 1e-6


@pytest.mark.parametrize("dst", ["", " DST"])
def test_sources_capacitor_line_and_pi_junction(dst):
    ds = simulate(MIX.format(dst=dst))
    assert np.allclose(_rows(ds, ["B1", "B2", "B3"]), MIX_ROWS[dst], rtol=1e-6, atol=1e-9)
    for jj, ref in MIX_SWITCH[dst].items():
        ours = switch_times(ds, jj, min_dwell=0.5e-12)
        assert len(ours) == len(ref)
        assert np.all(np.abs(ours - np.asarray(ref)) < 0.01e-12), (jj, ours, ref)


def test_start_up_changes_the_switching_times():
    # the same file with and without start-up: JoSIM's times differ by 0.15-0.23 ps
    d = [abs(a - b) for jj in ("B1", "B3") for a, b in zip(MIX_SWITCH[""][jj], MIX_SWITCH[" DST"][jj])]
    assert min(d) > 0.1e-12
    a = switch_times(simulate(MIX.format(dst="")), "B1", min_dwell=0.5e-12)
    b = switch_times(simulate(MIX.format(dst=" DST")), "B1", min_dwell=0.5e-12)
    assert np.all(np.abs(a - b) > 0.1e-12)


def test_which_circuits_have_start_up_steps():
    def steps(text):
        return compile_circuit(parse_netlist(text), 0.25e-12).startup_steps

    assert steps(DC1.format(dst="")) == 320
    assert steps(DC1.format(dst=" DST")) == 0
    assert steps(PI1.format(dst="")) == 320
    # sources that are 0 before t = 0 and no phase offsets: the zero state does not move
    pwl_only = DC1.format(dst="").replace("dc 50uA", "pwl(0 0 10p 50uA)")
    assert steps(pwl_only) == 0
    assert startup_history(compile_circuit(parse_netlist(pwl_only), 0.25e-12), np.ones(1)) is None


def test_every_back_end_starts_up_or_says_it_cannot():
    net = parse_netlist(PI1.format(dst=""))
    circ = compile_circuit(net, 0.25e-12)
    ref = run_transient(net, tstep=0.25e-12, tstop=60e-12, backend="dense-numpy")
    for name in backends():
        for members in (1, 3):
            problem = TransientProblem.of(circ, members)
            assert problem.startup
            b = get_backend(name)
            why = b.unsupported(problem)
            scale = np.ones((circ.n_jj, members))
            if why is None:
                res = run_transient(net, tstep=0.25e-12, tstop=60e-12, backend=name, ic_scale=scale)
                assert np.allclose(res.phase, ref.phase[..., :1], atol=1e-9), name
            elif "start-up" in why:
                with pytest.raises(ValueError, match="start-up steps"):
                    run_transient(net, tstep=0.25e-12, tstop=60e-12, backend=name, ic_scale=scale)
            # "auto" and every family name pick a back end that can
            for choice in ("auto", "dense", "sparse", "fused"):
                assert select_backend(problem, choice).unsupported(problem) is None
    with use_backend("fused"):  # falls back to the dense reference (the fused loop declines)
        assert simulate(PI1.format(dst="")).attrs["loop"] == "dense-numpy"


def test_ensemble_members_start_up_with_their_own_ic():
    net = parse_netlist(PI1.format(dst=""))
    scale = np.array([[0.9, 1.0, 1.1], [1.05, 1.0, 0.95]])
    ens = run_transient(net, tstep=0.25e-12, tstop=30e-12, ic_scale=scale)
    for e in range(3):
        one = run_transient(net, tstep=0.25e-12, tstop=30e-12, ic_scale=scale[:, e : e + 1])
        assert np.allclose(ens.phase[..., e], one.phase[..., 0], atol=1e-9)
    assert not np.allclose(ens.phase[0, 0, 0], ens.phase[0, 0, 2])  # another Ic, another static state


def test_transient_torch_declines_start_up():
    from physnn.josephson.differentiable import transient_torch

    with pytest.raises(NotImplementedError, match="start-up steps"):
        transient_torch(PI1.format(dst=""), tstop=5e-12)


# ------------------------------------------------ printed traces at t = 0 and t = h
SIN_R = """* source check: a SIN source at its offset before t = 0 into a resistor
I1 0 1 sin(10u 40u 25g 20p)
R1 1 0 2
.tran 0.25p 40p
.print v(1)
.print i(R1)
.print p(1)
"""


def test_printed_resistor_current_at_t0_is_the_source():
    # the start-up steps leave the node phase at 4.869252 rad (JoSIM's P(1) at t = 0): the BDF2
    # voltage at t = 0 and t = h must read that history, not zero (which gave 4.8 mA, -1.6 mA)
    ds = simulate(SIN_R)
    assert float(ds["P(1)"].values[0]) == pytest.approx(4.869252, abs=6e-7)
    before = ds["time"].values < 20e-12
    # JoSIM prints I(R1) = 1.000000e-05 at every one of these points
    np.testing.assert_allclose(ds["I(R1)"].values[before], 10e-6, rtol=1e-9)
    np.testing.assert_allclose(ds["V(1)"].values[before], 20e-6, rtol=1e-9)
    # without start-up (DST) the zero history is the true one: the same numbers
    dst = simulate(SIN_R.replace(".tran 0.25p 40p", ".tran 0.25p 40p 0 0.25p DST"))
    np.testing.assert_allclose(dst["I(R1)"].values, ds["I(R1)"].values, rtol=1e-9, atol=1e-15)


def test_printed_currents_of_a_start_up_run_match_josim():
    # JoSIM's printed I(C2), I(R5), I(L1) at t = 0, 0.25, 0.5 ps of MIX (its solved branch
    # currents); physnn's come from the BDF2 of the printed phases with their start-up history
    text = MIX.format(dst="").replace(".end", ".print i(C2)\n.print i(R5)\n.print i(L1)\n.print v(5)\n.end")
    ds = simulate(text)
    ref = {
        "I(C2)": [-9.248707e-21, 2.193255e-06, 1.182190e-06],
        "I(R5)": [1.000000e-05, 9.967089e-06, 9.875016e-06],
        "I(L1)": [3.999804e-06, 3.630213e-06, 2.885419e-06],
    }
    for k, r in ref.items():
        np.testing.assert_allclose(ds[k].values[:3], r, rtol=2e-6, atol=1e-12, err_msg=k)
    # a DC voltage source's node: 0.2 mV from t = 0 (JoSIM prints 0 and 0.3 mV at t = 0 and t = h:
    # its output starts the BDF2 look-back at the first printed point, with or without start-up)
    np.testing.assert_allclose(ds["V(5)"].values[:3], 0.2e-3, rtol=1e-9)


@pytest.mark.parametrize("name", ["dense-numpy", "sparse-numpy", "sparse-compiled"])
def test_every_start_up_back_end_prints_the_same_t0_currents(name):
    text = MIX.format(dst="").replace(".end", ".print i(C2)\n.print i(R5)\n.end")
    b = get_backend(name)
    circ = compile_circuit(parse_netlist(text), 0.25e-12)
    why = b.unsupported(TransientProblem.of(circ, 1))
    if why is not None:
        pytest.skip(why)
    ref = simulate(text, backend="dense-numpy")
    ds = simulate(text, backend=name)
    assert ds.attrs["loop"] == name
    for k in ("I(C2)", "I(R5)", "P(B1)"):
        np.testing.assert_allclose(ds[k].values, ref[k].values, rtol=1e-9, atol=1e-15, err_msg=k)


def test_node_phase_history_is_the_start_up_state():
    net = parse_netlist(SIN_R)
    res = run_transient(net, tstep=0.25e-12, tstop=5e-12, obs_nodes=["1"])
    hist = res.node_phase_history
    assert hist.shape == (4, 1, 1)
    # a DC current into a resistor: the phase grows by 2 pi R I h / Phi0 per step up to t = 0
    dphi = 2 * np.pi * 2 * 10e-6 * 0.25e-12 / 2.067833848e-15
    np.testing.assert_allclose(np.diff(np.concatenate([hist[:, 0, 0], res.node_phase[:3, 0, 0]])), dphi, rtol=1e-6)
    # stored every second step (the reruns of halved ensemble members): every second start-up point
    circ = compile_circuit(net, 0.125e-12)
    h2 = startup_history(circ, np.ones(0), obs=[0], store_every=2)[4]
    h1 = startup_history(circ, np.ones(0), obs=[0], store_every=1)[4]
    np.testing.assert_allclose(h2[2:, 0, 0], h1[[0, 2], 0, 0], rtol=1e-12)
    # no start-up (DST): no history
    dst = parse_netlist(SIN_R.replace(".tran 0.25p 40p", ".tran 0.25p 40p 0 0.25p DST"))
    assert run_transient(dst, tstep=0.25e-12, tstop=5e-12, obs_nodes=["1"]).node_phase_history is None


def test_halved_ensemble_members_keep_their_own_start_up_history():
    # at h = 0.5 ps the two weak members break the 0.2*2pi rule and are rerun at h/2 (with their
    # own start-up at h/2), the others are not: each member's node-phase history before t = 0 is
    # that of its own run, on the common grid
    net = parse_netlist(PI1.format(dst=""))
    sc = np.array([[0.3, 0.6, 1.0, 1.4], [0.3, 0.6, 1.0, 1.4]])
    ens = run_transient(net, tstep=0.5e-12, tstop=100e-12, ic_scale=sc, obs_nodes=["1", "2"], backend="dense-numpy")
    assert list(ens.member_halvings) == [1, 1, 0, 0]
    for e in range(4):
        one = run_transient(
            net,
            tstep=0.5e-12 / 2 ** ens.member_halvings[e],
            tstop=100e-12,
            ic_scale=sc[:, e : e + 1],
            obs_nodes=["1", "2"],
            backend="dense-numpy",
            store_step=0.5e-12,
        )
        np.testing.assert_allclose(ens.node_phase_history[..., e], one.node_phase_history[..., 0], atol=1e-12)
        np.testing.assert_allclose(ens.node_phase[..., e], one.node_phase[..., 0], atol=1e-9)
    # the halved members started from another state than at h (N = 320 steps of 0.25 ps, not 80 of 0.5 ps)
    coarse = run_transient(
        net, tstep=0.5e-12, tstop=5e-12, ic_scale=sc[:, :1], obs_nodes=["1", "2"], backend="dense-numpy", max_halvings=0
    )
    assert not np.allclose(coarse.node_phase_history[..., 0], ens.node_phase_history[..., 0], atol=1e-6)
