"""The shipped RSFQ cell library (``circuits/*.cir``): JTL, splitter, merger, DFF, DC/SFQ, SFQ/DC.

Each file holds one ``.subckt`` and the junction model it uses; :func:`cell_library` concatenates
cells into netlist text to which a test bench (sources, instances, ``.tran``) is appended.
"""

from __future__ import annotations

from pathlib import Path

from .._resources import search_path

__all__ = ["CELLS", "cell_path", "cell_library"]

#: cell name -> (file, subcircuit name, ports)
CELLS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "jtl": ("jtl.cir", "JTL", ("in", "out")),
    "splitter": ("splitter.cir", "SPLIT", ("in", "out1", "out2")),
    "merger": ("merger.cir", "MERGE", ("in1", "in2", "out")),
    "dff": ("dff.cir", "DFF", ("d", "clk", "q")),
    "dcsfq": ("dcsfq.cir", "DCSFQ", ("in", "out")),
    "sfqdc": ("sfqdc.cir", "SFQDC", ("in", "out")),
}


def cell_path(name: str) -> Path:
    """Path of a cell netlist (``name`` from :data:`CELLS` or a file name), user folders first."""
    fname = CELLS[name][0] if name in CELLS else name
    for folder in search_path("circuits"):
        p = Path(folder) / fname
        if p.is_file():
            return p
    raise FileNotFoundError(f"name={name!r}: no cell {fname} in {[str(p) for p in search_path('circuits')]}; "
                            f"known cells: {sorted(CELLS)}")


def cell_library(*names: str) -> str:
    """Netlist text of the named cells (default: all), ready to append a test bench to."""
    names = names or tuple(CELLS)
    return "\n".join(cell_path(n).read_text() for n in names) + "\n"
