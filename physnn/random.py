"""One randomness policy for the whole package.

- **Physics** (device effects, layers, simulators, reservoirs, substrates) takes
  ``generator: torch.Generator | None``. ``None`` means torch's global generator; a generator is
  consumed in a documented order, so the same seed gives the same numbers.
- **Experiments and dataset builders** take ``seed: int`` and turn it into generators here.
- Code that must draw with numpy (scipy samplers, dataset synthesis) derives its
  ``numpy.random.Generator`` from the torch generator with :func:`numpy_rng`, never from a
  separate integer, so one torch generator drives the whole computation.

Every stochastic function in physnn calls :func:`check_generator` (or one of the helpers below) on
its ``generator`` argument, so a wrong type is refused with the parameter's name. No module keeps
its own seeding helper: the forms that older releases accepted (a ``numpy.random.Generator``, an
``int`` seed where a generator is now expected) go through :func:`legacy_generator`, which warns
with a ``DeprecationWarning`` and will be removed in the next release.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "check_generator",
    "generator_from_seed",
    "numpy_rng",
    "spawn",
    "own_generator",
    "draw_seed",
    "check_seed",
    "legacy_generator",
]

_SEED_HIGH = 2**63 - 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """Return ``seed`` as a non-negative ``int``; raise ``TypeError``/``ValueError`` naming it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name}: expected a non-negative int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name}={seed}: must be >= 0")
    return int(seed)


def check_generator(generator: Any, name: str = "generator") -> torch.Generator | None:
    """Return ``generator`` unchanged if it is ``None`` or a ``torch.Generator``.

    Raises
    ------
    TypeError
        For anything else (an ``int`` seed or a ``numpy.random.Generator`` included), with a hint
        to use :func:`generator_from_seed`.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    raise TypeError(
        f"{name}: expected torch.Generator or None, got {type(generator).__name__}; "
        "physics takes a torch.Generator (physnn.random.generator_from_seed(seed) makes one)"
    )


def generator_from_seed(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (the experiments' entry point)."""
    g = torch.Generator(device=device)
    g.manual_seed(check_seed(seed))
    return g


def numpy_rng(generator: torch.Generator | None, name: str = "generator") -> np.random.Generator:
    """A ``numpy.random.Generator`` whose seed is drawn from ``generator`` (one 63-bit draw).

    With ``generator=None`` the seed comes from torch's global generator, so ``torch.manual_seed``
    also fixes numpy-side draws.
    """
    check_generator(generator, name)
    dev = generator.device if generator is not None else "cpu"
    seed = int(torch.randint(0, _SEED_HIGH, (1,), generator=generator, dtype=torch.int64, device=dev))
    return np.random.default_rng(seed)


def spawn(generator: torch.Generator | None, n: int, name: str = "generator") -> list[torch.Generator]:
    """``n`` independent CPU generators seeded from ``generator`` (e.g. one per ensemble member)."""
    check_generator(generator, name)
    if n < 0:
        raise ValueError(f"n={n}: must be >= 0")
    dev = generator.device if generator is not None else "cpu"
    seeds = torch.randint(0, _SEED_HIGH, (n,), generator=generator, dtype=torch.int64, device=dev).tolist()
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def draw_seed(generator: torch.Generator | None, name: str = "generator") -> int:
    """One seed in ``[0, 2**62)`` drawn from ``generator`` (None: torch's global generator), for a
    generator of its own (``torch.Generator().manual_seed(draw_seed(g))``)."""
    check_generator(generator, name)
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def own_generator(generator: torch.Generator | None, name: str = "generator") -> torch.Generator:
    """A generator an object may keep and advance: ``generator`` itself, or (None) a fresh CPU
    generator seeded with one draw from torch's global generator (so ``torch.manual_seed`` fixes
    it, and later global draws do not move it).

    Raises
    ------
    TypeError
        As :func:`check_generator`, naming ``name``.
    """
    return check_generator(generator, name) or spawn(None, 1)[0]


def legacy_generator(generator: Any, name: str = "generator", *, accept_int: bool = False) -> torch.Generator | None:
    """:func:`check_generator`, plus the forms an older release accepted, for one release.

    A ``numpy.random.Generator`` becomes a ``torch.Generator`` seeded from one of its draws; with
    ``accept_int`` an ``int`` becomes :func:`generator_from_seed` of it. Both warn with a
    ``DeprecationWarning`` naming ``name``. Anything else is refused as :func:`check_generator`
    refuses it (``TypeError`` naming ``name``).
    """
    import warnings

    if isinstance(generator, np.random.Generator):
        warnings.warn(
            f"{name}: a numpy.random.Generator is deprecated here and will be refused in the next "
            "release; pass a torch.Generator (physnn.random.generator_from_seed)",
            DeprecationWarning,
            stacklevel=3,
        )
        return torch.Generator().manual_seed(int(generator.integers(0, _SEED_HIGH)))
    if accept_int and isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        warnings.warn(
            f"{name}: an int seed is deprecated here and will be refused in the next release; "
            f"pass physnn.random.generator_from_seed({int(generator)})",
            DeprecationWarning,
            stacklevel=3,
        )
        return generator_from_seed(int(generator))
    return check_generator(generator, name)
