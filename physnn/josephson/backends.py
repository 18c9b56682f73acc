"""Back ends of the transient (see :mod:`physnn.josephson.transient` for what a step is).

The reference step definition is :func:`~physnn.josephson.transient.reference_loop`: JoSIM v2.7's
BDF2 step in numpy, written once, over a dense branch-space system (``dense-numpy``) or a sparse
LU factorisation (``sparse-numpy``). The other back ends compute the same steps faster, each
tested against it (or against ``fused-numpy``, itself tested against it):

===============  ================================================================================
tiled-compiled   noise-free ensembles without capacitor branches or transmission lines: the whole
                 run compiled (numba), tiles of members x chunks of steps, members over threads
sparse-compiled  single noise-free runs of any circuit: one SuperLU factorisation per junction
                 state pattern, the step loop compiled (numba)
fused-compiled   single noise-free runs without transmission lines: history and solve folded
                 into one dense matrix, the loop compiled (numba)
fused-numpy      the same folded matrices, numpy loop
dense-numpy      the reference loop, dense branch-space system (every problem)
sparse-numpy     the reference loop, sparse LU (every problem)
===============  ================================================================================

A back end is an object with ``name``, ``family`` (the formulation: ``"dense"``, ``"fused"``
or ``"sparse"``), ``unsupported(problem) -> str | None`` (why it cannot integrate this
:class:`TransientProblem`, or None) and ``auto_declines(problem) -> str | None`` (why ``"auto"``
prefers a later one although this one could run it: a size where another is faster; it never
changes a result). :func:`register_backend` makes it selectable by name; back ends registered
later are preferred by ``"auto"`` (as in :func:`physnn.crossbar.read.register_backend`).

Choosing: an explicit ``backend=`` of :func:`~physnn.josephson.simulate` /
:func:`~physnn.josephson.run_transient`, else the innermost :func:`use_backend` block, else
``"auto"``. A name is a registered back end (``"fused-numpy"``), a family (``"fused"``: its
back ends, compiled first; a fused problem that cannot be folded falls back to ``"dense"``), or
``"auto"``; a back-end object itself (``use_backend(TiledCompiled(threads=2))``) is used as it
is. A named back end that cannot integrate the problem raises ``ValueError`` saying why.
Standard library only (the back ends themselves are registered when
:mod:`physnn.josephson.transient` is imported).
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
from dataclasses import dataclass
from typing import Any, Iterator

__all__ = [
    "TransientProblem",
    "AbstractTransientBackend",
    "register_backend",
    "backends",
    "get_backend",
    "use_backend",
    "current_backend",
    "select_backend",
    "FAMILIES",
]

#: the formulations a ``backend=`` family name selects, in the order their members are tried
FAMILIES = ("fused", "dense", "sparse")


@dataclass(frozen=True, kw_only=True)
class TransientProblem:
    """What a back end needs to know to say whether it can integrate a run.

    Parameters
    ----------
    n : int
        Unknowns of the compiled circuit (node phases and source currents).
    n_jj, n_c, n_t : int
        Junctions, capacitor branches, transmission lines.
    members : int
        Ensemble members integrated together (1: a single run).
    noise : bool
        Thermal (Johnson) noise is drawn (``.temp``).
    startup : bool
        The run starts from the state of JoSIM's start-up steps before t = 0 (a source that is
        non-zero before t = 0 or a junction phase offset, and no ``DST`` on ``.tran``; see
        :func:`~physnn.josephson.transient.startup_history`): the back end must accept the
        initial ``history`` those steps give.
    """

    n: int
    n_jj: int
    n_c: int
    n_t: int
    members: int
    noise: bool
    startup: bool = False

    @classmethod
    def of(cls, circuit, members: int) -> "TransientProblem":
        """The problem of a compiled :class:`~physnn.josephson.Circuit` with ``members`` members."""
        return cls(
            n=int(circuit.n),
            n_jj=int(circuit.n_jj),
            n_c=int(circuit.n_c),
            n_t=int(circuit.n_t),
            members=int(members),
            noise=bool(circuit.netlist.temp),
            startup=bool(getattr(circuit, "startup_steps", 0)),
        )


class AbstractTransientBackend(abc.ABC):
    """A back end of the transient (see the module doc). Subclasses set ``name`` and ``family``."""

    name: str = ""
    family: str = ""

    @abc.abstractmethod
    def unsupported(self, problem: TransientProblem) -> str | None:
        """Why this back end cannot integrate ``problem`` (None: it can)."""

    def auto_declines(self, problem: TransientProblem) -> str | None:
        """Why ``"auto"`` takes a later back end although this one can (None: it does not)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_BACKENDS: dict[str, AbstractTransientBackend] = {}
_CHOICE: contextvars.ContextVar[Any] = contextvars.ContextVar("physnn_josephson_backend", default="auto")


def register_backend(backend: AbstractTransientBackend) -> AbstractTransientBackend:
    """Add a back end (an :class:`AbstractTransientBackend`); later ones are preferred by ``"auto"``."""
    for attr in ("name", "family", "unsupported", "auto_declines"):
        if not hasattr(backend, attr):
            raise TypeError(f"backend: missing {attr!r}")
    if backend.family not in FAMILIES:
        raise ValueError(f"backend.family={backend.family!r}: one of {FAMILIES}")
    _BACKENDS[backend.name] = backend
    return backend


def _load() -> None:
    if not _BACKENDS:
        from . import transient  # noqa: F401  (registers the back ends)


def backends() -> list[str]:
    """Names of the registered back ends, in registration order (the reference first)."""
    _load()
    return list(_BACKENDS)


def get_backend(name: str) -> AbstractTransientBackend:
    """The registered back end ``name``."""
    _load()
    _check_name(name)
    if name not in _BACKENDS:
        raise ValueError(f"backend={name!r}: not one back end (a family or 'auto'); registered: {list(_BACKENDS)}")
    return _BACKENDS[name]


def _check_name(name) -> None:
    if isinstance(name, str) and name != "auto" and name not in FAMILIES and name not in _BACKENDS:
        raise ValueError(f"backend={name!r}: unknown; registered: {['auto', *FAMILIES, *_BACKENDS]}")
    if not isinstance(name, str) and not isinstance(name, AbstractTransientBackend):
        raise TypeError(f"backend={name!r}: a name or an AbstractTransientBackend")


@contextlib.contextmanager
def use_backend(backend: str | AbstractTransientBackend) -> Iterator[None]:
    """Within the block, transients without an explicit ``backend=`` use ``backend`` (a name, a
    family, ``"auto"`` or a back-end object)."""
    _load()
    _check_name(backend)
    tok = _CHOICE.set(backend)
    try:
        yield
    finally:
        _CHOICE.reset(tok)


def current_backend() -> str | AbstractTransientBackend:
    """The choice of the innermost :func:`use_backend` block (``"auto"`` outside)."""
    return _CHOICE.get()


def select_backend(
    problem: TransientProblem, backend: str | AbstractTransientBackend | None = None
) -> AbstractTransientBackend:
    """The back end that integrates ``problem``: ``backend`` (None: the :func:`use_backend`
    choice) resolved as the module doc says."""
    _load()
    choice = _CHOICE.get() if backend is None else backend
    _check_name(choice)
    if isinstance(choice, AbstractTransientBackend):
        why = choice.unsupported(problem)
        if why is not None:
            raise ValueError(f"backend={choice.name!r} cannot integrate this circuit: {why}")
        return choice
    order = list(reversed(_BACKENDS.values()))
    if choice == "auto":
        for b in order:
            if b.unsupported(problem) is None and b.auto_declines(problem) is None:
                return b
        raise RuntimeError("no transient back end can integrate this circuit")  # pragma: no cover
    if choice in FAMILIES:
        fams = (choice, "dense") if choice == "fused" else (choice,)
        for fam in fams:
            for b in order:
                if b.family == fam and b.unsupported(problem) is None:
                    return b
        raise ValueError(f"backend={choice!r}: no back end of the family can integrate this circuit")
    b = _BACKENDS[choice]
    why = b.unsupported(problem)
    if why is not None:
        raise ValueError(f"backend={choice!r} cannot integrate this circuit: {why}")
    return b
