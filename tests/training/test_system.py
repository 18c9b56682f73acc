"""Protocol: bounds and units, validation errors naming the parameter or query, query counting,
callback and subprocess wrappers, the generic nn.Module adapter."""

import math
import sys
import time

import pytest
import torch
from torch import nn

from physnn.training import (
    AnalogLinearSystem,
    CallbackSystem,
    InputSpec,
    ModuleSystem,
    NoisyDriftingSystem,
    ParameterSpace,
    ParameterSpec,
    PhysicalSystemError,
    SequentialSystem,
    SubprocessSystem,
)


def linear_callback(x, p):
    return x @ p["w"].T


def make_cb(**kw):
    return CallbackSystem(
        linear_callback,
        [ParameterSpec(name="w", shape=(2, 3), low=-1, high=1, units="S")],
        InputSpec(shape=(3,)),
        (2,),
        **kw,
    )


def test_parameter_spec_validation():
    with pytest.raises(ValueError, match="low < high"):
        ParameterSpec(name="v", low=1.0, high=0.0, units="V")
    with pytest.raises(ValueError, match="init=5"):
        ParameterSpec(name="v", low=0.0, high=1.0, init=5, units="V")
    sp = ParameterSpace(
        [ParameterSpec(name="a", shape=(2,), low=0, high=1), ParameterSpec(name="b", low=-2, high=2, units="V")]
    )
    assert sp.size == 3
    th = sp.initial()
    assert th.tolist() == [0.5, 0.5, 0.0]
    assert set(sp.split(th)) == {"a", "b"}
    assert torch.equal(sp.join(sp.split(th)), th)


def test_out_of_bounds_names_parameter_and_query():
    s = make_cb()
    x = torch.ones(4, 3)
    s.query(x, torch.zeros(6))
    th = torch.zeros(6)
    th[4] = 1.5
    with pytest.raises(PhysicalSystemError, match=r"query #2: parameter 'w'\[1, 1\] = 1\.5 S is outside"):
        s.query(x, th)
    th[4] = math.nan
    with pytest.raises(PhysicalSystemError, match=r"'w'\[1, 1\] = nan is not finite"):
        s.query(x, th)
    assert s.queries == 1 and s.samples == 4  # failed queries are not counted


def test_nan_and_wrong_shape_outputs():
    nan_sys = CallbackSystem(
        lambda x, p: torch.full((x.shape[0], 2), math.nan),
        [ParameterSpec(name="w", low=0, high=1)],
        InputSpec(shape=(3,)),
        (2,),
    )
    with pytest.raises(PhysicalSystemError, match=r"query #1: output: 8 of 8 values are NaN"):
        nan_sys.query(torch.ones(4, 3), torch.zeros(1))
    shape_sys = CallbackSystem(
        lambda x, p: torch.zeros(x.shape[0], 5), [ParameterSpec(name="w", low=0, high=1)], InputSpec(shape=(3,)), (2,)
    )
    with pytest.raises(PhysicalSystemError, match=r"expected shape \(4, 2\), got \(4, 5\)"):
        shape_sys.query(torch.ones(4, 3), torch.zeros(1))
    with pytest.raises(PhysicalSystemError, match=r"x: expected shape \(B, 3\)"):
        shape_sys.query(torch.ones(4, 2), torch.zeros(1))


def test_callback_raises_and_times_out():
    def broken(x, p):
        raise RuntimeError("laser off")

    s = CallbackSystem(broken, [ParameterSpec(name="w", low=0, high=1)], InputSpec(shape=(3,)), (2,))
    with pytest.raises(PhysicalSystemError, match="query #1: callback broken raised RuntimeError: laser off"):
        s.query(torch.ones(1, 3), torch.zeros(1))

    def slow(x, p):
        time.sleep(2.0)
        return torch.zeros(x.shape[0], 2)

    s = CallbackSystem(slow, [ParameterSpec(name="w", low=0, high=1)], InputSpec(shape=(3,)), (2,), timeout_s=0.1)
    t0 = time.perf_counter()
    with pytest.raises(PhysicalSystemError, match="callback slow timed out after 0.1 s"):
        s.query(torch.ones(1, 3), torch.zeros(1))
    assert time.perf_counter() - t0 < 1.5
    assert s.queries == 0


def test_query_counting_and_latency():
    s = make_cb(latency_s=0.25)
    th = torch.zeros(6)
    for b in (1, 5, 7):
        s.query(torch.ones(b, 3), th)
    assert s.queries == 3 and s.samples == 13
    assert s.physical_time_s == pytest.approx(0.75)


def test_subprocess_system(tmp_path):
    drv = tmp_path / "driver.py"
    drv.write_text(
        "import sys, numpy as np\nd = np.load(sys.argv[1])\nnp.savez(sys.argv[2], y=d['x'] @ d['w'].T * 2.0)\n"
    )
    s = SubprocessSystem(
        [sys.executable, str(drv)],
        [ParameterSpec(name="w", shape=(2, 3), low=-1, high=1)],
        InputSpec(shape=(3,)),
        (2,),
        timeout_s=30,
    )
    x, w = torch.randn(4, 3), torch.rand(6) - 0.5
    assert torch.allclose(s.query(x, w), 2 * x @ w.view(2, 3).T, atol=1e-6)
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nsys.exit('instrument not connected')\n")
    s2 = SubprocessSystem(
        [sys.executable, str(bad)], [ParameterSpec(name="w", shape=(2, 3), low=-1, high=1)], InputSpec(shape=(3,)), (2,)
    )
    with pytest.raises(PhysicalSystemError, match="query #1: .*bad.py exited with status 1: instrument not connected"):
        s2.query(x, w)


class ToyPhysical(nn.Module):
    """A toy layer with the physical_bounds() contract (like the SFQ layers)."""

    def __init__(self):
        super().__init__()
        self.bias_current = nn.Parameter(torch.full((3,), 100e-6))
        self.coupling = nn.Parameter(torch.full((3, 4), 0.1))
        self.fixed = nn.Parameter(torch.ones(3))

    def physical_bounds(self):
        return {"bias_current": (0.0, 250e-6, "A"), "coupling": (-0.5, 0.5, "1")}

    def forward(self, x):
        return torch.tanh(x @ self.coupling.T) * self.bias_current / 100e-6 + self.fixed


def test_module_adapter_contract():
    m = ToyPhysical()
    s = ModuleSystem(m, (4,))
    assert s.output_shape == (3,)
    assert [p.name for p in s.parameters] == ["bias_current", "coupling"]
    assert [p.units for p in s.parameters] == ["A", "1"]
    th = s.initial_parameters()
    x = torch.randn(5, 4)
    assert torch.allclose(s.query(x, th), m(x))
    # out of bounds: names the module's parameter
    th2 = th.clone()
    th2[1] = 300e-6
    with pytest.raises(
        PhysicalSystemError, match=r"'bias_current'\[1\] = 0\.0003 A is outside its bounds \[0, 0\.00025\] A"
    ):
        s.query(x, th2)
    # live parameters: in-place changes reach the module
    s.live_parameters()[3:].fill_(0.0)
    assert torch.equal(m.coupling, torch.zeros(3, 4))
    # differentiable path through functional_call
    th3 = th.clone().requires_grad_(True)
    s.differentiable(x, th3).sum().backward()
    assert th3.grad is not None and th3.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="'nope' is not a parameter"):

        class Bad(ToyPhysical):
            def physical_bounds(self):
                return {"nope": (0, 1, "1")}

        ModuleSystem(Bad(), (4,))
    with pytest.raises(TypeError, match="has no physical_bounds"):
        ModuleSystem(nn.Linear(4, 3), (4,))


def test_analog_linear_write_events_and_state():
    from physnn.crossbar import aihwkit_preset

    s = AnalogLinearSystem(8, 4, config=aihwkit_preset(), generator=torch.Generator().manual_seed(0))
    th = s.initial_parameters(torch.Generator().manual_seed(1))
    x = torch.rand(16, 8, generator=torch.Generator().manual_seed(2))
    y1 = s.query(x, th)
    s.query(x, th)
    assert s.writes == 1  # same weights: a read, no new programming
    st = s.state_dict()
    y3 = s.query(x, th + 0.01)
    assert s.writes == 2
    s.load_state_dict(st)
    assert torch.equal(s.query(x, th + 0.01), y3)  # same device draws after a restore
    # it computes the programmed weights: with PCM programming noise and 8-bit converters on an
    # 8-input array the read sits ~0.3 (relative) from the ideal crossbar, while another random
    # weight draw gives an output ~1 away; the read must be far closer to its own weights
    ideal = s.ideal(x, th)
    other = s.ideal(x, s.initial_parameters(torch.Generator().manual_seed(3)))
    err, far = float((y1 - ideal).norm()), float((other - ideal).norm())
    assert err < 0.5 * far, (err, far)


def test_noisy_drifting_and_sequential():
    base = make_cb()
    nd = NoisyDriftingSystem(base, noise=0.0, gain_drift=1000.0, generator=torch.Generator().manual_seed(0))
    x, th = torch.ones(2, 3), torch.full((6,), 0.5)
    y1, y2 = nd.query(x, th), nd.query(x, th)
    assert torch.allclose(y2, 2 * y1)  # gain 1 + 1000 q/1000 with q = 0, 1
    seq = SequentialSystem(
        [
            make_cb(),
            CallbackSystem(
                linear_callback, [ParameterSpec(name="w", shape=(1, 2), low=-1, high=1)], InputSpec(shape=(2,)), (1,)
            ),
        ]
    )
    assert [p.name for p in seq.parameters] == ["0.w", "1.w"]
    th = torch.full((8,), 0.5)
    assert torch.allclose(seq.query(x, th), torch.full((2, 1), 1.5))
    assert seq.queries == 1 and seq.stages[0].queries == 1


def test_reservoir_and_asic_adapters():
    from physnn.crossbar import aihwkit_preset
    from physnn.training import AnalogLSTMSystem, ASICTimingSystem, ESNSystem, ResistiveLSMSystem, ScatteringMedium

    def g(s):
        return torch.Generator().manual_seed(s)

    x = torch.rand(3, 5, 2)
    esn = ESNSystem(2, 5, n_units=20, generator=g(0))
    th = esn.initial_parameters()
    assert [p.name for p in esn.parameters] == ["input_scaling", "leak_rate", "bias_scaling"]
    y = esn.query(x, th)
    assert y.shape == (3, 40)
    th0 = th.clone()
    th0[0] = 0.01  # weak drive -> small states
    assert float(esn.query(x, th0).abs().mean()) < float(y.abs().mean())
    with pytest.raises(
        PhysicalSystemError, match=r"query #3: parameter 'leak_rate' = 0 1 is outside its bounds \[0\.01, 1\] 1"
    ):
        esn.query(x, torch.tensor([1.0, 0.0, 0.2]))
    lsm = ResistiveLSMSystem(2, 5, generator=g(1))
    r0 = lsm.query(x, torch.tensor([0.0]))
    assert r0.shape == (3, 200) and float(r0.sum()) == 0.0  # no input current, no spikes
    lstm = AnalogLSTMSystem(2, 6, 5, config=aihwkit_preset(), generator=g(2))
    assert lstm.query(x, lstm.initial_parameters()).shape == (3, 6)
    asic = ASICTimingSystem(3, window_s=0.002, generator=g(3))
    assert asic.query(torch.rand(2, 3), asic.initial_parameters()).shape == (2, 15)
    assert [p.units for p in asic.parameters] == ["V", "V", "Hz"]
    med = ScatteringMedium(6, 10, noise=0.0, dark_noise=0.0, generator=g(4))
    xm = torch.rand(4, 6)
    thm = med.initial_parameters(g(5))
    # lossless random medium: mean transmitted intensity = input power x sum x^2 (E|T_ij|^2 = 1/D)
    I = med.query(xm, thm)
    torch.testing.assert_close(I, med.differentiable(xm, thm))
    thm2 = thm.clone()
    thm2[-1] = 2.0
    torch.testing.assert_close(med.query(xm, thm2), 2 * I)  # intensity linear in the power
