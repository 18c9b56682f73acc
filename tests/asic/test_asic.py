"""SHA-256 ASIC substrate: real hashing, timing model, hashlib vs statistical mode, Poisson null."""

import numpy as np
import pytest
from scipy import stats

from physnn.random import generator_from_seed

from physnn.asic import (
    GENESIS_HEADER,
    MinerParams,
    TimingParams,
    drive_from_signal,
    error_probability,
    path_delay,
    poisson_cv_interval,
    poisson_null_test,
    scan_nonces,
    sha256d,
    simulate_shares,
    window_features,
)
from physnn.asic.sha256 import (
    DIFF1_TARGET,
    BlockHeader,
    hash_hex,
    share_probability,
    target_from_bits,
    target_from_probability,
)
from physnn.asic.timing import thermal_step


def test_genesis_block_hash():
    raw = GENESIS_HEADER.serialize()
    assert len(raw) == 80
    # known hash of the Bitcoin genesis block (block 0)
    want = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    assert hash_hex(sha256d(raw)) == want
    ((nonce, dig),) = scan_nonces(GENESIS_HEADER, GENESIS_HEADER.nonce, 1)  # midstate path
    assert hash_hex(dig) == want
    assert int.from_bytes(dig, "little") <= target_from_bits(GENESIS_HEADER.bits) == DIFF1_TARGET


def test_shares_to_hit_are_geometric():
    p = 1 / 64
    target = target_from_probability(p)
    assert share_probability(target) == pytest.approx(p, rel=1e-12)
    hits = [n for n, d in scan_nonces(BlockHeader(time=7), 0, 20000) if int.from_bytes(d, "little") <= target]
    gaps = np.diff(hits)
    # geometric(p) on {1, 2, ...}: mean 1/p, and KS against its CDF (discrete: conservative)
    assert gaps.mean() == pytest.approx(1 / p, rel=0.2)
    ks = stats.kstest(gaps, stats.geom(p).cdf)
    assert ks.pvalue > 0.01


def test_delay_and_error_model_monotonic():
    tp = TimingParams()
    v = np.linspace(0.85, 0.99, 15)
    d = path_delay(v, 333.15, tp)
    assert np.all(np.diff(d) < 0)  # higher voltage -> faster
    assert path_delay(tp.v_nom, tp.t_nom, tp) == pytest.approx(tp.d_nom)
    pe = error_probability(v, 333.15, 500e6, tp)
    assert np.all(np.diff(pe) <= 0) and pe[0] > 0.5 and pe[-1] < 1e-6
    assert error_probability(0.9, 333.15, 300e6, tp) < error_probability(0.9, 333.15, 500e6, tp)
    # thermal RC: exact exponential approach to T_amb + R_th P
    T_ss = thermal_step(300.0, 0.9, 5e8, 1e6, tp)
    assert thermal_step(300.0, 0.9, 5e8, tp.tau_th, tp) == pytest.approx(T_ss + (300.0 - T_ss) * np.exp(-1))
    with pytest.raises(ValueError, match="threshold"):
        path_delay(0.2, 333.15, tp)


def test_hashlib_and_statistical_modes_agree_in_distribution():
    mini = MinerParams(n_cores=1, target=target_from_probability(1 / 100))
    v, f = np.full(6, 0.875), np.full(6, 485e6)  # p_err ~ 0.1: some rejected shares
    a = simulate_shares(v, f, window=2.5e-6, params=mini, mode="hashlib", generator=generator_from_seed(1))
    b = simulate_shares(v, f, window=2.5e-6, params=mini, mode="statistical", generator=generator_from_seed(2))
    assert a.n_hashes.sum() == b.n_hashes.sum() and a.n_hashes.sum() > 7000
    ga, gb = np.diff(a.valid_hash_index), np.diff(b.valid_hash_index)
    assert stats.ks_2samp(ga, gb).pvalue > 0.01
    q = mini.share_probability * (1 - a.p_err.mean())
    assert ga.mean() == pytest.approx(1 / q, rel=0.25) and gb.mean() == pytest.approx(1 / q, rel=0.25)
    assert a.rejected_times.size > 0 and np.all(np.diff(a.valid_times) > 0)
    assert a.valid_times.max() < 6 * 2.5e-6


def test_valid_rate_drops_near_edge_and_depends_on_input():
    v, f = drive_from_signal(np.r_[np.zeros(40), np.ones(40)], v_center=0.885, v_swing=0.035)
    tr = simulate_shares(v, f, window=1.0, generator=generator_from_seed(3))
    F, _ = window_features(tr.valid_times, tr.window_edges)
    low, high = F[:40, 0].mean(), F[40:, 0].mean()
    assert tr.p_err[:40].mean() > 0.3 and tr.p_err[40:].mean() < 1e-3
    assert low < 0.8 * high
    with pytest.raises(ValueError, match="signal"):
        drive_from_signal([0.5, 1.5])
    with pytest.raises(ValueError, match="max_hashes"):
        simulate_shares(v, f, window=1.0, mode="hashlib")


def test_poisson_null_cv_distribution():
    # small samples: a Poisson source gives CVs far from 1 by chance (issue note: ~0.56-1.29)
    lo, hi = poisson_cv_interval(10, generator=generator_from_seed(0))
    assert lo < 0.6 and hi > 1.29
    # large samples: sample CV of exponentials is ~ N(1, 1/n) (delta method)
    lo, hi = poisson_cv_interval(2000, n_mc=4000, generator=generator_from_seed(1))
    half = 1.96 / np.sqrt(2000)
    assert lo == pytest.approx(1 - half, abs=0.25 * half) and hi == pytest.approx(1 + half, abs=0.25 * half)


def test_poisson_null_test_accepts_poisson_and_rejects_regular():
    rng = np.random.default_rng(4)
    edges = np.arange(61.0)
    t = np.sort(rng.uniform(0, 60, 600))
    r = poisson_null_test(t, edges, n_mc=300, generator=generator_from_seed(5))
    assert not r["signal_detected"] and 0.6 < r["cv_obs"] < 1.2
    jitter = np.sort(np.arange(0.05, 60, 0.1) + rng.normal(0, 0.005, 600))  # near-periodic source
    r2 = poisson_null_test(jitter, edges, n_mc=300, generator=generator_from_seed(6))
    assert r2["signal_detected"] and r2["cv_obs"] < 0.3 and "detected" in r2["verdict"]


def test_feature_errors_and_definitions():
    F, D = window_features([0.1, 0.2, 0.4, 0.7, 1.5], [0.0, 1.0, 2.0])
    assert F[0, 0] == 4 and F[1, 0] == 1
    iv = np.diff([0.1, 0.2, 0.4, 0.7])
    assert F[0, 1] == pytest.approx(iv.std(ddof=1) / iv.mean())
    assert not D[1, 1] and F[1, 1] == 1.0  # undefined -> Poisson value, flagged
    with pytest.raises(ValueError, match="sorted"):
        window_features([0.3, 0.1], [0.0, 1.0])
    with pytest.raises(ValueError, match="edges"):
        window_features([0.1], [1.0, 0.0])
    with pytest.raises(ValueError, match="features"):
        poisson_null_test([0.1], [0.0, 1.0], features=("bogus",))
