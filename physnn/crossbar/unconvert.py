"""The inverse of :func:`~physnn.crossbar.convert`: a float copy of a converted model.

:func:`to_float` replaces every analog layer (anything with its own ``to_linear()`` /
``to_conv()`` / ``to_float()``: :class:`~physnn.crossbar.TiledAnalogLinear`,
:class:`~physnn.crossbar.AnalogLinear`, :class:`~physnn.crossbar.AnalogConv1d` /
:class:`~physnn.crossbar.AnalogConv2d`) by the float layer holding its float (target) weights.
The programmed devices are dropped. Use: hardware-aware train a converted model, then
``convert(to_float(trained), config, ensemble=8)`` puts the trained weights on 8 fresh chips.
"""

from __future__ import annotations

import copy

from torch import nn

__all__ = ["to_float"]

_METHODS = ("to_float", "to_conv", "to_linear")


def _float_of(m: nn.Module) -> nn.Module | None:
    for name in _METHODS:
        f = getattr(m, name, None)
        if callable(f):
            return f()
    return None


def to_float(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` with every analog layer replaced by its float equivalent.

    Parameters
    ----------
    model : nn.Module
        A model returned by :func:`~physnn.crossbar.convert` (or any module).
    inplace : bool
        Modify ``model`` itself; default: a deep copy.

    Returns
    -------
    nn.Module
        The float model (train/eval mode of each replaced layer kept).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    root = model if inplace else copy.deepcopy(model)

    def visit(m: nn.Module) -> nn.Module | None:
        new = _float_of(m)
        if new is not None:
            new.train(m.training)
            return new
        for name, child in list(m.named_children()):
            rep = visit(child)
            if rep is not None:
                setattr(m, name, rep)
        return None

    top = visit(root)
    return root if top is None else top
