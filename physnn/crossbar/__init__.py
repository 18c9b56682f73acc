"""physnn.crossbar — memristor crossbars for analog in-memory matrix-vector multiplication.

One module per physical effect, each a pure, batched, device-agnostic torch function with a frozen
config dataclass (``from_card`` where a device-card section exists):

=====================  =====================================================================
mapping                weight -> conductance (differential pair, reference column, levels)
programming_noise      write-verify residual, drawn once per programming
drift                  ``g (t/t0)**-nu`` and global drift compensation
read_noise             1/f (PCM) or Gaussian read noise
variation              device-to-device and cycle-to-cycle spread
faults                 stuck-at-ON / stuck-at-OFF devices
iv                     linear or sinh-type device I-V
ir_drop                line resistance: exact nodal solve and fast approximation
dac / adc              input / output converters (saturation, ``2**bits - 1`` levels, STE)
ensemble               leading Monte-Carlo dimension ``E``
config                 ``CrossbarConfig``: which effects are on (from a card or from aihwkit)
layer                  ``AnalogLinear`` / ``analog_linear``: programming event + noisy reads
read                   ``ReadSpec`` and ``reference_read`` (what a read is), ``read``/``use_backend``,
                       ``read_out_points`` (per-point output noise + ADC of reads sharing one MVM)
backends               fast back ends proven equal to the reference (``numba_cpu``), LSTM loop
ramp_adc               ramp ADC whose memristor-programmed ramp computes the activation
rnn                    ``AnalogLSTM`` / ``AnalogGRU`` / ``AnalogRNN`` on crossbars
rnn_stack              ``StackedAnalogLSTM`` / ... : drop-in ``nn.LSTM`` (layers, directions, torch's layouts)
tiles                  ``TileMapping`` / ``TiledAnalogLinear``: a layer split over fixed-size arrays
conv                   ``AnalogConv1d`` / ``AnalogConv2d``: unfold + one tiled read (or its compact equal)
patches                ``PatchColumns``: a convolution's receptive fields as a matrix, for the tiled read
attention              ``AnalogMultiheadAttention`` / ``AnalogTransformerEncoderLayer``: tiled projections
unconvert              ``to_float``: the float model of a converted one
conversion             ``convert`` any ``nn.Module`` onto tiles, ``program_model``, ``set_model_time``
update                 learning in place: pulsed step models (``SoftBounds``, ...), ``layer.update``,
                       ``AnalogSGD`` / ``TikiTakaV2`` / ``MixedPrecision``
=====================  =====================================================================
"""

from .adc import ADC, adc
from .dac import DAC, dac
from .drift import (
    Drift,
    apply_drift,
    drift_exponent_stats,
    drift_readout_input,
    global_drift_compensation,
    sample_drift_exponents,
)
from .ensemble import expand_ensemble
from .faults import StuckAtFaults, apply_faults, sample_fault_masks
from .ir_drop import IRDropSolution, ir_drop_contraction, ir_drop_fast, solve_ir_drop_exact
from .iv import LinearIV, SinhIV, device_conductance, device_current, iv_from_card
from .mapping import (
    ConductanceRange,
    DifferentialPair,
    ReferenceColumn,
    conductances_to_weights,
    quantize_levels,
    weights_to_conductances,
)
from .programming_noise import ProgrammingNoise, apply_programming_noise, programming_noise_std
from .read_noise import ReadNoise, apply_read_noise, read_noise_std
from .variation import DeviceVariation, apply_cycle_variation, apply_device_variation

__all__ = [
    "ADC",
    "adc",
    "DAC",
    "dac",
    "Drift",
    "apply_drift",
    "drift_exponent_stats",
    "drift_readout_input",
    "global_drift_compensation",
    "sample_drift_exponents",
    "expand_ensemble",
    "StuckAtFaults",
    "apply_faults",
    "sample_fault_masks",
    "IRDropSolution",
    "ir_drop_contraction",
    "ir_drop_fast",
    "solve_ir_drop_exact",
    "LinearIV",
    "SinhIV",
    "device_conductance",
    "device_current",
    "iv_from_card",
    "ConductanceRange",
    "DifferentialPair",
    "ReferenceColumn",
    "conductances_to_weights",
    "quantize_levels",
    "weights_to_conductances",
    "ProgrammingNoise",
    "apply_programming_noise",
    "programming_noise_std",
    "ReadNoise",
    "apply_read_noise",
    "read_noise_std",
    "DeviceVariation",
    "apply_cycle_variation",
    "apply_device_variation",
    "CrossbarConfig",
    "IRDrop",
    "aihwkit_preset",
    "from_aihwkit",
    "AnalogLinear",
    "analog_linear",
    "ReadSpec",
    "reference_read",
    "read_out_points",
    "use_backend",
    "RampADC",
    "RampADCActivation",
    "RampDevices",
    "ThresholdLookup",
    "ramp_error",
    "solve_ramp",
    "uniform_adc_lut_error",
    "AnalogGRU",
    "AnalogGRUCell",
    "AnalogLSTM",
    "AnalogLSTMCell",
    "AnalogRNN",
    "AnalogRNNCell",
    "IdealActivations",
    "RampActivations",
    "TileMapping",
    "TiledAnalogLinear",
    "AnalogConv1d",
    "AnalogConv2d",
    "AnalogMultiheadAttention",
    "AnalogTransformerEncoderLayer",
    "StackedAnalogLSTM",
    "StackedAnalogGRU",
    "StackedAnalogRNN",
    "to_float",
    "PatchColumns",
    "Rule",
    "ReportRow",
    "ConversionReport",
    "convert",
    "program_model",
    "set_model_time",
    "analog_layers",
]

from .config import CrossbarConfig, IRDrop, aihwkit_preset, from_aihwkit  # noqa: E402
from .layer import AnalogLinear, analog_linear  # noqa: E402
from .read import ReadSpec, read_out_points, reference_read, use_backend  # noqa: E402
from .ramp_adc import (
    RampADC,
    RampADCActivation,
    RampDevices,
    ThresholdLookup,  # noqa: E402
    ramp_error,
    solve_ramp,
    uniform_adc_lut_error,
)
from .rnn import (
    AnalogGRU,
    AnalogGRUCell,
    AnalogLSTM,
    AnalogLSTMCell,
    AnalogRNN,  # noqa: E402
    AnalogRNNCell,
    IdealActivations,
    RampActivations,
)
from .patches import PatchColumns  # noqa: E402
from .tiles import TileMapping, TiledAnalogLinear  # noqa: E402
from .conv import AnalogConv1d, AnalogConv2d  # noqa: E402
from .attention import AnalogMultiheadAttention, AnalogTransformerEncoderLayer  # noqa: E402
from .rnn_stack import StackedAnalogGRU, StackedAnalogLSTM, StackedAnalogRNN  # noqa: E402
from .conversion import (
    ConversionReport,
    ReportRow,
    Rule,
    analog_layers,
    convert,  # noqa: E402
    program_model,
    set_model_time,
)
from .unconvert import to_float  # noqa: E402
