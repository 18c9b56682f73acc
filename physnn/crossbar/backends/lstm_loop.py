"""The compiled evaluation loop of a crossbar LSTM: per step one torch GEMM between two compiled passes.

Per step: the DAC codes of ``h`` (as :func:`physnn.crossbar.read.input_codes`, compiled), the
recurrent MVM (``torch.bmm``, torch's GEMM), then one compiled pass: output noise from the same
counter hash as :func:`physnn.crossbar.read.counter_normal`, ADC, digital scale and bias, the
gates and the state update. It evaluates what the per-step torch path of
:class:`physnn.crossbar.rnn.AnalogLSTM` evaluates, with the same noise key per step, in the
read's dtype (float32 or float64): the noise, ADC, scale and bias are the read's own arithmetic;
the sigmoid is a branch-free routine within a few ulp instead of libm's scalar ``exp``.
:func:`reference_sequence` is that loop in plain torch operations, in the same order: the compiled
loop equals it bit for bit (float32 and float64, ``tests/crossbar/test_rnn.py``); against the
per-step path (torch's sigmoid, the read's GEMM layout) results agree to float round-off (a ramp
code at a rounding tie may flip by one step). The pass is compiled per dtype and combination of stages
(noise, ADC, bias, abs-max DAC, ramp gates), so its inner loops carry no branches and vectorise
(see RESULTS.md for the speed). Bound management, IR drop, sinh-type devices and programmed
(noisy) ramp columns are not compiled: the LSTM takes its per-step path for them.

Activations per column: mode 0 (ideal) ``y = ca * sigmoid(beta x) + cb`` (sigmoid: 1, 1, 0; tanh:
2, 2, -1); mode 1 (closed-form ramp-ADC count) ``y = y0 + lsb * clamp(round(cb + ca *
sigmoid(beta x)), 0, m)``. Parameter rows: beta, ca, cb, y0, lsb.
"""

from __future__ import annotations

import numpy as np

from ...buffers import empty, empty_torch
from .numba_cpu import noise_row

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None  # type: ignore[assignment]

__all__ = ["lstm_sequence", "reference_sequence", "available"]


def available() -> bool:
    return numba is not None


_ROUND64 = 6755399441055744.0  # 1.5 * 2^52: adding and subtracting it rounds to an integer (float64)
_ROUND32 = 12582912.0  # 1.5 * 2^23: the same in float32


def _make_sigmoid(ft):
    """Vectorisable sigmoid in float type ``ft`` (float64, or float32 with its own reduction)."""
    from ..._vmath import INV_LN2, LN2_HI, LN2_LO, LN2_HI_F32, LN2_LO_F32, bitcast, expm1_reduced, expm1_reduced_f32

    f32 = ft is np.float32
    em1 = expm1_reduced_f32 if f32 else expm1_reduced
    it = np.int32 if f32 else np.int64
    shift = it(23 if f32 else 52)
    bias_e = it(127 if f32 else 1023)
    rnd, inv, hi, lo = (
        (ft(_ROUND32), ft(INV_LN2), ft(LN2_HI_F32), ft(LN2_LO_F32))
        if f32
        else (ft(_ROUND64), ft(INV_LN2), ft(LN2_HI), ft(LN2_LO))
    )
    lim, one = ft(60.0), ft(1.0)

    @numba.njit(inline="always", boundscheck=False, error_model="numpy")
    def sigmoid(z, out, pm, kb, n):
        """``out[j] = 1 / (1 + exp(-z[j]))`` for ``j < n`` without libm's scalar ``exp`` (no SVML
        here): ``-z`` clipped to [-60, 60] (the sigmoid is 1 or < 1e-26 beyond), ``w = k ln2 +
        r`` (Cody-Waite, ``ln 2`` split for ``ft``), ``exp(r)`` by :mod:`physnn._vmath`'s
        ``expm1_reduced`` (float64) or ``expm1_reduced_f32``, ``2^k`` from the exponent bits.
        Arithmetic, shifts and selects only, so both loops vectorise; within a few ulp of the
        correctly rounded sigmoid in ``ft``. NaN stays NaN."""
        for j in range(n):
            w = min(max(-z[j], -lim), lim)
            kf = (w * inv + rnd) - rnd
            r = (w - kf * hi) - kf * lo
            pm[j] = em1(r) + one
            kb[j] = (it(kf) + bias_e) << shift
        for j in range(n):
            v = one / (one + bitcast(kb[j]) * pm[j])  # 2^k from its bits (no float view of kb)
            out[j] = v if z[j] == z[j] else z[j]

    return sigmoid


def _make_step(ft, noisy: bool, adc: bool, biased: bool, abs_max: bool, g_ramp: bool, s_ramp: bool):
    """The per-step pass in float type ``ft`` (the read's dtype, float32 or float64), specialised
    on which stages are on (compile-time constants, so the inner loops carry no branches and
    vectorise, as the read's fused pass does)."""
    zero = ft(0.0)
    sigmoid = _make_sigmoid(ft)
    row_noise = noise_row(ft)

    @numba.njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
    def step(
        acc,
        xt,
        scale,
        bias,
        h,
        c,
        out_t,
        sv,
        klo,
        khi,
        t_tab,
        d_tab,
        sig,
        adc_m,
        g_par,
        g_m,
        s_par,
        s_m,
        z,
        sg,
        pm,
        kb,
        hb,
    ):
        """One step after the recurrent MVM ``acc`` (E, B, 4H): noise, ADC, scale, bias, gates,
        state update (h, c in place; out_t gets h). z, sg, pm: ``ft`` scratch (4H,), kb the
        sigmoid's exponent scratch, hb the row's noise cells (uint32; pm also holds the row's noise
        fractions before the sigmoids use it)."""
        n_e, n_b, g4 = acc.shape
        hs = g4 // 4
        for e in range(n_e):
            for b in range(n_b):
                cs = sv[e, b] * scale[e] if abs_max else scale[e]
                if noisy:  # the read's own noise step (counter (b E + e) 4H + j), into z
                    row_noise(
                        z, acc[e, b], np.uint32(((b * n_e + e) * g4) & 0xFFFFFFFF), klo, khi, sig, t_tab, d_tab, hb, pm
                    )
                for j in range(g4):
                    v = z[j] if noisy else acc[e, b, j]
                    if adc:
                        v = min(max(np.rint(v), -adc_m), adc_m)
                    v = v * cs
                    if biased:
                        v = v + bias[j]
                    z[j] = (xt[e, b, j] + v) * g_par[0, j]
                sigmoid(z, sg, pm, kb, g4)
                for j in range(g4):
                    if g_ramp:
                        code = min(max(np.rint(g_par[2, j] + sg[j] * g_par[1, j]), zero), g_m)
                        z[j] = g_par[3, j] + code * g_par[4, j]
                    else:
                        z[j] = g_par[1, j] * sg[j] + g_par[2, j]
                for j in range(hs):
                    cc = z[hs + j] * c[e, b, j] + z[j] * z[2 * hs + j]
                    c[e, b, j] = cc
                    sg[j] = cc * s_par[0, j]
                sigmoid(sg, sg[hs:], pm, kb, hs)
                for j in range(hs):
                    sv_ = sg[hs + j]
                    if s_ramp:
                        code = min(max(np.rint(s_par[2, j] + sv_ * s_par[1, j]), zero), s_m)
                        a = s_par[3, j] + code * s_par[4, j]
                    else:
                        a = s_par[1, j] * sv_ + s_par[2, j]
                    hh = z[3 * hs + j] * a
                    h[e, b, j] = hh
                    out_t[e, b, j] = hh

    return step


def _make_dac():
    @numba.njit(nogil=True, cache=True, error_model="numpy")
    def dac(h, codes, sv, in_step, lim, abs_max):
        """DAC codes (E, B, H) and row scales (E, B) of the state ``h``."""
        n_e, n_b, hs = h.shape
        for e in range(n_e):
            for b in range(n_b):
                if abs_max:
                    s = 1e-30
                    for j in range(hs):
                        s = max(s, abs(h[e, b, j]))
                    sv[e, b] = s
                den = sv[e, b] * in_step if abs_max else in_step
                for j in range(hs):
                    v = h[e, b, j] / den
                    if lim > 0:
                        v = np.rint(min(max(v, -lim), lim))
                    codes[e, b, j] = v

    return dac


_KERNELS: dict = {}


def lstm_sequence(
    xs,
    w,
    scale,
    bias,
    h,
    c,
    out,
    klo,
    khi,
    t_tab,
    d_tab,
    in_step,
    lim,
    abs_max,
    sig,
    adc_m,
    g_mode,
    g_par,
    g_m,
    s_mode,
    s_par,
    s_m,
) -> None:
    """All steps: per step ``torch.bmm`` of the DAC codes with the code-unit weights (torch's
    GEMM), then one compiled pass. Tensors: xs (T, E, B, 4H), w (E, H, 4H), h, c (E, B, H)
    updated in place, out (T, E, B, H); klo/khi (T,) step keys (numpy uint32)."""
    import torch

    if "dac" not in _KERNELS:
        _KERNELS["dac"] = _make_dac()
    ft = h.numpy().dtype.type
    flags = (sig > 0, adc_m > 0, bias.numel() > 0, bool(abs_max), g_mode == 1, s_mode == 1)
    if (ft, flags) not in _KERNELS:
        _KERNELS[(ft, flags)] = _make_step(ft, *flags)
    dac, step = _KERNELS["dac"], _KERNELS[(ft, flags)]
    n_e, n_b, hs = h.shape
    codes = empty_torch(h.shape, h.dtype)
    acc = empty_torch((n_e, n_b, 4 * hs), h.dtype)
    sv = np.ones((n_e, n_b), dtype=ft)
    z, sg, pm = (empty(4 * hs, ft) for _ in range(3))
    kb = empty(4 * hs, np.int32 if ft is np.float32 else np.int64)
    hb = empty(4 * hs, np.uint32)
    g_par, s_par = np.ascontiguousarray(g_par, ft), np.ascontiguousarray(s_par, ft)
    hn, cn, cd, an = h.numpy(), c.numpy(), codes.numpy(), acc.numpy()
    xsn, outn, sc, bn = xs.numpy(), out.numpy(), scale.numpy(), bias.numpy()
    sig, adc_m, g_m, s_m, in_step, lim = ft(sig), ft(adc_m), ft(g_m), ft(s_m), ft(in_step), ft(lim)
    for t in range(xs.shape[0]):
        dac(hn, cd, sv, in_step, lim, abs_max)
        torch.bmm(codes, w, out=acc)
        step(
            an,
            xsn[t],
            sc,
            bn,
            hn,
            cn,
            outn[t],
            sv,
            klo[t],
            khi[t],
            t_tab,
            d_tab,
            sig,
            adc_m,
            g_par,
            g_m,
            s_par,
            s_m,
            z,
            sg,
            pm,
            kb,
            hb,
        )


def _sigmoid_torch(z, ft):
    """The compiled loop's sigmoid (:func:`_make_sigmoid`) in torch ops, operation for operation
    in ``z``'s dtype: Cody-Waite reduction, the same Horner polynomial of ``expm1``, ``2^k`` from
    the exponent bits. Equal to the compiled routine bit for bit (IEEE operations, no FMA)."""
    import torch

    from ..._vmath import INV_LN2, LN2_HI, LN2_HI_F32, LN2_LO, LN2_LO_F32, expm1_reduced_torch

    f32 = ft is np.float32
    dt = z.dtype
    c = lambda v: torch.tensor(ft(v), dtype=dt)  # noqa: E731 - a constant rounded as the kernel's
    rnd, inv = c(_ROUND32 if f32 else _ROUND64), c(INV_LN2)
    hi, lo = (c(LN2_HI_F32), c(LN2_LO_F32)) if f32 else (c(LN2_HI), c(LN2_LO))
    w = torch.clamp(-z, c(-60.0), c(60.0))
    kf = (w * inv + rnd) - rnd
    r = (w - kf * hi) - kf * lo
    pm = expm1_reduced_torch(r) + c(1.0)
    it, shift, bias_e = (torch.int32, 23, 127) if f32 else (torch.int64, 52, 1023)
    two_k = ((kf.to(it) + bias_e) << shift).view(dt)
    v = c(1.0) / (c(1.0) + two_k * pm)
    return torch.where(z == z, v, z)


def reference_sequence(
    xs,
    w,
    scale,
    bias,
    h,
    c,
    out,
    klo,
    khi,
    t_tab,
    d_tab,
    in_step,
    lim,
    abs_max,
    sig,
    adc_m,
    g_mode,
    g_par,
    g_m,
    s_mode,
    s_par,
    s_m,
) -> None:
    """What :func:`lstm_sequence` computes, in plain torch operations in the same order (same
    arguments, ``h``, ``c``, ``out`` written the same way): the definition the compiled loop is
    proven against, bit for bit, in float32 and float64 (``tests/crossbar/test_rnn.py``). The
    per-step path of :class:`~physnn.crossbar.rnn.AnalogLSTM` evaluates the same model with
    torch's own sigmoid and its read's GEMM layout, so it agrees with both to float round-off."""
    import torch

    from ..read import counter_normal

    dt = h.dtype
    ft = np.float32 if dt == torch.float32 else np.float64
    c_ = lambda v: torch.tensor(ft(v), dtype=dt)  # noqa: E731
    n_e, n_b, hs = h.shape
    g4 = 4 * hs
    gp = torch.from_numpy(np.ascontiguousarray(g_par, ft))
    sp = torch.from_numpy(np.ascontiguousarray(s_par, ft))
    idx = (torch.arange(n_b).view(1, n_b, 1) * n_e + torch.arange(n_e).view(n_e, 1, 1)) * g4 + torch.arange(g4).view(
        1, 1, g4
    )
    sv = torch.ones((n_e, n_b, 1), dtype=dt)
    for t in range(xs.shape[0]):
        if abs_max:
            sv = torch.clamp(h.abs().amax(-1, keepdim=True), min=c_(1e-30))
        den = sv * c_(in_step) if abs_max else c_(in_step)
        codes = h / den
        if lim > 0:
            codes = torch.round(torch.clamp(codes, -c_(lim), c_(lim)))
        v = torch.bmm(codes, w)
        if sig > 0:
            key = int(klo[t]) | (int(khi[t]) << 32)
            v = v + c_(sig) * counter_normal(key, idx, dt)
        if adc_m > 0:
            v = torch.clamp(torch.round(v), -c_(adc_m), c_(adc_m))
        cs = sv * scale.view(n_e, 1, 1) if abs_max else scale.view(n_e, 1, 1)
        v = v * cs
        if bias.numel() > 0:
            v = v + bias
        z = (xs[t] + v) * gp[0]
        sg = _sigmoid_torch(z, ft)
        if g_mode == 1:
            z = gp[3] + torch.clamp(torch.round(gp[2] + sg * gp[1]), c_(0.0), c_(g_m)) * gp[4]
        else:
            z = gp[1] * sg + gp[2]
        cc = z[..., hs : 2 * hs] * c + z[..., :hs] * z[..., 2 * hs : 3 * hs]
        c.copy_(cc)
        s = _sigmoid_torch(cc * sp[0], ft)
        if s_mode == 1:
            a = sp[3] + torch.clamp(torch.round(sp[2] + s * sp[1]), c_(0.0), c_(s_m)) * sp[4]
        else:
            a = sp[1] * s + sp[2]
        hh = z[..., 3 * hs :] * a
        h.copy_(hh)
        out[t].copy_(hh)
