"""Network-level SFQ layers: transfer curves, bias ranges, rate coding, gradients, training."""

import numpy as np
import pytest
import torch

from physnn.sfq import SFQLayer, SFQNetwork, SFQNeuron, SFQSynapse, TIMING, load_transfer, sample_window
from physnn.sfq.characterise import patterns


@pytest.fixture(scope="module")
def curves():
    return load_transfer()


def test_physical_bounds_names_and_units(curves):
    net = SFQNetwork([SFQLayer(4, 2, curves=curves), SFQLayer(2, 1, curves=curves)])
    b = net.physical_bounds()
    names = {n for n, _ in net.named_parameters()}
    assert (
        set(b)
        == names
        == {"layers.0.synapse_bias", "layers.0.neuron_bias", "layers.1.synapse_bias", "layers.1.neuron_bias"}
    )
    for lo, hi, u in b.values():
        assert u == "A" and 0 <= lo < hi < 1e-3
    assert set(SFQSynapse((3,), curves=curves).physical_bounds()) == {"bias"}
    assert set(SFQNeuron(2, 2, curves=curves).physical_bounds()) == {"bias"}


def test_synapse_transfer_is_the_fitted_logistic(curves):
    s = SFQSynapse((), curves=curves)
    i50 = curves.synapse.curve.i50_A[0]
    assert float(s.transfer().detach()) == pytest.approx(0.5)  # initialised at I50
    p = torch.tensor([0.0, 0.4, 1.0], dtype=torch.float64)
    assert torch.allclose(s(p), 0.5 * p)
    with torch.no_grad():
        s.bias.fill_(i50 + 20e-6)
    assert float(s.transfer().detach()) > 0.99


def test_neuron_pattern_sum_matches_enumeration(curves):
    n = SFQNeuron(1, 2, bias_A=120e-6, curves=curves).requires_grad_(False)
    q = torch.tensor([[[0.3, 0.8]]], dtype=torch.float64)
    g = n.fire_given_pattern()[0]
    m = patterns(2)
    want = sum(float(np.prod(np.where(m[k], q[0, 0].numpy(), 1 - q[0, 0].numpy()))) * float(g[k]) for k in range(4))
    assert float(n(q)) == pytest.approx(want)
    # deterministic inputs pick one pattern
    q1 = torch.tensor([[[1.0, 1.0]]], dtype=torch.float64)
    assert float(n(q1)) == pytest.approx(float(g[3]))


def test_layer_output_increases_with_input_rate(curves):
    layer = SFQLayer(2, 1, curves=curves, synapse_bias_A=200e-6, neuron_bias_A=200e-6)
    p = torch.linspace(0, 1, 6, dtype=torch.float64)[:, None].repeat(1, 2)
    out = layer(p)[:, 0]
    assert torch.all(out[1:] >= out[:-1]) and out[0] < 0.01 and out[-1] > 0.9


def test_gradcheck_wrt_bias_currents(curves):
    layer = SFQLayer(
        4,
        2,
        curves=curves,
        generator=torch.Generator().manual_seed(0),
        neuron_bias_A=torch.tensor([80e-6, 170e-6], dtype=torch.float64),
    )
    x = torch.tensor([[1.0, 0.0, 0.3, 0.7], [0.2, 0.9, 1.0, 0.0]], dtype=torch.float64)

    def f(sb, nb):
        return torch.func.functional_call(layer, {"synapse_bias": sb, "neuron_bias": nb}, (x,))

    sb = layer.synapse_bias.detach().clone().requires_grad_()
    nb = layer.neuron_bias.detach().clone().requires_grad_()
    # in amperes: eps 0.1 nA against curve widths of ~uA
    assert torch.autograd.gradcheck(f, (sb, nb), eps=1e-10, atol=1e-6, rtol=1e-3)
    # and through the module's parameters
    layer(x).sum().backward()
    assert layer.synapse_bias.grad.abs().sum() > 0 and layer.neuron_bias.grad.abs().sum() > 0


def test_window_sampling_models_rate_noise():
    g = torch.Generator().manual_seed(0)
    p = torch.full((20000,), 0.3, dtype=torch.float64, requires_grad=True)
    r = sample_window(p, 16, g)
    rd = r.detach()
    assert float(rd.mean()) == pytest.approx(0.3, abs=0.01)
    assert float(rd.var()) == pytest.approx(0.3 * 0.7 / 16, rel=0.05)
    assert torch.all((rd * 16 - torch.round(rd * 16)).abs() < 1e-9)  # counts over 16 slots
    r.sum().backward()
    assert torch.allclose(p.grad, torch.ones_like(p))  # straight-through


def test_xor_trains_by_backprop_through_bias_currents(curves):
    from physnn.sfq.train import fit_biases, random_layer

    X = torch.tensor([[0, 1, 0, 1], [0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 1, 0]], dtype=torch.float64)  # dual rail
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]], dtype=torch.float64)
    best = 0
    for seed in range(16):
        g = torch.Generator().manual_seed(seed)
        net = SFQNetwork([random_layer(4, 2, curves, g), random_layer(2, 1, curves, g)])
        fit_biases(net, X, y, steps=250)
        with torch.no_grad():
            best = max(best, int(((net(X) > 0.5).double() == y).sum()))
        if best == 4:
            break
    assert best == 4
    net.check_biases()  # still inside the physical ranges


def test_rates_in_hz(curves):
    net = SFQNetwork([SFQLayer(2, 1, curves=curves, synapse_bias_A=200e-6, neuron_bias_A=200e-6)])
    r = net.rates(torch.tensor([[TIMING.clock_hz, 0.0]])).detach()
    assert 0.9 * TIMING.clock_hz < float(r) <= TIMING.clock_hz


def test_layer_pattern_probabilities_follow_the_context_curves(curves):
    # P(S) of the passed pulses is the chain rule over the lines in stagger order, each synapse
    # passing with its (line, context) curve whose I50 follows the latest passed line's bias
    ctx = curves.context(2)
    assert ctx is not None, "the shipped transfer file characterises the synapses inside fan-in-2 neurons"
    sb = torch.tensor([[150e-6, 147e-6]], dtype=torch.float64)
    layer = SFQLayer(2, 1, curves=curves, synapse_bias_A=sb, neuron_bias_A=100e-6).requires_grad_(False)
    p = np.array([0.9, 0.7])
    pi = layer.synapse_pass_in_context()[0].numpy()  # (P, K)
    b = sb[0].numpy()
    want = {}
    for S in range(4):
        a0 = p[0] * ctx.pass_prob(0, 0, b[0])
        c = S & 1
        a1 = p[1] * ctx.pass_prob(1, c, b[1], b[0])
        want[S] = (a0 if S & 1 else 1 - a0) * (a1 if S & 2 else 1 - a1)
        assert pi[S, 1] == pytest.approx(float(ctx.pass_prob(1, c, b[1], b[0])), rel=1e-9)
    from physnn.sfq.layers import _two_step

    g = _two_step(layer.neuron_bias[:, None], layer)[0].numpy()
    out = float(layer(torch.tensor(p[None], dtype=torch.float64))[0, 0])
    assert out == pytest.approx(sum(want[S] * g[S] for S in range(4)), rel=1e-9)
    assert sum(want.values()) == pytest.approx(1.0)
    # the measured kick: right after line 0 passed, line 1 passes more often than on its own
    assert ctx.pass_prob(1, 1, 148e-6, 150e-6) > ctx.pass_prob(1, 0, 148e-6) + 0.2
