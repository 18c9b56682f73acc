"""Speed of physnn's AnalogLinear against nn.Linear and IBM aihwkit's torch tile (issue 2, item 7).

Every timing uses the same read configuration: PCM programming noise and drift to 1 h applied at
programming time, 8-bit DAC, 8-bit ADC, output noise 0.04 per forward — aihwkit's
``TorchInferenceRPUConfig`` with ``PCMLikeNoiseModel``, ``inp_res = out_res = 1/254``,
``out_noise = 0.04`` (physnn: ``aihwkit_preset(t_inference=3600)``, which equals
``from_aihwkit`` of that config). Timings are timeit-style (a block of calls per sample, median
over samples) after a warm-up, with the compared implementations alternated sample by sample
(A/B/A/B...) so that a load change on a shared machine hits both; each ratio is the median of the
per-sample ratios. Torch threads are fixed (``--threads``, default 2) and reported.

Outputs (``--out``, default ``results/bench_crossbar``): ``bench_crossbar.nc`` (median times and
ratios), ``bench_crossbar.png``, ``summary.md``; the last printed line is one JSON object.

Usage: ``python experiments/bench_crossbar.py [--quick] [--seed N] [--threads T] [--out DIR]``
"""

from __future__ import annotations

import argparse
import os
import sys
import statistics
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # experiments/_publish.py, also when loaded by path
from _publish import publish, save_netcdf  # noqa: E402

TARGETS = {
    "linear_ratio": ("<=", 1.5),
    "aihwkit_ratio": ("<=", 0.5),
    "ensemble_ratio": ("<=", 1.3),
    "aihwkit_loop_speedup_small": (">=", 10.0),
    "aihwkit_loop_speedup_large": (">=", 1.5),
}


def _block(fn, number: int) -> float:
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number


def _number(fn, budget_s: float) -> int:
    """timeit's autorange: calls per block so that one block lasts about ``budget_s``."""
    t = _block(fn, 1)
    return max(1, int(budget_s / max(t, 1e-7)))


def ab(fa, fb, *, repeats: int, budget_s: float, warmup: int = 3) -> tuple[float, float, float]:
    """Median time of ``fa`` and ``fb`` (s per call) and median of the per-sample ratios fa/fb."""
    for _ in range(warmup):
        fa()
        fb()
    na, nb = _number(fa, budget_s), _number(fb, budget_s)
    ta, tb, r = [], [], []
    for _ in range(repeats):
        a = _block(fa, na)
        b = _block(fb, nb)
        ta.append(a)
        tb.append(b)
        r.append(a / b)
    return statistics.median(ta), statistics.median(tb), statistics.median(r)


def _aihwkit_layer(n_in: int, n_out: int, weight: torch.Tensor, bias: torch.Tensor, rpu_config, t: float):
    from aihwkit.nn import AnalogLinear as AihwLinear

    m = AihwLinear(n_in, n_out, bias=True, rpu_config=rpu_config)
    m.set_weights(weight, bias)
    m.eval()
    m.program_analog_weights()
    m.drift_analog_weights(t)
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer and shorter samples (smoke test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (fixed for all timings)")
    p.add_argument("--out", type=Path, default=Path("results/bench_crossbar"))
    args = p.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
    from aihwkit.simulator.configs import TorchInferenceRPUConfig

    from physnn.crossbar import AnalogLinear, from_aihwkit
    from physnn.crossbar.read import use_backend

    repeats = 5 if args.quick else 25
    budget = 0.02 if args.quick else 0.1
    t_prog = 3600.0
    rc = TorchInferenceRPUConfig()
    rc.forward.inp_res = 1 / 254
    rc.forward.out_res = 1 / 254
    rc.forward.out_noise = 0.04
    rc.noise_model = PCMLikeNoiseModel()
    cfg = from_aihwkit(rc).replace(t_inference=t_prog)
    gen = torch.Generator().manual_seed(args.seed)
    E = 64

    results: dict[str, tuple[float, float, float]] = {}
    with torch.no_grad():
        # --- 512 -> 512, batch 256 ----------------------------------------------------------
        lin = torch.nn.Linear(512, 512).eval()
        x = torch.randn(256, 512)
        ours = AnalogLinear.from_linear(lin, config=cfg, generator=gen).eval().program()
        results["linear"] = ab(lambda: ours(x), lambda: lin(x), repeats=repeats, budget_s=budget)
        with use_backend("reference"):  # the plain-torch definition, for scale
            results["linear_reference"] = ab(
                lambda: ours(x), lambda: lin(x), repeats=max(3, repeats // 5), budget_s=budget
            )
        aih = _aihwkit_layer(512, 512, lin.weight, lin.bias, rc, t_prog)
        results["aihwkit"] = ab(lambda: ours(x), lambda: aih(x), repeats=repeats, budget_s=budget)
        # --- E = 64 instances in one call vs 64 nn.Linear forwards ----------------------------
        ens = AnalogLinear.from_linear(lin, config=cfg, ensemble=E, generator=gen).eval().program()
        # one sample of the reference = 64 nn.Linear forwards
        results["ensemble"] = ab(lambda: ens(x), lambda: [lin(x) for _ in range(E)], repeats=repeats, budget_s=budget)
        # --- 64 aihwkit modules in a loop vs our E = 64 call ----------------------------------
        for tag, n, batch in (("small", 128, 16), ("large", 512, 256)):
            lin_n = torch.nn.Linear(n, n).eval()
            xn = torch.randn(batch, n)
            mods = [_aihwkit_layer(n, n, lin_n.weight, lin_n.bias, rc, t_prog) for _ in range(E)]
            ens_n = AnalogLinear.from_linear(lin_n, config=cfg, ensemble=E, generator=gen).eval().program()
            assert ens_n(xn).shape == (E, batch, n)
            results[f"loop_{tag}"] = ab(
                lambda: [m(xn) for m in mods], lambda: ens_n(xn), repeats=repeats, budget_s=budget
            )

    figures = {
        "linear_ratio": results["linear"][2],
        "aihwkit_ratio": results["aihwkit"][2],
        "ensemble_ratio": results["ensemble"][2],
        "aihwkit_loop_speedup_small": results["loop_small"][2],
        "aihwkit_loop_speedup_large": results["loop_large"][2],
        "linear_ratio_reference": results["linear_reference"][2],
    }
    _write(args.out, results, figures, args)
    out = {k: round(v, 4) for k, v in figures.items()}
    out.update(
        threads=args.threads,
        torch_version=torch.__version__,
        repeats=repeats,
        load_avg_1min=round(os.getloadavg()[0], 2),
        targets_met=int(sum(_met(k, out[k]) for k in TARGETS)),
        targets_total=len(TARGETS),
    )
    publish("bench_crossbar", out, quick=args.quick)
    return 0


def _met(name: str, value: float) -> bool:
    op, lim = TARGETS[name]
    return value <= lim if op == "<=" else value >= lim


def _write(out: Path, results, figures, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    out.mkdir(parents=True, exist_ok=True)
    names = list(results)
    ds = xr.Dataset(
        {
            "time_a": (
                "comparison",
                [results[k][0] for k in names],
                {
                    "units": "s",
                    "long_name": "median time per call of the first implementation (physnn, or the aihwkit loop)",
                },
            ),
            "time_b": (
                "comparison",
                [results[k][1] for k in names],
                {
                    "units": "s",
                    "long_name": "median time per call of the reference (nn.Linear, aihwkit tile, or physnn ensemble)",
                },
            ),
            "ratio": (
                "comparison",
                [results[k][2] for k in names],
                {"units": "1", "long_name": "median of per-sample time ratios a / b"},
            ),
        },
        coords={"comparison": ("comparison", names, {"units": "1", "long_name": "benchmark comparison"})},
        attrs={
            "torch_threads": args.threads,
            "torch_version": torch.__version__,
            "seed": args.seed,
            "quick": int(args.quick),
            "description": __doc__.splitlines()[0],
        },
    )
    save_netcdf(ds, out / "bench_crossbar.nc")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    keys = list(TARGETS)
    vals = [figures[k] for k in keys]
    colors = ["tab:green" if _met(k, figures[k]) else "tab:red" for k in keys]
    ax.barh(keys, vals, color=colors)
    for i, k in enumerate(keys):
        ax.plot([TARGETS[k][1]] * 2, [i - 0.4, i + 0.4], "k--")
    ax.set_xscale("log")
    ax.set_xlabel("ratio (dashed: target)")
    ax.set_title(f"AnalogLinear speed, {args.threads} torch threads")
    fig.tight_layout()
    fig.savefig(out / "bench_crossbar.png", dpi=120)
    plt.close(fig)
    lines = [
        "# bench_crossbar",
        "",
        f"torch {torch.__version__}, {args.threads} threads, seed {args.seed}, quick={args.quick}.",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
    ]
    for k in keys:
        op, lim = TARGETS[k]
        lines.append(f"| {k} | {figures[k]:.3f} | {op} {lim} | {'yes' if _met(k, figures[k]) else 'no'} |")
    lines += [
        "",
        f"linear_ratio of the reference read (plain torch, use_backend('reference')): "
        f"{figures['linear_ratio_reference']:.3f}",
        f"1-min load average at the end: {os.getloadavg()[0]:.2f}",
        "",
        "Median times per call (s):",
        "",
    ]
    lines += [f"- {k}: {results[k][0]:.3e} vs {results[k][1]:.3e}" for k in results]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
