"""The league actor: one Ray actor owns the league state and the matchmaker's random generator.

Its methods are thin: each applies a pure function (matchmaker, results, roles) to the state it
owns. The driver asks it for tickets (`issue`, `plan`), reports what the runners played
(`report`), closes each generation (`close_generation`: who is snapshotted, who resets) and
persists what `saved` returns. Runs without Ray too (`League` is a plain class).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import ray

from socius.envs import Scenario
from socius.platform.league.evolution import EvolutionRules, Inheritance, evolve, inherit
from socius.platform.league.matchmaker import (
    MatchmakingRules,
    SeatPools,
    issue_tickets,
    scenario_weights,
    seat_pools,
)
from socius.platform.league.results import learning_progress, record_results, track_returns
from socius.platform.league.roles import Role, SnapshotRules, reset_after_snapshot, snapshot_due
from socius.platform.league.state import LeagueState, Member
from socius.platform.types import MatchResult, TicketBatch


@dataclass(frozen=True)
class GenerationOrders:
    """What the driver does to the learners' weights at the end of a generation, in order:
    snapshots (and resets), then copies (`Inheritance`: child takes parent's weights)."""

    snapshots: list[SnapshotOrder]
    copies: list[Inheritance]


@dataclass(frozen=True)
class SnapshotOrder:
    """The driver freezes `member`'s current weights as `snapshot`, then restarts the member
    from its initial weights when `reset`."""

    member: str
    snapshot: str
    reset: bool


def win_rate_vs_targets(state: LeagueState, member: Member) -> float:
    """Main exploiters are judged against the main agents, league exploiters against all."""
    targets = [m.id for m in state.members.values() if m.id != member.id and (
        member.role is not Role.MAIN_EXPLOITER or m.role is Role.MAIN)]
    if not targets:
        return 0.0
    return float(np.mean([state.payoff.win_rate(member.id, t) for t in targets]))


def close_generation(state: LeagueState, digests: Mapping[str, str],
                     initial_digests: Mapping[str, str], rules: SnapshotRules,
                     rng: np.random.Generator) -> list[SnapshotOrder]:
    """Snapshot the learners that are due (new frozen members `<id>@<generation>` holding the
    weights of `digests`) and decide which restart; updates `state` and returns the orders."""
    orders = []
    for member in state.learners():
        member.weights_digest = digests[member.id]
        if not snapshot_due(member.role, member.steps_since_snapshot,
                            win_rate_vs_targets(state, member), rules):
            continue
        snap_id = f"{member.id}@{state.generation}"
        state.members[snap_id] = Member(
            snap_id, member.population, member.role, trainable=False, parent=member.id,
            generation=state.generation, care=member.care, steps=member.steps, weights_digest=member.weights_digest)
        member.steps_since_snapshot = 0
        reset = reset_after_snapshot(member.role, float(rng.random()), rules)
        if reset:
            member.weights_digest = initial_digests[member.id]
        orders.append(SnapshotOrder(member.id, snap_id, reset))
    return orders


class League:
    """Owns a `LeagueState`, the curriculum's scenarios and the matchmaker's generator."""

    def __init__(self, state: LeagueState, scenarios: Sequence[Scenario],
                 rules: MatchmakingRules, snapshot_rules: SnapshotRules,
                 rng_state: dict[str, Any] | None = None, seed: int = 0,
                 initial_digests: Mapping[str, str] | None = None,
                 evolution: EvolutionRules | None = None, fitness_kind: str = "own",
                 match_episodes: int = 1):
        self.state, self.scenarios = state, list(scenarios)
        self.match_episodes = match_episodes
        self.evolution, self.fitness_kind = evolution, fitness_kind
        self._results: list[MatchResult] = []  # this generation's, for fitness
        self.rules, self.snapshot_rules = rules, snapshot_rules
        self.rng = np.random.default_rng(seed)
        if rng_state is not None:
            self.rng.bit_generator.state = rng_state
        self.initial_digests = dict(initial_digests or {})
        # tickets name scenarios by index; the list itself travels once, by reference
        self.scenario_source = ray.put(tuple(scenarios)) if ray.is_initialized() \
            else tuple(scenarios)
        self._pools: SeatPools | None = None  # rebuilt after results or new members
        self._weights: np.ndarray | None = None
        self._names: Any = None
        self._names_value: tuple[str, ...] = ()
        self._names_version = 0

    def issue(self, count: int) -> TicketBatch:
        """`count` tickets as arrays; the name and scenario lists they index are not sent again
        (attach `shared()` of the same `names_version`)."""
        if self._pools is None:
            self._rebuild()
        batch = issue_tickets(self.state, self._pools, self.scenarios, self.rules, self.rng,
                              count, weights=self._weights)
        return replace(batch, names_version=self._names_version, names=None, scenarios=None)

    def shared(self) -> dict[str, Any]:
        """The lists tickets index, as object references under Ray: put once per change."""
        if self._pools is None:
            self._rebuild()
        return {"names_version": self._names_version, "names": self._names,
                "scenarios": self.scenario_source}

    def _rebuild(self) -> None:
        """Seat pools and curriculum weights from the current members and results."""
        self._pools = seat_pools(self.state, self.rules, self.scenarios)
        self._weights = scenario_weights(self.scenarios, self.rules,
                                         learning_progress(self.state))
        if self._pools.names != self._names_value:
            self._names_value = self._pools.names
            self._names = ray.put(self._names_value) if ray.is_initialized() \
                else self._names_value
            self._names_version += 1

    def plan(self, free_slots: Sequence[int]) -> list[TicketBatch]:
        """One round: as many tickets for each runner as it has free slots, in one call, with
        the shared lists attached (so runners can play them as they are); each is in flight
        until its result or its cancellation comes back."""
        shared = self.shared()
        batches = [replace(self.issue(count), names=shared["names"],
                           scenarios=shared["scenarios"], episodes=self.match_episodes)
                   for count in free_slots]
        self.state.tickets.issue({
            f"g{b.generation}-{b.first_match + k}": self.scenarios[s].games[0].family
            for b in batches for k, s in enumerate(b.scenario.tolist())})
        return batches

    def cancel(self, match_ids: Sequence[str], reason: str) -> dict[str, str]:
        """Matches that end without a result (a member reset, the run stopped); returns
        those that were in flight (match id -> family)."""
        return self.state.tickets.cancel(match_ids, reason)

    def books(self) -> dict[str, Any]:
        """Tickets issued, finished, cancelled and in flight (cancellations by reason)."""
        return self.state.tickets.counts()

    def start_generation(self, generation: int) -> None:
        self.state.generation = generation
        self._results = []

    def report(self, results: list[MatchResult], steps_by_member: Mapping[str, int],
               cooperation: Mapping[str, Sequence[int]]) -> None:
        """Fold a batch of played matches into payoffs, ratings, step counts and cooperation."""
        self.state.tickets.finish([r.match_id for r in results])
        record_results(self.state, results)
        track_returns(self.state, results)
        self._results.extend(results)
        for member_id, steps in steps_by_member.items():
            member = self.state.members[member_id]
            member.steps += steps
            member.steps_since_snapshot += steps
        for name, (cooperated, possible) in cooperation.items():
            if possible:
                self.state.cooperation[name] = cooperated / possible
        self._rebuild()  # here, so that the next `issue` is as fast as any

    def close_generation(self, digests: Mapping[str, str],
                         scores: Mapping[str, float] | None = None) -> GenerationOrders:
        """Snapshots and resets; then, when evolution is due, copies and mutations (`scores`:
        the learners' evaluation scores, for fitness `eval`)."""
        state = self.state
        snapshots = close_generation(state, digests, self.initial_digests, self.snapshot_rules,
                                     self.rng)
        copies = []
        if self.evolution and self.evolution.due(state.generation):
            copies = evolve(state.members, self._results, state.ratings, self.evolution,
                            self.fitness_kind, self.rng, state.generation, scores)
            for copy in copies:
                inherit(state.members[copy.child], copy)
                state.members[copy.child].weights_digest = \
                    state.members[copy.parent].weights_digest
        self._rebuild()
        return GenerationOrders(snapshots, copies)

    def saved(self) -> dict[str, Any]:
        """What the run folder's `league.json` holds: the state and the generator's state."""
        return {"league": self.state.to_dict(), "rng": self.rng.bit_generator.state}

    def get_state(self) -> LeagueState:
        return self.state


# No CPU reserved: it answers small calls between the runners' and learners' work.
LeagueActor = ray.remote(num_cpus=0)(League)
