"""`MatchTicket`: one match to play — a scenario, who sits in each seat, which seats learn."""

from __future__ import annotations

from dataclasses import dataclass

from socius.envs import Scenario

SCRIPTED_PREFIX = "scripted:"


@dataclass(frozen=True)
class MatchTicket:
    """Seat i is played by league member `seats[i]` (or `scripted:<partner name>`); seats whose
    `learn[i]` is true produce training data for that member."""

    match_id: str
    scenario: Scenario
    seats: tuple[str, ...]
    learn: tuple[bool, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        n = self.scenario.n_players
        if len(self.seats) != n or len(self.learn) != n:
            raise ValueError(f"ticket {self.match_id}: {n} players need {n} seats and learn "
                             f"flags, got {len(self.seats)} and {len(self.learn)}")
        for seat, member in enumerate(self.seats):
            if self.learn[seat] and member.startswith(SCRIPTED_PREFIX):
                raise ValueError(f"ticket {self.match_id}: seat {seat} ({member}) cannot learn")

    @property
    def members(self) -> set[str]:
        return {m for m in self.seats if not m.startswith(SCRIPTED_PREFIX)}
