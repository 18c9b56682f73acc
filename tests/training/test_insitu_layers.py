"""PhyLL / Mono-Forward with their digital layers on a second, pulsed crossbar (issue 23, item 3):
``in_situ=PulsedLayers(...)`` -- one step against a plain-torch reference and the analytic pulse
count of a constant-step device, learning on digits, counters in the history, resume, errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from physnn.crossbar import CrossbarConfig
from physnn.crossbar.update import ConstantStep, DeterministicPulses, SoftBounds
from physnn.training import AnalogLinearSystem, Callback, MonoForwardTrainer, PhyLLTrainer, PulsedLayers, features, fit
from physnn.training.insitu_layers import CrossbarLayers


def _system(i, o, seed=5):
    return AnalogLinearSystem(
        i, o, config=CrossbarConfig.ideal(w_max=1.0), generator=torch.Generator().manual_seed(seed)
    )


def test_mono_forward_step_is_the_reference_gradient_written_as_the_analytic_pulse_count(tiny_split):
    """A noise-free symmetric constant step with round-to-nearest pulses: one Mono-Forward step
    moves every weight of W and M by exactly ``n dw_min`` with ``n = round(-lr grad / dw_min)``,
    ``grad`` the plain-torch gradient of the local cross-entropy at the arrays' weights (W's
    through M's transposed read); the counted pulses are ``sum |n|``."""
    dw, lr = 1e-4, 0.05
    spec = PulsedLayers(
        config=CrossbarConfig.ideal(w_max=1.0, update=ConstantStep(dw_min=dw)), lr=lr, rule=DeterministicPulses()
    )
    d = tiny_split
    sy = _system(6, 8)
    tr = MonoForwardTrainer(hidden=5, in_situ=spec)
    tr.setup([sy], d, torch.Generator().manual_seed(0))
    W0 = tr.xbar.layers[0].programmed_weight().clone()  # (5, 8 + 6 + 1): weights | bias column
    M0 = tr.xbar.layers[1].programmed_weight().clone()  # (3, 5), no bias
    assert W0.shape == (5, 15) and M0.shape == (3, 5) and tr.layer_pulses == 0
    x, y = d.x_train[:16], d.y_train[:16]
    # reference: plain torch, float weights equal to the arrays' weights
    w, m = W0.clone().requires_grad_(), M0.clone().requires_grad_()
    inp = torch.cat([features(sy.query(x, tr.thetas[0])), x, torch.ones(16, 1)], -1)
    loss_ref = F.cross_entropy(torch.relu(inp @ w.T) @ m.T, y)
    loss_ref.backward()
    logs = tr.train_step([sy], x, y, epoch=0, generator=torch.Generator().manual_seed(1))
    assert logs["loss"] == pytest.approx(loss_ref.item(), rel=1e-5)
    nW, nM = torch.round(-lr * w.grad / dw), torch.round(-lr * m.grad / dw)
    assert float(nW.abs().sum()) > 100 and float(nM.abs().sum()) > 100  # a step of many pulses
    np.testing.assert_allclose(tr.xbar.layers[0].programmed_weight().numpy(), (W0 + nW * dw).numpy(), atol=2e-6)
    np.testing.assert_allclose(tr.xbar.layers[1].programmed_weight().numpy(), (M0 + nM * dw).numpy(), atol=2e-6)
    assert tr.layer_pulses == int(nW.abs().sum() + nM.abs().sum())
    assert tr.layer_writes == 2
    assert torch.equal(tr.xbar.layers[0].pulses_, nW.abs().to(torch.int64))


def test_phyll_on_a_pulsed_crossbar_learns_digits_and_counts_pulses_in_the_history():
    from physnn.data.digits import build_digits

    digits = build_digits(0).subset(600, 300)
    C = digits.n_classes
    dev = SoftBounds(dw_min=0.002, dw_min_dtod=0.1, w_max_dtod=0.05, w_min_dtod=0.05, dw_min_std=0.3)
    spec = PulsedLayers(config=CrossbarConfig.ideal(w_max=1.0, update=dev), lr=0.1)
    sy = _system(digits.n_features + C, 64, seed=3)
    tr = PhyLLTrainer(hidden=32, epochs_per_block=4, in_situ=spec)
    h = fit(sy, digits, trainer=tr, epochs=4, batch_size=32, seed=0)
    acc = h.test_accuracy.values
    assert acc[-1] > 0.6  # chance: 0.1
    lp = h.layer_pulses.values
    assert h.layer_pulses.attrs["units"] == "1" and "crossbar layers" in h.layer_pulses.attrs["long_name"]
    assert np.all(np.diff(lp) > 0) and lp[-1] == tr.layer_pulses == int(tr.xbar.layers[0].pulses_.sum())
    steps = 4 * math.ceil(600 / 32)
    assert h.layer_writes.values[-1] == tr.layer_writes == steps  # every step of analog SGD sends pulses
    assert h.pulses.values[-1] == 0  # the physical block is frozen: never written
    # the weights moved by pulses, with the device's noise: not the float weights of an ideal write
    assert 5 < tr.xbar.pulses_per_device() < 500


def test_pulsed_layers_resume_gives_the_same_history(tiny_split, tmp_path):
    d = tiny_split
    dev = SoftBounds(dw_min=0.002, dw_min_std=0.3, dw_min_dtod=0.1)

    def make(opt):
        return MonoForwardTrainer(
            hidden=6, in_situ=PulsedLayers(config=CrossbarConfig.ideal(w_max=1.0, update=dev), lr=0.2, optimizer=opt)
        )

    class Stop(Callback):
        def on_epoch_end(self, trainer, epoch, record):
            return epoch == 0

    for opt in ("analog_sgd", "mixed_precision"):
        full = fit(_system(6, 8), d, trainer=make(opt), epochs=3, batch_size=32, seed=1)
        ck = tmp_path / f"{opt}.pt"
        fit(_system(6, 8), d, trainer=make(opt), epochs=3, batch_size=32, seed=1, checkpoint=ck, callbacks=[Stop()])
        res = fit(_system(6, 8), d, trainer=make(opt), epochs=3, batch_size=32, seed=1, checkpoint=ck, resume=True)
        assert full.layer_pulses.values[-1] > 0
        for v in ("loss", "test_accuracy", "layer_pulses", "layer_writes"):
            np.testing.assert_array_equal(res[v].values, full[v].values, err_msg=f"{opt} {v}")


def test_bad_input_is_named_and_a_refused_step_changes_nothing():
    ideal = CrossbarConfig.ideal(w_max=1.0, update=ConstantStep(dw_min=1e-3))
    with pytest.raises(
        ValueError, match=r"config.update: the crossbar of the digital layers needs a device step model"
    ):
        PulsedLayers(config=CrossbarConfig.ideal(w_max=1.0))
    with pytest.raises(ValueError, match=r"config.w_max: pulsed layers need a fixed weight scale"):
        PulsedLayers(config=CrossbarConfig.ideal(update=ConstantStep()))
    with pytest.raises(ValueError, match=r"optimizer='adam': expected one of \('analog_sgd', 'mixed_precision'\)"):
        PulsedLayers(config=ideal, optimizer="adam")
    with pytest.raises(ValueError, match="lr"):
        PulsedLayers(config=ideal, lr=-0.1)
    with pytest.raises(TypeError, match="config: expected a CrossbarConfig, got str"):
        PulsedLayers(config="ecram_tang2018")
    with pytest.raises(TypeError, match=r"in_situ: expected PulsedLayers\(config=...\) or None, got str"):
        MonoForwardTrainer(in_situ="pulsed")
    with pytest.raises(TypeError, match=r"in_situ: expected PulsedLayers"):
        PhyLLTrainer(in_situ=ideal)
    # a NaN gradient and a step past the endurance: refused, the array as it was
    lin = torch.nn.Linear(4, 3)
    xb = CrossbarLayers(
        [lin],
        PulsedLayers(
            config=CrossbarConfig.ideal(w_max=1.0, update=ConstantStep(dw_min=1e-3, endurance=20)),
            lr=1.0,
            rule=DeterministicPulses(),
        ),
        torch.Generator().manual_seed(0),
    )
    x = xb.inputs(0, torch.ones(2, 4))
    w0 = xb.layers[0].programmed_weight().clone()
    dz = torch.full((2, 3), 1e-3)
    dz[1, 2] = math.nan
    with pytest.raises(ValueError, match=r"dz \(the loss gradient at the output of array 0\): 1 non-finite"):
        xb.step(0, x, dz)
    with pytest.raises(ValueError, match="past the endurance 20 pulses"):
        xb.step(0, x, torch.full((2, 3), 0.05))  # 100 pulses per device
    assert torch.equal(xb.layers[0].programmed_weight(), w0) and xb.layer_pulses == 0 and xb.layer_writes == 0
    xb.step(0, x, torch.full((2, 3), 5e-3))  # 10 pulses per device: within endurance
    assert xb.layer_pulses == 10 * 15 and xb.layer_writes == 1
