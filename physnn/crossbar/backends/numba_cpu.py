"""CPU back end: the reference's DAC and GEMM (torch, multi-threaded by torch), then one fused
numba pass (numba's own ``prange`` threading) for noise, ADC, scale and bias.

The pass evaluates, per output element, exactly the arithmetic of
:func:`physnn.crossbar.read.finish` in the same dtype and order (counter hash -> cell and
fraction -> ``T + f D`` -> ``acc + std z`` -> round, clamp -> ``* (s * scale)`` -> ``+ bias``),
so its output equals the reference bit for bit. What it saves: ``torch.randn`` and five separate
passes over the output (one ``torch.randn`` alone costs about as much as the whole pass).

Memory safety: arrays reach numba as numpy views of torch tensors whose shapes were checked by
:meth:`~physnn.crossbar.read.ReadSpec.layout`; numba checks nothing, so every index is derived
from those shapes here, and anything unexpected (dtype, device, autograd, IR drop) is refused by
:meth:`NumbaCPU.unsupported` before a kernel runs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from ..read import H1, H2, ReadSpec, bound_manage, mvm, noise_tables, read_with
from ..read import dac_inputs as _torch_dac
from ..._vmath import bitcast
from ...buffers import empty as _np_empty
from ...buffers import scratch

try:  # pragma: no cover - numba is a dependency, but keep the package importable without it
    import numba
except ImportError:  # pragma: no cover
    numba = None

__all__ = ["NumbaCPU", "numba_available"]

_DTYPES = (torch.float32, torch.float64)


def numba_available() -> bool:
    return numba is not None


if numba is not None:
    _H1, _H2 = np.uint32(H1), np.uint32(H2)
    _S15, _S16 = np.uint32(15), np.uint32(16)

    @numba.njit(inline="always")
    def counter_hash(i, klo, khi):  # pragma: no cover - compiled
        """The noise hash of :func:`physnn.crossbar.read.counter_normal` for output index ``i``
        and key ``(klo, khi)``: two rounds of the 32-bit lowbias32 hash (integer arithmetic only,
        so loops over ``i`` vectorise). Bits 31..20 pick the table cell, bits 19..0 the fraction."""
        x = np.uint32(i & 0xFFFFFFFF) ^ klo
        x = x ^ (x >> _S16)
        x = np.uint32(x * _H1)
        x = x ^ (x >> _S15)
        x = np.uint32(x * _H2)
        x = np.uint32((x ^ (x >> _S16)) + khi)
        x = x ^ (x >> _S16)
        x = np.uint32(x * _H1)
        x = x ^ (x >> _S15)
        x = np.uint32(x * _H2)
        return x ^ (x >> _S16)
else:  # pragma: no cover - numba is a dependency
    counter_hash = None

_NOISE_ROWS: dict = {}
_NOISE_DRAWS: dict = {}


def noise_draws(ft):
    """The compiled standard-normal draws of one row in float type ``ft``: ``z[o] = z(base + o)``,
    the draw of :func:`physnn.crossbar.read.counter_normal` (``T[cell] + f D[cell]``, the
    reference's arithmetic in the same order), left in the scratch ``z`` (``ft``). The integer
    work (hash, cell, fraction ``f``) goes to ``hb`` (uint32 cells) and ``z`` (fractions) first:
    that loop has no memory indirection and vectorises, while the table loop (two loads at a
    computed address) stays scalar and carries nothing else (one loop doing both ran 3x slower;
    adding ``src`` in the table loop too cost a load per element more). Cells are unsigned, so
    the table loads carry no negative-index fix-up. ``base`` is the row's first counter (uint32,
    modulo 2**32). One definition for every compiled consumer (the read's fused pass,
    :func:`add_counter_normal`, the LSTM loop, through :func:`noise_row`)."""
    fn = _NOISE_DRAWS.get(ft)
    if fn is None:
        s20, m20, inv20 = np.uint32(20), np.uint32(0xFFFFF), ft(2.0**-20)

        @numba.njit(inline="always", error_model="numpy")
        def draws(n, base, klo, khi, t, d, hb, z):  # pragma: no cover - compiled
            for o in range(n):
                x = counter_hash(base + np.uint32(o), klo, khi)
                hb[o] = x >> s20
                z[o] = ft(np.int32(x & m20)) * inv20
            for o in range(n):
                cell = hb[o]
                z[o] = t[cell] + z[o] * d[cell]

        fn = _NOISE_DRAWS[ft] = draws
    return fn


def noise_row(ft):
    """``dst[o] = src[o] + std * z[o]`` with the draws of :func:`noise_draws` (scratch ``hb``,
    ``fb``): the output-noise step of one row, as :func:`physnn.crossbar.read.finish` adds it."""
    fn = _NOISE_ROWS.get(ft)
    if fn is None:
        draws = noise_draws(ft)

        @numba.njit(inline="always", error_model="numpy")
        def row_noise(dst, src, base, klo, khi, std, t, d, hb, fb):  # pragma: no cover - compiled
            n = dst.shape[0]
            draws(n, base, klo, khi, t, d, hb, fb)
            for o in range(n):
                dst[o] = src[o] + std * fb[o]

        fn = _NOISE_ROWS[ft] = row_noise
    return fn


def _make(ft, noisy: bool, adc: bool, scaled: bool, biased: bool, parallel: bool):
    """The fused pass for float type ``ft``, in place on ``buf`` (k, rows, out), specialised on
    which steps are on (compile-time constants, so the inner loops have no branches);
    ``parallel``: blocks of rows dealt to numba's ``prange``, else one serial loop (see
    :func:`_threads`). One array read and written (no second one that might alias it), so the
    ADC loop vectorises in the serial kernel too.

    Per output row: the noise draws (:func:`noise_draws`), then ``acc + std z``, round, clamp, scale and bias
    (vectorises), counting the codes beyond the ADC range. Then, per tile, whether any of its
    rows saturated (``flags``). The block size changes the schedule only, never a number (each
    element is computed on its own). The noise tables are compile-time constants of the kernel;
    the scalars arrive as Python numbers and become uint32 / ``ft`` inside (the same values as
    converting them outside)."""
    draws = noise_draws(ft)
    t, d = _tables(torch.float32 if ft is np.float32 else torch.float64)

    @numba.njit(inline="always", error_model="numpy")
    def rows(q0, q1, buf, members, n_tiles, s, post, bias, klo, khi, sig, adc_m, sat):
        k, n_rows, n_out = buf.shape
        hb = scratch(n_out if noisy else 0, np.uint32)
        fb = scratch(n_out if noisy else 0, ft)
        for q in range(q0, q1):
            i = q // n_rows
            r = q - i * n_rows
            c = post[i]
            if scaled:
                c = s[i if s.shape[0] > 1 else 0, r] * c
            row = buf[i, r]
            if noisy:
                draws(n_out, np.uint32(((r * n_tiles + members[i]) * n_out) & 0xFFFFFFFF), klo, khi, t, d, hb, fb)
            n_sat = 0
            for o in range(n_out):
                v = row[o] + sig * fb[o] if noisy else row[o]
                if adc:
                    v = np.rint(v)
                    n_sat += (v > adc_m) | (v < -adc_m)
                    v = min(max(v, -adc_m), adc_m)
                v = v * c
                if biased:
                    v = v + bias[o]
                row[o] = v
            sat[q] = n_sat

    @numba.njit(inline="always")
    def tiles(sat, flags, n_rows):
        n = 0
        for i in range(flags.shape[0]):
            flags[i] = False
            for r in range(i * n_rows, (i + 1) * n_rows):
                if sat[r] != 0:
                    flags[i] = True
                    n += 1
                    break
        return n

    if parallel:

        @numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
        def fused_prange(buf, members, n_tiles, s, post, bias, key_lo, key_hi, sig_in, adc_in, flags, n_blocks):
            klo, khi, sig, adc_m = np.uint32(key_lo), np.uint32(key_hi), ft(sig_in), ft(adc_in)
            n_q = buf.shape[0] * buf.shape[1]
            sat = scratch(n_q, np.int64)
            for blk in numba.prange(n_blocks):
                rows(
                    blk * n_q // n_blocks,
                    (blk + 1) * n_q // n_blocks,
                    buf,
                    members,
                    n_tiles,
                    s,
                    post,
                    bias,
                    klo,
                    khi,
                    sig,
                    adc_m,
                    sat,
                )
            return tiles(sat, flags, buf.shape[1])

        return fused_prange

    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def fused_serial(buf, members, n_tiles, s, post, bias, key_lo, key_hi, sig_in, adc_in, flags, n_blocks):
        klo, khi, sig, adc_m = np.uint32(key_lo), np.uint32(key_hi), ft(sig_in), ft(adc_in)
        sat = scratch(buf.shape[0] * buf.shape[1], np.int64)
        rows(0, buf.shape[0] * buf.shape[1], buf, members, n_tiles, s, post, bias, klo, khi, sig, adc_m, sat)
        return tiles(sat, flags, buf.shape[1])

    return fused_serial


def _make_dac(parallel: bool, ft):
    """The DAC pass in float type ``ft`` (scalars arrive as Python numbers and become ``ft``
    inside, the same values as converting them outside)."""
    it = np.int32 if ft is np.float32 else np.int64
    mask, tiny = it(np.iinfo(it).max), ft(1e-30)

    @numba.njit(inline="always", error_model="numpy")
    def row(r, x, s, codes, step, lim, abs_max, has_dac):
        n = x.shape[1]
        den = step
        if abs_max:
            # max |x| as the largest bit pattern with the sign cleared: non-negative floats order
            # like their bits, so this is an integer max (vectorises, where a float max does not
            # without fast-math) and a NaN (the largest patterns) propagates as in torch's amax.
            # The bits come from ``bitcast`` of each value, never from an integer view of the
            # same array (see :func:`physnn._vmath.bitcast`).
            m = bitcast(x[r, 0]) & mask
            for j in range(1, n):
                m = max(m, bitcast(x[r, j]) & mask)
            sr = bitcast(it(m))  # numba widens int32 & int32 to int64: back to the width of ft
            sr = max(sr, tiny) if sr == sr else sr
            s[r] = sr
            den = sr * step
        for j in range(n):
            v = x[r, j] / den
            if has_dac:
                v = np.rint(min(max(v, -lim), lim))
            codes[r, j] = v

    # Per row: ``s = max(max|x|, tiny)`` (abs-max scaling), ``codes = round(clamp(x / (s *
    # step), -lim, lim))``: :func:`physnn.crossbar.read.input_codes` in ``x``'s dtype.
    if parallel:

        @numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
        def dac_prange(x, s, codes, step_in, lim_in, abs_max, has_dac):
            step, lim = ft(step_in), ft(lim_in)
            for r in numba.prange(x.shape[0]):
                row(r, x, s, codes, step, lim, abs_max, has_dac)

        return dac_prange

    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def dac_serial(x, s, codes, step_in, lim_in, abs_max, has_dac):
        step, lim = ft(step_in), ft(lim_in)
        for r in range(x.shape[0]):
            row(r, x, s, codes, step, lim, abs_max, has_dac)

    return dac_serial


class _Prepared(NamedTuple):
    """What this back end derives from a spec once (kept in ``spec.memo``, which the keyed copies
    of a spec share): the kernels for its flags, numpy views of its tensors, its sizes."""

    ft: type  # numpy float type of the read
    dac: Any  # DAC kernel
    fused: Any  # fused pass, for ``scaled = spec.abs_max`` (s is None iff no abs-max)
    scale: np.ndarray  # spec.scale, 1-D view
    bias: np.ndarray  # spec.bias (detached view), or an empty array
    tiles: int  # E, or 1 without an ensemble
    blocks: int  # prange blocks per pass: 4 per thread


def _prepared(spec: ReadSpec) -> _Prepared:
    """The spec's :class:`_Prepared` for the current thread count (built on first use)."""
    n_thr = _threads()
    key = ("numba_cpu", n_thr)
    p = spec.memo.get(key)
    if p is None:
        ft = np.float32 if spec.weight.dtype == torch.float32 else np.float64
        par = n_thr > 1
        kd, kf = (
            ("dac", par, ft),
            (ft, spec.noise_std > 0, spec.adc_levels is not None, spec.abs_max, spec.bias is not None, par),
        )
        if kd not in _KERNELS:
            _KERNELS[kd] = _make_dac(par, ft)
        if kf not in _KERNELS:
            _KERNELS[kf] = _make(*kf)
        b = spec.bias
        p = spec.memo[key] = _Prepared(
            ft=ft,
            dac=_KERNELS[kd],
            fused=_KERNELS[kf],
            scale=spec.scale.detach().numpy().reshape(-1),
            bias=_EMPTY1[ft] if b is None else b.detach().numpy(),
            tiles=spec.ensemble or 1,
            blocks=4 * n_thr,
        )
    return p


def _dac_np(p: _Prepared, spec: ReadSpec, x2: torch.Tensor) -> tuple[np.ndarray | None, np.ndarray]:
    """The DAC pass on a CPU tensor with at least one row: (scale (..., 1) or None, codes)."""
    xn = x2.numpy()
    if not xn.flags.c_contiguous:
        xn = np.ascontiguousarray(xn)
    n = xn.shape[-1]
    x1 = xn.reshape(-1, n)
    codes = _np_empty(xn.shape, p.ft)
    s = _np_empty((*xn.shape[:-1], 1), p.ft)
    sn = s.reshape(-1)
    p.dac(x1, sn, codes.reshape(-1, n), spec.in_step, spec.in_levels or 0.0, spec.abs_max, spec.in_levels is not None)
    return (s if spec.abs_max else None), codes


def _fused(
    p: _Prepared, spec: ReadSpec, a3: np.ndarray, s, post: np.ndarray, key: int, members: np.ndarray, rows: int
) -> np.ndarray | None:
    """The fused pass in place on ``a3`` (k, rows, out); the tiles' saturation flags, or None
    when none saturated (or there is no ADC)."""
    k = a3.shape[0]
    flags = _np_empty(k, np.bool_)
    n_sat = p.fused(
        a3,
        members,
        p.tiles,
        _EMPTY2[p.ft] if s is None else np.asarray(s).reshape(1 if s.ndim == 2 else s.shape[0], rows),
        post,
        p.bias,
        key & 0xFFFFFFFF,
        key >> 32,
        spec.noise_std,
        spec.adc_levels or 0.0,
        flags,
        min(k * rows, p.blocks),
    )
    return flags if n_sat else None


def dac(spec: ReadSpec, x2: torch.Tensor) -> tuple[Any, torch.Tensor]:
    """:func:`physnn.crossbar.read.input_scale` and ``input_codes`` in one pass (linear devices;
    a sinh-type device law takes the torch functions). The scale comes back as a numpy array
    (:func:`finish` reads it as one; :func:`~physnn.crossbar.read.read_with` converts it where
    torch needs it): one tensor fewer per read."""
    if spec.iv is not None or x2.numel() == 0:
        return _torch_dac(spec, x2)
    s, codes = _dac_np(_prepared(spec), spec, x2)
    return s, torch.from_numpy(codes)


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """The read's output block, allocated by numpy (the GEMM writes it, the fused pass finishes
    it in place). numpy asks the kernel for transparent huge pages on blocks of 4 MiB or more
    (``numpy.core.multiarray._get_madvise_hugepage``), torch's allocator does not: an ensemble
    read's fresh 32 MiB output then takes a few hundred page faults instead of 8,192 (measured,
    E = 64 at 256 x 512: 7.6 ms of a 49 ms read). Same numbers; only where the memory comes from."""
    return torch.from_numpy(_np_empty(shape, _NP_DTYPES[dtype]))


_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_SET_THREADS: list[int] = [0]


def _threads() -> int:
    """Threads of the two passes (``NumbaCPU.threads``, else torch's count). With one thread the
    serial kernels run and numba's thread pool is never started: an idle OpenMP pool spins after
    each parallel region, and on a busy 2-core machine that spin slowed the torch operations
    between two reads by up to 50x (measured: a 256 kB copy 6-12 ms instead of 0.1 ms). The
    result does not depend on it (both kernels compute every element the same way)."""
    n = max(1, min(NumbaCPU.threads or torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if n > 1 and n != _SET_THREADS[0]:
        numba.set_num_threads(n)
        _SET_THREADS[0] = n
    return n


_KERNELS: dict = {}


_EMPTY1 = {np.float32: np.zeros(0, np.float32), np.float64: np.zeros(0, np.float64)}
_EMPTY2 = {np.float32: np.zeros((0, 0), np.float32), np.float64: np.zeros((0, 0), np.float64)}
_ARANGE: dict[int, np.ndarray] = {}
_TABLES_NP: dict = {}


def _tables(dt: torch.dtype) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~physnn.crossbar.read.noise_tables` as numpy views (cached per dtype)."""
    tab = _TABLES_NP.get(dt)
    if tab is None:
        t, d = noise_tables(dt)
        tab = _TABLES_NP[dt] = (t.numpy(), d.numpy())
    return tab


def _arange(k: int) -> np.ndarray:
    a = _ARANGE.get(k)
    if a is None:
        a = _ARANGE[k] = np.arange(k, dtype=np.int64)
        a.flags.writeable = False
    return a


def finish(spec: ReadSpec, acc: torch.Tensor, s, post: torch.Tensor, key: int, members, rows: int):
    """:func:`physnn.crossbar.read.finish` as one fused pass (same arguments and numbers), in
    place on ``acc`` when it is one contiguous block (the GEMM's fresh result), else on a copy.
    The saturation flags come back as a numpy bool array (``any()``, indexing and ``reshape``
    behave as the reference's tensor does for :func:`~physnn.crossbar.read.read_with`), or None
    when no tile saturated (the kernel counts them)."""
    p = _prepared(spec)
    if not acc.is_contiguous():
        acc = acc.contiguous()
    an = acc.numpy()
    k = 1 if an.ndim == 2 else an.shape[0]
    flags = _fused(
        p,
        spec,
        an[None] if an.ndim == 2 else an,
        s,
        p.scale if post is spec.scale else post.numpy().reshape(-1),
        key,
        _arange(k) if members is None else members.numpy(),
        rows,
    )
    return acc, (flags.reshape(()) if flags is not None and an.ndim == 2 else flags)


def _make_copies(ft, parallel: bool):
    """``out[r, k, j] = y[r, k or 0, j] + std[k] * z(key_k, r * M + j)``: the arithmetic of
    :func:`physnn.crossbar.read.add_counter_normal` (:func:`noise_row` per row and copy)."""
    row_noise = noise_row(ft)

    @numba.njit(inline="always", error_model="numpy")
    def rows(q0, q1, y, out, std, klo, khi, t, d):
        n_k, n_m = out.shape[1], out.shape[2]
        hb = scratch(n_m, np.uint32)
        fb = scratch(n_m, ft)
        for q in range(q0, q1):
            r = q // n_k
            k = q - r * n_k
            src = y[r, 0 if y.shape[1] == 1 else k]
            if std[k] > 0:
                row_noise(out[r, k], src, np.uint32((r * n_m) & 0xFFFFFFFF), klo[k], khi[k], std[k], t, d, hb, fb)
            else:
                out[r, k, :] = src

    if parallel:

        @numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
        def copies_prange(y, out, std, klo, khi, t, d, n_blocks):
            n_q = out.shape[0] * out.shape[1]
            for blk in numba.prange(n_blocks):
                rows(blk * n_q // n_blocks, (blk + 1) * n_q // n_blocks, y, out, std, klo, khi, t, d)

        return copies_prange

    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def copies_serial(y, out, std, klo, khi, t, d, n_blocks):
        rows(0, out.shape[0] * out.shape[1], y, out, std, klo, khi, t, d)

    return copies_serial


def add_counter_normal(y: torch.Tensor, std: torch.Tensor, keys: list[int], out: torch.Tensor) -> torch.Tensor:
    """:func:`physnn.crossbar.read.add_counter_normal` in one compiled pass into ``out`` (same
    numbers as the reference)."""
    dt = y.dtype
    n_thr = _threads()
    kname = ("copies", dt, n_thr > 1)
    if kname not in _KERNELS:
        _KERNELS[kname] = _make_copies(np.float32 if dt == torch.float32 else np.float64, n_thr > 1)
    k = np.array(keys, dtype=np.uint64)
    t, d = _tables(dt)
    _KERNELS[kname](
        y.detach().numpy(),
        out.numpy(),
        std.detach().to(dt).contiguous().numpy(),
        (k & np.uint64(0xFFFFFFFF)).astype(np.uint32),
        (k >> np.uint64(32)).astype(np.uint32),
        t,
        d,
        min(out.shape[0] * out.shape[1], 4 * n_thr),
    )
    return out


class NumbaCPU:
    """torch GEMM + one fused numba pass (see the module doc).

    ``NumbaCPU.threads``: numba threads of the two passes (None, the default: torch's thread
    count). On a machine loaded by other processes 1 can be faster: numba's OpenMP layer links the
    system libgomp while torch ships its own copy, and two OpenMP pools on 2 cores spin against
    each other (measured at load 7: ``linear_ratio`` 1.68 with 1 numba thread vs 2.58 with 2; at
    load 1.5: 1.83 with 1 vs 1.52 with 2). The result does not depend on it (element-wise passes).
    """

    name = "numba_cpu"
    threads: int | None = None

    def unsupported(self, spec: ReadSpec, x: torch.Tensor, per_member: bool) -> str | None:
        if numba is None:
            return "numba is not installed"
        w = spec.weight
        if not isinstance(x, torch.Tensor) or not (x.is_cpu and w.is_cpu):
            return "CPU tensors only"
        if w.dtype not in _DTYPES or x.dtype != w.dtype:
            return f"float32/float64 only, with x.dtype == weight.dtype (got {x.dtype}, {w.dtype})"
        if spec.ir is not None:
            return "no IR-drop circuit solve"
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, w, spec.scale, spec.bias)):
            return "no autograd (use the reference for gradients)"
        return None

    def unsupported_noise(self, y: torch.Tensor, out: torch.Tensor) -> str | None:
        """Why :meth:`add_counter_normal` cannot take these tensors, or None."""
        if numba is None:
            return "numba is not installed"
        if y.device.type != "cpu" or out.device.type != "cpu":
            return "CPU tensors only"
        if y.dtype not in _DTYPES or out.dtype != y.dtype:
            return f"float32/float64 only, with out.dtype == y.dtype (got {y.dtype}, {out.dtype})"
        if torch.is_grad_enabled() and y.requires_grad:
            return "no autograd (use the reference for gradients)"
        if np.may_share_memory(y.detach().numpy(), out.numpy()):
            # the parallel pass is compiled with noalias arrays: an out that overlaps y is
            # undefined behaviour there (the reference handles it)
            return "out overlaps y"
        return None

    @staticmethod
    def add_counter_normal(y: torch.Tensor, std: torch.Tensor, keys: list[int], out: torch.Tensor) -> torch.Tensor:
        return add_counter_normal(y, std, keys, out)

    def __call__(self, spec: ReadSpec, x: torch.Tensor, per_member: bool) -> torch.Tensor:
        why = self.unsupported(spec, x, per_member)
        if why is not None:
            raise ValueError(f"backend='numba_cpu' cannot do this read: {why}")
        return self.run(spec, x, per_member)

    @staticmethod
    def run(spec: ReadSpec, x: torch.Tensor, per_member: bool) -> torch.Tensor:
        """The read, ``unsupported`` already checked: :func:`~physnn.crossbar.read.read_with`'s
        first attempt written out with the spec's prepared kernels and views (``spec.memo``), then
        its :func:`~physnn.crossbar.read.bound_manage`. Each layer of Python costs several
        microseconds right after a GEMM (caches refilled), so the common read takes the short way;
        a device law or an empty input takes ``read_with`` itself."""
        if spec.iv is not None:
            return read_with(finish, spec, x, per_member, dac, empty)
        x2, shape = spec.layout(x, per_member)
        if x2.numel() == 0:
            return read_with(finish, spec, x, per_member, dac, empty)
        p = _prepared(spec)
        s, codes = _dac_np(p, spec, x2)
        rows, n_out = x2.shape[-2], spec.weight.shape[-2]
        acc = mvm(
            spec,
            torch.from_numpy(codes),
            None,
            out=empty((rows, n_out) if spec.weight.dim() == 2 else (p.tiles, rows, n_out), x2.dtype),
        )
        y = acc.numpy()
        flags = _fused(p, spec, y[None] if y.ndim == 2 else y, s, p.scale, spec.key, _arange(p.tiles), rows)
        if flags is None:  # no tile saturated: nothing for bound management to repeat
            return acc if acc.shape == shape else acc.reshape(shape)
        return bound_manage(finish, spec, x2, s, acc, flags.reshape(()) if y.ndim == 2 else flags, shape)
