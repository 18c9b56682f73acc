"""Differentiability: torch forward equals numpy, autograd gradients equal finite differences."""

import numpy as np
import pytest
import torch

from physnn.josephson import jtl_chain, simulate, switch_time_torch, transient_torch
from physnn.josephson.bias_tuning import JTLChain, delay_gradient_check, tune_jtl_bias

CHAIN = jtl_chain(3, tstop=70e-12)


def test_torch_forward_equals_numpy():
    ds = simulate(CHAIN)
    out = transient_torch(CHAIN)
    np.testing.assert_allclose(out["phase"].detach().numpy().T, ds["phase"].values, rtol=0, atol=1e-10)


def _delay(out):
    j = out["junction"]
    return switch_time_torch(out["time"], out["phase"][:, j.index("B1|X3")]) - switch_time_torch(
        out["time"], out["phase"][:, j.index("B1|X2")]
    )


def test_gradient_wrt_critical_current_and_inductance_matches_fd():
    ic0 = torch.tensor(transient_torch(CHAIN, tstop=1e-12)["phase"].shape[1] * [250e-6], dtype=torch.float64)
    ic = ic0.clone().requires_grad_(True)
    lval = torch.tensor(3.3e-12, dtype=torch.float64, requires_grad=True)
    d = _delay(transient_torch(CHAIN, ic=ic, inductance={"L2|X2": lval}))
    gic, gl = torch.autograd.grad(d, (ic, lval))
    k = 2  # B1|X2
    eps = 1e-7
    with torch.no_grad():
        up, dn = ic0.clone(), ic0.clone()
        up[k] += eps
        dn[k] -= eps
        fd_ic = (
            _delay(transient_torch(CHAIN, ic=up, inductance={"L2|X2": lval}))
            - _delay(transient_torch(CHAIN, ic=dn, inductance={"L2|X2": lval}))
        ) / (2 * eps)
        el = 1e-15
        fd_l = (
            _delay(transient_torch(CHAIN, ic=ic0, inductance={"L2|X2": lval + el}))
            - _delay(transient_torch(CHAIN, ic=ic0, inductance={"L2|X2": lval - el}))
        ) / (2 * el)
    assert float(gic[k]) == pytest.approx(float(fd_ic), rel=2e-3)
    assert float(gl) == pytest.approx(float(fd_l), rel=2e-3)
    assert float(gl) > 0  # larger inductance -> slower JTL


def test_bias_gradient_and_tuning_hits_target_delay():
    chain = JTLChain(tstop=70e-12)
    g, fd = delay_gradient_check(chain)
    assert g == pytest.approx(fd, rel=5e-3)
    assert g < 0  # more bias -> faster
    res = tune_jtl_bias(3.1e-12, chain=chain, steps=8)
    assert res.delay == pytest.approx(3.1e-12, abs=0.02e-12)
    assert res.scale > 1.0
