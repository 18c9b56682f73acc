"""``physnn demo``: how read noise, ADC resolution and drift time cost a small crossbar network.

A 64-64-10 MLP is trained in floating point on scikit-learn's 8x8 digits (shipped inside
scikit-learn, no download; the stratified 70/30 split of :func:`physnn.data.digits.build_digits`);
both layers are programmed onto simulated crossbars of a device card (default: the PCM card
``pcm_aihwkit``; ``--card`` takes your own) with an 8-bit DAC on abs-max-scaled inputs and global
drift compensation. The demo sweeps

* output read noise (std, in weight units, per read),
* ADC resolution (bits, saturating at +-12 weight units as aihwkit's default),
* time since programming (drift and accumulated 1/f conductance noise),

with independent device instances per point on the ensemble dimension, through
:func:`physnn.sweep.run_sweep` (crash-safe: rerunning continues an interrupted demo). Outputs in
``--out``: ``sweep.nc`` (xarray, with ``journal.sqlite``), ``heatmaps.png``, ``lines.png`` and
``summary.md``; the last printed line is one JSON object.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from ._types import InputError

#: the embedded defaults: (read noise values, ADC bits, drift times in s, replicates, epochs)
FULL = (
    (0.0, 0.05, 0.1, 0.2, 0.5, 1.0),
    (3, 4, 5, 6, 8, 10),
    (1.0, 3600.0, 86400.0, 30 * 86400.0, 365.25 * 86400.0, 10 * 365.25 * 86400.0),
    32,
    300,
)
QUICK = ((0.0, 0.2, 1.0), (4, 6, 8), (1.0, 86400.0, 365.25 * 86400.0), 8, 150)
_TIME_LABELS = {
    1.0: "1 s",
    3600.0: "1 h",
    86400.0: "1 day",
    30 * 86400.0: "1 month",
    365.25 * 86400.0: "1 year",
    10 * 365.25 * 86400.0: "10 years",
}


def demo_spec(
    *,
    card: str = "pcm_aihwkit",
    quick: bool = False,
    seed: int = 0,
    replicates: int | None = None,
    epochs: int | None = None,
):
    """The demo's :class:`~physnn.sweep.SweepSpec`."""
    from ..sweep import Axis, SweepSpec

    noise, bits, times, reps, ep = QUICK if quick else FULL
    return SweepSpec(
        chunk_points=len(noise) * len(bits),  # one drift time per commit
        name="physnn demo: digits MLP on crossbars vs read noise x ADC bits x drift time",
        task="crossbar_mlp",
        seed=seed,
        replicates=replicates or reps,
        task_params={"card": str(card), "epochs": epochs or ep, "hidden": 64, "dac_bits": 8, "adc_y_max": 12.0},
        axes=(
            Axis(field="config.out_noise", name="read_noise", values=noise, units="1"),
            Axis(field="config.adc.bits", name="adc_bits", values=bits, units="bit"),
            Axis(field="config.t_inference", name="drift_time", values=times, units="s"),
        ),
    )


def figures(ds: Any, out: Path, float_acc: float) -> list[Path]:
    """Heat maps (accuracy vs read noise x ADC bits, one panel per drift time) and line plots
    with 95 % confidence bands; returns the files written."""
    from matplotlib.figure import Figure

    from ..plot import heatmap, lines_ci

    times = list(ds.drift_time.values)
    ncol = min(3, len(times))
    nrow = -(-len(times) // ncol)
    fig = Figure(figsize=(4.6 * ncol, 3.6 * nrow))
    axs = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax, t in zip(axs, times):
        heatmap(
            ds.accuracy_mean.sel(drift_time=t),
            x="read_noise",
            y="adc_bits",
            ax=ax,
            vmin=0.0,
            vmax=1.0,
            colorbar=t == times[-1],
        )
        ax.set_title(f"t = {_TIME_LABELS.get(float(t), f'{t:g} s')}", fontsize=9)
    for ax in axs[len(times) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"test accuracy (mean of {ds.sizes['replicate']} device instances); float net {float_acc:.3f}", fontsize=10
    )
    fig.tight_layout()
    p1 = out / "heatmaps.png"
    fig.savefig(p1, dpi=110)

    fig = Figure(figsize=(12, 4))
    a1, a2 = fig.subplots(1, 2)
    mid_noise = ds.read_noise.values[len(ds.read_noise) // 2]
    lines_ci(ds.sel(read_noise=mid_noise), "accuracy", x="drift_time", hue="adc_bits", ax=a1, xscale="log")
    a1.axhline(float_acc, color="k", lw=0.8, ls=":")
    a1.set_title(f"vs drift time (read noise {mid_noise:g})", fontsize=9)
    one_day = min(times, key=lambda t: abs(t - 86400.0))
    lines_ci(ds.sel(drift_time=one_day), "accuracy", x="read_noise", hue="adc_bits", ax=a2)
    a2.axhline(float_acc, color="k", lw=0.8, ls=":")
    a2.set_title(f"vs read noise (t = {_TIME_LABELS.get(float(one_day), f'{one_day:g} s')})", fontsize=9)
    fig.tight_layout()
    p2 = out / "lines.png"
    fig.savefig(p2, dpi=110)
    return [p1, p2]


def summary(ds: Any, float_acc: float, card: str, seconds: float) -> tuple[str, dict[str, Any]]:
    """Markdown summary and the JSON figures of the demo."""
    import numpy as np

    m = ds.accuracy_mean
    lines = [
        f"# physnn demo: crossbar nonidealities ({card})",
        "",
        f"64-64-10 MLP on sklearn digits, float test accuracy {float_acc:.3f}; "
        f"{ds.sizes['replicate']} device instances per point, {int(ds.attrs['points_total'])} points "
        f"({int(ds.attrs['points_failed'])} failed); {seconds:.1f} s.",
        "",
        "Smallest ADC resolution keeping the mean accuracy within 2 points (0.02) of the float net:",
        "",
        "| read noise \\ drift time | "
        + " | ".join(_TIME_LABELS.get(float(t), f"{t:g} s") for t in ds.drift_time.values)
        + " |",
        "|---|" + "---|" * ds.sizes["drift_time"],
    ]
    margin: dict[str, Any] = {}
    for n in ds.read_noise.values:
        cells = []
        for t in ds.drift_time.values:
            a = m.sel(read_noise=n, drift_time=t)
            ok = [int(b) for b in ds.adc_bits.values if float(a.sel(adc_bits=b)) >= float_acc - 0.02]
            cells.append(f"{min(ok)} bit" if ok else "none")
        lines.append(f"| {n:g} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Mean accuracy at the largest ADC resolution (± 95 % CI half-width):",
        "",
        "| read noise \\ drift time | "
        + " | ".join(_TIME_LABELS.get(float(t), f"{t:g} s") for t in ds.drift_time.values)
        + " |",
        "|---|" + "---|" * ds.sizes["drift_time"],
    ]
    bmax = int(ds.adc_bits.values.max())
    for n in ds.read_noise.values:
        cells = []
        for t in ds.drift_time.values:
            sel = dict(read_noise=n, drift_time=t, adc_bits=bmax)
            hw = float(ds.accuracy_ci_high.sel(sel) - ds.accuracy_mean.sel(sel))
            cells.append(f"{float(m.sel(sel)):.3f} ± {hw:.3f}")
        lines.append(f"| {n:g} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Files: `sweep.nc` (xarray; `accuracy` per replicate, `accuracy_mean/std/ci_low/ci_high`), "
        "`heatmaps.png`, `lines.png`.",
        "",
    ]
    t0, t_last = ds.drift_time.values[0], ds.drift_time.values[-1]
    n0 = ds.read_noise.values[0]
    margin = {
        "float_accuracy": round(float_acc, 4),
        "accuracy_best": round(float(np.nanmax(m.values)), 4),
        "accuracy_worst": round(float(np.nanmin(m.values)), 4),
        "accuracy_t0_noise0_maxbits": round(float(m.sel(read_noise=n0, drift_time=t0, adc_bits=bmax)), 4),
        "accuracy_tlast_noise0_maxbits": round(float(m.sel(read_noise=n0, drift_time=t_last, adc_bits=bmax)), 4),
        "points": int(ds.attrs["points_total"]),
        "failed": int(ds.attrs["points_failed"]),
        "replicates": int(ds.sizes["replicate"]),
    }
    return "\n".join(lines), margin


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output folder (default results/demo, or results/demo-quick with --quick)",
)
@click.option(
    "--card",
    default="pcm_aihwkit",
    show_default=True,
    metavar="NAME_OR_PATH",
    help="device card: a shipped name or your own .toml file",
)
@click.option("--quick", is_flag=True, help="3 x 3 x 3 points, 8 instances, shorter training (CI smoke, < 1 min)")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--replicates", type=click.IntRange(min=1), default=None, help="device instances per point (default 32; --quick: 8)"
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Adam steps of the float MLP (default 300)")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: on a terminal)")
def demo(
    out: Path | None,
    card: str,
    quick: bool,
    seed: int,
    replicates: int | None,
    epochs: int | None,
    progress: bool | None,
) -> None:
    """Nonideality sweep of a small trained crossbar network on embedded defaults.

    Accuracy of a digits MLP on simulated crossbars vs read noise x ADC bits x drift time, with
    confidence intervals over device instances. Writes sweep.nc, heatmaps.png, lines.png and
    summary.md into --out; prints a JSON summary as its last line. Rerunning with the same
    options continues an interrupted demo.
    """
    t_start = time.perf_counter()
    from ..cards import CardError, load_card

    try:
        card_name = load_card(card).name
    except (CardError, OSError) as exc:
        raise InputError(f"--card {card}: {exc}") from None
    folder = out if out is not None else Path("results") / ("demo-quick" if quick else "demo")
    from ..sweep import SweepError, make_task, run_sweep

    try:
        spec = demo_spec(card=card, quick=quick, seed=seed, replicates=replicates, epochs=epochs)
        task = make_task(spec)
        click.echo(f"training the float 64-64-10 MLP on digits ({task.params['epochs']} Adam steps) ...", err=True)
        float_acc = task.float_accuracy(seed)
        click.echo(
            f"float test accuracy {float_acc:.3f}; sweeping {card_name} crossbars "
            f"({spec.replicates} device instances per point) into {folder}",
            err=True,
        )
        ds = run_sweep(spec, folder, resume=True, progress=progress)
    except SweepError as exc:
        raise InputError(str(exc)) from None
    files = figures(ds, folder, float_acc)
    seconds = time.perf_counter() - t_start
    text, figs = summary(ds, float_acc, card_name, seconds)
    (folder / "summary.md").write_text(text, encoding="utf-8")
    click.echo(f"wrote {folder / 'sweep.nc'}, {', '.join(str(f) for f in files)}, {folder / 'summary.md'}")
    figs["seconds"] = round(seconds, 2)
    click.echo(json.dumps(figs))
