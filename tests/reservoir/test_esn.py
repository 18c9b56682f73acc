"""Echo state network: echo-state property, ensemble == loop, backends agree, reservoirpy agreement."""

import numpy as np
import pytest
import torch

from physnn.random import generator_from_seed
from physnn.reservoir.esn import ESN, HAVE_NUMBA, ESNParams, ESNState, esn_matrices, esn_step


def _gens(*seeds):
    return [generator_from_seed(s) for s in seeds]


def _u(T=300, seed=0):
    return torch.rand(T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 0.5


def test_spectral_radius_and_density():
    p = ESNParams(n_units=100, spectral_radius=0.8, density=0.2)
    W, W_in, b = esn_matrices(2, p, generator=generator_from_seed(3))
    assert torch.linalg.eigvals(W).abs().max().item() == pytest.approx(0.8, rel=1e-10)
    assert 0.15 < (W != 0).double().mean().item() < 0.25
    assert W_in.shape == (100, 2) and W_in.abs().max() <= 1.0 and torch.all(b == 0)


def test_echo_state_property_forgets_initial_state():
    esn = ESN(1, ESNParams(n_units=80, spectral_radius=0.9, leak_rate=0.5), generator=generator_from_seed(1))
    u = _u(400)
    esn.run(u[:50])
    esn.last_state_ = torch.rand_like(esn.last_state_) * 2 - 1  # arbitrary initial condition
    a = esn.run(u, reset=False)
    b = esn.run(u, reset=True)  # from x = 0
    d0 = (a[0] - b[0]).abs().max().item()
    d_end = (a[-1] - b[-1]).abs().max().item()
    assert d0 > 0.05 and d_end < 1e-8 * d0


def test_pure_step_matches_module():
    p = ESNParams(n_units=30, spectral_radius=0.9, leak_rate=0.3, bias_scaling=0.5)
    esn = ESN(1, p, generator=generator_from_seed(2), backend="torch")
    u = _u(20)
    states = esn.run(u)
    s = ESNState(torch.zeros(1, 30, dtype=torch.float64))
    for t in range(20):
        x, s = esn_step(u[t].reshape(1, 1), s, esn.W, esn.W_in, esn.bias, p)
    torch.testing.assert_close(x[0], states[-1], rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_numba_and_torch_backends_agree():
    p = ESNParams(n_units=50, spectral_radius=(0.7, 1.0), leak_rate=(1.0, 0.4), bias_scaling=0.1)
    u = torch.rand(2, 100, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = ESN(1, p, generator=_gens(1, 2), backend="numba").run(u)
    b = ESN(1, p, generator=_gens(1, 2), backend="torch").run(u)
    assert a.shape == (2, 2, 100, 50)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-13)


def test_ensemble_equals_looped_single_runs_and_fits():
    p = ESNParams(n_units=40, spectral_radius=(0.5, 0.9, 1.1), input_scaling=(0.2, 1.0, 0.5), leak_rate=(1.0, 0.5, 0.2))
    seeds = [4, 5, 6]
    u = _u(300)
    y = torch.roll(u, 2) ** 2
    ens = ESN(1, p, generator=_gens(*seeds), alpha=[1e-6, 1e-4, 1e-2]).fit(u[:200], y[:200], washout=20)
    S = ens.run(u)
    P = ens.predict(u[200:], reset=True)
    assert S.shape == (3, 300, 40) and P.shape == (3, 100)
    for e, (sd, al) in enumerate(zip(seeds, [1e-6, 1e-4, 1e-2])):
        one = ESN(1, p.member(e), generator=generator_from_seed(sd), alpha=al).fit(u[:200], y[:200], washout=20)
        torch.testing.assert_close(S[e], one.run(u), rtol=0, atol=1e-12)
        torch.testing.assert_close(P[e], one.predict(u[200:], reset=True), rtol=1e-8, atol=1e-10)


def test_same_states_as_reservoirpy_on_same_matrices():
    from reservoirpy.nodes import Reservoir

    p = ESNParams(n_units=60, spectral_radius=0.95, input_scaling=0.5, leak_rate=0.3, bias_scaling=0.2)
    W, W_in, b = esn_matrices(1, p, generator=generator_from_seed(7))
    u = _u(200).numpy()[:, None]
    ours = ESN(1, p, W=W, W_in=W_in, bias=b).run(u).numpy()
    theirs = Reservoir(W=W.numpy(), Win=W_in.numpy(), bias=b.numpy(), lr=0.3).run(u)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="leak_rate"):
        ESNParams(leak_rate=1.5)
    with pytest.raises(ValueError, match="different lengths"):
        ESNParams(spectral_radius=(0.9, 1.0), leak_rate=(1.0, 0.5, 0.2))
    with pytest.raises(ValueError, match="density"):
        ESNParams(density=0.0)
    esn = ESN(2, ESNParams(n_units=10), generator=generator_from_seed(0))
    with pytest.raises(ValueError, match="n_inputs=2"):
        esn.run(np.zeros(5))
    with pytest.raises(ValueError, match="u: 1 non-finite"):
        esn.run(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        esn.predict(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="y: shape"):
        esn.fit(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="generator: 2 generators"):
        ESN(1, ESNParams(n_units=10, spectral_radius=(0.5, 0.6, 0.7)), generator=_gens(1, 2))
    with pytest.raises(ValueError, match="W_in: expected shape"):
        ESN(1, ESNParams(n_units=10), W=torch.eye(10) * 0.5, W_in=torch.zeros(10, 3))


def test_run_leaves_torch_thread_count_alone():
    # numba's OpenMP layer shares torch's runtime: the compiled loop must not change torch's setting
    import torch

    from physnn.reservoir.esn import ESN, ESNParams

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        esn = ESN(1, ESNParams(n_units=50, spectral_radius=(0.8, 0.9)), generator=_gens(0, 1))
        esn.run(torch.rand(200, 1, dtype=torch.float64))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_vectorisable_tanh_matches_numpy_to_a_few_ulp():
    from physnn.reservoir.esn import _tanh_array

    rng = np.random.default_rng(0)
    v = np.concatenate(
        [
            rng.standard_normal(20000) * 4,
            np.linspace(-25, 25, 20001),
            np.logspace(-300, 1.4, 3000),
            -np.logspace(-300, 1.4, 3000),
            [0.0, -0.0, 5e-324, 19.06, 20.0, 20.5, 700.0, -1e300],
        ]
    )
    ours, ref = _tanh_array(v), np.tanh(v)
    rel = np.abs(ours - ref) / np.maximum(np.abs(ref), np.finfo(float).tiny)
    assert rel.max() <= 4 * np.finfo(float).eps  # a few ulp everywhere, tiny |v| included
    nz = v != 0
    assert np.array_equal(np.signbit(ours[nz]), np.signbit(ref[nz])) and np.all(ours[~nz] == 0)  # odd
    assert np.all(np.abs(ours[np.abs(v) >= 20]) == 1.0)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")
def test_numba_backend_multi_input_float32_and_continuation():
    # several inputs (in-kernel drive), float32 states, and reset=False continuing the stored state
    p = ESNParams(n_units=37, spectral_radius=(0.8, 0.95), input_scaling=0.7, leak_rate=(0.6, 1.0), bias_scaling=0.3)
    u = torch.rand(3, 80, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) - 0.5
    for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 2e-5)):
        a = ESN(3, p, generator=_gens(5, 6), backend="numba", dtype=dtype)
        b = ESN(3, p, generator=_gens(5, 6), backend="torch", dtype=dtype)
        torch.testing.assert_close(a.run(u), b.run(u), rtol=0, atol=tol)
    a = ESN(3, p, generator=_gens(5, 6), backend="numba")
    full = a.run(u)
    a.run(u[:, :30])
    torch.testing.assert_close(a.run(u[:, 30:], reset=False), full[:, :, 30:], rtol=0, atol=1e-14)


@pytest.mark.parametrize("bad", [3, np.random.default_rng(0), "seed"])
def test_generator_of_the_wrong_type_is_refused(bad):
    with pytest.raises(TypeError, match="generator: expected torch.Generator"):
        ESN(1, ESNParams(n_units=10), generator=bad)
    with pytest.raises(TypeError, match=r"generator\[1\]: expected torch.Generator"):
        esn_matrices(1, ESNParams(n_units=10, spectral_radius=(0.5, 0.6)), generator=[generator_from_seed(0), bad])


def test_deprecated_seed_warns_and_equals_generator_from_seed():
    p = ESNParams(n_units=20, spectral_radius=(0.5, 0.9))
    with pytest.warns(DeprecationWarning, match="seed: deprecated"):
        old = esn_matrices(1, p, seed=[3, 4])
    new = esn_matrices(1, p, generator=_gens(3, 4))
    assert all(torch.equal(a, b) for a, b in zip(old, new))
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match=r"seed\[1\]"):
        esn_matrices(1, p, seed=[3, 4.5])
    # same generator seed -> same reservoir; another seed -> another one
    a = esn_matrices(1, ESNParams(n_units=20), generator=generator_from_seed(1))[0]
    assert torch.equal(a, esn_matrices(1, ESNParams(n_units=20), generator=generator_from_seed(1))[0])
    assert not torch.equal(a, esn_matrices(1, ESNParams(n_units=20), generator=generator_from_seed(2))[0])
