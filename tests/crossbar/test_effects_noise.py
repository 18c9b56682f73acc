"""Programming noise, drift and read noise against their formulas (PCM card = aihwkit PCMLikeNoiseModel)."""

import math

import pytest
import torch

from physnn.cards import load_card
from physnn.crossbar import (
    Drift,
    ProgrammingNoise,
    ReadNoise,
    apply_drift,
    apply_programming_noise,
    apply_read_noise,
    drift_exponent_stats,
    drift_readout_input,
    expand_ensemble,
    global_drift_compensation,
    sample_drift_exponents,
)

CARD = load_card("pcm_aihwkit")
G_MAX = 25e-6
# aihwkit 1.1.0 PCMLikeNoiseModel defaults (aihwkit/inference/noise/pcm.py), copied as facts:
# sigma_prog(g) = c0 + c1 x + c2 x^2 (uS), x = g / 25 uS
PROG_COEFF_US = (0.26348, 1.9650, -1.1731)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _std_tol(n, k=5.0):
    """Relative tolerance of a sample std from n normal draws: k standard errors, 1/sqrt(2(n-1))."""
    return k / math.sqrt(2 * (n - 1))


def test_programming_noise_std_follows_polynomial():
    cfg = ProgrammingNoise.from_card(CARD)
    levels = (
        torch.tensor([2.0, 5.0, 10.0, 17.5, 25.0], dtype=torch.float64) * 1e-6
    )  # >= 2 uS: clamp at 0 is > 2 sigma away
    n = 20000
    g = levels[:, None].expand(-1, n)
    out = apply_programming_noise(g, cfg, generator=_gen(1))
    x = levels / G_MAX
    sigma = sum(c * x**k for k, c in enumerate(PROG_COEFF_US)) * 1e-6
    est = out.std(dim=1)
    torch.testing.assert_close(est / sigma, torch.ones_like(sigma), atol=_std_tol(n), rtol=0)
    mean_tol = 5 * sigma / math.sqrt(n)
    assert torch.all((out.mean(dim=1) - levels).abs() < mean_tol)


def test_programming_noise_rescales_with_gmax_and_scale():
    base = ProgrammingNoise.from_card(CARD)
    half = ProgrammingNoise.from_card(CARD, g_max=12.5e-6, scale=2.0)  # coefficients fitted at 25 uS
    g = torch.full((40000,), 6.25e-6, dtype=torch.float64)  # x = 0.5 of the 12.5 uS device
    est = apply_programming_noise(g, half, generator=_gen(2)).std()
    x = 0.5
    expected = 2.0 * 0.5 * sum(c * x**k for k, c in enumerate(PROG_COEFF_US)) * 1e-6
    assert abs(float(est) / expected - 1) < _std_tol(40000)
    assert base.g_max_reference == half.g_max_reference == G_MAX


def test_programming_noise_clamps_at_zero_seed_and_ensemble_independence():
    cfg = ProgrammingNoise(model="absolute", sigma_abs=1e-6)
    g0 = torch.rand(8, 16, dtype=torch.float64) * 25e-6
    ge = expand_ensemble(g0, 200)
    a = apply_programming_noise(ge, cfg, generator=_gen(3))
    b = apply_programming_noise(ge, cfg, generator=_gen(3))
    assert torch.equal(a, b)  # same seed -> identical draws
    assert float(a.min()) >= 0.0
    zero = apply_programming_noise(torch.zeros(10000, dtype=torch.float64), cfg, generator=_gen(4))
    assert float(zero.min()) == 0.0 and abs(float((zero > 0).double().mean()) - 0.5) < 5 * 0.5 / 100
    # ensemble members independent: correlation of the noise between members ~ 0
    d = (a - g0).reshape(200, -1)
    c = torch.corrcoef(d)
    off = c[~torch.eye(200, dtype=torch.bool)]
    assert float(off.abs().mean()) < 1.2 * math.sqrt(2 / math.pi / d.shape[1])  # E|r| = sqrt(2/(pi n)) if independent
    assert not torch.equal(a[0], a[1])


def test_programming_noise_gradient_identity():
    cfg = ProgrammingNoise.from_card(CARD)
    g = (torch.rand(50, dtype=torch.float64) * 20e-6 + 4e-6).requires_grad_()
    apply_programming_noise(g, cfg, generator=_gen(5)).sum().backward()
    assert torch.equal(g.grad, torch.ones_like(g))


@pytest.mark.parametrize("nu", [0.0, 0.031, 0.1])
def test_drift_power_law_exact(nu):
    cfg = Drift(model="power_law", t0=20.0, nu=nu)
    g = torch.rand(5, 7, dtype=torch.float64) * 25e-6
    nus = sample_drift_exponents(g, cfg, generator=_gen(0))
    assert torch.all(nus == nu)
    for t_inf in (0.0, 1.0, 3600.0, 86400.0, 3.15e7):
        t = t_inf + 20.0
        torch.testing.assert_close(apply_drift(g, nus, t_inf, cfg), g * (t / 20.0) ** (-nu), rtol=1e-13, atol=0)
    # one time per ensemble member
    t_e = torch.tensor([0.0, 60.0, 3600.0], dtype=torch.float64).view(3, 1, 1)
    out = apply_drift(expand_ensemble(g, 3), nu, t_e, cfg)
    torch.testing.assert_close(out[2], g * (3620.0 / 20.0) ** (-nu), rtol=1e-13, atol=0)
    assert torch.equal(out[0], g)


def test_drift_pcm_exponent_statistics_and_mean_conductance():
    cfg = Drift.from_card(CARD)
    g = torch.tensor([0.5, 5.0, 25.0], dtype=torch.float64) * 1e-6
    mu, sd = drift_exponent_stats(g, cfg)
    # Nandakumar et al. fit (aihwkit): mu = clip(-0.0155 ln(g/25uS) + 0.0244, 0.049, 0.1), sd likewise
    lg = torch.log(g / G_MAX)
    torch.testing.assert_close(mu, (-0.0155 * lg + 0.0244).clamp(0.049, 0.1))
    torch.testing.assert_close(sd, (-0.0125 * lg - 0.0059).clamp(0.008, 0.045))
    n = 40000
    gg = g[:, None].expand(-1, n)
    nu = sample_drift_exponents(gg, cfg, generator=_gen(6))
    assert float(nu.min()) >= 0
    # folded normal mean: sd sqrt(2/pi) exp(-mu^2/2sd^2) + mu (1 - 2 Phi(-mu/sd))
    z = mu / sd
    phi = 0.5 * (1 + torch.erf(-z / math.sqrt(2)))
    fold_mean = sd * math.sqrt(2 / math.pi) * torch.exp(-0.5 * z**2) + mu * (1 - 2 * phi)
    assert torch.all((nu.mean(1) - fold_mean).abs() < 5 * sd / math.sqrt(n))
    # mean drifted conductance at 1 h: E[(t/t0)^-nu] with the sampled exponents
    t_inf = 3600.0
    out = apply_drift(gg, nu, t_inf, cfg)
    ratio = out.mean(1) / g
    expected = torch.exp(-nu * math.log((t_inf + 20) / 20)).mean(1)
    torch.testing.assert_close(ratio, expected, rtol=1e-12, atol=0)
    assert torch.all(out <= gg) and torch.all(out >= 0)


def test_global_drift_compensation_undoes_uniform_drift():
    cfg = Drift(model="power_law", t0=20.0, nu=0.05)
    w = torch.rand(2, 6, 9, dtype=torch.float64)
    x = drift_readout_input(9, dtype=torch.float64)
    y_ref = x @ w.transpose(-1, -2)
    wd = apply_drift(w, 0.05, torch.tensor([3600.0, 86400.0], dtype=torch.float64).view(2, 1, 1), cfg)
    y_d = x @ wd.transpose(-1, -2)
    alpha = global_drift_compensation(y_ref, y_d, ensemble_dims=1)
    assert alpha.shape == (2, 1, 1)
    torch.testing.assert_close(alpha.flatten(), torch.tensor([3620 / 20, 86420 / 20], dtype=torch.float64) ** 0.05)
    torch.testing.assert_close(y_d * alpha, y_ref)
    with pytest.raises(ValueError, match="y_drifted"):
        global_drift_compensation(y_ref, y_d[:1])
    with pytest.raises(ValueError, match="ensemble_dims"):
        global_drift_compensation(y_ref, y_d, ensemble_dims=3)


def test_read_noise_one_over_f_std():
    cfg = ReadNoise.from_card(CARD)
    assert cfg.t0 == 20.0 and cfg.t_read == 250e-9
    g = torch.tensor([1.0, 5.0, 25.0], dtype=torch.float64) * 1e-6
    n = 20000
    gg = g[:, None].expand(-1, n)
    for t_inf in (0.0, 86400.0):
        out = apply_read_noise(gg, cfg, t_inference=t_inf, generator=_gen(7))
        q = (0.0088 / (g / G_MAX) ** 0.65).clamp(max=0.2)
        t = t_inf + 20.0
        sig = q * math.sqrt(math.log((t + 250e-9) / (2 * 250e-9))) * g
        torch.testing.assert_close(out.std(1) / sig, torch.ones_like(sig), atol=_std_tol(n), rtol=0)
    # Q set by the programmed conductance when given (as aihwkit)
    gp = torch.full_like(gg, 25e-6)
    out = apply_read_noise(gg, cfg, t_inference=0.0, generator=_gen(8), g_programmed=gp)
    sig = 0.0088 * math.sqrt(math.log((20 + 250e-9) / (2 * 250e-9))) * g
    torch.testing.assert_close(out.std(1) / sig, torch.ones_like(sig), atol=_std_tol(n), rtol=0)


def test_read_noise_gaussian_clamp_seed():
    cfg = ReadNoise(model="gaussian", sigma_rel=0.05)
    g = torch.full((4, 30000), 10e-6, dtype=torch.float64)
    a = apply_read_noise(g, cfg, generator=_gen(9))
    assert torch.equal(a, apply_read_noise(g, cfg, generator=_gen(9)))
    assert abs(float(a.std() / 0.5e-6) - 1) < _std_tol(a.numel())
    big = apply_read_noise(g, ReadNoise(model="gaussian", sigma_rel=2.0), generator=_gen(9))
    assert float(big.min()) == 0.0  # clamped at 0 S


def test_noise_bad_input():
    with pytest.raises(ValueError, match="model"):
        ProgrammingNoise(model="quadratic", coefficients=(1.0,), g_max=1.0)
    with pytest.raises(ValueError, match="coefficients"):
        ProgrammingNoise(model="polynomial", g_max=1.0)
    with pytest.raises(ValueError, match="g_max"):
        ProgrammingNoise(model="polynomial", coefficients=(1e-7,))
    with pytest.raises(ValueError, match="sigma_rel"):
        ProgrammingNoise(model="relative", sigma_rel=-0.1)
    with pytest.raises(ValueError, match="scale"):
        ProgrammingNoise(model="absolute", sigma_abs=1e-7, scale=float("nan"))
    with pytest.raises(ValueError, match="g"):
        apply_programming_noise(torch.tensor([1e-6, float("nan")]), ProgrammingNoise(model="absolute", sigma_abs=1e-7))
    with pytest.raises(ValueError, match="t0"):
        Drift(model="power_law", t0=0.0, nu=0.05)
    with pytest.raises(ValueError, match="nu"):
        Drift(model="power_law", t0=20.0)
    with pytest.raises(ValueError, match="g_ref"):
        Drift(model="pcm_lognormal", t0=20.0, nu_mean_coeffs=(0, 0), nu_std_coeffs=(0, 0))
    with pytest.raises(ValueError, match="nu_mean_min"):
        Drift.from_card(CARD, nu_mean_min=0.2)
    cfg = Drift(model="power_law", t0=20.0, nu=0.05)
    with pytest.raises(ValueError, match="t_inference"):
        apply_drift(torch.ones(2), 0.05, -1.0, cfg)
    with pytest.raises(ValueError, match="nu"):
        apply_drift(torch.ones(2), torch.tensor([0.1, -0.1]), 1.0, cfg)
    with pytest.raises(ValueError, match="t_read"):
        ReadNoise(model="one_over_f", g_ref=1.0, q_coeff=0.01, q_exponent=0.6)
    with pytest.raises(ValueError, match="sigma_rel"):
        ReadNoise(model="gaussian")
    with pytest.raises(ValueError, match="t_inference"):
        apply_read_noise(torch.ones(2), ReadNoise(model="gaussian", sigma_rel=0.1), t_inference=-5.0)
