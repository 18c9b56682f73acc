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
    assert not np.array_equal(numpy_rng(generator_from_seed(8)).standard_normal(4),
                              numpy_rng(generator_from_seed(7)).standard_normal(4))


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
