"""The netlist package: one suffix table (parser and CLI), the flattening class, names kept."""

import pytest

from physnn.josephson import netlist as nl
from physnn.josephson.netlist import values


def test_precomputed_factors_resolve_as_scale_factor():
    letters = set(values.UNIT_FACTORS) | {s + x for s, _ in values.SCALE_SUFFIXES for x in ("EG", "IL", "Q", "MEG")}
    assert len(letters) > 200
    for s in letters:
        assert values.UNIT_FACTORS.get(s) == values.scale_factor(s, values.UNITS), s
    # JoSIM's reading: F is femto (not farad), MEG before M, M is milli, MIL 25.4 um
    assert [nl.parse_value(v) for v in ("1F", "1MEG", "1M", "1MIL", "2MOHM", "3MEGOHM")] == [
        1e-15,
        1e6,
        1e-3,
        25.4e-6,
        2e-3,
        3e6,
    ]


def test_cli_reads_numbers_with_the_netlist_table():
    from physnn.cli import _types

    assert _types.scale_factor is values.scale_factor
    assert _types.parse_si("2meg", unit="Hz") == 2e6 and _types.parse_si("0.25ps") == 0.25e-12
    from physnn.josephson import values as old_home  # the former module re-exports the one table

    assert old_home.SCALE_SUFFIXES is values.SCALE_SUFFIXES


@pytest.mark.parametrize(
    "name",
    [
        "NetlistError",
        "NetlistWarning",
        "JJModel",
        "Source",
        "Element",
        "PrintRequest",
        "Netlist",
        "parse_value",
        "parse_netlist",
        "evaluate",
        "check_dangling",
        "gc_paused",
    ],
)
def test_names_of_the_former_module_are_importable(name):
    assert getattr(nl, name).__module__.startswith("physnn.josephson.netlist.")


def test_flattener_labels_devices_and_nodes_as_josim():
    # X2 inside X1: device B1|X2|X1, node 1|X2|X1; ports map to the caller's nodes
    from physnn.josephson.netlist.expressions import ParamScope
    from physnn.josephson.netlist.flatten import Flattener, Line, Subckt
    from physnn.josephson.netlist.elements import JJModel

    top = ParamScope()
    inner = Subckt(
        name="IN",
        ports=["A"],
        line=1,
        params=ParamScope(top, name="IN"),
        body=[Line(["B1", "A", "1", "JM"], 2, ""), Line(["L1", "1", "0", "2P"], 3, "")],
    )
    outer = Subckt(
        name="OUT", ports=["P"], line=4, params=ParamScope(top, name="OUT"), body=[Line(["X2", "IN", "P"], 5, "")]
    )
    fl = Flattener({"IN": inner, "OUT": outer}, top, {"JM": JJModel(name="JM")})
    elements, alias = fl.flatten([Line(["X1", "OUT", "9"], 6, ""), Line(["R1", "9", "0", "1"], 7, "")])
    assert [(e.name, e.nodes) for e in elements] == [
        ("B1|X2|X1", ("9", "1|X2|X1")),
        ("L1|X2|X1", ("1|X2|X1", "0")),
        ("R1", ("9", "0")),
    ]
    assert alias == {} and elements[1].value == 2e-12
    with pytest.raises(nl.NetlistError, match="line 8: undefined subcircuit .*'NOPE'"):
        Flattener({}, top, {}).flatten([Line(["X3", "NOPE", "1"], 8, "")])
