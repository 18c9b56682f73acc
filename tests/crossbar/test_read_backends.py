"""Every read back end equals the reference read (same spec, same noise key), bit for bit on the CPU.

Also: the spec's validation (bad input names the field), back-end choice, and that a read's
result does not depend on the batch size (no size threshold anywhere).
"""

import dataclasses
import pickle

import numba
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from physnn.crossbar.read import ReadSpec, backends, read, reference_read, use_backend

FAST = [b for b in backends() if b != "reference"]


def _spec(
    E,
    out_f,
    in_f,
    *,
    dtype=torch.float32,
    adc=True,
    bm=False,
    noise=2.0,
    abs_max=True,
    bias=True,
    dac=True,
    seed=0,
    gain=1.0,
):
    g = torch.Generator().manual_seed(seed)
    lead = () if E is None else (E,)
    # code-unit weights as AnalogLinear makes them (normalised weights, DAC step / ADC step = 1)
    w = (torch.rand(*lead, out_f, in_f, generator=g, dtype=dtype) * 2 - 1) * gain
    return ReadSpec(
        weight=w,
        scale=torch.rand(lead, generator=g, dtype=dtype) + 0.5,
        bias=torch.randn(out_f, generator=g, dtype=dtype) if bias else None,
        in_step=1 / 127 if dac else 1.0,
        in_levels=127.0 if dac else None,
        abs_max=abs_max,
        noise_std=noise,
        adc_levels=127.0 if adc else None,
        bound_management=bm,
        max_reduction=31.75,
        key=int(torch.randint(0, 2**62, (), generator=g)) * 3,
    )


def _x(spec, lead, per_member, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = ((spec.ensemble,) if per_member else ()) + tuple(lead) + (spec.in_features,)
    return torch.randn(shape, generator=g, dtype=spec.weight.dtype)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("E,per_member", [(None, False), (4, False), (4, True)])
@pytest.mark.parametrize("adc,bm", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("threads", [1, 2])
def test_backend_equals_reference(backend, dtype, E, per_member, adc, bm, threads, monkeypatch):
    from physnn.crossbar.backends import NumbaCPU

    n = torch.get_num_threads()
    torch.set_num_threads(threads)
    monkeypatch.setattr(NumbaCPU, "threads", threads)  # numba's threads of the fused passes
    try:
        # gain 40: outputs of ~±300 codes, so the ADC saturates and bound management repeats reads
        spec = _spec(E, 13, 37, dtype=dtype, adc=adc, bm=bm, gain=40.0 if bm else 1.0)
        for lead in [(5,), (2, 3), (0,), (1,)]:
            x = _x(spec, lead, per_member)
            ref = reference_read(spec, x, per_member=per_member)
            got = read(spec, x, per_member=per_member, backend=backend)
            assert got.shape == ref.shape and got.dtype == dtype
            assert torch.equal(got, ref), (lead, float((got - ref).abs().max()) if got.numel() else 0.0)
    finally:
        torch.set_num_threads(n)


@pytest.mark.parametrize("backend", FAST)
def test_bound_management_repeats_only_saturating_tiles(backend):
    spec = _spec(3, 8, 32, bm=True, noise=0.0, gain=0.1)
    w = spec.weight.clone()
    w[1] *= 40.0  # member 1 saturates the ADC, 0 and 2 do not
    spec_bm = dataclasses.replace(spec, weight=w)
    spec_no = dataclasses.replace(spec_bm, bound_management=False)
    x = _x(spec, (6,), False)
    a, b = read(spec_bm, x, backend=backend), read(spec_no, x, backend=backend)
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
    s = x.abs().amax(-1, keepdim=True)
    codes_no = ((b[1] - spec.bias) / (s * spec.scale[1])).round()
    codes_bm = (a[1] - spec.bias) / (s * spec.scale[1])
    assert float(codes_no.abs().max()) == 127.0  # saturated without
    assert float(codes_bm.abs().max()) > 4 * 127  # halved inputs, outputs doubled back


@pytest.mark.parametrize("backend", ["reference", *FAST])
@pytest.mark.parametrize("E", [None, 4])
def test_result_does_not_depend_on_batch_size(backend, E):
    """Row r of a read is the same whether read alone or in a larger batch (no size threshold)."""
    spec = _spec(E, 64, 96)
    x = _x(spec, (300,), False)
    full = read(spec, x, backend=backend)
    for k in (1, 7, 64):
        part = read(spec, x[:k], backend=backend)
        assert torch.equal(part, full[..., :k, :])


@settings(max_examples=40, deadline=None)
@given(
    E=st.sampled_from([None, 1, 3]),
    per_member=st.booleans(),
    out_f=st.integers(1, 9),
    in_f=st.integers(1, 11),
    rows=st.integers(0, 7),
    adc=st.booleans(),
    bm=st.booleans(),
    noise=st.sampled_from([0.0, 0.5, 3.0]),
    abs_max=st.booleans(),
    bias=st.booleans(),
    dac=st.booleans(),
    f64=st.booleans(),
    gain=st.sampled_from([1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_property_backends_equal_reference(
    E, per_member, out_f, in_f, rows, adc, bm, noise, abs_max, bias, dac, f64, gain, seed
):
    per_member = per_member and E is not None
    spec = _spec(
        E,
        out_f,
        in_f,
        dtype=torch.float64 if f64 else torch.float32,
        adc=adc,
        bm=bm and adc,
        noise=noise,
        abs_max=abs_max,
        bias=bias,
        dac=dac,
        seed=seed,
        gain=gain,
    )
    x = _x(spec, (rows,), per_member, seed + 1)
    ref = reference_read(spec, x, per_member=per_member)
    for b in FAST:
        assert torch.equal(read(spec, x, per_member=per_member, backend=b), ref)


def test_reference_is_differentiable_and_auto_falls_back():
    spec = _spec(None, 5, 7, adc=False, noise=0.0)
    x = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    spec64 = dataclasses.replace(
        spec,
        weight=spec.weight.double(),
        scale=spec.scale.double(),
        bias=spec.bias.double(),
        in_levels=None,
        in_step=1.0,
        abs_max=False,
    )
    torch.autograd.gradcheck(lambda z: reference_read(spec64, z), (x,))
    y = read(spec64, x)  # "auto": the fast back ends refuse autograd
    y.sum().backward()
    assert x.grad is not None
    for b in FAST:
        with pytest.raises(ValueError, match="autograd"):
            read(spec64, x, backend=b)


def test_backend_choice_by_context_and_errors():
    spec = _spec(2, 4, 6)
    x = _x(spec, (3,), False)
    with use_backend("reference"):
        a = read(spec, x)
    assert torch.equal(a, reference_read(spec, x))
    with pytest.raises(ValueError, match="backend='nosuch'"):
        read(spec, x, backend="nosuch")
    with pytest.raises(ValueError, match="nosuch"):
        with use_backend("nosuch"):
            pass


def test_bad_input_names_the_field():
    spec = _spec(2, 4, 6)
    with pytest.raises(ValueError, match="x: dtype"):
        read(spec, torch.randn(3, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="x: last dimension"):
        read(spec, torch.randn(3, 5))
    with pytest.raises(ValueError, match="x: device"):
        read(spec, torch.randn(3, 6, device="meta"))
    with pytest.raises(ValueError, match="per-member"):
        read(spec, torch.randn(3, 2, 6), per_member=True)
    w = torch.randn(2, 4, 6)
    with pytest.raises(ValueError, match="scale: expected shape"):
        ReadSpec(weight=w, scale=torch.ones(3))
    with pytest.raises(ValueError, match="bias: dtype"):
        ReadSpec(weight=w, scale=torch.ones(2), bias=torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="bias: expected shape"):
        ReadSpec(weight=w, scale=torch.ones(2), bias=torch.ones(5))
    with pytest.raises(ValueError, match="bound_management"):
        ReadSpec(weight=w, scale=torch.ones(2), bound_management=True)
    with pytest.raises(ValueError, match="key"):
        ReadSpec(weight=w, scale=torch.ones(2)).with_key(-1)
    for b in FAST:  # what a back end cannot do, it says (here: another dtype than float32/64)
        s16 = ReadSpec(weight=w.to(torch.bfloat16), scale=torch.ones(2, dtype=torch.bfloat16))
        with pytest.raises(ValueError, match="cannot do this read"):
            read(s16, torch.randn(3, 6, dtype=torch.bfloat16), backend=b)
        assert read(s16, torch.randn(3, 6, dtype=torch.bfloat16)).shape == (2, 3, 4)  # auto: reference


def test_numba_threading_layer_is_numbas_own(monkeypatch):
    from physnn.crossbar.backends import NumbaCPU

    assert "numba_cpu" in FAST
    monkeypatch.setattr(NumbaCPU, "threads", 2)
    spec = _spec(2, 4, 6)
    read(spec, _x(spec, (3,), False), backend="numba_cpu")
    assert numba.threading_layer() in ("omp", "tbb", "workqueue")


@pytest.mark.parametrize("E", [None, 5])
def test_layer_reads_equal_across_backends(E):
    """AnalogLinear chooses its back end by argument; with the same generator state every back end
    gives the same read of the same programmed chip (aihwkit preset: noise, ADC, bound management)."""
    from physnn.crossbar import AnalogLinear, aihwkit_preset

    torch.manual_seed(0)
    x = torch.randn(7, 24) * 3
    outs = []
    for b in ["reference", *FAST]:
        lay = AnalogLinear(
            24,
            9,
            config=aihwkit_preset(t_inference=60.0),
            ensemble=E,
            backend=b,
            generator=torch.Generator().manual_seed(3),
        )
        torch.manual_seed(1)
        lay.reset_parameters()
        with torch.no_grad():
            outs.append(lay.eval().program()(x))
    for o in outs[1:]:
        assert torch.equal(o, outs[0])
    with pytest.raises(TypeError):
        aihwkit_preset(fast_noise=True)  # speed switches are not physics any more


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shared", [True, False])
def test_add_counter_normal_backends_equal_reference_and_have_each_copies_std(dtype, shared):
    """Noisy copies (the output noise of K reads sharing one MVM): every back end gives the
    reference's numbers bit for bit; copy k has std[k] and its own key's draws."""
    from physnn.crossbar.read import add_counter_normal, counter_normal

    R, K, M = 3, 4, 4096
    y = torch.randn(R, 1 if shared else K, M, dtype=dtype, generator=torch.Generator().manual_seed(1))
    std, keys = [0.0, 0.5, 2.0, 1.0], [7, 2**64 - 1, 12345, 7]
    ref = add_counter_normal(y, std, keys, backend="reference")
    for b in FAST:
        assert torch.equal(add_counter_normal(y, std, keys, backend=b), ref), b
        # into a strided slice of a larger tensor (the sweep's block of points): same numbers,
        # the rest of the tensor untouched
        big = torch.full((R, K + 3, M), 7.0, dtype=dtype)
        res = add_counter_normal(y, std, keys, out=big[:, 1 : K + 1], backend=b)
        assert res.data_ptr() == big[:, 1 : K + 1].data_ptr() and torch.equal(big[:, 1 : K + 1], ref)
        assert bool((big[:, 0] == 7).all()) and bool((big[:, K + 1 :] == 7).all())
    noise = ref - (y if not shared else y.expand(R, K, M))
    assert torch.equal(noise[:, 0], torch.zeros_like(noise[:, 0]))  # std 0: a copy
    for k in (1, 2):
        assert abs(float(noise[:, k].std()) / std[k] - 1) < 0.03
    # the draws are counter_normal of the copy's key over the (R, M) flat index
    z = counter_normal(keys[1], torch.arange(R * M).view(R, M), dtype)
    assert torch.allclose(noise[:, 1], 0.5 * z, rtol=1e-5, atol=1e-6)
    # same key, same draws (copies 0 and 3 share key 7; copy 3 has std 1)
    z7 = counter_normal(7, torch.arange(R * M).view(R, M), dtype)
    assert torch.allclose(noise[:, 3], z7, rtol=1e-5, atol=1e-6)


def test_add_counter_normal_bad_input_names_the_parameter():
    from physnn.crossbar.read import add_counter_normal

    y = torch.zeros(2, 1, 5)
    with pytest.raises(ValueError, match="std"):
        add_counter_normal(y, [0.1, -1.0], [1, 2])
    with pytest.raises(ValueError, match="std"):
        add_counter_normal(y, [0.1], [1, 2])
    with pytest.raises(ValueError, match="y: expected"):
        add_counter_normal(torch.zeros(2, 3, 5), [0.1, 0.1], [1, 2])
    with pytest.raises(ValueError, match="keys"):
        add_counter_normal(y, [0.1], [-1])
    with pytest.raises(ValueError, match="out: expected"):
        add_counter_normal(y, [0.1], [1], out=torch.zeros(2, 2, 5))
    with pytest.raises(ValueError, match="backend='nope'"):
        add_counter_normal(y, [0.1], [1], backend="nope")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nonfinite_and_signed_zero_inputs_read_as_the_reference(dtype):
    """A NaN in an input vector makes its abs-max scale NaN (torch's amax propagates it), and so
    does an inf (inf / inf); an all-(-0.0) vector reads as the bias: every back end as the
    reference, and other rows are unaffected."""
    spec = _spec(None, 5, 8, dtype=dtype, adc=True, noise=0.5)
    x = _x(spec, (4,), False)
    x[0, 3] = float("nan")
    x[1, 2] = float("inf")
    x[2] = -0.0
    ref = reference_read(spec, x)
    assert torch.isnan(ref[:2]).all() and torch.isfinite(ref[2:]).all()
    for b in FAST:
        torch.testing.assert_close(read(spec, x, backend=b), ref, rtol=0, atol=0, equal_nan=True)


def test_draw_key_is_one_randint_draw():
    """draw_key reuses a buffer but draws exactly what torch.randint(-2**63, 2**63 - 1) draws."""
    from physnn.crossbar.layer import draw_key

    g1, g2 = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    got = [draw_key(g1) for _ in range(5)]
    want = [
        int(torch.randint(-(2**63), 2**63 - 1, (), generator=g2, dtype=torch.int64)) & ((1 << 64) - 1) for _ in range(5)
    ]
    assert got == want and len(set(got)) == 5
    assert all(0 <= k < 2**64 for k in got)


def test_keyed_copies_share_the_memo_and_pickle_without_it():
    """with_key copies share the back ends' memo (prepared kernels); dataclasses.replace and
    pickling give a fresh one, and a pickled spec reads the same numbers."""
    spec = _spec(None, 6, 9)
    x = _x(spec, (4,), False)
    y = read(spec, x)
    copy = spec.with_key(spec.key)
    assert copy.memo is spec.memo and copy.key == spec.key
    assert dataclasses.replace(spec, noise_std=0.5).memo is not spec.memo
    back = pickle.loads(pickle.dumps(spec))
    assert back.memo == {} and back.memo is not spec.memo
    assert torch.equal(read(back, x), y) and torch.equal(reference_read(back, x), y)
