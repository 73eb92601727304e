"""One intra-op thread for the tiny models here: on a shared 2-core machine, two torch threads
spin-waiting on each other make a 32-px training step ~10x slower than one thread."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
