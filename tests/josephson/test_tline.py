"""Lossless transmission lines (``T``): analytic delay/reflection results and JoSIM v2.7 numbers.

The JoSIM numbers were produced with JoSIM v2.7 (git 02a34ee, phase mode) on the netlists written
here (``josim-cli -m -o out.csv``) and copied in; the tests never call JoSIM.
"""

from pathlib import Path

import numpy as np
import pytest

from physnn.constants import Phi0
from physnn.josephson import NetlistError, parse_netlist, simulate, switch_times

DATA = Path(__file__).parent / "data"

LINE = """* step through a line: source resistor {rs}, line Z0=5 TD={td}, load {rl}
VIN 1 0 pwl(0 0 10p 0 12p 1m 60p 1m 62p 0)
RS 1 2 {rs}
{tline}
RL 3 0 {rl}
.tran 0.25p 100p
.print nodev 2 0
.print v(3)
"""


def _line(rs=5, rl=5, td="10p", form="T1 2 0 3 0 Z0=5 td={td}"):
    return simulate(LINE.format(rs=rs, rl=rl, td=td, tline=form.format(td=td)))


def test_matched_line_delays_by_td_without_reflection():
    ds = _line()
    v_in, v_out = ds["V(2,0)"].values, ds["V(3)"].values
    k = 40  # TD / h = 10 ps / 0.25 ps
    # matched at both ends: the far end sees the near end's wave TD later, unchanged (JoSIM gives
    # the same to 1e-16 V), and nothing comes back: the near end is the source divider V/2
    np.testing.assert_allclose(v_out[k:], v_in[:-k], atol=1e-15)
    assert np.all(v_out[:k] == 0.0)
    np.testing.assert_allclose(v_in.max(), 0.5e-3, rtol=1e-12)
    t = ds.time.values
    plateau = (t > 13e-12) & (t < 29e-12)
    np.testing.assert_allclose(v_in[plateau], 0.5e-3, rtol=1e-9)


@pytest.mark.parametrize("rl", [20.0, 1.25])
def test_mismatched_load_reflection_coefficient(rl):
    ds = _line(rl=rl, form="Tnet0 2 0 3 0 LOSSLESS Z0=5 TD={td}")  # generated-netlist form
    gamma = (rl - 5.0) / (rl + 5.0)
    t = ds.time.values
    far = (t > 23e-12) & (t < 69e-12)  # incident 0.5 mV arrived, plateau
    np.testing.assert_allclose(ds["V(3)"].values[far], 0.5e-3 * (1 + gamma), rtol=1e-9)
    near = (t > 33e-12) & (t < 59e-12)  # reflection back at the (matched) source after 2 TD
    np.testing.assert_allclose(ds["V(2,0)"].values[near], 0.5e-3 * (1 + gamma), rtol=1e-9)


def test_delay_is_rounded_to_steps_as_josim():
    # TD = 6.2 ps at 0.25 ps: 24.8 steps -> 25 (JoSIM v2.7 gives the same traces to 1e-16 V)
    ds = _line(td="6.2p")
    v_in, v_out = ds["V(2,0)"].values, ds["V(3)"].values
    np.testing.assert_allclose(v_out[25:], v_in[:-25], atol=1e-15)


# JoSIM v2.7 switching times (s) of tests/josephson/data/ptl_link.cir (cubic crossing rule)
JOSIM_PTL = {
    "B1|X1": 3.2471819920037693e-11,
    "B1|X2": 3.3990165182269075e-11,
    "B1|X3": 4.609684302414655e-11,
    "B1|X4": 4.855471252871204e-11,
}


def test_sfq_pulse_through_ptl_matches_josim():
    ds = simulate(DATA / "ptl_link.cir")
    for jj, t_ref in JOSIM_PTL.items():
        t = switch_times(ds, jj)
        assert len(t) == 1, (jj, t)
        assert abs(t[0] - t_ref) < 1e-15, (jj, t[0], t_ref)
    # the receiver switches TD after the driver plus the receiving cell's own delay
    assert 10e-12 < JOSIM_PTL["B1|X3"] - JOSIM_PTL["B1|X2"] < 13e-12


def test_phi0_pulse_area_through_matched_ptl():
    text = (DATA / "ptl_link.cir").read_text().replace("LR e f 1p", "RT e 0 5\nLR f 0 1p")
    text = text.replace(".tran 0.25p 150p", ".tran 0.25p 300p")
    ds = simulate(text)
    h = float(ds.time[1] - ds.time[0])
    a_in = ds["V(C,0)"].values.sum() * h
    a_out = ds["V(E)"].values.sum() * h
    # the driver junction's 2 pi slip puts one flux quantum on the line; the matched far end
    # receives it TD later, unchanged
    assert a_in == pytest.approx(Phi0, rel=0.01)
    assert a_out == pytest.approx(a_in, rel=1e-6)


@pytest.mark.parametrize(
    "line, msg",
    [
        ("T1 2 0 3 0 td=10p", "Z0"),
        ("T1 2 0 3 0 Z0=5", "TD"),
        ("T1 2 0 3 0 Z0=0 TD=10p", "Z0"),
        ("T1 2 0 3 0 Z0=5 TD=-1p", "TD"),
        ("T1 2 0 3 Z0=5 TD=1p", "four nodes"),
    ],
)
def test_bad_transmission_line(line, msg):
    with pytest.raises(NetlistError, match=msg) as exc:
        parse_netlist(LINE.format(rs=5, rl=5, td="", tline=line))
    assert exc.value.line == 4 and exc.value.token is not None


def test_delay_shorter_than_step_is_an_error():
    with pytest.raises(NetlistError, match="shorter than the time step") as exc:
        _line(td="0.1p")
    assert exc.value.line == 4 and exc.value.token == "T1"


def test_ptl_pipeline_of_cells_matches_josim():
    # the large benchmark circuit in small: splitter tree, JTL/splitter/DFF blocks, PTL links;
    # JoSIM v2.7 puts the last output junction's switch at 160.71861144896982 ps
    ds = simulate(DATA / "ptl_pipeline_small.cir")
    t = switch_times(ds, "B1|XL1B2O2")
    assert len(t) == 1 and abs(t[0] - 1.6071861144896982e-10) < 1e-15


def test_line_number_survives_pickling_and_tline_current_print_warns():
    import pickle

    from physnn.josephson import NetlistWarning

    net = parse_netlist(DATA / "ptl_link.cir")
    e = pickle.loads(pickle.dumps(net.element("T1")))
    assert e.line == 15 and e.delay == 10e-12 and e.value == 5.0
    with pytest.warns(NetlistWarning, match="transmission line"):
        parse_netlist(LINE.format(rs=5, rl=5, td="10p", tline="T1 2 0 3 0 Z0=5 TD=10p") + ".print devi T1\n")


def test_lines_in_subcircuits_with_parameters_cascade():
    ds = simulate("""* two matched lines in series, each a subcircuit instance with .param values
.param z=5
.param d=10p
.subckt LINK a b
T1 a 0 b 0 Z0={z} TD={d}
.ends LINK
VIN 1 0 pwl(0 0 10p 0 12p 1m 60p 1m 62p 0)
RS 1 2 5
X1 LINK 2 3
X2 LINK 3 4
RL 4 0 5
.tran 0.25p 100p
.print v(2)
.print v(4)
.print devv T1.X1
""")
    # matched cascade: the far end is the near end 2 TD later; devv of a line is its port-1 voltage
    np.testing.assert_allclose(ds["V(4)"].values[80:], ds["V(2)"].values[:-80], atol=1e-15)
    np.testing.assert_allclose(ds["V(T1|X1)"].values, ds["V(2)"].values, atol=1e-15)


def test_ensemble_with_lines_equals_single_runs():
    # noise-free ensemble through the branch loop with line histories, members flagged by the
    # 0.2*2pi rule compacted away and rerun at h/2: each member equals its own single run
    import torch

    from physnn.josephson import Ensemble

    text = (DATA / "ptl_link.cir").read_text().replace("600u", "650u")
    ds = simulate(text, ensemble=Ensemble(n=16, ic_spread=0.3), generator=torch.Generator().manual_seed(1))
    halved = ds["step_halvings"].values
    assert 0 < halved.sum() < 16
    mult = ds["ic"].values / simulate(text)["ic"].values
    for e in (0, 3, 6, 13):
        one = simulate(text, ensemble=mult[e : e + 1])
        # a run at h/2 prints on the .tran grid, as JoSIM does: the same time axis as the ensemble
        np.testing.assert_array_equal(one["time"].values, ds["time"].values)
        assert int(one["step_halvings"].values[0]) == halved[e]
        np.testing.assert_allclose(
            one["phase"].isel(ensemble=0).values, ds["phase"].isel(ensemble=e).values, rtol=0, atol=1e-9
        )
