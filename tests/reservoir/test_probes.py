"""Raw-input probes of experiments/lsm_zero_shot.py and experiments/reservoir_bench.py: the probe is
computed with the reservoir's readout and selection rule, and the pairing says where the reservoir
does not beat it."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXP = Path(__file__).resolve().parents[2] / "experiments"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXP / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def lsm():
    return _load("lsm_zero_shot")


@pytest.fixture(scope="module")
def rb():
    return _load("reservoir_bench")


def _blobs(rng, n=240, f=6, E=None):
    y = np.repeat(np.arange(3), n // 3)
    centres = rng.normal(size=(3, f)) * 3
    x = centres[y] + rng.normal(size=(n, f))
    if E is not None:
        x = np.stack([x + 0.1 * rng.normal(size=x.shape) for _ in range(E)])
    return x, y


def test_fit_selected_picks_c_on_validation_only(lsm):
    rng = np.random.default_rng(0)
    x, y = _blobs(rng)
    test = np.arange(len(y)) % 4 == 0
    val = (~test) & (np.arange(len(y)) % 4 == 1)
    acc, C, val_acc = lsm.fit_selected(x, y, ~test, test, val)
    assert set(val_acc) == set(lsm.C_GRID) and C in lsm.C_GRID
    assert val_acc[C] == max(val_acc.values())
    assert 0.9 < acc <= 1.0
    # ensemble features: one accuracy per member, one C for all
    xe, _ = _blobs(np.random.default_rng(1), E=3)
    acc_e, C_e, _ = lsm.fit_selected(xe, y, ~test, test, val)
    assert np.shape(acc_e) == (3,) and C_e in lsm.C_GRID
    # the selection never sees the test samples
    with pytest.raises(ValueError, match="val"):
        lsm.fit_selected(x, y, ~test, test, test)
    with pytest.raises(ValueError, match="test"):
        lsm.fit_selected(x, y, np.ones(len(y), bool), test, val)


def test_pairing_reports_where_the_reservoir_does_not_beat_its_probe(lsm):
    figs, gain, not_better = lsm.pair_with_probes({"a": (0.9, 0.8), "b": (0.7, 0.75), "c": (0.5, 0.5)})
    assert list(figs) == ["a_acc", "a_probe_acc", "b_acc", "b_probe_acc", "c_acc", "c_probe_acc"]
    assert gain == pytest.approx({"a": 0.1, "b": -0.05, "c": 0.0})
    assert not_better == ["b", "c"]  # a tie is no gain


def test_delay_line_features(rb):
    X = rb.delay_line(np.arange(1.0, 6.0), 3)
    np.testing.assert_array_equal(X, [[1, 0, 0], [2, 1, 0], [3, 2, 1], [4, 3, 2], [5, 4, 3]])
    with pytest.raises(ValueError, match="taps"):
        rb.delay_line(np.ones(4), 0)


def test_linear_probe_uses_the_split_and_picks_taps_on_validation(rb):
    rng = np.random.default_rng(0)
    u = rng.uniform(0, 0.5, 3000)
    y = np.zeros_like(u)
    y[3:] = 2.0 * u[:-3]  # a pure delay: the raw u(t) says nothing, a delay line of >= 4 taps all
    raw = rb.linear_probe(u, y, 2000, 500, 50, (1e-8, 1e-6))
    assert raw[2] == 1 and raw[0] > 0.9
    dl = rb.linear_probe(u, y, 2000, 500, 50, (1e-8, 1e-6), taps=(1, 2, 5, 10))
    assert dl[2] in (5, 10) and dl[0] < 1e-3 and dl[3] in (1e-8, 1e-6)
