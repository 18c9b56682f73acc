"""A wave substrate in the spirit of PhyLL: a random scattering medium with intensity detection.

Momeni et al., "Backpropagation-free Training of Deep Physical Neural Networks", Science 382,
1297 (2023), arXiv:2304.11042, train physical layers made of waves in disordered media
(acoustic, microwave and optical scattering). This model is the textbook one of such a layer
(Popoff et al., PRL 104, 100601 (2010): the transmission matrix of a scattering medium):

* the input ``x`` (dimensionless, in ``[0, 1]``) sets the field amplitudes of ``D`` pixels of a
  spatial light modulator, whose trainable phase mask ``phase`` (rad) shapes the wave front,
  ``E_in = sqrt(P) x exp(i phase)`` (``P``: input power, W, a parameter);
* a fixed medium scatters it, ``E_out = T E_in`` with ``T`` a complex Gaussian ``(M, D)``
  matrix of variance ``1 / D`` (fully developed speckle);
* ``M`` detectors measure the intensity ``I = |E_out|^2`` (W, in units of the pixel power), with
  shot-like noise of relative std ``noise / sqrt(I / P)`` and a dark-noise floor.

The intensity detection is the nonlinearity (quadratic in the field).
"""

from __future__ import annotations

import math

import torch

from ..random import check_generator, draw_seed, own_generator
from .system import AbstractPhysicalSystem, InputSpec, ParameterSpace, ParameterSpec

__all__ = ["ScatteringMedium", "scattering_intensity"]


def scattering_intensity(
    x: torch.Tensor, phase: torch.Tensor, power: torch.Tensor | float, T_re: torch.Tensor, T_im: torch.Tensor
) -> torch.Tensor:
    """Noise-free detected intensity ``|T (sqrt(P) x e^{i phase})|^2`` (differentiable).

    ``x`` ``(B, D)``, ``phase`` ``(D,)`` rad, ``T_re``/``T_im`` ``(M, D)``; returns ``(B, M)`` in W.
    """
    a = x * torch.sqrt(torch.as_tensor(power, dtype=x.dtype))
    er, ei = a * torch.cos(phase), a * torch.sin(phase)
    out_re = er @ T_re.T - ei @ T_im.T
    out_im = er @ T_im.T + ei @ T_re.T
    return out_re.square() + out_im.square()


class ScatteringMedium(AbstractPhysicalSystem):
    """Random scattering medium, ``D`` SLM pixels -> ``M`` intensity detectors.

    Parameters
    ----------
    n_inputs, n_outputs : int
        ``D`` and ``M``.
    noise : float
        Relative shot-noise std at the mean detected intensity (dimensionless).
    dark_noise : float
        Additive detector noise std in units of the input power ``P`` (dimensionless).
    generator : torch.Generator, optional
        Draws the medium (once) and the detection noise.

    Parameters of ``theta``: ``phase`` (``D``, rad, in ``[0, 2 pi]``) and ``power`` (W, in
    ``[0.1, 10]``).
    """

    output_units = "W"

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        noise: float = 0.01,
        dark_noise: float = 1e-3,
        generator: torch.Generator | None = None,
        latency_s: float = 0.0,
    ):
        super().__init__(latency_s=latency_s)
        self.generator = own_generator(generator)
        D, M = int(n_inputs), int(n_outputs)
        g = torch.Generator().manual_seed(draw_seed(self.generator))
        s = 1.0 / math.sqrt(2 * D)
        self.T_re = torch.randn(M, D, generator=g) * s
        self.T_im = torch.randn(M, D, generator=g) * s
        self.noise, self.dark_noise = float(noise), float(dark_noise)
        self.parameters = ParameterSpace(
            [
                ParameterSpec(name="phase", shape=(D,), low=0.0, high=2 * math.pi, units="rad"),
                ParameterSpec(name="power", low=0.1, high=10.0, units="W", init=1.0),
            ]
        )
        self.input_spec = InputSpec(shape=(D,), low=0.0, high=1.0)
        self.output_shape = (M,)

    def initial_parameters(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random phase mask, unit power."""
        generator = check_generator(generator)
        D = self.input_spec.shape[0]
        phase = torch.rand(D, generator=generator) * 2 * math.pi
        return torch.cat([phase, torch.ones(1)])

    def _split(self, theta):
        p = self.parameters.split(theta)
        return p["phase"], p["power"]

    def _query(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        phase, power = self._split(theta.to(torch.float32))
        I = scattering_intensity(x.to(torch.float32), phase, power, self.T_re, self.T_im)
        P = float(power)
        n = torch.randn(I.shape, generator=self.generator)
        d = torch.randn(I.shape, generator=self.generator)
        return (I + self.noise * torch.sqrt(I * P).clamp_min(0) * n + self.dark_noise * P * d).clamp_min(0.0)

    def differentiable(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        phase, power = self._split(theta)
        return scattering_intensity(x, phase, power, self.T_re.to(x.dtype), self.T_im.to(x.dtype))
