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
    assert w == pytest.approx(0.6, abs=0.05) and i1 == pytest.approx(40e-6, abs=3e-6) and i2 == pytest.approx(150e-6, abs=3e-6)


def test_characterise_save_load_roundtrip(tmp_path):
    tc, dss = characterise_cells(synapse_points=3, neuron_points=3, fan_ins=(1,), synapse_ensemble=2,
                                 neuron_ensemble=2, repeats=1, generator=torch.Generator().manual_seed(0))
    assert dss["synapse"].attrs["simulate_calls"] == 1
    tc = TransferCurves(synapse=tc.synapse, neurons=tc.neurons, provenance={**tc.provenance, "seed": 0})
    path = save_transfer(tc, tmp_path / "curves.toml")
    back = load_transfer(path)
    assert back.provenance["seed"] == 0 and back.provenance["temperature_K"] == 4.2
    assert np.allclose(back.synapse.curve.i50_A, tc.synapse.curve.i50_A)
    assert np.allclose(back.neuron(1).curve.weight, tc.neuron(1).curve.weight)
    with pytest.raises(ValueError, match="fan_in=4: no neuron characterisation"):
        back.neuron(4)
