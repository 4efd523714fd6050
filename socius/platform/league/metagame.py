"""The league's empirical meta-game and its Nash mixture; exploitability of a mixture of members.

The meta-game is the symmetric zero-sum game between league members whose payoff for member i
against j is i's decayed win rate against j minus one half (antisymmetrized, so it is exactly
zero-sum). Its Nash mixture (a linear program, via nashpy) is the population no member beats on
average: matchmaking can draw opponents from it, and in zero-sum games the combined play of that
mixture is what exploitability is measured on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import nashpy
import numpy as np

from socius.platform.league.state import LeagueState


def meta_game(state: LeagueState, members: Sequence[str] | None = None) -> np.ndarray:
    """[K, K] antisymmetric payoffs: win rate of row against column, minus 0.5."""
    ids = list(state.members) if members is None else list(members)
    rates = np.array([[state.payoff.win_rate(a, b) if a != b else 0.5 for b in ids]
                      for a in ids])
    return (rates - rates.T) / 2.0


def meta_game_nash(state: LeagueState, members: Sequence[str] | None = None) -> dict[str, float]:
    """Nash mixture over `members` (default: every member) of the empirical meta-game."""
    ids = list(state.members) if members is None else list(members)
    if len(ids) <= 1:
        return {m: 1.0 for m in ids}
    payoff = meta_game(state, ids)
    if not np.abs(payoff).max() > 1e-12:  # no results yet: every member is as good as any
        return {m: 1.0 / len(ids) for m in ids}
    row, _ = nashpy.Game(payoff).linear_program()
    row = np.clip(row, 0.0, None)
    return dict(zip(ids, (row / row.sum()).tolist(), strict=True))


def exploitability(action_probs: Mapping[str, np.ndarray], mixture: Mapping[str, float],
                   payoff: np.ndarray) -> float:
    """Best pure action's expected payoff (row player, `payoff[a, b]`) against the combined
    action distribution of `mixture` (weights over members, each with its `action_probs`)."""
    combined = sum(weight * np.asarray(action_probs[m], np.float64)
                   for m, weight in mixture.items() if weight > 0)
    return float(np.max(np.asarray(payoff, np.float64) @ combined))
