"""`MatchTicket`: one match to play — a scenario, who sits in each seat, which seats learn;
`TicketBatch`: many of them as arrays, as the league actor hands them out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from socius.envs import Scenario

SCRIPTED_PREFIX = "scripted:"


@dataclass(frozen=True)
class MatchTicket:
    """Seat i is played by league member `seats[i]` (or `scripted:<partner name>`); seats whose
    `learn[i]` is true produce training data for that member. The match lasts `episodes`
    episodes of the scenario, however many runner calls that takes."""

    match_id: str
    scenario: Scenario
    seats: tuple[str, ...]
    learn: tuple[bool, ...]
    seed: int = 0
    episodes: int = 1

    def __post_init__(self) -> None:
        n = self.scenario.n_players
        if len(self.seats) != n or len(self.learn) != n:
            raise ValueError(f"ticket {self.match_id}: {n} players need {n} seats and learn "
                             f"flags, got {len(self.seats)} and {len(self.learn)}")
        if self.episodes < 1:
            raise ValueError(f"ticket {self.match_id}: a match lasts at least one episode, "
                             f"got episodes={self.episodes}")
        for seat, member in enumerate(self.seats):
            if self.learn[seat] and member.startswith(SCRIPTED_PREFIX):
                raise ValueError(f"ticket {self.match_id}: seat {seat} ({member}) cannot learn")

    @property
    def members(self) -> set[str]:
        return {m for m in self.seats if not m.startswith(SCRIPTED_PREFIX)}


def fetch_local(source: Any) -> Any:
    """The value itself, or a Ray object reference's value."""
    import ray

    return ray.get(source) if isinstance(source, ray.ObjectRef) else source


@dataclass(frozen=True)
class TicketBatch:
    """Many tickets as arrays, the way the league actor sends them: ticket k plays
    `scenarios[scenario[k]]` with seat i taken by `names[seats[k, i]]` (-1 past the scenario's
    players); its match id is `g<generation>-<first_match + k>`. The league actor sends the
    arrays only, with the version of its name list; the lists themselves (`names`,
    `scenarios`: values or Ray object references, put once per change) are attached by whoever
    holds them (`League.shared`), and `tickets` and `member_names` resolve them with `fetch`."""

    generation: int
    first_match: int
    scenario: np.ndarray  # [K] int
    seats: np.ndarray  # [K, M] int, -1 for no seat
    learn: np.ndarray  # [K, M] bool
    seed: np.ndarray  # [K] int
    names_version: int = 0
    episodes: int = 1  # episodes each of these matches lasts
    names: Any = None  # tuple[str, ...] or a reference to one
    scenarios: Any = None  # tuple[Scenario, ...] or a reference to one

    def __len__(self) -> int:
        return len(self.scenario)

    def _check_attached(self) -> None:
        if self.names is None or self.scenarios is None:
            raise ValueError("this TicketBatch has no name or scenario list attached: attach "
                             "the league's (League.shared) with dataclasses.replace")

    def member_names(self, fetch: Callable[[Any], Any] = fetch_local) -> set[str]:
        self._check_attached()
        names = fetch(self.names)
        used = np.unique(self.seats[self.seats >= 0])
        return {names[i] for i in used if not names[i].startswith(SCRIPTED_PREFIX)}

    def tickets(self, fetch: Callable[[Any], Any] = fetch_local) -> list[MatchTicket]:
        self._check_attached()
        scenarios, names = fetch(self.scenarios), fetch(self.names)
        out = []
        for k, (s, seats, learn, seed) in enumerate(zip(
                self.scenario.tolist(), self.seats.tolist(), self.learn.tolist(),
                self.seed.tolist(), strict=True)):
            n = scenarios[s].n_players
            out.append(MatchTicket(f"g{self.generation}-{self.first_match + k}", scenarios[s],
                                   tuple(names[i] for i in seats[:n]), tuple(learn[:n]),
                                   seed, self.episodes))
        return out
