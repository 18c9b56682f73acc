"""What a layer (and a converted model) costs: energy, latency and area per component.

:class:`CostConfig` is the design (technology card, ADC architecture, input encoding, weight
slices, ADC sharing, tiles in parallel or in sequence); :func:`layer_cost_tensors` evaluates one
read of a layer from the conductances it holds now (``g_now`` of every tile) and the input it is
given (the DAC codes it computes from it, per tile slice and input vector), batched over the
ensemble of chips, as torch tensors that carry gradients to any config field given as a tensor;
:func:`layer_cost` and :func:`model_cost` give the same as an :class:`xarray.Dataset` with units.
:class:`CostRecorder` records the cost of every analog read a model's forward makes (hooks on its
analog layers), which is how :func:`model_cost` sees each layer's real input.

Energy components (J, per member of the ensemble): ``array`` (``t V^2 G`` of the devices,
:mod:`.array`), ``dac`` (row drivers, per driven row-cycle), ``adc`` (``FOM 2^bits`` per
conversion), ``sense_amp`` (per conversion), ``shift_add`` (combining input cycles and weight
slices: ``cycles * slices - 1`` additions per tile output), ``partial_sum`` (adding the input
tiles' outputs: ``n_in - 1`` additions per layer output), ``buffer`` (reading the input vector and
writing the output vector, ``activation_bits`` each), ``interconnect`` (inputs broadcast to the
output tiles, partial sums gathered from the input tiles, times the bit-toggle rate).

Latency components (s): ``array``, ``adc`` (:mod:`.latency`), ``shift_add`` (adder-tree stages
per vector, optionally pipelined with the conversions), ``partial_sum``, ``buffer`` (``buffer_width``
bits per clock), ``interconnect`` (``interconnect_width`` bits per clock; 0 when not given). With
``weight_copies`` the tile-level parts read ``ceil(N / copies)`` vectors (:mod:`.duplication`).

Not modelled (stated, not hidden): leakage; bound-management repeats (a repeated read costs the
same again, not counted); the sinh I-V law (the array energy uses ohmic devices); with
``weight_slices > 1`` on an unsliced layer, conversions, adders, cells and area count the
slices, while the array energy uses the conductances of the read itself (its devices, not sliced
ones). A :class:`~physnn.crossbar.bit_slicing.SlicedAnalogLinear` is costed as what it is: its
slices are arrays on the same inputs, every device's conductance counts (``weight_slices`` stays
1; give ``inputs=BitSerialInput(...)`` for a layer with input cycles).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..._checks import check_int_range
from ..bit_slicing import SlicedAnalogLinear
from ..conv import AnalogConv1d, AnalogConv2d
from ..layer import AnalogLinear, per_member_input, state_epoch
from ..mapping import DifferentialPair
from ..patches import PatchColumns
from ..tiles import TiledAnalogLinear, devices_per_tile
from .adc import FlashConverter, RampConverter, SARConverter, conversion_energy, conversion_time
from .area import array_area
from .dac import AmplitudeInput, BitSerialInput
from .row_activity import bits_of, patch_row_activity, row_activity, row_activity_reference
from .digital import adder_energy, buffer_energy, interconnect_energy
from .duplication import duplicated_vectors
from .latency import accumulation_latency, adder_tree_stages, bus_latency, layer_read_latency, tile_read_time
from .programming import programming_energy, programming_time
from .sense_amp import sense_amp_energy
from .technology import CostTechnology, Number, check_number

__all__ = [
    "CostConfig",
    "layer_cost_tensors",
    "layer_cost",
    "model_cost",
    "CostRecorder",
    "ENERGY_COMPONENTS",
    "LATENCY_COMPONENTS",
    "AREA_COMPONENTS",
]

ENERGY_COMPONENTS = ("array", "dac", "adc", "sense_amp", "shift_add", "partial_sum", "buffer", "interconnect")
LATENCY_COMPONENTS = ("array", "adc", "shift_add", "partial_sum", "buffer", "interconnect")
AREA_COMPONENTS = ("array", "dac", "adc", "shift_add", "partial_sum", "buffer")


@dataclass(frozen=True, kw_only=True)
class CostConfig:
    """The design whose cost is evaluated.

    Parameters
    ----------
    technology : CostTechnology
        Technology numbers (``CostTechnology.from_card("rram_neurosim_22nm")``).
    adc : SARConverter, RampConverter or FlashConverter
        ADC architecture and resolution.
    inputs : AmplitudeInput or BitSerialInput
        How inputs reach the rows (one amplitude pulse, or bit-serial cycles).
    weight_slices : int
        Physical columns per weight column (weights sliced over devices, significance added
        digitally): multiplies conversions, shift-adds, cells and their area.
    columns_per_adc : int
        Columns sharing one ADC (converted one after another).
    tiles_parallel : bool
        All tiles of a layer read at once (True) or one after another (False).
    activation_bits : int
        Bits of an activation in the buffers and on the interconnect.
    accumulator_bits : int
        Width of the shift-add and partial-sum adders.
    buffer_width : int
        Bits the buffer delivers per clock cycle.
    pulses_per_device : float
        Programming pulses per device (e.g. a write-verify loop's mean count).
    v_read : float or Tensor, optional
        Full-scale read voltage in V; None: the layer's ``config.v_read``.
    toggle : float, optional
        Bit-toggle rate of the interconnect; None: measured (the fraction of set bits of the
        input codes; 0.5 without a DAC).
    overlap_pulse : bool
        The conversions of a cycle overlap its read pulse (a cycle takes ``max(t_read, q
        t_conversion)``, :mod:`.latency`); False: they follow it.
    weight_copies : int
        Copies of the layer's weights on otherwise idle arrays, each reading a different share of
        the input vectors at once (:mod:`.duplication`; DNN+NeuroSim's ``speedUpEachLayer``): the
        array, ADC and shift-add latency are those of ``ceil(N / weight_copies)`` vectors; energy
        unchanged (each vector is read once); cells, row drivers, ADCs and shift-adders, their area
        and programming energy count every copy. Buffer, interconnect and the partial-sum
        accumulation unit are shared by the copies (not duplicated, not faster).
    overlap_accumulation : bool
        Shift-and-add pipelined with the conversions of the next vector
        (:func:`~.latency.accumulation_latency`); False: it follows them.
    interconnect_width : int, optional
        Bits per clock cycle of the bus between buffer and tiles: the interconnect latency moves
        the same bits the interconnect energy counts (:func:`~.latency.bus_latency`); None: the
        interconnect latency is not modelled (0).
    layer_pipeline : bool
        Layers work as a pipeline, each on its own image (DNN+NeuroSim's ``pipeline`` mode): a
        model's ``latency_total`` is then the slowest layer's latency (the time per image at full
        throughput); False: layers run one after another and their latencies add up. Per-layer
        figures do not depend on it.
    fast : bool
        Use the compiled per-row activity pass (:func:`~.row_activity.row_activity`, equal to
        the torch reference bit for bit); False: the torch reference.
    """

    technology: CostTechnology
    adc: SARConverter | RampConverter | FlashConverter = SARConverter(bits=8)
    inputs: AmplitudeInput | BitSerialInput = AmplitudeInput()
    weight_slices: int = 1
    columns_per_adc: int = 1
    tiles_parallel: bool = True
    activation_bits: int = 8
    accumulator_bits: int = 16
    buffer_width: int = 256
    pulses_per_device: float = 1.0
    v_read: Number | None = None
    toggle: float | None = None
    fast: bool = True
    overlap_pulse: bool = True
    weight_copies: int = 1
    overlap_accumulation: bool = False
    interconnect_width: int | None = None
    layer_pipeline: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.technology, CostTechnology):
            raise TypeError(f"technology: expected a CostTechnology, got {type(self.technology).__name__}")
        if not isinstance(self.adc, (SARConverter, RampConverter, FlashConverter)):
            raise TypeError(
                f"adc: expected SARConverter, RampConverter or FlashConverter, got {type(self.adc).__name__}"
            )
        if not isinstance(self.inputs, (AmplitudeInput, BitSerialInput)):
            raise TypeError(f"inputs: expected AmplitudeInput or BitSerialInput, got {type(self.inputs).__name__}")
        for name in (
            "weight_slices",
            "columns_per_adc",
            "activation_bits",
            "accumulator_bits",
            "buffer_width",
            "weight_copies",
        ):
            check_int_range(getattr(self, name), name, 1)
        if self.interconnect_width is not None:
            check_int_range(self.interconnect_width, "interconnect_width", 1)
        for name in ("tiles_parallel", "fast", "overlap_pulse", "overlap_accumulation", "layer_pipeline"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected a bool, got {getattr(self, name)!r}")
        object.__setattr__(self, "pulses_per_device", check_number(self.pulses_per_device, "pulses_per_device"))
        if self.v_read is not None:
            object.__setattr__(self, "v_read", check_number(self.v_read, "v_read", allow_zero=False))
        if self.toggle is not None and not (isinstance(self.toggle, (int, float)) and 0 <= self.toggle <= 1):
            raise ValueError(f"toggle={self.toggle!r}: must be in [0, 1] or None")


def _t(v: Any, like: torch.Tensor) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=like.dtype, device=like.device)


def _geometry(layer: nn.Module):
    """``(tiles, (G, n_in, n_out), rows, in_features, out_features)`` of a linear analog layer (the
    slices of a bit-sliced layer are arrays side by side on the same inputs: ``n_out`` of them)."""
    if isinstance(layer, SlicedAnalogLinear):
        return (
            list(layer.slices),
            (1, 1, layer.slicing.weight_slices),
            layer.in_features,
            layer.in_features,
            layer.out_features,
        )
    if isinstance(layer, TiledAnalogLinear):
        return (
            list(layer.tiles),
            layer.grid,
            layer.in_edges[1] - layer.in_edges[0],
            layer.in_features,
            layer.out_features,
        )
    if isinstance(layer, AnalogLinear):
        return [layer], (1, 1, 1), layer.in_features, layer.in_features, layer.out_features
    raise TypeError(
        f"layer: expected an AnalogLinear, TiledAnalogLinear (a convolution's .linear) or SlicedAnalogLinear, got "
        f"{type(layer).__name__}; use model_cost or CostRecorder for convolutions"
    )


def _row_conductance(t: AnalogLinear, rows: int, E1: int, dtype) -> torch.Tensor:
    """Sum of the conductances of all devices on each input row of tile ``t`` now: ``(E1, rows)``."""
    t.read_spec()  # programs the tile if needed
    g = t.g_now.to(dtype)
    gs = g.sum((-3, -2)) if isinstance(t.config.mapping, DifferentialPair) else g.sum(-2)
    gs = gs.reshape(-1, gs.shape[-1]).expand(E1, -1)
    return torch.nn.functional.pad(gs, (0, rows - gs.shape[-1]))


_STATE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _tile_state(spec: Any, tiles: list, R: int, E1: int, grid: tuple[int, int, int], config: CostConfig) -> dict:
    """What the cost needs of the programmed tiles (row conductance sums, columns, ADCs, devices),
    computed once per read spec: a layer's spec object changes whenever its devices do."""
    key = (config.weight_slices, config.columns_per_adc)
    per_spec = _STATE.setdefault(spec, {})
    st = per_spec.get(key)
    if st is None:
        G, n_in, n_out = grid
        g_rows = torch.stack([_row_conductance(t, R, E1, torch.float64) for t in tiles], 1)
        k = config.weight_slices
        cols = [t.out_features * k for t in tiles]
        n_adc = [math.ceil(c / config.columns_per_adc) for c in cols]
        conv_per_adc = [math.ceil(c / a) for c, a in zip(cols, n_adc)]
        rows = [t.in_features for t in tiles]
        st = {
            "g_rows": g_rows.reshape(E1, G, n_in, n_out, R).sum(3),
            "cols": cols,
            "n_adc": n_adc,
            "conv_per_adc": conv_per_adc,
            "conv_per_adc_kinds": sorted(set(conv_per_adc)),
            "logical_cols": sum(t.out_features for t in tiles),
            "devices": sum(devices_per_tile(t.config, t.out_features, t.in_features) for t in tiles) * k,
            "rows_total": sum(rows),
            "rows_max": max(rows),
        }
        per_spec[key] = st
    return st


def layer_cost_tensors(
    layer: nn.Module, x: torch.Tensor | PatchColumns, config: CostConfig, *, shared_input: bool | None = None
) -> dict[str, Any]:
    """Cost of one read of ``x`` by ``layer`` (an :class:`AnalogLinear` or :class:`TiledAnalogLinear`).

    Parameters
    ----------
    layer : AnalogLinear or TiledAnalogLinear
        Programmed (programs itself if not); its ``g_now`` is what the read sees.
    x : Tensor, (..., in) or (E, ..., in), or PatchColumns
        The read's input (layouts as the layer's forward); a convolution's
        :class:`~physnn.crossbar.patches.PatchColumns` costs as its matrix
        (:meth:`~physnn.crossbar.patches.PatchColumns.matrix`), the same numbers, computed from
        the images without unfolding them where the DAC scale is fixed
        (:func:`~.row_activity.patch_row_activity`).
    config : CostConfig
    shared_input : bool, optional
        As the layer's forward.

    Returns
    -------
    dict
        ``energy``: component -> Tensor (E1,) in J (E1 = ensemble or 1); ``latency`` and
        ``area``: component -> 0-dim Tensor in s and m^2; ``programming_energy`` (J),
        ``programming_time`` (s), ``vectors`` (input vectors read), ``ensemble``.
    """
    return _layer_cost(layer, x, config, shared_input, None)


def _layer_cost(
    layer: nn.Module, x: torch.Tensor | PatchColumns, config: CostConfig, shared_input: bool | None, spec: Any
) -> dict[str, Any]:
    """:func:`layer_cost_tensors` with the layer's read spec ``spec`` for ``x``'s dtype and device
    when the caller knows it is current (None: asked of the layer, which programs it if needed)."""
    if not isinstance(config, CostConfig):
        raise TypeError(f"config: expected a CostConfig, got {type(config).__name__}")
    tiles, (G, n_in, n_out), R, in_f, out_f = _geometry(layer)
    patches = x if isinstance(x, PatchColumns) else None
    if patches is not None:
        if patches.width != in_f:
            raise ValueError(f"x: {patches.width} unfolded columns, the layer has in_features={in_f}")
        lead = patches.lead or (patches.x.shape[0],)
        xs = torch.empty((*lead, patches.out_size[0] * patches.out_size[1], in_f), device="meta")
        dtype, device = patches.x.dtype, patches.x.device
    else:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[-1] != in_f:
            raise ValueError(f"x: last dimension must be in_features={in_f}, got shape {tuple(x.shape)}")
        xs, dtype, device = x, x.dtype, x.device
    E = layer.ensemble
    E1 = 1 if E is None else E
    per_member = per_member_input(xs, E, shared_input)
    tech, inputs = config.technology, config.inputs
    if spec is None:
        spec = layer.read_spec(dtype, device)  # cached by the layer until its devices change
    sliced = isinstance(layer, SlicedAnalogLinear)
    if sliced and config.weight_slices != 1:
        raise ValueError(
            "config.weight_slices: a SlicedAnalogLinear's slices are its own arrays (leave "
            "weight_slices=1; its slicing gives them)"
        )
    dspec = spec.slices[0] if sliced else spec  # the DAC every slice shares
    geo = _tile_state(spec, tiles, R, E1, (G, n_in, n_out), config)
    dt = torch.float64
    step = dspec.in_step
    nbits = bits_of(dspec.in_levels)
    if isinstance(inputs, BitSerialInput):
        if nbits is None:
            raise ValueError("inputs=BitSerialInput: needs integer DAC codes (a config with a dac)")
        if nbits > inputs.bits:
            raise ValueError(
                f"inputs=BitSerialInput(bits={inputs.bits}): DAC codes up to {dspec.in_levels:g} need {nbits} bits"
            )
    bit_serial = isinstance(inputs, BitSerialInput)
    B = E1 if per_member else 1
    N = xs.numel() // (B * in_f)
    act: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
    if patches is not None and config.fast and not dspec.abs_max and dspec.in_levels is not None and nbits is not None:
        # every unfolded column is a strided window of the images: the same integer sums without
        # the unfolded matrix (None where the compiled pass does not apply)
        act = patch_row_activity(patches, B, step, dspec.in_levels, bit_serial, nbits, G, n_in, R)
    if act is None:
        xm = patches.matrix() if patches is not None else x
        assert isinstance(xm, torch.Tensor)
        x3 = xm.detach().reshape(B, -1, in_f)
        xg = x3.reshape(B, N, G, in_f // G)
        pad = n_in * R - xg.shape[-1]
        if pad:
            xg = torch.nn.functional.pad(xg, (0, pad))
        xt = xg.reshape(B, N, G, n_in, R)
        # |DAC code| of every tile's input slice (each tile scales its own slice), as the read
        # computes it (|x| / d == |x / d|, and clamp and round-half-even are symmetric)
        s = xt.abs().amax(-1, keepdim=True).clamp(min=1e-30) if dspec.abs_max else None
        x4 = xt.reshape(B, N, G * n_in, R)
        div = step if s is None else (s * step).reshape(B, N, G * n_in, 1)
        activity = row_activity if config.fast else row_activity_reference
        act = activity(x4, div, dspec.in_levels, bit_serial, nbits if nbits is not None and nbits <= 16 else None)
    per_row, driven, ones = act
    p = per_row.to(device).reshape(B, G, n_in, R)  # sum over vectors of c^2 or of set bits
    n_pulse = driven.to(device) * float(n_out)
    v_read = layer.config.v_read if config.v_read is None else config.v_read
    vfac = v_read * v_read * (1.0 if isinstance(inputs, BitSerialInput) else (step / dspec.x_ref) ** 2)
    e_array = (p * geo["g_rows"]).sum((1, 2, 3)) * (tech.t_read * vfac)  # (E1,)
    ref = e_array
    zero = torch.zeros(E1, dtype=dt, device=device)
    e_dac = zero + n_pulse * _t(tech.dac_energy, ref)
    # weight slices combined per output: the config's (slices of an unsliced read, counted) or the
    # sliced layer's own (its slices are the tiles above, one output column each)
    cyc, k = inputs.cycles, (layer.slicing.weight_slices if sliced else config.weight_slices)
    cols = geo["cols"]  # physical columns per tile
    n_cols = out_f if sliced else geo["logical_cols"]
    conv_per_vec = cyc * sum(cols)
    e_conv = conversion_energy(config.adc, tech.adc_fom)
    energy = {
        "array": e_array,
        "dac": e_dac,
        "adc": zero + _t(e_conv, ref) * float(N * conv_per_vec),
        "sense_amp": zero + _t(sense_amp_energy(N * conv_per_vec, tech.sense_amp_energy), ref),
        "shift_add": zero
        + _t(adder_energy(N * n_cols * (cyc * k - 1), config.accumulator_bits, tech.adder_energy_per_bit), ref),
        "partial_sum": zero
        + _t(adder_energy(N * (n_in - 1) * out_f, config.accumulator_bits, tech.adder_energy_per_bit), ref),
        "buffer": zero
        + _t(buffer_energy(N * (in_f + out_f) * config.activation_bits, tech.buffer_energy_per_bit), ref),
    }
    if config.toggle is not None:
        toggle = float(config.toggle)
    elif ones is not None:
        toggle = float(ones.sum()) / max(1, B * N * G * n_in * R * nbits)
    else:
        toggle = 0.5
    ic_bits = N * (in_f * n_out + out_f * n_in) * config.activation_bits
    energy["interconnect"] = zero + _t(interconnect_energy(ic_bits, toggle, tech.interconnect_energy_per_bit), ref)
    # latency
    clk = tech.clock_period
    t_conv = conversion_time(config.adc, clk)
    n_adc = geo["n_adc"]
    ov = config.overlap_pulse
    copies = config.weight_copies
    Nc = duplicated_vectors(N, copies)  # vectors each copy reads one after another
    per_tile = [tile_read_time(cyc, q, tech.t_read, t_conv, overlap=ov) for q in geo["conv_per_adc_kinds"]]
    lat_array, lat_adc = layer_read_latency(Nc, per_tile, config.tiles_parallel)
    if not config.tiles_parallel:  # the distinct tile kinds above stand for all tiles
        lat_array, lat_adc = layer_read_latency(
            Nc, [tile_read_time(cyc, q, tech.t_read, t_conv, overlap=ov) for q in geo["conv_per_adc"]], False
        )
    seq = 1 if config.tiles_parallel else len(tiles)
    t_sa = clk * float(seq * adder_tree_stages(cyc * k))  # shift-add of one vector
    t_cv = (lat_array + lat_adc) / float(max(Nc, 1))  # read (pulse + conversions) of one vector
    ic_lat = 0.0 if config.interconnect_width is None else bus_latency(ic_bits, config.interconnect_width, clk)
    latency = {
        "array": _t(lat_array, ref),
        "adc": _t(lat_adc, ref),
        "shift_add": _t(accumulation_latency(Nc, t_sa, t_cv, overlap=config.overlap_accumulation), ref),
        "partial_sum": _t(clk * float(N * adder_tree_stages(n_in)), ref),
        "buffer": _t(clk * float(N * math.ceil((in_f + out_f) * config.activation_bits / config.buffer_width)), ref),
        "interconnect": _t(ic_lat, ref),
    }
    devices = geo["devices"] * copies
    area = {
        "array": _t(array_area(devices, tech.cell_area, tech.feature_size), ref),
        "dac": _t(tech.dac_area * float(geo["rows_total"] * copies), ref),
        "adc": _t(tech.adc_area * float(sum(n_adc) * copies), ref),
        "shift_add": _t(tech.adder_area_per_bit * float(sum(n_adc) * copies * config.accumulator_bits), ref),
        "partial_sum": _t(tech.adder_area_per_bit * float((n_in > 1) * out_f * config.accumulator_bits), ref),
        "buffer": _t(tech.buffer_area_per_bit * float((in_f + out_f) * config.activation_bits), ref),
    }
    prog_rows = geo["rows_max"] if config.tiles_parallel else geo["rows_total"] * copies
    return {
        "energy": energy,
        "latency": latency,
        "area": area,
        "programming_energy": _t(
            programming_energy(devices, config.pulses_per_device, tech.programming_energy_per_pulse), ref
        ),
        "programming_time": _t(
            programming_time(prog_rows, config.pulses_per_device, tech.programming_pulse_width), ref
        ),
        "vectors": N,
        "ensemble": E,
        "weight_copies": copies,
        "layer_pipeline": config.layer_pipeline,
    }


def _linear_of(name: str, m: nn.Module) -> nn.Module:
    if isinstance(m, (AnalogConv1d, AnalogConv2d)):
        return m.linear
    if isinstance(m, (TiledAnalogLinear, AnalogLinear)):
        return m
    raise TypeError(
        f"layer {name!r}: the cost model covers AnalogLinear, TiledAnalogLinear and analog "
        f"convolutions, not {type(m).__name__}"
    )


class CostRecorder:
    """Records the cost of every read the analog layers of ``model`` make while inside the block.

    Examples
    --------
    >>> with CostRecorder(model, config) as rec:            # doctest: +SKIP
    ...     y = model(x)
    >>> rec.dataset()                                       # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, config: CostConfig, *, layer_configs: Mapping[str, CostConfig] | None = None):
        from ..conversion import analog_layers

        if not isinstance(config, CostConfig):
            raise TypeError(f"config: expected a CostConfig, got {type(config).__name__}")
        self.config = config
        self.layers = [(n or type(m).__name__, _linear_of(n, m)) for n, m in analog_layers(model)]
        if not self.layers:
            raise ValueError("model: has no analog layers (convert it first: physnn.crossbar.convert)")
        self.layer_configs = _check_layer_configs(layer_configs, config, [n for n, _ in self.layers])
        self.results: dict[str, dict[str, Any]] = {}
        self._handles: list[Any] = []
        self._pending: dict[str, tuple[Any, bool | None]] = {}
        # per layer: (state epoch, (dtype, device), read spec) of its last read
        self._specs: "weakref.WeakKeyDictionary[nn.Module, tuple[int, tuple, Any]]" = weakref.WeakKeyDictionary()

    def _record(self, name: str, mod: nn.Module, x: Any, shared_input: bool | None, spec: Any) -> None:
        r = _layer_cost(mod, x, self.layer_configs.get(name, self.config), shared_input, spec)
        old = self.results.get(name)
        if old is not None:  # a layer read more than once: energies and times add up
            for part in ("energy", "latency"):
                r[part] = {c: old[part][c] + v for c, v in r[part].items()}
            r["vectors"] += old["vectors"]
        self.results[name] = r

    def _spec_after_read(self, mod: nn.Module, x: Any) -> Any:
        """The layer's read spec for ``x`` just after its forward read: cached per layer, dtype and
        device while :func:`~physnn.crossbar.layer.state_epoch` is unchanged (no layer changed
        its devices or built a spec since; the forward asked every tile for its spec, which
        re-programs edited weights and so changes the epoch). Else asked of the layer: ~10,000
        tile look-ups a forward of a large model, saved."""
        t = x.x if isinstance(x, PatchColumns) else x
        key = (t.dtype, t.device)
        epoch = state_epoch()
        hit = self._specs.get(mod)
        if hit is not None and hit[0] == epoch and hit[1] == key:
            return hit[2]
        spec = mod.read_spec(t.dtype, t.device)
        self._specs[mod] = (state_epoch(), key, spec)
        return spec

    def _hook(self, name: str):
        # in eval mode every read asks each tile for its spec (programming it if needed), so the
        # cost is evaluated after the read, from the spec the read used; in train mode a read
        # does not (it samples the float weights), so the cost asks before it, as it always did
        def pre(mod, args, kwargs):
            if (
                mod.training
                or not isinstance(mod, (TiledAnalogLinear, AnalogLinear))
                or isinstance(mod, SlicedAnalogLinear)
            ):
                self._pending.pop(name, None)
                self._record(name, mod, args[0], kwargs.get("shared_input"), None)
            else:
                self._pending[name] = (args[0], kwargs.get("shared_input"))

        def post(mod, args, kwargs, out):
            p = self._pending.pop(name, None)
            if p is not None:
                self._record(name, mod, p[0], p[1], self._spec_after_read(mod, p[0]))

        return pre, post

    def __enter__(self) -> "CostRecorder":
        self._pending.clear()
        for name, m in self.layers:
            pre, post = self._hook(name)
            self._handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
            self._handles.append(m.register_forward_hook(post, with_kwargs=True))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._pending.clear()

    def dataset(self):
        """The recorded costs as an :class:`xarray.Dataset` (see :func:`model_cost`)."""
        if not self.results:
            raise ValueError("CostRecorder: no read was recorded (run the model inside the with block)")
        return _dataset(self.results, self.config.layer_pipeline)


def _check_layer_configs(
    layer_configs: Mapping[str, CostConfig] | None, config: CostConfig, names: list[str]
) -> dict[str, CostConfig]:
    """``layer_configs`` checked: analog layer names of the model, CostConfig values that agree with
    ``config`` on ``layer_pipeline`` (a property of the whole model)."""
    if layer_configs is None:
        return {}
    if not isinstance(layer_configs, Mapping):
        raise TypeError(
            f"layer_configs: expected a mapping of layer name to CostConfig, got {type(layer_configs).__name__}"
        )
    unknown = sorted(set(layer_configs) - set(names))
    if unknown:
        raise ValueError(f"layer_configs: {unknown} are not analog layers of the model (its layers: {names})")
    for n, c in layer_configs.items():
        if not isinstance(c, CostConfig):
            raise TypeError(f"layer_configs[{n!r}]: expected a CostConfig, got {type(c).__name__}")
        if c.layer_pipeline != config.layer_pipeline:
            raise ValueError(
                f"layer_configs[{n!r}].layer_pipeline={c.layer_pipeline}: must equal config.layer_pipeline="
                f"{config.layer_pipeline} (it describes the whole model)"
            )
    return dict(layer_configs)


def _dataset(results: dict[str, dict[str, Any]], layer_pipeline: bool = False):
    import numpy as np
    import xarray as xr

    names = list(results)
    E = next(iter(results.values()))["ensemble"]

    def arr(part: str, comps: tuple[str, ...]) -> np.ndarray:
        return np.stack(
            [np.stack([results[n][part][c].detach().cpu().double().numpy() for c in comps], -1) for n in names],
            -2 if part == "energy" else 0,
        )

    e = arr("energy", ENERGY_COMPONENTS)  # (E1, layer, comp)
    edims = ("ensemble", "layer", "energy_component")
    if E is None:
        e, edims = e[0], edims[1:]
    lat = arr("latency", LATENCY_COMPONENTS)
    area = arr("area", AREA_COMPONENTS)
    ds = xr.Dataset(
        {
            "energy": (edims, e, {"units": "J", "long_name": "read energy per component"}),
            "latency": (("layer", "latency_component"), lat, {"units": "s", "long_name": "read latency per component"}),
            "area": (("layer", "area_component"), area, {"units": "m^2", "long_name": "silicon area per component"}),
            "programming_energy": (
                ("layer",),
                np.array([float(results[n]["programming_energy"]) for n in names]),
                {"units": "J", "long_name": "energy to program every device once"},
            ),
            "programming_time": (
                ("layer",),
                np.array([float(results[n]["programming_time"]) for n in names]),
                {"units": "s", "long_name": "time to program the layer"},
            ),
            "vectors": (
                ("layer",),
                np.array([results[n]["vectors"] for n in names]),
                {"units": "1", "long_name": "input vectors read"},
            ),
            "weight_copies": (
                ("layer",),
                np.array([results[n]["weight_copies"] for n in names]),
                {"units": "1", "long_name": "copies of the layer's weights reading in parallel"},
            ),
        },
        coords={
            "layer": ("layer", names, {"units": "1", "long_name": "analog layer (qualified name)"}),
            "energy_component": (
                "energy_component",
                list(ENERGY_COMPONENTS),
                {"units": "1", "long_name": "energy component"},
            ),
            "latency_component": (
                "latency_component",
                list(LATENCY_COMPONENTS),
                {"units": "1", "long_name": "latency component"},
            ),
            "area_component": ("area_component", list(AREA_COMPONENTS), {"units": "1", "long_name": "area component"}),
        },
    )
    if E is not None:
        ds = ds.assign_coords(
            ensemble=("ensemble", np.arange(E), {"units": "1", "long_name": "chip (ensemble member)"})
        )
    ds["energy_total"] = ds["energy"].sum(("layer", "energy_component"))
    ds["energy_total"].attrs = {"units": "J", "long_name": "read energy of the whole forward"}
    per_layer = ds["latency"].sum("latency_component")
    if layer_pipeline:
        ds["latency_total"] = per_layer.max("layer")
        ds["latency_total"].attrs = {"units": "s", "long_name": "time per image of the layer pipeline (slowest layer)"}
    else:
        ds["latency_total"] = per_layer.sum("layer")
        ds["latency_total"].attrs = {"units": "s", "long_name": "latency of the forward, layers in sequence"}
    ds["area_total"] = ds["area"].sum(("layer", "area_component"))
    ds["area_total"].attrs = {"units": "m^2", "long_name": "silicon area of all layers"}
    return ds


def layer_cost(layer: nn.Module, x: torch.Tensor, config: CostConfig, *, shared_input: bool | None = None):
    """:func:`layer_cost_tensors` as an :class:`xarray.Dataset` (one ``layer``; see :func:`model_cost`).
    For an analog convolution, pass the convolution itself: its read is recorded with its input."""
    if isinstance(layer, (AnalogConv1d, AnalogConv2d)):
        return model_cost(layer, x, config)
    r = layer_cost_tensors(layer, x, config, shared_input=shared_input)
    return _dataset({type(layer).__name__: r}, config.layer_pipeline)


def model_cost(model: nn.Module, x: Any, config: CostConfig, *, layer_configs: Mapping[str, CostConfig] | None = None):
    """Cost of one forward ``model(x)`` of a converted model (:func:`~physnn.crossbar.convert`).

    Runs the forward (no gradient) with a :class:`CostRecorder` and returns an
    :class:`xarray.Dataset`: ``energy`` (``ensemble``?, ``layer``, ``energy_component``) J,
    ``latency`` (``layer``, ``latency_component``) s, ``area`` (``layer``, ``area_component``)
    m^2, ``programming_energy`` and ``programming_time`` per layer, ``vectors`` and
    ``weight_copies`` per layer, and the totals ``energy_total`` (per chip), ``latency_total``
    (layers in sequence, or the slowest layer with ``config.layer_pipeline``), ``area_total``.
    ``layer_configs`` gives some layers (by qualified name) their own design, e.g. their
    ``weight_copies`` (:func:`~.duplication.pipeline_copies`).
    """
    with CostRecorder(model, config, layer_configs=layer_configs) as rec, torch.no_grad():
        model(x)
    return rec.dataset()
