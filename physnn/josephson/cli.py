"""``physnn simulate NETLIST.cir --out FILE.nc``: simulate a netlist, write netCDF and a PNG plot."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["cli_main", "plot_phases"]


def plot_phases(ds, ax=None, *, max_junctions: int = 12):
    """Plot junction phases (in units of 2 pi) against time in ps; returns the Axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    ph = ds["phase"]
    if "ensemble" in ph.dims:
        ph = ph.isel(ensemble=0)
    labels = list(ds["junction"].values)
    idx = np.linspace(0, len(labels) - 1, min(max_junctions, len(labels))).astype(int) if labels else []
    for i in dict.fromkeys(idx):
        ax.plot(ds["time"].values * 1e12, ph.isel(junction=int(i)).values / (2 * np.pi), lw=1, label=str(labels[i]))
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("junction phase / 2$\\pi$")
    if labels:
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.set_title(Path(str(ds.attrs.get("source", ""))).name)
    return ax


def cli_main(argv: list[str] | None = None) -> int:
    """Entry point of ``physnn simulate``; returns the exit status."""
    p = argparse.ArgumentParser(prog="physnn simulate", description="Simulate a JoSIM-style netlist "
                                "(phase-mode BDF2) and write an xarray netCDF file plus a PNG plot.")
    p.add_argument("netlist", type=Path, help="netlist file (.cir)")
    p.add_argument("--out", type=Path, required=True, help="output netCDF file (.nc); the plot goes next to it (.png)")
    p.add_argument("--tstep", type=float, default=None, help="time step in s (default: .tran)")
    p.add_argument("--tstop", type=float, default=None, help="stop time in s (default: .tran)")
    p.add_argument("--seed", type=int, default=0, help="seed for thermal noise (.temp)")
    args = p.parse_args(argv)
    import numpy as np

    from .netlist import NetlistError
    from .simulate import simulate
    from .transient import SimulationError

    if not args.netlist.is_file():
        p.error(f"netlist {args.netlist} not found")
    try:
        ds = simulate(args.netlist, tstep=args.tstep, tstop=args.tstop,
                      generator=np.random.default_rng(args.seed))
    except (NetlistError, SimulationError, ValueError) as exc:
        print(f"physnn simulate: error: {exc}")
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(args.out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_phases(ds)
    png = args.out.with_suffix(".png")
    ax.figure.tight_layout()
    ax.figure.savefig(png, dpi=120)
    plt.close(ax.figure)
    print(f"wrote {args.out} ({ds.sizes['junction']} junctions, {ds.sizes['time']} steps) and {png}")
    return 0
