"""Compiled kernels of the compact tiled read (:meth:`physnn.crossbar.tiles.TiledAnalogLinear.read_patches`).

Two numba passes, each the per-element arithmetic of the reference read
(:func:`physnn.crossbar.read.input_codes`, :func:`physnn.crossbar.read.finish`) in the same dtype
and order, so the codes and the per-element finishing are those of the reference bit for bit:

* :func:`patch_codes`: the DAC of one tile's column slice of the unfolded matrix, gathered
  straight from the padded image (no unfolded copy, no zero padding to the tile height): per
  output position the receptive field's slice into a small buffer, its abs-max scale (or none),
  then the rounded, clamped codes, row-major ``(rows, slice columns)``.
* :func:`finish_tiles`: output noise, ADC, saturation flags and output scale of the tiles of one
  read, in place on ``(k, rows, cols)``, with the noise counters of the *padded* combined read
  (``(r * n_members + member) * width + o``, ``width`` the padded tile width), so that a tile
  read at its own width draws exactly the noise its real columns get in the padded read.

Memory safety: the arrays reach numba as numpy views of CPU tensors whose shapes the caller
derived from the layer's geometry; the kernels index only inside the shapes of the arrays they
are given (loops over ``range(shape)``), and every output buffer is written in full before it
is read (``tests/fastpath_cases.py`` case ``conv`` in poisoned-buffer mode).
"""

from __future__ import annotations

import numpy as np
import torch

from ..._vmath import bitcast
from ...threads import blas_threads
from ...buffers import empty as _np_empty
from ...buffers import scratch
from ..read import noise_tables
from .numba_cpu import counter_hash, noise_draws, numba

__all__ = ["patch_codes", "finish_tiles", "fused_patch_read", "block_lines"]

_KERNELS: dict = {}
#: numba ``prange`` kernels (measured at load 14 on 2 cores: serial kernels were slower)
_PARALLEL = True
_TABLES: dict = {}


def _ft(dtype: torch.dtype):
    return np.float32 if dtype == torch.float32 else np.float64


def _make_codes(ft):
    it = np.int32 if ft is np.float32 else np.int64
    mask, tiny = it(np.iinfo(it).max), ft(1e-30)

    @numba.njit(parallel=_PARALLEL, nogil=True, cache=True, error_model="numpy")
    def codes_prange(
        xp, a, b, kh, kw, dh, dw, sh, sw, n_ho, n_wo, s_out, codes, step_in, lim_in, abs_max, has_dac, n_blocks
    ):
        step, lim = ft(step_in), ft(lim_in)
        khw = kh * kw
        L = n_ho * n_wo
        R = xp.shape[0] * L
        c_a = a // khw
        u_a = (a - c_a * khw) // kw
        v_a = a - c_a * khw - u_a * kw
        n_k = b - a
        for blk in numba.prange(n_blocks):
            buf = scratch(n_k, ft)
            for r in range(blk * R // n_blocks, (blk + 1) * R // n_blocks):
                n = r // L
                q = r - n * L
                ho = q // n_wo
                h0 = ho * sh
                w0 = (q - ho * n_wo) * sw
                # the row's receptive field (columns a..b-1: channel, kernel row, kernel column)
                c, u, v = c_a, u_a, v_a
                for j in range(n_k):
                    buf[j] = xp[n, c, h0 + u * dh, w0 + v * dw]
                    v += 1
                    if v == kw:
                        v = 0
                        u += 1
                        if u == kh:
                            u = 0
                            c += 1
                den = step
                if abs_max:
                    # max |x| as the largest bit pattern with the sign cleared (numba_cpu's DAC)
                    m = bitcast(buf[0]) & mask
                    for j in range(1, n_k):
                        m = max(m, bitcast(buf[j]) & mask)
                    sr = bitcast(it(m))
                    sr = max(sr, tiny) if sr == sr else sr
                    s_out[r] = sr
                    den = sr * step
                dst = codes[r]
                for j in range(n_k):
                    val = buf[j] / den
                    if has_dac:
                        val = np.rint(min(max(val, -lim), lim))
                    dst[j] = val

    return codes_prange


def patch_codes(
    xp: torch.Tensor,
    cols: tuple[int, int],
    kernel_size: tuple[int, int],
    dilation: tuple[int, int],
    stride: tuple[int, int],
    out_size: tuple[int, int],
    *,
    in_step: float,
    in_levels: float | None,
    abs_max: bool,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """DAC codes of the unfolded columns ``cols = (a, b)`` of a padded image batch, gathered
    straight from the image (no unfolded copy).

    Parameters
    ----------
    xp : Tensor (N, C, H, W)
        The padded input (float32 or float64, CPU; made contiguous here).
    cols : (int, int)
        The column range ``[a, b)`` of the layout of :func:`physnn.crossbar.patches.unfold_columns`
        (channel-major, then kernel row, then kernel column).
    kernel_size, dilation, stride, out_size : (int, int)
        Geometry; ``out_size`` the output ``(Ho, Wo)``.
    in_step : float
        Input units per DAC code times the bound-management reduction (``input_codes``' ``step``).
    in_levels : float, optional
        Largest DAC code (None: no rounding or clamp).
    abs_max : bool
        Per-row abs-max input scaling over the column range.

    Returns
    -------
    (Tensor (R,) or None, Tensor (R, b - a))
        The per-row scale ``max(max|x|, 1e-30)`` (None without abs-max) and the codes
        ``round(clamp(x / (s * in_step), -L, L))``, ``R = N * Ho * Wo`` rows in the order of
        ``unfold_columns``: :func:`physnn.crossbar.read.input_codes` in ``xp``'s dtype, with the
        arithmetic of ``numba_cpu``'s DAC.
    """
    ft = _ft(xp.dtype)
    kern = _KERNELS.get(("codes", ft))
    if kern is None:
        kern = _KERNELS[("codes", ft)] = _make_codes(ft)
    xn = xp.detach().contiguous().numpy()
    a, b = cols
    n_ho, n_wo = out_size
    R = xn.shape[0] * n_ho * n_wo
    s = _np_empty(R if abs_max else 0, ft)
    codes = _np_empty((R, b - a), ft)
    kern(
        xn,
        a,
        b,
        kernel_size[0],
        kernel_size[1],
        dilation[0],
        dilation[1],
        stride[0],
        stride[1],
        n_ho,
        n_wo,
        s,
        codes,
        in_step,
        in_levels or 0.0,
        abs_max,
        in_levels is not None,
        max(1, min(R, 4 * numba.get_num_threads())),
    )
    return (torch.from_numpy(s) if abs_max else None), torch.from_numpy(codes)


def _make_finish(ft, noisy: bool, adc: bool, scaled: bool):
    draws = noise_draws(ft)
    t, d = _tables_np(torch.float32 if ft is np.float32 else torch.float64)

    @numba.njit(parallel=_PARALLEL, nogil=True, cache=True, error_model="numpy")
    def finish_prange(buf, members, n_members, width, r_off, s, post, key_lo, key_hi, sig_in, adc_in, sat, n_blocks):
        klo, khi, sig, adc_m = np.uint32(key_lo), np.uint32(key_hi), ft(sig_in), ft(adc_in)
        k, n_rows, n_out = buf.shape
        n_q = k * n_rows
        for blk in numba.prange(n_blocks):
            hb = scratch(n_out if noisy else 0, np.uint32)
            fb = scratch(n_out if noisy else 0, ft)
            for q in range(blk * n_q // n_blocks, (blk + 1) * n_q // n_blocks):
                i = q // n_rows
                r = q - i * n_rows
                c = post[i]
                if scaled:
                    c = s[i if s.shape[0] > 1 else 0, r] * c
                row = buf[i, r]
                if noisy:
                    draws(
                        n_out,
                        np.uint32((((r + r_off) * n_members + members[i]) * width) & 0xFFFFFFFF),
                        klo,
                        khi,
                        t,
                        d,
                        hb,
                        fb,
                    )
                n_sat = 0
                for o in range(n_out):
                    v = row[o] + sig * fb[o] if noisy else row[o]
                    if adc:
                        v = np.rint(v)
                        n_sat += (v > adc_m) | (v < -adc_m)
                        v = min(max(v, -adc_m), adc_m)
                    row[o] = v * c
                sat[q] = n_sat

    return finish_prange


def _tables_np(dt: torch.dtype) -> tuple[np.ndarray, np.ndarray]:
    tab = _TABLES.get(dt)
    if tab is None:
        t, d = noise_tables(dt)
        tab = _TABLES[dt] = (t.numpy(), d.numpy())
    return tab


def finish_tiles(
    acc: torch.Tensor,
    members: np.ndarray,
    n_members: int,
    width: int,
    s: torch.Tensor | None,
    post: torch.Tensor,
    key: int,
    noise_std: float,
    adc_levels: float | None,
    row_offset: int = 0,
) -> np.ndarray:
    """Noise, ADC and output scale of ``k`` tiles' accumulated codes, in place.

    Parameters
    ----------
    acc : Tensor (k, R, cols), contiguous
        Accumulated output codes (the GEMM's result); overwritten with the outputs.
    members : int64 array (k,)
        Member index of each tile in the padded combined read.
    n_members : int
        Members of the combined read (its ensemble size).
    width : int
        Output width of the combined read's tiles (the padded tile width, ``>= cols``).
    s : Tensor (1 or k, R), optional
        Per-row DAC scale (abs-max), None without.
    post : Tensor (k,)
        Output scale of each tile (``scale * reduction``).
    key : int
        Noise key of this attempt.
    row_offset : int
        Row of the read that ``acc``'s first row is (its noise counters: ``acc`` may be a block
        of the read's rows).

    Returns
    -------
    bool array (k,): whether any output code of the tile exceeded ``adc_levels``.
    """
    ft = _ft(acc.dtype)
    noisy, has_adc = noise_std > 0, adc_levels is not None
    name = ("finish", ft, noisy, has_adc, s is not None)
    kern = _KERNELS.get(name)
    if kern is None:
        kern = _KERNELS[name] = _make_finish(ft, noisy, has_adc, s is not None)
    k, R = acc.shape[0], acc.shape[1]
    sat = _np_empty(k * R, np.int64)
    sn = np.zeros((0, 0), ft) if s is None else s.numpy()
    kern(
        acc.numpy(),
        members,
        n_members,
        width,
        row_offset,
        sn,
        post.numpy(),
        key & 0xFFFFFFFF,
        key >> 32,
        noise_std,
        adc_levels or 0.0,
        sat,
        max(1, min(k * R, 4 * numba.get_num_threads())),
    )
    return sat.reshape(k, R).any(1)


# ---------------------------------------------------------------------------------------------
# The fused read: DAC codes, GEMM, noise, ADC, partial sums and bias of a block of output
# positions in one pass, the block's codes kept in the cache.
# ---------------------------------------------------------------------------------------------

#: bytes of DAC codes per block (all input tiles of one group): within a core's L2 cache
BLOCK_BYTES = 1 << 19


def block_lines(ho: int, wo: int, k: int, itemsize: int) -> int:
    """Output lines (rows of ``wo`` positions of one image) per block of :func:`fused_patch_read`:
    the largest divisor of ``ho`` whose block of codes (``lines * wo`` rows of ``k`` codes) fits
    :data:`BLOCK_BYTES`, at least 1. A function of the layer's geometry only (never of the batch):
    blocks never span images, so a row's numbers do not depend on the batch it is read in.

    >>> block_lines(32, 32, 576, 4)
    4
    >>> block_lines(8, 8, 9, 4)
    8
    """
    cap = max(1, BLOCK_BYTES // (itemsize * k * wo))
    return max(d for d in range(1, ho + 1) if ho % d == 0 and d <= cap) if cap < ho else ho


_STRIDED: dict = {}


def strided_draws(ft):
    """The compiled standard-normal draws at the counters ``base + k * step`` (modulo 2**32),
    ``k < n``: :func:`~physnn.crossbar.backends.numba_cpu.noise_draws`' arithmetic (the same
    hash, cell, fraction and ``T + f D``) for a strided run of counters, e.g. one output column
    of a block of rows, left in the scratch ``z`` (``ft``; cells in ``hb``)."""
    fn = _STRIDED.get(ft)
    if fn is None:
        s20, m20, inv20 = np.uint32(20), np.uint32(0xFFFFF), ft(2.0**-20)

        @numba.njit(inline="always", error_model="numpy")
        def draws(n, base, step, klo, khi, t, d, hb, z):  # pragma: no cover - compiled
            for k in range(n):
                x = counter_hash(np.uint32(base + np.uint32(k) * step), klo, khi)
                hb[k] = x >> s20
                z[k] = ft(np.int32(x & m20)) * inv20
            for k in range(n):
                cell = hb[k]
                z[k] = t[cell] + z[k] * d[cell]

        fn = _STRIDED[ft] = draws
    return fn


def _make_fused(ft, abs_max: bool, has_dac: bool, noisy: bool, adc: bool, biased: bool):
    it = np.int32 if ft is np.float32 else np.int64
    mask, tiny = it(np.iinfo(it).max), ft(1e-30)
    draws_col = strided_draws(ft)
    t, d = _tables_np(torch.float32 if ft is np.float32 else torch.float64)
    scaled = abs_max

    @numba.njit(parallel=_PARALLEL, nogil=True, cache=True, error_model="numpy")
    def fused_prange(
        xf,
        off,
        t_in,
        t_out,
        n_img,
        n_ho,
        n_wo,
        sh,
        sw,
        w_img,
        chw,
        lpb,
        wt,
        mem,
        n_members,
        width,
        post,
        out,
        col0,
        bias,
        key_lo,
        key_hi,
        sig_in,
        adc_in,
        step_in,
        lim_in,
        sat,
        n_workers,
    ):
        klo, khi, sig, adc_m = np.uint32(key_lo), np.uint32(key_hi), ft(sig_in), ft(adc_in)
        step, lim = ft(step_in), ft(lim_in)
        n_p = xf.shape[0]  # 1: one input shared by the chips, else one per chip
        n_e = wt.shape[0]
        n_k = wt.shape[1]
        n_c = wt.shape[2]
        n_in = t_in.shape[0] - 1
        n_out = t_out.shape[0] - 1
        L = n_ho * n_wo
        rb = lpb * n_wo
        bpi = n_ho // lpb  # blocks per image
        n_blocks = n_img * bpi
        uw, usw = np.uint64(n_wo), np.uint64(sw)
        row_step = np.uint32((n_members * width) & 0xFFFFFFFF)  # counter step of one row
        for wk in numba.prange(n_workers):
            ct = scratch((n_k, rb), ft)
            acc = scratch((n_c, rb), ft)
            m = scratch(rb, it)
            den = scratch(rb, ft)
            srow = scratch((n_in, rb), ft)
            hb = scratch(rb if noisy else 0, np.uint32)
            fb = scratch(rb if noisy else 0, ft)
            for blk in range(wk * n_blocks // n_workers, (wk + 1) * n_blocks // n_workers):
                n = blk // bpi
                ho0 = (blk - n * bpi) * lpb
                q0 = ho0 * n_wo
                r0 = n * L + q0
                for p in range(n_p):
                    xr = xf[p]
                    # DAC of every input tile: gather, abs-max, codes (column-major block: the
                    # loops over a line's positions are contiguous copies and vectorise)
                    for i in range(n_in):
                        a, b = t_in[i], t_in[i + 1]
                        if abs_max:
                            for k in range(rb):
                                m[k] = 0
                        for li in range(lpb):
                            base = np.uint64(n * chw + (ho0 + li) * sh * w_img)
                            k0 = np.uint64(li * n_wo)
                            for j in range(a, b):
                                row = ct[j]
                                src = base + np.uint64(off[j])
                                for q in range(uw):
                                    v = xr[src + q * usw]
                                    row[k0 + q] = v
                                    if abs_max:
                                        m[k0 + q] = max(m[k0 + q], bitcast(v) & mask)
                        if abs_max:
                            for k in range(rb):
                                sr = bitcast(it(m[k]))
                                sr = max(sr, tiny) if sr == sr else sr
                                srow[i, k] = sr
                                den[k] = sr * step
                        else:
                            for k in range(rb):
                                den[k] = step
                        for j in range(a, b):
                            row = ct[j]
                            for k in range(rb):
                                val = row[k] / den[k]
                                if has_dac:
                                    val = np.rint(min(max(val, -lim), lim))
                                row[k] = val
                    e0, e1 = (0, n_e) if n_p == 1 else (p, p + 1)
                    for e in range(e0, e1):
                        for i in range(n_in):
                            a, b = t_in[i], t_in[i + 1]
                            # the MVM of input tile i with all its output tiles, output-major
                            # (numba's np.dot: BLAS): acc[o, k] of output o, block row k
                            np.dot(wt[e][a:b].T, ct[a:b], acc)
                            for j in range(n_out):
                                o0, o1 = t_out[j], t_out[j + 1]
                                c0 = post[e, i, j]
                                n_sat = 0
                                for o in range(o1 - o0):
                                    oc = o0 + o
                                    arow = acc[oc]
                                    # out (E, N, O, L) channel-major, a convolution's own layout
                                    orow = out[e, n, col0 + oc, q0 : q0 + rb]
                                    if noisy:
                                        # the draws of output o of the block's rows: counters
                                        # (r * n_members + member) * width + o, r = r0 + k
                                        draws_col(
                                            rb,
                                            np.uint32((((r0 * n_members + mem[e, i, j]) * width) + o) & 0xFFFFFFFF),
                                            row_step,
                                            klo,
                                            khi,
                                            t,
                                            d,
                                            hb,
                                            fb,
                                        )
                                    for k in range(rb):
                                        v = arow[k] + sig * fb[k] if noisy else arow[k]
                                        if adc:
                                            v = np.rint(v)
                                            n_sat += (v > adc_m) | (v < -adc_m)
                                            v = min(max(v, -adc_m), adc_m)
                                        c = srow[i, k] * c0 if scaled else c0
                                        v = v * c
                                        if i > 0:
                                            v = orow[k] + v
                                        if biased and i == n_in - 1:
                                            v = v + bias[col0 + oc]
                                        orow[k] = v
                                sat[wk, e, i, j] += n_sat

    return fused_prange


def fused_patch_read(
    xp: torch.Tensor,
    off: np.ndarray,
    in_edges: np.ndarray,
    out_edges: np.ndarray,
    stride: tuple[int, int],
    out_size: tuple[int, int],
    wt: torch.Tensor,
    members: np.ndarray,
    n_members: int,
    width: int,
    post: torch.Tensor,
    out: torch.Tensor,
    col0: int,
    bias: torch.Tensor | None,
    key: int,
    *,
    in_step: float,
    in_levels: float | None,
    abs_max: bool,
    noise_std: float,
    adc_levels: float | None,
) -> np.ndarray:
    """The first read of one group's tiles, fused per block of output positions.

    Per block (:func:`block_lines` lines of one image) and input tile: the DAC codes of the
    tile's column slice gathered from the image (:func:`patch_codes`' arithmetic), the GEMM with
    the programmed weights of all the tile's output tiles (numba's ``np.dot``, BLAS, one thread
    per block: the caller limits BLAS to one thread; output-major, ``acc[o, k]``), then per
    output tile and output column, along the block's rows, the noise of the padded combined
    read's counters, ADC, output scale (:func:`finish_tiles`' arithmetic) and the digital
    partial sum, left to right in input-tile order, and the bias after the last input tile,
    written to ``out`` (channel-major). Every element gets :func:`finish_tiles`' arithmetic in
    the same order; only the schedule differs.

    Parameters
    ----------
    xp : Tensor (P, N, C, H, W), contiguous
        Padded images: ``P = 1`` shared by the chips, else one batch per chip.
    off : int64 array (K,)
        Offset of each column of the group's slice of the unfolded matrix in one image
        (``c * H * W + u * dh * W + v * dw``).
    in_edges, out_edges : int64 arrays
        Tile edges along the group's columns (``K``) and outputs.
    stride, out_size : (int, int)
    wt : Tensor (E, K, cols), contiguous
        Transposed programmed weights of the group (output-code units) per chip.
    members : int64 array (E, n_in, n_out)
        Member of each tile in the padded combined read; ``n_members`` its size, ``width`` its
        (padded) tile width.
    post : Tensor (E, n_in, n_out)
        Output scale of each tile.
    out : Tensor (E, N, O, Ho * Wo), contiguous
        Output, channel-major (a convolution's own layout: no copy after the read); channels
        ``col0 .. col0 + cols`` written. The block's GEMM is output-major (``acc[o, k]``), so
        the finishing of one output over the block's rows runs along contiguous memory, with
        that output's noise drawn at the strided counters of those rows (:func:`strided_draws`).
    bias : Tensor (O,), optional
    key : int
        Noise key.

    Returns
    -------
    int64 array (E, n_in, n_out): output codes beyond ``adc_levels`` per tile.
    """
    ft = _ft(xp.dtype)
    noisy, has_adc, has_dac = noise_std > 0, adc_levels is not None, in_levels is not None
    name = ("fused", ft, abs_max, has_dac, noisy, has_adc, bias is not None)
    kern = _KERNELS.get(name)
    if kern is None:
        kern = _KERNELS[name] = _make_fused(ft, abs_max, has_dac, noisy, has_adc, bias is not None)
    P, N, C, H, W = xp.shape
    ho, wo = out_size
    lpb = block_lines(ho, wo, int(off.shape[0]), xp.element_size())
    n_workers = max(1, min(N * (ho // lpb), 4 * numba.get_num_threads()))
    E, n_in, n_out = members.shape
    sat = np.zeros((n_workers, E, n_in, n_out), np.int64)
    bn = np.zeros(0, ft) if bias is None else bias.detach().numpy()
    with blas_threads(1):
        kern(
            xp.reshape(P, -1).numpy(),
            off,
            in_edges,
            out_edges,
            N,
            ho,
            wo,
            stride[0],
            stride[1],
            W,
            C * H * W,
            lpb,
            wt.numpy(),
            members,
            n_members,
            width,
            post.numpy(),
            out.numpy(),
            col0,
            bn,
            key & 0xFFFFFFFF,
            key >> 32,
            noise_std,
            adc_levels or 0.0,
            in_step,
            in_levels or 0.0,
            sat,
            n_workers,
        )
    return sat.sum(0)
