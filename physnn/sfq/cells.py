"""The SFQ neuromorphic cell library and test-bench pieces.

The neuromorphic cells live in ``circuits/sfq_*.cir`` (stochastic synapse, leaky integrate-and-fire
neuron); they are used together with the RSFQ cells that :mod:`physnn.josephson` ships (JTL,
splitter, merger, DFF). :func:`library_text` inlines the ``.subckt`` text of the cells a netlist
uses (and the cells those need), so generated netlists are self-contained (no ``.include``).
"""

from __future__ import annotations

from dataclasses import dataclass

from physnn.josephson import CELLS as _JJ_CELLS
from physnn.josephson import cell_path as _jj_cell_path

from .._io import file_sha256

__all__ = [
    "SFQCell",
    "SFQ_CELLS",
    "CellLibraryError",
    "cell",
    "library_text",
    "cell_sha256",
    "pulse_pwl",
    "merger_tree",
    "PULSE_AMP_A",
    "PULSE_WIDTH_S",
]


class CellLibraryError(KeyError):
    """A netlist names a cell that the SFQ library does not hold (the message lists the known ones)."""

    def __str__(self):  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True, kw_only=True)
class SFQCell:
    """One cell: netlist file, subcircuit name, ports (in JoSIM instance order), cells it needs."""

    name: str
    file: str
    subckt: str
    ports: tuple[str, ...]
    needs: tuple[str, ...] = ()


def _jj(name: str) -> SFQCell:
    f, sub, ports = _JJ_CELLS[name]
    return SFQCell(name=name, file=f, subckt=sub, ports=ports)


#: cell name -> :class:`SFQCell` (the RSFQ cells of physnn.josephson plus the neuromorphic cells)
SFQ_CELLS: dict[str, SFQCell] = {
    **{n: _jj(n) for n in ("jtl", "splitter", "merger", "dff")},
    "synapse": SFQCell(name="synapse", file="sfq_synapse.cir", subckt="SFQSYN", ports=("in", "out", "bias")),
    "neuron": SFQCell(
        name="neuron", file="sfq_neuron.cir", subckt="SFQNEURON", ports=("in", "clk", "out", "bias"), needs=("dff",)
    ),
}

#: amplitude (A) and width (s) of the triangular current pulses that launch SFQ pulses into a JTL
PULSE_AMP_A = 600e-6
PULSE_WIDTH_S = 6e-12


def cell(name: str) -> SFQCell:
    """The :class:`SFQCell` called ``name``; :class:`CellLibraryError` naming it if unknown."""
    try:
        return SFQ_CELLS[name]
    except KeyError:
        raise CellLibraryError(
            f"cell {name!r} is not in the SFQ cell library (known cells: "
            f"{sorted(SFQ_CELLS)}); add its netlist to circuits/ and to "
            "physnn.sfq.cells.SFQ_CELLS"
        ) from None


def _resolve(names) -> list[str]:
    out: list[str] = []

    def add(n):
        c = cell(n)
        for d in c.needs:
            add(d)
        if n not in out:
            out.append(n)

    for n in names:
        add(n)
    return out


def library_text(*names: str) -> str:
    """Netlist text of the named cells and the cells they need, dependencies first."""
    return "\n".join(_jj_cell_path(cell(n).file).read_text() for n in _resolve(names)) + "\n"


def cell_sha256(name: str) -> str:
    """SHA-256 of a cell's netlist file (ties a transfer-curve file to the exact netlist)."""
    return file_sha256(_jj_cell_path(cell(name).file))


def pulse_pwl(times_s) -> str:
    """``pwl(...)`` text of triangular current pulses (:data:`PULSE_AMP_A`, :data:`PULSE_WIDTH_S`)
    starting at ``times_s`` (s, increasing, at least one pulse width apart). A JTL turns each
    into one SFQ pulse."""
    pts = ["0 0"]
    last = -1.0
    for t in sorted(float(x) for x in times_s):
        if t < 1e-12 or t - last < PULSE_WIDTH_S:
            raise ValueError(f"times_s: pulses at {last!r} and {t!r} s overlap or start before 1 ps")
        pts.append(f"{t:.6g} 0 {t + PULSE_WIDTH_S / 2:.6g} {PULSE_AMP_A:.6g} {t + PULSE_WIDTH_S:.6g} 0")
        last = t
    return "pwl(" + " ".join(pts) + ")"


def merger_tree(heads: list[str], prefix: str, merger: str) -> tuple[list[str], str]:
    """Netlist lines of a binary tree of ``merger`` cells joining the nodes ``heads`` (a power of
    two) into one. Instance ``X{prefix}{level}_{k}`` drives node ``{prefix}{level}_{k}o``.
    Returns the lines and the root node."""
    if len(heads) & (len(heads) - 1):
        raise ValueError(f"merger_tree: {len(heads)} inputs; a binary merger tree needs a power of two")
    lines, level = [], 0
    while len(heads) > 1:
        nxt = []
        for k in range(0, len(heads), 2):
            o = f"{prefix}{level}_{k}"
            lines.append(f"X{o} {merger} {heads[k]} {heads[k + 1]} {o}o")
            nxt.append(f"{o}o")
        heads, level = nxt, level + 1
    return lines, heads[0]
