"""Prioritized fictitious self-play (AlphaStar): how often to face each opponent, by win rate.

`win_rates[i]` is the learner's estimated probability of beating opponent i. The weightings are
AlphaStar's: `squared` (1 - x)^2 focuses on the hardest opponents, `variance` x(1 - x) on even
ones, `linear` 1 - x, and `linear_capped` min(0.5, 1 - x).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

WEIGHTINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "squared": lambda x: (1.0 - x) ** 2,
    "variance": lambda x: x * (1.0 - x),
    "linear": lambda x: 1.0 - x,
    "linear_capped": lambda x: np.minimum(0.5, 1.0 - x),
}


def pfsp_probabilities(win_rates: np.ndarray | list[float], weighting: str = "squared"
                       ) -> np.ndarray:
    """Probabilities of picking each opponent; uniform when every weight is (near) zero."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown PFSP weighting {weighting!r} (known: {sorted(WEIGHTINGS)})")
    x = np.asarray(win_rates, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"win_rates must be a non-empty vector, got shape {x.shape}")
    if not np.all((x >= 0) & (x <= 1)):
        raise ValueError(f"win_rates must lie in [0, 1], got {x.tolist()}")
    weights = WEIGHTINGS[weighting](x)
    total = weights.sum()
    if total < 1e-10:
        return np.full(x.size, 1.0 / x.size)
    return weights / total


def win_rate(wins: np.ndarray, games: np.ndarray, prior: float = 0.5,
             prior_games: float = 1.0) -> np.ndarray:
    """Win-rate estimates shrunk towards `prior` for opponents with few (decayed) games."""
    wins, games = np.asarray(wins, np.float64), np.asarray(games, np.float64)
    return (wins + prior * prior_games) / (games + prior_games)
