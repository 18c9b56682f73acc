"""Fused CPU kernel of the read path: output noise + ADC rounding in one pass after the GEMM.

Why hand-written: torch has no fused CPU op for "add Gaussian noise, round, find max |y|", and the
unfused chain (one ``randn``/hash pass, an ``addmm`` with ``beta``, ``round_``, ``aminmax``) costs
about as much as the 512x512x256 GEMM itself, so ``AnalogLinear`` would run at ~2x ``nn.Linear``.
This numba kernel draws the noise with the same counter-based scheme as
:func:`physnn.crossbar.layer.fast_normal` (splitmix64 hash of ``key + block`` -> four 16-bit
indices into the table of 65536 normal quantiles), adds it, rounds to the ADC code, and returns
the largest |code| for bound management.

Only used on CPU tensors when numba imports; everything else takes the torch path.
"""

from __future__ import annotations

import numpy as np
import torch

try:  # numba is a dependency, but keep the package importable without it
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

__all__ = ["available", "noise_round_", "normal_fill_"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

if numba is not None:

    @numba.njit(cache=True, nogil=True, inline="always")
    def _hash(key, b):  # pragma: no cover - compiled
        """splitmix64 of ``key + b * golden``: 64 random bits = four 16-bit table indices."""
        z = key + np.uint64(b) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))

    @numba.njit(cache=True, nogil=True)
    def _normal(key, b, lane, table):  # pragma: no cover - compiled
        return table[(_hash(key, b) >> np.uint64(16 * lane)) & np.uint64(0xFFFF)]

    @numba.njit(cache=True, nogil=True)
    def _kernel(y, key, sig, table, do_round):  # pragma: no cover - compiled
        # Single-threaded on purpose: a parallel numba region leaves OpenMP threads spinning,
        # which on a 2-core machine slows torch's next ops more than the kernel gains.
        n = y.size
        nblk = n // 4
        m = 0.0
        for b in range(nblk):
            z = _hash(key, b)
            i = 4 * b
            v0 = y[i] + sig * table[z & np.uint64(0xFFFF)]
            v1 = y[i + 1] + sig * table[(z >> np.uint64(16)) & np.uint64(0xFFFF)]
            v2 = y[i + 2] + sig * table[(z >> np.uint64(32)) & np.uint64(0xFFFF)]
            v3 = y[i + 3] + sig * table[z >> np.uint64(48)]
            if do_round:
                v0, v1, v2, v3 = np.rint(v0), np.rint(v1), np.rint(v2), np.rint(v3)
            y[i], y[i + 1], y[i + 2], y[i + 3] = v0, v1, v2, v3
            m = max(m, abs(v0), abs(v1), abs(v2), abs(v3))
        for i in range(4 * nblk, n):
            v = y[i] + sig * _normal(key, nblk, i - 4 * nblk, table)
            if do_round:
                v = np.rint(v)
            y[i] = v
            m = max(m, abs(v))
        return m


def available(y: torch.Tensor) -> bool:
    """Whether the fused kernel can process ``y`` in place (CPU, contiguous, float32/64, numba)."""
    return (numba is not None and y.device.type == "cpu" and y.is_contiguous()
            and y.dtype in (torch.float32, torch.float64) and not y.requires_grad)


def noise_round_(y: torch.Tensor, key: int, sig: float, table: torch.Tensor, do_round: bool) -> float:
    """In place: ``y <- round(y + sig * N(0, 1))`` (rounding only if ``do_round``); returns max |y|.

    ``key`` is the signed 64-bit key of the read (drawn from the layer's generator); ``table`` the
    normal-quantile table in ``y``'s dtype.
    """
    ukey = np.array([key], dtype=np.int64).view(np.uint64)[0]
    arr = y.view(-1).numpy()
    return float(_kernel(arr, ukey, arr.dtype.type(sig), table.numpy(), bool(do_round)))


if numba is not None:

    @numba.njit(cache=True, nogil=True)
    def _fill(y, key, table):  # pragma: no cover - compiled
        n = y.size
        nblk = n // 4
        for b in range(nblk):
            z = _hash(key, b)
            i = 4 * b
            y[i] = table[z & np.uint64(0xFFFF)]
            y[i + 1] = table[(z >> np.uint64(16)) & np.uint64(0xFFFF)]
            y[i + 2] = table[(z >> np.uint64(32)) & np.uint64(0xFFFF)]
            y[i + 3] = table[z >> np.uint64(48)]
        for i in range(4 * nblk, n):
            y[i] = _normal(key, nblk, i - 4 * nblk, table)


def normal_fill_(y: torch.Tensor, key: int, table: torch.Tensor) -> torch.Tensor:
    """In place: fill contiguous CPU ``y`` with standard-normal draws of the counter-based scheme
    (the same numbers :func:`noise_round_` would add for this ``key``); returns ``y``."""
    ukey = np.array([key], dtype=np.int64).view(np.uint64)[0]
    _fill(y.view(-1).numpy(), ukey, table.numpy())
    return y
