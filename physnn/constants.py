"""Physical constants in SI units (CODATA 2018 exact values where exact)."""

from __future__ import annotations

import math

#: Elementary charge, C (exact).
e = 1.602176634e-19
#: Planck constant, J s (exact).
h = 6.62607015e-34
#: Reduced Planck constant, J s.
hbar = h / (2 * math.pi)
#: Boltzmann constant, J/K (exact).
k_B = 1.380649e-23
#: Magnetic flux quantum h / 2e, Wb.
Phi0 = h / (2 * e)

__all__ = ["e", "h", "hbar", "k_B", "Phi0"]
