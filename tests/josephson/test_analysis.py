"""Analysis helpers: crossings at (2k+1)pi, event tables, delays, pulse counts."""

import math

import numpy as np
import pytest
import torch

from physnn.josephson import cell_library, crossings, delays, pulse_count, simulate, switch_time_torch, switching_events


def test_crossings_of_a_known_ramp():
    t = np.linspace(0, 10e-12, 1001)
    ph = 2 * math.pi * t / 2e-12  # one 2pi slip every 2 ps -> crossings at 1, 3, 5, 7, 9 ps
    tc, lvl, d = crossings(t, ph)
    np.testing.assert_allclose(tc, [1e-12, 3e-12, 5e-12, 7e-12, 9e-12], atol=1e-18)
    assert list(lvl) == [1, 3, 5, 7, 9] and set(d) == {1}
    tc2, _, d2 = crossings(t, -ph)
    np.testing.assert_allclose(tc2, tc, atol=1e-18)
    assert set(d2) == {-1}
    # differentiable version agrees and its derivative is the interpolation slope
    p = torch.tensor(ph, requires_grad=True)
    ts = switch_time_torch(t, p)
    assert float(ts.detach()) == pytest.approx(1e-12, abs=1e-18)
    ts.backward()
    assert p.grad.abs().sum() > 0


def test_event_table_delays_and_counts_with_ensemble():
    text = (
        cell_library("jtl")
        + """
IIN 0 a pwl(0 0 30p 0 33p 600u 36p 0 80p 0 83p 600u 86p 0)
X1 JTL a b
X2 JTL b c
RL c 0 2.0
.tran 0.25p 130p
"""
    )
    ds = simulate(text, ensemble=np.ones((2, 4)))
    ev = switching_events(ds)
    assert ev.sizes["event"] == 2 * 4 * 2  # 2 members x 4 junctions x 2 pulses
    for v in ev.data_vars:
        assert "units" in ev[v].attrs
    np.testing.assert_array_equal(pulse_count(ds, "B2|X2"), [2, 2])
    d = delays(ds, "B1|X1", "B1|X2", member=1)
    assert d.shape == (2,) and np.all((d > 2e-12) & (d < 5e-12))
    assert d[0] == pytest.approx(d[1], abs=1e-15)  # same circuit state for both pulses
