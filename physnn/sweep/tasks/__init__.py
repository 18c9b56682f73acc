"""What one sweep point computes.

A task turns points (field values + seeds) into metrics, one value per replicate (independent
device instance). :func:`make_task` builds one from a spec; :data:`TASKS` names the built-in ones:

``crossbar_mlp``
    Test accuracy of a small MLP (64-``hidden``-10, trained in floating point by
    :class:`torch.optim.Adam` on scikit-learn's 8x8 digits, the stratified 70/30 split of
    :func:`physnn.data.digits.build_digits`) whose layers run on simulated crossbars.
``crossbar_linear``
    Relative output error of one ``in_features`` x ``out_features`` :class:`AnalogLinear` of
    random weights on a random batch, against the float product.
``"module:factory"``
    The user's own network (:class:`UserModuleTask`): ``factory(seed, **params)`` returns a
    :class:`UserModel` (float model, evaluation data, optional score); every point converts the
    model with :func:`physnn.crossbar.convert` onto the point's crossbar tiles and reads it once.
``toy``
    ``sin(x) cos(y)`` plus noise, with an optional CPU-bound busy loop and a failure threshold
    (for tests and for the executor benchmark).

Vectorisation (the crossbar tasks)
----------------------------------
Points that share their device (card and device-effect fields, seed) are evaluated together:
the layers are programmed once with ``replicates`` device instances on the ensemble dimension of
:class:`~physnn.crossbar.AnalogLinear`; each drift time is one :meth:`AnalogLinear.set_time`;
the points' read-out parameters (output read noise ``config.out_noise``, ADC ``config.adc.bits``
and ``config.adc.y_max``) are applied per point to the array's analog outputs, with the points
folded into the batch of the next layer's per-member input. The analog output, the noise and the
ADC are the layer's own read semantics (see :mod:`physnn.crossbar.config`): the layer reads with
its DAC, without output noise and ADC; output noise ``N(0, out_noise)`` and the quantiser of
the public :func:`~physnn.crossbar.adc` act on ``y / (alpha x_scale)`` in the config's output
units, then the digital rescale and the bias follow: :func:`physnn.crossbar.read_out_points`. ``tests/sweep`` checks this path against an
:class:`AnalogLinear` whose config holds the ADC. One difference: with global drift
compensation the factor ``alpha`` comes from the array's calibration read *without* output noise
and ADC (an ideal calibration read, the same for every read-out setting), where a layer holding
the ADC calibrates through it. Bound management is not batched: the crossbar tasks run with it
off. A shared input (the first layer's) is read once per device instance and drift time — the
analog read before output noise is deterministic — and each point adds its own noise and ADC. Every random draw of a point comes from
generators keyed by the sweep seed and the point (or its device group, or its drift time), so a
point's numbers do not depend on which other points share its call. For the same reason the
programmed layers of the last device group are kept for the task's next call of that group (a
sweep's consecutive chunks): a group is programmed once per process, not once per chunk, with
the numbers a fresh programming gives (``tests/sweep`` checks it).

Modules
-------
``base``
    The protocol: :class:`Point`, :class:`Param`, :class:`AbstractTask`, :func:`point_key`, and
    how a point changes a device (dotted ``config.*`` paths, ``card.*`` fields of a card copy).
``toy``, ``crossbar``, ``user``
    The tasks (:class:`Toy`; :class:`CrossbarMLP`, :class:`CrossbarLinear`; :class:`UserModuleTask`).
``registry``
    :data:`TASKS`, :func:`task_class`, :func:`make_task`.
"""

from .base import AbstractTask, Param, Point, point_key
from .crossbar import CrossbarLinear, CrossbarMLP
from .crossbar import train_mlp as train_mlp  # not in __all__: importable as before
from .registry import TASKS, make_task
from .registry import task_class as task_class  # not in __all__: importable as before
from .toy import Toy
from .user import UserModel, UserModuleTask

__all__ = [
    "Point",
    "Param",
    "AbstractTask",
    "CrossbarMLP",
    "CrossbarLinear",
    "Toy",
    "TASKS",
    "make_task",
    "point_key",
    "UserModel",
    "UserModuleTask",
]
