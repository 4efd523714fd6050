"""Confidence intervals the benchmarks share (imported as a sibling module: run them as
`python benchmarks/<name>.py`)."""

from __future__ import annotations

import numpy as np


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean of the finite values and the half-width of its 95% t-interval (nan with fewer than
    2 values)."""
    from scipy import stats

    a = np.asarray([v for v in values if np.isfinite(v)], np.float64)
    if a.size < 2:
        return (float(a.mean()) if a.size else float("nan")), float("nan")
    return float(a.mean()), float(stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) /
                                  np.sqrt(a.size))
