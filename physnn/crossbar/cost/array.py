"""Energy the crossbar array itself dissipates during a read: ``t * sum_i V_i^2 * sum_j G_ij``.

Each input row ``i`` held at voltage ``V_i`` for the read pulse ``t`` drives the current
``V_i G_ij`` through every device ``j`` on it into the virtually grounded columns, so the array
dissipates ``E = t sum_i V_i^2 sum_j G_ij`` (Joule heating of the devices, ohmic law). Only the
row sums of the conductances enter, so the energy costs one matrix-vector product of the squared
voltages with a vector per row: far less than the read's own product.
"""

from __future__ import annotations

import torch

from .technology import Number

__all__ = ["array_read_energy"]


def array_read_energy(v: torch.Tensor, g_row: torch.Tensor, t_read: Number) -> torch.Tensor:
    """Array energy of reads, summed over the input vectors.

    Parameters
    ----------
    v : Tensor, (..., N, R)
        Row voltages in V of ``N`` input vectors on ``R`` rows (any leading batch dimensions that
        broadcast against ``g_row``'s).
    g_row : Tensor, (..., R)
        Sum of the conductances (S) of all devices on each row.
    t_read : float or 0-dim Tensor
        Read pulse width in s (one pulse per vector).

    Returns
    -------
    Tensor, (...,): energy in J per leading index (summed over vectors and rows).
    """
    if not isinstance(v, torch.Tensor) or not isinstance(g_row, torch.Tensor):
        raise TypeError("v, g_row: expected tensors")
    if v.dim() < 2 or g_row.dim() < 1 or v.shape[-1] != g_row.shape[-1]:
        raise ValueError(f"v (..., N, R) and g_row (..., R) disagree: {tuple(v.shape)} vs {tuple(g_row.shape)}")
    p = (v * v).sum(-2)  # (..., R): sum over vectors of V^2
    return (p * g_row).sum(-1) * t_read
