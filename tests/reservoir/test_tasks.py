"""Benchmark tasks: NARMA10 recurrence, Mackey-Glass quasi-period, memory capacity bounds, NRMSE."""

import numpy as np
import pytest
import torch

from physnn.random import generator_from_seed
from physnn.reservoir.esn import ESN, ESNParams
from physnn.reservoir.tasks import mackey_glass, memory_capacity, narma10, nrmse


def _gens(*seeds):
    return [generator_from_seed(s) for s in seeds]


def test_narma10_recurrence_term_by_term():
    u, y = narma10(300, seed=1, washout=50)
    assert u.min() >= 0 and u.max() <= 0.5
    # y[t] is the output after input u[t]: y[t] = 0.3 y[t-1] + 0.05 y[t-1] sum_{i=0..9} y[t-1-i]
    #                                           + 1.5 u[t-9] u[t] + 0.1   (Atiya & Parlos 2000)
    for t in range(10, 300):
        prev = y[t - 1]
        expect = 0.3 * prev + 0.05 * prev * y[t - 10 : t].sum() + 1.5 * u[t - 9] * u[t] + 0.1
        assert y[t] == pytest.approx(expect, rel=1e-12)
    # same seed -> same numbers
    np.testing.assert_array_equal(narma10(50, seed=1)[1], narma10(50, seed=1)[1])


def test_mackey_glass_quasi_period_near_50():
    from scipy.signal import find_peaks

    x = mackey_glass(1500)
    assert 0.2 < x.min() < x.max() < 1.5
    xc = x - x.mean()
    ac = np.correlate(xc, xc, "full")[len(x) - 1 :]
    peaks, _ = find_peaks(ac[:120])
    # tau=17 Mackey-Glass: dominant quasi-period ~ 50 time units
    assert 45 <= peaks[0] <= 55


def test_linear_orthogonal_reservoir_memory_capacity_near_N_and_bounded():
    N = 20
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(N, N, generator=g, dtype=torch.float64))
    W = 0.9 * Q
    W_in = torch.randn(N, 1, generator=g, dtype=torch.float64) * 1e-5  # tiny input: tanh ~ linear
    esn = ESN(1, ESNParams(n_units=N), W=W, W_in=W_in)
    u = torch.rand(20000, generator=g, dtype=torch.float64) * 2 - 1
    X = esn.run(u)
    mc, mc_k = memory_capacity(X, u, max_delay=5 * N, washout=500, alpha=1e-14)
    # Jaeger (2002): a linear reservoir with i.i.d. input has MC -> N (19.06 here for N=20)
    assert 0.9 * N < mc <= N
    assert mc_k[0] > 0.97 and np.all(mc_k <= 1.0)


def test_memory_capacity_never_exceeds_N_for_tanh_ensemble():
    N = 15
    u = torch.rand(3000, generator=torch.Generator().manual_seed(1), dtype=torch.float64) - 0.5
    esn = ESN(
        1,
        ESNParams(n_units=N, spectral_radius=(0.3, 0.9, 1.2), input_scaling=(0.1, 1.0, 3.0)),
        generator=_gens(1, 2, 3),
    )
    mc, mc_k = memory_capacity(esn.run(u), u, max_delay=4 * N)
    assert mc.shape == (3,) and mc_k.shape == (3, 4 * N)
    assert np.all(mc > 1.0) and np.all(mc <= N)


def test_nrmse_and_errors():
    y = np.sin(np.linspace(0, 10, 200))
    assert nrmse(y, y) == 0.0
    assert nrmse(y, np.full_like(y, y.mean())) == pytest.approx(1.0)
    assert nrmse(np.stack([y, y]), np.stack([y, 0 * y + y.mean()])).tolist() == pytest.approx([0.0, 1.0])
    with pytest.raises(ValueError, match="constant"):
        nrmse(np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="y_pred: 1 non-finite|y_pred: non-finite"):
        nrmse(y, np.r_[y[:-1], np.nan])
    with pytest.raises(ValueError, match="tau/h"):
        mackey_glass(10, h=0.3)
    with pytest.raises(ValueError, match="u: 10 steps"):
        memory_capacity(np.zeros((20, 3)), np.zeros(10), max_delay=2)
