"""The Socius training loop: runners play matches, RLlib's LearnerGroup learns from their
batches through the object store, new weights go back to the runners by content hash.
`RoundLoop` holds the parts; the league's generation (run/generation.py) and
`training_loop` (no league: benchmarks, tests) drive it round by round.

Matches run to their end: a runner keeps each match in play across rounds, and each round the
plan gives every runner as many new tickets as it has free slots (`plan(round, free_slots)`).

Sampling overlaps learning: while the learners update on round k, the runners already play round
k + 1 with the weights of round k (one update behind, which PPO's ratio clipping absorbs). On a
machine where the learner is the bottleneck, end-to-end throughput then approaches the
learner's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import ray
from ray.rllib.policy.sample_batch import concat_samples
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from socius.platform.training.guard import DivergenceGuard
from socius.platform.training.weights import WeightsHandle, state_digest
from socius.platform.types import Care, MatchResult, MatchTicket, RoundStats, TicketBatch
from socius.policies.trainer import PPOSettings, learner_states


@dataclass
class Played:
    """What the runners played over some rounds, in total (the rounds' `RoundStats` summed)."""

    agent_steps_sampled: int = 0
    agent_steps_trained: int = 0
    steps_by_member: dict[str, int] = field(default_factory=dict)
    match_results: list[MatchResult] = field(default_factory=list)
    # per member or scripted partner: [cooperative actions, steps where cooperating was possible]
    cooperation: dict[str, list[int]] = field(default_factory=dict)
    free_slots: list[int] | None = None  # each runner's free slots after the last round

    def add(self, stats: list[RoundStats]) -> None:
        """One round: every runner's stats, in runner order."""
        self.free_slots = [s.free_slots for s in stats]
        for s in stats:
            self.agent_steps_sampled += s.agent_steps_sampled
            self.agent_steps_trained += s.agent_steps_trainable
            self.match_results.extend(s.results)
            for member, steps in s.steps_by_member.items():
                self.steps_by_member[member] = self.steps_by_member.get(member, 0) + steps
            for member, (cooperated, possible) in s.cooperation.items():
                total = self.cooperation.setdefault(member, [0, 0])
                total[0] += cooperated
                total[1] += possible


@dataclass
class LoopResult(Played):
    """What a run of `training_loop` did, per iteration and in total."""

    iterations: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


# (round, each runner's free slots or None for fresh runners) -> each runner's new tickets
Plan = Callable[[int, list[int] | None], list[list[MatchTicket] | TicketBatch]]


def fixed_plan(tickets: list[list[MatchTicket]]) -> Plan:
    """A plan without a league: runner i plays `tickets[i]` over and over, each free slot taking
    the next ticket of its list under a fresh match id (`<id>#<n>`); None free slots (fresh
    runners) take the whole list."""
    issued = [0] * len(tickets)

    def plan(_round: int, free_slots: list[int] | None) -> list[list[MatchTicket]]:
        out = []
        for i, templates in enumerate(tickets):
            count = len(templates) if free_slots is None else free_slots[i]
            batch = [templates[(issued[i] + j) % len(templates)] for j in range(count)]
            out.append([replace(t, match_id=f"{t.match_id}#{issued[i] + j}")
                        for j, t in enumerate(batch)])
            issued[i] += count
        return out

    return plan


def _members(tickets: list[MatchTicket] | TicketBatch) -> set[str]:
    if isinstance(tickets, TicketBatch):
        return tickets.member_names()
    return set().union(*(t.members for t in tickets))


def publish_weights(learner_group, members: list[str], guard: DivergenceGuard | None = None
            ) -> dict[str, WeightsHandle]:
    """Each member's current weights from the Learner (with a `guard`: the last good ones of a
    member that diverged), put once into the object store."""
    states = learner_states(learner_group, members)
    if guard is not None:
        states = guard.check(learner_group, states)
    return {member: WeightsHandle(state_digest(state), ray.put(state))
            for member, state in states.items()}


def learner_data(learner_group, batch_refs: list) -> dict[str, Any]:
    """`LearnerGroup.update` arguments that give each learner exactly one batch: RLlib refuses
    several per learner, and splitting recurrent batches itself goes wrong (RAY_FACTS), so the
    runners' batches are concatenated per learner here."""
    learners = max(1, len(learner_group))  # 0 means one local learner
    if len(batch_refs) == learners:
        return {"batch_refs": batch_refs}
    shards = [batch_refs[i::learners] for i in range(learners)]
    merged = [concat_samples(ray.get(shard)) if len(shard) > 1 else shard[0]
              for shard in shards if shard]
    if learner_group.is_local:
        return {"batch": merged[0]}
    return {"batch_refs": [m if isinstance(m, ray.ObjectRef) else ray.put(m) for m in merged]}


class RoundLoop:
    """The runners and the LearnerGroup of one league, round by round: `sample` a plan with
    the current weights, `collect` what the runners played, `learn` from it (which also
    publishes the new weights for the next `sample`). A caller overlaps sampling with learning
    by sampling round k + 1 between `collect` and `learn` of round k."""

    def __init__(self, learner_group, runners: list, ppo: PPOSettings, minibatch_size: int,
                 learning: list[str], frozen: dict[str, WeightsHandle] | None = None,
                 guard: DivergenceGuard | None = None):
        """`learning`: the members the LearnerGroup trains; `frozen`: weights of members that
        never learn (snapshots; the caller adds new ones); a `guard` keeps diverged weights
        from the runners (and stops learning that keeps diverging)."""
        self.group, self.runners, self.ppo = learner_group, runners, ppo
        self.minibatch_size, self.learning, self.guard = minibatch_size, learning, guard
        self.frozen = frozen if frozen is not None else {}
        self.agent_steps_trained = 0  # over the loop's life: the entropy schedule's clock
        self.weights: dict[str, WeightsHandle] = {}
        self.publish()

    def sample(self, plan: list[list[MatchTicket] | TicketBatch],
               care: Mapping[str, Care] | None = None) -> list:
        """Each runner takes its new tickets and plays a round with the current weights; the
        round's (batch, stats) references, per runner."""
        return [runner.run.options(num_returns=2).remote(tickets, self.weights, care)
                for runner, tickets in zip(self.runners, plan, strict=True)]

    def collect(self, in_flight: list) -> tuple[list[RoundStats], list]:
        """Wait for a sampled round: every runner's stats, and the references of the batches
        with something to learn from."""
        batch_refs, stat_refs = (list(x) for x in zip(*in_flight, strict=True))
        stats = ray.get(stat_refs)
        return stats, [ref for ref, s in zip(batch_refs, stats, strict=True)
                       if s.agent_steps_trainable]

    def learn(self, batch_refs: list, trained: int) -> None:
        """One PPO update on the round's batches (`trained` agent-steps), then the new weights
        go into the object store for the next `sample`."""
        self.agent_steps_trained += trained
        if batch_refs:
            self.group.update(**learner_data(self.group, batch_refs),
                              minibatch_size=self.minibatch_size, num_epochs=self.ppo.epochs,
                              shuffle_batch_per_epoch=True,
                              timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME:
                                         self.agent_steps_trained})
        self.publish()

    def publish(self) -> None:
        """The learners' current weights (and the frozen ones) for the next `sample`."""
        self.weights = {**self.frozen, **publish_weights(self.group, self.learning, self.guard)}


def training_loop(learner_group, runners: list, plan: Plan, iterations: int, ppo: PPOSettings,
                  minibatch_size: int, free_slots: list[int] | None = None,
                  learning: list[str] | None = None,
                  log: Callable[[dict[str, Any]], None] | None = None) -> LoopResult:
    """`iterations` rounds of plan -> sample -> learn without a league (benchmarks, tests);
    `plan(k, free_slots)` gives each runner's new tickets for round k (`free_slots` of the
    first round: None for fresh runners); `learning`: default, every member of the first plan."""
    result, start = LoopResult(), time.perf_counter()
    first = plan(0, free_slots)
    if learning is None:
        learning = sorted(set().union(*(_members(tickets) for tickets in first)))
    loop = RoundLoop(learner_group, runners, ppo, minibatch_size, learning)
    in_flight = loop.sample(first)
    for k in range(iterations):
        t0 = time.perf_counter()
        stats, batch_refs = loop.collect(in_flight)
        result.add(stats)
        t1 = time.perf_counter()
        if k + 1 < iterations:  # runners play the next round while the learners update
            in_flight = loop.sample(plan(k + 1, result.free_slots))
        loop.learn(batch_refs, sum(s.agent_steps_trainable for s in stats))
        t2 = time.perf_counter()
        returns = [r for s in stats for r in s.episode_returns]
        metrics = {"iteration": k, "agent_steps_trained": result.agent_steps_trained,
                   "env/wait_seconds": t1 - t0,
                   "env/runner_seconds": max(s.seconds for s in stats),
                   "learner/seconds": t2 - t1,
                   "env/episode_return_mean": float(np.mean(returns)) if returns
                   else float("nan")}
        result.iterations.append(metrics)
        if log:
            log(metrics)
    result.seconds = time.perf_counter() - start
    return result
