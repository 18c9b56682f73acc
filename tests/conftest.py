"""Shared test set-up: one torch thread per xdist worker (2 workers on the 2-core CI machine)."""

import torch

torch.set_num_threads(1)
