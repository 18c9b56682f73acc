"""``physnn sweep``: run or resume a sweep declared in a TOML file."""

from __future__ import annotations

from pathlib import Path

import click

from ._types import InputError


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="results folder (default: results/SPEC-NAME); holds journal.sqlite and sweep.nc")
@click.option("--executor", type=click.Choice(["inprocess", "processes", "dask"]), default="inprocess",
              show_default=True, help="where the points run (in-process batches device parameters on "
                                      "the ensemble dimension)")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="worker processes (processes / dask LocalCluster)")
@click.option("--scheduler", default=None, metavar="ADDR",
              help="address of a running dask scheduler, e.g. tcp://host:8786 (implies --executor dask)")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="seconds to wait for --scheduler before giving up")
@click.option("--resume", is_flag=True, help="continue the sweep already in --out (finished points are kept)")
@click.option("--validate-only", is_flag=True, help="check the spec and print its size; run nothing")
def sweep(spec: Path, out: Path | None, executor: str, workers: int, scheduler: str | None, timeout: float,
          resume: bool, validate_only: bool) -> None:
    """Run the sweep declared in SPEC (TOML: [sweep], [task], [[axis]]).

    The spec is checked completely before any work (unknown field, empty range, units that do
    not match, unreachable scheduler, an --out folder holding a different sweep). Finished
    points are committed as they arrive: a killed sweep continues with --resume, losing and
    repeating nothing. Prints the results path and, as its last line, a JSON summary.
    """
    import json
    import time

    from ..sweep import SweepError, load_spec, run_sweep, validate

    t0 = time.perf_counter()
    try:
        s = load_spec(spec)
        task, layout = validate(s)
    except SweepError as exc:
        raise InputError(str(exc)) from None
    if validate_only:
        click.echo(json.dumps({"spec": str(spec), "task": s.task, "points": layout.n, "replicates": s.replicates,
                               "digest": s.digest}))
        return
    folder = out if out is not None else Path("results") / spec.stem
    try:
        ds = run_sweep(s, folder, executor=executor, workers=workers, scheduler=scheduler, resume=resume,
                       connect_timeout=timeout)
    except SweepError as exc:
        raise InputError(str(exc)) from None
    click.echo(f"wrote {folder / 'sweep.nc'}")
    click.echo(json.dumps({"points": int(ds.attrs["points_total"]), "done": int(ds.attrs["points_done"]),
                           "failed": int(ds.attrs["points_failed"]), "seconds": round(time.perf_counter() - t0, 2),
                           "out": str(folder)}))
