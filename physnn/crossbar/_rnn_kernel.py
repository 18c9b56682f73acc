"""Compiled evaluation loops of the crossbar RNNs on the CPU: a whole sequence in one numba call.

Why hand-written: the TorchScript loop of :meth:`AnalogLSTMCell._fused_sequence` issues about
twenty small tensor operations per step (DAC scale, rounding, noise, product, gate ramps, state
update), each a separate pass over a ``B x 4H`` block with its own dispatch cost; at hidden size
128 and batch 64 those passes cost more than the step's matrix products, and the input projection
of all steps plus their pre-drawn noise made two ``T x B x 4H`` arrays that went through memory.
Here a step is: the DAC codes of the step's input rows and of ``h``, two GEMMs (torch's own
``sgemm_``/``dgemm_``, see :mod:`._blas`; the input crossbar is read inside the loop when it has no
ADC), then one pass per row that forms the input projection, draws the output noise
(counter-based, the numbers of :func:`~physnn.crossbar._fused.normal_fill_`), applies the optional
ADC, evaluates the four gates and the state activation and writes ``h``. Neither torch nor scipy
offers such a fused recurrent step for arbitrary elementwise physics, hence the kernel.

The DAC codes are AnalogLinear's own (:func:`~physnn.crossbar._fused._dac_kernel`, called here);
the rest follows the TorchScript loop in the data's dtype (noise scaling, ADC rounding, state
update), with differences of float round-off only: products are formed from the unscaled codes
and scaled afterwards (``(x @ W) s`` instead of ``(x s) @ W``), the input read's scale and biases
are applied per row in the loop, and the sigmoid is the routine below (float32: within 2.2 ulp;
torch's own is within 2.3 ulp). A ramp code can therefore differ from the TorchScript loop's only
for a pre-activation within round-off of a ramp threshold.

:func:`gated_sequence` does the same for the GRU and the Elman RNN, whose gates need the
recurrent read on its own (the GRU's reset gate multiplies it): their input projection is the input
crossbar's ordinary read of all steps, and each step's recurrent read runs inside the loop with
AnalogLinear's own row kernels (:func:`~physnn.crossbar._fused._dac_kernel`, GEMM,
:func:`~physnn.crossbar._fused._read_kernel`).

The gate and state activations share one form: ``v = B + A * sigmoid(beta * x)``; ideal
activations use ``(A, B, beta) = (1, 0, 1)`` for sigmoid and ``(2, -1, 2)`` for tanh
(``tanh(x) = 2 sigmoid(2x) - 1``); a ramp ADC in closed form (see ``_GateActivation``) gives its
count ``clamp(round(v), 0, M)`` and the level ``y0 + count * lsb``.
"""

from __future__ import annotations

import numpy as np
import torch

from .._vmath import INV_LN2 as _INV_LN2, LN2_HI as _LN2_HI, LN2_LO as _LN2_LO
from . import _blas, _fused

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None

__all__ = ["available", "gated_sequence", "lstm_sequence"]


# integer flags (ip) and scalars (fp, in the data dtype) of lstm_sequence; GATE_RAMP / STATE_RAMP
# hold the activation mode: 0 ideal, 1 ramp ADC in closed form, 2 ramp ADC by threshold table
(ABS_MAX, HAS_DAC, CLAMP_IN, HAS_ADC, GATE_RAMP, STATE_RAMP, GATE_CLAMP, STATE_CLAMP, HAS_NOISE, HAS_STDS,
 IN_GEMM, IN_ABS_MAX, IN_HAS_DAC, IN_CLAMP) = range(14)
MULT, STEP, LIM, SIG, ADC_M, GATE_M, STATE_M, ONE, IN_MULT, IN_STEP, IN_LIM, IN_SIG = range(12)


def available(dtype: torch.dtype) -> bool:
    """Whether the compiled loops can run for this dtype (numba present, torch exports the GEMM)."""
    if numba is None:
        return False
    return {torch.float32: _blas.SGEMM, torch.float64: _blas.DGEMM}.get(dtype, 0) != 0


_F32 = np.float32
# float32 constants: ln 2 split for Cody-Waite (the high part has 9 significant bits, so k * hi is
# exact for |k| < 2^15), 1/ln 2, and 1.5 * 2^23 (adding and subtracting it rounds to an integer)
_LN2_HI32, _LN2_LO32 = _F32(0.693359375), _F32(-2.12194440e-4)
_INV_LN2_32, _ROUND32 = _F32(_INV_LN2), _F32(12582912.0)
_T32 = tuple(_F32(1.0 / f) for f in (5040.0, 720.0, 120.0, 24.0, 6.0, 2.0))
_ONE32, _LIM32 = _F32(1.0), _F32(80.0)
_ROUND64 = 6755399441055744.0  # 1.5 * 2^52


def sigmoid_row(z, out, pm, kb):  # pragma: no cover - replaced by the compiled overload below
    """``out[j] = 1 / (1 + exp(-z[j]))`` for a row ``z`` (float32 or float64); ``pm``: scratch of
    the row's length and dtype, ``kb``: int32 (float32) or int64 (float64) scratch."""
    raise NotImplementedError("sigmoid_row runs inside numba kernels only")


if numba is not None:
    from numba import types
    from numba.extending import overload

    from .._vmath import expm1_reduced

    def _sigmoid32(z, out, pm, kb):  # pragma: no cover - compiled
        # exp(w), w = -z clipped to [-80, 80] (sigmoid is 1 or < 2e-35 beyond): w = k ln2 + r,
        # |r| <= ln2/2, exp(r) by its Taylor series to r^7 (remainder < 6e-9 relative), 2^k from
        # the exponent bits ((k + 127) << 23, read back through a float32 view of ``kb``).
        # Arithmetic, shifts and selects only, so LLVM vectorises both passes (libm's exp is a
        # scalar call: no SVML here). Within 2.2 ulp of the float64 sigmoid (torch: 2.3 ulp).
        sc = kb.view(np.float32)
        for j in range(z.shape[0]):
            w = min(max(-z[j], -_LIM32), _LIM32)
            kf = (w * _INV_LN2_32 + _ROUND32) - _ROUND32
            r = (w - kf * _LN2_HI32) - kf * _LN2_LO32
            p = _T32[0]
            p = p * r + _T32[1]
            p = p * r + _T32[2]
            p = p * r + _T32[3]
            p = p * r + _T32[4]
            p = p * r + _T32[5]
            pm[j] = (p * r + _ONE32) * r + _ONE32
            kb[j] = (np.int32(kf) + np.int32(127)) << np.int32(23)
        for j in range(z.shape[0]):
            v = _ONE32 / (_ONE32 + sc[j] * pm[j])
            out[j] = v if z[j] == z[j] else z[j]  # NaN stays NaN

    def _sigmoid64(z, out, pm, kb):  # pragma: no cover - compiled
        # as _sigmoid32 in float64: w clipped to [-60, 60] (sigmoid is 1 or < 1e-26 beyond),
        # Taylor series to r^13 (remainder < 5e-18), 2^k = (k + 1023) << 52; within 4 ulp.
        sc = kb.view(np.float64)
        for j in range(z.shape[0]):
            w = min(max(-z[j], -60.0), 60.0)
            kf = (w * _INV_LN2 + _ROUND64) - _ROUND64
            r = (w - kf * _LN2_HI) - kf * _LN2_LO
            pm[j] = expm1_reduced(r) + 1.0
            kb[j] = (np.int64(kf) + 1023) << 52
        for j in range(z.shape[0]):
            v = 1.0 / (1.0 + sc[j] * pm[j])
            out[j] = v if z[j] == z[j] else z[j]  # NaN stays NaN

    # multiply-adds may fuse (FMA) inside the sigmoid only: same accuracy, 1.8x faster here
    @overload(sigmoid_row, jit_options={"fastmath": {"contract"}, "boundscheck": False,
                                        "error_model": "numpy"})
    def _sigmoid_row_overload(z, out, pm, kb):
        if z.dtype == types.float32:
            return _sigmoid32
        if z.dtype == types.float64:
            return _sigmoid64
        return None

    @numba.njit(error_model="numpy")
    def _sigmoid_apply(z, out, pm, kb):  # pragma: no cover - compiled
        sigmoid_row(z, out, pm, kb)

    def sigmoid_array(z: np.ndarray) -> np.ndarray:
        """Sigmoid of a float32 or float64 vector by the kernels' routine (for tests)."""
        z = np.ascontiguousarray(z)
        out = np.empty_like(z)
        _sigmoid_apply(z, out, np.empty_like(z), np.empty(z.shape, np.int32 if z.dtype == np.float32 else np.int64))
        return out

    @numba.njit(inline="always", boundscheck=False, error_model="numpy")
    def _levels(sg, tab, out, ramp, clamp, zero, m):  # pragma: no cover - compiled
        """Activation values from the row's sigmoids ``sg``: ``v = B + A sg`` per column (``tab``
        rows A, B, beta, y0, lsb); with a ramp, the level ``y0 + clamp(round(v), 0, m) lsb``."""
        if ramp:
            for j in range(sg.shape[0]):
                code = np.rint(tab[1, j] + sg[j] * tab[0, j])
                if clamp:
                    code = min(max(code, zero), m)
                out[j] = tab[3, j] + code * tab[4, j]
        else:
            for j in range(sg.shape[0]):
                out[j] = tab[1, j] + sg[j] * tab[0, j]

    @numba.njit(inline="always", boundscheck=False, error_model="numpy")
    def _table_levels(x, e, lut, base, cells, cnt, out):  # pragma: no cover - compiled
        """Ramp levels by exact comparator count: ``y0 + slope * #(thresholds < x)`` per column, with
        the cell table of :class:`~physnn.crossbar.ramp_adc.ThresholdLookup` (``lut`` rows inv,
        shift, low, high, y0, slope of shape (6, E, n); ``base`` count below each cell, ``cells``
        the thresholds inside them; ``cnt`` scratch of the dtype). A NaN input stays NaN."""
        for j in range(x.shape[0]):
            xv = x[j]
            u = min(max(xv * lut[0, e, j] + lut[1, e, j], lut[2, e, j]), lut[3, e, j])
            idx = np.int64(u)
            c = base[idx]
            for k in range(cells.shape[0]):
                c += cells[k, idx] < xv
            cnt[j] = c
        for j in range(x.shape[0]):
            v = lut[4, e, j] + lut[5, e, j] * cnt[j]
            out[j] = v if x[j] == x[j] else x[j]

    @numba.njit(inline="always", boundscheck=False, error_model="numpy")
    def _activate(z, mode, tab, clamp, zero, m, e, lut, base, cells, sg, pm, kb, out):  # pragma: no cover
        """One activation of a row in any mode (0 ideal, 1 closed-form ramp, 2 threshold table);
        ``z`` holds the pre-activation times the column's ``beta``."""
        if mode == 2:
            _table_levels(z, e, lut, base, cells, pm, out)
        else:
            sigmoid_row(z, sg, pm, kb)
            _levels(sg, tab, out, mode == 1, clamp, zero, m)

    @numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
    def lstm_sequence(fn, xs, xin, w_in, in_post, bias, key, table, stds, w, post, h, c, outs, gate, state,
                      lut_g, base_g, cells_g, lut_s, base_s, cells_s, ip, fp, mask, xc, y, xc_in, y_in,
                      rows_g, kb_g, rows_h, kb_h, hbuf, ws_i, ws_f):  # pragma: no cover - compiled
        """Run the evaluation LSTM over all steps.

        Parameters (all C-contiguous; float arrays in the data dtype unless stated)
        ----------
        fn : int
            Address of the GEMM matching the dtype (``_blas.SGEMM`` / ``_blas.DGEMM``).
        xs : (T, E, B, 4H)
            Input projection of every step with both biases, used unless ``ip[IN_GEMM]``.
        xin, w_in, in_post, bias : (T, B, I), (E, I, 4H), (E,), (4H,)
            With ``ip[IN_GEMM]``, the input crossbar is read inside the loop instead: DAC codes of
            ``xin[t]`` (flags IN_ABS_MAX, IN_HAS_DAC, IN_CLAMP; scalars IN_MULT, IN_STEP, IN_LIM), product
            with the code-domain weights ``w_in`` (transposed ``w_code``), digital scale
            ``in_post`` and both biases ``bias``; its output noise (std ``IN_SIG`` codes) is
            drawn together with the recurrent read's (one Gaussian of the summed variance).
        key : uint64
            Key of the output noise: element ``(t, e, b, j)`` gets the counter-based draw number
            ``((t E + e) B + b) 4H + j`` of ``key`` from the quantile ``table`` -- the numbers
            :func:`~physnn.crossbar._fused.normal_fill_` puts in a ``(T, E, B, 4H)`` array.
        stds : (T, E, B)
            Std of the deferred input-read noise (weight units) when ``ip[HAS_STDS]`` and the
            projection comes in ``xs``.
        w : (E, H, 4H)
            Code-domain recurrent weights (transposed ``w_code``).
        post : (E,)
            Digital output scale per member.
        h, c : (E, B, H)
            Initial state, overwritten with the final state.
        outs : (T, E, B, H)
            Receives ``h`` of every step.
        gate : (5, 4H)
            Per column ``A, B, beta, y0, lsb`` of the gate activations; ``state`` : (5, H) the same
            for the state activation (tanh). In mode 2 only ``beta`` is used (1: the comparators
            see the pre-activation itself).
        lut_g, base_g, cells_g : (6, E, 4H), int64 (n,), (k, n)
            Mode 2: the gates' threshold tables (see :func:`_table_levels`); ``lut_s``,
            ``base_s``, ``cells_s`` the same for the state activation.
        ip : int64 (14,)
            Flags ABS_MAX, HAS_DAC, CLAMP_IN, HAS_ADC, GATE_RAMP, STATE_RAMP (modes), GATE_CLAMP,
            STATE_CLAMP, HAS_NOISE, HAS_STDS, IN_GEMM, IN_ABS_MAX, IN_HAS_DAC, IN_CLAMP.
        fp : (12,)
            MULT (1 / DAC step), STEP (DAC step), LIM (DAC code limit), SIG (output-noise std in
            code units), ADC_M (ADC code limit), GATE_M, STATE_M (ramp code limits), ONE (1, so
            that all scalar arithmetic stays in the dtype), and IN_MULT, IN_STEP, IN_LIM, IN_SIG
            for the input crossbar. The DAC codes are those of AnalogLinear's read
            (:func:`~physnn.crossbar._fused._dac_kernel`).
        mask : (1,) int32 or int64
            Clears the sign bit of the dtype (``|x|`` maxima are taken on the bits as integers,
            which vectorises where a float maximum with NaN rules does not).
        xc, y, xc_in, y_in : (B, H), (B, 4H), (B, I), (B, 4H)
            Scratch for the DAC codes and the products.
        rows_g, rows_h : (4, 4H), (4, H)
            Row scratch; ``kb_g``, ``kb_h`` integer scratch (int32 for float32, int64 for float64)
            of 4H and H; ``hbuf`` uint64 (H + 2,): noise hashes; ``ws_i`` int32 (8,), ``ws_f``
            (2,): GEMM scratch.

        Rows are addressed with full indices, never sliced: every array view made inside a
        loop costs two reference-count calls.
        """
        T, E, B, G = outs.shape[0], outs.shape[1], outs.shape[2], gate.shape[1]
        H = G // 4
        abs_max, has_dac, clamp_in, has_adc = ip[ABS_MAX] != 0, ip[HAS_DAC] != 0, ip[CLAMP_IN] != 0, ip[HAS_ADC] != 0
        g_mode, s_mode, g_clamp, s_clamp = ip[GATE_RAMP], ip[STATE_RAMP], ip[GATE_CLAMP] != 0, ip[STATE_CLAMP] != 0
        has_noise, has_stds, in_gemm = ip[HAS_NOISE] != 0, ip[HAS_STDS] != 0, ip[IN_GEMM] != 0
        in_abs_max, in_dac, in_clamp = ip[IN_ABS_MAX] != 0, ip[IN_HAS_DAC] != 0, ip[IN_CLAMP] != 0
        sig, adc_m = fp[SIG], fp[ADC_M]
        gm, sm, one = fp[GATE_M], fp[STATE_M], fp[ONE]
        zero = one - one
        dac_l = fp[LIM] if has_dac else -one                # the DAC kernels' "no DAC" is L <= 0
        in_l = fp[IN_LIM] if in_dac else -one
        in_sig = fp[IN_SIG]
        scp = np.empty(B, h.dtype)
        sx = np.empty(B, h.dtype)
        z, sg, pm, gv = rows_g[0], rows_g[1], rows_g[2], rows_g[3]
        zs, ss, pms, tv = rows_h[0], rows_h[1], rows_h[2], rows_h[3]
        h16 = hbuf.view(np.uint16)
        for t in range(T):
            if in_gemm:  # input DAC codes of this step (shared by all members), as AnalogLinear
                _fused._dac_kernel(xin[t], xc_in, sx, fp[IN_STEP], fp[IN_MULT], in_l, in_abs_max, in_clamp, mask)
            for e in range(E):
                _fused._dac_kernel(h[e], xc, scp, fp[STEP], fp[MULT], dac_l, abs_max, clamp_in, mask)
                for b in range(B):
                    scp[b] *= post[e]
                _blas.gemm_xw(fn, xc, w[e], y, ws_i, ws_f)
                if in_gemm:
                    _blas.gemm_xw(fn, xc_in, w_in[e], y_in, ws_i, ws_f)
                for b in range(B):
                    s = scp[b]
                    if has_noise:
                        f = ((t * E + e) * B + b) * G
                        b0 = f >> 2
                        _fused._hash_run(hbuf, key, b0, ((f + G + 3) >> 2) - b0)
                        off = f & 3
                    else:
                        off = 0
                    if in_gemm:  # input projection of the row: codes x scale + biases, in z
                        si = sx[b] * in_post[e]
                        for j in range(G):
                            z[j] = y_in[b, j] * si + bias[j]
                        sd_in = in_sig * si
                    else:
                        for j in range(G):
                            z[j] = xs[t, e, b, j]
                        sd_in = stds[t, e, b] if has_stds else zero
                    with_in = in_gemm or has_stds
                    if has_adc:
                        nstd = np.hypot(sd_in / s, sig) if with_in else sig
                        if has_noise:
                            for j in range(G):
                                v = min(max(np.rint(y[b, j] + table[h16[off + j]] * nstd), -adc_m), adc_m)
                                z[j] = (z[j] + v * s) * gate[2, j]
                        else:
                            for j in range(G):
                                v = min(max(np.rint(y[b, j]), -adc_m), adc_m)
                                z[j] = (z[j] + v * s) * gate[2, j]
                    else:
                        std = np.hypot(sd_in, sig * s) if with_in else sig * s
                        if has_noise:
                            for j in range(G):
                                z[j] = ((z[j] + table[h16[off + j]] * std) + y[b, j] * s) * gate[2, j]
                        else:
                            for j in range(G):
                                z[j] = (z[j] + y[b, j] * s) * gate[2, j]
                    _activate(z, g_mode, gate, g_clamp, zero, gm, e, lut_g, base_g, cells_g, sg, pm, kb_g, gv)
                    for i in range(H):
                        cv = gv[H + i] * c[e, b, i] + gv[i] * gv[2 * H + i]
                        c[e, b, i] = cv
                        zs[i] = cv * state[2, i]
                    _activate(zs, s_mode, state, s_clamp, zero, sm, e, lut_s, base_s, cells_s, ss, pms, kb_h, tv)
                    for i in range(H):
                        hv = gv[3 * H + i] * tv[i]
                        h[e, b, i] = hv
                        outs[t, e, b, i] = hv

    @numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
    def gated_sequence(fn, gru, xs, key, table, w, post, bias, h, outs, act_a, lut_a, base_a, cells_a,
                       act_b, lut_b, base_b, cells_b, ip, fp, mask, xc, y, rows_a, kb_a, rows_b, kb_b,
                       ws_i, ws_f):  # pragma: no cover - compiled
        """Run an evaluation GRU (``gru``) or Elman RNN over all steps; see :func:`lstm_sequence`.

        Per step and member: the recurrent crossbar read ``hp = (round?(W h codes + noise)) s +
        b_hh`` (DAC, GEMM, output noise, optional ADC, digital scale, bias -- as AnalogLinear),
        then GRU: ``r, z = act_a(x_rz + hp_rz)``, ``n = act_b(x_n + r hp_n)``, ``h = n + z (h -
        n)``; Elman: ``h = act_b(x + hp)``.

        ``xs`` (T, E, B, G): the input crossbar's read of every step (with its own noise and
        bias), ``G = 3H`` (GRU) or ``H``. ``bias`` (G,): ``b_hh`` (empty if none). ``act_a`` (5,
        2H) / ``act_b`` (5, H) and the ``lut``/``base``/``cells`` triples: the activations as in
        :func:`lstm_sequence` (modes in ``ip[GATE_RAMP]`` for act_a, ``ip[STATE_RAMP]`` for act_b,
        clamps and code limits likewise). The output noise of element ``(t, e, b, j)`` is draw
        number ``((t E + e) B + b) G + j`` of ``key``. ``rows_a`` (4, 2H), ``rows_b`` (4, H):
        float scratch; ``kb_a``, ``kb_b`` integer scratch.
        """
        T, E, B, G = xs.shape
        H = h.shape[2]
        abs_max, has_dac, clamp_in, has_adc = ip[ABS_MAX] != 0, ip[HAS_DAC] != 0, ip[CLAMP_IN] != 0, ip[HAS_ADC] != 0
        a_mode, b_mode, a_clamp, b_clamp = ip[GATE_RAMP], ip[STATE_RAMP], ip[GATE_CLAMP] != 0, ip[STATE_CLAMP] != 0
        has_noise = ip[HAS_NOISE] != 0
        am, bm, one = fp[GATE_M], fp[STATE_M], fp[ONE]
        zero = one - one
        dac_l = fp[LIM] if has_dac else -one
        adc_m = fp[ADC_M] if has_adc else -one
        sig = fp[SIG] if has_noise else zero
        sr = np.empty(B, h.dtype)
        za, sa, pa, va = rows_a[0], rows_a[1], rows_a[2], rows_a[3]
        zb, sb, pb, vb = rows_b[0], rows_b[1], rows_b[2], rows_b[3]
        for t in range(T):
            for e in range(E):
                # the recurrent read of all rows, arithmetic and noise numbering of AnalogLinear's
                # read: DAC, GEMM, then y <- clamp(round(y + sig N)) * s * post + b_hh in place
                _fused._dac_kernel(h[e], xc, sr, fp[STEP], fp[MULT], dac_l, abs_max, clamp_in, mask)
                _blas.gemm_xw(fn, xc, w[e], y, ws_i, ws_f)
                _fused._read_kernel(y, key, ((t * E + e) * B) * G, sig, table, adc_m, has_adc, sr, post[e], bias,
                                    mask)
                for b in range(B):
                    if gru:
                        for j in range(2 * H):
                            za[j] = (xs[t, e, b, j] + y[b, j]) * act_a[2, j]
                        _activate(za, a_mode, act_a, a_clamp, zero, am, e, lut_a, base_a, cells_a, sa, pa, kb_a, va)
                        for i in range(H):
                            zb[i] = (xs[t, e, b, 2 * H + i] + va[i] * y[b, 2 * H + i]) * act_b[2, i]
                        _activate(zb, b_mode, act_b, b_clamp, zero, bm, e, lut_b, base_b, cells_b, sb, pb, kb_b, vb)
                        for i in range(H):
                            n = vb[i]
                            hv = n + va[H + i] * (h[e, b, i] - n)
                            h[e, b, i] = hv
                            outs[t, e, b, i] = hv
                    else:
                        for i in range(H):
                            zb[i] = (xs[t, e, b, i] + y[b, i]) * act_b[2, i]
                        _activate(zb, b_mode, act_b, b_clamp, zero, bm, e, lut_b, base_b, cells_b, sb, pb, kb_b, vb)
                        for i in range(H):
                            h[e, b, i] = vb[i]
                            outs[t, e, b, i] = vb[i]
