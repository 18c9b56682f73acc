"""physnn: analog in-memory and physical-substrate neural networks as differentiable PyTorch layers.

Subpackages (import what you need; nothing heavy is imported here):

- :mod:`physnn.crossbar`  — memristor crossbars, periphery (DAC/ADC, ramp ADC), analog layers and RNNs
- :mod:`physnn.josephson` — JoSIM-compatible superconducting circuit simulator
- :mod:`physnn.sfq`       — SFQ neuromorphic networks: stochastic synapses, neurons, circuit checks
- :mod:`physnn.reservoir` — LSM, ESN, readouts
- :mod:`physnn.asic`      — SHA-256 ASIC timing substrate
- :mod:`physnn.data`      — offline datasets
- :mod:`physnn.cards`     — device cards
- :mod:`physnn.sweep`     — nonideality sweeps (specs, executors, crash-safe xarray results)

The face layer — :mod:`physnn.cli` (the ``physnn`` command) and :mod:`physnn.plot` (figure
helpers) — imports the physics; the physics never imports it.
"""

from .cards import DeviceCard, list_cards, load_card

__version__ = "0.1.0"
__all__ = ["DeviceCard", "load_card", "list_cards", "__version__"]
