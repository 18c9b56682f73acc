"""The compiled evaluation loop of a crossbar LSTM: one numba function runs all time steps.

Per step and ensemble member: the DAC codes of ``h`` (as :func:`physnn.crossbar.read.input_codes`),
the recurrent MVM (a plain loop over the code-unit weights), output noise from the same
counter hash as :func:`physnn.crossbar.read.counter_normal`, ADC, digital scale and bias, the
gates and the state update. It evaluates what the per-step torch path of
:class:`physnn.crossbar.rnn.AnalogLSTM` evaluates, with the same noise key per step; results
agree to float round-off (the MVM's summation order and ``exp`` differ from torch's), which
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
    def loop(xs, w, scale, bias, h, c, out, klo, khi, t_tab, d_tab, in_step, lim, abs_max, sig, adc_m,
             g_mode, g_par, g_m, s_mode, s_par, s_m):
        n_t, n_e, n_b, g4 = xs.shape
        hs = g4 // 4
        codes = np.empty((n_b, hs), dtype=xs.dtype)
        acc = np.empty((n_b, g4), dtype=xs.dtype)
        sv = np.ones(n_b, dtype=xs.dtype)
        for t in range(n_t):
            for e in range(n_e):
                for b in range(n_b):
                    if abs_max:
                        s = 1e-30
                        for j in range(hs):
                            s = max(s, abs(h[e, b, j]))
                        sv[b] = s
                    den = sv[b] * in_step if abs_max else in_step
                    for j in range(hs):
                        v = h[e, b, j] / den
                        if lim > 0:
                            v = np.rint(min(max(v, -lim), lim))
                        codes[b, j] = v
                # the recurrent MVM (B x H codes) @ (H x 4H); a plain loop that LLVM vectorises
                # (an external BLAS call here would bring its own thread pool into the loop)
                acc[:] = 0.0
                for b in range(n_b):
                    for k in range(hs):
                        cv = codes[b, k]
                        if cv != 0.0:
                            for j in range(g4):
                                acc[b, j] += cv * w[e, k, j]
                for b in range(n_b):
                    cs = sv[b] * scale[e] if abs_max else scale[e]
                    base = (b * n_e + e) * g4
                    for j in range(g4):
                        v = acc[b, j]
                        if sig > 0:
                            x = np.uint32((base + j) & 0xFFFFFFFF) ^ klo[t]
                            x = x ^ (x >> s16)
                            x = np.uint32(x * h1)
                            x = x ^ (x >> s15)
                            x = np.uint32(x * h2)
                            x = np.uint32((x ^ (x >> s16)) + khi[t])
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
                        acc[b, j] = act(xs[t, e, b, j] + v, g_mode, g_par, j, g_m)
                    for j in range(hs):
                        cc = acc[b, hs + j] * c[e, b, j] + acc[b, j] * acc[b, 2 * hs + j]
                        c[e, b, j] = cc
                        hh = acc[b, 3 * hs + j] * act(cc, s_mode, s_par, j, s_m)
                        h[e, b, j] = hh
                        out[t, e, b, j] = hh

    return loop


_LOOP: list = []


def lstm_sequence(*args) -> None:
    """Run the compiled loop (arguments as ``loop`` above; arrays are updated in place)."""
    if not _LOOP:
        _LOOP.append(_make())
    _LOOP[0](*args)
