"""Per-row input activity of a read, the data-dependent part of the array and driver energy.

For the DAC codes ``c`` of ``N`` input vectors on the rows of every tile slice, the cost needs
per row ``sum_n c^2`` (amplitude inputs: ``V^2`` up to a constant) or ``sum_n popcount(|c|)``
(bit-serial inputs: pulses), and the number of driven row-cycles. :func:`row_activity_reference`
is the definition (plain torch); :func:`row_activity` computes the same numbers in one compiled
pass (numba ``prange`` over blocks of vectors), equal to the reference bit for bit: the codes are
the same integers (the same float32/float64 quotient, clamp and round half to even), every sum is
an integer sum (exact, in any order), and the divisor is the reference's own tensor. Integer
arithmetic also makes the pass vectorise: 50x faster than the float-accumulating loop it replaced.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .dac import popcount

try:  # pragma: no cover - numba is a dependency
    import numba
except ImportError:  # pragma: no cover
    numba = None

__all__ = ["row_activity", "row_activity_reference", "patch_row_activity"]


def _magnitude(xt: torch.Tensor, div: torch.Tensor | float, levels: float | None) -> torch.Tensor:
    mag = xt.abs().div_(div)
    if levels is not None:
        mag.clamp_(max=levels).round_()
    return mag


def row_activity_reference(
    xt: torch.Tensor, div: torch.Tensor | float, levels: float | None, bit_serial: bool, nbits: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(per_row, driven, ones)`` of the inputs ``xt`` (B, N, S, R).

    ``div``: the DAC divisor (``in_step``, or ``scale * in_step`` of shape (B, N, S, 1));
    ``levels``: the DAC's largest code (None: no DAC, codes not rounded). ``per_row`` (B, S, R)
    float64: ``sum_n popcount(|c|)`` if ``bit_serial`` else ``sum_n c^2``; ``driven`` (B,)
    float64: set bits (bit-serial) or non-zero codes; ``ones`` (B,) float64: set bits of
    ``nbits``-bit codes (None when ``nbits`` is None or > 16).
    """
    mag = _magnitude(xt, div, levels)
    ones_t = popcount(mag, nbits) if nbits is not None and nbits <= 16 else None
    if bit_serial:
        per_row = ones_t.sum(1, dtype=torch.int64).to(torch.float64)
        driven = per_row.sum((1, 2))
    else:
        per_row = (mag.to(torch.float64) ** 2).sum(1)
        driven = torch.count_nonzero(mag, dim=(1, 2, 3)).to(torch.float64)
    ones = None if ones_t is None else ones_t.sum((1, 2, 3), dtype=torch.int64).to(torch.float64)
    return per_row, driven, ones


if numba is not None:

    def _make(parallel: bool):
        rng = numba.prange if parallel else range

        # integer arithmetic throughout (int32 codes and SWAR popcount, int64 sums): vectorises
        # (a float accumulator cannot be reordered; a float64 or int64 product does not
        # vectorise on AVX2), and integer sums do not depend on the block split
        @numba.njit(parallel=parallel, nogil=True, cache=True, error_model="numpy")
        def kernel(
            x, div, has_div_array, div_scalar, levels, bit_serial, n_blocks, per_row, driven, ones, bad
        ):  # pragma: no cover - compiled
            B, N, S, R = x.shape
            for blk in rng(n_blocks * B):
                b = blk // n_blocks
                k = blk % n_blocks
                lo = (N * k) // n_blocks
                hi = (N * (k + 1)) // n_blocks
                acc = np.zeros((S, R), np.int64)
                on = 0
                nz = 0
                nan = 0
                for n in range(lo, hi):
                    for s in range(S):
                        d = div[b, n, s] if has_div_array else div_scalar
                        xr = x[b, n, s]
                        ar = acc[s]
                        for r in range(R):
                            c = abs(xr[r]) / d
                            nan += c != c  # NaN: counted, never a code
                            c = c if c < levels else levels
                            v = np.int32(np.rint(c)) if c == c else np.int32(0)
                            nz += v != 0
                            if not bit_serial:
                                ar[r] += np.int64(v * v)
                            v = v - ((v >> 1) & 0x55555555)
                            v = (v & 0x33333333) + ((v >> 2) & 0x33333333)
                            v = (v + (v >> 4)) & 0x0F0F0F0F
                            pc = ((v * 0x01010101) >> 24) & 0xFF
                            on += pc
                            if bit_serial:
                                ar[r] += pc
                per_row[blk] = acc
                ones[blk] = on
                driven[blk] = on if bit_serial else nz
                bad[blk] = nan

        return kernel

    _KERNELS = {True: _make(True), False: _make(False)}

    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def _patch_kernel(
        x, div, levels, bit_serial, kh, kw, dh, dw, sh, sw, n_ho, n_wo, per_col, counts
    ):  # pragma: no cover - compiled
        # x (P, B, C, H, W): the padded images of each of P members. Per pixel the code's
        # statistics (the same arithmetic as the kernel above, so the same integers), summed over
        # the member's images; then per unfolded column (c, u, v) the sum over the output
        # positions of the pixel each reads: integer sums, exact in any order
        P, B, C, H, W = x.shape
        st = np.zeros((4, C, H, W), np.int64)  # c^2 or popcount, non-zero, popcount, NaN
        for m in range(P):
            st[:] = 0
            for b in range(B):
                for c in range(C):
                    for h in range(H):
                        xr = x[m, b, c, h]
                        r0, r1, r2, r3 = st[0, c, h], st[1, c, h], st[2, c, h], st[3, c, h]  # rows: vectorises
                        for w in range(W):
                            q = abs(xr[w]) / div
                            r3[w] += q != q
                            q = q if q < levels else levels
                            v = np.int32(np.rint(q)) if q == q else np.int32(0)
                            r1[w] += v != 0
                            if not bit_serial:
                                r0[w] += np.int64(v * v)
                            v = v - ((v >> 1) & 0x55555555)
                            v = (v & 0x33333333) + ((v >> 2) & 0x33333333)
                            v = (v + (v >> 4)) & 0x0F0F0F0F
                            pc = ((v * 0x01010101) >> 24) & 0xFF
                            r2[w] += pc
                            if bit_serial:
                                r0[w] += pc
            if sh == 1 and sw == 1:
                # stride 1: every window is a rectangle of the image, its sum four look-ups of
                # the integral image (integer sums: the same numbers as adding them one by one)
                for k in range(4):
                    for c in range(C):
                        ii = np.zeros((H + 1, W + 1), np.int64)
                        for h in range(H):
                            run = np.int64(0)
                            for w in range(W):
                                run += st[k, c, h, w]
                                ii[h + 1, w + 1] = ii[h, w + 1] + run
                        for u in range(kh):
                            h0 = u * dh
                            h1 = h0 + n_ho
                            for v2 in range(kw):
                                w0 = v2 * dw
                                w1 = w0 + n_wo
                                acc = ii[h1, w1] - ii[h0, w1] - ii[h1, w0] + ii[h0, w0]
                                if k == 0:
                                    per_col[m, (c * kh + u) * kw + v2] = acc
                                else:
                                    counts[m, k - 1] += acc
                continue
            for k in range(4):
                for c in range(C):
                    for u in range(kh):
                        for v2 in range(kw):
                            col = (c * kh + u) * kw + v2
                            acc = np.int64(0)
                            for i in range(n_ho):
                                row = st[k, c, u * dh + i * sh]
                                w0 = v2 * dw
                                for j in range(n_wo):
                                    acc += row[w0 + j * sw]
                            if k == 0:
                                per_col[m, col] = acc
                            else:
                                counts[m, k - 1] += acc


def row_activity(
    xt: torch.Tensor,
    div: torch.Tensor | float,
    levels: float | None,
    bit_serial: bool,
    nbits: int | None,
    *,
    parallel: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`row_activity_reference` in one compiled pass (CPU tensors without gradient; else the
    reference itself, as without a DAC). Same numbers, bit for bit. ``parallel``: numba ``prange``
    over blocks of vectors with torch's thread count (default: one thread, see the code)."""
    if (
        numba is None
        or xt.device.type != "cpu"
        or xt.requires_grad
        or xt.dtype not in (torch.float32, torch.float64)
        or levels is None
        or nbits is None
        or nbits > 16
    ):
        return row_activity_reference(xt, div, levels, bit_serial, nbits)
    B, N, S, R = xt.shape
    x = xt.numpy()
    if isinstance(div, torch.Tensor):
        d = div.detach().to(xt.dtype).expand(B, N, S, 1).reshape(B, N, S).contiguous().numpy()
        has_d, dsc = True, 1.0
    else:
        d = np.ones((1, 1, 1), dtype=x.dtype)
        has_d, dsc = False, float(div)
    # one thread, always: vectorised integer arithmetic does a million codes in about 0.5 ms, less
    # than a parallel region costs to start, and on a loaded machine numba's pool stalled the
    # pass 50x (23 ms against 0.5 ms serial for 1.2 M codes, load 13 on 2 cores). The parallel
    # kernel stays for callers that ask for it (``parallel=True``); the numbers are the same.
    threads = 1
    if parallel:
        threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
        if threads > 1 and numba.get_num_threads() != threads:
            numba.set_num_threads(threads)
    if not x.flags.c_contiguous:  # e.g. a transposed view: one copy, rows contiguous
        x = np.ascontiguousarray(x)
    # one thread: the serial kernel (numba's pool never starts); else torch's thread count. The
    # numbers do not depend on it: every block sums integers exactly.
    n_blocks = max(1, min(N, 4 * threads))
    per_row = np.zeros((n_blocks * B, S, R), dtype=np.int64)
    driven = np.zeros(n_blocks * B, dtype=np.int64)
    ones = np.zeros(n_blocks * B, dtype=np.int64)
    bad = np.zeros(n_blocks * B, dtype=np.int64)
    _KERNELS[threads > 1](
        x, d, has_d, x.dtype.type(dsc), x.dtype.type(levels), bit_serial, n_blocks, per_row, driven, ones, bad
    )
    if bad.any():
        raise ValueError("x: non-finite input values (the DAC codes of a read must be finite)")
    # integer partial sums: exact, the block order does not change them (float64 holds them exactly
    # below 2**53)
    pr = torch.from_numpy(per_row.reshape(B, n_blocks, S, R).sum(1).astype(np.float64))
    dr = torch.from_numpy(driven.reshape(B, n_blocks).sum(1).astype(np.float64))
    on = torch.from_numpy(ones.reshape(B, n_blocks).sum(1).astype(np.float64))
    return pr, dr, on


def patch_row_activity(
    p: Any, members: int, div: float, levels: float, bit_serial: bool, nbits: int, groups: int, n_in: int, rows: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """:func:`row_activity` of the unfolded columns of a convolution, from the padded images.

    ``p`` a :class:`~physnn.crossbar.patches.PatchColumns` whose matrix ``p.matrix()`` read as
    ``(members, N, in)`` (``members`` 1 for a shared input, else the ensemble, images member-major),
    split into ``groups`` groups of ``n_in`` slices of ``rows`` rows (zero-padded at the end of each
    group) is the ``xt`` ``(members, N, groups * n_in, rows)`` of :func:`row_activity` with the
    fixed DAC divisor ``div`` (no abs-max scaling). Returns the same ``(per_row, driven, ones)``,
    bit for bit: every column of the unfolded matrix is a strided window of one channel of the
    padded images, so each pixel's code statistics are computed once (the same float quotient,
    clamp and round half to even as :func:`row_activity`, so the same integer codes) and summed,
    as integers, over the output positions that read it (stride 1: four look-ups of the integral
    image per column): ``kh * kw`` times fewer codes, no unfolded copy. None where the compiled pass does not apply (the caller materialises the
    matrix): no numba, not a float32/float64 CPU tensor, or codes wider than 16 bits.
    """
    x = p.x
    if (
        numba is None
        or x.device.type != "cpu"
        or x.dtype not in (torch.float32, torch.float64)
        or nbits is None
        or nbits > 16
    ):
        return None
    n_img, C, H, W = x.shape
    if n_img % members:
        raise ValueError(f"members={members}: must divide the {n_img} images of p.x")
    (kh, kw), (dh, dw), (sh, sw) = p.kernel_size, p.dilation, p.stride
    n_ho, n_wo = p.out_size
    K = C * kh * kw
    xp = x.detach().reshape(members, n_img // members, C, H, W).numpy()
    if not xp.flags.c_contiguous:
        xp = np.ascontiguousarray(xp)
    ft = xp.dtype.type
    per_col = np.zeros((members, K), np.int64)
    counts = np.zeros((members, 3), np.int64)
    _patch_kernel(xp, ft(div), ft(levels), bit_serial, kh, kw, dh, dw, sh, sw, n_ho, n_wo, per_col, counts)
    if counts[:, 2].any():
        raise ValueError("x: non-finite input values (the DAC codes of a read must be finite)")
    ig = K // groups
    pr = torch.from_numpy(per_col.astype(np.float64)).reshape(members, groups, ig)
    pad = n_in * rows - ig
    if pad:
        pr = torch.nn.functional.pad(pr, (0, pad))
    pr = pr.reshape(members, groups * n_in, rows)
    nz, on = (torch.from_numpy(counts[:, k].astype(np.float64)) for k in (0, 1))
    return pr, (on if bit_serial else nz).clone(), on


def bits_of(levels: float | None) -> int | None:
    """Bits of a DAC's largest code ``levels`` (None without a DAC)."""
    return None if levels is None else max(1, math.ceil(math.log2(levels + 1)))
