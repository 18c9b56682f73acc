"""Model-free trainers writing through pulses (issue 23, item 3): ``AnalogLinearSystem(write=
PulsedWrite(...))`` -- written weights against the analytic pulse response, pulse counts, errors
naming the parameter with nothing changed, counters in the training history, resume."""

import math

import numpy as np
import pytest
import torch

from physnn.crossbar import CrossbarConfig, aihwkit_preset
from physnn.crossbar.update import ConstantStep, DeterministicPulses, SoftBounds, StochasticPulses
from physnn.training import (
    AnalogLinearSystem,
    Callback,
    IdealWrite,
    PhysicalSystemError,
    PhysicsAwareTrainer,
    PulsedWrite,
    SequentialSystem,
    WriteVerify,
    ZerothOrderTrainer,
    fit,
)

IDEAL = CrossbarConfig.ideal(w_max=1.0)


def pulsed(dev, i=6, o=3, seed=0, rule=None, cfg=IDEAL):
    w = PulsedWrite(update=dev) if rule is None else PulsedWrite(update=dev, rule=rule)
    return AnalogLinearSystem(i, o, config=cfg, activation=None, write=w, generator=torch.Generator().manual_seed(seed))


def _round_trips(s, dtheta, cycles):
    """Write theta = 0, then ``cycles`` round trips 0 -> dtheta -> 0 (each write one query of
    the 2x2 system)."""
    x = torch.eye(2)
    zero = torch.zeros(4)
    s.query(x, zero)
    for _ in range(cycles):
        s.query(x, zero + dtheta)
        s.query(x, zero)


def test_constant_step_pulse_count_is_the_analytic_count_and_written_follows():
    dw = 1e-3
    s = pulsed(ConstantStep(dw_min=dw))
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    th = torch.linspace(-0.5, 0.5, s.parameters.size)
    s.query(x, th)  # initial programming: no pulse
    assert (s.writes, s.pulses) == (1, 0)
    delta = torch.linspace(-0.0234, 0.0412, th.numel())
    s.query(x, th + delta)
    n = torch.round(delta / dw).abs()  # round(|delta| / dw_min) pulses per device
    assert s.writes == 2 and s.pulses == int(n.sum())
    assert s.pulses_per_device == pytest.approx(float(n.mean()))
    # a symmetric constant step writes the rounded request exactly: error <= dw/2 per write
    err = (s.written_weight.flatten() - (th + delta)).abs()
    assert float(err.max()) <= 0.5 * dw + 1e-6
    # many random writes: errors of a symmetric device do not drift (rounding only, <= dw/2 each)
    g = torch.Generator().manual_seed(2)
    cur = th + delta
    for _ in range(30):
        cur = (cur + 0.01 * torch.randn(cur.shape, generator=g)).clamp(-0.9, 0.9)
        s.query(x, cur)
    err = (s.written_weight.flatten() - cur).abs()
    assert float(err.max()) <= 31 * 0.5 * dw and float(err.mean()) < 10 * dw
    # the output is the read of the written weights
    np.testing.assert_allclose(s.query(x, cur).numpy(), (x @ s.written_weight.T).numpy(), atol=1e-5)


def test_more_states_write_closer_to_the_request():
    g = torch.Generator().manual_seed(3)
    th0 = 0.3 * torch.rand(18, generator=g) - 0.15
    steps = [0.004 * torch.randn(18, generator=g) for _ in range(40)]
    errs = {}
    for states in (20, 100, 1000):
        s = pulsed(ConstantStep(dw_min=2.0 / states), rule=DeterministicPulses(stochastic_rounding=True))
        x = torch.randn(2, 6)
        cur = th0.clone()
        s.query(x, cur)
        for d in steps:
            cur = cur + d
            s.query(x, cur)
        errs[states] = float((s.written_weight.flatten() - cur).abs().mean())
    assert errs[1000] < errs[100] < errs[20]
    assert errs[1000] < 0.01


@pytest.mark.parametrize("up_down", [0.3, -0.3])
def test_asymmetric_soft_bounds_drift_to_the_symmetry_point_as_the_closed_form(up_down):
    """Requests that go +n then -n pulses and back to 0: an ideal write returns to 0; a
    soft-bounds device with up/down imbalance walks to its symmetry point (w* = up_down for
    bounds +-1), exactly as the closed form of n soft-bounds pulses says."""
    dw, n, cycles = 0.01, 5, 40
    dev = SoftBounds(dw_min=dw, up_down=up_down)
    s = pulsed(dev, i=2, o=2)
    _round_trips(s, n * dw, cycles)
    du, dd = dw * (1 + up_down), dw * (1 - up_down)
    w = 0.0
    for _ in range(cycles):
        w = 1.0 - (1.0 - w) * (1.0 - du) ** n  # n up pulses
        w = -1.0 + (w + 1.0) * (1.0 - dd) ** n  # n down pulses
    got = s.written_weight.flatten()
    np.testing.assert_allclose(got.numpy(), np.full(4, w), rtol=1e-4, atol=1e-6)
    assert math.copysign(1, w) == math.copysign(1, up_down) and abs(w) > 0.1  # visibly off the request 0
    assert abs(w - up_down) < 2 * n * dw  # a limit cycle of +-n pulses around w* = up_down
    assert s.pulses == 4 * 2 * n * cycles
    ideal = AnalogLinearSystem(2, 2, config=IDEAL, activation=None, write=IdealWrite())
    _round_trips(ideal, n * dw, 3)
    assert float(ideal.written_weight.abs().max()) == 0.0 and ideal.pulses == 0


def test_nan_and_endurance_errors_name_the_parameter_and_change_nothing():
    s = pulsed(ConstantStep(dw_min=1e-3, endurance=100))
    x = torch.randn(3, 6)
    th = torch.zeros(18)
    s.query(x, th)
    s.query(x, th + 0.05)  # 50 pulses each
    before = (s.written_weight.clone(), s.pulses, s.writes, s.query(x, th + 0.05))
    bad = th.clone()
    bad[10] = math.nan
    with pytest.raises(PhysicalSystemError, match=r"parameter 'weight'\[1, 4\] = nan is not finite"):
        s.query(x, bad)
    with pytest.raises(PhysicalSystemError, match=r"query #4: parameter 'weight': .*past the endurance 100 pulses"):
        s.query(x, th - 0.01)  # 60 more pulses: 110 > 100
    assert torch.equal(s.written_weight, before[0]) and (s.pulses, s.writes) == before[1:3]
    assert torch.equal(s.query(x, th + 0.05), before[3])  # the last request still holds, no write
    assert s.writes == before[2]
    s.query(x, th + 0.02)  # 30 more pulses: within endurance
    assert s.pulses == 18 * 80


def test_bad_write_configs_are_named():
    with pytest.raises(TypeError, match=r"write='pulsed': expected a write config object.*PulsedWrite"):
        AnalogLinearSystem(4, 2, config=IDEAL, write="pulsed")
    with pytest.raises(ValueError, match="write.update: PulsedWrite needs a device step model"):
        AnalogLinearSystem(4, 2, config=IDEAL, write=PulsedWrite())
    with pytest.raises(ValueError, match="config.w_max: pulsed writes need a fixed weight scale"):
        AnalogLinearSystem(4, 2, config=CrossbarConfig.ideal(), write=PulsedWrite(update=ConstantStep()))
    with pytest.raises(TypeError, match="rule: expected DeterministicPulses"):
        PulsedWrite(update=ConstantStep(), rule=StochasticPulses())
    with pytest.raises(TypeError, match="update: expected an AbstractUpdateModel"):
        PulsedWrite(update="soft_bounds")
    # a card's [update] section serves PulsedWrite() with no model given
    cfg = CrossbarConfig.from_card("ecram_tang2018", w_max=1.0)
    assert cfg.update is not None
    s = AnalogLinearSystem(4, 2, config=cfg, write=PulsedWrite())
    assert s.config.update == cfg.update and s.pulsed


@pytest.mark.parametrize(
    "make",
    [
        lambda: ZerothOrderTrainer("spsa", a=0.05, c=0.02, A=5),
        lambda: ZerothOrderTrainer("mezo", a=0.02, c=0.01),
        lambda: PhysicsAwareTrainer(lr=1e-2, refit_every=3),
    ],
    ids=["spsa", "mezo", "pat"],
)
def test_trainers_write_through_pulses_history_counts_and_resume(tiny_split, make, tmp_path):
    d = tiny_split
    dev = SoftBounds(dw_min=2e-3, up_down=0.1, dw_min_std=0.2, dw_min_dtod=0.1)
    rule = DeterministicPulses(stochastic_rounding=True)
    full_sys = pulsed(dev, rule=rule, seed=4)
    full = fit(full_sys, d, trainer=make(), epochs=3, batch_size=32, seed=1)
    assert full.pulses.attrs["units"] == "1" and "pulses" in full.pulses.attrs["long_name"]
    p = full.pulses.values
    assert p[0] > 0 and np.all(np.diff(p) > 0) and p[-1] == full_sys.pulses
    assert full.writes.values[-1] == full_sys.writes > full.queries.values[-1] // 4
    assert not torch.allclose(full_sys.written_weight.flatten(), full_sys._theta, atol=1e-3)  # pulse errors

    class Stop(Callback):
        def on_epoch_end(self, trainer, epoch, record):
            return epoch == 0

    ck = tmp_path / "ck.pt"
    fit(
        pulsed(dev, rule=rule, seed=4),
        d,
        trainer=make(),
        epochs=3,
        batch_size=32,
        seed=1,
        checkpoint=ck,
        callbacks=[Stop()],
    )
    res = fit(
        pulsed(dev, rule=rule, seed=4), d, trainer=make(), epochs=3, batch_size=32, seed=1, checkpoint=ck, resume=True
    )
    for v in ("loss", "test_accuracy", "queries", "writes", "pulses"):
        np.testing.assert_array_equal(res[v].values, full[v].values, err_msg=v)


def test_endurance_during_fit_keeps_the_checkpoint_and_sequential_counts(tiny_split, tmp_path):
    d = tiny_split
    dev = ConstantStep(dw_min=1e-3, endurance=300)
    sy = SequentialSystem([pulsed(dev, i=6, o=4, seed=1), pulsed(dev, i=4, o=3, seed=2)])
    ck = tmp_path / "ck.pt"
    with pytest.raises(
        PhysicalSystemError,
        match=r"parameter 'weight': .*endurance 300 pulses.*last good "
        r"checkpoint \(after epoch \d+\) kept",
    ):
        fit(
            sy,
            d,
            trainer=ZerothOrderTrainer("spsa", a=0.05, c=0.01, A=5),
            epochs=50,
            batch_size=32,
            seed=0,
            checkpoint=ck,
        )
    st = torch.load(ck, weights_only=True)
    assert st["epoch"] >= 1 and len(st["history"]["pulses"]) == st["epoch"]
    assert st["history"]["pulses"][-1] > 0 and sy.pulses == sum(s.pulses for s in sy.stages)


def test_ideal_write_is_unchanged_and_counts_no_pulse():
    cfg = aihwkit_preset()
    a = AnalogLinearSystem(6, 3, config=cfg, generator=torch.Generator().manual_seed(0))
    b = AnalogLinearSystem(6, 3, config=cfg, generator=torch.Generator().manual_seed(0), write=IdealWrite())
    x = torch.rand(4, 6)
    th = torch.linspace(-0.3, 0.3, 18)
    for t in (th, th * 0.5, th):
        assert torch.equal(a.query(x, t), b.query(x, t))
    assert a.writes == b.writes == 3 and a.pulses == b.pulses == 0


# ------------------------------------------------------------------------------------------------
# write-verify (closed-loop programming): PulsedWrite(verify=WriteVerify(...))
# ------------------------------------------------------------------------------------------------
def verified(dev, verify, i=2, o=2, seed=0, rule=None):
    kw = {} if rule is None else {"rule": rule}
    return AnalogLinearSystem(
        i,
        o,
        config=IDEAL,
        activation=None,
        write=PulsedWrite(update=dev, verify=verify, **kw),
        generator=torch.Generator().manual_seed(seed),
    )


def test_verify_of_a_symmetric_constant_step_needs_no_correction():
    """Open-loop rounding of a noise-free symmetric constant step is within half a step: one
    verify read per write, no correction pulse, the pulse count the open-loop one."""
    dw = 1e-3
    s = verified(ConstantStep(dw_min=dw), WriteVerify(tolerance=0.5, max_iterations=4), i=6, o=3)
    x = torch.randn(2, 6)
    th = torch.linspace(-0.5, 0.5, 18)
    s.query(x, th)
    assert s.verify_reads == 0  # the initial programming is an ideal write-verify
    delta = torch.linspace(-0.0234, 0.0412, 18)
    s.query(x, th + delta)
    assert s.verify_reads == 1 and s.pulses == int(torch.round(delta / dw).abs().sum())
    assert float((s.written_weight.flatten() - (th + delta)).abs().max()) <= 0.5 * dw + 1e-6


@pytest.mark.parametrize("up_down", [0.3, -0.3])
def test_verify_stops_the_drift_to_the_symmetry_point(up_down):
    """The round trips of the open-loop test above (which walk to w* = up_down), verified: the
    devices stay within the tolerance of the request; every correction pulse and read is counted."""
    dw, n, cycles, tol = 0.01, 5, 40, 1.0
    dev = SoftBounds(dw_min=dw, up_down=up_down, dw_min_std=0.3)
    s = verified(dev, WriteVerify(tolerance=tol, max_iterations=6))
    _round_trips(s, n * dw, cycles)
    assert float(s.written_weight.abs().max()) <= tol * dw + 1e-6  # open loop: |w| > 0.1
    assert s.pulses > 4 * 2 * n * cycles  # corrections on top of 2 n per cycle
    assert s.pulses == int(s.layer.pulses_.sum())
    assert 2 * cycles <= s.verify_reads <= 6 * 2 * cycles
    # the asymmetry costs corrections in one direction: a device at w > w* goes down with
    # larger steps than up, so the corrections after a return to 0 are mostly up pulses
    # (up_down > 0) -- at least one correction round happened
    assert s.verify_reads > 2 * cycles


def test_verify_counts_reads_with_read_noise_and_fit_history(tiny_split):
    d = tiny_split
    dev = SoftBounds(dw_min=2e-3, up_down=0.1, dw_min_std=0.3)
    ver = WriteVerify(tolerance=1.0, max_iterations=3, read_noise=1e-3)
    rule = DeterministicPulses(stochastic_rounding=True)
    h = fit(
        verified(dev, ver, i=6, o=3, seed=3, rule=rule),
        d,
        trainer=ZerothOrderTrainer("spsa", a=0.05, c=0.02, A=5),
        epochs=2,
        batch_size=32,
        seed=1,
    )
    r = h.verify_reads.values
    w = h.writes.values
    assert h.verify_reads.attrs["units"] == "1" and "verify" in h.verify_reads.attrs["long_name"]
    assert np.all(r >= w - 1) and np.all(r <= 3 * (w - 1))  # 1..3 reads per pulsed write (the first is a program)
    # open loop: no verify read
    h2 = fit(
        pulsed(dev, rule=rule, seed=3),
        d,
        trainer=ZerothOrderTrainer("spsa", a=0.05, c=0.02, A=5),
        epochs=1,
        batch_size=32,
        seed=1,
    )
    assert h2.verify_reads.values[-1] == 0


def test_verify_endurance_refusal_rolls_back_and_bad_configs_are_named():
    dw = 1e-3
    # a noisy device needs corrections; an endurance that the open-loop pulses fit but the
    # corrections do not: the refused write leaves devices, counters and request unchanged
    dev = SoftBounds(dw_min=dw, dw_min_std=0.5, endurance=110)
    s = verified(dev, WriteVerify(tolerance=0.5, max_iterations=5), i=6, o=3)
    x = torch.randn(3, 6)
    th = torch.zeros(18)
    s.query(x, th)
    s.query(x, th + 0.05)
    before = (s.written_weight.clone(), s.pulses, s.writes, s.verify_reads)
    assert int(s.layer.pulses_.max()) + 50 <= 110  # the open-loop part alone is within endurance
    with pytest.raises(PhysicalSystemError, match=r"parameter 'weight': .*past the endurance 110 pulses"):
        s.query(x, th + 0.1)  # 50 more open-loop pulses + corrections
    assert torch.equal(s.written_weight, before[0]) and (s.pulses, s.writes, s.verify_reads) == before[1:]
    assert s.query(x, th + 0.05).shape == (3, 3) and s.writes == before[2]  # the last request holds
    with pytest.raises(ValueError, match=r"tolerance=0.2: must be a finite number >= 0.5"):
        WriteVerify(tolerance=0.2)
    with pytest.raises(ValueError, match=r"read_noise=-0.1"):
        WriteVerify(read_noise=-0.1)
    with pytest.raises(ValueError, match="max_iterations"):
        WriteVerify(max_iterations=0)
    with pytest.raises(TypeError, match=r"verify: expected WriteVerify\(...\) or None, got str"):
        PulsedWrite(update=dev, verify="closed_loop")
