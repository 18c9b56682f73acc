"""Whole-model workflows on a converted model: HWA training, drift of an ensemble of chips, to_float.

* hardware-aware training (:func:`physnn.training.hwa_fit` on a converted model in ``train()``
  mode) beats the same network trained in float when both are read on noisy chips: the task is
  built so that it must (output noise in normalised units, i.e. relative to the largest weight
  times the largest input, 2x a typical read: a float-trained net does not use the full range,
  a noise-aware one learns to);
* :func:`physnn.training.model_drift_accuracy` reads ``E`` chips in one call per time; on the
  PCM card a threshold task (the digital bias must meet a drifting analog sum) loses accuracy
  over a year without drift compensation and keeps it with;
* :func:`physnn.crossbar.to_float` inverts ``convert``.
"""

import copy

import pytest
import torch
from torch import nn

from physnn.crossbar import DAC, CrossbarConfig, TiledAnalogLinear, TileMapping, analog_layers, convert, to_float
from physnn.training import DRIFT_TIMES_S, clip_analog_weights, ensemble_cross_entropy, hwa_fit, model_drift_accuracy


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _clusters(n, g):
    y = torch.randint(0, 2, (n,), generator=g)
    return torch.randn(n, 16, generator=g) + (2 * y - 1).float()[:, None] * 0.6, y


def _threshold(n, g):
    """Label: is the sum of 16 inputs above 3? (needs a bias of about -3 x the weights)."""
    x = torch.randn(n, 16, generator=g) + 0.2
    return x, (x.sum(-1) > 3.0).long()


def _mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 2))


def test_hwa_beats_float_training_under_noise():
    g = _gen(0)
    xtr, ytr = _clusters(2000, g)
    xte, yte = _clusters(2000, g)
    cfg = CrossbarConfig.ideal(out_noise=2.0, dac=DAC(8, 1.0), input_scaling="abs_max", w_max=None)
    net = _mlp(0)
    flt = copy.deepcopy(net)
    hwa_fit(flt, xtr, ytr, epochs=20, lr=1e-2, generator=_gen(1))
    chip, _ = convert(net, cfg, generator=_gen(2))
    hist = hwa_fit(chip, xtr, ytr, epochs=20, lr=1e-2, generator=_gen(1))
    assert len(hist["loss"]) == 20 and hist["val"] == [] and hist["best_epoch"] == 19
    assert all(isinstance(m, TiledAnalogLinear) for _, m in analog_layers(chip))
    with torch.no_grad():
        float_acc = float((flt(xte).argmax(-1) == yte).float().mean())
    acc_plain = model_drift_accuracy(convert(flt, cfg, ensemble=8, generator=_gen(3))[0], xte, yte, (0.0,))
    acc_hwa = model_drift_accuracy(convert(to_float(chip), cfg, ensemble=8, generator=_gen(3))[0], xte, yte, (0.0,))
    assert float_acc > 0.97  # the task itself is easy
    assert float(acc_hwa.mean()) > 0.95
    assert float(acc_hwa.mean()) - float(acc_plain.mean()) > 0.05, (float(acc_hwa.mean()), float(acc_plain.mean()))


def test_hwa_fit_keeps_the_best_validation_epoch_and_checks_arguments():
    g = _gen(4)
    xtr, ytr = _clusters(400, g)
    xva, yva = _clusters(400, g)
    net = _mlp(1)
    hist = hwa_fit(net, xtr, ytr, epochs=6, lr=3e-2, x_val=xva, y_val=yva, generator=_gen(5))
    assert len(hist["val"]) == 6 and hist["best_epoch"] == max(range(6), key=lambda k: (hist["val"][k], -k))
    with torch.no_grad():
        acc = float((net(xva).argmax(-1) == yva).float().mean())
    assert acc == pytest.approx(hist["val"][hist["best_epoch"]])  # restored (a float net reads exactly)
    chip, _ = convert(net, CrossbarConfig.from_card("pcm_aihwkit"), generator=_gen(6))
    hwa_fit(chip, xtr[:50], ytr[:50], epochs=1, t_train_s=86400.0, generator=_gen(5))
    assert [m.t_inference for _, m in analog_layers(chip)] == [86400.0, 86400.0]  # trained at 1 day
    with pytest.raises(ValueError, match="x_val, y_val"):
        hwa_fit(net, xtr, ytr, x_val=xva)
    with pytest.raises(ValueError, match="y_train"):
        hwa_fit(net, xtr, ytr[:-1])
    with pytest.raises(ValueError, match="epochs"):
        hwa_fit(net, xtr, ytr, epochs=0)
    with pytest.raises(ValueError, match="sigma"):
        hwa_fit(net, xtr, ytr, clip_sigma=-1.0)


def test_ensemble_cross_entropy_averages_over_chips():
    out = torch.randn(3, 5, 4)
    y = torch.randint(0, 4, (5,))
    ref = torch.stack([nn.functional.cross_entropy(out[e], y) for e in range(3)]).mean()
    torch.testing.assert_close(ensemble_cross_entropy(out, y), ref)
    torch.testing.assert_close(ensemble_cross_entropy(out[0], y), nn.functional.cross_entropy(out[0], y))


def test_clip_analog_weights_clips_each_layer_to_sigma_std():
    net = nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 2))
    with torch.no_grad():
        net[0].weight[0, 0] = 10.0
    chip, _ = convert(net, CrossbarConfig.ideal(), tile=TileMapping(rows=16, cols=16))
    before = chip[0].weight
    clip_analog_weights(chip, 2.0)
    bound = 2.0 * float(before.std())
    after = chip[0].weight
    assert float(after.abs().max()) == pytest.approx(bound, rel=1e-6)
    torch.testing.assert_close(after, before.clamp(-bound, bound))
    torch.testing.assert_close(chip[0].bias, net[0].bias)  # digital bias untouched


@pytest.fixture(scope="module")
def threshold_net():
    g = _gen(6)
    xtr, ytr = _threshold(3000, g)
    xte, yte = _threshold(2000, g)
    net = _mlp(2)
    hwa_fit(net, xtr, ytr, epochs=15, lr=1e-2, generator=_gen(7))
    return net, xte, yte


def test_drift_accuracy_on_pcm_needs_compensation(threshold_net):
    net, xte, yte = threshold_net
    with torch.no_grad():
        float_acc = float((net(xte).argmax(-1) == yte).float().mean())
    accs = {}
    for comp in (False, True):
        cfg = CrossbarConfig.from_card("pcm_aihwkit", drift_compensation=comp)
        chips, _ = convert(net, cfg, ensemble=8, generator=_gen(8))
        accs[comp] = model_drift_accuracy(chips, xte, yte, generator=_gen(9)).mean("chip").values
    no, yes = accs[False], accs[True]
    assert float_acc > 0.95
    assert no[0] > float_acc - 0.05 and yes[0] > float_acc - 0.05  # 1 s: little drift yet
    assert no[-1] < no[0] - 0.1, no  # 1 year: the analog sum shrank
    assert yes[-1] > no[-1] + 0.1, (yes, no)
    assert yes[-1] > float_acc - 0.1


def test_drift_accuracy_shapes_and_messages(threshold_net):
    net, xte, yte = threshold_net
    cfg = CrossbarConfig.from_card("pcm_aihwkit")
    chips, _ = convert(net, cfg, ensemble=8, generator=_gen(10))
    acc = model_drift_accuracy(chips, xte[:300], yte[:300], batch_size=128, generator=_gen(11))
    assert acc.dims == ("t_inference", "chip") and acc.shape == (4, 8)
    assert tuple(acc.t_inference.values) == DRIFT_TIMES_S and acc.t_inference.attrs["units"] == "s"
    assert acc.attrs["units"] == "1" and "long_name" in acc.attrs and "long_name" in acc.chip.attrs
    assert ((acc >= 0) & (acc <= 1)).all() and float(acc.std("chip").max()) > 0  # chips differ
    one, _ = convert(net, cfg, generator=_gen(10))
    assert model_drift_accuracy(one, xte[:300], yte[:300], (86400.0,)).shape == (1, 1)
    # same seeds, same numbers; batch size does not matter to the chip
    again = model_drift_accuracy(chips, xte[:300], yte[:300], batch_size=300, generator=_gen(11))
    assert acc.values.tolist() == again.values.tolist()
    assert all(m.t_inference == DRIFT_TIMES_S[-1] for _, m in analog_layers(chips))
    with pytest.raises(ValueError, match="no analog layer"):
        model_drift_accuracy(net, xte, yte)
    with pytest.raises(ValueError, match="times_s"):
        model_drift_accuracy(chips, xte, yte, (-1.0,))
    with pytest.raises(ValueError, match="y"):
        model_drift_accuracy(chips, xte, yte[:-1])


def test_to_float_inverts_convert():
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Identity(), nn.Flatten(-3), nn.Linear(4 * 6 * 6, 5)
    )
    chip, _ = convert(net, CrossbarConfig.from_card("pcm_aihwkit"), tile=TileMapping(rows=32, cols=3))
    back = to_float(chip)
    assert analog_layers(back) == [] and analog_layers(chip)
    assert [type(m) for m in back] == [type(m) for m in net]
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        assert torch.equal(back(x), net(x))
    with pytest.raises(TypeError, match="model"):
        to_float("net")


@pytest.mark.parametrize(
    "k, dil, st",
    [
        ((3, 3), (1, 1), (1, 1)),
        ((3, 2), (2, 1), (2, 1)),
        ((1, 4), (1, 3), (1, 2)),
        ((2, 3), (1, 2), (3, 1)),
        ((1, 1), (1, 1), (1, 1)),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_unfold_columns_equals_torch_unfold_bit_for_bit(k, dil, st, dtype):
    from physnn.crossbar.conv import unfold_columns

    x = torch.randn(3, 5, 9, 11, generator=_gen(12), dtype=dtype)
    ref = nn.functional.unfold(x, k, dilation=dil, stride=st).transpose(-1, -2)
    got = unfold_columns(x, k, dil, st)
    assert got.shape == ref.shape and got.is_contiguous()
    assert torch.equal(got, ref)


def test_drift_val_fn_scores_the_trained_weights_on_fixed_chips(threshold_net):
    """The score is model_drift_accuracy's mean over chips of the trained model's weights, on the
    same draws at every call (common random numbers): it changes with the weights only."""
    from physnn.training import drift_val_fn

    net, xte, yte = threshold_net
    cfg = CrossbarConfig.from_card("pcm_aihwkit")
    chip, _ = convert(net, cfg, generator=_gen(12))  # the model being trained
    chips, _ = convert(net, cfg, ensemble=4, generator=_gen(13))  # the validation chips
    val = drift_val_fn(chips, xte[:500], yte[:500], DRIFT_TIMES_S[-1], generator=_gen(14))
    first = val(chip)
    ref = model_drift_accuracy(
        convert(to_float(chip), cfg, ensemble=4, generator=_gen(13))[0],
        xte[:500],
        yte[:500],
        (DRIFT_TIMES_S[-1],),
        generator=_gen(14),
    )
    assert first == pytest.approx(float(ref.mean()), abs=1e-12)
    assert val(chip) == first  # same draws, same weights: same score
    with torch.no_grad():  # a worse net: the head favours class 1
        analog_layers(chip)[-1][1].bias[1] += 50.0
    worse = val(chip)
    assert worse < first - 0.05, (worse, first)
    for (_, a), (_, b) in zip(analog_layers(chip), analog_layers(chips)):  # the trained weights were read
        torch.testing.assert_close(b.bias, a.bias)
    with pytest.raises(ValueError, match="chips"):
        drift_val_fn(net, xte, yte, 1.0)
    with pytest.raises(ValueError, match="t_s"):
        drift_val_fn(chips, xte, yte, -1.0)
    with pytest.raises(ValueError, match="y_val"):
        drift_val_fn(chips, xte, yte[:-1], 1.0)
    with pytest.raises(ValueError, match="chips: parameter"):
        drift_val_fn(chips, xte, yte, 1.0)(nn.Sequential(nn.Linear(16, 3), nn.ReLU(), nn.Linear(3, 2)))
