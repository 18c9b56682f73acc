"""Resistive-memory liquid state machine (LSM): fixed random LIF network whose weights are the
random conductances of resistive-memory cells after forming / soft breakdown.

Physics and protocol follow Lin et al., "Resistive memory-based zero-shot liquid state machine for
multimodal event data learning", Nat. Comput. Sci. 5, 37 (2025), doi:10.1038/s43588-024-00751-z
(arXiv:2307.00771): the stochasticity of electroforming gives every cell a random conductance;
a signed weight is the difference of a pair of cells (differential pair), scaled by the median
conductance; cells that are not addressed stay pristine (~0.1 uS), which makes the matrix sparse.
The statistics come from a device card's ``[switching]`` section (:class:`SwitchingModel`).

Shapes: inputs ``(B, T, D)`` (shared by every ensemble member) or ``(E, B, T, D)``; with
``ensemble=E`` every tensor of the network carries a leading ``E`` dimension (E independent
hardware instances, batched in one call); ``ensemble=None`` drops it.

Examples
--------
>>> import torch
>>> from physnn.reservoir.lsm import ResistiveLSM, LSMConfig
>>> lsm = ResistiveLSM(64, LSMConfig(n_neurons=50), ensemble=3, generator=torch.Generator().manual_seed(0))
>>> out = lsm(torch.rand(8, 20, 64))
>>> out.counts.shape
torch.Size([3, 8, 50])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple, cast, get_args

import torch
from torch import nn

from .._checks import check_finite, check_int_range, check_positive, check_probability
from ..random import check_generator
from ..cards import DeviceCard, load_card
from ..crossbar.mapping import ConductanceRange, DifferentialPair, conductances_to_weights
from .lif import LIFParams, LIFState, lif_step

__all__ = [
    "SwitchingModel",
    "SwitchingDistribution",
    "differential_weights",
    "LSMConfig",
    "LSMOutput",
    "ResistiveLSM",
    "NMNIST_LIF",
    "NTIDIGITS_LIF",
]

#: LIF settings of the paper's public code for N-MNIST (16x16 input, 50 steps).
NMNIST_LIF = LIFParams(decay=0.9, threshold=5.0)
#: LIF settings of the paper's public code for N-TIDIGITS (64 channels, 129 steps).
NTIDIGITS_LIF = LIFParams(decay=0.97, threshold=5.3)


#: conductance distributions after forming (``SwitchingModel.distribution``)
SwitchingDistribution = Literal["lognormal", "normal"]
_DISTRIBUTIONS: tuple[str, ...] = get_args(SwitchingDistribution)


@dataclass(frozen=True, kw_only=True)
class SwitchingModel:
    """Conductance of a cell after forming / breakdown.

    Parameters
    ----------
    distribution : {"lognormal", "normal"}
    g_median : float
        Median conductance of a formed cell, S (lognormal: exp(mean of ln G); normal: mean).
    log_sigma : float
        Lognormal: std of ln(G).
    g_std : float
        Normal: std of G, S (draws are rejected below ``g_pristine``, never clipped).
    forming_yield : float
        Probability that an addressed cell forms; otherwise it stays pristine.
    g_pristine : float
        Conductance of an unformed / unaddressed cell, S (the card's ``[conductance].g_min``).
    """

    distribution: SwitchingDistribution = "lognormal"
    g_median: float = 80e-6
    log_sigma: float = 0.35
    g_std: float = 0.0
    forming_yield: float = 1.0
    g_pristine: float = 0.0

    def __post_init__(self):
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution={self.distribution!r}: expected one of {_DISTRIBUTIONS}")
        check_positive(self.g_median, "g_median")
        check_positive(self.log_sigma, "log_sigma", allow_zero=True)
        check_positive(self.g_std, "g_std", allow_zero=True)
        check_probability(self.forming_yield, "forming_yield")
        check_positive(self.g_pristine, "g_pristine", allow_zero=True)

    @classmethod
    def from_card(cls, card: str | Path | DeviceCard) -> "SwitchingModel":
        """Read the ``[switching]`` section of a device card.

        Raises
        ------
        ValueError
            If the card has no ``[switching]`` section or lacks the parameter its distribution
            needs (``g_median``; ``log_sigma`` for lognormal, ``g_std`` for normal).
        """
        c = load_card(card)
        if "switching" not in c:
            raise ValueError(
                f"card {c.name!r} has no [switching] section: the resistive LSM needs the "
                f"conductance distribution after forming (distribution, g_median, log_sigma)"
            )
        sw = c["switching"]
        dist = sw["distribution"]
        need = ["g_median", "log_sigma" if dist == "lognormal" else "g_std"]
        for k in need:
            if k not in sw:
                raise ValueError(f"card {c.name!r}: [switching].{k} is required for distribution={dist!r}")
        return cls(
            distribution=dist,
            g_median=sw["g_median"],
            log_sigma=sw.get("log_sigma", 0.0),
            g_std=sw.get("g_std", 0.0),
            forming_yield=sw.get("forming_yield", 1.0),
            g_pristine=c.get_value("conductance", "g_min", 0.0),
        )

    def sample(
        self, shape, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        """Conductances (S) of freshly formed cells, shape ``shape`` (unformed ones at ``g_pristine``)."""
        generator = check_generator(generator)
        shape = tuple(shape)
        if self.distribution == "lognormal":
            z = torch.randn(shape, generator=generator, dtype=dtype)
            g = self.g_median * torch.exp(self.log_sigma * z)
        else:
            g = self.g_median + self.g_std * torch.randn(shape, generator=generator, dtype=dtype)
            for _ in range(100):  # rejection: a formed cell conducts at least as well as a pristine one
                bad = g < self.g_pristine
                if not bool(bad.any()):
                    break
                g = torch.where(
                    bad, self.g_median + self.g_std * torch.randn(shape, generator=generator, dtype=dtype), g
                )
            else:
                raise ValueError(f"g_std={self.g_std}: too wide for g_median={self.g_median} (most draws < g_pristine)")
        if self.forming_yield < 1.0:
            formed = torch.rand(shape, generator=generator, dtype=dtype) < self.forming_yield
            g = torch.where(formed, g, torch.full_like(g, self.g_pristine))
        return g


def differential_weights(
    shape,
    model: SwitchingModel,
    *,
    density: float,
    scale: float = 1.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    mapping: DifferentialPair | None = None,
) -> torch.Tensor:
    """Signed random weights ``scale * (G+ - G-) / g_median`` of differential cell pairs.

    A fraction ``density`` of the pairs is addressed (formed); in the others both cells stay
    pristine, which reads as exactly zero weight. The pairs are read back with the crossbar's own
    differential-pair mapping (:func:`physnn.crossbar.mapping.conductances_to_weights`, weight
    ``w_max`` at the full swing of ``mapping``'s range), with ``w_max = scale * swing /
    g_median``; ``mapping`` defaults to a pair over the card's ``[conductance]`` range as
    :class:`ResistiveLSM` passes it, or ``[g_pristine, g_pristine + g_median]`` (the swing cancels).
    """
    check_probability(density, "density")
    generator = check_generator(generator)
    if mapping is None:
        mapping = DifferentialPair(ConductanceRange(model.g_pristine, model.g_pristine + model.g_median))
    if not isinstance(mapping, DifferentialPair):
        raise TypeError(f"mapping: expected a DifferentialPair, got {type(mapping).__name__}")
    shape = tuple(shape)
    g = torch.stack((model.sample(shape, generator=generator), model.sample(shape, generator=generator)))
    used = torch.rand(shape, generator=generator, dtype=torch.float64) < density
    g = torch.where(used, g, torch.full_like(g, model.g_pristine))  # unaddressed pairs stay pristine
    if scale == 0:
        return torch.zeros(shape, dtype=dtype)
    w = conductances_to_weights(g, mapping, w_max=scale * mapping.range.swing / model.g_median)
    return w.to(dtype)


@dataclass(frozen=True, kw_only=True)
class LSMConfig:
    """Configuration of a :class:`ResistiveLSM`.

    Parameters
    ----------
    n_neurons : int
        Reservoir size (200 in the paper).
    input_density, recurrent_density : float
        Fraction of addressed (formed) differential pairs in the input / recurrent arrays.
    input_scale, recurrent_scale : float
        Weight of a pair whose conductance difference equals ``g_median``, in membrane units
        (the LIF threshold is in the same units).
    lif : LIFParams
    card : str
        Device card with a ``[switching]`` section.
    """

    n_neurons: int = 200
    input_density: float = 0.2
    recurrent_density: float = 0.1
    input_scale: float = 2.0
    recurrent_scale: float = 1.0
    lif: LIFParams = field(default_factory=lambda: NMNIST_LIF)
    card: str = "rram_lsm_forming"

    def __post_init__(self):
        check_int_range(self.n_neurons, "n_neurons", 1)
        check_probability(self.input_density, "input_density")
        check_probability(self.recurrent_density, "recurrent_density")
        check_positive(self.input_scale, "input_scale", allow_zero=True)
        check_positive(self.recurrent_scale, "recurrent_scale", allow_zero=True)
        if not isinstance(self.lif, LIFParams):
            raise TypeError(f"lif: expected LIFParams, got {type(self.lif).__name__}")


class LSMOutput(NamedTuple):
    """Reservoir features; leading ``E`` dimension when the LSM has an ensemble.

    counts : (E, B, N) spike counts; rates : counts / T (spikes per step);
    v_final : (E, B, N) membrane potential after the last step;
    binned : (E, B, n_bins, N) spike counts in ``n_bins`` equal time windows (None if not asked);
    spikes : (E, B, T, N) the raster (None unless ``return_spikes``).
    """

    counts: torch.Tensor
    rates: torch.Tensor
    v_final: torch.Tensor
    binned: torch.Tensor | None
    spikes: torch.Tensor | None


class ResistiveLSM(nn.Module):
    """Fixed random LIF reservoir with resistive-memory weights (see module docstring).

    Parameters
    ----------
    n_inputs : int
    config : LSMConfig
    ensemble : int, optional
        Number of independent device instances (leading dim ``E``); None for a single one.
    generator : torch.Generator, optional
        Draws every conductance. Same seed -> same network.

    Attributes
    ----------
    w_in : (E, D, N) tensor (buffer);  w_rec : (E, N, N) tensor (buffer, zero diagonal)
    """

    w_in: torch.Tensor  # buffers (registered in __init__)
    w_rec: torch.Tensor

    def __init__(
        self,
        n_inputs: int,
        config: LSMConfig = LSMConfig(),
        *,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        check_int_range(n_inputs, "n_inputs", 1)
        if ensemble is not None:
            check_int_range(ensemble, "ensemble", 1)
        generator = check_generator(generator)
        self.config, self.ensemble, self.n_inputs = config, ensemble, n_inputs
        self.switching = SwitchingModel.from_card(config.card)
        pair = DifferentialPair(ConductanceRange.from_card(config.card))  # the crossbar's mapping, card range
        e = 1 if ensemble is None else ensemble
        n = config.n_neurons
        w_in = differential_weights(
            (e, n_inputs, n),
            self.switching,
            density=config.input_density,
            scale=config.input_scale,
            generator=generator,
            mapping=pair,
        )
        w_rec = differential_weights(
            (e, n, n),
            self.switching,
            density=config.recurrent_density,
            scale=config.recurrent_scale,
            generator=generator,
            mapping=pair,
        )
        w_rec = w_rec * (1 - torch.eye(n))  # no self-connection (the diagonal cells are left pristine)
        self.register_buffer("w_in", w_in)
        self.register_buffer("w_rec", w_rec)

    def forward(
        self, x: torch.Tensor, *, n_bins: int | None = None, return_spikes: bool = False, batch_size: int = 512
    ) -> LSMOutput:
        """Run the reservoir on input currents/spike counts ``x`` of shape (B, T, D) or (E, B, T, D)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
        e = self.w_in.shape[0]
        if x.dim() == 3:
            x = x.unsqueeze(0)
        elif x.dim() == 4:
            if self.ensemble is None or x.shape[0] != e:
                raise ValueError(f"x: 4-D input needs a leading ensemble dim of size {e}, got shape {tuple(x.shape)}")
        else:
            raise ValueError(f"x: expected shape (B, T, D) or (E, B, T, D), got {tuple(x.shape)}")
        if x.shape[-1] != self.n_inputs:
            raise ValueError(f"x: last dim {x.shape[-1]} != n_inputs={self.n_inputs}")
        check_finite(x, "x")
        if n_bins is not None:
            check_int_range(n_bins, "n_bins", 1, x.shape[2])
        outs = [
            self._run(x[:, s : s + batch_size].to(self.w_in.dtype), n_bins, return_spikes)
            for s in range(0, x.shape[1], batch_size)
        ]
        cat = [torch.cat([o[k] for o in outs], dim=1) if outs[0][k] is not None else None for k in range(5)]
        if self.ensemble is None:
            cat = [c.squeeze(0) if c is not None else None for c in cat]
        counts, rates, v_final, binned, spikes = cat  # the first three are never None
        return LSMOutput(
            cast(torch.Tensor, counts), cast(torch.Tensor, rates), cast(torch.Tensor, v_final), binned, spikes
        )

    def _run(self, x, n_bins, return_spikes):
        e, b, t, _ = x.shape
        cur = torch.matmul(x, self.w_in.unsqueeze(1))  # (E, B, T, N) (x broadcasts over E)
        n = self.config.n_neurons
        st = LIFState(v=torch.zeros(cur.shape[0], b, n, dtype=cur.dtype))
        s = torch.zeros_like(st.v)
        counts = torch.zeros_like(st.v)
        edges = None if n_bins is None else [round(k * t / n_bins) for k in range(n_bins + 1)]
        binned = [] if n_bins is not None else None
        spikes = [] if return_spikes else None
        acc = torch.zeros_like(st.v)
        k_bin = 0
        for k in range(t):
            s, st = lif_step(cur[:, :, k] + torch.bmm(s, self.w_rec), st, self.config.lif)
            counts = counts + s
            if spikes is not None:
                spikes.append(s)
            if binned is not None:
                acc = acc + s
                if k + 1 == edges[k_bin + 1]:
                    binned.append(acc)
                    acc = torch.zeros_like(acc)
                    k_bin += 1
        return (
            counts,
            counts / t,
            st.v,
            torch.stack(binned, dim=2) if binned is not None else None,
            torch.stack(spikes, dim=2) if spikes is not None else None,
        )
