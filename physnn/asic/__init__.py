"""physnn.asic -- a SHA-256 mining ASIC as a (thermodynamic) reservoir substrate, simulated.

Real double SHA-256 (hashlib) over nonces of an 80-byte header (:mod:`.sha256`), a timing-error
model (alpha-power-law delay vs voltage and temperature, Gaussian delay spread, thermal RC:
:mod:`.timing`), a mining pipeline whose valid-share arrivals depend on the input-driven voltage /
frequency (:mod:`.miner`, exact hashlib mode and a fast statistical mode), inter-arrival features
per window (:mod:`.features`) and Monte-Carlo tests against a Poisson null (:mod:`.stats`).
Reference: "Toward Thermodynamic Reservoir Computing: Exploring SHA-256 ASICs as Potential
Physical Substrates", arXiv:2601.01916.
"""

from .features import FEATURE_NAMES, window_features
from .miner import MinerParams, ShareTrace, drive_from_signal, simulate_shares
from .sha256 import GENESIS_HEADER, BlockHeader, scan_nonces, sha256d, target_from_probability
from .stats import poisson_cv_interval, poisson_null_test
from .timing import TimingParams, error_probability, path_delay

__all__ = [
    "FEATURE_NAMES",
    "window_features",
    "MinerParams",
    "ShareTrace",
    "drive_from_signal",
    "simulate_shares",
    "GENESIS_HEADER",
    "BlockHeader",
    "scan_nonces",
    "sha256d",
    "target_from_probability",
    "poisson_cv_interval",
    "poisson_null_test",
    "TimingParams",
    "error_probability",
    "path_delay",
]
