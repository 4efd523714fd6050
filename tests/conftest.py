"""Shared test settings: one torch thread per process (oversubscribed threads slow RLlib 10x here)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_addoption(parser):
    parser.addoption("--cluster", action="store_true",
                     help="run the multi-node cluster tests (they start and stop their own "
                          "Ray cluster, so they run in a pytest invocation of their own: "
                          "scripts/test.sh)")


def pytest_collection_modifyitems(config, items):
    import pytest

    if config.getoption("--cluster"):
        return
    skip = pytest.mark.skip(reason="multi-node: runs in its own invocation (scripts/test.sh)")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)
