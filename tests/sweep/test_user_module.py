"""task = "module:factory": the sweep converts the user's own network at every point."""

from pathlib import Path

import numpy as np
import pytest

from physnn.sweep import Axis, SweepError, SweepSpec, load_spec, run_sweep, validate


@pytest.fixture(autouse=True)
def _user_module_on_path(monkeypatch):
    """The user's module (tests/sweep/toy_user_net.py) importable by name, as on a user's path."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))


def _spec(task="toy_user_net:make", **kw):
    base = dict(
        task=task,
        replicates=3,
        seed=0,
        task_params={"card": "pcm_aihwkit", "hidden": 24, "adc_bits": 0},
        axes=(Axis(field="config.out_noise", values=(0.0, 3.0)),),
    )
    base.update(kw)
    return SweepSpec(**base)


def test_user_module_sweep_dataset_and_accuracy(tmp_path):
    ds = run_sweep(_spec(), tmp_path / "run", progress=False)
    c = ds.coords["out_noise"]
    assert list(c.values) == [0.0, 3.0]
    assert c.attrs["units"] == "1" and "noise" in c.attrs["long_name"]
    assert ds.coords["replicate"].attrs["units"] == "1" and ds.sizes["replicate"] == 3
    acc = ds["accuracy"]
    assert acc.attrs["units"] == "1" and acc.attrs["long_name"]
    assert acc.dims == ("out_noise", "replicate")
    m = ds["accuracy_mean"].values
    # the float teacher network is good; output noise of 3 (weight units) costs accuracy
    assert m[0] > 0.85
    assert m[1] < m[0] - 0.1
    # replicates are independent chips: they differ under noise
    assert np.ptp(acc.sel(out_noise=3.0).values) > 0


def test_user_module_points_do_not_depend_on_their_company(tmp_path):
    from physnn.sweep import evaluate_chunk

    spec = _spec(axes=(Axis(field="config.t_inference", values=(1.0, 3.0e7)),))
    _, layout = validate(spec)
    js = spec.to_json()
    both = {r[0]: r[2] for r in evaluate_chunk(js, [0, 1])}
    one = {r[0]: r[2] for r in evaluate_chunk(js, [1])}
    np.testing.assert_array_equal(both[1]["accuracy"], one[1]["accuracy"])


def test_user_module_declared_metrics(tmp_path):
    ds = run_sweep(_spec(task="toy_user_net:make_with_error"), tmp_path / "run", progress=False)
    assert ds["cross_entropy"].attrs["units"] == "nat"
    ce = ds["cross_entropy_mean"].values
    assert ce[1] > ce[0]  # noisier reads: worse loss


@pytest.mark.parametrize(
    "task, params, msg",
    [
        ("toy_user_net:no_seed", {}, "seed as its first parameter"),
        ("toy_user_net:make", {"hidden": "wide"}, "hidden"),
        ("toy_user_net:make", {"depth": 3}, "unknown parameter"),
        ("toy_user_net:missing", {}, "cannot import"),
    ],
)
def test_user_module_errors_name_the_cause(task, params, msg):
    with pytest.raises(SweepError, match=msg):
        validate(_spec(task=task, task_params=params))


def test_user_module_wrong_return_type(tmp_path):
    from physnn.sweep import evaluate_chunk

    spec = _spec(task="toy_user_net:wrong_return", task_params={})
    rows = evaluate_chunk(spec.to_json(), [0])
    assert rows[0][1] != "ok" and "UserModel" in rows[0][3]


def test_factory_module_next_to_the_spec_file(tmp_path, monkeypatch):
    """A spec file's own folder is searched for its module (no PYTHONPATH needed in-process)."""
    import sys

    src = Path(__file__).resolve().parent / "toy_user_net.py"
    (tmp_path / "my_nets_beside.py").write_text(src.read_text())
    (tmp_path / "spec.toml").write_text(
        '[sweep]\ntask = "my_nets_beside:make"\nreplicates = 2\n[task]\nhidden = 8\nsteps = 5\nadc_bits = 0\n'
        '[[axis]]\nfield = "config.t_inference"\nvalues = [1.0]\nunits = "s"\n'
    )
    monkeypatch.delitem(sys.modules, "my_nets_beside", raising=False)
    task, layout = validate(load_spec(tmp_path / "spec.toml"))
    assert task.params["hidden"] == 8 and layout.n == 1
    assert str(tmp_path) not in sys.path  # the path is not left changed
