"""`Runner`: keeps matches in play on one batched engine and returns per-member training batches.

A thin shell around `RolloutCollector` (batched forward passes, GAE in arrays, learn masks) on
the numpy engine, or — given a torch device — on the torch engine, plus a weight pool keyed by
content hash. Its engine's instances are slots: each call gives the free slots new tickets and
plays every match in play for `steps` steps; a match keeps its slot, recurrent state and
partners' memory across calls until it ends (or is cancelled), then its result is reported
once and the slot is free again. As a Ray actor (`RunnerActor`) it hands its batch to the
learners through the object store.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import ray
import torch
from ray.rllib.policy.sample_batch import MultiAgentBatch

from socius.envs import BatchedEngine, Scenario
from socius.envs.encoding import OBS_VERSION
from socius.platform.data import schema
from socius.platform.training.weights import WeightPool, WeightsHandle
from socius.platform.types import (
    SCRIPTED_PREFIX,
    Care,
    MatchResult,
    MatchTicket,
    RoundStats,
    TicketBatch,
)
from socius.policies.network import NetConfig
from socius.policies.rollout import RolloutCollector, RolloutSettings
from socius.policies.scripted import ScriptedPartner, make_partner
from socius.policies.torch_engine import TorchEngine
from socius.policies.trainer import to_multi_agent_batch


def _resolve(source: Any) -> Any:
    return ray.get(source) if isinstance(source, ray.ObjectRef) else source


def match_seed(ticket: MatchTicket) -> int:
    """The engine seed of a match: a hash of its id and the ticket's seed, so a match replays
    from its ticket alone, wherever and next to whatever it is played."""
    digest = hashlib.blake2b(f"{ticket.match_id}/{ticket.seed}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


class Runner:
    """Keeps up to `slots` matches in play; each `run` call plays `steps` steps of each."""

    def __init__(self, net_config: NetConfig, steps: int, rollout: RolloutSettings | None = None,
                 seed: int = 0, record: bool = False, run_id: str = "run",
                 device: str | None = None, slots: int | None = None):
        """`device` (e.g. "cuda"): engine, nets and sampling as torch tensors there (the
        torch engine: at most 4 seats, no common-pool games); None: numpy engine and torch
        nets on the CPU. `slots`: matches in play at once (default: the first call's tickets)."""
        torch.set_num_threads(1)  # more threads than cores made sampling 10x slower here
        self.net_config, self.steps = net_config, steps
        self.rollout = rollout or RolloutSettings()
        self.seed, self.record, self.run_id, self.device = seed, record, run_id, device
        self.slots = slots
        self.pool = WeightPool(net_config, fetch=_resolve, device=device or "cpu")
        self._collector: RolloutCollector | None = None
        self._scenario_index: dict[str, int] = {}
        self._slot_ticket: list[MatchTicket | None] = []
        self._partners: dict[str, ScriptedPartner] = {}
        self._seat_names: list[str] = []
        self._fetched: dict[str, Any] = {}

    def _build(self, scenarios: list[Scenario]) -> None:
        """A fresh engine over `scenarios`, every slot free."""
        engine = BatchedEngine(scenarios, np.zeros(self.slots, np.intp),
                               max_players=self.net_config.max_players)
        if self.device is not None:
            engine = TorchEngine(engine, self.device)
        self._collector = RolloutCollector(engine, settings=self.rollout, seed=self.seed,
                                           log_steps=self.record)
        self._scenario_index = {sc.id: i for i, sc in enumerate(scenarios)}
        self._slot_ticket = [None] * self.slots
        self._partners = {}

    def _ensure_scenarios(self, tickets: list[MatchTicket], known: Iterable[Scenario]) -> None:
        """An engine that knows every scenario of `tickets`; it is rebuilt for new scenarios
        only while no match is in play (a league hands its whole list with its tickets)."""
        new = {t.scenario.id: t.scenario for t in tickets
               if t.scenario.id not in self._scenario_index}
        if self._collector is not None and not new:
            return
        if self._collector is not None and self.in_flight():
            raise ValueError(f"runner: scenario {next(iter(new))!r} arrives while matches are "
                             "in play on an engine built without it; hand the runner its whole "
                             "scenario list with its first tickets (TicketBatch.scenarios)")
        old = self._collector.host.scenarios if self._collector is not None else []
        merged = {sc.id: sc for sc in [*old, *known, *new.values()]}
        if not merged:
            raise ValueError("runner: a first call needs tickets (or a TicketBatch with its "
                             "scenario list) to build an engine for")
        self._build(list(merged.values()))

    def run(self, tickets: list[MatchTicket] | TicketBatch, weights: dict[str, WeightsHandle],
            care: Mapping[str, Care] | None = None) -> tuple[MultiAgentBatch | None, RoundStats]:
        """Give free slots these new tickets, play every match in play with these member
        weights; return (batch for the learners, what the call did). `care[member]` shapes
        that member's training rewards (policies/care.py)."""
        start = time.perf_counter()
        known: Iterable[Scenario] = ()
        if isinstance(tickets, TicketBatch):
            known = self._fetch(tickets.scenarios) if tickets.scenarios is not None else ()
            tickets = tickets.tickets(self._fetch) if len(tickets) else []
        if self.slots is None:
            self.slots = max(1, len(tickets))
        self._ensure_scenarios(tickets, known)
        collector = self._collector
        free = np.flatnonzero(~collector.book.active)
        if len(tickets) > len(free):
            raise ValueError(f"runner: {len(tickets)} new tickets but {len(free)} free slots "
                             f"of {self.slots} (ask for as many tickets as `free_slots` says)")
        if tickets:
            slots = free[: len(tickets)]
            collector.start_matches(
                slots, [self._scenario_index[t.scenario.id] for t in tickets],
                np.array([match_seed(t) for t in tickets], np.uint64),
                np.array([t.episodes for t in tickets]))
            for slot, ticket in zip(slots, tickets, strict=True):
                self._slot_ticket[slot] = ticket
        members = self._seat_policies(weights, care or {})
        batches = collector.collect(self.steps)
        by_member = {members[i]: b for i, b in batches.items()}
        results = [self._result(e) for e in collector.book.finished]
        collector.book.finished.clear()
        stats = RoundStats(
            results=tuple(results), steps_by_member={m: b.agent_steps for m, b in
                                                     by_member.items()},
            cooperation=self._cooperation(), agent_steps_sampled=collector.agent_steps_played,
            agent_steps_trainable=sum(b.agent_steps for b in by_member.values()),
            free_slots=int((~collector.book.active).sum()),
            seconds=time.perf_counter() - start,
            episode_returns=tuple(collector.book.episode_returns[-1000:]),
            weight_fetches=self.pool.fetches,
            steps=self.step_record() if self.record else None)
        collector.book.episode_returns.clear()
        if not by_member:
            return None, stats
        return to_multi_agent_batch(by_member, self.rollout.max_seq_len), stats

    def _seat_policies(self, weights: dict[str, WeightsHandle],
                       care: Mapping[str, Care]) -> list[str]:
        """Who plays each seat of each slot in play this call; returns the members in the
        order of the collector's policies."""
        collector = self._collector
        host = collector.host
        live = [(slot, t) for slot, t in enumerate(self._slot_ticket)
                if t is not None and collector.book.active[slot]]
        members = sorted({m for _, t in live for m in t.members})
        scripted = sorted({s for _, t in live for s in t.seats if s.startswith(SCRIPTED_PREFIX)})
        ids = {name: i for i, name in enumerate(members + scripted)}
        m, b = host.max_players, host.batch_size
        seat_policy, learn = np.full((m, b), -1), np.zeros((m, b), bool)
        for slot, ticket in live:
            for seat, member in enumerate(ticket.seats):
                seat_policy[seat, slot] = ids[member]
                learn[seat, slot] = ticket.learn[seat]
        policies: list = []
        for member in members:
            if member not in weights:
                raise KeyError(f"no weights for league member {member!r}")
            policies.append(self.pool.net(weights[member]))
        for name in scripted:
            if name not in self._partners:
                self._partners[name] = make_partner(name.removeprefix(SCRIPTED_PREFIX),
                                                    layout=host.layout)
            policies.append(self._partners[name])
        collector.set_policies(policies, seat_policy, learn)
        for i, member in enumerate(members):
            member_care = care.get(member, Care())
            collector.care[i] = (member_care.team, member_care.others)
        self._seat_names = members + scripted
        return members

    def _result(self, e) -> MatchResult:
        t = self._slot_ticket[e.instance]
        return MatchResult(t.match_id, t.scenario.games[0].family, t.seats,
                           tuple(e.returns.tolist()), t.scenario.team_sizes, t.scenario.id,
                           e.steps, tuple(e.cooperated.tolist()),
                           tuple(e.could_cooperate.tolist()), e.episode, e.team_changes,
                           e.rule_changes, e.betrayals)

    def in_flight(self) -> list[str]:
        """Match ids of the matches in play."""
        if self._collector is None:
            return []
        active = self._collector.book.active
        return [t.match_id for slot, t in enumerate(self._slot_ticket)
                if t is not None and active[slot]]

    def cancel(self, members: Iterable[str] | None = None) -> list[str]:
        """Cancel the matches in play that seat any of `members` (None: every match); returns
        their match ids. Their slots are free for the next tickets."""
        if self._collector is None:
            return []
        wanted = None if members is None else set(members)
        active = self._collector.book.active
        slots = [slot for slot, t in enumerate(self._slot_ticket) if t is not None
                 and active[slot] and (wanted is None or wanted & set(t.seats))]
        self._collector.stop_matches(np.array(slots, np.intp))
        return [self._slot_ticket[slot].match_id for slot in slots]

    def _fetch(self, source: Any) -> Any:
        """A ticket batch's scenario or name list, fetched once per object reference."""
        if not isinstance(source, ray.ObjectRef):
            return source
        key = source.hex()
        if key not in self._fetched:
            if len(self._fetched) >= 8:  # names change with members: keep the recent ones
                self._fetched.pop(next(iter(self._fetched)))
            self._fetched[key] = ray.get(source)
        return self._fetched[key]

    def _cooperation(self) -> dict[str, tuple[int, int]]:
        """Per member and scripted partner since the last call: (cooperative actions, steps in
        games that have a cooperative action)."""
        collector, counts = self._collector, {}
        for p, name in enumerate(self._seat_names):
            seats, inst, _ = collector.pairs[p]
            counts[name] = (int(collector.book.cooperated[seats, inst].sum()),
                            int(collector.book.cooperation_steps[seats, inst].sum()))
        collector.book.cooperated[:] = 0
        collector.book.cooperation_steps[:] = 0
        return counts

    def step_record(self) -> pa.RecordBatch:
        """The last call's recorded steps, one row per present seat and step of a match in
        play (`data.schema`)."""
        log, tickets = self._collector.step_log, self._slot_ticket
        present = self._collector.present  # [M, B]
        rows = log["valid"][:, None, :] & present[None]  # [T, M, B]
        t_idx, seat, inst = np.nonzero(rows)
        m = present.shape[0]
        blank = ("", "", "")
        facts = [(t.match_id, t.scenario.id, t.scenario.games[0].family) if t else blank
                 for t in tickets]
        members = np.array([list(t.seats) + [""] * (m - len(t.seats)) if t else [""] * m
                            for t in tickets]).T  # [M, B]
        match_ids, scenario_ids, families = (np.array(column) for column in zip(*facts,
                                                                                strict=True))
        columns = {
            schema.RUN_ID: [self.run_id] * len(seat),
            schema.MATCH_ID: match_ids[inst],
            schema.EPISODE: log["episode"][t_idx, inst],
            schema.STEP: log["step"][t_idx, inst],
            schema.SCENARIO_ID: scenario_ids[inst],
            schema.FAMILY: families[inst],
            schema.GAME: log["game_slot"][t_idx, inst],
            schema.SEAT: seat,
            schema.MEMBER: members[seat, inst],
            schema.TEAM: log["teams"][t_idx, seat, inst],
            schema.OBS: log["tokens"][t_idx, seat, :, inst],
            schema.ACTION: log["action"][t_idx, seat, inst],
            schema.TEAM_MOVE: log["team_move"][t_idx, seat, inst],
            schema.REWARD: log["reward"][t_idx, seat, inst],
            schema.TERMINATED: log["terminated"][t_idx, inst],
            schema.TRUNCATED: log["truncated"][t_idx, inst],
            schema.ACTION_LOGP: log["action_logp"][t_idx, seat, inst],
            schema.VALUE: log["value"][t_idx, seat, inst],
            schema.LEARN: self._collector.learn[seat, inst],
        }
        return schema.step_batch(columns, OBS_VERSION)


RunnerActor = ray.remote(num_cpus=1)(Runner)
