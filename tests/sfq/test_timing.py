"""Pulse-level timing check of generated networks (setup/hold/separation/clock)."""

import dataclasses

import numpy as np
import pytest

from physnn.sfq import TIMING, LayerSpec
from physnn.sfq.timing import TimingViolation, assert_timing, check_timing

XOR = [
    LayerSpec(synapse_bias_A=np.full((2, 4), 180e-6), neuron_bias_A=np.full(2, 100e-6)),
    LayerSpec(synapse_bias_A=np.full((1, 2), 180e-6), neuron_bias_A=np.full(1, 200e-6)),
]


def test_default_schedule_meets_all_constraints():
    ds = assert_timing(XOR)
    assert ds.attrs["ok"] == 1
    assert float(ds["setup_slack"].min()) > 0 and ds["setup_slack"].attrs["units"] == "s"


def test_early_clock_breaks_setup():
    with pytest.raises(TimingViolation, match="setup_slack"):
        assert_timing(XOR, timing=dataclasses.replace(TIMING, clock_delay_s=40e-12))


def test_small_stagger_collides_in_the_merger():
    ds = check_timing(XOR, timing=dataclasses.replace(TIMING, stagger_s=4e-12))
    assert ds.attrs["ok"] == 0 and float(ds["merger_sep_slack"].min()) < 0


def test_short_slot_breaks_hold():
    with pytest.raises(TimingViolation, match="hold_slack"):
        assert_timing(XOR, timing=dataclasses.replace(TIMING, slot_s=110e-12))
