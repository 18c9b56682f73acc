"""hwa_fit's cosine learning-rate decay (``lr_min``)."""

import copy

import pytest
import torch
from torch import nn

from physnn.training import hwa_fit


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 6, generator=g)
    return x, (x[:, 0] > 0).long()


def _fit(epochs, **kw):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    x, y = _data()
    hwa_fit(net, x, y, epochs=epochs, lr=1e-2, batch_size=16, generator=torch.Generator().manual_seed(1), **kw)
    return net


def _flat(net):
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def test_lr_min_equal_to_lr_is_the_constant_rate():
    torch.testing.assert_close(_flat(_fit(3, lr_min=1e-2)), _flat(_fit(3)), rtol=1e-6, atol=1e-7)


def test_cosine_decay_to_zero_freezes_the_last_steps():
    """The cosine rate reaches lr_min at the last step: the last epoch moves the weights much less
    than at a constant rate (Adam's steps are about lr in size)."""
    torch.manual_seed(0)
    x, y = _data()
    moves = {}
    for tag, kw in (("const", {}), ("cos", {"lr_min": 0.0})):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
        snaps = []
        val = lambda m: (snaps.append(copy.deepcopy(_flat(m))), 0.0)[1]  # noqa: E731  (called per epoch)
        hwa_fit(
            net, x, y, epochs=10, lr=1e-2, batch_size=16, val_fn=val, generator=torch.Generator().manual_seed(1), **kw
        )
        moves[tag] = float((snaps[-1] - snaps[-2]).abs().max())
    assert moves["cos"] < 0.1 * moves["const"]
    assert moves["const"] > 0


def test_lr_min_above_lr_names_the_parameter():
    with pytest.raises(ValueError, match="lr_min"):
        _fit(1, lr_min=1.0)
