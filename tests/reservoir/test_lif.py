"""Discrete LIF neuron (physnn.reservoir.lif): analytic decay, spike timing, reset."""

import math

import pytest
import torch

from physnn.reservoir.lif import LIFCell, LIFParams, LIFState, decay_from_tau, lif_run, lif_step


def test_subthreshold_decay_is_geometric():
    p = LIFParams(decay=0.9, threshold=5.0)
    st = LIFState(v=torch.tensor([4.0, -2.0], dtype=torch.float64))
    for _ in range(7):
        s, st = lif_step(torch.zeros(2, dtype=torch.float64), st, p)
        assert s.sum() == 0
    torch.testing.assert_close(st.v, torch.tensor([4.0, -2.0], dtype=torch.float64) * 0.9**7)


def test_constant_input_spike_time_and_period():
    # v_n = I (1 - d^n) / (1 - d) reaches threshold at n* = ceil(log(1 - thr (1-d) / I) / log d);
    # with reset to 0 the neuron then fires every n* steps.
    d, thr, i = 0.9, 5.0, 1.0
    n_star = math.ceil(math.log(1 - thr * (1 - d) / i) / math.log(d))
    s, st = lif_run(torch.full((40, 1), i, dtype=torch.float64), LIFParams(decay=d, threshold=thr))
    times = torch.nonzero(s[:, 0]).flatten().tolist()
    assert times[0] == n_star - 1  # 0-based step index
    assert all(b - a == n_star for a, b in zip(times, times[1:]))
    assert len(times) == 40 // n_star


def test_reset_modes():
    st = LIFState(v=torch.tensor([4.5]))
    s, st0 = lif_step(torch.tensor([2.0]), st, LIFParams(decay=1.0, threshold=5.0, reset=-1.0))
    assert float(s) == 1.0 and float(st0.v) == -1.0
    s, st1 = lif_step(torch.tensor([2.0]), st, LIFParams(decay=1.0, threshold=5.0, reset_mode="subtract"))
    assert float(s) == 1.0 and float(st1.v) == pytest.approx(1.5)
    out, _ = LIFCell(LIFParams())(torch.tensor([10.0, 1.0]))
    assert out.tolist() == [1.0, 0.0]


def test_params_checked():
    assert decay_from_tau(10e-3, 1e-3) == pytest.approx(math.exp(-0.1))
    for kw, name in [
        (dict(decay=1.5), "decay"),
        (dict(threshold=0.0), "threshold"),
        (dict(reset=6.0), "reset"),
        (dict(reset_mode="x"), "reset_mode"),
    ]:
        with pytest.raises(ValueError, match=name):
            LIFParams(**kw)
