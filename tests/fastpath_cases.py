"""Every compiled fast path against its plain reference, as a script (run by
``tests/test_poisoned_buffers.py`` in fresh processes, usually with ``PHYSNN_POISON_BUFFERS=1``).

``python tests/fastpath_cases.py --threads T --cases read:float64,lstm:float32,...`` runs the
named cases in the given order in one process and prints one JSON line ``{case: max_abs_error}``;
exit status 1 when any case differs from its reference by more than its bound (0 for the exact
back ends, float round-off for the compiled loops whose summation order differs).

Cases (``name:dtype``): ``read`` (crossbar read, numba back end vs ``reference_read``, every
ensemble form, with/without ADC and bound management, the issue-21 batch shapes in order),
``sliced`` (bit-sliced read, :mod:`physnn.crossbar.bit_slicing`, slices through the numba back
end vs the reference), ``noise`` (``add_counter_normal``), ``lstm`` (compiled LSTM sequence loop vs its torch reference
``lstm_loop.reference_sequence``, same noise keys), ``esn`` (SELL kernel vs the torch loop), ``josephson`` (tiled ensemble
kernel vs the numpy loop, and the compiled sparse single run vs its numpy loop, also from a start-up
state; float64 only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _spec(E, out_f, in_f, *, dtype, adc=True, bm=False, noise=2.0, gain=1.0, seed=0):
    from physnn.crossbar.read import ReadSpec

    g = torch.Generator().manual_seed(seed)
    lead = () if E is None else (E,)
    w = (torch.rand(*lead, out_f, in_f, generator=g, dtype=dtype) * 2 - 1) * gain
    return ReadSpec(
        weight=w,
        scale=torch.rand(lead, generator=g, dtype=dtype) + 0.5,
        bias=torch.randn(out_f, generator=g, dtype=dtype),
        in_step=1 / 127,
        in_levels=127.0,
        abs_max=True,
        noise_std=noise,
        adc_levels=127.0 if adc else None,
        bound_management=bm,
        max_reduction=31.75,
        key=int(torch.randint(0, 2**62, (), generator=g)) * 3,
    )


def case_read(dtype):
    from physnn.crossbar.read import read, reference_read

    err = 0.0
    for E, per_member in ((None, False), (4, False), (4, True)):
        for adc, bm in ((False, False), (True, False), (True, True)):
            spec = _spec(E, 13, 37, dtype=dtype, adc=adc, bm=bm, gain=40.0 if bm else 1.0)
            for lead in ((2, 3), (1,), (5,), (0,), (64,)):
                shape = ((spec.ensemble,) if per_member else ()) + lead + (37,)
                x = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
                got = read(spec, x, per_member=per_member, backend="numba_cpu")
                ref = reference_read(spec, x, per_member=per_member)
                if got.shape != ref.shape or not torch.equal(got, ref):
                    err = max(err, float((got - ref).abs().max()) if got.numel() else float("inf"))
                    if not err == err:
                        return float("inf"), 0.0
    return err, 0.0


def case_noise(dtype):
    from physnn.crossbar.read import add_counter_normal

    g = torch.Generator().manual_seed(3)
    err = 0.0
    for shared in (True, False):
        K = 5
        y = torch.randn(7, 1 if shared else K, 33, generator=g, dtype=dtype)
        std = [0.0, 0.5, 1.0, 2.0, 3.0]
        keys = [int(torch.randint(0, 2**62, (), generator=g)) for _ in range(K)]
        ref = add_counter_normal(y, std, keys, backend="reference")
        got = add_counter_normal(y, std, keys, backend="numba_cpu")
        err = max(err, float((got - ref).abs().max()))
    return err, 0.0


def case_lstm(dtype):
    from torch import nn

    from physnn.crossbar import aihwkit_preset
    from physnn.crossbar.backends import lstm_loop
    from physnn.crossbar.rnn import AnalogLSTM, RampActivations

    torch.manual_seed(4)
    ref = nn.LSTM(5, 7).to(dtype)
    x = torch.randn(6, 3, 5, dtype=dtype) * 2
    cfg = aihwkit_preset(bound_management=False, out_noise=0.04, t_inference=3600.0)
    compiled = lstm_loop.lstm_sequence
    err = 0.0
    for acts in (None, RampActivations(bits=5)):
        for ens, c in ((None, cfg.replace(adc=None)), (2, cfg)):
            outs = []
            for loop in (compiled, lstm_loop.reference_sequence):
                lstm_loop.lstm_sequence = loop
                try:
                    kw = {} if acts is None else {"activations": acts}
                    m = (
                        AnalogLSTM.from_torch(
                            ref, config=c, ensemble=ens, generator=torch.Generator().manual_seed(0), **kw
                        )
                        .to(dtype)
                        .eval()
                    )
                    assert m.cell._compilable(torch.zeros(1, dtype=dtype))
                    with torch.no_grad():
                        o, (h, cc) = m(x)
                finally:
                    lstm_loop.lstm_sequence = compiled
                outs.append(torch.cat([o.reshape(-1), h.reshape(-1), cc.reshape(-1)]))
            err = max(err, float((outs[0] - outs[1]).abs().max()))
    return err, 0.0  # the compiled loop equals its torch reference bit for bit


def case_esn(dtype):
    from physnn.reservoir.esn import ESN, ESNParams

    p = ESNParams(n_units=37, spectral_radius=(0.8, 0.95), input_scaling=0.7, leak_rate=(0.6, 1.0), bias_scaling=0.3)
    u = torch.rand(3, 80, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) - 0.5
    gens = lambda: [torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)]  # noqa: E731
    a = ESN(3, p, generator=gens(), backend="numba", dtype=dtype).run(u)
    b = ESN(3, p, generator=gens(), backend="torch", dtype=dtype).run(u)
    return float((a - b).abs().max()), (1e-13 if dtype == torch.float64 else 2e-5)


def case_josephson(dtype):
    if dtype != torch.float64:
        raise ValueError("josephson: the kernels are float64 only")
    from physnn.josephson import Ensemble, simulate, use_backend

    src = HERE / "josephson" / "data" / "dcsfq_jtl_sink_physnn.cir"

    def ens():
        return simulate(
            src, tstop=250e-12, ensemble=Ensemble(n=12, ic_spread=0.05), generator=torch.Generator().manual_seed(0)
        )

    err = 0.0
    fast, single = ens(), simulate(src, tstop=250e-12, backend="sparse")
    with use_backend("dense-numpy"):  # the numpy reference loop
        ref = ens()
    single_ref = simulate(src, tstop=250e-12, backend="sparse-numpy")
    # a run from JoSIM's start-up state (DC bias before t = 0): the compiled sparse loop from its history
    st = HERE / "josephson" / "data" / "corpus" / "startup_dc_jtl.cir"
    start, start_ref = simulate(st, backend="sparse-compiled"), simulate(st, backend="sparse-numpy")
    for a, b in ((fast, ref), (single, single_ref), (start, start_ref)):
        for name in ("phase", "voltage"):
            scale = max(float(np.abs(b[name].values).max()), 1e-300) if name == "voltage" else 1.0
            err = max(err, float(np.abs(a[name].values - b[name].values).max()) / scale)
    return err, 1e-9


def case_sliced(dtype):
    """Bit-sliced read (issue 25): every slice read through the numba back end vs the reference."""
    import dataclasses

    from physnn.crossbar.bit_slicing import SlicedReadSpec, sliced_read

    err = 0.0
    for E, per_member in ((None, False), (4, False), (4, True)):
        for p in (None, 1, 3):
            sl = tuple(dataclasses.replace(_spec(E, 13, 37, dtype=dtype, seed=k), bias=None) for k in (1, 2))
            sp = SlicedReadSpec(
                slices=sl,
                significance=(1.0, 16.0),
                input_bits_per_cycle=p,
                bias=torch.randn(13, dtype=dtype),
                key=12345,
            )
            for lead in ((2, 3), (1,), (0,), (64,)):
                shape = ((E,) if per_member else ()) + lead + (37,)
                x = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
                got = sliced_read(sp, x, per_member=per_member, backend="numba_cpu")
                ref = sliced_read(sp, x, per_member=per_member, backend="reference")
                if got.shape != ref.shape or not torch.equal(got, ref):
                    err = max(err, float((got - ref).abs().max()) if got.numel() else float("inf"))
                    if not err == err:
                        return float("inf"), 0.0
    return err, 0.0


def case_conv(dtype):
    """Compact conv read (numba patch DAC + finish kernels) vs the unfold + reference read."""
    from dataclasses import replace

    from torch import nn

    from physnn.crossbar import AnalogConv2d, TileMapping, aihwkit_preset
    from physnn.crossbar.adc import ADC
    from physnn.crossbar.read import use_backend

    err = 0.0
    for cfg in (aihwkit_preset(), replace(aihwkit_preset(), adc=ADC(8, 0.3))):
        for E in (None, 3):
            conv = nn.Conv2d(8, 12, 3, 1, 1).to(dtype)
            layer = (
                AnalogConv2d.from_conv(
                    conv,
                    config=cfg,
                    tile=TileMapping(rows=40, cols=5),
                    ensemble=E,
                    generator=torch.Generator().manual_seed(0),
                )
                .eval()
                .program()
            )
            x = torch.randn(2, 8, 9, 11, generator=torch.Generator().manual_seed(1), dtype=dtype)
            with torch.no_grad():
                st = layer.linear.generator.get_state()
                got = layer(x)
                layer.linear.generator.set_state(st)
                with use_backend("reference"):
                    ref = layer(x)
            d = (got - ref).abs()
            # float32: an output within round-off of an ADC rounding edge may move one step
            frac = float((d > 1e-5).double().mean())
            err = max(
                err,
                float("inf")
                if not bool(torch.isfinite(got).all()) or frac > 1e-3
                else (float(d.max()) if dtype == torch.float64 else 0.0),
            )
    return err, 1e-12


CASES = {
    "read": case_read,
    "sliced": case_sliced,
    "conv": case_conv,
    "noise": case_noise,
    "lstm": case_lstm,
    "esn": case_esn,
    "josephson": case_josephson,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cases", required=True, help="comma-separated name:dtype list, run in this order")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import numba

    from physnn.crossbar.backends import NumbaCPU

    NumbaCPU.threads = args.threads
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    out, bad = {}, []
    for item in args.cases.split(","):
        name, _, dt = item.partition(":")
        err, bound = CASES[name](DTYPES[dt or "float64"])
        out[item] = err
        if not err <= bound:  # NaN fails too
            bad.append(f"{item}: max error {err} > {bound}")
    out["poison"] = __import__("physnn.buffers", fromlist=["POISON"]).POISON
    out["threads"] = args.threads
    print(json.dumps(out))
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
