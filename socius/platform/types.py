"""The hand-offs between the platform's stages, as frozen dataclasses at the bottom of the
platform's layers: data, training, league and run all import them, none imports another for them.

- `MatchTicket` / `TicketBatch`: matches to play (league -> runners);
- `MatchResult`: one finished match (runners -> league, lake);
- `RoundStats`: what a runner did in one call (runners -> training loop);
- `Care`: how much of a member's training reward is its teammates' and others' (league -> runners);
- `GenerationRecord`: one line of `history.jsonl` (run -> dashboard, mirror, metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True)
class MatchResult:
    """One finished match: per-seat totals over its episodes (`episode`: the last one's index)."""

    match_id: str
    family: str
    seats: tuple[str, ...]
    returns: tuple[float, ...]
    team_sizes: tuple[int, ...]
    scenario_id: str = ""
    steps: int = 0  # the match's length in steps
    # per seat: cooperative actions, and steps in games that have a cooperative action
    cooperated: tuple[int, ...] = ()
    could_cooperate: tuple[int, ...] = ()
    episode: int = 0
    team_changes: int = 0
    rule_changes: int = 0
    betrayals: int = 0  # seats that defected right after a step of all-round cooperation

    def teams(self) -> list[tuple[list[str], float]]:
        """(members, score) per initial team."""
        out, start = [], 0
        for size in self.team_sizes:
            members = list(self.seats[start: start + size])
            out.append((members, float(np.mean(self.returns[start: start + size]))))
            start += size
        return out


@dataclass(frozen=True)
class RoundStats:
    """What one runner call did: the matches that ended, steps sampled and trainable (per
    member), cooperation counts, its free slots afterwards, and (when it records) every seat's
    steps as an Arrow record batch in the rollout schema."""

    results: tuple[MatchResult, ...]
    steps_by_member: Mapping[str, int]
    # per member or scripted partner: (cooperative actions, steps where cooperating was possible)
    cooperation: Mapping[str, tuple[int, int]]
    agent_steps_sampled: int
    agent_steps_trainable: int
    free_slots: int
    seconds: float
    episode_returns: tuple[float, ...] = ()
    weight_fetches: int = 0
    steps: Any = None  # pyarrow.RecordBatch or None


@dataclass(frozen=True)
class Care:
    """A member trains on its own reward plus `team` times its teammates' mean reward plus
    `others` times everyone else's (negative: spite); the game's returns stay its own."""

    team: float = 0.0
    others: float = 0.0

    @classmethod
    def from_value(cls, value: Care | Mapping[str, float] | tuple[float, float]) -> Care:
        if isinstance(value, Care):
            return value
        if isinstance(value, Mapping):
            return cls(float(value.get("team", 0.0)), float(value.get("others", 0.0)))
        team, others = value
        return cls(float(team), float(others))


@dataclass(frozen=True)
class GenerationRecord:
    """One finished generation, as one line of `history.jsonl`: what the dashboard plots, the
    MLflow mirror logs and the live metrics report. `stage_seconds` holds each stage's seconds
    (`league/plan`, `env/`, `learner/`, `store/`, `checkpoint/`, `league/rate`,
    `league/evolve`, `eval/`, `registry/`) and `total`, the generation's wall time."""

    generation: int
    seconds: float
    members: int
    ratings: Mapping[str, float]
    cooperation: Mapping[str, float]
    care: Mapping[str, tuple[float, float]]
    agent_steps_trained: int
    agent_steps_sampled: int
    throughput: Mapping[str, float]
    stage_seconds: Mapping[str, float]
    episodes: int  # finished matches (one result each)
    match_steps: Mapping[str, float]
    families: Mapping[str, int]
    scenarios: Mapping[str, int]
    team_changes: int
    rule_changes: int
    betrayals: int
    tickets: Mapping[str, Any] = field(default_factory=dict)
    diverged_updates: int = 0  # over the run so far
    restarts: int = 0  # of the run, after actors died
    # when evaluated: {"suite", "suite_hash", "members": {member: summary measures}}
    eval: Mapping[str, Any] | None = None
    unix_time: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
