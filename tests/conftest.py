"""Shared test settings: one torch thread per process (oversubscribed threads slow RLlib 10x here)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
