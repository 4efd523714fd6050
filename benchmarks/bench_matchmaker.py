"""Tickets/s and per-call latency of the league actor for a league of 1,000 members.

The league: 3 populations, 12 learners (main agents, main exploiters, league exploiters) and
988 frozen snapshots, a payoff table with results between every learner and every member, 64
scenarios of the train split (2-8 players, teams), scripted background partners. The league
actor runs in its own Ray worker process; this driver calls it with batches of at most 256
tickets (`issue.remote(256)`, wait for the tickets) and times each call end to end: the
actor's matchmaking plus serialization and transfer of the tickets back to this process. A
batch holds every ticket's scenario index, seats, learn flags and seed; the member-name and
scenario lists it indexes travel once per change (`shared`), as the league's runs do.
Every `--report-every` calls, the last batch's results are reported (`report.remote`): the actor
folds them into payoffs and ratings and rebuilds its seat pools (every learner's PFSP
probabilities over all 1,000 members) before it answers, so the next `issue` is as fast as any;
report calls are timed and printed separately.

Target (issue 5): >= 20,000 tickets/s with p99 < 5 ms per call.

Usage: python benchmarks/bench_matchmaker.py [--calls 2000] [--batch 256] [--opponents pfsp]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import ray  # noqa: E402

from socius.envs import ScenarioSpace  # noqa: E402
from socius.platform.league.actor import LeagueActor  # noqa: E402
from socius.platform.league.matchmaker import MatchmakingRules  # noqa: E402
from socius.platform.league.roles import Role, SnapshotRules  # noqa: E402
from socius.platform.league.state import LeagueState, Member  # noqa: E402
from socius.platform.types import MatchResult  # noqa: E402

POPULATIONS = ("red", "blue", "green")
LEARNERS_PER_POPULATION = {Role.MAIN: 2, Role.MAIN_EXPLOITER: 1, Role.LEAGUE_EXPLOITER: 1}


def thousand_member_league(members: int, seed: int) -> LeagueState:
    rng = np.random.default_rng(seed)
    state = LeagueState()
    learners = []
    for population in POPULATIONS:
        for role, count in LEARNERS_PER_POPULATION.items():
            for _ in range(count):
                member = Member(f"{role.value}_{len(learners)}", population, role)
                state.members[member.id] = member
                learners.append(member)
    generation = 0
    while len(state.members) < members:
        parent = learners[len(state.members) % len(learners)]
        generation += 1
        snap = Member(f"{parent.id}@{generation}", parent.population, parent.role,
                      trainable=False, parent=parent.id, generation=generation)
        state.members[snap.id] = snap
    ids = list(state.members)
    for learner in learners:  # every learner has results against every member
        for other in ids:
            if other != learner.id:
                state.payoff.record(learner.id, other, "public_goods", float(rng.random() < 0.5))
    return state


def attach(batch, shared):
    if batch.names_version != shared["names_version"]:
        raise RuntimeError("the league's member list changed: fetch shared() again")
    return replace(batch, names=shared["names"], scenarios=shared["scenarios"])


def results_batch(tickets, rng: np.random.Generator) -> list[MatchResult]:
    return [MatchResult(t.match_id, t.scenario.games[0].family, t.seats,
                        tuple(rng.normal(size=len(t.seats)).tolist()), t.scenario.team_sizes)
            for t in tickets]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--opponents", default="pfsp", choices=("pfsp", "uniform", "nash"))
    parser.add_argument("--report-every", type=int, default=200,
                        help="issue calls between result reports")
    args = parser.parse_args()
    if args.batch > 256:
        parser.error("--batch: the issue's target is for batches of at most 256 tickets")

    state = thousand_member_league(args.members, seed=0)
    space = ScenarioSpace(split="train", min_players=2, max_players=8)
    scenarios = [space.sample(k) for k in range(64)]
    rules = MatchmakingRules(main_opponents=args.opponents,
                             scripted=("tit_for_tat", "uniform_random"))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    league = LeagueActor.remote(state, scenarios, rules, SnapshotRules(), seed=0)
    ray.get(league.issue.remote(1))  # actor started, first pools built
    shared = ray.get(league.shared.remote())
    rng = np.random.default_rng(1)

    latencies, reports, issued, last = [], [], 0, []
    start = time.perf_counter()
    for call in range(args.calls):
        if call and call % args.report_every == 0:
            results = results_batch(attach(last, shared).tickets(), rng)
            t0 = time.perf_counter()
            ray.get(league.report.remote(results, {}, {}))
            reports.append(time.perf_counter() - t0)
            shared = ray.get(league.shared.remote())
        t0 = time.perf_counter()
        last = ray.get(league.issue.remote(args.batch))
        latencies.append(time.perf_counter() - t0)
        issued += len(last)
    seconds = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    sample = attach(last, shared).tickets()
    assert len(sample) == args.batch and all(any(t.learn) for t in sample)
    print(f"league of {len(state.members)} members ({len(state.learners())} learners), "
          f"{len(scenarios)} scenarios, opponents: {args.opponents}")
    print(f"{args.calls} calls of {args.batch} tickets: {issued / seconds:,.0f} tickets/s "
          f"(wall clock, including {len(reports)} result reports)")
    print(f"latency per issue call: median {np.median(ms):.2f} ms, p99 "
          f"{np.percentile(ms, 99):.2f} ms, max {ms.max():.2f} ms")
    if reports:
        print(f"report calls ({args.batch} results, payoffs + ratings + seat pools rebuilt): "
              f"median {np.median(reports) * 1000:.1f} ms")
    print(f"target: >= 20,000 tickets/s and p99 < 5 ms -> "
          f"{'met' if issued / seconds >= 20_000 and np.percentile(ms, 99) < 5 else 'NOT met'}")
    ray.shutdown()


if __name__ == "__main__":
    main()
