"""Resistive LSM (physnn.reservoir.lsm): card-driven weight statistics, ensembles, batching."""

import numpy as np
import pytest
import torch
from scipy import stats

from physnn.cards import load_card, parse_card
from physnn.reservoir.lif import LIFParams
from physnn.reservoir.lsm import LSMConfig, ResistiveLSM, SwitchingModel, differential_weights


def _gen(s):
    return torch.Generator().manual_seed(s)


def test_conductances_follow_the_card_lognormal():
    card = load_card("rram_lsm_forming")
    sw = card["switching"]
    m = SwitchingModel.from_card(card)
    g = m.sample((200_000,), generator=_gen(0)).numpy()
    formed = g > card["conductance"]["g_min"]
    # forming yield: binomial, 5 sigma
    n = g.size
    assert abs(formed.mean() - sw["forming_yield"]) < 5 * np.sqrt(sw["forming_yield"] * (1 - sw["forming_yield"]) / n)
    # formed cells: lognormal(ln g_median, log_sigma) -- KS test against the card's distribution
    ks = stats.kstest(g[formed], stats.lognorm(s=sw["log_sigma"], scale=sw["g_median"]).cdf)
    assert ks.pvalue > 1e-3
    assert np.median(g[formed]) == pytest.approx(sw["g_median"], rel=0.01)


def test_differential_pair_statistics():
    m = SwitchingModel(g_median=80e-6, log_sigma=0.35, forming_yield=1.0)
    w = differential_weights((400, 500), m, density=0.25, scale=2.0, generator=_gen(1)).double().numpy()
    nz = w[w != 0]
    assert abs(nz.size / w.size - 0.25) < 0.01
    # w = 2 (G+ - G-)/g_median, G/g_median ~ lognormal(0, s): var = 2 * 4 * (e^{s^2} - 1) e^{s^2}
    s2 = 0.35**2
    assert nz.var() == pytest.approx(8 * (np.exp(s2) - 1) * np.exp(s2), rel=0.03)
    assert abs(nz.mean()) < 5 * nz.std() / np.sqrt(nz.size)  # signed, symmetric


def test_card_without_switching_is_rejected():
    with pytest.raises(ValueError, match=r"\[switching\]"):
        SwitchingModel.from_card("pcm_aihwkit")
    with pytest.raises(ValueError, match=r"\[switching\]"):
        ResistiveLSM(4, LSMConfig(n_neurons=5, card="pcm_aihwkit"))
    text = load_card("rram_lsm_forming").path.read_text()
    no_sigma = "\n".join(l for l in text.splitlines() if not l.startswith("log_sigma"))
    with pytest.raises(ValueError, match="log_sigma"):
        SwitchingModel.from_card(parse_card(no_sigma))


def test_ensemble_members_differ_and_batch_equals_loop():
    cfg = LSMConfig(n_neurons=30, input_scale=3.0, lif=LIFParams(decay=0.9, threshold=2.0))
    lsm = ResistiveLSM(12, cfg, ensemble=3, generator=_gen(2))
    assert lsm.w_in.shape == (3, 12, 30) and lsm.w_rec.shape == (3, 30, 30)
    assert not torch.equal(lsm.w_in[0], lsm.w_in[1])
    assert torch.all(torch.diagonal(lsm.w_rec, dim1=1, dim2=2) == 0)
    x = torch.rand(5, 20, 12, generator=_gen(3))
    out = lsm(x, n_bins=4, return_spikes=True, batch_size=2)
    assert out.counts.shape == (3, 5, 30) and out.binned.shape == (3, 5, 4, 30)
    assert out.counts.sum() > 0
    assert not torch.equal(out.counts[0], out.counts[1])
    torch.testing.assert_close(out.binned.sum(2), out.counts)
    torch.testing.assert_close(out.spikes.sum(2), out.counts)
    torch.testing.assert_close(out.rates, out.counts / 20)
    for b in range(5):  # one sample at a time == batch
        ob = lsm(x[b : b + 1])
        torch.testing.assert_close(ob.counts[:, 0], out.counts[:, b])
        torch.testing.assert_close(ob.v_final[:, 0], out.v_final[:, b])
    # one member on its own == its slice of the ensemble
    single = ResistiveLSM(12, cfg, generator=_gen(9))
    single.w_in.copy_(lsm.w_in[1:2])
    single.w_rec.copy_(lsm.w_rec[1:2])
    torch.testing.assert_close(single(x).counts, out.counts[1])
    # per-member inputs (E, B, T, D)
    o4 = lsm(x.expand(3, -1, -1, -1))
    torch.testing.assert_close(o4.counts, out.counts)


def test_seed_reproducible_and_bad_input():
    a = ResistiveLSM(6, LSMConfig(n_neurons=8), generator=_gen(5))
    b = ResistiveLSM(6, LSMConfig(n_neurons=8), generator=_gen(5))
    assert torch.equal(a.w_in, b.w_in) and torch.equal(a.w_rec, b.w_rec)
    with pytest.raises(ValueError, match="n_inputs"):
        a(torch.zeros(2, 3, 7))
    with pytest.raises(ValueError, match="x"):
        a(torch.zeros(3, 7))
    with pytest.raises(ValueError, match="x"):
        a(torch.full((1, 3, 6), float("nan")))
    with pytest.raises(ValueError, match="input_density"):
        LSMConfig(input_density=1.5)


def test_differential_weights_use_the_crossbar_mapping_of_the_card():
    """The LSM's pairs are read back by the crossbar's differential-pair mapping; the card's
    conductance range cancels (weight = scale (G+ - G-) / g_median)."""
    from physnn.crossbar.mapping import ConductanceRange, DifferentialPair

    m = SwitchingModel.from_card("rram_lsm_forming")
    card_pair = DifferentialPair(ConductanceRange.from_card("rram_lsm_forming"))
    a = differential_weights(
        (30, 40), m, density=0.3, scale=2.0, generator=_gen(3), dtype=torch.float64, mapping=card_pair
    )
    b = differential_weights((30, 40), m, density=0.3, scale=2.0, generator=_gen(3), dtype=torch.float64)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    g = _gen(3)
    gp, gm = m.sample((30, 40), generator=g), m.sample((30, 40), generator=g)
    used = torch.rand((30, 40), generator=g, dtype=torch.float64) < 0.3
    torch.testing.assert_close(
        a, torch.where(used, 2.0 * (gp - gm) / m.g_median, torch.zeros(())), rtol=1e-12, atol=1e-12
    )
    with pytest.raises(TypeError, match="mapping"):
        differential_weights((2, 2), m, density=0.5, mapping="pair")
