"""physnn.reservoir — physical reservoirs and their readouts.

=============  ==========================================================================
lif            leaky integrate-and-fire neurons (``LIFParams``, ``LIFState``, ``lif_step``)
lsm            resistive-memory liquid state machine (weights from a card's ``[switching]``)
esn            echo state networks, batched over an ensemble of reservoirs
readout        scikit-learn-style ridge / logistic readouts (``fit`` -> self, ``coef_``)
projection     CLIP-style contrastive projection heads and the zero-shot protocol
tasks          NARMA10, Mackey-Glass, memory capacity, NRMSE
=============  ==========================================================================
"""

from .esn import ESN, ESNParams, ESNState, esn_matrices, esn_step
from .lif import LIFCell, LIFParams, LIFState, lif_run, lif_step
from .lsm import LSMConfig, LSMOutput, ResistiveLSM, SwitchingModel
from .projection import ContrastiveConfig, ProjectionHead, clip_loss, train_projections, zero_shot_retrieval
from .readout import LogisticReadout, RidgeReadout
from .tasks import mackey_glass, memory_capacity, narma10, nrmse

__all__ = [
    "ESN",
    "ESNParams",
    "ESNState",
    "esn_matrices",
    "esn_step",
    "LIFCell",
    "LIFParams",
    "LIFState",
    "lif_run",
    "lif_step",
    "LSMConfig",
    "LSMOutput",
    "ResistiveLSM",
    "SwitchingModel",
    "ContrastiveConfig",
    "ProjectionHead",
    "clip_loss",
    "train_projections",
    "zero_shot_retrieval",
    "LogisticReadout",
    "RidgeReadout",
    "mackey_glass",
    "memory_capacity",
    "narma10",
    "nrmse",
]
