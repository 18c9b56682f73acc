"""Fused CPU kernels of the read path: the DAC pass before the GEMM, and output noise + ADC
rounding + output scaling + bias in one pass after it.

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

__all__ = ["available", "dac_rows_", "noise_round_", "normal_fill_", "read_rows_", "subkey"]

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


# ---------------------------------------------------------------------------------------------
# Row kernels of the lane-parallel read (see physnn.crossbar._lanes): each handles a contiguous
# block of rows, so that a read can be cut into independent pieces, one per CPU thread.
# ---------------------------------------------------------------------------------------------

if numba is not None:

    # Each row is done in short passes over L1-resident data, written so that LLVM vectorises
    # all but the noise draw: |x| maxima are taken on the float bits as integers (``mask`` clears
    # the sign bit; an integer max vectorises where a float max with NaN rules does not).

    @numba.njit(cache=True, nogil=True)
    def _dac_kernel(x, out, s_out, step_red, k, L, abs_max, do_clamp, mask):  # pragma: no cover
        rows, cols = x.shape
        bits = x.view(mask.dtype)                 # views made once: per-row views cost refcounts
        ibuf = np.empty(1, mask.dtype)
        fbuf = ibuf.view(x.dtype)
        for r in range(rows):
            if abs_max:
                m = bits[r, 0] & mask[0]
                for c in range(cols):
                    q = bits[r, c] & mask[0]
                    m = q if q > m else m
                ibuf[0] = m
                s = fbuf[0]
                # an all-zero input vector gets a tiny scale: its codes stay 0
                s = s if s > 1e-30 else x.dtype.type(1e-30)
                d = s * step_red
                s_out[r] = s
                for c in range(cols):
                    out[r, c] = x[r, c] / d
            else:
                s_out[r] = 1.0
                for c in range(cols):
                    out[r, c] = x[r, c] * k
            if L > 0:
                if do_clamp:
                    for c in range(cols):
                        v = np.rint(out[r, c])
                        v = L if v > L else v
                        out[r, c] = -L if v < -L else v
                else:
                    for c in range(cols):
                        out[r, c] = np.rint(out[r, c])

    @numba.njit(cache=True, nogil=True)
    def _read_kernel(y, key, first, sig, table, M, do_round, rs, scale, bias, mask):  # pragma: no cover
        # y (rows, cols) in place: codes v = round(y + sig * N(0,1)) -> clamp(v, -M, M) * rs[r] *
        # scale + bias[c]; the noise of element (r, c) is the counter-based draw number
        # first + r * cols + c of ``key`` (the same numbers as noise_round_ on the whole read).
        rows, cols = y.shape
        bits = y.view(mask.dtype)
        m = mask[0] & mask[0]
        m -= m
        has_bias = bias.size > 0
        for r in range(rows):
            if sig > 0:
                f = first + r * cols
                c = 0
                while c < cols and (f + c) & 3 != 0:            # head, up to a 4-aligned counter
                    z = _hash(key, (f + c) >> 2)
                    y[r, c] += sig * table[(z >> np.uint64(16 * ((f + c) & 3))) & np.uint64(0xFFFF)]
                    c += 1
                while c + 4 <= cols:                            # one hash -> four draws
                    z = _hash(key, (f + c) >> 2)
                    y[r, c] += sig * table[z & np.uint64(0xFFFF)]
                    y[r, c + 1] += sig * table[(z >> np.uint64(16)) & np.uint64(0xFFFF)]
                    y[r, c + 2] += sig * table[(z >> np.uint64(32)) & np.uint64(0xFFFF)]
                    y[r, c + 3] += sig * table[z >> np.uint64(48)]
                    c += 4
                while c < cols:                                 # tail
                    z = _hash(key, (f + c) >> 2)
                    y[r, c] += sig * table[(z >> np.uint64(16 * ((f + c) & 3))) & np.uint64(0xFFFF)]
                    c += 1
            if do_round:
                for c in range(cols):
                    y[r, c] = np.rint(y[r, c])
            for c in range(cols):
                q = bits[r, c] & mask[0]
                m = q if q > m else m
            sc = rs[r] * scale
            if M > 0:
                for c in range(cols):
                    v = y[r, c]
                    v = M if v > M else v
                    y[r, c] = (-M if v < -M else v) * sc
            else:
                for c in range(cols):
                    y[r, c] = y[r, c] * sc
            if has_bias:
                for c in range(cols):
                    y[r, c] += bias[c]
        out = np.empty(1, mask.dtype)
        out[0] = m
        return out.view(y.dtype)[0]


_MASKS = {np.dtype(np.float32): np.array([0x7FFFFFFF], dtype=np.int32),
          np.dtype(np.float64): np.array([0x7FFFFFFFFFFFFFFF], dtype=np.int64)}


def _u64(key: int) -> np.uint64:
    return np.array([key], dtype=np.int64).view(np.uint64)[0]


def subkey(key: int, member: int, attempt: int) -> int:
    """A signed 64-bit key for ``(member, attempt)`` derived from a read's ``key`` (splitmix64
    finaliser of ``key + golden * (member * 2**20 + attempt + 1)``): independent streams for the
    members of an ensemble and the repeated reads of bound management, without drawing from the
    generator inside worker threads (the result does not depend on the thread count)."""
    m = (1 << 64) - 1
    z = (key + 0x9E3779B97F4A7C15 * ((member << 20) + attempt + 1)) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    return z - (1 << 64) if z >= 1 << 63 else z


def dac_rows_(x: torch.Tensor, out: torch.Tensor, s_out: torch.Tensor, step: float, red: float,
              L: float | None, abs_max: bool, clamp: bool) -> None:
    """Input codes of a block of rows: ``out = round(x / (s * step * red))`` (clamped to ``±L``
    when ``clamp``; no rounding when ``L`` is None), ``s`` the row's max |x| (``abs_max``) or 1,
    written to ``s_out``. ``x``, ``out``: contiguous 2-D CPU tensors of one dtype."""
    xa = x.numpy()
    t = xa.dtype.type
    _dac_kernel(xa, out.numpy(), s_out.numpy(), t(step * red), t(1.0 / (step * red)), t(-1.0 if L is None else L),
                bool(abs_max), bool(clamp), _MASKS[xa.dtype])


def read_rows_(y: torch.Tensor, key: int, first: int, sig: float, table: torch.Tensor, M: float | None,
               rs: torch.Tensor, scale: float, bias: torch.Tensor | None) -> float:
    """In place on the GEMM output ``y`` (rows, cols) of a block of rows: add output noise
    (``sig`` ADC steps; draws ``first + r * cols + c`` of ``key``), round to the ADC code and
    clamp to ``±M`` (no rounding or clamping when ``M`` is None), then scale by ``rs[r] * scale``
    and add ``bias``. Returns the largest |code| before clamping (bound management)."""
    ya = y.numpy()
    t = ya.dtype.type
    b = bias.numpy() if bias is not None else np.empty(0, dtype=ya.dtype)
    return float(_read_kernel(ya, _u64(key), int(first), t(sig), table.numpy(), t(-1.0 if M is None else M),
                              M is not None, rs.numpy(), t(scale), b, _MASKS[ya.dtype]))
