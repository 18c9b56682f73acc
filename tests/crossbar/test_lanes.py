"""Lane-parallel CPU reads: results independent of the thread count, errors propagate, fork-safe."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

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


def test_a_failing_job_is_reraised_in_the_caller_and_the_pool_recovers():
    lay = _layer(None)
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(2))
    none = np.zeros(0, dtype=np.int64)
    with _Threads(2), torch.no_grad():
        lay.generator = torch.Generator().manual_seed(3)
        ref = lay(x)
        pool = _fused.lanes_pool(2)
        J = pool.J                                         # (rows of the last read: valid addresses)
        pool.owner = None
        with pool.busy:
            J[0, _fused.KIND], J[0, _fused.R0], J[0, _fused.R1] = _fused.ROWS_JOB, 0, 0   # empty block
            J[1, _fused.KIND] = 99                             # a job the runner does not know
            with pytest.raises(ValueError, match="unknown job kind"):
                _fused.go(pool, 2, none, none, False)
            J[0, _fused.KIND] = 99                             # the caller's own share fails too
            with pytest.raises(ValueError, match="unknown job kind"):
                _fused.go(pool, 2, none, none, False)
            # a worker already serving float64 jobs must refuse a bad kind too (not run it)
            J[:, _fused.KIND], J[:, _fused.R0], J[:, _fused.R1] = _fused.ROWS_JOB + 2, 0, 0
            _fused.go(pool, 2, none, none, True)
            J[1, _fused.KIND] = 97
            with pytest.raises(ValueError, match="unknown job kind"):
                _fused.go(pool, 2, none, none, True)
        lay.generator = torch.Generator().manual_seed(3)
        assert torch.equal(lay(x), ref)                       # the workers serve again


def test_prepared_read_equals_a_fresh_one_and_steps_aside_on_any_change():
    lay = _layer(None)
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(2))
    with _Threads(2), torch.no_grad():
        lay(x)
        lay.generator = torch.Generator().manual_seed(5)
        fast = lay(x)
        del lay.__dict__["_lane_read"]
        lay.generator = torch.Generator().manual_seed(5)
        assert torch.equal(fast, lay(x))                      # same numbers as a fresh preparation
        prep = lay.__dict__["_lane_read"]
        assert prep(lay, x) is not None
        # the input: another shape, dtype, layout, or one that needs a graph
        assert prep(lay, x[:32]) is None
        assert prep(lay, x.double()) is None
        assert prep(lay, x.t().contiguous().t()) is None
        with torch.enable_grad():
            assert prep(lay, x.clone().requires_grad_()) is None
        # the layer: bias replaced or updated in place, weights updated, new config or time
        for change in (lambda: lay.bias.add_(1.0),
                       lambda: setattr(lay, "bias", torch.nn.Parameter(lay.bias.detach().clone())),
                       lambda: lay.weight.mul_(0.5),
                       lambda: setattr(lay, "config", lay.config.replace(out_noise=0.02)),
                       lambda: lay.set_time(7200.0)):
            lay(x)
            prep = lay.__dict__["_lane_read"]
            assert prep(lay, x) is not None
            change()
            assert prep(lay, x) is None
        lay(x)
        prep = lay.__dict__["_lane_read"]
    with _Threads(1), torch.no_grad():
        assert prep(lay, x) is None                           # fewer lanes than it was built for


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


def test_large_outputs_are_recycled_only_when_nothing_refers_to_them():
    """A prepared read reuses its last large output once nothing refers to it (saves the page
    faults of a fresh block); any reference — the tensor, a view, a numpy array, a DLPack
    export — keeps it, and a reused buffer holds the same numbers as a fresh one."""
    from torch.utils import dlpack

    from physnn.crossbar import layer as layer_mod

    lay = _layer(8, n=256)
    x = torch.randn(512, 256, generator=torch.Generator().manual_seed(2))   # 8 x 512 x 256 x 4 B = 4 MiB
    with _Threads(2), torch.no_grad():
        lay(x)
        assert lay.__dict__["_lane_read"].recycle and 8 * 512 * 256 * 4 >= layer_mod._RECYCLE_BYTES
        lay.generator = torch.Generator().manual_seed(9)
        first = lay(x)
        ref, ptr = first.clone(), first.data_ptr()
        del first
        lay.generator = torch.Generator().manual_seed(9)
        again = lay(x)
        assert again.data_ptr() == ptr and torch.equal(again, ref)
        for keep in (lambda y: y, lambda y: y[0], lambda y: y.numpy(), lambda y: dlpack.to_dlpack(y)):
            held, ptr = keep(again), again.data_ptr()
            del again
            again = lay(x)
            assert again.data_ptr() != ptr
            del held


def test_reads_from_two_threads_at_once_give_the_sequential_numbers():
    """A thread that finds the lanes busy reads alone; both get the numbers of their keys."""
    import threading

    lays = [_layer(None), _layer(4)]
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(2))

    def read(lay, seed, reps):
        lay.generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return [lay(x) for _ in range(reps)]

    with _Threads(2):
        ref = [read(lay, 10 + i, 20) for i, lay in enumerate(lays)]
        got: list = [None, None]

        def worker(i):
            torch.set_num_threads(2)
            got[i] = read(lays[i], 10 + i, 20)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i in range(2):
        assert all(torch.equal(a, b) for a, b in zip(got[i], ref[i]))
