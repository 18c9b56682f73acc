"""A user's own network for the ``module:factory`` sweep test (imported by name from a spec)."""

import torch
from torch import nn

from physnn.sweep.tasks import UserModel


def _teacher_data(n: int, g: torch.Generator):
    """Inputs ``N(0, 1)^16`` labelled by a fixed random linear teacher over 4 classes."""
    w = torch.randn(4, 16, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(n, 16, generator=g)
    return x, (x @ w.T).argmax(-1)


def make(seed, *, hidden=32, steps=150):
    """A 16-``hidden``-4 MLP trained (full-batch Adam) on the teacher's labels; test batch of 256."""
    g = torch.Generator().manual_seed(seed)
    xtr, ytr = _teacher_data(1024, g)
    xte, yte = _teacher_data(256, g)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(16, hidden), nn.ReLU(), nn.Linear(hidden, 4))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(net(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return UserModel(model=net.eval(), x=xte, y=yte)


def make_with_error(seed, *, hidden=32):
    """The same network scored by two metrics: accuracy and the mean cross entropy."""
    um = make(seed, hidden=hidden)

    def score(out, y):
        acc = (out.argmax(-1) == y).double().mean(-1)
        ce = torch.stack([nn.functional.cross_entropy(o, y) for o in out])
        return {"accuracy": acc, "cross_entropy": ce}

    return UserModel(model=um.model, x=um.x, y=um.y, score=score)


make_with_error.metrics = {
    "accuracy": ("1", "test accuracy (fraction correct)"),
    "cross_entropy": ("nat", "mean cross entropy of the test batch"),
}


def no_seed(*, hidden=32):
    return make(0, hidden=hidden)


def wrong_return(seed):
    return make(seed).model
