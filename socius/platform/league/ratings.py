"""Team ratings with openskill's Plackett-Luce model: teams of any size, N-team outcomes.

Ratings are plain data (`Rating`), updated by a pure function; a member's strength for ranking
and aliasing is the conservative ordinal mu - 3 sigma.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from openskill.models import PlackettLuce

DEFAULT_MU = 25.0
DEFAULT_SIGMA = 25.0 / 3.0
_MODEL = PlackettLuce(mu=DEFAULT_MU, sigma=DEFAULT_SIGMA)


@dataclass(frozen=True)
class Rating:
    """One member's skill belief."""

    mu: float = DEFAULT_MU
    sigma: float = DEFAULT_SIGMA

    @property
    def ordinal(self) -> float:
        return self.mu - 3.0 * self.sigma


def rate_match(ratings: Mapping[str, Rating], teams: Sequence[Sequence[str]],
               scores: Sequence[float]) -> dict[str, Rating]:
    """Ratings after one match: `teams[k]` scored `scores[k]` (higher is better, equal scores
    tie). Returns a new mapping; members not yet rated start at the default."""
    if len(teams) != len(scores) or len(teams) < 2:
        raise ValueError(f"a rated match needs at least two teams and one score each, got "
                         f"{len(teams)} teams and {len(scores)} scores")
    seen = [m for team in teams for m in team]
    if len(seen) != len(set(seen)) or any(not team for team in teams):
        raise ValueError(f"each member plays on exactly one non-empty team, got {teams}")
    order = sorted(set(scores), reverse=True)
    ranks = [order.index(s) for s in scores]
    model_teams = [[_MODEL.rating(mu=ratings.get(m, Rating()).mu,
                                  sigma=ratings.get(m, Rating()).sigma, name=m) for m in team]
                   for team in teams]
    updated = _MODEL.rate(model_teams, ranks=ranks)
    result = dict(ratings)
    for team, new in zip(teams, updated, strict=True):
        for member, rating in zip(team, new, strict=True):
            result[member] = Rating(float(rating.mu), float(rating.sigma))
    return result


def leaderboard(ratings: Mapping[str, Rating]) -> list[tuple[str, Rating]]:
    """Members by ordinal, strongest first."""
    return sorted(ratings.items(), key=lambda item: item[1].ordinal, reverse=True)
