"""Thread limits shared by the compiled fast paths.

:func:`blas_threads` is the one place physnn limits the BLAS libraries' thread pools: the
Josephson ensemble loop (tiny per-step products that only lose time waking a pool, and whose
pool threads would spin on the cores numba's member groups need) and the fused conv read
(BLAS called from numba's threads, one product per thread) both use it.
"""

from __future__ import annotations

import contextlib
import functools

__all__ = ["blas_threads"]


@functools.lru_cache(maxsize=1)
def _controller():
    # scipy's BLAS (which numba's np.dot calls) loaded before the look-up, so that it is among
    # the libraries found; finding them reads /proc/self/maps (~5 ms): once per process
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


def blas_threads(n: int | None):
    """A context limiting every loaded BLAS library to ``n`` threads (``threadpoolctl``),
    restored on exit; ``None``: no limit (the libraries' own default).

    >>> with blas_threads(1):
    ...     pass
    """
    if n is None:
        return contextlib.nullcontext()
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n={n!r}: the BLAS thread limit must be an integer >= 1 or None")
    return _controller().limit(limits=n, user_api="blas")
