"""One local Ray session shared by the platform tests that need it (started on first use)."""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def ray_session():
    import ray
    import torch

    torch.set_num_threads(1)
    # address="local": never join a cluster some other process left running
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
