"""The baseline of experiments/bench_sweep.py (``point_loop``: each sweep point on its own
AnalogLinear through the public layer API) computes the sweep's per-point metric."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from physnn.sweep import Axis, SweepSpec, evaluate_chunk, run_sweep, validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_sweep", ROOT / "experiments" / "bench_sweep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _loop(bench, spec, idx):
    task, layout = validate(spec)
    pts = [layout.point(i) for i in idx]
    return bench.point_loop(task, spec, pts, bench.float_networks(task, [p.seed for p in pts]))


def test_point_loop_equals_the_sweep(bench, tmp_path):
    spec = bench.read_noise_adc_spec(3, in_features=48, out_features=24, batch=6, noise_values=5, bits=(3, 5, 9))
    _, layout = validate(spec)
    idx = list(range(layout.n))
    rows = {r[0]: r[2]["rel_error"] for r in evaluate_chunk(spec.to_json(), idx)}
    sweep = np.array([rows[i] for i in idx])  # (points, replicates=1)
    # the chunked, stored sweep (programmed layers kept across chunks) gives the same numbers
    ds = run_sweep(spec, tmp_path / "s", progress=False, chunk_points=4)
    np.testing.assert_array_equal(ds.rel_error.values.reshape(layout.n, 1), sweep)
    loop = np.array([m["rel_error"] for m in _loop(bench, spec, reversed(idx))])[::-1]
    # equal up to float32 rounding (noise and ADC in output units vs in ADC codes)
    np.testing.assert_allclose(loop, sweep, rtol=2e-4, atol=0)
    # ... a tolerance far below what the sweep resolves: the metric moves with noise and bits ...
    assert np.ptp(sweep) > 1e3 * 2e-4 * sweep.max()
    # ... and another draw of the noise (another sweep seed) is outside it
    other = np.array(
        [
            m["rel_error"]
            for m in _loop(
                bench,
                bench.read_noise_adc_spec(4, in_features=48, out_features=24, batch=6, noise_values=5, bits=(3, 5, 9)),
                idx,
            )
        ]
    )
    noisy = [i for i in idx if layout.point(i).values["config.out_noise"] > 0]
    assert np.all(np.abs(other[noisy] - sweep[noisy]) > 2e-4 * sweep[noisy])


def test_point_loop_equals_the_sweep_for_the_mlp(bench):
    """Two layers (bias, ReLU, per-member input of the second) and a drift time."""
    spec = SweepSpec(
        task="crossbar_mlp",
        replicates=1,
        seed=5,
        task_params={"epochs": 30, "hidden": 12, "drift_compensation": False},
        axes=(
            Axis(field="config.out_noise", values=(0.0, 0.4)),
            Axis(field="config.adc.bits", values=(4, 8)),
            Axis(field="config.t_inference", values=(1.0, 1.0e5)),
        ),
    )
    _, layout = validate(spec)
    idx = list(range(layout.n))
    rows = {r[0]: r[2]["accuracy"] for r in evaluate_chunk(spec.to_json(), idx)}
    loop = _loop(bench, spec, idx)
    diff = np.array([abs(float(m["accuracy"][0]) - float(rows[i][0])) for i, m in zip(idx, loop)])
    n_test = 539  # 30 % of scikit-learn's 1,797 digits
    assert diff.max() <= 1.5 / n_test  # at most one test digit classified differently
    assert (diff == 0).sum() >= len(idx) - 1
    assert np.ptp([rows[i][0] for i in idx]) > 0.01


def test_point_loop_refuses_a_device_field(bench):
    spec = SweepSpec(
        task="crossbar_linear",
        replicates=1,
        seed=0,
        task_params={"in_features": 8, "out_features": 4, "batch": 2},
        axes=(Axis(field="config.programming_noise.scale", values=(0.5, 1.0)),),
    )
    with pytest.raises(ValueError, match="programming_noise"):
        _loop(bench, spec, [0])
