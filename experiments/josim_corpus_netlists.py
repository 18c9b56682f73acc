"""Writes the JoSIM conformance corpus: testbenches of this project's own, in the styles of public
cell libraries (MIT-LL cells as Xic exports them, with PTL transmitters/receivers and the .model at
the end; RSFQlib-style cells with cell-local .param scaling; JTL, splitter, merger, DFF, NDRO, TFF,
AND/OR/XOR/NOT, DC/SFQ, SFQ/DC; a 1,022-junction splitter tree). The cell topologies follow the
textbook RSFQ circuits; the element values are chosen here (250 uA junctions at 0.7 Ic, beta_c = 1
shunts, 2-4 pH links), not taken from any library. Each file prints the phase of every junction
(labels as physnn forms them; JoSIM must know every one: experiments/josim_conformance.py checks).

python experiments/josim_corpus_netlists.py   # rewrites tests/josephson/data/corpus/*.cir
then python experiments/josim_conformance.py --josim ../shared/tools/josim/josim-cli
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "josephson" / "data" / "corpus"
RS100 = 6.859904418  # ohm * 100 uA: beta_c = 1 shunt for the 0.07 pF / 100 uA model

# generic cells: ports, junctions (name, n+, n-, area, bias factor of 0.1 mA*area or None),
# inductors (name, n1, n2, pH), series junctions have n- != 0
CELLS = {
    "JTL": (
        ["a", "q"],
        [("B1", "1", "0", 2.5, 0.7), ("B2", "2", "0", 2.5, 0.7)],
        [("L1", "a", "1", 2.0), ("L2", "1", "2", 4.0), ("L3", "2", "q", 2.0)],
    ),
    "SPLIT": (
        ["a", "q1", "q2"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "2", "0", 3.0, 1.0),
            ("B3", "3", "0", 2.5, 0.55),
            ("B4", "4", "0", 2.5, 0.55),
        ],
        [
            ("L1", "a", "1", 2.0),
            ("L2", "1", "2", 1.5),
            ("L3", "2", "3", 3.0),
            ("L4", "2", "4", 3.0),
            ("L5", "3", "q1", 2.0),
            ("L6", "4", "q2", 2.0),
        ],
    ),
    "MERGE": (
        ["a", "b", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "2", "0", 2.5, 0.7),
            ("B3", "1", "3", 1.8, None),
            ("B4", "2", "3", 1.8, None),
            ("B5", "3", "0", 3.0, 0.9),
            ("B6", "4", "0", 2.5, 0.7),
        ],
        [("L1", "a", "1", 2.0), ("L2", "b", "2", 2.0), ("L3", "3", "4", 3.0), ("L4", "4", "q", 2.0)],
    ),
    "DFF": (
        ["a", "clk", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "1", "2", 1.6, None),
            ("B3", "3", "0", 2.5, 0.6),
            ("B4", "4", "0", 2.5, 0.7),
            ("B5", "4", "3", 1.6, None),
            ("B6", "5", "0", 2.5, 0.7),
        ],
        [
            ("L1", "a", "1", 2.0),
            ("L2", "2", "3", 7.0),
            ("L3", "clk", "4", 2.0),
            ("L4", "3", "5", 3.0),
            ("L5", "5", "q", 2.0),
        ],
    ),
    "TFF": (
        ["a", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "2", "0", 2.0, 0.3),
            ("B3", "3", "0", 2.0, 0.3),
            ("B4", "2", "4", 1.5, None),
            ("B5", "4", "0", 2.5, 0.7),
        ],
        [
            ("L1", "a", "1", 2.0),
            ("L2", "1", "2", 1.0),
            ("L3", "1", "3", 1.0),
            ("L4", "2", "3", 9.0),
            ("L5", "4", "q", 2.0),
        ],
    ),
    "NDRO": (
        ["set", "reset", "clk", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "1", "2", 1.5, None),
            ("B3", "3", "0", 2.5, 0.6),
            ("B4", "4", "0", 2.5, 0.7),
            ("B5", "4", "3", 1.5, None),
            ("B6", "5", "0", 2.5, 0.7),
            ("B7", "5", "6", 1.6, None),
            ("B8", "6", "0", 2.5, 0.7),
        ],
        [
            ("L1", "set", "1", 2.0),
            ("L2", "2", "3", 6.0),
            ("L3", "reset", "4", 2.0),
            ("L4", "clk", "5", 2.0),
            ("L5", "3", "6", 2.0),
            ("L6", "6", "q", 2.0),
        ],
    ),
    "AND": (
        ["a", "b", "clk", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "1", "3", 1.6, None),
            ("B3", "2", "0", 2.5, 0.7),
            ("B4", "2", "3", 1.6, None),
            ("B5", "3", "0", 2.0, 0.4),
            ("B6", "4", "0", 2.5, 0.7),
            ("B7", "4", "3", 1.5, None),
            ("B8", "5", "0", 2.5, 0.7),
        ],
        [
            ("L1", "a", "1", 2.0),
            ("L2", "b", "2", 2.0),
            ("L3", "clk", "4", 2.0),
            ("L4", "3", "5", 4.0),
            ("L5", "5", "q", 2.0),
        ],
    ),
    "OR": (
        ["a", "b", "clk", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "1", "3", 1.8, None),
            ("B3", "2", "0", 2.5, 0.7),
            ("B4", "2", "3", 1.8, None),
            ("B5", "3", "0", 2.5, 0.6),
            ("B6", "4", "0", 2.5, 0.7),
            ("B7", "4", "3", 1.5, None),
            ("B8", "5", "0", 2.5, 0.7),
        ],
        [
            ("L1", "a", "1", 2.0),
            ("L2", "b", "2", 2.0),
            ("L3", "clk", "4", 2.0),
            ("L4", "3", "5", 3.0),
            ("L5", "5", "q", 2.0),
        ],
    ),
    "XOR": (
        ["a", "b", "clk", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "1", "3", 1.3, None),
            ("B3", "2", "0", 2.5, 0.7),
            ("B4", "2", "3", 1.3, None),
            ("B5", "3", "0", 2.2, 0.5),
            ("B6", "4", "0", 2.5, 0.7),
            ("B7", "4", "5", 1.6, None),
            ("B8", "5", "0", 2.5, 0.7),
        ],
        [
            ("L1", "a", "1", 2.0),
            ("L2", "b", "2", 2.0),
            ("L3", "3", "5", 8.0),
            ("L4", "clk", "4", 2.0),
            ("L5", "5", "q", 2.0),
        ],
    ),
    "NOT": (
        ["a", "clk", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "1", "2", 1.5, None),
            ("B3", "2", "0", 2.2, 0.5),
            ("B4", "3", "0", 2.5, 0.7),
            ("B5", "3", "4", 1.6, None),
            ("B6", "4", "0", 2.5, 0.75),
        ],
        [("L1", "a", "1", 2.0), ("L2", "2", "4", 6.0), ("L3", "clk", "3", 2.0), ("L4", "4", "q", 2.0)],
    ),
    "DCSFQ": (
        ["a", "q"],
        [("B1", "1", "0", 2.25, None), ("B2", "2", "0", 2.25, 0.6), ("B3", "3", "0", 2.5, 0.7)],
        [
            ("L1", "a", "1", 1.0),
            ("L2", "1", "0", 4.0),
            ("L3", "1", "2", 3.5),
            ("L4", "2", "3", 3.0),
            ("L5", "3", "q", 2.0),
        ],
    ),
    "SFQDC": (
        ["a", "q"],
        [
            ("B1", "1", "0", 2.5, 0.7),
            ("B2", "1", "2", 1.4, None),
            ("B3", "2", "0", 2.5, 0.5),
            ("B4", "3", "0", 2.0, 0.6),
        ],
        [("L1", "a", "1", 2.0), ("L2", "2", "3", 6.0), ("L3", "3", "q", 2.0)],
    ),
}


def xic_cell(name, cell, *, prefix="LSMITLL_", three_terminal=False, flags=False):
    """MIT-LL / Xic-export style: numbers written out, shunts with parasitic L, bias by pwl."""
    ports, jjs, inds = cell
    out = [f".subckt {prefix}{name} {' '.join(ports)}"]
    for nm, a, b, ar, bias in jjs:
        j = nm.replace("B", "B0")
        ground = b == "0"
        nminus = f"{j.lower()}p" if ground else b
        tail = " 0" if three_terminal and ground else ""
        out.append(f"{j} {a} {nminus}{tail} jmitll area={ar:g}")
        out.append(f"R{j} {a} {j.lower()}r {RS100 / ar:.4f}" + (" *SHUNT=%.2f" % (RS100 / ar) if flags else ""))
        out.append(f"LR{j} {j.lower()}r {nminus} 0.55p" + (" fcheck" if flags else ""))
        if ground:
            out.append(f"LP{j} {nminus} 0 0.08p")
        if bias:
            out.append(f"I{j} 0 {a} pwl(0 0 5p {bias * ar * 100:.3f}u)")
    for nm, a, b, l in inds:
        out.append(f"{nm.replace('L', 'L0')} {a} {b} {l:g}p" + (" fcheck" if flags and nm == "L1" else ""))
    out.append(".ends")
    return out


def rsfqlib_cell(name, cell, *, biascoef=1.0):
    """RSFQlib style: cell-local .param scaling (Ic0, IcRs, B0Rs, BiasCoef, per-junction areas)."""
    ports, jjs, inds = cell
    out = [
        f".subckt {name} {' '.join(ports)}",
        ".param Phi0=2.067833848E-15",
        ".param B0=1",
        ".param Ic0=0.0001",
        ".param IcRs=100u*6.859904418",
        ".param B0Rs=IcRs/Ic0*B0",
        ".param Lsheet=1.13e-12",
        ".param LP=0.2p",
        ".param LRB=0.5p",
        f".param BiasCoef={0.7 * biascoef:g}",
    ]
    for nm, a, b, ar, bias in jjs:
        out.append(f".param {nm}={ar:g}")
        if bias:
            out.append(f".param I{nm}={bias / 0.7:.4f}*{nm}*Ic0*BiasCoef")
    for nm, a, b, l in inds:
        out.append(f".param {nm}={l:g}p")
    for nm, a, b, ar, bias in jjs:
        ground = b == "0"
        nminus = f"{nm.lower()}g" if ground else b
        out.append(f"{nm} {a} {nminus} jjmit area={nm}")
        out.append(f"R{nm} {a} {nm.lower()}r B0Rs/{nm}")
        out.append(f"LR{nm} {nm.lower()}r {nminus} LRB")
        if ground:
            out.append(f"LP{nm} {nminus} 0 LP")
        if bias:
            out.append(f"I{nm} 0 {a} pwl(0 0 5p I{nm})")
    for nm, a, b, l in inds:
        out.append(f"{nm} {a} {b} {nm}")
    out.append(f".ends {name}")
    return out


XIC_MODEL = ".model jmitll jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)"
RSFQ_MODEL = ".model jjmit jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)"
PTL = [
    "* PTL driver, line and receiver (5 ohm lines)",
    ".subckt LSMITLL_PTLTX a q",
    "L01 a 1 2p",
    "B01 1 b01p jmitll area=2.5",
    "RB01 1 b01r 2.7440",
    "LRB01 b01r b01p 0.55p",
    "LPB01 b01p 0 0.08p",
    "IB01 0 1 pwl(0 0 5p 175u)",
    "L02 1 2 2p",
    "B02 2 b02p jmitll area=2.5",
    "RB02 2 b02r 2.7440",
    "LRB02 b02r b02p 0.55p",
    "LPB02 b02p 0 0.08p",
    "IB02 0 2 pwl(0 0 5p 175u)",
    "R01 2 3 2.5",
    "L03 3 q 1p",
    ".ends",
    ".subckt LSMITLL_PTLRX a q",
    "R01 a 1 2",
    "L01 1 2 1p",
    "B01 2 b01p jmitll area=2.0",
    "RB01 2 b01r 3.4300",
    "LRB01 b01r b01p 0.55p",
    "LPB01 b01p 0 0.08p",
    "IB01 0 2 pwl(0 0 5p 150u)",
    "L02 2 3 3p",
    "B02 3 b02p jmitll area=2.5",
    "RB02 3 b02r 2.7440",
    "LRB02 b02r b02p 0.55p",
    "LPB02 b02p 0 0.08p",
    "IB02 0 3 pwl(0 0 5p 175u)",
    "L03 3 q 2p",
    ".ends",
]


def sfq_in(node, times, amp="600u"):
    pts = ["0 0"]
    for t in times:
        pts += [f"{t}p 0", f"{t + 3}p {amp}", f"{t + 6}p 0"]
    return f"pwl({' '.join(pts)})"


def junction_labels(text):
    sys.path.insert(0, str(REPO))
    import warnings
    from physnn.josephson import parse_netlist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [e.name for e in parse_netlist(text).junctions]


def write(name, lines, tran, *, prints=True):
    text = "\n".join(lines) + "\n" + tran + "\n"
    if prints:
        text += "\n".join(f".print phase {lab}" for lab in junction_labels(text)) + "\n"
    (OUT / f"{name}.cir").write_text(text + ".end\n")


def xic_bench(name, cells, body, tran, *, model_first=False, **kw):
    lines = [f"* {name}: MIT-LL-style testbench as Xic exports it (cells with numbers, .model at the end)"]
    if model_first:
        lines.append(XIC_MODEL)
    for c in cells:
        lines += PTL if c == "PTL" else xic_cell(c, CELLS[c], **kw)
    lines += body
    if not model_first:
        lines.append(XIC_MODEL)
    write(name, lines, tran)


def rsfq_bench(name, cells, body, tran, **kw):
    lines = [f"* {name}: RSFQlib-style testbench (cell-local .param scaling)"]
    for c in cells:
        lines += rsfqlib_cell(c, CELLS[c], **kw)
    lines += body
    lines.append(RSFQ_MODEL)
    write(name, lines, tran)


T = ".tran 0.25p 120p"
# ---- MIT-LL / Xic style, with PTL links
xic_bench(
    "mitll_jtl",
    ["JTL"],
    [f"IIN 0 a {sfq_in('a', [20, 60])}", "X1 LSMITLL_JTL a b", "X2 LSMITLL_JTL b c", "X3 LSMITLL_JTL c d", "RL d 0 2"],
    T,
)
xic_bench(
    "mitll_split_ptl",
    ["JTL", "SPLIT", "PTL"],
    [
        f"IIN 0 a {sfq_in('a', [20, 70])}",
        "X1 LSMITLL_JTL a b",
        "X2 LSMITLL_SPLIT b c d",
        "XTX1 LSMITLL_PTLTX c t1",
        "T1 t1 0 t2 0 Z0=5 TD=10p",
        "XRX1 LSMITLL_PTLRX t2 e",
        "R1 e 0 2",
        "X3 LSMITLL_JTL d f",
        "R2 f 0 2",
    ],
    T,
)
xic_bench(
    "mitll_merge",
    ["JTL", "MERGE"],
    [
        f"IA 0 a {sfq_in('a', [20, 80])}",
        f"IB 0 b {sfq_in('b', [50])}",
        "X1 LSMITLL_JTL a c",
        "X2 LSMITLL_JTL b d",
        "X3 LSMITLL_MERGE c d e",
        "X4 LSMITLL_JTL e f",
        "RL f 0 2",
    ],
    T,
)
xic_bench(
    "mitll_dfft_ptl",
    ["JTL", "DFF", "PTL"],
    [
        f"ID 0 d {sfq_in('d', [20, 90])}",
        f"IC 0 clk {sfq_in('clk', [50, 110])}",
        "X1 LSMITLL_JTL d d1",
        "XTX LSMITLL_PTLTX d1 t1",
        "T1 t1 0 t2 0 Z0=5 TD=8p",
        "XRX LSMITLL_PTLRX t2 d2",
        "X2 LSMITLL_JTL clk c1",
        "X3 LSMITLL_DFF d2 c1 q",
        "X4 LSMITLL_JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 150p",
    three_terminal=True,
)
xic_bench(
    "mitll_xor_ptl",
    ["JTL", "XOR", "PTL"],
    [
        f"IA 0 a {sfq_in('a', [20, 80])}",
        f"IB 0 b {sfq_in('b', [20, 120])}",
        f"IC 0 clk {sfq_in('clk', [50, 100, 150])}",
        "XA LSMITLL_JTL a a1",
        "XTXA LSMITLL_PTLTX a1 ta",
        "TA ta 0 tb 0 Z0=5 TD=6p",
        "XRXA LSMITLL_PTLRX tb a2",
        "XB LSMITLL_JTL b b1",
        "XC LSMITLL_JTL clk c1",
        "XG LSMITLL_XOR a2 b1 c1 q",
        "XQ LSMITLL_JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 180p",
    flags=True,
)
xic_bench(
    "mitll_and",
    ["JTL", "AND"],
    [
        f"IA 0 a {sfq_in('a', [20, 80])}",
        f"IB 0 b {sfq_in('b', [20, 130])}",
        f"IC 0 clk {sfq_in('clk', [50, 110, 160])}",
        "XA LSMITLL_JTL a a1",
        "XB LSMITLL_JTL b b1",
        "XC LSMITLL_JTL clk c1",
        "XG LSMITLL_AND a1 b1 c1 q",
        "XQ LSMITLL_JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 190p",
    model_first=True,
)
xic_bench(
    "mitll_or",
    ["JTL", "OR"],
    [
        f"IA 0 a {sfq_in('a', [20])}",
        f"IB 0 b {sfq_in('b', [80])}",
        f"IC 0 clk {sfq_in('clk', [50, 110, 150])}",
        "XA LSMITLL_JTL a a1",
        "XB LSMITLL_JTL b b1",
        "XC LSMITLL_JTL clk c1",
        "XG LSMITLL_OR a1 b1 c1 q",
        "XQ LSMITLL_JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 180p",
    three_terminal=True,
)
xic_bench(
    "mitll_not",
    ["JTL", "NOT"],
    [
        f"IA 0 a {sfq_in('a', [20])}",
        f"IC 0 clk {sfq_in('clk', [50, 100])}",
        "XA LSMITLL_JTL a a1",
        "XC LSMITLL_JTL clk c1",
        "XG LSMITLL_NOT a1 c1 q",
        "XQ LSMITLL_JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 140p",
)
xic_bench(
    "mitll_tff",
    ["JTL", "TFF"],
    [
        f"IA 0 a {sfq_in('a', [20, 60, 100, 140])}",
        "XA LSMITLL_JTL a a1",
        "XG LSMITLL_TFF a1 q",
        "XQ LSMITLL_JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 180p",
    flags=True,
)
xic_bench(
    "mitll_ndro",
    ["JTL", "NDRO"],
    [
        f"IS 0 s {sfq_in('s', [20])}",
        f"IR 0 r {sfq_in('r', [110])}",
        f"IC 0 clk {sfq_in('clk', [50, 80, 140])}",
        "XS LSMITLL_JTL s s1",
        "XR LSMITLL_JTL r r1",
        "XC LSMITLL_JTL clk c1",
        "XG LSMITLL_NDRO s1 r1 c1 q",
        "XQ LSMITLL_JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 170p",
)
xic_bench(
    "mitll_dcsfq_sfqdc",
    ["JTL", "DCSFQ", "SFQDC"],
    [
        "IIN 0 a pwl(0 0 20p 0 30p 500u 60p 500u 70p 0 100p 0 110p 500u)",
        "X1 LSMITLL_DCSFQ a b",
        "X2 LSMITLL_JTL b c",
        "X3 LSMITLL_SFQDC c d",
        "RL d 0 4",
    ],
    ".tran 0.25p 150p 0 0.5p",
)
# ---- RSFQlib style, cell-local .param scaling
rsfq_bench(
    "rsfq_jtl", ["JTL"], [f"IIN 0 a {sfq_in('a', [20, 60])}", "X1 JTL a b", "X2 JTL b c", "X3 JTL c d", "RL d 0 2"], T
)
rsfq_bench(
    "rsfq_split",
    ["JTL", "SPLIT"],
    [
        f"IIN 0 a {sfq_in('a', [20, 70])}",
        "X1 JTL a b",
        "X2 SPLIT b c d",
        "X3 JTL c e",
        "X4 JTL d f",
        "R1 e 0 2",
        "R2 f 0 2",
    ],
    T,
)
rsfq_bench(
    "rsfq_merge",
    ["JTL", "MERGE"],
    [
        f"IA 0 a {sfq_in('a', [20, 80])}",
        f"IB 0 b {sfq_in('b', [50])}",
        "X1 JTL a c",
        "X2 JTL b d",
        "X3 MERGE c d e",
        "X4 JTL e f",
        "RL f 0 2",
    ],
    T,
)
rsfq_bench(
    "rsfq_dff",
    ["JTL", "DFF"],
    [
        f"ID 0 d {sfq_in('d', [20, 90])}",
        f"IC 0 clk {sfq_in('clk', [50, 110])}",
        "X1 JTL d d1",
        "X2 JTL clk c1",
        "X3 DFF d1 c1 q",
        "X4 JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 150p",
)
rsfq_bench(
    "rsfq_tff",
    ["JTL", "TFF"],
    [f"IA 0 a {sfq_in('a', [20, 60, 100, 140])}", "XA JTL a a1", "XG TFF a1 q", "XQ JTL q q1", "RL q1 0 2"],
    ".tran 0.25p 180p",
)
rsfq_bench(
    "rsfq_ndro",
    ["JTL", "NDRO"],
    [
        f"IS 0 s {sfq_in('s', [20])}",
        f"IR 0 r {sfq_in('r', [110])}",
        f"IC 0 clk {sfq_in('clk', [50, 80, 140])}",
        "XS JTL s s1",
        "XR JTL r r1",
        "XC JTL clk c1",
        "XG NDRO s1 r1 c1 q",
        "XQ JTL q q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 170p",
)
rsfq_bench(
    "rsfq_and_split",
    ["JTL", "SPLIT", "AND"],
    [
        f"IA 0 a {sfq_in('a', [20, 80])}",
        f"IB 0 b {sfq_in('b', [20, 130])}",
        f"IC 0 clk {sfq_in('clk', [50, 110, 160])}",
        "XA JTL a a1",
        "XB JTL b b1",
        "XC JTL clk c1",
        "XS1 SPLIT a1 a2 a3",
        "XG1 AND a2 b1 c1 q",
        "XQ JTL q q1",
        "RL q1 0 2",
        "RA a3 0 2",
    ],
    ".tran 0.25p 190p",
)
rsfq_bench(
    "rsfq_xor_not",
    ["JTL", "XOR", "NOT"],
    [
        f"IA 0 a {sfq_in('a', [20, 80])}",
        f"IB 0 b {sfq_in('b', [20, 120])}",
        f"IC 0 clk {sfq_in('clk', [50, 100, 150])}",
        f"ID 0 c2 {sfq_in('c2', [60, 160])}",
        "XA JTL a a1",
        "XB JTL b b1",
        "XC JTL clk c1",
        "XG XOR a1 b1 c1 q",
        "XN NOT q c2 nq",
        "XQ JTL nq q1",
        "RL q1 0 2",
    ],
    ".tran 0.25p 190p",
)
rsfq_bench(
    "rsfq_dcsfq_sfqdc",
    ["JTL", "DCSFQ", "SFQDC"],
    [
        "IIN 0 a pwl(0 0 20p 0 30p 500u 60p 500u 70p 0 100p 0 110p 500u)",
        "X1 DCSFQ a b",
        "X2 JTL b c",
        "X3 SFQDC c d",
        "RL d 0 4",
    ],
    ".tran 0.25p 150p",
    biascoef=1.05,
)

# ---- a 1,000+ junction composite: an 8-level splitter tree of RSFQlib cells, nested instances
lines = ["* composite_split_tree: 8-level binary splitter tree (255 splitters, 1,022 junctions), nested subcircuits"]
lines += rsfqlib_cell("JTL", CELLS["JTL"]) + rsfqlib_cell("SPLIT", CELLS["SPLIT"])
lines += [".subckt LEVEL1 a", "X1 SPLIT a q1 q2", "R1 q1 0 2", "R2 q2 0 2", ".ends LEVEL1"]
for k in range(2, 9):
    lines += [
        f".subckt LEVEL{k} a",
        "X1 SPLIT a q1 q2",
        f"X2 LEVEL{k - 1} q1",
        f"X3 LEVEL{k - 1} q2",
        f".ends LEVEL{k}",
    ]
lines += [f"IIN 0 a {sfq_in('a', [20])}", "XIN JTL a b", "XT LEVEL8 b", RSFQ_MODEL]
write("composite_split_tree", lines, ".tran 0.25p 100p")

# ---- start-up before t = 0 (JoSIM's pre-t=0 steps; physnn.josephson.transient.startup_history):
# circuits whose t = 0 state is not the zero phase. A JTL biased by DC sources that are on from
# t < 0, and a bias-free JTL whose junctions are biased by pi-junction phase batteries (a pi junction
# of large Ic in a loop with a bias inductor to each JTL node, plus a small DC trim that fixes the
# sign of the loop currents); JoSIM relaxes both to their static state before t = 0.
STARTUP_MODEL = (
    ".model jjs jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA)\n"
    ".model jjpi jj(rtype=1, vg=2.8mV, cap=0.07pF, r0=160, rn=16, icrit=0.1mA, phi=pi)"
)


def startup_jtl(name, stages, bias_line, extra=(), inputs=(20, 60)):
    lines = [f"* {name}: JTL of {stages} stages with its bias present before t = 0"]
    lines.append(f"IIN 0 n0 {sfq_in('n0', list(inputs))}")
    for k in range(1, stages + 1):
        lines += [
            f"L{k} n{k - 1} n{k} {2.0 if k == 1 else 4.0}pH",
            f"B{k} n{k} 0 jjs area=2.5",
            f"RS{k} n{k} 0 {RS100 / 2.5:.6f}ohm",
        ]
        lines += bias_line(k)
    lines += [f"LOUT n{stages} out 2pH", "RL out 0 2ohm", *extra, STARTUP_MODEL]
    return lines


write("startup_dc_jtl", startup_jtl("startup_dc_jtl", 6, lambda k: [f"IB{k} 0 n{k} dc 175uA"]), ".tran 0.25p 100p")
write(
    "startup_pi_battery_jtl",
    startup_jtl(
        "startup_pi_battery_jtl",
        5,
        lambda k: [
            f"LP{k} n{k} p{k} 16pH",
            f"BP{k} p{k} 0 jjpi area=6",
            f"RP{k} p{k} 0 {RS100 / 6:.6f}ohm",
            f"IT{k} 0 n{k} dc 110uA",
        ],
    ),
    ".tran 0.25p 100p",
)
