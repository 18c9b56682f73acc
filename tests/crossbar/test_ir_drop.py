"""IR drop: Kirchhoff's laws of the exact nodal solve, analytic limits, fast-vs-exact error bound."""

import math

import numpy as np
import pytest
import torch

from physnn.crossbar import SinhIV, ir_drop_contraction, ir_drop_fast, solve_ir_drop_exact


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _rand_array(n_out, n_in, batch=(), seed=0, v_scale=0.2):
    gen = _gen(seed)
    g = torch.rand(n_out, n_in, dtype=torch.float64, generator=gen) * 24e-6 + 1e-6
    v = (torch.rand(*batch, n_in, dtype=torch.float64, generator=gen) - 0.3) * v_scale
    return g, v


def _kcl_residuals(g, v, sol, r_row, r_col, iv=None):
    """Net current out of every node / sum of |currents| at it, from the voltages alone."""
    vr = sol.v_row.numpy()  # (out, in): row i at column o
    vc = sol.v_col.numpy()
    g = g.numpy()
    vd = vr - vc
    i_dev = g * (iv.v_nl * np.sinh(vd / iv.v_nl) if iv is not None else vd)
    # row nodes: along axis 0 (o); left neighbour of o=0 is the driver
    left = np.concatenate([v.numpy()[None, :], vr[:-1]], axis=0)
    i_left = (left - vr) / r_row  # into node from the left
    i_right = np.concatenate([(vr[:-1] - vr[1:]) / r_row, np.zeros((1, vr.shape[1]))], axis=0)  # out to the right
    res_row = i_left - i_right - i_dev
    scale_row = np.abs(i_left) + np.abs(i_right) + np.abs(i_dev)
    # column nodes: along axis 1 (i); last one connects to ground (0 V)
    up = np.concatenate([np.zeros((vc.shape[0], 1)), (vc[:, :-1] - vc[:, 1:]) / r_col], axis=1)  # into node from above
    down = np.concatenate([(vc[:, :-1] - vc[:, 1:]) / r_col, vc[:, -1:] / r_col], axis=1)  # out towards ground
    res_col = up + i_dev - down
    scale_col = np.abs(up) + np.abs(i_dev) + np.abs(down)
    return np.abs(res_row) / scale_row.max(), np.abs(res_col) / scale_col.max(), i_dev


@pytest.mark.parametrize("shape,r_row,r_col", [((8, 5), 2.0, 2.0), ((16, 24), 10.0, 1.0), ((3, 40), 0.5, 50.0)])
@pytest.mark.parametrize("nonlinear", [False, True])
def test_exact_solve_obeys_kirchhoff(shape, r_row, r_col, nonlinear):
    g, v = _rand_array(*shape, seed=shape[0])
    iv = SinhIV(0.15) if nonlinear else None
    sol = solve_ir_drop_exact(g, v, r_row, r_col=r_col, iv=iv)
    res_row, res_col, i_dev = _kcl_residuals(g, v, sol, r_row, r_col, iv)
    assert res_row.max() < 1e-9 and res_col.max() < 1e-9  # KCL at every node
    i_in, i_out = sol.i_in.numpy(), sol.i_out.numpy()
    assert abs(i_in.sum() - i_out.sum()) < 1e-9 * np.abs(i_out).sum()  # injected = sensed
    np.testing.assert_allclose(i_out, i_dev.sum(axis=1), rtol=1e-9, atol=1e-9 * np.abs(i_out).max())
    np.testing.assert_allclose(i_in, i_dev.sum(axis=0), rtol=1e-9, atol=1e-9 * np.abs(i_in).max())


def test_exact_analytic_limits():
    # one cell: driver -> r_row -> device -> r_col -> ground, a series circuit
    g = torch.tensor([[20e-6]], dtype=torch.float64)
    v = torch.tensor([0.3], dtype=torch.float64)
    sol = solve_ir_drop_exact(g, v, 100.0, r_col=300.0)
    assert float(sol.i_out[0]) == pytest.approx(0.3 / (100.0 + 1 / 20e-6 + 300.0), rel=1e-12)
    # ideal wires: Ohm's law and Kirchhoff's current law give I = G V exactly
    g, v = _rand_array(6, 7, batch=(4,), seed=1)
    for fn in (solve_ir_drop_exact, ir_drop_fast):
        sol = fn(g, v, 0.0)
        torch.testing.assert_close(sol.i_out, v @ g.T, rtol=1e-12, atol=0)
    # only the column wires resistive (rows ideal) and vice versa: still a valid solve
    for rr, rc in ((0.0, 5.0), (5.0, 0.0)):
        ex = solve_ir_drop_exact(g, v, rr, r_col=rc)
        assert abs(float(ex.i_in.sum() - ex.i_out.sum())) < 1e-9 * float(ex.i_out.abs().sum())
        fa = ir_drop_fast(g, v, rr, r_col=rc, tol=1e-10)
        torch.testing.assert_close(fa.i_out, ex.i_out, rtol=1e-7, atol=1e-7 * float(ex.i_out.abs().max()))
    # wire loss only reduces the magnitude when all inputs are positive
    vpos = v.abs()
    assert torch.all(solve_ir_drop_exact(g, vpos, 5.0).i_out < vpos @ g.T)


@pytest.mark.parametrize("shape", [(4, 12), (16, 16), (32, 8), (48, 48)])
@pytest.mark.parametrize("r", [1.0, 10.0, 100.0])
def test_fast_vs_exact_error_bound(shape, r):
    g, v = _rand_array(*shape, batch=(3,), seed=7)
    ex = solve_ir_drop_exact(g, v, r)

    def err(i):
        return float((i - ex.i_out).norm() / ex.i_out.norm())

    e0 = err(v @ g.T)  # ideal-wire (no IR drop) error
    _, rho = ir_drop_contraction(float(g.max()), *shape, r)
    assert rho < 1
    for k in (1, 2, 4, 8):
        ek = err(ir_drop_fast(g, v, r, iterations=k).i_out)
        assert ek <= max(rho**k * e0, 1e-10), (k, ek, rho, e0)
    auto = ir_drop_fast(g, v, r, tol=1e-3)
    assert err(auto.i_out) <= max(1e-3 * e0, 1e-10)
    assert abs(float(auto.i_in.sum() - auto.i_out.sum())) <= 1e-12 * float(auto.i_out.abs().sum())
    # the node voltages agree as well
    vmax = float(v.abs().max())
    assert float((auto.v_row - ex.v_row).abs().max()) < 1e-3 * vmax
    assert float((auto.v_col - ex.v_col).abs().max()) < 1e-3 * vmax


def test_fast_nonlinear_matches_exact_and_batches():
    gen = _gen(3)
    g = torch.rand(2, 10, 12, dtype=torch.float64, generator=gen) * 25e-6  # ensemble of 2 arrays
    v = torch.rand(5, 1, 12, dtype=torch.float64, generator=gen) * 0.4  # batch of 5 inputs
    iv = SinhIV(0.2)
    ex = solve_ir_drop_exact(g, v, 20.0, iv=iv)
    fa = ir_drop_fast(g, v, 20.0, iv=iv, tol=1e-9)
    assert fa.i_out.shape == ex.i_out.shape == (5, 2, 10)
    torch.testing.assert_close(fa.i_out, ex.i_out, rtol=1e-6, atol=1e-6 * float(ex.i_out.abs().max()))


def test_fast_gradcheck():
    g, v = _rand_array(3, 4, seed=5)
    g = (g * 1e5).requires_grad_()  # scaled so finite differences are well conditioned
    v = v.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: ir_drop_fast(a * 1e-5, b, 500.0, iterations=3).i_out * 1e4, (g, v))


def test_ir_drop_bad_input():
    g, v = _rand_array(3, 4)
    with pytest.raises(ValueError, match="r_wire"):
        solve_ir_drop_exact(g, v, -1.0)
    with pytest.raises(ValueError, match="r_col"):
        ir_drop_fast(g, v, 1.0, r_col=float("nan"))
    with pytest.raises(ValueError, match="v_in"):
        ir_drop_fast(g, v[:3], 1.0)
    with pytest.raises(ValueError, match="g"):
        solve_ir_drop_exact(-g, v, 1.0)
    with pytest.raises(ValueError, match="g"):
        ir_drop_fast(g[0], v, 1.0)
    with pytest.raises(ValueError, match="v_in"):
        ir_drop_fast(g, torch.full_like(v, float("inf")), 1.0)
    with pytest.raises(ValueError, match="iterations"):
        ir_drop_fast(g, v, 1.0, iterations=-1)
    with pytest.raises(ValueError, match="omega"):
        ir_drop_fast(g, v, 1.0, omega=1.5)
    with pytest.raises(ValueError, match="tol"):
        ir_drop_fast(g, v, 1.0, tol=2.0)
    with pytest.raises(TypeError, match="iv"):
        ir_drop_fast(g, v, 1.0, iv="sinh")
    assert math.isclose(ir_drop_contraction(25e-6, 1, 1, 0.0)[1], 0.0)
