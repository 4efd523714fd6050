"""One generation of a league, top to bottom (`play_generation`), and the clock that times its
stages.

Every second of a generation belongs to one stage, measured on the driver's timeline:

    league/plan     the league actor issues tickets for the runners' free slots
    env/            waiting for the runners' round (what sampling costs beyond the overlap)
    learner/        the PPO update and publishing the new weights
    store/          rows handed to the lake writer (tickets, steps, results)
    league/rate     results into payoffs, ratings, step counts and cooperation
    league/evolve   snapshots, exploiter resets, exploit/explore copies, applied to the learners
    checkpoint/     learners and snapshots saved, the lake's writes confirmed
    eval/           every `eval.every_generations`: learners and new snapshots on a suite;
                    with `evolution.fitness: eval`, the learners before each selection too
    registry/       history.jsonl, league.json, the MLflow mirror, live metrics

Runners play round k + 1 while the learners update on round k, so `env/` counts only the wait
that learning did not hide.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import ray

from socius.platform.league.state import LeagueState
from socius.platform.training.loop import Played
from socius.platform.types import GenerationRecord

if TYPE_CHECKING:
    from socius.platform.run.league import LeagueRun

STAGES = ("league/plan", "env/", "learner/", "store/", "league/rate", "league/evolve",
          "checkpoint/", "eval/", "registry/")


class StageClock:
    """Seconds per stage, summed over the `with clock(stage):` blocks of one generation."""

    def __init__(self):
        self.start = time.perf_counter()
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def play_generation(run: LeagueRun, generation: int) -> tuple[GenerationRecord, Played]:
    """Plan, sample and learn, store, rate, (score for selection), evolve, checkpoint,
    evaluate, register."""
    clock, league, loop, played = StageClock(), run.league, run.loop, Played()
    with clock("league/plan"):
        league.start_generation.remote(generation)
        care = run.care()
        plan = ray.get(league.plan.remote(run.free_slots))
    with clock("store/"):
        run.store_tickets(plan)
    in_flight = loop.sample(plan, care)
    for k in range(run.config.rollout.rounds_per_generation):
        with clock("env/"):
            stats, batches = loop.collect(in_flight)
            played.add(stats)
        with clock("store/"):
            run.store_steps(stats)
        if k + 1 < run.config.rollout.rounds_per_generation:
            with clock("league/plan"):  # the runners play round k + 1 while the learners update
                plan = ray.get(league.plan.remote(played.free_slots))
            with clock("store/"):
                run.store_tickets(plan)
            in_flight = loop.sample(plan, care)
        with clock("learner/"):
            loop.learn(batches, sum(s.agent_steps_trainable for s in stats))
    run.free_slots = played.free_slots
    with clock("store/"):
        run.store_results(played.match_results)
    with clock("league/rate"):
        ray.get(league.report.remote(played.match_results, played.steps_by_member,
                                     played.cooperation))
    with clock("eval/"):
        scores = run.fitness_scores(generation)
    with clock("league/evolve"):
        orders, weights = run.evolve(last=generation == run.config.generations - 1,
                                     scores=scores)
    with clock("checkpoint/"):
        state, saved = run.checkpoint(orders, weights)
    with clock("eval/"):
        evaluation = run.evaluate(generation, weights)
    with clock("registry/"):
        record = generation_record(generation, state, played, clock, run, evaluation)
        run.register(record, saved)
    return record, played


def generation_record(generation: int, state: LeagueState, played: Played, clock: StageClock,
                      run: LeagueRun, evaluation: dict | None = None) -> GenerationRecord:
    """What one generation did; its `stage_seconds` stop here (registering is the last stage,
    its seconds so far are counted, the few writes after this are not)."""
    seconds = clock.elapsed()
    episodes = played.match_results
    lengths = [e.steps for e in episodes]
    return GenerationRecord(
        generation=generation, seconds=seconds, members=len(state.members),
        ratings={m: round(r.ordinal, 4) for m, r in sorted(state.ratings.items())},
        cooperation={m: round(c, 4) for m, c in sorted(state.cooperation.items())},
        care={m.id: (m.care.team, m.care.others) for m in state.learners()},
        agent_steps_trained=played.agent_steps_trained,
        agent_steps_sampled=played.agent_steps_sampled,
        throughput={"trained": played.agent_steps_trained / max(seconds, 1e-9),
                    "sampled": played.agent_steps_sampled / max(seconds, 1e-9)},
        stage_seconds={**{k: round(v, 4) for k, v in clock.seconds.items()},
                       "total": round(seconds, 4)},
        episodes=len(episodes),
        match_steps={"mean": float(np.mean(lengths)) if lengths else 0.0,
                     "max": max(lengths, default=0),
                     "p90": float(np.percentile(lengths, 90)) if lengths else 0.0},
        families=dict(Counter(e.family for e in episodes)),
        scenarios=dict(Counter(e.scenario_id for e in episodes)),
        team_changes=sum(e.team_changes for e in episodes),
        rule_changes=sum(e.rule_changes for e in episodes),
        betrayals=sum(e.betrayals for e in episodes),
        tickets=run.books(state), diverged_updates=run.guard.skipped, restarts=run.restarts,
        eval=evaluation)
