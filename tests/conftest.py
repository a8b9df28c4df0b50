import os

import pytest

# Two cores on the reference machine: keep torch from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def torch_threads():
    import torch
    torch.set_num_threads(2)
    return 2
