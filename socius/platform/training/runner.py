"""`Runner`: plays match tickets on one batched engine and returns per-member training batches.

A thin shell around `RolloutCollector` (batched forward passes, GAE in arrays, learn masks) —
or, given a torch device, `DeviceCollector` (the same on the torch engine) — plus a weight pool
keyed by content hash. As a Ray actor (`RunnerActor`) it hands its batch to
the learners through the object store. Tickets that repeat the previous call's matches keep the
same engine, so episodes (and recurrent state) continue across calls.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa
import ray
import torch
from ray.rllib.policy.sample_batch import MultiAgentBatch

from socius.envs import BatchedEngine
from socius.envs.encoding import OBS_VERSION
from socius.platform.data import schema
from socius.platform.league.results import MatchResult
from socius.platform.training.tickets import SCRIPTED_PREFIX, MatchTicket, TicketBatch
from socius.platform.training.weights import WeightPool, WeightsHandle
from socius.policies.device_rollout import DeviceCollector
from socius.policies.network import NetConfig, SociusNet
from socius.policies.rollout import RolloutCollector, RolloutSettings
from socius.policies.scripted import make_partner
from socius.policies.torch_engine import TorchEngine
from socius.policies.trainer import to_multi_agent_batch


def _resolve(source: Any) -> Any:
    return ray.get(source) if isinstance(source, ray.ObjectRef) else source


class Runner:
    """Plays `steps` steps of every ticket per `run` call (one engine instance per ticket)."""

    def __init__(self, net_config: NetConfig, steps: int, rollout: RolloutSettings | None = None,
                 seed: int = 0, record: bool = False, run_id: str = "run",
                 device: str | None = None):
        """`device` (e.g. "cuda"): engine, nets and sampling as torch tensors there
        (`DeviceCollector`; table-driven engines: at most 4 seats, no common-pool games);
        None: numpy engine and torch nets on the CPU (`RolloutCollector`)."""
        torch.set_num_threads(1)  # more threads than cores made sampling 10x slower here
        self.net_config, self.steps = net_config, steps
        self.rollout = rollout or RolloutSettings()
        self.seed, self.record, self.run_id, self.device = seed, record, run_id, device
        self.pool = WeightPool(net_config, fetch=_resolve, device=device or "cpu")
        self._key: tuple | None = None
        self._collector: RolloutCollector | None = None
        self._members: list[str] = []
        self._calls = 0
        self._fetched: dict[str, Any] = {}

    def _build(self, tickets: list[MatchTicket]) -> None:
        scenarios = list({t.scenario.id: t.scenario for t in tickets}.values())
        index = {s.id: i for i, s in enumerate(scenarios)}
        engine = BatchedEngine(scenarios, [index[t.scenario.id] for t in tickets],
                               max_players=self.net_config.max_players)
        members = sorted(set().union(*(t.members for t in tickets)))
        scripted = sorted({s for t in tickets for s in t.seats if s.startswith(SCRIPTED_PREFIX)})
        ids = {name: i for i, name in enumerate(members + scripted)}
        m, b = engine.max_players, engine.batch_size
        seat_policy, learn = np.full((m, b), -1), np.zeros((m, b), bool)
        for k, ticket in enumerate(tickets):
            for seat, member in enumerate(ticket.seats):
                seat_policy[seat, k] = ids[member]
                learn[seat, k] = ticket.learn[seat]
        partners = [make_partner(s.removeprefix(SCRIPTED_PREFIX), layout=engine.layout)
                    for s in scripted]
        placeholders = [self.pool.net(WeightsHandle("init", _initial_state(self.net_config)))
                        for _ in members]
        collect = RolloutCollector
        if self.device is not None:
            collect, engine = DeviceCollector, TorchEngine(engine, self.device)
        self._collector = collect(engine, placeholders + partners, seat_policy, learn,
                                  self.rollout, seed=self.seed + 7919 * self._calls,
                                  log_steps=self.record)
        self._members = members
        self._seat_names = members + scripted
        self._tickets = tickets

    def run(self, tickets: list[MatchTicket] | TicketBatch, weights: dict[str, WeightsHandle],
            care: dict[str, tuple[float, float]] | None = None
            ) -> tuple[MultiAgentBatch | None, dict[str, Any]]:
        """Play the tickets with these member weights; return (batch for the learners, stats).
        `care[member]` = (team, others) shapes that member's training rewards (policies/care.py).
        With `record`, `stats["steps"]` holds every seat's steps as an Arrow record batch in
        the rollout schema."""
        start = time.perf_counter()
        if isinstance(tickets, TicketBatch):
            tickets = tickets.tickets(self._fetch)
        key = tuple((t.scenario.id, t.seats, t.learn) for t in tickets)
        if key != self._key:
            self._build(tickets)
            self._key = key
        collector = self._collector
        for i, member in enumerate(self._members):
            if member not in weights:
                raise KeyError(f"no weights for league member {member!r}")
            collector.policies[i] = self.pool.net(weights[member])
            collector.care[i] = (care or {}).get(member, (0.0, 0.0))
        batches = collector.collect(self.steps)
        self._calls += 1
        by_member = {self._members[i]: b for i, b in batches.items()}
        trained = sum(b.agent_steps for b in by_member.values())
        results = [MatchResult(t.match_id, t.scenario.games[0].family, t.seats,
                               tuple(e.returns.tolist()), t.scenario.team_sizes, t.scenario.id,
                               e.steps, tuple(e.cooperated.tolist()),
                               tuple(e.could_cooperate.tolist()), e.episode, e.team_changes,
                               e.rule_changes, e.betrayals)
                   for t, e in ((self._tickets[e.instance], e)
                                for e in collector.book.finished_episodes)]
        collector.book.finished_episodes.clear()
        stats = {
            "cooperation": self._cooperation(),
            "results": results,
            "agent_steps_sampled": self.steps * collector.engine.agent_count,
            "agent_steps_trainable": trained,
            "steps_by_member": {m: b.agent_steps for m, b in by_member.items()},
            "seconds": time.perf_counter() - start,
            "episode_returns": collector.book.episode_returns[-1000:],
            "weight_fetches": self.pool.fetches,
        }
        collector.book.episode_returns.clear()
        if self.record:
            stats["steps"] = self.step_record()
        if not by_member:
            return None, stats
        return to_multi_agent_batch(by_member, self.rollout.max_seq_len), stats

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
        """The last call's steps, one row per present seat and step (`data.schema`)."""
        log, tickets = self._collector.step_log, self._tickets
        present = self._collector.present  # [M, B]
        t_len = log["action"].shape[0]
        t_idx, seat, inst = np.nonzero(np.broadcast_to(present, (t_len, *present.shape)))
        members = np.array([list(t.seats) + [""] * (present.shape[0] - len(t.seats))
                            for t in tickets]).T  # [M, B]
        columns = {
            schema.RUN_ID: [self.run_id] * len(seat),
            schema.MATCH_ID: np.array([t.match_id for t in tickets])[inst],
            schema.EPISODE: log["episode"][t_idx, inst],
            schema.STEP: log["step"][t_idx, inst],
            schema.SCENARIO_ID: np.array([t.scenario.id for t in tickets])[inst],
            schema.FAMILY: np.array([t.scenario.games[0].family for t in tickets])[inst],
            schema.GAME: log["game"][t_idx, inst],
            schema.SEAT: seat,
            schema.MEMBER: members[seat, inst],
            schema.TEAM: log["teams"][t_idx, seat, inst],
            schema.OBS: log["obs"][t_idx, seat, :, inst],
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


def _initial_state(config: NetConfig) -> dict[str, torch.Tensor]:
    return SociusNet(config).state_dict()


RunnerActor = ray.remote(num_cpus=1)(Runner)
