import os

import pytest

# Two cores on the reference machine: keep torch from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def torch_threads():
    import torch
    torch.set_num_threads(2)
    return 2


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: small ops on a shared 2-core machine run faster
    on one thread than on two spinning against each other."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
