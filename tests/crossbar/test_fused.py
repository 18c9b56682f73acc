"""The fused CPU read kernel (output noise + ADC rounding + max |code|)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physnn.crossbar import _blas, _fused
from physnn.crossbar.layer import _normal_table

pytestmark = pytest.mark.skipif(_fused.numba is None, reason="numba not installed")
TABLE = _normal_table(torch.device("cpu"), torch.float32)


def _dac_rows(x, out, s_out, step, red, L, abs_max, clamp):
    """The DAC row kernel on tensors (what a lane's job runs before the GEMM)."""
    t = x.numpy().dtype.type
    _fused._dac_kernel(x.numpy(), out.numpy(), s_out.numpy(), t(step * red), t(1.0 / (step * red)),
                       t(-1.0 if L is None else L), bool(abs_max), bool(clamp), _fused.MASKS[x.numpy().dtype])


def _read_rows(y, key, first, sig, table, M, rs, scale, bias):
    """The noise + ADC + scale + bias row kernel on tensors (what a lane's job runs after the
    GEMM); returns the largest |code| before clamping."""
    ya = y.numpy()
    t = ya.dtype.type
    b = bias.numpy() if bias is not None else np.empty(0, dtype=ya.dtype)
    return float(_fused._read_kernel(ya, _fused._u64(key), int(first), t(sig), table.numpy(),
                                     t(-1.0 if M is None else M), M is not None, rs.numpy(), t(scale), b,
                                     _fused.MASKS[ya.dtype]))


def test_rounding_matches_torch_and_returns_max_abs():
    y = torch.randn(1003, generator=torch.Generator().manual_seed(0)) * 50  # odd size: tail path
    ref = torch.round(y)
    m = _fused.noise_round_(y, 0, 0.0, TABLE, True)
    assert torch.equal(y, ref)
    assert m == float(ref.abs().max())


def test_noise_is_standard_normal_and_keyed():
    n = 1 << 18
    a = torch.zeros(n)
    _fused.noise_round_(a, 12345, 1.0, TABLE, False)
    se = 1.0 / np.sqrt(n)
    assert abs(float(a.mean())) < 5 * se
    assert abs(float(a.std()) - 1.0) < 5 * np.sqrt(0.5 / n) * 2
    # symmetric tails of a Gaussian: P(|z| > 2) = 0.0455
    assert abs(float((a.abs() > 2).float().mean()) - 0.0455) < 0.003
    b = torch.zeros(n)
    _fused.noise_round_(b, 12345, 1.0, TABLE, False)
    assert torch.equal(a, b)                      # same key -> same draws
    c = torch.zeros(n)
    _fused.noise_round_(c, 54321, 1.0, TABLE, False)
    assert abs(np.corrcoef(a.numpy(), c.numpy())[0, 1]) < 5 * se   # other key -> independent


def test_layer_read_noise_std_same_as_torch_path():
    from physnn.crossbar import AnalogLinear, CrossbarConfig
    from physnn.crossbar.config import aihwkit_preset

    # no bound management: a saturating read would halve the inputs and change the noise scale
    cfg = aihwkit_preset(bound_management=False)
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 64)
    x = torch.randn(512, 64, generator=torch.Generator().manual_seed(1))
    stds = []
    for fast in (True, False):
        layer = AnalogLinear.from_linear(lin, config=CrossbarConfig.replace(cfg, fast_noise=fast))
        layer.eval().program(torch.Generator().manual_seed(2))
        layer.generator = torch.Generator().manual_seed(3)
        with torch.no_grad():
            a, b = layer(x), layer(x)
        stds.append(float((a - b).std()))
    assert stds[0] == pytest.approx(stds[1], rel=0.05)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_blocks_draw_the_same_noise_as_one_read(dtype):
    """The row kernel on blocks of rows (odd width: unaligned counters) = noise_round_ on the whole
    read, then clamp to ±M, scale per row and add the bias."""
    g = torch.Generator().manual_seed(4)
    y = torch.randn(23, 13, generator=g, dtype=dtype) * 100
    rs, bias = torch.rand(23, generator=g, dtype=dtype), torch.randn(13, generator=g, dtype=dtype)
    table = _normal_table(torch.device("cpu"), dtype)
    ref = y.clone()
    m_ref = _fused.noise_round_(ref.view(-1), 777, 0.8, table, True)
    ref = ref.clamp(-127, 127) * (rs.view(-1, 1) * 0.5) + bias
    out, ms = y.clone(), []
    for r0, r1 in ((0, 5), (5, 6), (6, 23)):
        ms.append(_read_rows(out[r0:r1], 777, r0 * 13, 0.8, table, 127.0, rs[r0:r1], 0.5, bias))
    torch.testing.assert_close(out, ref, rtol=1e-12 if dtype == torch.float64 else 1e-6, atol=1e-5)
    assert max(ms) == m_ref > 127                     # the max |code| before clamping


@pytest.mark.parametrize("abs_max,clamp", [(True, False), (False, True), (False, False)])
def test_dac_rows_equals_torch_quantiser(abs_max, clamp):
    x = torch.randn(9, 31, generator=torch.Generator().manual_seed(5)) * 2
    x[3] = 0.0                                         # an all-zero row keeps zero codes
    xc, s = torch.empty_like(x), torch.empty(9)
    _dac_rows(x, xc, s, 1 / 127, 2.0, 127.0, abs_max, clamp)
    if abs_max:
        sr = x.abs().amax(-1, keepdim=True).clamp(min=1e-30)
        ref = torch.div(x, sr * (2.0 / 127)).round()
        torch.testing.assert_close(s, sr.view(-1), rtol=0, atol=0)
    else:
        ref = (x * (127 / 2.0)).round()
        ref = ref.clamp(-127, 127) if clamp else ref
    assert torch.equal(xc, ref)
    assert torch.equal(xc[3], torch.zeros(31))


@pytest.mark.skipif(not (_blas.SGEMM and _blas.DGEMM), reason="torch exports no Fortran GEMM")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows,n,k", [(7, 5, 3), (64, 33, 17), (1, 1, 1), (0, 4, 4), (5, 0, 3), (4, 6, 0)])
def test_gemm_from_compiled_code_is_torch_mm(dtype, rows, n, k):
    """The kernels' GEMM (torch's own BLAS, called from numba) gives torch.mm's numbers bit for
    bit, including empty operands."""
    g = torch.Generator().manual_seed(rows * 100 + n * 10 + k)
    x, w = torch.randn(rows, k, generator=g, dtype=dtype), torch.randn(n, k, generator=g, dtype=dtype)
    y = torch.full((rows, n), float("nan"), dtype=dtype)
    fn = _blas.SGEMM if dtype == torch.float32 else _blas.DGEMM
    _blas.gemm_xwt(fn, x.numpy(), w.numpy(), y.numpy(), np.empty(8, np.int32), np.empty(2, y.numpy().dtype))
    assert torch.equal(y, x @ w.t())
    wt = w.t().contiguous()                                      # (k, n): the 'N', 'N' layout
    y2 = torch.full((rows, n), float("nan"), dtype=dtype)
    _blas.gemm_xw(fn, x.numpy(), wt.numpy(), y2.numpy(), np.empty(8, np.int32), np.empty(2, y.numpy().dtype))
    assert torch.equal(y2, x @ wt)
