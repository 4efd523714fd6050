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


def nash_mixture(payoff: np.ndarray) -> np.ndarray:
    """Row player's Nash mixture of the zero-sum game `payoff` (uniform if it is all zero)."""
    payoff = np.asarray(payoff, np.float64)
    if payoff.shape[0] <= 1 or not np.abs(payoff).max() > 1e-12:
        return np.full(payoff.shape[0], 1.0 / payoff.shape[0])
    row, _ = nashpy.Game(payoff).linear_program()
    row = np.clip(row, 0.0, None)
    return row / row.sum()


def meta_game_nash(state: LeagueState, members: Sequence[str] | None = None) -> dict[str, float]:
    """Nash mixture over `members` (default: every member) of the empirical meta-game."""
    ids = list(state.members) if members is None else list(members)
    if not ids:
        return {}
    return dict(zip(ids, nash_mixture(meta_game(state, ids)).tolist(), strict=True))


def exploitability(action_probs: Mapping[str, np.ndarray], mixture: Mapping[str, float],
                   payoff: np.ndarray) -> float:
    """Best pure action's expected payoff (row player, `payoff[a, b]`) against the combined
    action distribution of `mixture` (weights over members, each with its `action_probs`)."""
    combined = sum(weight * np.asarray(action_probs[m], np.float64)
                   for m, weight in mixture.items() if weight > 0)
    return float(np.max(np.asarray(payoff, np.float64) @ combined))


def league_exploitability(state: LeagueState, weights: Mapping[str, Mapping[str, np.ndarray]],
                          net_config, scenario) -> tuple[float, dict[str, float]]:
    """Exploitability of a league in a one-shot two-player zero-sum `scenario`: the best pure
    action's expected payoff against the combined first-step action distribution of the
    meta-game's Nash mixture over every member with `weights`. Returns it and the mixture.

    In a one-shot game the meta-game needs no sampling: member i's payoff against j is exactly
    p_i' A p_j from their action distributions, so the mixture is not at the mercy of noisy
    win-rate estimates (the matchmaker, which must work in any game, uses those)."""
    from socius.envs import FAMILIES
    from socius.policies.evaluate import first_step_action_probs
    from socius.policies.network import SociusNet

    game = scenario.games[0]
    family = FAMILIES[game.family]
    if scenario.n_players != 2 or family.shape != "pairwise" or not scenario.zero_sum:
        raise ValueError(f"{scenario.name}: exploitability needs a two-player zero-sum "
                         "pairwise game")
    members = [m for m in state.members if m in weights]
    probs = {}
    for member in members:
        net = SociusNet.from_weights(net_config, weights[member])
        probs[member] = first_step_action_probs(net, scenario)
    payoff = family.pair_matrix(game.param_dict)[0, 1]
    stacked = np.stack([probs[m] for m in members])
    meta = stacked @ payoff @ stacked.T
    mixture = dict(zip(members, nash_mixture((meta - meta.T) / 2).tolist(), strict=True))
    return exploitability(probs, mixture, payoff), mixture
