"""Shared test set-up: one torch thread per xdist worker (2 workers on the 2-core CI machine).

``PHYSNN_TEST_THREADS=N`` runs the suite on N torch threads instead (CI runs the suite once
more with 2 threads and poisoned buffers, ``PHYSNN_POISON_BUFFERS=1``: see ``.ci/run``)."""

import os

import torch

torch.set_num_threads(int(os.environ.get("PHYSNN_TEST_THREADS", "1")))
