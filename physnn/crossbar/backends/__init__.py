"""Fast back ends of a crossbar read (see :mod:`physnn.crossbar.read` for what a read is).

A back end is an object with ``name``, ``unsupported(spec, x, per_member) -> str | None`` (why it
cannot do a read, or None) and ``__call__(spec, x, per_member) -> Tensor``; registering it with
:func:`~physnn.crossbar.read.register_backend` makes it selectable by name and by ``"auto"``.
It must return what :func:`~physnn.crossbar.read.reference_read` returns for the same spec (same
noise key), which ``tests/crossbar/test_read_backends.py`` checks for every registered back end.

How to add one: build on :func:`~physnn.crossbar.read.read_with` (the shared DAC, MVM and
bound-management skeleton) and replace only the per-element ``finish`` step, as
:mod:`.numba_cpu` does; or implement the whole read if the MVM itself changes.

=============  ===============================================================================
numba_cpu      torch GEMM, then one fused numba ``prange`` pass: counter-hash noise, ADC, scale,
               bias (CPU, float32/float64, no autograd, no IR drop)
=============  ===============================================================================
"""

from ..read import register_backend
from .numba_cpu import NumbaCPU, numba_available

__all__ = ["NumbaCPU", "numba_available"]

if numba_available():
    register_backend(NumbaCPU())
