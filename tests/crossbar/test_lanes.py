"""Lane-parallel CPU reads: results independent of the thread count, errors propagate, fork-safe."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import torch

from physnn.crossbar import AnalogLinear, _fused, _lanes
from physnn.crossbar.config import aihwkit_preset

pytestmark = pytest.mark.skipif(_fused.numba is None, reason="numba not installed")


class _Threads:
    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def _layer(ensemble=None, n=256, **kw):
    torch.manual_seed(0)
    lin = torch.nn.Linear(n, n)
    cfg = aihwkit_preset(t_inference=3600.0, **kw)
    lay = AnalogLinear.from_linear(lin, config=cfg, ensemble=ensemble)
    return lay.eval().program(torch.Generator().manual_seed(1))


@pytest.mark.parametrize("ensemble,shared", [(None, True), (4, True), (4, False)])
def test_read_does_not_depend_on_thread_count(ensemble, shared):
    lay = _layer(ensemble)
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(2))
    if not shared:
        x = x.expand(ensemble, 64, 256).contiguous() * torch.linspace(0.5, 1.5, ensemble).view(-1, 1, 1)
    assert lay._lanes_apply(x.reshape(-1, 64, 256)[0])
    outs = []
    for threads in (1, 2, 3):
        lay.generator = torch.Generator().manual_seed(3)
        with _Threads(threads), torch.no_grad():
            outs.append(lay(x))
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    # noisy reads: a second read differs (fresh key), by about the output noise
    with torch.no_grad():
        again = lay(x)
    assert not torch.equal(again, outs[0])


def test_members_have_their_own_bound_management():
    """A member whose outputs saturate the ADC halves its inputs; the other member's read is
    untouched by that (as for separate tiles)."""
    lay = _layer(2, n=256, out_noise=0.0)
    with torch.no_grad():
        lay.weight.fill_(0.01)
        lay.weight[0, :] = 1.0          # row 0 sums all 256 inputs at full weight
        lay.bias.zero_()
        lay.program(torch.Generator().manual_seed(0))
        x = torch.ones(2, 64, 256)
        x[1, :, 1:] = 0.0               # member 1: one active input, never saturates
        quiet = x.clone()
        quiet[0, :, 1:] = 0.0
        assert lay._lanes_apply(x)
        y, yq = lay(x, shared_input=False), lay(quiet, shared_input=False)
        no_bm = lay.config.replace(bound_management=False)
        lay.config = no_bm
        clipped = lay(x, shared_input=False)
    assert float(clipped[0, :, 0].max()) < 0.25 * 256.0             # without it the ADC clips
    # with bound management member 0 row 0 reads ~256 (PCM programming noise and drift: 10 %)
    assert float(y[0, :, 0].mean()) == pytest.approx(256.0, rel=0.1)
    assert torch.equal(y[1], yq[1])


def test_run_keeps_order_and_reraises():
    with _Threads(2):
        assert _lanes.run(lambda v: v * v, list(range(7))) == [v * v for v in range(7)]

        def bad(v):
            if v == 3:
                raise ValueError("piece 3 failed")
            return v

        with pytest.raises(ValueError, match="piece 3 failed"):
            _lanes.run(bad, list(range(6)))
        assert _lanes.run(lambda v: -v, [1, 2]) == [-1, -2]       # the pool still works


_FORKED: dict = {}


def _child_read(_):
    # (the layer was programmed in the parent: libgomp itself cannot run a parallel region in a
    # forked child of a process that used one, so the child only reads, through the lanes)
    lay, x = _FORKED["layer"], _FORKED["x"]
    torch.set_num_threads(2)
    with torch.no_grad():
        return _lanes.count(), float(lay(x).abs().sum())


def test_lanes_survive_fork():
    lay = _layer(None)
    x = torch.ones(64, 256)
    with _Threads(2), torch.no_grad():
        lay(x)                                             # the parent's pool exists
        _FORKED.update(layer=lay, x=x)
        ctx = mp.get_context("fork")
        with ctx.Pool(1) as pool:
            res = pool.map_async(_child_read, [0]).get(timeout=60)   # a hang would time out
    assert res[0][0] == 2 and res[0][1] > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cached_operands_follow_bias_updates(dtype):
    """The fast read caches its operands; an in-place bias update (optimizer step) or a new bias
    tensor must still reach the output."""
    lay = _layer(None, n=32, out_noise=0.0)
    x = torch.randn(4, 32, dtype=dtype)
    with torch.no_grad():
        y0 = lay(x)
        lay.bias.add_(1.0)                          # in place
        torch.testing.assert_close(lay(x), y0 + 1.0)
        lay.bias = torch.nn.Parameter(lay.bias.detach() + 1.0)   # a new tensor
        torch.testing.assert_close(lay(x), y0 + 2.0)
