"""A user's own network for ``physnn sweep`` (``task = "mnist1d_cnn:make"``, next to the spec
``user_module_drift.toml``): the MNIST-1D paper's 1-D CNN shape, trained in floating point.

A factory takes the seed first and returns a :class:`physnn.sweep.tasks.UserModel`: the float
model, the evaluation inputs and targets (and optionally a ``score``). Its keyword parameters
with scalar defaults (``channels``, ``epochs``) are set in the spec's ``[task]`` table. The
sweep converts the model onto crossbar tiles at every point (the point's device and periphery
settings, ``replicates`` chips on the ensemble dimension) and reads it once on ``x``.
"""

import torch
from torch import nn

from physnn.data.mnist1d import build_mnist1d
from physnn.sweep.tasks import UserModel
from physnn.training import hwa_fit


def make(seed, *, channels=32, epochs=20):
    """Train the CNN (Adam, lr 1e-2, the best epoch on a validation split of the training set)
    and return it with the MNIST-1D test split."""
    data = build_mnist1d()
    val = data.validation_split(0.2, generator=torch.Generator().manual_seed(seed))
    c = channels
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Unflatten(-1, (1, 40)),
        nn.Conv1d(1, c, 5, 2, 1),
        nn.ReLU(),
        nn.Conv1d(c, c, 3, 2, 1),
        nn.ReLU(),
        nn.Conv1d(c, c, 3, 2, 1),
        nn.ReLU(),
        nn.Flatten(-2),
        nn.Linear(c * 5, 10),
    )
    hwa_fit(
        net,
        val.x_train,
        val.y_train,
        epochs=epochs,
        lr=1e-2,
        batch_size=100,
        x_val=val.x_test,
        y_val=val.y_test,
        generator=torch.Generator().manual_seed(seed + 1),
    )
    return UserModel(model=net.eval(), x=data.x_test, y=data.y_test)


make.metrics = {"accuracy": ("1", "MNIST-1D test accuracy of the converted CNN (fraction correct)")}
