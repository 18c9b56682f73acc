"""Benchmark of physnn.sweep (issues #13, #21). Last printed line: one JSON object.

* ``speedup_vs_point_loop``: one 1,000-point sweep (output read noise ``config.out_noise``,
  100 values in [0, 0.5], x ADC resolution ``config.adc.bits``, 3..12; a 256x256
  :class:`~physnn.crossbar.AnalogLinear` of random weights on the PCM card, programming noise,
  1/f read noise, 8-bit DAC, abs-max input scaling, drift compensation off, batch 64, one device
  instance; metric ``rel_error``), computed two ways on the same 2 torch (and numba) threads:

  - **point loop** (the baseline, :func:`point_loop`): what a user without physnn's sweep engine
    writes, one point after the other through the public layer API: build an ``AnalogLinear``
    with the point's config, ``program()``, ``set_time()``, read, score. It uses the sweep's
    seeds (device generator, drift-time generator, noise key per point; all public:
    :func:`physnn.sweep.tasks.point_key`), so its per-point ``rel_error`` equals the sweep's
    (checked on every timed point: ``point_loop_max_rel_diff``). The read is
    ``read(layer.read_spec().with_key(key), x)``, which is what ``layer(x)`` runs, with the key
    set instead of drawn from the layer's generator.
  - **physnn sweep**: :func:`physnn.sweep.run_sweep` in-process, end to end (default chunks of
    64 points, the journal, ``sweep.nc``, the Dataset), into a fresh folder each time; the
    task's programmed device is dropped before each timed run (programmed once per run, kept
    across its chunks), its float network kept (as the loop's).

  ``speedup_vs_point_loop`` = point-loop time of the 1,000 points / sweep time. The loop is timed
  on ``point_loop_points_timed`` points (one per read-noise value, each ADC resolution equally
  often; the loop's cost does not depend on the values) and scaled to 1,000. The two sides are
  timed alternately (order swapped every repeat), after one untimed warm-up run of each; best
  of ``--repeats`` over best of ``--repeats`` (``_median``: the median over the repeats of the
  ratio of one repeat's two back-to-back timings), load average recorded per side. ``speedup_vs_point_loop_compute``
  divides by :func:`physnn.sweep.evaluate_chunk` of all 1,000 points in one call instead (the
  computation without chunking and storage). ``point_loop_program_fraction``: the share of the
  loop's time spent building, programming and ``set_time`` (what the sweep does once per chunk
  for points that share their device), the rest being reads and scoring. ``*_1t``: the same on
  1 thread. Drift compensation is off because the sweep calibrates it without output noise and
  ADC while a layer holding them calibrates through them (documented in
  :mod:`physnn.sweep.tasks`): with it on, the two would not compute the same numbers.
* ``dask_speedup_2w``: wall time of a CPU-bound sweep (the ``toy`` task's pure-Python busy loop,
  ``--dask-points`` points) on a dask ``LocalCluster`` with 1 worker process over 2; each
  cluster is started before the clock starts.
* ``resume_lost_points`` / ``resume_duplicate_points``: ``physnn sweep`` in a subprocess,
  ``kill -9`` once some points are committed, ``sweep.nc`` and the journal opened, then resumed;
  lost = points not done after the resume, duplicated = points committed twice. Also whether the
  resumed results equal an uninterrupted run's.
* ``demo_seconds``: wall time of ``python -m physnn demo`` (full size, in a subprocess).

The machine's load average is recorded with each timing (``load_*``): the 2 cores are shared.
The figures go to ``results/bench_sweep/latest.json`` (``quick.json`` with ``--quick``) through
``experiments/_publish.py``.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _publish import publish  # noqa: E402  (imported first: it records the load average at the start)

#: the fields this bench's point loop knows how to apply per point (read-out settings and the
#: drift time; a swept device field would need the sweep's device-group key, not used here)
POINT_LOOP_FIELDS = frozenset({"config.out_noise", "config.adc.bits", "config.adc.y_max", "config.t_inference"})


def load() -> float:
    return round(os.getloadavg()[0], 2)


def set_threads(threads: int) -> None:
    """torch and numba threads (both sides of a comparison run on the same count)."""
    import torch

    torch.set_num_threads(threads)
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def read_noise_adc_spec(
    seed: int,
    *,
    in_features: int = 256,
    out_features: int = 256,
    batch: int = 64,
    noise_values: int = 100,
    bits: tuple[int, ...] = tuple(range(3, 13)),
    replicates: int = 1,
):
    """The bench's sweep: output read noise (``noise_values`` in [0, 0.5]) x ADC bits, one
    ``in_features`` x ``out_features`` layer (``crossbar_linear``), drift compensation off."""
    from physnn.sweep import Axis, SweepSpec

    return SweepSpec(
        task="crossbar_linear",
        seed=seed,
        replicates=replicates,
        task_params={
            "in_features": in_features,
            "out_features": out_features,
            "batch": batch,
            "drift_compensation": False,
        },
        axes=(
            Axis(field="config.out_noise", name="read_noise", start=0.0, stop=0.5, num=noise_values),
            Axis(field="config.adc.bits", values=tuple(bits), units="bit"),
        ),
    )


def float_networks(task, seeds) -> dict:
    """Per seed the task's float layers and its evaluation batch ``(layers, (x, target))``: what
    the user has before any sweep (built once, outside any clock; the sweep's task caches the
    same on its first call)."""
    return {s: (task.network(s), task.data(s)) for s in set(seeds)}


def point_loop(task, spec, points, nets: dict, *, clock: dict | None = None) -> list[dict[str, np.ndarray]]:
    """The sweep's ``points`` one by one through the public :class:`~physnn.crossbar.AnalogLinear`
    API, the way a user without physnn's sweep engine would write it.

    Per point: the point's :class:`~physnn.crossbar.CrossbarConfig` (``task.config_for``), one
    ``AnalogLinear`` per float layer (``ensemble=spec.replicates``), ``program()``,
    ``set_time(t)``, a read of the batch through every layer (ReLU between layers) and the task's
    metric (``task.score``). The seeds are the sweep's: device generator
    ``point_key(spec.seed, seed, [])`` (no device field is swept), drift-time generator
    ``point_key(device_key, t, layer)``, output-noise key ``point_key(point.key, layer)``.
    The read is ``read(layer.read_spec().with_key(key), h)``: ``layer(h)`` with the key set
    instead of drawn from the layer's generator.

    With one replicate the numbers equal the sweep's up to float32 rounding (a few outputs may
    fall on the other side of an ADC level: the sweep applies noise and ADC in output units, the
    layer in ADC codes). With more replicates the noise counters of the members are laid out
    differently (statistically equivalent, not equal), and with drift compensation the layer
    calibrates through its ADC (the sweep without it).

    Parameters
    ----------
    task : physnn.sweep.tasks.CrossbarLinear or CrossbarMLP
        The sweep's task (``validate(spec)[0]``).
    spec : SweepSpec
    points : list of Point
        ``layout.point(i)`` of the points to compute.
    nets : dict
        :func:`float_networks` of the points' seeds.
    clock : dict, optional
        Gets ``"program_s"`` (layers built, programmed and moved in time) and ``"read_s"``
        (reads and scoring) added.

    Returns
    -------
    list of dict
        Per point, metric -> array ``(replicates,)``, as the sweep's rows.
    """
    import torch

    from physnn.crossbar import AnalogLinear
    from physnn.crossbar.read import read
    from physnn.sweep.tasks import point_key

    R = spec.replicates
    out = []
    t_prog = t_read = 0.0
    with torch.no_grad():
        for p in points:
            if not set(p.values) <= POINT_LOOP_FIELDS:
                raise ValueError(f"point_loop: fields {sorted(set(p.values) - POINT_LOOP_FIELDS)} not supported")
            t0 = time.perf_counter()
            lins, (x, target) = nets[p.seed]
            cfg = task.config_for(p.values)
            dkey = point_key(spec.seed, p.seed, [])
            gen = torch.Generator().manual_seed(dkey)
            layers = [AnalogLinear.from_linear(lin, config=cfg, ensemble=R, generator=gen).eval() for lin in lins]
            t = float(cfg.t_inference)
            for layer in layers:
                layer.program()
            for li, layer in enumerate(layers):
                layer.set_time(t, generator=torch.Generator().manual_seed(point_key(dkey, t, li)))
            t1 = time.perf_counter()
            h = x
            for li, layer in enumerate(layers):
                rs = layer.read_spec()
                h = read(rs.with_key(point_key(p.key, li) if rs.noise_std > 0 else 0), h, per_member=h.dim() == 3)
                if li < len(layers) - 1:
                    h = torch.relu(h)
            met = task.score(h.unsqueeze(1), target, None)  # (R, 1, B, out) -> (R, 1)
            out.append({m: v[:, 0].double().numpy().copy() for m, v in met.items()})
            t2 = time.perf_counter()
            t_prog += t1 - t0
            t_read += t2 - t1
    if clock is not None:
        clock["program_s"] = clock.get("program_s", 0.0) + t_prog
        clock["read_s"] = clock.get("read_s", 0.0) + t_read
    return out


def timed_subset(n_noise: int, n_bits: int) -> list[int]:
    """Flat indices of one point per read-noise value, the ADC resolutions taken in turn (each
    equally often when ``n_bits`` divides ``n_noise``); grid order: bits fastest."""
    return [j * n_bits + j % n_bits for j in range(n_noise)]


def bench_point_loop(repeats: int, seed: int, threads: int, tmp: Path) -> dict:
    from physnn.sweep import evaluate_chunk, make_task, run_sweep, validate

    set_threads(threads)
    spec = read_noise_adc_spec(seed)
    task, layout = validate(spec)
    assert make_task(spec) is task  # the instance evaluate_chunk and run_sweep use
    n_noise, n_bits = (len(v) for v in layout.per_axis)
    assert layout.n == 1000
    js, idx = spec.to_json(), list(range(layout.n))
    sub = timed_subset(n_noise, n_bits)
    pts = [layout.point(i) for i in sub]
    nets = float_networks(task, [p.seed for p in pts])
    # one untimed warm-up of each side (imports, numba kernels, the task's cached network)
    evaluate_chunk(js, idx)
    run_sweep(spec, tmp / f"warm{threads}", progress=False)
    point_loop(task, spec, pts, nets)
    t_run, t_chunk, t_loop, l_run, l_loop = [], [], [], [], []
    clocks = []
    for r in range(repeats):
        for side in ("sweep", "loop") if r % 2 == 0 else ("loop", "sweep"):
            if side == "sweep":
                # the task (cached per spec and process) keeps its float network, as the loop's
                # nets, but programs its device again in every timed run
                task.forget_programming()
                t0 = time.perf_counter()
                ds = run_sweep(spec, tmp / f"run{threads}-{r}", progress=False)
                t_run.append(time.perf_counter() - t0)
                task.forget_programming()
                t0 = time.perf_counter()
                rows = evaluate_chunk(js, idx)
                t_chunk.append(time.perf_counter() - t0)
                l_run.append(load())
            else:
                clock: dict = {}
                t0 = time.perf_counter()
                res = point_loop(task, spec, pts, nets, clock=clock)
                t_loop.append(time.perf_counter() - t0)
                clocks.append(clock)
                l_loop.append(load())
    assert int(ds.attrs["points_done"]) == layout.n and all(row[1] == "ok" for row in rows)
    # same work: the loop's per-point metric against the sweep's (run_sweep's Dataset and rows)
    by_idx = {row[0]: row[2]["rel_error"] for row in rows}
    sw = np.array([by_idx[i][0] for i in sub])
    ds_err = ds.rel_error.values.reshape(layout.n, -1)[:, 0]
    lp = np.array([m["rel_error"][0] for m in res])
    rel_diff = np.abs(lp - sw) / np.abs(sw)
    assert np.array_equal(ds_err[sub], sw), "run_sweep and evaluate_chunk disagree"
    assert rel_diff.max() < 1e-3, f"point loop and sweep differ: max relative difference {rel_diff.max():.3g}"
    scale = layout.n / len(sub)
    loop_best = min(t_loop) * scale
    prog = [c["program_s"] / (c["program_s"] + c["read_s"]) for c in clocks]
    sfx = "" if threads == 2 else f"_{threads}t"
    out = {
        f"speedup_vs_point_loop{sfx}": round(loop_best / min(t_run), 1),
        # each repeat's loop and sweep ran back to back (about the same load): their ratio
        f"speedup_vs_point_loop{sfx}_median": round(float(np.median(np.array(t_loop) * scale / np.array(t_run))), 1),
        f"speedup_vs_point_loop_compute{sfx}": round(loop_best / min(t_chunk), 1),
        f"point_loop_s{sfx}": round(loop_best, 2),
        f"sweep_run_s{sfx}": round(min(t_run), 4),
        f"sweep_compute_s{sfx}": round(min(t_chunk), 4),
        f"point_loop_program_fraction{sfx}": round(float(np.median(prog)), 3),
        f"load_point_loop{sfx}": l_loop,
        f"load_sweep{sfx}": l_run,
        f"threads{sfx}": threads,
    }
    if threads == 2:
        err = np.array([by_idx[i][0] for i in idx]).reshape(n_noise, n_bits)
        out.update(
            sweep_points=layout.n,
            point_loop_points_timed=len(sub),
            point_loop_max_rel_diff=float(f"{rel_diff.max():.3g}"),
            point_loop_points_equal=int((rel_diff == 0).sum()),
            # physics sanity of the sweep itself: error grows with noise, shrinks with bits
            rel_error_noise0_12bit=round(float(err[0, -1]), 4),
            rel_error_noise05_3bit=round(float(err[-1, 0]), 4),
        )
    return out


def bench_dask(points: int, work: int, seed: int, tmp: Path, repeats: int) -> dict:
    from contextlib import ExitStack

    from distributed import Client, LocalCluster

    from physnn.sweep import Axis, SweepSpec, evaluate_chunk, run_sweep

    spec = SweepSpec(
        task="toy",
        seed=seed,
        replicates=1,
        chunk_points=1,
        task_params={"work": work},
        axes=(Axis(field="task.x", start=0.0, stop=1.0, num=points),),
    )
    times: dict[int, list[float]] = {1: [], 2: []}
    loads: dict[int, list[float]] = {1: [], 2: []}
    with ExitStack() as stack:
        addr = {}
        for n in (1, 2):
            cluster = stack.enter_context(
                LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
            )
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
    return {
        "dask_speedup_2w": round(min(times[1]) / min(times[2]), 3),
        "dask_speedup_2w_median": round(float(np.median(times[1]) / np.median(times[2])), 3),
        "dask_1w_s": round(min(times[1]), 3),
        "dask_2w_s": round(min(times[2]), 3),
        "dask_points": points,
        "load_dask_1w": loads[1],
        "load_dask_2w": loads[2],
    }


def bench_resume(points: int, work: int, seed: int, tmp: Path) -> dict:
    import xarray as xr

    from physnn.sweep import Axis, SweepSpec, run_sweep
    from physnn.sweep.store import points_done

    spec = SweepSpec(
        task="toy",
        seed=seed,
        replicates=2,
        task_params={"work": work},
        axes=(Axis(field="task.x", start=0.0, stop=1.0, num=points),),
    )
    toml = tmp / "resume.toml"
    toml.write_text(spec.to_toml())
    out = tmp / "resume"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "physnn", "sweep", str(toml), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
    return {
        "resume_lost_points": int(points - int((res.status.values == 1).sum())),
        "resume_duplicate_points": int(n_log - n_distinct),
        "resume_file_opens_after_kill": opens,
        "resume_killed_mid_run": int(killed),
        "resume_points_done_at_kill": int(done_at_kill),
        "resume_points": points,
        "resume_equals_uninterrupted": int(bool((res.f == ref.f).all())),
    }


def bench_demo(tmp: Path, quick: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    l0 = load()
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "physnn", "demo", "--out", str(tmp / "demo"), "--no-progress"] + (
        ["--quick"] if quick else []
    )
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"physnn demo failed: {r.stderr[-2000:]}")
    demo = json.loads(r.stdout.strip().splitlines()[-1])
    return {
        "demo_seconds": round(dt, 1),
        "demo_quick": int(quick),
        "load_demo": (l0, load()),
        "demo_float_accuracy": demo["float_accuracy"],
        "demo_accuracy_worst": demo["accuracy_worst"],
        "demo_points": demo["points"],
        "demo_replicates": demo["replicates"],
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="fewer repeats, smaller dask/resume sweeps, quick demo (writes quick.json)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write bench_sweep.json here")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--skip-demo", action="store_true")
    p.add_argument("--only", choices=["point_loop", "dask", "resume", "demo"], default=None)
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    res: dict = {"load_start": load(), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "point_loop"):
            res.update(bench_point_loop(repeats, args.seed, 2, tmp))
            res.update(bench_point_loop(repeats, args.seed, 1, tmp))
            set_threads(2)
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
    publish("bench_sweep", res, quick=args.quick)
    return res


if __name__ == "__main__":
    main()
