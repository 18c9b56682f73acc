"""physnn.crossbar.read_out_points: the per-point read-out (noise, ADC, rescale, bias, ReLU) of
reads that share one MVM, against the public ADC applied point by point."""

import pytest
import torch

from physnn.crossbar import ADC, adc, read_out_points
from physnn.crossbar.read import add_counter_normal

ADCS = [ADC(4, 1.5), None, ADC(8, 2.0), ADC(8, 2.0), ADC(3, 0.5), None]


def _case(shared: bool, dtype=torch.float64):
    g = torch.Generator().manual_seed(3)
    R, K, B, n = 2, len(ADCS), 5, 7
    y = torch.randn(R, 1 if shared else K, B, n, generator=g, dtype=dtype) * 1.5
    scale = torch.rand(R, K, B, 1, generator=g, dtype=dtype) + 0.5
    bias = torch.randn(n, generator=g, dtype=dtype)
    std = [0.0, 0.3, 0.1, 0.0, 0.2, 0.05]
    keys = [11, 12, 13, 14, 15, 2**64 - 1]
    return y, scale, bias, std, keys


@pytest.mark.parametrize("shared", [True, False])
def test_each_point_is_noise_then_the_public_adc_then_rescale_bias_relu(shared):
    y, scale, bias, std, keys = _case(shared)
    out = read_out_points(y, scale, std, keys, ADCS, bias=bias, relu=True)
    for k, a in enumerate(ADCS):
        yk = y[:, k if not shared else 0].unsqueeze(1)
        noisy = add_counter_normal(yk.reshape(yk.shape[0], 1, -1), [std[k]], [keys[k]]).reshape(yk.shape)[:, 0]
        ref = (adc(noisy, a) if a is not None else noisy) * scale[:, k] + bias
        torch.testing.assert_close(out[:, k], ref.relu(), rtol=1e-12, atol=1e-12)


def test_a_point_gets_the_same_numbers_alone_as_in_a_batch():
    y, scale, bias, std, keys = _case(False, torch.float32)
    out = read_out_points(y, scale, std, keys, ADCS, bias=bias)
    for k in range(len(ADCS)):
        one = read_out_points(
            y[:, k : k + 1], scale[:, k : k + 1], std[k : k + 1], keys[k : k + 1], ADCS[k : k + 1], bias=bias
        )
        assert torch.equal(one[:, 0], out[:, k])


def test_adc_levels_and_saturation_without_noise():
    # 3 bits: levels k * y_max / 3, k = -3..3; beyond +-y_max the output saturates
    y = torch.tensor([-9.0, -0.5, -0.1, 0.0, 0.2, 0.49, 0.51, 9.0], dtype=torch.float64).view(1, 1, 1, -1)
    out = read_out_points(y, torch.full((1, 1, 1, 1), 2.0, dtype=torch.float64), [0.0], [0], [ADC(3, 1.5)])
    expect = torch.tensor([-3, -1, 0, 0, 0, 1, 1, 3], dtype=torch.float64) * 0.5 * 2.0
    assert torch.equal(out.flatten(), expect)


def test_bad_input_names_the_parameter():
    y = torch.zeros(1, 1, 2, 3)
    s = torch.ones(1, 1, 1, 1)
    with pytest.raises(ValueError, match="^y:"):
        read_out_points(torch.zeros(2, 3), s, [0.0], [0], [None])
    with pytest.raises(ValueError, match="^adcs:"):
        read_out_points(y, s, [0.0], [0], [(8, 1.0)])
    with pytest.raises(ValueError, match="^scale:"):
        read_out_points(y, torch.ones(1, 1, 1, 3), [0.0], [0], [None])
    with pytest.raises(ValueError, match="^out:"):
        read_out_points(y, s, [0.0], [0], [None], out=torch.zeros(1, 1, 3, 2))
    with pytest.raises(ValueError, match="^std:"):
        read_out_points(y, s, [-1.0], [0], [None])
