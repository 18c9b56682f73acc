"""Trainers: loop (history, resume, errors keep the checkpoint), SPSA gains, MeZO seeded
perturbation, PhyLL/FF definitions, PAT twin fit; every trainer of physical parameters beats the
frozen random system on a task where they matter, the local trainers learn a tiny problem;
validation split and best-epoch selection."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from physnn.crossbar import CrossbarConfig, aihwkit_preset
from physnn.training import (
    AnalogLinearSystem,
    BackpropTrainer,
    BestEpoch,
    CaFoTrainer,
    CallbackSystem,
    Callback,
    DigitalEquivalentTrainer,
    DigitalTwin,
    ESNSystem,
    FrozenReadoutTrainer,
    HWATrainer,
    InputSpec,
    MonoForwardTrainer,
    NevergradTrainer,
    ParameterSpec,
    PhyLLTrainer,
    PhysicalSystemError,
    PhysicsAwareTrainer,
    ScatteringMedium,
    ZerothOrderTrainer,
    drift_accuracy,
    ff_goodness,
    ff_loss,
    fit,
    mezo_perturb,
    phyll_goodness,
    phyll_loss,
    spsa_gains,
)

from .conftest import blobs


def xbar(i, o, seed=0, cfg=None):
    return AnalogLinearSystem(i, o, config=cfg or aihwkit_preset(), generator=torch.Generator().manual_seed(seed))


# -- loop ------------------------------------------------------------------------------------------
def test_history_dataset_has_units(tiny):
    h = fit(xbar(8, 16), tiny, trainer=FrozenReadoutTrainer(), epochs=2, batch_size=32, seed=1)
    for v in ("loss", "test_accuracy", "queries", "wall_time"):
        assert "units" in h[v].attrs and "long_name" in h[v].attrs
    assert h.sizes["epoch"] == 2
    # one query per batch; 240 samples / 32 = 8 batches per epoch
    assert h.queries.values.tolist() == [8, 16]
    assert h.eval_queries.values.tolist() == [1, 2]  # 120 test samples: one query per evaluation
    assert h.samples.values[-1] == 2 * 240 + 2 * 120


@pytest.mark.parametrize(
    "make",
    [
        lambda: (ZerothOrderTrainer("spsa"), xbar(8, 16)),
        lambda: (PhysicsAwareTrainer(refit_every=3), xbar(8, 16)),
        lambda: (PhyLLTrainer(epochs_per_block=1, hidden=12), [xbar(11, 16), xbar(12, 16, 1)]),
    ],
    ids=["spsa", "pat", "phyll"],
)
def test_resume_equals_uninterrupted(tiny, tmp_path, make):
    tr, sy = make()
    full = fit(sy, tiny, trainer=tr, epochs=4, batch_size=48, seed=3)

    class Stop(Callback):
        def on_epoch_end(self, trainer, epoch, record):
            return epoch == 1

    ck = tmp_path / "ck.pt"
    tr, sy = make()
    part = fit(sy, tiny, trainer=tr, epochs=4, batch_size=48, seed=3, checkpoint=ck, callbacks=[Stop()])
    assert part.sizes["epoch"] == 2
    tr, sy = make()  # fresh objects, as after a crash
    res = fit(sy, tiny, trainer=tr, epochs=4, batch_size=48, seed=3, checkpoint=ck, resume=True)
    for v in ("loss", "train_accuracy", "test_accuracy", "queries", "samples", "eval_queries"):
        np.testing.assert_array_equal(res[v].values, full[v].values, err_msg=v)


def test_error_keeps_last_good_checkpoint(tiny, tmp_path):
    calls = {"n": 0}

    def flaky(x, p):
        calls["n"] += 1
        if calls["n"] > 12:
            return torch.full((x.shape[0], 4), math.nan)
        return torch.tanh(x[:, :4] * p["g"])

    sy = CallbackSystem(flaky, [ParameterSpec(name="g", low=0, high=2, units="1")], InputSpec(shape=(8,)), (4,))
    ck = tmp_path / "ck.pt"
    with pytest.raises(
        PhysicalSystemError,
        match=r"query #13: output: .* NaN .*last good checkpoint \(after epoch 1\) "
        r"kept at",
    ):
        fit(sy, tiny, trainer=FrozenReadoutTrainer(), epochs=3, batch_size=24, seed=0, checkpoint=ck)
    st = torch.load(ck, weights_only=True)
    assert st["epoch"] == 1 and len(st["history"]["loss"]) == 1


def test_trainer_pushing_parameter_out_of_bounds_is_named():

    class Wild(FrozenReadoutTrainer):
        def train_step(self, systems, x, y, *, epoch, generator):
            self.theta = self.theta + 10.0
            return super().train_step(systems, x, y, epoch=epoch, generator=generator)

    with pytest.raises(PhysicalSystemError, match=r"parameter 'weight'\[0, 0\] = .* is outside its bounds \[-1, 1\]"):
        fit(xbar(8, 4), blobs(), trainer=Wild(), epochs=1, batch_size=32)


# -- zeroth order ------------------------------------------------------------------------------------
def test_spsa_gain_sequences():
    a_k, c_k = spsa_gains(np.arange(4), a=0.5, c=0.1, A=10)
    np.testing.assert_allclose(a_k, 0.5 / (np.arange(4) + 11.0) ** 0.602)
    np.testing.assert_allclose(c_k, 0.1 / (np.arange(4) + 1.0) ** 0.101)
    assert spsa_gains(0, a=1, c=1) == (1.0, 1.0)
    # Spall's conditions: sum a_k diverges, sum (a_k / c_k)^2 converges (exponents 0.602, 0.101)
    assert 0.602 <= 1 and 2 * (0.602 - 0.101) > 1
    with pytest.raises(ValueError):
        spsa_gains(-1, a=1, c=1)


def test_mezo_perturbation_regenerated_from_seed():
    g = torch.Generator().manual_seed(0)
    ts = [torch.randn(70_000, generator=g), torch.randn(3, 5, generator=g, dtype=torch.float64)]
    orig = [t.clone() for t in ts]
    mezo_perturb(ts, 1234, 1e-3)
    z1 = [(t - o) / 1e-3 for t, o in zip(ts, orig)]
    # the same seed regenerates the same z (here read back through a zero tensor)
    zeros = [torch.zeros_like(t) for t in ts]
    mezo_perturb(zeros, 1234, 1.0)
    for a, b in zip(z1, zeros):
        torch.testing.assert_close(a, b.to(a.dtype), rtol=1e-3, atol=1e-3)
    assert 0.95 < float(zeros[0].std()) < 1.05
    # +eps, -2 eps, +eps returns the parameters (float64: exactly here; float32 within one ulp-scale)
    mezo_perturb(ts, 1234, -2e-3)
    mezo_perturb(ts, 1234, 1e-3)
    assert torch.equal(ts[1], orig[1]) or float((ts[1] - orig[1]).abs().max()) < 1e-15
    eps32 = torch.finfo(torch.float32).eps  # three roundings of about |theta|, half an ulp each
    assert bool(((ts[0] - orig[0]).abs() <= 2 * eps32 * (orig[0].abs() + 2e-3 * zeros[0].abs())).all())
    # different seed, different z
    other = [torch.zeros_like(t) for t in ts]
    mezo_perturb(other, 1235, 1.0)
    assert not torch.equal(other[0], zeros[0])


def test_zeroth_order_on_quadratic():
    """SPSA and MeZO descend a noiseless quadratic bowl measured through a callback."""
    target = torch.tensor([0.3, -0.2, 0.5, 0.1])

    for method, kw in (
        ("spsa", dict(a=0.2, c=0.05, A=5)),
        ("mezo", dict(a=0.05, c=1e-2)),
        ("antithetic", dict(a=0.05, c=1e-2, directions=4)),
        ("coordinate", dict(a=0.3, c=1e-2, coordinates=2)),
    ):
        tr = ZerothOrderTrainer(method, **kw)
        s = CallbackSystem(
            lambda x, p: x * 0 + (p["w"] - target).square().sum(),
            [ParameterSpec(name="w", shape=(4,), low=-1, high=1)],
            InputSpec(shape=(1,)),
            (1,),
        )
        from physnn.data.split import ClassificationSplit

        d = ClassificationSplit(
            torch.zeros(4, 1),
            torch.zeros(4, dtype=torch.long),
            torch.zeros(2, 1),
            torch.zeros(2, dtype=torch.long),
            2,
            "none",
        )
        tr.setup([s], d, torch.Generator().manual_seed(0))
        tr._loss = lambda s_, x, y, th: (float(s_.query(x, s_.parameters.clip(th))[0, 0]), torch.zeros(x.shape[0], 1))
        d0 = float((tr.theta - target).norm())
        for k in range(150):
            tr.train_step(
                [s],
                torch.zeros(4, 1),
                torch.zeros(4, dtype=torch.long),
                epoch=0,
                generator=torch.Generator().manual_seed(k),
            )
        assert float((tr.theta - target).norm()) < 0.3 * d0, method


# -- PhyLL / FF definitions ---------------------------------------------------------------------------
def test_phyll_goodness_and_loss():
    r = torch.tensor([0.6, 0.8])
    z = torch.tensor([[-3.0, 4.0], [1.0, 0.0]])
    torch.testing.assert_close(phyll_goodness(z, r), torch.tensor([(0.6 * 3 + 0.8 * 4) / 5, 0.6]))
    gp, gn = torch.tensor([0.9]), torch.tensor([0.4])
    torch.testing.assert_close(phyll_loss(gp, gn, tau=4.0), torch.log1p(torch.exp(torch.tensor(-2.0))))
    torch.testing.assert_close(ff_goodness(torch.tensor([[1.0, -2.0, 3.0]])), torch.tensor([10 / 3]))
    torch.testing.assert_close(ff_loss(torch.tensor([2.0]), torch.tensor([2.0]), 2.0), torch.tensor(2 * math.log(2)))


# -- PAT twin -------------------------------------------------------------------------------------------
def test_pat_twin_fits_known_linear_system():
    """y = 2.5 (x w^T) - 0.7 per output: the affine twin on the prior x w^T recovers gain and offset."""

    def sysfn(x, p):
        return 2.5 * x @ p["w"].T - 0.7

    s = CallbackSystem(sysfn, [ParameterSpec(name="w", shape=(3, 4), low=-1, high=1)], InputSpec(shape=(4,)), (3,))

    def prior(x, th):
        return x @ th.view(3, 4).T

    twin = DigitalTwin(prior, 3)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(16, 4, generator=g) for _ in range(4)]
    ts = [torch.rand(12, generator=g) - 0.5 for _ in range(4)]
    ys = [s.query(x, t) for x, t in zip(xs, ts)]
    err = twin.fit(xs, ts, ys)
    assert err < 1e-5
    torch.testing.assert_close(twin.gain.detach(), torch.full((3,), 2.5), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(twin.offset.detach(), torch.full((3,), -0.7), rtol=1e-4, atol=1e-4)
    # VJP through the twin equals the true gradient of the system (here known)
    th = ts[0].clone().requires_grad_(True)
    twin(xs[0], th).sum().backward()
    torch.testing.assert_close(th.grad.view(3, 4), 2.5 * xs[0].sum(0).expand(3, 4), rtol=1e-4, atol=1e-4)


# -- every trainer learns a tiny problem ------------------------------------------------------------------
def _acc(h):
    return float(h.test_accuracy.values[-1])


def hidden_blobs(n_train=240, n_test=240, d=8, k=2, classes=3, noise=2.0, seed=0):
    """Three blobs in the first ``k`` input dimensions, ``d - k`` loud noise dimensions (std
    ``noise``): a 4-output random crossbar mixes the noise in and a readout on its outputs stays
    near chance; trained crossbar weights that ignore the noise lines solve it."""
    g = torch.Generator().manual_seed(seed)
    ang = torch.arange(classes) * 2 * math.pi / classes
    centres = torch.stack([ang.cos(), ang.sin()], -1)

    def draw(n):
        y = torch.randint(0, classes, (n,), generator=g)
        x = noise * torch.randn(n, d, generator=g)
        x[:, :k] = centres[y] + 0.3 * torch.randn(n, k, generator=g)
        return x, y

    from physnn.data.split import ClassificationSplit

    return ClassificationSplit(*draw(n_train), *draw(n_test), classes, "hidden blobs")


IDEAL = CrossbarConfig.ideal()
#: trainers that change the crossbar weights; zeroth-order ones on a noiseless crossbar (the
#: test is about the update rule, the benchmark about noise), all with the same 8 -> 4 array
PHYSICAL = {
    "backprop": lambda: (BackpropTrainer(lr=3e-2), xbar(8, 4, cfg=IDEAL)),
    "hwa": lambda: (HWATrainer(lr=3e-2, input_range=None), xbar(8, 4)),
    "pat": lambda: (PhysicsAwareTrainer(lr=3e-2), xbar(8, 4)),
    "spsa": lambda: (ZerothOrderTrainer("spsa", a=0.3, c=0.05, A=10), xbar(8, 4, cfg=IDEAL)),
    "antithetic": lambda: (ZerothOrderTrainer("antithetic", a=0.1, c=0.05, directions=2), xbar(8, 4, cfg=IDEAL)),
    "mezo": lambda: (ZerothOrderTrainer("mezo", a=0.05, c=0.02), xbar(8, 4, cfg=IDEAL)),
    "coordinate": lambda: (ZerothOrderTrainer("coordinate", a=0.5, c=0.05, coordinates=4), xbar(8, 4, cfg=IDEAL)),
}


@pytest.fixture(scope="module")
def hidden_frozen():
    """Test accuracy of the frozen random crossbar + trained readout on the hidden task (per config)."""
    d = hidden_blobs()
    out = {}
    for name, cfg in (("ideal", IDEAL), ("pcm", None)):
        h = fit(xbar(8, 4, cfg=cfg), d, trainer=FrozenReadoutTrainer(), epochs=20, batch_size=24, seed=0)
        out[name] = _acc(h)
    return out


@pytest.mark.parametrize("name", list(PHYSICAL))
def test_trainer_learns_tiny_problem(name, hidden_frozen):
    """A trainer of the physical parameters beats the frozen random system (same readout) by a
    wide margin on a task only trained physical parameters solve (a no-op on theta fails)."""
    d = hidden_blobs()
    tr, sy = PHYSICAL[name]()

    class Start(Callback):
        def on_fit_start(self, trainer, systems):
            self.theta0 = trainer.theta.detach().clone()

    start = Start()
    h = fit(sy, d, trainer=tr, epochs=20, batch_size=24, seed=0, callbacks=[start])
    frozen = hidden_frozen["ideal" if sy.config is IDEAL else "pcm"]
    assert frozen < 0.45, frozen  # the task: a readout alone is near chance (1/3)
    assert _acc(h) > frozen + 0.2, (name, frozen, h.test_accuracy.values)
    assert not torch.equal(tr.theta.detach(), start.theta0)


@pytest.mark.parametrize("name", ["mono_forward", "digital_equivalent"])
def test_block_trainer_with_digital_skip_solves_hidden_task(name, hidden_frozen):
    """Frozen crossbars, digital ``W [P(h), h]``: the digital skip sees the clean lines."""
    d = hidden_blobs()
    tr = (
        MonoForwardTrainer(hidden=16, lr=1e-2)
        if name == "mono_forward"
        else DigitalEquivalentTrainer(hidden=16, lr=1e-2)
    )
    h = fit([xbar(8, 4), xbar(16, 4, 1)], d, trainer=tr, epochs=10, batch_size=24, seed=0)
    assert _acc(h) > hidden_frozen["pcm"] + 0.3, h.test_accuracy.values


@pytest.mark.parametrize("name", ["phyll", "ff", "cafo", "digital_equivalent_cafo"])
def test_local_trainer_learns_tiny_problem(name):
    """Frozen physical blocks, trained digital parts: well above chance (1/3) on separable blobs,
    where an untrained readout is at chance."""
    d = blobs(seed=1)
    H = 16
    tr, sy = {
        "phyll": lambda: (PhyLLTrainer(epochs_per_block=3, hidden=H), [xbar(11, H), xbar(H, H, 1)]),
        "ff": lambda: (PhyLLTrainer(goodness="ff", epochs_per_block=3, hidden=H), [xbar(11, H), xbar(H, H, 1)]),
        "cafo": lambda: (CaFoTrainer(), [xbar(8, H), xbar(H, H, 1)]),
        "digital_equivalent_cafo": lambda: (DigitalEquivalentTrainer("cafo", lr=1e-2), [xbar(8, H), xbar(H, H, 1)]),
    }[name]()
    h = fit(sy, d, trainer=tr, epochs=6, batch_size=24, seed=0)
    assert _acc(h) > 0.6, (name, h.test_accuracy.values)  # chance: 1/3


def test_digital_equivalent_keeps_physics_frozen_and_gradient_through_it():
    d = blobs(seed=1)
    sy = [xbar(8, 16), xbar(16, 16, 1)]
    tr = DigitalEquivalentTrainer(hidden=16, lr=1e-2)
    fit(sy, d, trainer=tr, epochs=1, batch_size=24, seed=0)
    th = [t.clone() for t in tr.thetas]
    x, y = d.x_train[:24], d.y_train[:24]
    tr.train_step(sy, x, y, epoch=0, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(th, tr.thetas))
    assert tr.name == "digital_equivalent_baseline"
    # with the gradient through the frozen block, the first layer gets more than through the skip alone
    grads = {}
    for through in (True, False):
        t2 = DigitalEquivalentTrainer(hidden=16, through_physics=through)
        t2.setup(sy, d, torch.Generator().manual_seed(0))
        F.cross_entropy(t2._forward(sy, x), y).backward()
        grads[through] = t2.layers[0].weight.grad.clone()
    assert not torch.allclose(grads[True], grads[False])
    with pytest.raises(ValueError, match="architecture"):
        DigitalEquivalentTrainer("mlp")


def test_validation_split_and_best_epoch():
    d = blobs(n_train=90, seed=4)
    dev = d.validation_split(0.2, generator=torch.Generator().manual_seed(0))
    assert dev.x_train.shape[0] + dev.x_test.shape[0] == 90
    # held out from the training set, disjoint, never the test set; stratified (each class ~20 %)
    rows = {tuple(r.tolist()) for r in d.x_train}
    assert all(tuple(r.tolist()) in rows for r in dev.x_test)
    assert not {tuple(r.tolist()) for r in dev.x_train} & {tuple(r.tolist()) for r in dev.x_test}
    for c in range(3):
        n_c = int((d.y_train == c).sum())
        assert int((dev.y_test == c).sum()) == max(1, round(0.2 * n_c))
    again = d.validation_split(0.2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.x_test, dev.x_test)
    for bad in (0.0, 1.0, True):
        with pytest.raises(ValueError, match="fraction"):
            d.validation_split(bad)
    # BestEpoch keeps the best epoch's state; patience stops
    best = BestEpoch(patience=2)
    tr = FrozenReadoutTrainer(lr=0.5)
    h = fit(xbar(8, 16), dev, trainer=tr, epochs=12, batch_size=16, seed=0, callbacks=[best])
    va = h.test_accuracy.values
    assert best.best_epoch == int(np.argmax(va)) + 1 and best.best_accuracy == va.max()
    assert h.sizes["epoch"] <= 12 and h.sizes["epoch"] - best.best_epoch <= 2
    best.restore(tr)
    torch.testing.assert_close(tr.readout.weight, best.state["readout"]["weight"])
    with pytest.raises(ValueError, match="patience"):
        BestEpoch(patience=0)


def test_nevergrad_on_esn_and_scattering_medium():
    d = blobs(n_train=120, n_test=60, d=8, seed=2)
    d_seq = d._replace(x_train=d.x_train.view(-1, 4, 2), x_test=d.x_test.view(-1, 4, 2))
    esn = ESNSystem(2, 4, n_units=30, generator=torch.Generator().manual_seed(0))
    h = fit(esn, d_seq, trainer=NevergradTrainer("CMA", budget=40), epochs=4, batch_size=12, seed=0)
    assert _acc(h) > 0.5
    assert h.queries.values[-1] == 40
    # PAT through the scattering medium's simulation as the twin prior
    dpos = d._replace(x_train=torch.sigmoid(d.x_train), x_test=torch.sigmoid(d.x_test))
    med = ScatteringMedium(8, 32, generator=torch.Generator().manual_seed(0))
    tr = PhysicsAwareTrainer(lr=2e-2)
    h = fit(med, dpos, trainer=tr, epochs=4, batch_size=24, seed=0)
    assert _acc(h) > 0.6
    assert tr.twin_error_[0] < 0.1  # noise 1 %: the calibrated simulation fits to a few %


def test_hwa_drift_evaluation_ensemble():
    d = blobs(seed=3)
    sy = xbar(8, 16)
    tr = HWATrainer(lr=1e-2)
    fit(sy, d, trainer=tr, epochs=4, batch_size=24, seed=0)
    res = drift_accuracy(tr, sy, d, (1.0, 3.15576e7), ensemble=4, generator=torch.Generator().manual_seed(0))
    assert set(res) == {1.0, 3.15576e7}
    for acc, std in res.values():
        assert 0.6 < acc <= 1.0 and std >= 0.0
