"""League roles and their snapshot and reset rules, as in the AlphaStar league.

Main agents learn against everyone and are snapshotted on a schedule; main exploiters hunt the
main agents' weaknesses and league exploiters the whole league's. Exploiters are snapshotted
early once they beat their targets often enough (or at the schedule's latest); after a snapshot
a main exploiter restarts from its initial weights and a league exploiter with some probability.
A snapshot is frozen for good: it never learns again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    MAIN = "main"
    MAIN_EXPLOITER = "main_exploiter"
    LEAGUE_EXPLOITER = "league_exploiter"


@dataclass(frozen=True)
class SnapshotRules:
    """When members are snapshotted and exploiters reset (agent-steps trained since the last)."""

    every_steps: int = 200_000
    min_steps: int = 20_000
    exploiter_win_rate: float = 0.7
    league_exploiter_reset_prob: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.min_steps <= self.every_steps:
            raise ValueError(f"SnapshotRules needs 0 < min_steps <= every_steps, got "
                             f"{self.min_steps}, {self.every_steps}")
        for key in ("exploiter_win_rate", "league_exploiter_reset_prob"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"SnapshotRules.{key} must be in [0, 1], got {getattr(self, key)}")


def snapshot_due(role: Role, steps_since_snapshot: int, win_rate_vs_targets: float,
                 rules: SnapshotRules) -> bool:
    """Whether a learning member should be snapshotted now."""
    if steps_since_snapshot >= rules.every_steps:
        return True
    if role is Role.MAIN or steps_since_snapshot < rules.min_steps:
        return False
    return win_rate_vs_targets >= rules.exploiter_win_rate


def reset_after_snapshot(role: Role, uniform: float, rules: SnapshotRules) -> bool:
    """Whether a member restarts from its initial weights right after a snapshot (`uniform` is a
    draw in [0, 1) from the caller's seeded generator)."""
    if role is Role.MAIN_EXPLOITER:
        return True
    if role is Role.LEAGUE_EXPLOITER:
        return uniform < rules.league_exploiter_reset_prob
    return False
