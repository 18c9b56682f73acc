"""Netlist parser: JoSIM suffix rules, expressions, subcircuit labels, errors naming line and token."""

import math

import pytest

from physnn.josephson import NetlistError, NetlistWarning, parse_netlist, parse_value, simulate


@pytest.mark.parametrize(
    "tok, val",
    [
        ("1F", 1e-15),  # JoSIM reads F as femto (syntax guide: "5F" is 5 fF, not 5 farad)
        ("0.07pF", 0.07e-12),
        ("2.8mV", 2.8e-3),
        ("1meg", 1e6),
        ("10k", 1e4),
        ("3u", 3e-6),
        ("2.5n", 2.5e-9),
        ("5.23", 5.23),
        ("1e-12", 1e-12),
        ("1.5E3", 1.5e3),
        ("4ohm", 4.0),
        ("7MEGohm", 7e6),
    ],
)
def test_suffixes(tok, val):
    assert parse_value(tok) == pytest.approx(val, rel=1e-12)


def test_bad_suffix_names_token():
    with pytest.raises(NetlistError, match="QQ"):
        parse_value("3QQ")


BASE = """* test
.param ib=175u lw=2*1p
.model jm jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)
.subckt CELL a b
B1 1 0 jm area=2.5
RS1 1 0 2.87
IB1 0 1 pwl(0 0 10p ib)
L1 a 1 lw
L2 1 b {lw*1.5}
.ends CELL
.subckt TWO a b
X1 CELL a m
X2 m b CELL
.ends
IIN 0 in pwl(0 0 50p 0 53p 600u
+ 56p 0)
XA TWO in out
RL out 0 2
.tran 0.25p 100p
.print phase B1|X2|XA
.print nodev out 0
.end
"""


def test_params_subckt_labels_and_continuation():
    with pytest.warns(NetlistWarning) as rec:  # BASE is physnn's reading of what JoSIM rejects
        net = parse_netlist(BASE)
    assert {("several name=value" in str(w.message), "top-level parameter LW" in str(w.message)) for w in rec} == {
        (True, False),
        (False, True),
    }
    labels = [e.name for e in net.junctions]
    assert labels == ["B1|X1|XA", "B1|X2|XA"]  # JoSIM labels: innermost first
    l2 = net.element("L2|X1|XA")
    assert l2.value == pytest.approx(3e-12)
    ib = net.element("IB1|X2|XA")
    assert ib.source.kind == "pwl" and ib.source.args[-1] == pytest.approx(175e-6)
    iin = net.element("IIN")
    assert iin.source.args == pytest.approx((0, 0, 50e-12, 0, 53e-12, 600e-6, 56e-12, 0))
    assert net.tstep == 0.25e-12 and net.tstop == 100e-12
    assert [p.label for p in net.prints] == ["P(B1|X2|XA)", "V(OUT,0)"]  # JoSIM: nodes as written
    assert net.element("XA_X2_B1").name == "B1|X2|XA"  # path form resolves to the label


@pytest.mark.parametrize(
    "bad, line, token",
    [
        ("Q1 1 0 5", 2, "Q1"),  # unknown element
        ("R1 1", 2, "R1"),  # missing node / value
        ("R1 1 0 rval", 2, "RVAL"),  # undefined parameter
        ("X1 NOPE 1 0", 2, "NOPE"),  # undefined subcircuit
        ("B1 1 0 nomodel", 2, "NOMODEL"),  # undefined model
        ("R1 1 0 -5", 2, "-5"),  # negative value
    ],
)
def test_errors_name_line_and_token(bad, line, token):
    text = f"* t\n{bad}\nR9 1 0 1\n.tran 1p 10p\n"
    with pytest.raises(NetlistError) as exc:
        parse_netlist(text)
    assert exc.value.line == line
    assert token in str(exc.value)
    assert f"line {line}" in str(exc.value)


def test_floating_node_is_named():
    text = """* floating island 5-6 only reachable through a current source
.model jm jj(icrit=0.1mA, cap=0.07pF, r0=160, rn=16)
B1 1 0 jm
I1 1 5 pwl(0 0 1p 10u)
R5 5 6 1
R6 6 5 2
.tran 0.25p 10p
"""
    with pytest.raises(NetlistError, match="floating node"):
        simulate(text)


def test_unknown_control_and_unbalanced_parenthesis():
    # JoSIM ignores an unknown control with a warning; strict=True makes it an error
    with pytest.warns(NetlistWarning, match="line 2"):
        parse_netlist("* t\n.foo 1\nR1 1 0 1\nL1 1 0 1p\n")
    with pytest.raises(NetlistError, match="line 2"):
        parse_netlist("* t\n.foo 1\n", strict=True)
    with pytest.raises(NetlistError, match="line 2"):
        parse_netlist("* t\nI1 0 1 pwl(0 0 1p 1u\n")


def test_param_expression_functions():
    net = parse_netlist("* t\n.param a=2\n.param b=sqrt(a)*3p\n.param c=a^2\nL1 1 0 {b*c}\n.tran 1p 10p\n")
    assert net.element("L1").value == pytest.approx(math.sqrt(2) * 3e-12 * 4)
    with pytest.raises(NetlistError, match="circular"):
        parse_netlist("* t\n.param a=b\n.param b=a\nL1 1 0 a\n")
