"""Benchmark: forward time of the crossbar LSTM (5-bit ramp activations, analog noise) / torch.nn.LSTM.

``lstm_ratio`` = AnalogLSTM (hidden 128, 100 steps, batch 64, input 128, PCM programming noise,
8-bit DAC, output noise 0.04, 5-bit ramp-ADC activations) forward time / ``torch.nn.LSTM`` of the
same size, both in inference (``torch.no_grad``), best of ``--repeats`` runs taken alternately, with
a fixed number of torch threads (default 1). The ramp ADC is the column's converter (as in the
seed paper: the ramp ADC digitises the column output into the activation), so the crossbar
config has no separate output ADC; output noise is the read's counter-based Gaussian. The input
projection of all steps is one crossbar read (``physnn.crossbar.read``, back end ``"auto"``); the
time loop is the LSTM's one compiled sequence loop (``physnn.crossbar.backends.lstm_loop``: per
step the recurrent read from ``hh.read_spec()``, noise, ramp gates and state update).
``lstm_ratio_with_column_adc`` keeps aihwkit's 8-bit output ADC (without bound management)
before the ramp; ``lstm_ratio_noisy_ramp`` programs the ramp columns with PCM programming noise
(exact threshold-table lookup instead of the closed form: the per-step torch path); ``lstm_ratio_no_out_noise`` drops the output
noise (programming noise only); ``lstm_ratio_cpu_time`` is the ratio of process CPU times, all threads
(less sensitive to a busy machine); ``torch_lstm_cores`` / ``analog_lstm_cores`` are CPU over wall
time, the cores each really used: numba's OpenMP threading layer, once started, made the
"1-thread" ``torch.nn.LSTM`` run on two cores (measured: 23.6 ms of CPU in 11.6 ms of wall time,
against 18.4 ms / 18.4 ms in a process where the pool never started; two OpenMP runtimes, torch's
own and the system libgomp numba loads, in one process); physnn's back end no longer starts that
pool when it runs on one thread. ``gru_ratio`` / ``rnn_ratio`` compare AnalogGRU / AnalogRNN (5-bit
ramps, per-step torch path: only the LSTM has a compiled loop) with ``torch.nn.GRU`` /
``torch.nn.RNN`` of the same size.

Usage: ``python experiments/bench_rnn.py [--quick] [--seed N] [--out DIR] [--threads N]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # experiments/_publish.py, also when loaded by path
from _publish import publish  # noqa: E402


def _process_cpu() -> float:
    """CPU seconds of this process, all its threads (torch's, numba's and OpenMP's pools)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _best_alternating(fns: list, repeats: int) -> tuple[list[float], list[float]]:
    """Best wall-clock and best process-CPU time (all threads) of each function, runs interleaved."""
    for f in fns:  # warm-up (numba compilation or cache load, allocator)
        f()
    best = [float("inf")] * len(fns)
    best_cpu = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, f in enumerate(fns):
            t, c = time.perf_counter(), _process_cpu()
            f()
            best_cpu[k] = min(best_cpu[k], _process_cpu() - c)
            best[k] = min(best[k], time.perf_counter() - t)
    return best, best_cpu


def measure_lstm_ratio(
    *,
    hidden: int = 128,
    steps: int = 100,
    batch: int = 64,
    threads: int = 1,
    repeats: int = 5,
    seed: int = 0,
    variants: bool = True,
) -> dict:
    """Forward times (s) and ratios; see the module docstring."""
    from physnn.crossbar.config import aihwkit_preset
    from physnn.crossbar.ramp_adc import RampDevices
    from physnn.crossbar.rnn import AnalogLSTM, RampActivations

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    ref = torch.nn.LSTM(hidden, hidden).eval()
    x = torch.randn(steps, batch, hidden)
    gen = torch.Generator().manual_seed(seed)
    cfg = aihwkit_preset(adc=None, bound_management=False)
    models = {"ramp5": AnalogLSTM.from_torch(ref, config=cfg, activations=RampActivations(bits=5), generator=gen)}
    if variants:
        models["column_adc"] = AnalogLSTM.from_torch(
            ref, config=aihwkit_preset(bound_management=False), activations=RampActivations(bits=5), generator=gen
        )
        models["noisy_ramp"] = AnalogLSTM.from_torch(
            ref,
            config=cfg,
            generator=gen,
            activations=RampActivations(bits=5, devices=RampDevices.from_card("pcm_aihwkit", read_noise=False)),
        )
        models["ideal_act"] = AnalogLSTM.from_torch(ref, config=cfg, generator=gen)
        models["no_out_noise"] = AnalogLSTM.from_torch(
            ref, config=cfg.replace(out_noise=0.0), activations=RampActivations(bits=5), generator=gen
        )
    for m in models.values():
        m.eval().program()
    names = ["torch"] + list(models)
    with torch.no_grad():
        fns = [lambda: ref(x)] + [(lambda m=m: m(x)) for m in models.values()]
        best, best_cpu = _best_alternating(fns, repeats)
    t = dict(zip(names, best))
    tc = dict(zip(names, best_cpu))
    out = {
        "lstm_ratio": t["ramp5"] / t["torch"],
        "lstm_ratio_cpu_time": tc["ramp5"] / tc["torch"],
        "t_torch_lstm_s": t["torch"],
        "t_analog_lstm_s": t["ramp5"],
        # cores each really used (process CPU / wall): both must be ~threads for a fair ratio
        "torch_lstm_cores": tc["torch"] / t["torch"],
        "analog_lstm_cores": tc["ramp5"] / t["ramp5"],
        "threads": threads,
        "hidden": hidden,
        "steps": steps,
        "batch": batch,
    }
    if variants:
        out["lstm_ratio_with_column_adc"] = t["column_adc"] / t["torch"]
        out["lstm_ratio_noisy_ramp"] = t["noisy_ramp"] / t["torch"]
        out["lstm_ratio_ideal_act"] = t["ideal_act"] / t["torch"]
        out["lstm_ratio_no_out_noise"] = t["no_out_noise"] / t["torch"]
    if variants:
        out.update(_other_cells(hidden=hidden, steps=steps, batch=batch, repeats=repeats, seed=seed, x=x, cfg=cfg))
    try:
        out["load_avg_1min"] = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        pass
    return out


def _other_cells(*, hidden: int, steps: int, batch: int, repeats: int, seed: int, x: torch.Tensor, cfg) -> dict:
    """``gru_ratio`` / ``rnn_ratio``: AnalogGRU / AnalogRNN (5-bit ramps, same crossbar config)
    against torch.nn.GRU / torch.nn.RNN of the same size (informational)."""
    from physnn.crossbar.rnn import AnalogGRU, AnalogRNN, RampActivations

    out = {}
    for name, tcls, acls in (("gru", torch.nn.GRU, AnalogGRU), ("rnn", torch.nn.RNN, AnalogRNN)):
        torch.manual_seed(seed)
        ref = tcls(hidden, hidden).eval()
        m = (
            acls.from_torch(
                ref, config=cfg, activations=RampActivations(bits=5), generator=torch.Generator().manual_seed(seed)
            )
            .eval()
            .program()
        )
        with torch.no_grad():
            best, _ = _best_alternating([lambda: ref(x), lambda: m(x)], repeats)
        out[f"{name}_ratio"] = best[1] / best[0]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/bench_rnn"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    res = measure_lstm_ratio(threads=args.threads, repeats=3 if args.quick else 7, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# bench_rnn",
        "",
        f"torch {torch.__version__}, {res['threads']} thread(s), "
        f"1-min load average {res.get('load_avg_1min', float('nan')):.2f}",
        "",
        "| model | forward time (ms) | / torch.nn.LSTM |",
        "|---|---|---|",
        f"| torch.nn.LSTM | {1e3 * res['t_torch_lstm_s']:.1f} | 1 |",
        f"| AnalogLSTM, 5-bit ramp | {1e3 * res['t_analog_lstm_s']:.1f} | {res['lstm_ratio']:.2f} |",
    ]
    for k in ("lstm_ratio_with_column_adc", "lstm_ratio_noisy_ramp", "lstm_ratio_ideal_act", "lstm_ratio_no_out_noise"):
        lines.append(f"| {k[len('lstm_ratio_') :]} | {1e3 * res[k] * res['t_torch_lstm_s']:.1f} | {res[k]:.2f} |")
    lines += [
        "",
        "| model | / torch.nn of the same kind |",
        "|---|---|",
        f"| AnalogGRU, 5-bit ramp | {res['gru_ratio']:.2f} |",
        f"| AnalogRNN, 5-bit ramp | {res['rnn_ratio']:.2f} |",
    ]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    publish("bench_rnn", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items()}, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
