"""League state as plain data: members, the payoff table and ratings.

One league actor owns a `LeagueState`; matchmaking, rating updates, snapshots and evolution are
pure functions over it. Everything here converts to and from JSON-ready dicts for persistence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from socius.platform.league.ratings import Rating
from socius.platform.league.roles import Role
from socius.platform.runfolder import RunFolder, RunFolderError
from socius.platform.types import Care


@dataclass
class Member:
    """A league member: learning (`trainable`) or a frozen snapshot of one."""

    id: str  # "<role>_<n>", snapshots "<id>@<generation>"
    population: str
    role: Role
    trainable: bool = True
    parent: str | None = None
    generation: int = 0
    care: Care = field(default_factory=Care)
    steps: int = 0
    steps_since_snapshot: int = 0
    weights_digest: str | None = None
    # what happened to it after birth: copies from better members and their mutations
    lineage: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["role"] = self.role.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Member:
        return cls(**{**data, "role": Role(data["role"]), "care": Care(**data["care"])})


@dataclass
class PayoffTable:
    """Exponentially decayed results per (member, opponent, scenario family): the member's wins
    (a draw counts half) and games, so old results fade as members change."""

    decay: float = 0.99
    wins: dict[tuple[str, str, str], float] = field(default_factory=dict)
    games: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # (member, opponent) -> [wins, games] summed over families: O(1) lookups for matchmaking
    _totals: dict[tuple[str, str], list[float]] = field(default_factory=dict, repr=False)

    def record(self, member: str, opponent: str, family: str, outcome: float) -> None:
        """`outcome` 1 for a win of `member`, 0 for a loss, 0.5 for a draw; both sides update."""
        if not 0 <= outcome <= 1:
            raise ValueError(f"outcome must be in [0, 1], got {outcome}")
        for key, result in (((member, opponent, family), outcome),
                            ((opponent, member, family), 1.0 - outcome)):
            old_wins, old_games = self.wins.get(key, 0.0), self.games.get(key, 0.0)
            self.wins[key] = old_wins * self.decay + result
            self.games[key] = old_games * self.decay + 1.0
            total = self._totals.setdefault(key[:2], [0.0, 0.0])
            total[0] += self.wins[key] - old_wins
            total[1] += self.games[key] - old_games

    def win_rate(self, member: str, opponent: str, family: str | None = None,
                 prior_games: float = 1.0) -> float:
        """Decayed win rate of `member` against `opponent` (one family or all), shrunk to 0.5."""
        if family is None:
            wins, games = self._totals.get((member, opponent), (0.0, 0.0))
        else:
            key = (member, opponent, family)
            wins, games = self.wins.get(key, 0.0), self.games.get(key, 0.0)
        return (wins + 0.5 * prior_games) / (games + prior_games)

    def games_between(self, member: str, opponent: str) -> float:
        """Decayed number of games `member` played against `opponent` (all families)."""
        return self._totals.get((member, opponent), (0.0, 0.0))[1]

    def to_dict(self) -> dict[str, Any]:
        return {"decay": self.decay,
                "rows": [[*k, self.wins[k], self.games[k]] for k in sorted(self.games)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PayoffTable:
        table = cls(decay=data["decay"])
        for member, opponent, family, wins, games in data["rows"]:
            table.wins[member, opponent, family] = wins
            table.games[member, opponent, family] = games
            total = table._totals.setdefault((member, opponent), [0.0, 0.0])
            total[0] += wins
            total[1] += games
        return table


@dataclass
class TicketLedger:
    """Every ticket the league issued ends in one outcome: finished (its result reported once)
    or cancelled (with a reason); the rest are in flight. `balanced` checks the books."""

    issued: int = 0
    finished: int = 0
    cancelled: int = 0
    in_flight: dict[str, str] = field(default_factory=dict)  # match id -> family
    cancel_reasons: dict[str, int] = field(default_factory=dict)

    def issue(self, matches: Mapping[str, str]) -> None:
        """New tickets: match id -> family."""
        self.issued += len(matches)
        self.in_flight.update(matches)

    def finish(self, match_ids: list[str]) -> None:
        """Results of matches in flight; a match reported twice, or never issued, is an error."""
        unknown = [m for m in match_ids if m not in self.in_flight]
        if unknown or len(set(match_ids)) != len(match_ids):
            raise ValueError(f"results for matches not in flight (or reported twice): "
                             f"{sorted(unknown)[:5] or sorted(match_ids)[:5]}")
        for match_id in match_ids:
            del self.in_flight[match_id]
        self.finished += len(match_ids)

    def cancel(self, match_ids: Iterable[str], reason: str) -> dict[str, str]:
        """Cancel those of `match_ids` still in flight; returns them (id -> family)."""
        cancelled = {m: self.in_flight.pop(m) for m in dict.fromkeys(match_ids)
                     if m in self.in_flight}
        self.cancelled += len(cancelled)
        if cancelled:
            self.cancel_reasons[reason] = self.cancel_reasons.get(reason, 0) + len(cancelled)
        return cancelled

    @property
    def balanced(self) -> bool:
        return self.issued == self.finished + self.cancelled + len(self.in_flight)

    def counts(self) -> dict[str, Any]:
        return {"issued": self.issued, "finished": self.finished, "cancelled": self.cancelled,
                "in_flight": len(self.in_flight), "balanced": self.balanced,
                "cancel_reasons": dict(sorted(self.cancel_reasons.items()))}

    def to_dict(self) -> dict[str, Any]:
        return {"issued": self.issued, "finished": self.finished, "cancelled": self.cancelled,
                "in_flight": dict(sorted(self.in_flight.items())),
                "cancel_reasons": dict(sorted(self.cancel_reasons.items()))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TicketLedger:
        return cls(data["issued"], data["finished"], data["cancelled"], dict(data["in_flight"]),
                   dict(data.get("cancel_reasons", {})))


@dataclass
class LeagueState:
    """Everything the league knows; persisted each generation."""

    members: dict[str, Member] = field(default_factory=dict)
    payoff: PayoffTable = field(default_factory=PayoffTable)
    ratings: dict[str, Rating] = field(default_factory=dict)
    generation: int = 0
    tickets_issued: int = 0  # match ids count on from here
    tickets: TicketLedger = field(default_factory=TicketLedger)
    matches_recorded: int = 0  # finished matches folded into payoffs and ratings
    # member or scripted partner -> share of cooperative actions, in the games that have one,
    # over the last generation it played them
    cooperation: dict[str, float] = field(default_factory=dict)
    # scenario id -> [fast, slow] moving averages of the learners' return (the curriculum)
    scenario_returns: dict[str, list[float]] = field(default_factory=dict)

    def learners(self) -> list[Member]:
        return [m for m in self.members.values() if m.trainable]

    def to_dict(self) -> dict[str, Any]:
        return {"generation": self.generation,
                "members": [m.to_dict() for m in self.members.values()],
                "payoff": self.payoff.to_dict(),
                "ratings": {k: [r.mu, r.sigma] for k, r in sorted(self.ratings.items())},
                "tickets_issued": self.tickets_issued,
                "tickets": self.tickets.to_dict(),
                "matches_recorded": self.matches_recorded,
                "cooperation": dict(sorted(self.cooperation.items())),
                "scenario_returns": dict(sorted(self.scenario_returns.items()))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeagueState:
        return cls(members={m["id"]: Member.from_dict(m) for m in data["members"]},
                   payoff=PayoffTable.from_dict(data["payoff"]),
                   ratings={k: Rating(mu, sigma) for k, (mu, sigma) in data["ratings"].items()},
                   generation=data["generation"], tickets_issued=data.get("tickets_issued", 0),
                   tickets=TicketLedger.from_dict(data["tickets"]) if "tickets" in data
                   else TicketLedger(),
                   matches_recorded=data.get("matches_recorded", 0),
                   cooperation=dict(data.get("cooperation", {})),
                   scenario_returns={k: list(v) for k, v in
                                     data.get("scenario_returns", {}).items()})


def saved_state(run: RunFolder, saved: dict[str, Any] | None = None) -> LeagueState:
    """The league state of a run folder's last saved generation (`league.json`, or what was
    read from it: `saved`)."""
    saved = run.saved() if saved is None else saved
    try:
        return LeagueState.from_dict(saved["league"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"{run.file(run.STATE)}: damaged ({exc.__class__.__name__}: "
                             f"{str(exc)[:160]}); restore it from a backup, or start a new run"
                             ) from None
