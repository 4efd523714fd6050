"""Match results and what the league learns from them: payoffs between members and team ratings.

A match is scored by its initial teams (the scenario's `team_sizes`, seats in order): a team's
score is its members' mean return; teams are ranked by score. Every pair of members on
different teams records a win, loss or draw in the payoff table. Matches where a member sits on
more than one team (self-play across teams) update the payoffs of the other pairs but are not
rated, since one member cannot hold two places in a ranking.
"""

from __future__ import annotations

import numpy as np

from socius.platform.league.ratings import rate_match
from socius.platform.league.state import LeagueState
from socius.platform.types import MatchResult


def record_results(state: LeagueState, results: list[MatchResult]) -> LeagueState:
    """Fold results into the payoff table and the ratings (in place; returns the state)."""
    state.matches_recorded += len(results)
    for result in results:
        teams = result.teams()
        for i, (members_a, score_a) in enumerate(teams):
            for members_b, score_b in teams[i + 1:]:
                outcome = 1.0 if score_a > score_b else 0.0 if score_a < score_b else 0.5
                for a in members_a:
                    for b in members_b:
                        if a != b:
                            state.payoff.record(a, b, result.family, outcome)
        unique = [list(dict.fromkeys(members)) for members, _ in teams]
        flat = [m for team in unique for m in team]
        if len(teams) >= 2 and len(flat) == len(set(flat)):
            state.ratings = rate_match(state.ratings, unique, [score for _, score in teams])
    return state


def track_returns(state: LeagueState, results: list[MatchResult], fast: float = 0.3,
                  slow: float = 0.05) -> None:
    """Fast and slow moving averages of the learners' mean return per scenario: their gap is
    the learning progress the `learning_progress` curriculum samples by."""
    for result in results:
        mine = [r for m, r in zip(result.seats, result.returns, strict=True)
                if m in state.members and state.members[m].trainable]
        if not mine or not result.scenario_id:
            continue
        value = float(np.mean(mine))
        averages = state.scenario_returns.setdefault(result.scenario_id, [value, value])
        averages[0] += fast * (value - averages[0])
        averages[1] += slow * (value - averages[1])


def learning_progress(state: LeagueState) -> dict[str, float]:
    """Per scenario id: fast minus slow average return of the learners."""
    return {sid: fast - slow for sid, (fast, slow) in state.scenario_returns.items()}
