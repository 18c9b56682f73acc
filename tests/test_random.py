"""physnn.random: one randomness policy (physics: torch.Generator | None; experiments: seed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physnn.random import check_generator, check_seed, generator_from_seed, numpy_rng, spawn


@pytest.mark.parametrize("bad", [0, 3.5, np.random.default_rng(0), "seed"])
def test_physics_refuses_anything_but_a_torch_generator(bad):
    with pytest.raises(TypeError, match=r"my_gen: expected torch.Generator or None.*generator_from_seed"):
        check_generator(bad, "my_gen")


def test_none_and_generators_pass_through():
    g = torch.Generator()
    assert check_generator(g) is g and check_generator(None) is None


@pytest.mark.parametrize("bad, err", [(-1, ValueError), (True, TypeError), (1.0, TypeError)])
def test_seed_must_be_a_non_negative_int(bad, err):
    with pytest.raises(err, match="seed"):
        check_seed(bad)


def test_same_seed_same_numbers_across_torch_and_numpy_draws():
    a, b = generator_from_seed(7), generator_from_seed(7)
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))
    ra, rb = numpy_rng(a), numpy_rng(b)
    assert np.array_equal(ra.standard_normal(4), rb.standard_normal(4))
    # the numpy generator consumed exactly one draw of the torch generator: both stay in step
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    assert not np.array_equal(
        numpy_rng(generator_from_seed(8)).standard_normal(4), numpy_rng(generator_from_seed(7)).standard_normal(4)
    )


def test_global_generator_drives_numpy_draws_when_none():
    torch.manual_seed(3)
    x = numpy_rng(None).random(3)
    torch.manual_seed(3)
    assert np.array_equal(numpy_rng(None).random(3), x)


def test_spawn_gives_reproducible_independent_streams():
    kids = spawn(generator_from_seed(1), 4)
    again = spawn(generator_from_seed(1), 4)
    draws = [torch.rand(2, generator=k) for k in kids]
    assert all(torch.equal(d, torch.rand(2, generator=k)) for d, k in zip(draws, again))
    assert len({tuple(d.tolist()) for d in draws}) == 4
    with pytest.raises(ValueError, match="n=-1"):
        spawn(None, -1)


# ------------------------------------------------------------------------------------------------
# the policy across the package
# ------------------------------------------------------------------------------------------------
import ast  # noqa: E402
import pathlib  # noqa: E402
import warnings  # noqa: E402

import physnn  # noqa: E402
from physnn.random import legacy_generator  # noqa: E402

_PKG = pathlib.Path(physnn.__file__).parent

#: numpy-side seeding that may stay, and why. Everything else draws through physnn.random.
_NUMPY_SEEDING_ALLOWED = {
    "random.py": {"default_rng"},  # numpy_rng itself
    "data/mnist1d.py": {"get_state", "set_state"},  # saves/restores the global state mnist1d seeds
    "training/nevergrad_adapter.py": {"RandomState"},  # nevergrad's API wants one; seeded from the torch generator
}


def _numpy_random_calls(path: pathlib.Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            v = node.func.value
            if (
                isinstance(v, ast.Attribute)
                and v.attr == "random"
                and isinstance(v.value, ast.Name)
                and v.value.id in ("np", "numpy")
            ):
                out.add(node.func.attr)
        if isinstance(node, ast.FunctionDef) and node.name in ("_rng", "_make_rng", "_as_rng"):
            out.add(f"def {node.name}")
    return out


def test_no_module_seeds_numpy_on_its_own():
    found = {}
    for path in sorted(_PKG.rglob("*.py")):
        rel = path.relative_to(_PKG).as_posix()
        calls = _numpy_random_calls(path) - _NUMPY_SEEDING_ALLOWED.get(rel, set())
        if calls:
            found[rel] = sorted(calls)
    assert not found, f"numpy generators made outside physnn.random (use numpy_rng(generator)): {found}"


def _bad_generator_calls():
    from physnn.asic.stats import poisson_cv_interval
    from physnn.data import speech
    from physnn.data.events import emulate_dvs
    from physnn.data.text import char_lm_batches
    from physnn.josephson import simulate
    from physnn.reservoir.esn import ESN, ESNParams
    from physnn.reservoir.lsm import LSMConfig, ResistiveLSM
    from physnn.reservoir.projection import ProjectionHead
    from physnn.sfq.layers import sample_window
    from physnn.training import ScatteringMedium

    jj = "* one junction\nB1 1 0 jjm area=1\nIB 0 1 pwl(0 0 10p 100u)\n.model jjm jj(rtype=1, icrit=100u)\n.tran 0.25p 20p\n"
    return {
        "josephson.simulate": lambda g: simulate(jj, generator=g),
        "reservoir.ESN": lambda g: ESN(1, ESNParams(n_units=20, density=0.5), generator=g),
        "reservoir.ResistiveLSM": lambda g: ResistiveLSM(2, LSMConfig(n_neurons=4), generator=g),
        "reservoir.ProjectionHead": lambda g: ProjectionHead(3, 2, generator=g),
        "sfq.sample_window": lambda g: sample_window(torch.full((3,), 0.5), None, generator=g),
        "asic.poisson_cv_interval": lambda g: poisson_cv_interval(5, n_mc=10, generator=g),
        "data.emulate_dvs": lambda g: emulate_dvs(
            lambda k: torch.ones(1, 4, 4).numpy(), 1, batch=1, sensor_size=(4, 4, 2), generator=g
        ),
        "data.char_lm_batches": lambda g: next(
            char_lm_batches(torch.arange(20), seq_len=2, batch_size=2, shuffle=True, generator=g)
        ),
        "data.speech.make_noise": lambda g: speech.make_noise("white", 8, generator=g),
        "training.ScatteringMedium": lambda g: ScatteringMedium(3, 2, generator=g),
    }


@pytest.mark.parametrize("where", sorted(_bad_generator_calls()))
@pytest.mark.parametrize("bad", [1.5, "0", np.random.RandomState(0)])
def test_public_stochastic_functions_refuse_a_wrong_generator(where, bad):
    with pytest.raises(TypeError, match=r"generator: expected torch.Generator or None"):
        _bad_generator_calls()[where](bad)


@pytest.mark.parametrize("where", sorted(_bad_generator_calls()))
def test_public_stochastic_functions_accept_a_torch_generator(where):
    _bad_generator_calls()[where](generator_from_seed(0))


def test_legacy_generator_warns_for_the_old_forms_and_refuses_the_rest():
    with pytest.warns(DeprecationWarning, match="g: a numpy.random.Generator is deprecated"):
        a = legacy_generator(np.random.default_rng(1), "g")
    with pytest.warns(DeprecationWarning):
        b = legacy_generator(np.random.default_rng(1), "g")
    assert isinstance(a, torch.Generator) and torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    with pytest.warns(DeprecationWarning, match="g: an int seed is deprecated"):
        c = legacy_generator(4, "g", accept_int=True)
    assert torch.equal(torch.rand(3, generator=c), torch.rand(3, generator=generator_from_seed(4)))
    with pytest.raises(TypeError, match="g: expected torch.Generator"):
        legacy_generator(4, "g")  # ints only where an older release took them
    with pytest.raises(TypeError, match="g: expected torch.Generator"):
        legacy_generator(True, "g", accept_int=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = torch.Generator()
        assert legacy_generator(g) is g and legacy_generator(None) is None
