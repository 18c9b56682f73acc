"""Circuit-level characterisations of the SFQ neuromorphic cells (physnn.josephson at 4.2 K)."""

import numpy as np
import pytest
import torch

from physnn.sfq import load_transfer, merger_splitter_check, neuron_rate_curve, synapse_scurve, wilson_interval
from physnn.sfq.transfer import fit_logistic


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_wilson_interval_known_value():
    # Wilson 95 % interval for 5/10: (0.2366, 0.7634) (Agresti & Coull 1998, Table / R binom.confint)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)


def test_synapse_scurve_one_call_monotone_i50_inside_and_ci_shrinks():
    b = np.linspace(136e-6, 164e-6, 8)
    small = synapse_scurve(b, ensemble=4, pulses=8, generator=_g(1))
    big = synapse_scurve(b, ensemble=36, pulses=8, generator=_g(2))  # 288 noisy runs, one call
    assert big.attrs["simulate_calls"] == 1 and big.attrs["noisy_runs"] == 8 * 36
    assert big["pass_prob"].attrs["units"] == "1" and big["bias"].attrs["units"] == "A"
    p = big["pass_prob"].values
    assert p[0] < 0.1 and p[-1] > 0.9
    # monotone within the statistical resolution
    assert np.all(np.diff(p) > -0.05)
    i50, s = fit_logistic(b, big["n_passed"], big["n_trials"], lo_A=b[0], hi_A=b[-1])
    assert b[0] < i50 < b[-1]
    assert 0.5e-6 < s < 10e-6  # thermal width: a few uA at 4.2 K (toy JoSIM gate: 7.6 uA 10-90 %)
    w_small = (small["ci_high"] - small["ci_low"]).mean()
    w_big = (big["ci_high"] - big["ci_low"]).mean()
    assert w_big < 0.6 * w_small  # 1/sqrt(9) = 0.33 mid-curve; Wilson intervals at p=0/1 shrink as 1/n


def test_synapse_no_noise_is_a_step():
    b = np.array([135e-6, 145e-6, 155e-6, 165e-6])
    ds = synapse_scurve(b, ensemble=1, pulses=4, temp_K=0.0)
    assert set(np.unique(ds["pass_prob"].values)) <= {0.0, 1.0}
    assert ds["pass_prob"].values[0] == 0 and ds["pass_prob"].values[-1] == 1


def test_shipped_fit_reproduces_a_fresh_characterisation_within_ci():
    tc = load_transfer()
    b = np.linspace(138e-6, 160e-6, 12)
    ds = synapse_scurve(b, ensemble=32, pulses=8, generator=_g(7))
    i50, s = tc.synapse.curve.i50_A[0], tc.synapse.curve.scale_A[0]
    fit = 1 / (1 + np.exp(-(b - i50) / s))
    inside = (fit >= ds["ci_low"].values - 0.01) & (fit <= ds["ci_high"].values + 0.01)
    assert inside.mean() >= 0.85, (fit.round(3), ds["pass_prob"].values)


def test_shipped_neuron_fit_inside_its_data_ci():
    tc = load_transfer()
    for k, c in tc.neurons.items():
        b = np.asarray(c.data["bias_A"])
        fit = c.curve(b).T  # (pattern, bias)
        lo, hi = np.asarray(c.data["ci_low"]), np.asarray(c.data["ci_high"])
        inside = (fit >= lo - 0.02) & (fit <= hi + 0.02)
        assert inside.mean() > 0.9, (k, inside.mean())


def test_neuron_rate_increases_with_input_rate_and_bias():
    ds = neuron_rate_curve([0.0, 0.5, 1.0], [60e-6, 200e-6], fan_in=2, slots=12, ensemble=4, generator=_g(3))
    r = ds["output_rate"].values  # (input_prob, bias)
    assert ds["output_rate"].attrs["units"] == "Hz"
    assert np.all(np.diff(r, axis=0) >= 0) and r[-1, 1] > r[0, 1]
    assert np.all(r[:, 1] >= r[:, 0])  # more bias, more firing
    assert r[0].max() == 0  # no input, no output (no spontaneous firing inside the range)
    assert r.max() <= ds.attrs["clock_hz"]


def test_merger_and_splitter_pulse_statistics():
    ds = merger_splitter_check(ensemble=8, slots=4, generator=_g(4))
    assert np.all(ds["p_correct"].values == 1.0)
    assert ds["mean_out"].sel(case="merger_staggered") == 2 and ds["mean_out"].sel(case="merger_simultaneous") == 1


def test_neuron_rate_curve_refuses_rates_above_clock():
    with pytest.raises(ValueError, match="above the clock"):
        neuron_rate_curve([1.2], [100e-6], fan_in=2, slots=2, ensemble=1)


def test_synapse_passes_more_often_right_after_its_neighbour_and_the_shipped_context_fit_predicts_it():
    # two synapses of one fan-in-2 neuron, pulses 12 ps apart: the pulse that line 0 passes into the
    # merger tree kicks line 1's gate junction, so line 1 passes more often in context 1
    from physnn.sfq import synapse_context_response
    from physnn.sfq.transfer import context_trials

    b = np.linspace(140e-6, 158e-6, 8)
    ds = synapse_context_response(b, fan_in=2, slots=12, ensemble=8, line_prob=0.9, copies_per_call=8, generator=_g(11))
    assert ds.attrs["simulate_calls"] == 1 and ds["bias"].attrs["units"] == "A"
    n, k = ds["n_trials"].values, ds["n_passed"].values  # (entry, bias): entries (0, 0), (1, 0), (1, 1)
    assert n[0].sum() > 0 and n[2].sum() > 30
    p_alone = k[1].sum() / n[1].sum()
    p_after = k[2].sum() / n[2].sum()
    assert p_after > p_alone + 0.15, (p_alone, p_after)
    ctx = load_transfer().context(2)
    for line, c in ((0, 0), (1, 0), (1, 1)):
        bi, bp, y = context_trials(ds, line, c)
        p = ctx.pass_prob(line, c, bi, bp)
        z = (y.sum() - p.sum()) / np.sqrt(max((p * (1 - p)).sum(), 1.0))
        assert abs(z) < 3.5, (line, c, y.sum(), p.sum())
