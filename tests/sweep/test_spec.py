"""Sweep specs: validation errors name the field, TOML round trip, grid/random/LHS designs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from physnn.sweep import Axis, SweepError, SweepSpec, load_spec, validate
from physnn.sweep.spec import unit_factor


def _spec(**kw):
    base = dict(
        task="crossbar_linear",
        axes=(Axis(field="config.out_noise", values=(0.0, 0.1)),),
        task_params={"in_features": 8, "out_features": 4, "batch": 3},
    )
    base.update(kw)
    return SweepSpec(**base)


def test_unknown_field_is_named_with_a_suggestion():
    with pytest.raises(SweepError, match=r"config\.out_nosie: unknown field.*config\.out_noise"):
        validate(_spec(axes=(Axis(field="config.out_nosie", values=(0.1,)),)))


@pytest.mark.parametrize(
    "axis, design, msg",
    [
        (dict(field="config.out_noise", values=()), "grid", r"config\.out_noise: empty range"),
        (dict(field="config.out_noise", start=0.1, stop=0.1, num=3), "grid", r"config\.out_noise: empty range"),
        (dict(field="config.out_noise", start=0.1, stop=0.2, num=0), "grid", r"config\.out_noise: empty range"),
        (dict(field="config.out_noise", start=0.2, stop=0.1), "lhs", r"config\.out_noise: empty range"),
        (dict(field="config.out_noise"), "random", r"config\.out_noise: empty range"),
    ],
)
def test_empty_range_is_named(axis, design, msg):
    with pytest.raises(SweepError, match=msg):
        _spec(axes=(Axis(**axis),), design=design, samples=None if design == "grid" else 4)


def test_mismatched_units_are_named():
    with pytest.raises(SweepError, match=r"config\.t_inference: units 'V' do not match the field's unit 's'"):
        validate(_spec(axes=(Axis(field="config.t_inference", values=(1.0,), units="V"),)))
    with pytest.raises(SweepError, match=r"config\.adc\.bits: units 's'"):
        validate(_spec(axes=(Axis(field="config.adc.bits", values=(4,), units="s"),)))


def test_prefixed_units_are_converted_to_si():
    assert unit_factor("ms", "s") == 1e-3 and unit_factor("uS", "S") == 1e-6 and unit_factor("day", "s") == 86400.0
    assert unit_factor("mbit", "bit") is None and unit_factor("V", "s") is None
    _, layout = validate(_spec(axes=(Axis(field="config.t_inference", values=(1.0, 20.0), units="ms"),)))
    np.testing.assert_allclose(layout.per_axis[0], [1e-3, 2e-2])


def test_value_out_of_range_is_refused_before_work():
    # a negative output noise is refused by the config, and the message names the axis field
    with pytest.raises(SweepError, match=r"config\.out_noise"):
        validate(_spec(axes=(Axis(field="config.out_noise", values=(0.0, -0.5)),)))
    with pytest.raises(SweepError, match=r"card\.drift\.t0"):
        validate(_spec(axes=(Axis(field="card.drift.t0", values=(20.0, -1.0)),)))


def test_other_spec_errors():
    with pytest.raises(SweepError, match="samples"):
        _spec(design="lhs", axes=(Axis(field="config.out_noise", start=0.0, stop=1.0),))
    with pytest.raises(SweepError, match="appears twice"):
        _spec(axes=(Axis(field="config.out_noise", values=(0.1,)), Axis(field="config.out_noise", values=(0.2,))))
    with pytest.raises(SweepError, match="reserved"):
        _spec(axes=(Axis(field="config.out_noise", values=(0.1,), name="replicate"),))
    with pytest.raises(SweepError, match="task 'nope'"):
        validate(_spec(task="nope"))
    with pytest.raises(SweepError, match=r"unknown parameter\(s\) \['hiden'\]"):
        validate(
            SweepSpec(
                task="crossbar_mlp", axes=(Axis(field="config.out_noise", values=(0.1,)),), task_params={"hiden": 3}
            )
        )
    with pytest.raises(SweepError, match="replicates"):
        _spec(replicates=0)


def test_toml_round_trip(tmp_path):
    spec = SweepSpec(
        task="crossbar_mlp",
        design="grid",
        seed=3,
        seeds=(0, 1),
        replicates=4,
        name="rt",
        task_params={"card": "pcm_aihwkit", "epochs": 5},
        axes=(
            Axis(field="config.out_noise", name="read_noise", values=(0.0, 0.1)),
            Axis(field="config.t_inference", start=1.0, stop=1e6, num=4, scale="log", units="s"),
            Axis(field="config.adc.bits", values=(4, 8), units="bit"),
        ),
    )
    p = tmp_path / "s.toml"
    p.write_text(spec.to_toml())
    back = load_spec(p)
    assert back == spec and back.digest == spec.digest
    assert "[[axis]]" in p.read_text()


def test_toml_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[sweep]\ntask = "toy"\n[[axis]]\nfield = "task.x"\nvalues = [1.0]\nunit = "s"\n')
    with pytest.raises(SweepError, match=r"bad\.toml:6: \[\[axis\]\] #1 \(task\.x\): unknown key\(s\) \['unit'\]"):
        load_spec(p)
    p.write_text("[sweep\n")
    with pytest.raises(SweepError, match="TOML syntax"):
        load_spec(p)
    with pytest.raises(SweepError, match="does not exist"):
        load_spec(tmp_path / "missing.toml")


def test_grid_design_is_the_full_product():
    spec = SweepSpec(
        task="toy",
        axes=(Axis(field="task.x", values=(0.0, 1.0, 2.0)), Axis(field="task.y", start=0.0, stop=1.0, num=2)),
        seeds=(5, 6),
    )
    _, layout = validate(spec)
    assert layout.n == 3 * 2 * 2
    assert sorted({tuple(r) for r in layout.design}) == [(x, y) for x in (0.0, 1.0, 2.0) for y in (0.0, 1.0)]
    assert layout.point(1).seed == 6 and layout.point(1).values == layout.point(0).values


def test_random_design_in_bounds_and_log_scale():
    spec = SweepSpec(
        task="toy",
        design="random",
        samples=200,
        axes=(Axis(field="task.x", start=1e-3, stop=1e1, scale="log"), Axis(field="task.y", start=-1, stop=1)),
    )
    _, layout = validate(spec)
    x, y = layout.design[:, 0], layout.design[:, 1]
    assert x.min() >= 1e-3 and x.max() <= 10 and y.min() >= -1 and y.max() <= 1
    # log-uniform: about a quarter of the draws per decade
    assert 30 < np.sum((x >= 1e-3) & (x < 1e-2)) < 70


def test_lhs_design_is_stratified_per_axis():
    n = 16
    spec = SweepSpec(
        task="toy",
        design="lhs",
        samples=n,
        axes=(Axis(field="task.x", start=0.0, stop=1.0), Axis(field="task.y", start=10.0, stop=20.0)),
    )
    _, layout = validate(spec)
    for j, (lo, hi) in enumerate(((0.0, 1.0), (10.0, 20.0))):
        bins = np.floor((layout.design[:, j] - lo) / (hi - lo) * n).astype(int)
        assert sorted(bins) == list(range(n))  # exactly one sample per stratum


def test_integer_fields_are_rounded():
    spec = SweepSpec(
        task="crossbar_linear", design="random", samples=20, axes=(Axis(field="config.adc.bits", start=3, stop=9),)
    )
    _, layout = validate(spec)
    assert np.all(layout.design == np.round(layout.design))


_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def _specs(draw):
    design = draw(st.sampled_from(["grid", "random", "lhs"]))
    n_axes = draw(st.integers(1, 3))
    axes = []
    for i in range(n_axes):
        name = draw(st.sampled_from([None, f"a{i}"]))
        if design == "grid" and draw(st.booleans()):
            axes.append(
                Axis(
                    field=f"task.f{i}",
                    values=tuple(draw(st.lists(_finite, min_size=1, max_size=4, unique=True))),
                    name=name,
                )
            )
        else:
            lo = draw(st.floats(min_value=1e-3, max_value=1e3))
            hi = lo * draw(st.floats(min_value=1.5, max_value=1e3))
            kw = dict(num=draw(st.integers(1, 5))) if design == "grid" else {}
            axes.append(
                Axis(
                    field=f"task.f{i}",
                    start=lo,
                    stop=hi,
                    scale=draw(st.sampled_from(["linear", "log"])),
                    units=draw(st.sampled_from([None, "1"])),
                    name=name,
                    **kw,
                )
            )
    return SweepSpec(
        task="toy",
        axes=tuple(axes),
        design=design,
        samples=None if design == "grid" else draw(st.integers(1, 50)),
        seed=draw(st.integers(0, 2**31)),
        replicates=draw(st.integers(1, 9)),
        seeds=draw(st.sampled_from([None, (0, 1), (7,)])),
        task_params=draw(st.sampled_from([{}, {"noise": 0.5}, {"work": 3, "noise": 0.0}])),
    )


@settings(max_examples=60, deadline=None)
@given(_specs())
def test_toml_round_trip_property(spec):
    from physnn._compat import tomllib  # tomllib, or tomli on Python 3.10

    back = SweepSpec.from_dict(tomllib.loads(spec.to_toml()))
    assert back == spec and back.digest == spec.digest
