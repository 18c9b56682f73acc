"""Hypothesis fuzz of the netlist parser: any text either parses or raises NetlistError naming a
line and a token, quickly (no hang, no other exception)."""

import time
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from physnn.josephson import NetlistError, parse_netlist

WORDS = [
    "B1",
    "B2",
    "L1",
    "L2",
    "R1",
    "C1",
    "K1",
    "I1",
    "V1",
    "P1",
    "T1",
    "X1",
    "XA",
    "JTL",
    "SUB",
    "JM",
    "0",
    "1",
    "2",
    "3",
    "a",
    "gnd",
    "2p",
    "1.5pF",
    "5",
    "-1",
    "0.1mA",
    "{x*2}",
    "x",
    "y",
    "area=2",
    "ic=100u",
    "Z0=5",
    "TD=10p",
    "td=",
    "LOSSLESS",
    "pwl(0 0 10p 1u)",
    "pulse(0 1u 1p 1p 1p 5p 20p)",
    "sin(0 1u 10g)",
    "exp(0 1u 1p 1p)",
    "noise(0 1n 1p 0)",
    "cus(nofile 1p 1 1)",
    "dc",
    "pwl(",
    ")",
    "jj(icrit=0.1mA)",
    "jj(rtype=1, cap=0.07pF)",
    "jj(d=2)",
    "(",
    ",",
    "=",
    "1e400",
    "nan",
    "inf",
]
CONTROLS = [
    ".tran",
    ".print",
    ".plot",
    ".save",
    ".param",
    ".model",
    ".subckt",
    ".ends",
    ".include",
    ".temp",
    ".neb",
    ".spread",
    ".option",
    ".iv",
    ".control",
    ".endc",
    ".end",
    ".foo",
    "+",
    "*",
    "devv",
    "phase",
    "nodev",
    "v(1)",
    "p(B1.X1)",
    "i(L1)",
    "@B1[p]",
    "tran",
    "print",
    "seed=3",
]

line = st.lists(st.sampled_from(WORDS + CONTROLS), min_size=0, max_size=8).map(" ".join)
text = st.lists(st.one_of(line, st.text(max_size=30)), min_size=1, max_size=25).map("\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text)
def test_parser_only_raises_netlist_error(src):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parse_netlist("* fuzz\n" + src + "\n")
        except NetlistError as exc:
            assert exc.token is not None, str(exc)
            assert exc.line is not None or "file" in str(exc), str(exc)
    assert time.perf_counter() - t0 < 2.0  # never a hang


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_parser_survives_arbitrary_text(src):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parse_netlist("* fuzz\n" + src + "\n")
        except NetlistError as exc:
            assert exc.token is not None
