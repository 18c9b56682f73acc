"""``physnn simulate``: simulate a JoSIM-style netlist, write netCDF and a PNG plot."""

from __future__ import annotations

from pathlib import Path

import click

from ._types import InputError, SIValue


def _out_paths(out: str | None, netlist: Path) -> tuple[Path, Path]:
    """``--out``: a ``.nc`` file, or a folder (existing, ending in a separator, or without a suffix)."""
    if out is None:
        nc = netlist.with_suffix(".nc")
    else:
        p = Path(out)
        is_dir = out.endswith(("/", "\\")) or p.is_dir() or p.suffix == ""
        nc = p / f"{netlist.stem}.nc" if is_dir else p
    return nc, nc.with_suffix(".png")


@click.command()
@click.argument("netlist", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    default=None,
    metavar="PATH",
    help="output .nc file, or a folder to write NETLIST.nc and NETLIST.png into (default: beside the netlist)",
)
@click.option("--tstep", type=SIValue("s"), default=None, help="time step, e.g. 0.25p (default: the .tran line)")
@click.option("--tstop", type=SIValue("s"), default=None, help="stop time, e.g. 100p or 1n (default: the .tran line)")
@click.option(
    "--ensemble",
    type=click.IntRange(min=1),
    default=None,
    help="simulate N copies at once (independent thermal noise with .temp)",
)
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the thermal noise")
@click.option("--no-plot", is_flag=True, help="write only the netCDF file")
def simulate(
    netlist: Path,
    out: str | None,
    tstep: float | None,
    tstop: float | None,
    ensemble: int | None,
    seed: int,
    no_plot: bool,
) -> None:
    """Simulate a JoSIM-style netlist (phase-mode BDF2) and write an xarray netCDF file plus a
    PNG plot of the junction phases.

    Numbers take SPICE suffixes as in netlists (--tstop 100p, --tstep 0.1ps).
    """
    nc, png = _out_paths(out, netlist)
    from ..josephson import NetlistError, SimulationError, simulate as run
    from ..random import generator_from_seed

    try:
        ds = run(netlist, tstep=tstep, tstop=tstop, ensemble=ensemble, generator=generator_from_seed(seed))
    except (NetlistError, SimulationError, ValueError) as exc:
        raise InputError(f"{netlist}: {exc}") from None
    nc.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(nc)
    msg = f"wrote {nc} ({ds.sizes['junction']} junctions, {ds.sizes['time']} steps"
    msg += f", {ds.sizes['ensemble']} members)" if "ensemble" in ds.sizes else ")"
    if not no_plot:
        from matplotlib.figure import Figure

        from ..plot import plot_phases

        fig = Figure(figsize=(8, 4.5))
        plot_phases(ds, ax=fig.subplots())
        fig.tight_layout()
        fig.savefig(png, dpi=120)
        msg += f" and {png}"
    click.echo(msg)
