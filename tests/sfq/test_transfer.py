"""Transfer curves: characterise -> fit -> TOML with provenance -> load, and the fits themselves."""

import numpy as np
import pytest
import torch

from physnn.sfq import TransferCurves, load_transfer, save_transfer
from physnn.sfq.build import characterise_cells
from physnn.sfq.transfer import WIDTH_10_90, fit_logistic, fit_two_step


def test_logistic_fit_recovers_known_curve():
    rng = np.random.default_rng(0)
    b = np.linspace(130e-6, 170e-6, 21)
    p = 1 / (1 + np.exp(-(b - 150e-6) / 2e-6))
    n = np.full(b.size, 4000)
    k = rng.binomial(n, p)
    i50, s = fit_logistic(b, k, n, lo_A=b[0], hi_A=b[-1])
    assert i50 == pytest.approx(150e-6, abs=0.2e-6) and s == pytest.approx(2e-6, rel=0.1)
    assert WIDTH_10_90 == pytest.approx(2 * np.log(9))


def test_two_step_fit_finds_a_plateau():
    rng = np.random.default_rng(1)
    b = np.linspace(0, 240e-6, 25)
    p = 0.6 / (1 + np.exp(-(b - 40e-6) / 3e-6)) + 0.4 / (1 + np.exp(-(b - 150e-6) / 3e-6))
    n = np.full(b.size, 2000)
    i1, s1, w, i2, s2 = fit_two_step(b, rng.binomial(n, p), n, lo_A=0.0, hi_A=240e-6)
    assert (
        w == pytest.approx(0.6, abs=0.05)
        and i1 == pytest.approx(40e-6, abs=3e-6)
        and i2 == pytest.approx(150e-6, abs=3e-6)
    )


def test_characterise_save_load_roundtrip(tmp_path):
    tc, dss = characterise_cells(
        synapse_points=3,
        neuron_points=3,
        fan_ins=(1, 2),
        synapse_ensemble=2,
        neuron_ensemble=2,
        repeats=1,
        context_biases_A=[140e-6, 150e-6, 160e-6],
        context_slots=2,
        context_ensemble=2,
        tail_biases_A=[230e-6],
        tail_ensemble=2,
        tail_repeats=1,
        generator=torch.Generator().manual_seed(0),
    )
    assert dss["synapse"].attrs["simulate_calls"] == 1
    assert dss["neuron_fan_in_2"]["bias"].size == 4 and dss["neuron_fan_in_2"].attrs["combined_runs"] == 2
    assert set(tc.contexts) == {2}  # a fan-in-1 neuron has no context
    tc = TransferCurves(
        synapse=tc.synapse, neurons=tc.neurons, contexts=tc.contexts, provenance={**tc.provenance, "seed": 0}
    )
    path = save_transfer(tc, tmp_path / "curves.toml")
    back = load_transfer(path)
    assert back.provenance["seed"] == 0 and back.provenance["temperature_K"] == 4.2
    assert np.allclose(back.synapse.curve.i50_A, tc.synapse.curve.i50_A)
    assert np.allclose(back.neuron(1).curve.weight, tc.neuron(1).curve.weight)
    assert np.allclose(back.neuron(2).curve.floor, tc.neuron(2).curve.floor)
    assert np.allclose(back.context(2).i50_A, tc.context(2).i50_A) and back.context(1) is None
    # the empty context of every line is the synapse S-curve
    assert np.allclose(back.context(2).i50_A[[0, 1]], tc.synapse.curve.i50_A[0])
    with pytest.raises(ValueError, match="fan_in=4: no neuron characterisation"):
        back.neuron(4)


def test_context_fit_recovers_a_bias_dependent_i50():
    # synthetic trials: I50 = 140 uA + 0.3 (I_prev - 150 uA), s = 2 uA (the shape measured for a
    # synapse right after its neighbour passed); the fit must recover it at the knots inside the data
    from physnn.sfq.transfer import CONTEXT_KNOTS_A, fit_context_entry

    rng = np.random.default_rng(3)
    n = 20000
    b = rng.uniform(130e-6, 165e-6, n)
    bp = rng.uniform(134e-6, 164e-6, n)
    true_i50 = 140e-6 + 0.3 * (bp - 150e-6)
    y = rng.random(n) < 1 / (1 + np.exp(-(b - true_i50) / 2e-6))
    v, s = fit_context_entry(b, bp, y)
    kn = np.asarray(CONTEXT_KNOTS_A)
    inside = kn <= 164e-6
    assert np.allclose(v[inside], 140e-6 + 0.3 * (kn[inside] - 150e-6), atol=0.6e-6), v
    assert s == pytest.approx(2e-6, rel=0.1)
    # a constant entry (empty context) is one logistic
    v0, s0 = fit_context_entry(b, None, rng.random(n) < 1 / (1 + np.exp(-(b - 148e-6) / 2e-6)), varying=False)
    assert np.allclose(v0, 148e-6, atol=0.3e-6) and s0 == pytest.approx(2e-6, rel=0.1)


def test_floor_ceiling_fit_recovers_background_events():
    # an S-curve with a background firing of 0.5 % and 0.3 % misses per slot
    from physnn.sfq.transfer import Logistic, fit_floor_ceiling

    rng = np.random.default_rng(4)
    b = np.linspace(0, 240e-6, 25)
    truth = Logistic(
        i50_A=np.array([160e-6]), scale_A=np.array([3e-6]), floor=np.array([0.005]), ceiling=np.array([0.003])
    )
    n = np.full(b.size, 20000)
    k = rng.binomial(n, truth(b)[:, 0])
    i1, s1, w, i2, s2, fl, ce = fit_floor_ceiling(b, k, n, lo_A=0.0, hi_A=240e-6)
    assert w == 1.0 and i1 == pytest.approx(160e-6, abs=0.5e-6) and s1 == pytest.approx(3e-6, rel=0.15)
    assert fl == pytest.approx(0.005, rel=0.15) and ce == pytest.approx(0.003, rel=0.2)
    # without background events the floor and ceiling stay at (about) zero
    k0 = rng.binomial(n, Logistic(i50_A=np.array([160e-6]), scale_A=np.array([3e-6]))(b)[:, 0])
    assert max(fit_floor_ceiling(b, k0, n, lo_A=0.0, hi_A=240e-6)[5:]) < 2e-4
