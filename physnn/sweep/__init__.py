"""physnn.sweep: nonideality sweeps with labelled, crash-safe results.

Declare a :class:`SweepSpec` (in Python or TOML, :func:`load_spec`), run it with
:func:`run_sweep` in-process (device parameters on the ensemble dimension), on a process pool or
on ``dask.distributed``, and get an :class:`xarray.Dataset` with one dimension per swept field.

>>> from physnn.sweep import Axis, SweepSpec
>>> spec = SweepSpec(task="toy", axes=(Axis(field="task.x", values=(0.0, 1.0)),), replicates=3)
>>> spec.digest == SweepSpec.from_dict(spec.to_dict()).digest
True
"""

from .spec import Axis, FieldInfo, SweepError, SweepSpec, load_spec, unit_factor
from .tasks import TASKS, AbstractTask, CrossbarLinear, CrossbarMLP, Point, Toy, make_task
from .run import Layout, evaluate_chunk, open_results, run_sweep, to_dataset, validate

__all__ = [
    "Axis",
    "FieldInfo",
    "SweepError",
    "SweepSpec",
    "load_spec",
    "unit_factor",
    "TASKS",
    "AbstractTask",
    "CrossbarLinear",
    "CrossbarMLP",
    "Point",
    "Toy",
    "make_task",
    "Layout",
    "evaluate_chunk",
    "open_results",
    "run_sweep",
    "to_dataset",
    "validate",
]
