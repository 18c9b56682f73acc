"""The shipped RSFQ cell library (``circuits/*.cir``): JTL, splitter, merger, DFF, DC/SFQ, SFQ/DC.

Each file holds one ``.subckt`` and the junction model it uses; :func:`cell_library` concatenates
cells into netlist text to which a test bench (sources, instances, ``.tran``) is appended.
"""

from __future__ import annotations

from pathlib import Path

from .._resources import search_path

__all__ = ["CELLS", "cell_path", "cell_library", "jtl_chain"]

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
    raise FileNotFoundError(
        f"name={name!r}: no cell {fname} in {[str(p) for p in search_path('circuits')]}; known cells: {sorted(CELLS)}"
    )


def cell_library(*names: str) -> str:
    """Netlist text of the named cells (default: all), ready to append a test bench to."""
    names = names or tuple(CELLS)
    return "\n".join(cell_path(n).read_text() for n in names) + "\n"


def jtl_chain(
    n_cells: int, *, tstep: float = 0.25e-12, tstop: float = 90e-12, load_ohm: float = 2.0, extra: str = ""
) -> str:
    """Netlist text of ``n_cells`` library JTLs in series (nodes ``a``, ``b``, ...; instances
    ``X1``...), driven at ``a`` by one 600 uA, 6 ps triangular current pulse at 30-36 ps and
    terminated by ``load_ohm`` (ohm) to ground; ``.tran tstep tstop`` (s). ``extra`` lines (e.g.
    ``.print``) are appended. The standard test bench of the JTL examples, tests and benchmarks.
    """
    if not 1 <= n_cells <= 25:
        raise ValueError(f"n_cells={n_cells}: must be in [1, 25] (one letter per node)")
    nodes = [chr(ord("a") + k) for k in range(n_cells + 1)]
    lines = ["IIN 0 a pwl(0 0 30p 0 33p 600u 36p 0)"]
    lines += [f"X{k + 1} JTL {nodes[k]} {nodes[k + 1]}" for k in range(n_cells)]
    lines += [f"RL {nodes[-1]} 0 {load_ohm!r}", f".tran {tstep!r} {tstop!r}"]
    return cell_library("jtl") + "\n".join(lines) + "\n" + (extra + "\n" if extra else "")
