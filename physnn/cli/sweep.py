"""``physnn sweep``: run or resume a sweep declared in a TOML file."""

from __future__ import annotations

from pathlib import Path

import click

from ._types import InputError


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (every error of the command is one line)."""
    return " ".join(str(exc).split())


@click.command()
@click.argument("spec", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="results folder (default: results/SPEC-NAME); holds journal.sqlite and sweep.nc",
)
@click.option(
    "--executor",
    type=click.Choice(["inprocess", "processes", "dask"]),
    default="inprocess",
    show_default=True,
    help="where the points run (in-process batches device parameters on the ensemble dimension)",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="worker processes (processes / dask LocalCluster)",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDR",
    help="address of a running dask scheduler, e.g. tcp://host:8786 (implies --executor dask)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="seconds to wait for --scheduler before giving up",
)
@click.option(
    "--worker-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="dask: seconds without any worker or without the scheduler before the run stops "
    "(the journal keeps every finished point)",
)
@click.option(
    "--snapshot",
    "snapshot_s",
    type=click.FloatRange(min=0.0),
    default=10.0,
    show_default=True,
    help="minimum seconds between rewrites of sweep.nc while running",
)
@click.option("--resume", is_flag=True, help="continue the sweep already in --out (finished points are kept)")
@click.option("--retry-failed", is_flag=True, help="with --resume: run the points recorded as failed again")
@click.option("--validate-only", is_flag=True, help="check the spec and print its size; run nothing")
@click.option(
    "--export",
    "export_to",
    type=click.Path(path_type=Path),
    default=None,
    metavar="DEST",
    help="copy the sweep in --out (running or not) consistently into the new folder DEST "
    "(SQLite online backup of the journal, sweep.nc rebuilt); SPEC is not needed",
)
def sweep(
    spec: Path | None,
    out: Path | None,
    executor: str,
    workers: int,
    scheduler: str | None,
    timeout: float,
    worker_timeout: float,
    snapshot_s: float,
    resume: bool,
    retry_failed: bool,
    validate_only: bool,
    export_to: Path | None,
) -> None:
    """Run the sweep declared in SPEC (TOML: [sweep], [task], [[axis]]).

    The spec is checked completely before any work (unknown field, [task] parameters with their
    type, range and unit, empty range, repeated values, units that do not match, design points
    the task refuses, memory, unreachable scheduler, an --out folder holding a different sweep or
    in use by another run). Errors name the spec file and line. Finished points are committed as
    they arrive: a killed sweep continues with --resume, losing and repeating nothing; a resume
    that changes only the title or the chunking is accepted (and says so). Prints the results
    path and, as its last line, a JSON summary. Every error is one line (exit status 2).
    """
    import json
    import sqlite3
    import time

    from ..sweep import SweepError, load_spec, run_sweep, validate

    t0 = time.perf_counter()
    if export_to is not None:
        from ..sweep.run import export_results

        if out is None:
            raise InputError("--export needs --out (the folder of the sweep to copy)")
        try:
            dest = export_results(out, export_to)
        except SweepError as exc:
            raise InputError(_one_line(exc)) from None
        click.echo(json.dumps({"exported": str(out), "to": str(dest)}))
        return
    if spec is None:
        raise InputError("missing SPEC (the sweep's TOML file)")
    if retry_failed and not resume:
        raise InputError("--retry-failed continues a sweep: give it with --resume")
    try:
        s = load_spec(spec)
        task, layout = validate(s)
    except SweepError as exc:
        raise InputError(_one_line(exc)) from None
    if validate_only:
        click.echo(
            json.dumps(
                {"spec": str(spec), "task": s.task, "points": layout.n, "replicates": s.replicates, "digest": s.digest}
            )
        )
        return
    folder = out if out is not None else Path("results") / spec.stem
    if executor == "dask" or scheduler:
        import logging

        # a lost scheduler or worker is reported as one line below; distributed's own log of
        # the reconnection attempts (tracebacks at ERROR level) would bury it
        import distributed  # noqa: F401 - its import configures its loggers, set after it

        for name in ["distributed", *logging.root.manager.loggerDict]:
            if name.startswith("distributed"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        ds = run_sweep(
            s,
            folder,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            resume=resume,
            connect_timeout=timeout,
            retry_failed=retry_failed,
            worker_timeout=worker_timeout,
            snapshot_s=snapshot_s,
            log=lambda msg: click.echo(msg, err=True),
        )
    except SweepError as exc:
        raise InputError(_one_line(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        from ..sweep.store import describe_os_error

        raise InputError(describe_os_error(exc, f"sweep into {str(folder)!r}")) from None
    click.echo(f"wrote {folder / 'sweep.nc'}")
    click.echo(
        json.dumps(
            {
                "points": int(ds.attrs["points_total"]),
                "done": int(ds.attrs["points_done"]),
                "failed": int(ds.attrs["points_failed"]),
                "seconds": round(time.perf_counter() - t0, 2),
                "out": str(folder),
            }
        )
    )
