"""The compiled evaluation loop of a crossbar LSTM: per step one torch GEMM between two compiled passes.

Per step: the DAC codes of ``h`` (as :func:`physnn.crossbar.read.input_codes`, compiled), the
recurrent MVM (``torch.bmm``, torch's GEMM), then one compiled pass: output noise from the same
counter hash as :func:`physnn.crossbar.read.counter_normal`, ADC, digital scale and bias, the
gates and the state update. It evaluates what the per-step torch path of
:class:`physnn.crossbar.rnn.AnalogLSTM` evaluates, with the same noise key per step; results
agree to float round-off (``exp`` and the DAC/post arithmetic run in float64 here), which
``tests/crossbar/test_rnn.py`` checks. Bound management, IR drop, sinh-type devices and
programmed (noisy) ramp columns are not compiled: the LSTM takes its per-step path for them.

Activations per column: mode 0 (ideal) ``y = ca * sigmoid(beta x) + cb`` (sigmoid: 1, 1, 0; tanh:
2, 2, -1); mode 1 (closed-form ramp-ADC count) ``y = y0 + lsb * clamp(round(cb + ca *
sigmoid(beta x)), 0, m)``. Parameter rows: beta, ca, cb, y0, lsb.
"""

from __future__ import annotations

import numpy as np

from ..read import H1, H2

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None

__all__ = ["lstm_sequence", "available"]


def available() -> bool:
    return numba is not None


def _make():
    h1, h2 = np.uint32(H1), np.uint32(H2)
    s15, s16, s20 = np.uint32(15), np.uint32(16), np.uint32(20)
    m20 = np.uint32(0xFFFFF)

    @numba.njit(inline="always")
    def act(x, mode, par, j, m):
        s = 1.0 / (1.0 + np.exp(-(x * par[0, j])))
        if mode == 0:
            return par[1, j] * s + par[2, j]
        code = min(max(np.rint(par[2, j] + s * par[1, j]), 0.0), m)
        return par[3, j] + code * par[4, j]

    @numba.njit(nogil=True, cache=True)
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

    @numba.njit(nogil=True, cache=True)
    def step(acc, xt, scale, bias, h, c, out_t, sv, klo, khi, t_tab, d_tab, abs_max, sig, adc_m,
             g_mode, g_par, g_m, s_mode, s_par, s_m):
        """One step after the recurrent MVM ``acc`` (E, B, 4H): noise, ADC, scale, bias, gates,
        state update (h, c in place; out_t gets h)."""
        n_e, n_b, g4 = acc.shape
        hs = g4 // 4
        for e in range(n_e):
            for b in range(n_b):
                cs = sv[e, b] * scale[e] if abs_max else scale[e]
                base = (b * n_e + e) * g4
                for j in range(g4):
                    v = acc[e, b, j]
                    if sig > 0:
                        x = np.uint32((base + j) & 0xFFFFFFFF) ^ klo
                        x = x ^ (x >> s16)
                        x = np.uint32(x * h1)
                        x = x ^ (x >> s15)
                        x = np.uint32(x * h2)
                        x = np.uint32((x ^ (x >> s16)) + khi)
                        x = x ^ (x >> s16)
                        x = np.uint32(x * h1)
                        x = x ^ (x >> s15)
                        x = np.uint32(x * h2)
                        x = x ^ (x >> s16)
                        cell = np.int64(x >> s20)
                        f = np.float64(np.int32(x & m20)) * 2.0 ** -20
                        v = v + sig * (t_tab[cell] + f * d_tab[cell])
                    if adc_m > 0:
                        v = min(max(np.rint(v), -adc_m), adc_m)
                    v = v * cs
                    if bias.shape[0] > 0:
                        v = v + bias[j]
                    acc[e, b, j] = act(xt[e, b, j] + v, g_mode, g_par, j, g_m)
                for j in range(hs):
                    cc = acc[e, b, hs + j] * c[e, b, j] + acc[e, b, j] * acc[e, b, 2 * hs + j]
                    c[e, b, j] = cc
                    hh = acc[e, b, 3 * hs + j] * act(cc, s_mode, s_par, j, s_m)
                    h[e, b, j] = hh
                    out_t[e, b, j] = hh

    return dac, step


_KERNELS: list = []


def lstm_sequence(xs, w, scale, bias, h, c, out, klo, khi, t_tab, d_tab, in_step, lim, abs_max, sig, adc_m,
                  g_mode, g_par, g_m, s_mode, s_par, s_m) -> None:
    """All steps: per step ``torch.bmm`` of the DAC codes with the code-unit weights (torch's
    GEMM), then one compiled pass. Tensors: xs (T, E, B, 4H), w (E, H, 4H), h, c (E, B, H)
    updated in place, out (T, E, B, H); klo/khi (T,) step keys (numpy uint32)."""
    import torch

    if not _KERNELS:
        _KERNELS.extend(_make())
    dac, step = _KERNELS
    n_e, n_b, hs = h.shape
    codes = torch.empty_like(h)
    acc = torch.empty((n_e, n_b, 4 * hs), dtype=h.dtype)
    sv = np.ones((n_e, n_b), dtype=h.numpy().dtype)
    hn, cn, cd, an = h.numpy(), c.numpy(), codes.numpy(), acc.numpy()
    xsn, outn, sc, bn = xs.numpy(), out.numpy(), scale.numpy(), bias.numpy()
    for t in range(xs.shape[0]):
        dac(hn, cd, sv, in_step, lim, abs_max)
        torch.bmm(codes, w, out=acc)
        step(an, xsn[t], sc, bn, hn, cn, outn[t], sv, klo[t], khi[t], t_tab, d_tab, abs_max, sig, adc_m,
             g_mode, g_par, g_m, s_mode, s_par, s_m)
