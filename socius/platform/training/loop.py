"""The Socius training loop: runners play matches, RLlib's LearnerGroup learns from their
batches through the object store, new weights go back to the runners by content hash.

Matches run to their end: a runner keeps each match in play across rounds, and each round the
plan gives every runner as many new tickets as it has free slots (`plan(round, free_slots)`).

Sampling overlaps learning: while the learners update on round k, the runners already play round
k + 1 with the weights of round k (one update behind, which PPO's ratio clipping absorbs). On a
machine where the learner is the bottleneck, end-to-end throughput then approaches the
learner's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import ray
from ray.rllib.policy.sample_batch import concat_samples
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from socius.platform.training.guard import DivergenceGuard
from socius.platform.training.tickets import MatchTicket, TicketBatch
from socius.platform.training.weights import WeightsHandle, state_digest
from socius.policies.trainer import PPOSettings, learner_states


@dataclass
class LoopResult:
    """What a run of the loop did, per iteration and in total."""

    iterations: list[dict[str, float]] = field(default_factory=list)
    agent_steps_sampled: int = 0
    agent_steps_trained: int = 0
    seconds: float = 0.0
    steps_by_member: dict[str, int] = field(default_factory=dict)
    match_results: list = field(default_factory=list)  # league.results.MatchResult
    # per member or scripted partner: [cooperative actions, steps where cooperating was possible]
    cooperation: dict[str, list[int]] = field(default_factory=dict)
    free_slots: list[int] | None = None  # each runner's free slots after the last round


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


def publish(learner_group, members: list[str], guard: DivergenceGuard | None = None
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


def training_loop(learner_group, runners: list, plan: Plan, iterations: int, ppo: PPOSettings,
                  minibatch_size: int, free_slots: list[int] | None = None,
                  frozen: dict[str, WeightsHandle] | None = None,
                  learning: list[str] | None = None,
                  care: dict[str, tuple[float, float]] | None = None,
                  on_steps: Callable[[Any], None] | None = None,
                  guard: DivergenceGuard | None = None,
                  log: Callable[[dict[str, Any]], None] | None = None) -> LoopResult:
    """Run `iterations` rounds of plan -> sample -> learn -> sync; `plan(k, free_slots)` gives
    each runner's new tickets for round k, as many as it has free slots (`free_slots` of the
    first round: None for fresh runners); `frozen` holds the weights of members that
    never learn; `learning` the members the LearnerGroup trains (default: all others);
    `care[member]` = (team, others) weights of that member's training rewards; runners that
    record steps hand each round's Arrow batch to `on_steps`; a `guard` keeps diverged weights
    from the runners (and stops learning that keeps diverging)."""
    frozen = frozen or {}
    result, start = LoopResult(), time.perf_counter()
    first = plan(0, free_slots)
    if learning is None:
        learning = sorted(set().union(*(_members(ts) for ts in first)) - set(frozen))
    weights = {**frozen, **publish(learner_group, learning, guard)}

    def sample(round_: int, free: list[int] | None) -> list:
        tickets = first if round_ == 0 else plan(round_, free)
        return [runner.run.options(num_returns=2).remote(ts, weights, care)
                for runner, ts in zip(runners, tickets, strict=True)]

    pending = sample(0, free_slots)
    for k in range(iterations):
        t0 = time.perf_counter()
        batch_refs, stat_refs = (list(x) for x in zip(*pending, strict=True))
        stats = ray.get(stat_refs)  # env: waiting for the runners
        for s in stats:
            if "steps" in s and on_steps is not None:
                on_steps(s.pop("steps"))
        t1 = time.perf_counter()
        result.free_slots = [s["free_slots"] for s in stats]
        if k + 1 < iterations:  # runners play the next round while the learners update
            pending = sample(k + 1, result.free_slots)
        trained = sum(s["agent_steps_trainable"] for s in stats)
        result.agent_steps_trained += trained
        for s in stats:
            result.match_results.extend(s["results"])
            for member, steps in s["steps_by_member"].items():
                result.steps_by_member[member] = result.steps_by_member.get(member, 0) + steps
            for member, (cooperated, possible) in s["cooperation"].items():
                total = result.cooperation.setdefault(member, [0, 0])
                total[0] += cooperated
                total[1] += possible
        result.agent_steps_sampled += sum(s["agent_steps_sampled"] for s in stats)
        batch_refs = [ref for ref, s in zip(batch_refs, stats, strict=True)
                      if s["agent_steps_trainable"]]
        if batch_refs:
            learner_group.update(**learner_data(learner_group, batch_refs),
                                 minibatch_size=minibatch_size,
                                 num_epochs=ppo.epochs, shuffle_batch_per_epoch=True,
                                 timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME:
                                            result.agent_steps_trained})
        t2 = time.perf_counter()
        weights = {**frozen, **publish(learner_group, learning, guard)}
        t3 = time.perf_counter()
        returns = [r for s in stats for r in s["episode_returns"]]
        metrics = {
            "iteration": k, "agent_steps_trained": result.agent_steps_trained,
            "env/wait_seconds": t1 - t0, "env/runner_seconds": max(s["seconds"] for s in stats),
            "learner/update_seconds": t2 - t1, "learner/sync_seconds": t3 - t2,
            "env/episode_return_mean": float(np.mean(returns)) if returns else float("nan"),
        }
        result.iterations.append(metrics)
        if log:
            log(metrics)
    result.seconds = time.perf_counter() - start
    return result
