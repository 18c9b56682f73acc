"""Weight duplication: copies of a layer's weights on otherwise idle arrays, each copy reading a
different share of the layer's input vectors at the same time.

A layer read by ``c`` copies takes the tile-level time of ``ceil(N / c)`` vectors instead of ``N``
(array pulses, conversions, shift-adds: :func:`duplicated_vectors`); every vector is still read
exactly once, by one copy, so the read energy does not change; the copies' cells, drivers, ADCs
and shift-adders add area and programming energy (``c`` times), while the shared global buffer,
interconnect and the layer's partial-sum accumulation unit are not duplicated
(:class:`~.chip.CostConfig` field ``weight_copies``).

DNN+NeuroSim V1.4 makes this choice in its floorplan (``Inference_pytorch/NeuroSIM/Chip.cpp`` of
github.com/neurosim/DNN_NeuroSim_V1.4, ``ChipDesignInitialize``, ``PEDesign``, ``SubArrayDup``,
``OverallEachLayer``: ``speedUpEachLayer``), and divides each tile's latency by the layer's
speed-up (``Tile.cpp``, ``TileCalculatePerformance``). In its pipelined mode (``Param.cpp``:
``pipeline = true``, ``speedUpDegree = 8``) the speed-up of a layer whose input feature map has
``H`` rows is ``ceil((H / ceil(H_max / d))^2)`` with ``d = min(speedUpDegree, H_max / H_min)``,
so that every layer of the pipeline reads about as many vectors per copy as the smallest
convolution. :func:`pipeline_copies` states the same rule in input vectors (``N ~ H^2``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["duplicated_vectors", "pipeline_copies"]


def duplicated_vectors(vectors: int, copies: int) -> int:
    """Vectors each of ``copies`` copies reads one after another when ``vectors`` input vectors
    are shared out over them: ``ceil(vectors / copies)`` (0 for no vectors)."""
    if not isinstance(vectors, int) or isinstance(vectors, bool) or vectors < 0:
        raise ValueError(f"vectors={vectors!r}: must be an int >= 0")
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 1:
        raise ValueError(f"copies={copies!r}: must be an int >= 1")
    return -(-vectors // copies)


def pipeline_copies(vectors: Mapping[str, int], speed_up: int) -> dict[str, int]:
    """Copies per layer that balance a layer pipeline (DNN+NeuroSim's pipelined speed-up rule).

    Parameters
    ----------
    vectors : mapping of str to int
        Input vectors each layer reads per inference (output pixels of a convolution, 1 for a
        linear layer on one sample).
    speed_up : int
        The most copies any layer gets (NeuroSim's ``speedUpDegree`` is per feature-map side, so
        its ``speedUpDegree = 8`` is ``speed_up = 64`` here). It is clipped to ``N_max / N_min``,
        the vector ratio of the largest to the smallest layer read with more than one vector
        (NeuroSim's bound ``H_max / H_min``, beyond which no layer idles less).

    Returns
    -------
    dict of str to int
        ``ceil(N / ceil(N_max / s))`` copies per layer, ``s`` the clipped ``speed_up``: the largest
        layer gets ``s`` copies and each copy reads about ``N_max / s`` vectors.
    """
    if not isinstance(speed_up, int) or isinstance(speed_up, bool) or speed_up < 1:
        raise ValueError(f"speed_up={speed_up!r}: must be an int >= 1")
    if not vectors:
        raise ValueError("vectors: no layers given")
    for name, n in vectors.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"vectors[{name!r}]={n!r}: must be an int >= 1")
    n_max = max(vectors.values())
    multi = [n for n in vectors.values() if n > 1]
    s = speed_up if not multi else min(speed_up, n_max // min(multi))
    s = max(s, 1)
    bound = math.ceil(n_max / s)
    return {name: math.ceil(n / bound) for name, n in vectors.items()}
