"""Scoping and element forms exactly as JoSIM v2.7 reads them, each on a netlist of our own.

Rules measured with josim-cli v2.7 (git 02a34ee) and written down in physnn.josephson.netlist's
docstring; the switching times JoSIM gives on data/scoping/*.cir are in
data/scoping/josim_reference.json (experiments/josim_conformance.py regenerates them).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from physnn.josephson import NetlistError, NetlistWarning, compare_switch_times, parse_netlist, simulate
from physnn.josephson.simulate import print_indices

DATA = Path(__file__).parent / "data" / "scoping"
REF = json.loads((DATA / "josim_reference.json").read_text())
JJ = ".model jm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)\n"


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        return fn(*a, **kw)


def _matches_josim(name: str, ds=None):
    ref = REF[name]
    ds = _quiet(simulate, DATA / name) if ds is None else ds
    net = _quiet(parse_netlist, DATA / name)
    grounded = {e.nodes[0]: e.name for e in net.junctions if e.nodes[1] == "0"}
    times = {
        (k if k in {e.name for e in net.junctions} else grounded[k]): v
        for k, v in ref["switch_times_s"].items()
        if k in grounded or k in {e.name for e in net.junctions}
    }
    assert times
    c = compare_switch_times(ds, times, min_dwell=2 * ref["prstep_s"], tmax=ref["tstop_s"] + 0.5 * ref["prstep_s"])
    assert c.count_mismatches == () and c.n_events > 0
    assert c.max_abs_err < 0.05e-12  # the same equations: far inside max(0.3 ps, 1 %)
    return ds, net, times


def test_subcircuit_params_are_local_and_model_after_use():
    # JTLC's IB1=280u, LOAD's later ib1=(b1+b2)*ic0*biascoef=175u and the top level's ib1=100u
    # each bias only their own scope (a global last-wins table gave 175u everywhere)
    ds, net, _ = _matches_josim("local_params.cir")
    bias = {e.name: e.source.args[-1] for e in net.elements if e.kind == "I"}
    assert bias["IB1|X1"] == pytest.approx(280e-6) and bias["IB1|X2"] == pytest.approx(280e-6)
    assert bias["IB1|XL"] == pytest.approx(175e-6) and bias["I9"] == pytest.approx(250e-6)
    assert net.params["IB1"] == pytest.approx(100e-6)  # the top level's own
    assert net.element("B1|XL").model.name == "JMOD"  # model names are case-insensitive


def test_forward_references_duplicates_area_and_ic_from_subcircuit_params():
    with pytest.warns(NetlistWarning, match="keeps the first"):
        net = parse_netlist(DATA / "param_order.cir")
    area = {e.name: e.area for e in net.junctions}
    # a=b*2 with b defined later; x=2.2 then x=1 (first kept); area=lo*2, ic=lo*200u, area=ar (top level)
    assert area == pytest.approx({"B4|XG": 2.2, "B5|XG": 2.2, "B6|XG": 2.2, "B1": 2.2, "B2": 2.2})
    _matches_josim("param_order.cir")


def test_expression_with_a_top_level_param_inside_a_subcircuit_warns():
    text = (
        "* t\n.param gg=1.1\n.subckt S in\n.param lo=gg*2\nB4 in 0 jm area=lo\n"
        "I1 0 in pwl(0 0 10p 250u)\n.ends\nXG S g\n.tran 0.25p 20p\n" + JJ
    )
    with pytest.warns(NetlistWarning, match="JoSIM v2.7 resolves only a bare name") as rec:
        net = parse_netlist(text)
    assert net.junctions[0].area == pytest.approx(2.2)
    assert any("line 4" in str(w.message) for w in rec)
    with pytest.raises(NetlistError, match="strict"):
        parse_netlist(text, strict=True)


def test_wrspice_forms_flags_comments_zero_inductor_dangling_stub():
    with pytest.warns(NetlistWarning, match="unknown device in .print") as rec:
        ds = simulate(DATA / "wrspice_forms.cir")
    assert any("B1|X7" in str(w.message) for w in rec)  # JoSIM warns about the same one
    net = _quiet(parse_netlist, DATA / "wrspice_forms.cir")
    b = net.element("B1|X1")
    assert b.model.name == "JJW" and b.area == 2.5  # 3-terminal: the last bare token is the model
    assert b.model.rn == 16 and b.model.icrit == pytest.approx(0.1e-3)  # + continuation lines
    assert net.element("RS1|X1").value == pytest.approx(2.87)  # inline *SHUNT=... comment dropped
    assert "L2|X1" not in {e.name for e in net.elements}  # zero inductor: a short
    assert net.element("L3|X1").nodes[0] == "1|X1"  # ... node 2|X1 merged into 1|X1
    assert net.element("RSTUB|X1").nodes == ("1|X1", "DEAD|X1")  # dangling stub simulates
    # column names as JoSIM writes them (.plot v(c) -> V(C), .PRINT NODEV c 0 -> V(C,0))
    josim_cols = [c.strip('"') for c in REF["wrspice_forms.cir"]["columns"][1:]]
    assert josim_cols == ["V(C)", "V(C,0)", "P(B1|X1)", "P(B1|X2)"]
    assert set(josim_cols) <= set(ds.data_vars)
    np.testing.assert_array_equal(ds["V(C)"].values, ds["V(C,0)"].values)
    # .tran 0.25p 80p 0 0.5p: simulated at 0.25 ps, printed every 0.5 ps (JoSIM: 160 rows to 79.5 ps)
    assert net.tstep == 0.25e-12 and net.prstep == 0.5e-12
    np.testing.assert_allclose(np.diff(ds["time"].values), 0.5e-12, rtol=1e-9)
    assert ds.sizes["time"] >= REF["wrspice_forms.cir"]["samples"]
    _matches_josim("wrspice_forms.cir", ds)


def test_dotted_instance_names_keep_their_dots_as_josim():
    net = parse_netlist(DATA / "dotted_instances.cir")
    assert [e.name for e in net.junctions] == ["B1|XAND2.31", "B1|X.A|X2", "B1|XB.C|X2"]
    # JoSIM's node labels (it prints every node phase when there is no .print)
    cols = {c.strip('"') for c in REF["dotted_instances.cir"]["columns"]}
    assert {f"P({e.nodes[0]})" for e in net.junctions} <= cols
    _, _, times = _matches_josim("dotted_instances.cir")
    assert set(times) == {"B1|XAND2.31", "B1|X.A|X2", "B1|XB.C|X2"}


def test_unused_broken_param_only_warns_used_one_errors():
    base = "* t\n.param bad=nosuch*2\nR1 1 0 2\nI1 0 1 pwl(0 0 10p 1u)\n.tran 0.25p 20p\n"
    with pytest.warns(NetlistWarning, match="unused .param BAD"):
        net = parse_netlist(base)
    assert "BAD" not in net.params
    with pytest.raises(NetlistError, match="undefined parameter") as exc:
        parse_netlist(base.replace("R1 1 0 2", "R1 1 0 bad"))
    assert exc.value.token == "NOSUCH"


def test_permissive_forms_warn():
    with pytest.warns(NetlistWarning, match="UIC"):
        net = parse_netlist("* t\nR1 1 0 2\nI1 0 1 pwl(0 0 10p 1u)\n.tran 0.25p 20p UIC\n")
    assert net.tstop == 20e-12
    with pytest.warns(NetlistWarning, match="one definition per line"):
        net = parse_netlist("* t\n.param a=2, b=3\nR1 1 0 b\nI1 0 1 pwl(0 0 10p 1u)\n.tran 0.25p 20p\n")
    assert net.element("R1").value == 3.0
    # one expression with blanks is one .param (JoSIM drops the blanks)
    net = parse_netlist("* t\n.param a = (1 + 2) * 2\nR1 1 0 a\nI1 0 1 pwl(0 0 10p 1u)\n.tran 0.25p 20p\n")
    assert net.element("R1").value == 6.0


def test_tran_fourth_argument_is_the_print_step():
    body = "* t\nR1 1 0 2\nI1 0 1 pwl(0 0 10p 1u)\n"
    net = parse_netlist(body + ".tran 1p 20p 0 0.25p\n")
    assert net.tstep == 0.25e-12 and net.prstep == 0.25e-12  # JoSIM lowers the step to PRSTEP
    ds = simulate(body + ".tran 0.25p 20p 2p 1p\n.print v(1)\n")
    np.testing.assert_allclose(ds["time"].values, np.arange(2, 21) * 1e-12, rtol=0, atol=1e-18)


def test_print_grid_rule_after_a_halving():
    # JoSIM's rule (src/Output.cpp): the first sample at or after each PRSTART + k PRSTEP
    t = np.concatenate([np.arange(0, 4) * 1.0, 4 + np.arange(0, 9) * 0.5])  # step halved at t = 4
    np.testing.assert_array_equal(t[print_indices(t, 0.0, 1.0)], np.arange(0, 9) * 1.0)
    np.testing.assert_array_equal(print_indices(np.arange(10) * 0.3, 0.5, 1.0), [2, 5, 9])


def test_nested_instance_sees_the_top_level_not_the_enclosing_cell():
    _, net, _ = _matches_josim("nested_scopes.cir")
    area = {e.name: e.area for e in net.junctions}
    assert area == pytest.approx({"B1|X1|XO": 1.1, "B2|XO": 2.2, "B3": 1.1})
