"""Fused CPU kernels of the read path: the DAC pass before the GEMM, output noise + ADC
rounding + output scaling + bias in one pass after it, and the jobs of the lanes that run
DAC -> GEMM -> that pass as one GIL-free call per piece of a read.

Why hand-written: torch has no fused CPU op for "add Gaussian noise, round, find max |y|", and the
unfused chain (one ``randn``/hash pass, an ``addmm`` with ``beta``, ``round_``, ``aminmax``) costs
about as much as the 512x512x256 GEMM itself, so ``AnalogLinear`` would run at ~2x ``nn.Linear``.
These numba kernels draw the noise with the same counter-based scheme as
:func:`physnn.crossbar.layer.fast_normal` (splitmix64 hash of ``key + block`` -> four 16-bit
indices into the table of 65536 normal quantiles; the hashes of a row are computed in one
vectorised pass first), add it, round to the ADC code, and return the largest |code| for
bound management. (A vectorised arithmetic inverse-normal — Wichura's AS241 rational
approximations with a bit-level log — was measured at 3.5 ns a draw against ~1 ns for the
cache-resident table, and dropped.)

Only used on CPU tensors when numba imports; everything else takes the torch path."""

from __future__ import annotations

import numpy as np
import torch

try:  # numba is a dependency, but keep the package importable without it
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

from ._blas import DGEMM, SGEMM, gemm_xwt
from . import _lanes
from ._lanes import fetch_add

__all__ = ["available", "go", "noise_round_", "normal_fill_", "run_job", "serve", "subkey"]

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
    def _hash_run(h, key, b0, nb):  # pragma: no cover - compiled
        """``h[j] = hash(key, b0 + j)`` for ``j < nb`` (vectorises: no table, no branches)."""
        for j in range(nb):
            z = key + np.uint64(b0 + j) * _GOLDEN
            z = (z ^ (z >> np.uint64(30))) * _MIX1
            z = (z ^ (z >> np.uint64(27))) * _MIX2
            h[j] = z ^ (z >> np.uint64(31))

    @numba.njit(cache=True, nogil=True)
    def _read_kernel(y, key, first, sig, table, M, do_round, rs, scale, bias, mask):  # pragma: no cover
        # y (rows, cols) in place: codes v = round(y + sig * N(0,1)) -> clamp(v, -M, M) * rs[r] *
        # scale + bias[c]; the noise of element (r, c) is the counter-based draw number
        # first + r * cols + c of ``key`` (the same numbers as noise_round_ on the whole read).
        # The hashes of a row are computed first in one vectorised pass; the four 16-bit slices
        # of hash j are then draws 4j..4j+3, read through a uint16 view (little-endian order).
        rows, cols = y.shape
        bits = y.view(mask.dtype)
        m = mask[0] & mask[0]
        m -= m
        has_bias = bias.size > 0
        h = np.empty(cols // 4 + 2, np.uint64)
        h16 = h.view(np.uint16)
        for r in range(rows):
            if sig > 0:
                f = first + r * cols
                b0 = f >> 2
                _hash_run(h, key, b0, ((f + cols + 3) >> 2) - b0)
                off = f & 3
                for c in range(cols):
                    y[r, c] += sig * table[h16[off + c]]
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


    @numba.njit(cache=True, nogil=True, inline="always")
    def _subkey(key, member, attempt):  # pragma: no cover - compiled
        z = key + _GOLDEN * np.uint64((member << 20) + attempt + 1)
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))

    @numba.njit(cache=True, nogil=True)
    def _rows_piece(fn, x, xc, s, w, y, key, first, sig, table, M, do_round, scale, bias,
                    step_red, k, L, abs_max, do_clamp, mask, ws_i, ws_f):  # pragma: no cover
        """A block of rows of a read end to end: DAC codes, GEMM (torch's BLAS), noise + ADC +
        scale + bias. Returns the largest |code| before clamping."""
        _dac_kernel(x, xc, s, step_red, k, L, abs_max, do_clamp, mask)
        gemm_xwt(fn, xc, w, y, ws_i, ws_f)
        return _read_kernel(y, key, first, sig, table, M, do_round, s, scale, bias, mask)

    @numba.njit(cache=True, nogil=True)
    def _members_piece(fn, x, xc, s, w3, out, counter, key, sig, table, M, do_round, bm, max_red,
                       post, bias, step, L, abs_max, do_clamp, mask, ws_i, ws_f):  # pragma: no cover
        """Ensemble members of a read, claimed one at a time from ``counter[0]`` (shared by the
        lanes: whoever is free takes the next member). Each member: DAC codes of its input
        (``x`` has one slice, shared by all members, or one per member), GEMM, noise + ADC +
        scale + bias with its own noise stream ``subkey(key, e, attempt)``, and its own bound
        management (halve the inputs and read again while the ADC saturates)."""
        E = out.shape[0]
        shared = x.shape[0] == 1
        t = np.empty(3, out.dtype)        # scalars rounded to the data's dtype, as in dac_rows_
        have = False                      # xc holds the shared input's unreduced codes
        while True:
            e = fetch_add(counter, 0, 1)
            if e >= E:
                return
            xe = x[0] if shared else x[e]
            red = 1.0
            attempt = 0
            while True:
                if not (shared and red == 1.0 and have):
                    t[0] = step * red
                    t[1] = 1.0 / (step * red)
                    _dac_kernel(xe, xc, s, t[0], t[1], L, abs_max, do_clamp, mask)
                    have = shared and red == 1.0
                gemm_xwt(fn, xc, w3[e], out[e], ws_i, ws_f)
                t[2] = post[e] * red
                mx = _read_kernel(out[e], _subkey(key, e, attempt), 0, sig, table, M, do_round, s,
                                  t[2], bias, mask)
                if not (bm and M > 0 and mx > M and red <= max_red):
                    break
                red *= 2.0
                attempt += 1


MASKS = {np.dtype(np.float32): np.array([0x7FFFFFFF], dtype=np.int32),
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


# ---------------------------------------------------------------------------------------------
# Jobs of the native lanes (physnn.crossbar._lanes): a job is one int64 row J and one float64
# row F of the pool's tables; slots 0-3 of J belong to the pool.
# ---------------------------------------------------------------------------------------------

(KIND, GEMM, X, Y, W, TABLE, BIAS, NBIAS, MASK, XC, S, ROWS, IN, OUT, R0, R1, KEY, FIRST, ABS_MAX,
 CLAMP, NMEM, COUNTER, POST, BM, NX) = range(4, 29)
SIG, MAXC, SCALE, STEP, LEV, MAX_RED, RESULT = range(7)
ROWS_JOB, MEMBERS_JOB = 1, 2          # + 2 for float64 data
PER_READ = np.array([X, Y, KEY], dtype=np.int64)   # the slots a prepared read writes per call

if numba is not None:
    from numba import carray

    from ._lanes import AWAKE as AWAKE_
    from ._lanes import DONE, POSTED, load, ptr, store
    from ._lanes import FAILED as FAILED_

    @numba.njit(cache=True, nogil=True)
    def _job(J, F, like, ilike):  # pragma: no cover - compiled
        kind = J[KIND] - 2 * (like.itemsize == 8)
        if kind != ROWS_JOB and kind != MEMBERS_JOB:
            raise ValueError("physnn lanes: unknown job kind (or a job on another dtype)")
        isz = like.itemsize
        in_f, out_f = J[IN], J[OUT]
        table = carray(ptr(J[TABLE], like), (65536,))
        bias = carray(ptr(J[BIAS], like), (J[NBIAS],))
        mask = carray(ptr(J[MASK], ilike), (1,))
        gi = np.empty(8, np.int32)
        gf = np.empty(2, like.dtype)
        t = np.empty(6, like.dtype)       # scalars in the data's dtype, as the Python wrappers pass them
        t[0] = F[SIG]
        t[1] = F[MAXC]
        t[2] = F[SCALE]
        t[3] = F[STEP]
        t[4] = 1.0 / F[STEP]
        t[5] = F[LEV]
        key = np.uint64(J[KEY])
        if kind == ROWS_JOB:            # a block of rows
            r0, r1 = J[R0], J[R1]
            x = carray(ptr(J[X] + r0 * in_f * isz, like), (r1 - r0, in_f))
            y = carray(ptr(J[Y] + r0 * out_f * isz, like), (r1 - r0, out_f))
            w = carray(ptr(J[W], like), (out_f, in_f))
            xc = carray(ptr(J[XC], like), (r1 - r0, in_f))
            s = carray(ptr(J[S], like), (r1 - r0,))
            F[RESULT] = _rows_piece(J[GEMM], x, xc, s, w, y, key, J[FIRST] + r0 * out_f, t[0], table, t[1],
                                    t[1] >= 0, t[2], bias, t[3], t[4], t[5], J[ABS_MAX] != 0, J[CLAMP] != 0,
                                    mask, gi, gf)
        else:                           # ensemble members, claimed from a shared counter
            E, rows = J[NMEM], J[ROWS]
            x = carray(ptr(J[X], like), (J[NX], rows, in_f))
            out = carray(ptr(J[Y], like), (E, rows, out_f))
            w3 = carray(ptr(J[W], like), (E, out_f, in_f))
            xc = carray(ptr(J[XC], like), (rows, in_f))
            s = carray(ptr(J[S], like), (rows,))
            counter = carray(ptr(J[COUNTER], J), (1,))
            post = carray(ptr(J[POST], F), (E,))
            _members_piece(J[GEMM], x, xc, s, w3, out, counter, key, t[0], table, t[1], t[1] >= 0, J[BM] != 0,
                           F[MAX_RED], post, bias, F[STEP], t[5], J[ABS_MAX] != 0, J[CLAMP] != 0, mask, gi, gf)

    @numba.njit(cache=True, nogil=True)
    def _serve(J, F, spin, like, ilike):  # pragma: no cover - compiled
        seen = load(J, DONE)
        idle = 0
        while idle < spin:
            if load(J, POSTED) > seen:
                if (J[KIND] > MEMBERS_JOB) != (like.itemsize == 8):
                    return 1                  # a job on the other dtype: re-enter with that one
                _job(J, F, like, ilike)
                seen += 1
                store(J, DONE, seen)
                idle = 0
            else:
                idle += 1
        return 0

    @numba.njit(cache=True, nogil=True)
    def _go(Jall, Fall, n, slots, vals, like, ilike):  # pragma: no cover - compiled
        """A prepared read in one call: write ``vals`` into ``slots`` of rows ``0..n-1``, post
        rows ``1..n-1``; if a worker sleeps, return the bit mask of the sleeping ones (the
        caller wakes them and calls :func:`_rest`), else run row 0 here, wait for the others
        and return -1."""
        for k in range(n):
            for i in range(slots.size):
                Jall[k, slots[i]] = vals[i]
        asleep = 0
        for k in range(1, n):
            row = Jall[k]
            row[FAILED_] = 0
            store(row, POSTED, load(row, POSTED) + 1)
            if load(row, AWAKE_) == 0:
                asleep |= 1 << k
        if asleep:
            return asleep
        _rest(Jall, Fall, n, like, ilike)
        return -1

    @numba.njit(cache=True, nogil=True)
    def _rest(Jall, Fall, n, like, ilike):  # pragma: no cover - compiled
        _job(Jall[0], Fall[0], like, ilike)
        _wait_all(Jall, n)

    @numba.njit(cache=True, nogil=True)
    def _wait_all(Jall, n):  # pragma: no cover - compiled
        for k in range(1, n):
            while load(Jall[k], DONE) < load(Jall[k], POSTED):
                pass

    def go(pool: "_lanes.Pool", n: int, slots: np.ndarray, vals: np.ndarray, f64: bool) -> None:
        """Run a prepared read whose job rows are in ``pool`` (see :func:`_go`) with the
        caller's torch threads set to 1; re-raise the first failure once every lane is done."""
        like, ilike = _LIKE[f64]
        J, F = pool.J, pool.F
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        err: BaseException | None = None
        try:
            mask = _go(J, F, n, slots, vals, like, ilike)
            if mask >= 0:
                pool.wake(mask)
                _rest(J, F, n, like, ilike)
        except BaseException as exc:  # noqa: BLE001 - re-raised once the workers are done
            err = exc
            _wait_all(J, n)
        finally:
            torch.set_num_threads(threads)
        pool.raise_failures(n, err)

    # the compiled loop is specialised per dtype (compiled on first use: a float32-only user never
    # waits for the float64 kernels)
    _LIKE = ((np.empty(0, np.float32), np.empty(0, np.int32)), (np.empty(0, np.float64), np.empty(0, np.int64)))

    def _check_kind(J: np.ndarray) -> bool:
        kind = int(J[KIND])
        if kind not in (ROWS_JOB, MEMBERS_JOB, ROWS_JOB + 2, MEMBERS_JOB + 2):
            raise ValueError(f"physnn lanes: unknown job kind {kind}")
        return kind > MEMBERS_JOB

    _L32, _I32 = _LIKE[0]
    _L64, _I64 = _LIKE[1]

    def run_job(J: np.ndarray, F: np.ndarray) -> None:
        """Run the job described by ``J``/``F`` (see the slot names above) in this thread."""
        kind = J[KIND]
        if kind == ROWS_JOB or kind == MEMBERS_JOB:
            _job(J, F, _L32, _I32)
        else:
            _job(J, F, _L64, _I64) if _check_kind(J) else None

    def serve(J: np.ndarray, F: np.ndarray, spin: int) -> None:
        """A worker's job loop: run each job posted in ``J`` and mark it done; return after
        ``spin`` polls without a job. (Compiled and GIL-free but for a switch of dtype.)"""
        f64 = False
        while _serve(J, F, spin, *_LIKE[f64]):
            f64 = _check_kind(J)
else:  # pragma: no cover
    run_job = serve = go = None


def lanes_pool(n: int) -> "_lanes.Pool":
    """The process's lane pool (at least ``n`` lanes) running these jobs."""
    return _lanes.pool(n, serve)


def fill_common(J: np.ndarray, F: np.ndarray, gemm: int, x: np.ndarray, w: np.ndarray, table: np.ndarray,
                bias: np.ndarray | None, key: int, sig: float, M: float, step: float, L: float, abs_max: bool,
                clamp: bool, *, members: bool) -> None:
    """The slots of a job shared by both kinds (the output address ``Y`` is set per read)."""
    J[KIND] = (MEMBERS_JOB if members else ROWS_JOB) + 2 * (x.dtype == np.float64)
    J[GEMM] = gemm
    J[X] = x.ctypes.data
    J[W] = w.ctypes.data
    J[TABLE] = table.ctypes.data
    J[BIAS] = 0 if bias is None else bias.ctypes.data
    J[NBIAS] = 0 if bias is None else bias.size
    J[MASK] = MASKS[x.dtype].ctypes.data
    J[KEY] = key
    J[ABS_MAX] = abs_max
    J[CLAMP] = clamp
    F[SIG] = sig
    F[MAXC] = M
    F[STEP] = step
    F[LEV] = L


def fill_rows(J: np.ndarray, F: np.ndarray, r0: int, r1: int, rows: int, in_f: int, out_f: int, scale: float) -> None:
    """Rows ``r0:r1`` of a read of ``rows`` rows; ``scale``: output scale of a code."""
    J[R0], J[R1], J[ROWS], J[IN], J[OUT], J[FIRST] = r0, r1, rows, in_f, out_f, 0
    F[SCALE] = scale


def fill_members(J: np.ndarray, F: np.ndarray, E: int, rows: int, in_f: int, out_f: int, nx: int,
                 counter: np.ndarray, post: np.ndarray, bm: bool, max_red: float) -> None:
    """An ensemble read's share: members claimed from ``counter``; ``nx``: 1 (shared input) or
    ``E``; ``post`` float64 (E,) output scales; bound management per member."""
    J[NMEM], J[ROWS], J[IN], J[OUT], J[NX] = E, rows, in_f, out_f, nx
    J[COUNTER], J[POST], J[BM] = counter.ctypes.data, post.ctypes.data, bm
    F[MAX_RED] = max_red


def fill_scratch(J: np.ndarray, xc: np.ndarray, s: np.ndarray) -> None:
    """The lane's scratch: input codes and row scales."""
    J[XC], J[S] = xc.ctypes.data, s.ctypes.data
