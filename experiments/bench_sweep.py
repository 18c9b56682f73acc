"""Benchmark of physnn.sweep (issue #13). Last printed line: one JSON object.

* ``vectorized_ratio``: a 1,000-point read-noise (100 values) x ADC-bits (10 values) sweep of a
  256x256 :class:`AnalogLinear` (PCM card, programming noise, 8-bit DAC) on a batch of 64, run
  in-process through the ensemble dimension (``evaluate_chunk`` of all points: a few batched
  reads), over 1,000 x one ``nn.Linear`` forward of the same size and batch. Timed side by side,
  alternating, best of ``--repeats``.
* ``dask_speedup_2w``: wall time of a CPU-bound sweep (the ``toy`` task's pure-Python busy loop,
  ``--dask-points`` points) on a dask ``LocalCluster`` with 1 worker process over 2; each
  cluster is started before the clock starts.
* ``resume_lost_points`` / ``resume_duplicate_points``: ``physnn sweep`` in a subprocess,
  ``kill -9`` once some points are committed, ``sweep.nc`` and the journal opened, then resumed;
  lost = points not done after the resume, duplicated = points committed twice. Also whether the
  resumed results equal an uninterrupted run's.
* ``demo_seconds``: wall time of ``python -m physnn demo`` (full size, in a subprocess).

The machine's load average is recorded with each timing (``load_*``): the 2 cores are shared.

Usage: ``python experiments/bench_sweep.py [--quick] [--seed N] [--out DIR] [--skip-demo]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load() -> float:
    return round(os.getloadavg()[0], 2)


def bench_vectorized(repeats: int, seed: int, threads: int) -> dict:
    import torch
    from torch import nn

    from physnn.sweep import Axis, SweepSpec, evaluate_chunk, validate

    torch.set_num_threads(threads)
    spec = SweepSpec(task="crossbar_linear", seed=seed, replicates=1,
                     task_params={"in_features": 256, "out_features": 256, "batch": 64},
                     axes=(Axis(field="config.out_noise", name="read_noise", start=0.0, stop=0.5, num=100),
                           Axis(field="config.adc.bits", values=tuple(range(3, 13)), units="bit")))
    _, layout = validate(spec)
    assert layout.n == 1000
    js, idx = spec.to_json(), list(range(layout.n))
    evaluate_chunk(js, idx)                                    # warm-up: programs, caches
    lin = nn.Linear(256, 256)
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for _ in range(50):
            lin(x)
    t_sweep, t_lin, c_sweep, c_lin = [], [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rows = evaluate_chunk(js, idx)
        t_sweep.append(time.perf_counter() - t0)
        c_sweep.append(time.process_time() - c0)
        with torch.no_grad():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(1000):
                lin(x)
            t_lin.append(time.perf_counter() - t0)
            c_lin.append(time.process_time() - c0)
    assert all(r[1] == "ok" for r in rows)
    sfx = "" if threads == 2 else f"_{threads}t"
    out = {f"vectorized_ratio{sfx}": round(min(t_sweep) / min(t_lin), 3),
           f"vectorized_ratio{sfx}_cpu": round(min(c_sweep) / min(c_lin), 3),
           f"vectorized_sweep_s{sfx}": round(min(t_sweep), 4), f"linear_1000_s{sfx}": round(min(t_lin), 4),
           f"load_vectorized{sfx}": load()}
    if threads == 2:
        err = np.array([r[2]["rel_error"][0] for r in sorted(rows)]).reshape(100, 10)
        # physics sanity of the sweep itself: error grows with noise, shrinks with bits
        out.update(vectorized_points=layout.n, rel_error_noise0_12bit=round(float(err[0, -1]), 4),
                   rel_error_noise05_3bit=round(float(err[-1, 0]), 4))
    return out


def bench_dask(points: int, work: int, seed: int, tmp: Path, repeats: int) -> dict:
    from contextlib import ExitStack

    from distributed import Client, LocalCluster

    from physnn.sweep import Axis, SweepSpec, evaluate_chunk, run_sweep

    spec = SweepSpec(task="toy", seed=seed, replicates=1, chunk_points=1, task_params={"work": work},
                     axes=(Axis(field="task.x", start=0.0, stop=1.0, num=points),))
    times: dict[int, list[float]] = {1: [], 2: []}
    loads: dict[int, list[float]] = {1: [], 2: []}
    with ExitStack() as stack:
        addr = {}
        for n in (1, 2):
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=40))
            client = stack.enter_context(Client(cluster))
            client.wait_for_workers(n)
            addr[n] = cluster.scheduler_address
            # warm every worker (imports, task) before the clock starts
            client.run(evaluate_chunk, spec.to_json(), [0], 1)
        # alternate 1 and 2 workers so that both see the same (shared-machine) load; best of repeats
        for r in range(repeats):
            for n in (1, 2):
                t0 = time.perf_counter()
                ds = run_sweep(spec, tmp / f"dask{n}-{r}", scheduler=addr[n], progress=False)
                times[n].append(time.perf_counter() - t0)
                loads[n].append(load())
                assert int(ds.attrs["points_done"]) == points
    return {"dask_speedup_2w": round(min(times[1]) / min(times[2]), 3),
            "dask_speedup_2w_median": round(float(np.median(times[1]) / np.median(times[2])), 3),
            "dask_1w_s": round(min(times[1]), 3), "dask_2w_s": round(min(times[2]), 3),
            "dask_points": points, "load_dask_1w": loads[1], "load_dask_2w": loads[2]}


def bench_resume(points: int, work: int, seed: int, tmp: Path) -> dict:
    import xarray as xr

    from physnn.sweep import Axis, SweepSpec, run_sweep
    from physnn.sweep.store import points_done

    spec = SweepSpec(task="toy", seed=seed, replicates=2, task_params={"work": work},
                     axes=(Axis(field="task.x", start=0.0, stop=1.0, num=points),))
    toml = tmp / "resume.toml"
    toml.write_text(spec.to_toml())
    out = tmp / "resume"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "physnn", "sweep", str(toml), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "journal.sqlite"
    target = points // 2
    while proc.poll() is None and points_done(out) < target:
        time.sleep(0.02)
    killed = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    opens = 1
    try:
        xr.open_dataset(out / "sweep.nc").close()
        done_at_kill = points_done(out)
        con = sqlite3.connect(str(journal))
        con.execute("PRAGMA integrity_check").fetchone()
        con.close()
    except Exception:  # noqa: BLE001 - reported as a number
        opens, done_at_kill = 0, -1
    res = run_sweep(spec, out, resume=True, progress=False)
    con = sqlite3.connect(str(journal))
    n_log, n_distinct = con.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
    con.close()
    ref = run_sweep(spec, tmp / "resume_ref", progress=False)
    return {"resume_lost_points": int(points - int((res.status.values == 1).sum())),
            "resume_duplicate_points": int(n_log - n_distinct),
            "resume_file_opens_after_kill": opens, "resume_killed_mid_run": int(killed),
            "resume_points_done_at_kill": int(done_at_kill), "resume_points": points,
            "resume_equals_uninterrupted": int(bool((res.f == ref.f).all())) }


def bench_demo(tmp: Path, quick: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    l0 = load()
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "physnn", "demo", "--out", str(tmp / "demo"), "--no-progress"] + (["--quick"] if quick else [])
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"physnn demo failed: {r.stderr[-2000:]}")
    demo = json.loads(r.stdout.strip().splitlines()[-1])
    return {"demo_seconds": round(dt, 1), "demo_quick": int(quick), "load_demo": (l0, load()),
            "demo_float_accuracy": demo["float_accuracy"], "demo_accuracy_worst": demo["accuracy_worst"],
            "demo_points": demo["points"], "demo_replicates": demo["replicates"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, smaller dask/resume sweeps, quick demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write bench_sweep.json here")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--skip-demo", action="store_true")
    p.add_argument("--only", choices=["vectorized", "dask", "resume", "demo"], default=None)
    args = p.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    res: dict = {"load_start": load(), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "vectorized"):
            res.update(bench_vectorized(repeats, args.seed, 2))
            res.update(bench_vectorized(repeats, args.seed, 1))
            print(json.dumps(res), flush=True)
        if args.only in (None, "dask"):
            res.update(bench_dask(12 if args.quick else 24, 4_000_000, args.seed, tmp, 1 if args.quick else 3))
            print(json.dumps(res), flush=True)
        if args.only in (None, "resume"):
            res.update(bench_resume(30 if args.quick else 60, 400_000, args.seed, tmp))
            print(json.dumps(res), flush=True)
        if args.only in (None, "demo") and not args.skip_demo:
            res.update(bench_demo(tmp, args.quick))
    res["load_end"] = load()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_sweep.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
