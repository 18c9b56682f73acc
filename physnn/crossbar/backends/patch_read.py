"""Compiled kernels of the compact tiled read (:meth:`physnn.crossbar.tiles.TiledAnalogLinear.read_patches`).

Two numba passes, each the per-element arithmetic of the reference read
(:func:`physnn.crossbar.read.input_codes`, :func:`physnn.crossbar.read.finish`) in the same dtype
and order, so the codes and the per-element finishing are those of the reference bit for bit:

* :func:`slice_codes`: the DAC of one tile's column slice of the unfolded matrix, read in place
  (a strided view: no copy of the slice, no zero padding to the tile height): per row the abs-max
  scale over the slice (or none), then the rounded, clamped codes.
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
from ...buffers import empty as _np_empty
from ...buffers import scratch
from ..read import noise_tables
from .numba_cpu import noise_draws, numba

__all__ = ["slice_codes", "finish_tiles"]

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
    def codes_prange(x, s_out, codes, step_in, lim_in, abs_max, has_dac):
        step, lim = ft(step_in), ft(lim_in)
        n = x.shape[1]
        for r in numba.prange(x.shape[0]):
            src = x[r]
            den = step
            if abs_max:
                # max |x| as the largest bit pattern with the sign cleared (numba_cpu's DAC)
                m = bitcast(src[0]) & mask
                for j in range(1, n):
                    m = max(m, bitcast(src[j]) & mask)
                sr = bitcast(it(m))
                sr = max(sr, tiny) if sr == sr else sr
                s_out[r] = sr
                den = sr * step
            dst = codes[r]
            for j in range(n):
                v = src[j] / den
                if has_dac:
                    v = np.rint(min(max(v, -lim), lim))
                dst[j] = v

    return codes_prange


def slice_codes(x: torch.Tensor, cols: tuple[int, int], *, in_step: float, in_levels: float | None,
                abs_max: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
    """DAC codes of the columns ``cols = (a, b)`` of the rows of ``x`` (R, K) (float32 or float64,
    CPU; rows need not be contiguous with each other, so a column slice of the unfolded matrix is
    read in place): per row the abs-max scale ``s = max(max|x|, 1e-30)`` over the slice (or
    none), then ``round(clamp(x / (s * in_step), -L, L))``; :func:`physnn.crossbar.read.input_codes`
    in ``x``'s dtype, the arithmetic of ``numba_cpu``'s DAC. ``in_step`` includes the
    bound-management reduction. Returns the scale (R,) or None and the codes (R, b - a)."""
    ft = _ft(x.dtype)
    kern = _KERNELS.get(("codes", ft))
    if kern is None:
        kern = _KERNELS[("codes", ft)] = _make_codes(ft)
    a, b = cols
    xn = x.detach().numpy()[:, a:b]
    if xn.strides[1] != xn.itemsize:
        xn = np.ascontiguousarray(xn)
    R = xn.shape[0]
    s = _np_empty(R if abs_max else 0, ft)
    codes = _np_empty((R, b - a), ft)
    kern(xn, s, codes, in_step, in_levels or 0.0, abs_max, in_levels is not None)
    return (torch.from_numpy(s) if abs_max else None), torch.from_numpy(codes)


def _make_finish(ft, noisy: bool, adc: bool, scaled: bool):
    draws = noise_draws(ft)
    t, d = _tables_np(torch.float32 if ft is np.float32 else torch.float64)

    @numba.njit(parallel=_PARALLEL, nogil=True, cache=True, error_model="numpy")
    def finish_prange(buf, members, n_members, width, r_off, s, post, key_lo, key_hi, sig_in, adc_in, sat,
                      n_blocks):
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
                    draws(n_out, np.uint32((((r + r_off) * n_members + members[i]) * width) & 0xFFFFFFFF), klo, khi, t, d,
                          hb, fb)
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


def finish_tiles(acc: torch.Tensor, members: np.ndarray, n_members: int, width: int, s: torch.Tensor | None,
                 post: torch.Tensor, key: int, noise_std: float, adc_levels: float | None,
                 row_offset: int = 0) -> np.ndarray:
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
    kern(acc.numpy(), members, n_members, width, row_offset, sn, post.numpy(), key & 0xFFFFFFFF, key >> 32, noise_std,
         adc_levels or 0.0, sat, max(1, min(k * R, 4 * numba.get_num_threads())))
    return sat.reshape(k, R).any(1)
