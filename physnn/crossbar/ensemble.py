"""Leading ensemble dimension ``E`` for Monte-Carlo device instances."""

from __future__ import annotations

import torch

from .._checks import check_int_range

__all__ = ["expand_ensemble"]


def expand_ensemble(t: torch.Tensor, ensemble: int | None, *, has_ensemble: bool = False) -> torch.Tensor:
    """Add (or validate) the leading ensemble dimension of ``t``.

    Parameters
    ----------
    t : Tensor
        Target tensor, e.g. conductances of shape ``(out, in)``.
    ensemble : int or None
        Number ``E`` of independent device instances; ``None`` returns ``t`` unchanged.
    has_ensemble : bool
        If True, ``t`` already carries the leading ``E`` dimension: it is only validated.

    Returns
    -------
    Tensor
        ``t`` itself (``ensemble=None`` or ``has_ensemble``) or a broadcast **view** of shape
        ``(E, *t.shape)``. The stochastic effects draw one independent sample per entry of
        their input, so passing this view to e.g. :func:`apply_programming_noise` yields ``E``
        independent device instances. Do not write into the view in place.

    Raises
    ------
    ValueError
        ``ensemble < 1`` or, with ``has_ensemble``, ``t.shape[0] != ensemble``.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t: expected a torch.Tensor, got {type(t).__name__}")
    if ensemble is None:
        return t
    check_int_range(ensemble, "ensemble", 1)
    if has_ensemble:
        if t.dim() == 0 or t.shape[0] != ensemble:
            raise ValueError(f"t: leading (ensemble) dimension must be {ensemble}, got shape {tuple(t.shape)}")
        return t
    return t.unsqueeze(0).expand(ensemble, *t.shape)
