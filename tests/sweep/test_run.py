"""Executors and storage: ensemble == point-by-point, failed points, refusal, resume after kill -9,
scheduler time-out, labelled results."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from physnn.sweep import Axis, SweepError, SweepSpec, evaluate_chunk, run_sweep, validate
from physnn.sweep.store import points_done
from physnn.sweep.tasks import point_key

ROOT = Path(__file__).resolve().parents[2]

MLP = dict(
    task="crossbar_mlp",
    replicates=3,
    seed=1,
    task_params={"epochs": 40, "hidden": 16},
    axes=(
        Axis(field="config.out_noise", values=(0.0, 0.3, 1.0)),
        Axis(field="config.adc.bits", values=(3, 5, 8)),
        Axis(field="config.t_inference", values=(1.0, 3.0e7)),
    ),
)


def _metrics(rows):
    return {r[0]: r[2] for r in rows}


def test_ensemble_batches_equal_point_by_point():
    spec = SweepSpec(**MLP)
    _, layout = validate(spec)
    idx = list(range(layout.n))
    js = spec.to_json()
    together = _metrics(evaluate_chunk(js, idx))
    alone = {}
    for i in reversed(idx):  # one point per call, in another order
        alone.update(_metrics(evaluate_chunk(js, [i])))
    for i in idx:
        np.testing.assert_array_equal(together[i]["accuracy"], alone[i]["accuracy"])
    # memory-bounded sub-batches (one point per batched read) give the same numbers too
    small = SweepSpec(**{**MLP, "task_params": {**MLP["task_params"], "max_elements": 1000}})
    sub = _metrics(evaluate_chunk(small.to_json(), idx))
    for i in idx:
        np.testing.assert_array_equal(together[i]["accuracy"], sub[i]["accuracy"])
    acc = np.array([together[i]["accuracy"].mean() for i in idx]).reshape(3, 3, 2)
    # physics sanity: more read noise costs accuracy; replicates differ (independent devices)
    assert acc[2].mean() < acc[0].mean() - 0.05
    assert np.ptp(together[0]["accuracy"]) > 0


def test_kept_programming_gives_the_numbers_of_a_fresh_one(monkeypatch):
    """The task keeps the last device group's programmed layers for the next call of that group:
    calls switching between groups and drift times give the numbers of one call of all."""
    from physnn.crossbar import AnalogLinear

    spec = SweepSpec(
        task="crossbar_linear",
        replicates=2,
        seed=7,
        task_params={"in_features": 24, "out_features": 12, "batch": 4},
        axes=(
            Axis(field="config.programming_noise.scale", values=(0.5, 2.0)),
            Axis(field="config.t_inference", values=(1.0, 1.0e6)),
            Axis(field="config.out_noise", values=(0.0, 0.2)),
        ),
    )
    _, layout = validate(spec)
    idx = list(range(layout.n))
    js = spec.to_json()
    together = _metrics(evaluate_chunk(js, idx))
    # points 0-3: group A (t = 1 s: 0, 1; 1e6 s: 2, 3), 4-7: group B
    order = [0, 2, 1, 4, 6, 5, 3, 3, 7, 0, 2, 6]
    programmed = []
    orig = AnalogLinear.program
    monkeypatch.setattr(AnalogLinear, "program", lambda self, *a, **k: (programmed.append(1), orig(self, *a, **k))[1])
    alone = {}
    for i in order:
        alone.update(_metrics(evaluate_chunk(js, [i])))
    assert len(programmed) == 6  # at 0, 4, 3, 7, 0, 6: a group change
    for i in idx:
        np.testing.assert_array_equal(together[i]["rel_error"], alone[i]["rel_error"])
    assert not np.array_equal(together[0]["rel_error"], together[4]["rel_error"])  # groups differ


def test_vectorized_readout_equals_the_layer_with_its_own_adc():
    """The batched read-out (analog read, then public ADC, rescale) reproduces AnalogLinear with the
    ADC in its config, noise-free, same programming draws (drift compensation off: the batched path
    calibrates without the ADC)."""
    from torch import nn

    from physnn.crossbar import AnalogLinear

    spec = SweepSpec(
        task="crossbar_linear",
        replicates=2,
        seed=4,
        task_params={"in_features": 32, "out_features": 16, "batch": 5, "drift_compensation": False, "adc_y_max": 4.0},
        axes=(
            Axis(field="config.adc.bits", values=(3, 6)),
            Axis(field="config.adc.y_max", values=(2.0, 4.0)),
            Axis(field="config.t_inference", values=(10.0,)),
        ),
    )
    task, layout = validate(spec)
    outs = {}
    orig = task.score
    task.score = lambda out, target, _: (outs.setdefault("y", []).append(out.clone()), orig(out, target, _))[1]
    pts = [layout.point(i) for i in range(layout.n)]
    task.evaluate(pts, 2)
    y = outs["y"][0]  # (R, K, B, out)
    lins, (x, _) = task._cached_net(pts[0].seed)
    gkey = point_key(spec.seed, pts[0].seed, [])
    for k, p in enumerate(pts):
        cfg = task.config_for(p.values)
        plain = nn.Linear(32, 16, bias=False)
        plain.weight.data.copy_(lins[0].weight.data)
        layer = AnalogLinear.from_linear(
            plain, config=cfg, ensemble=2, generator=torch.Generator().manual_seed(gkey)
        ).eval()
        layer.program()
        layer.set_time(10.0, generator=torch.Generator().manual_seed(point_key(gkey, 10.0, 0)))
        ref = layer(x)
        torch.testing.assert_close(y[:, k], ref, rtol=1e-5, atol=1e-5)


def test_batched_output_noise_has_each_points_std():
    """Per point, output minus the noise-free output, in normalised input units, is N(0, sigma)."""
    sigmas = (0.0, 0.05, 0.2, 0.6)
    spec = SweepSpec(
        task="crossbar_linear",
        replicates=2,
        seed=2,
        task_params={"in_features": 64, "out_features": 64, "batch": 256, "adc_bits": 0, "drift_compensation": False},
        axes=(Axis(field="config.out_noise", values=sigmas),),
    )
    task, layout = validate(spec)
    outs = []
    orig = task.score
    task.score = lambda out, target, _: (outs.append(out.clone()), orig(out, target, _))[1]
    task.evaluate([layout.point(i) for i in range(layout.n)], 2)
    y = outs[0]  # (R, K, B, out)
    x = task._cached_net(layout.point(0).seed)[1][0]
    xs = x.abs().amax(-1, keepdim=True)  # abs-max input scaling
    for k, s in enumerate(sigmas[1:], start=1):
        d = (y[:, k] - y[:, 0]) / xs
        assert abs(float(d.std()) - s) < 0.03 * s and abs(float(d.mean())) < 0.03 * s
    # different points draw different noise
    n1, n2 = (y[:, 1] - y[:, 0]) / 0.05, (y[:, 2] - y[:, 0]) / 0.2
    assert abs(float(torch.corrcoef(torch.stack([n1.ravel(), n2.ravel()]))[0, 1])) < 0.05


def test_failed_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    spec = SweepSpec(
        task="toy",
        replicates=2,
        task_params={"fail_above": 1.5},
        axes=(Axis(field="task.x", values=(0.0, 1.0, 2.0, 3.0)),),
        chunk_points=4,
    )
    ds = run_sweep(spec, tmp_path / "r")
    assert ds.status.values.tolist() == [1, 1, 2, 2]
    assert "fail_above" in str(ds.error.sel(x=2.0).values) and str(ds.error.sel(x=0.0).values) == ""
    assert np.isnan(ds.f.sel(x=3.0)).all() and np.isfinite(ds.f_mean.sel(x=1.0))
    disk = xr.open_dataset(tmp_path / "r" / "sweep.nc")
    assert int(disk.attrs["points_failed"]) == 2
    disk.close()


def test_dataset_is_labelled(tmp_path):
    spec = SweepSpec(
        task="toy",
        replicates=5,
        seeds=(0, 1),
        axes=(Axis(field="task.x", values=(0.0, 1.0), name="xx"), Axis(field="task.y", values=(0.0, 0.5, 1.0))),
    )
    ds = run_sweep(spec, tmp_path / "r")
    assert dict(ds.sizes) == {"xx": 2, "y": 3, "seed": 2, "replicate": 5}
    for name in list(ds.data_vars) + list(ds.coords):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert json.loads(ds.attrs["config"])["task"] == "toy" and ds.attrs["spec_digest"] == spec.digest
    v = ds.f.sel(xx=1.0, y=0.5, seed=1).values
    assert float(ds.f_mean.sel(xx=1.0, y=0.5, seed=1)) == pytest.approx(v.mean())
    assert float(ds.f_std.sel(xx=1.0, y=0.5, seed=1)) == pytest.approx(v.std(ddof=1))
    half = 2.7764451051977987 * v.std(ddof=1) / np.sqrt(5)  # t_{0.975, 4}
    assert float(ds.f_ci_high.sel(xx=1.0, y=0.5, seed=1)) == pytest.approx(v.mean() + half)
    # mean of the noisy toy is sin(x) cos(y) within the CI most of the time: check it is close
    assert abs(float(ds.f_mean.sel(xx=1.0, y=0.0).mean()) - np.sin(1.0)) < 0.15


def test_refuses_a_different_spec_and_needs_resume(tmp_path):
    out = tmp_path / "r"
    a = SweepSpec(task="toy", axes=(Axis(field="task.x", values=(0.0, 1.0)),))
    run_sweep(a, out)
    before = (out / "sweep.nc").read_bytes()
    b = a.replace(replicates=2)
    with pytest.raises(SweepError, match="different spec"):
        run_sweep(b, out)
    with pytest.raises(SweepError, match="resume"):
        run_sweep(a, out)
    assert (out / "sweep.nc").read_bytes() == before  # nothing overwritten
    ds = run_sweep(a, out, resume=True)
    assert int(ds.attrs["points_done"]) == 2


def test_unreachable_scheduler_times_out(tmp_path):
    spec = SweepSpec(task="toy", axes=(Axis(field="task.x", values=(0.0,)),))
    t0 = time.monotonic()
    with pytest.raises(SweepError, match=r"scheduler 'tcp://127\.0\.0\.1:9': unreachable within 1 s"):
        run_sweep(spec, tmp_path / "r", scheduler="tcp://127.0.0.1:9", connect_timeout=1.0)
    assert time.monotonic() - t0 < 20
    assert not (tmp_path / "r").exists()  # refused before any work or file


def test_process_pool_gives_the_inprocess_numbers(tmp_path):
    spec = SweepSpec(
        task="toy",
        replicates=3,
        axes=(Axis(field="task.x", values=(0.0, 0.5, 1.0)), Axis(field="task.y", values=(0.0, 1.0))),
    )
    a = run_sweep(spec, tmp_path / "a")
    b = run_sweep(spec, tmp_path / "b", executor="processes", workers=2)
    xr.testing.assert_identical(a.f, b.f)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_inprocess_numbers(tmp_path):
    spec = SweepSpec(task="toy", replicates=2, axes=(Axis(field="task.x", values=(0.0, 0.5, 1.0, 1.5)),))
    a = run_sweep(spec, tmp_path / "a")
    b = run_sweep(spec, tmp_path / "b", executor="dask", workers=2)
    xr.testing.assert_identical(a.f, b.f)


def test_resume_after_kill_9_loses_and_duplicates_nothing(tmp_path):
    spec = SweepSpec(
        task="toy",
        replicates=2,
        task_params={"work": 300_000},
        axes=(Axis(field="task.x", start=0.0, stop=1.0, num=40),),
    )
    toml = tmp_path / "s.toml"
    toml.write_text(spec.to_toml())
    out = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "physnn", "sweep", str(toml), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and points_done(out) < 5:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed: make it slower"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # both files open after the kill
    ds = xr.open_dataset(out / "sweep.nc")
    ds.close()
    done_at_kill = points_done(out)
    assert 5 <= done_at_kill < 40
    res = run_sweep(spec, out, resume=True)
    assert int(res.attrs["points_done"]) == 40 and (res.status.values == 1).all()
    con = sqlite3.connect(str(out / "journal.sqlite"))
    n_log, n_distinct = con.execute("SELECT count(*), count(DISTINCT idx) FROM log").fetchone()
    con.close()
    assert n_log == n_distinct == 40  # none computed-and-stored twice
    ref = run_sweep(spec, tmp_path / "ref")
    xr.testing.assert_identical(res.f, ref.f)  # same numbers as an uninterrupted sweep


def test_cost_metrics_beside_accuracy():
    # issue 25: a cost card adds energy and latency per input vector; the ADC term grows as 2**bits
    spec = SweepSpec(
        **{
            **MLP,
            "task_params": {**MLP["task_params"], "cost_card": "rram_40nm"},
            "axes": (Axis(field="config.adc.bits", values=(4, 8)),),
        }
    )
    _, layout = validate(spec)
    got = _metrics(evaluate_chunk(spec.to_json(), list(range(layout.n))))
    e4, e8 = got[0]["energy"], got[1]["energy"]
    assert set(got[0]) == {"accuracy", "energy", "latency"} and e4.shape == (3,)
    assert np.all(e4 > 0) and np.all(e8 > e4)
    assert np.ptp(e4) > 0  # data- and device-dependent: every chip its own
    # SAR conversion 4 -> 8 clock cycles: the latency grows
    assert np.all(got[1]["latency"] > got[0]["latency"])
    plain = SweepSpec(**{**MLP, "axes": (Axis(field="config.adc.bits", values=(4, 8)),)})
    assert set(_metrics(evaluate_chunk(plain.to_json(), [0]))[0]) == {"accuracy"}
