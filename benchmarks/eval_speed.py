"""How long an evaluation takes: one agent (a GRU network of the default league's size, or a
checkpoint) on each suite against the whole zoo, with the suite's references in the same batch.

    python benchmarks/eval_speed.py [--checkpoint runs/<run>/checkpoints/main_0] [--repeats 3]

Prints per suite: cells, instances (episodes), game steps played (all seats of an instance step
together), seconds (median of the repeats, the references' play included) and game steps per
second. Target (issue): the default `heldout` suite for one agent in <= 60 s on
2 cores.

Then a league's selection on reciprocity (`configs/generalist.yaml`: three main agents on
`dilemmas`, 8 episodes a cell, every second generation): the whole zoo with the references, as
every evaluation played before, against only what the score reads (`inputs_of`: 4 partners, no
references); the scores must be equal.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from socius.platform.eval import evaluate as evaluation  # noqa: E402
from socius.platform.eval.play import Player  # noqa: E402
from socius.platform.eval.suites import load_suite  # noqa: E402
from socius.policies.checkpoint import load_module  # noqa: E402
from socius.policies.network import NetConfig, SociusNet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a socius checkpoint (default: a fresh GRU net)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--suites", default="heldout,dilemmas,classics,zero_sum")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = load_module(args.checkpoint) if args.checkpoint else SociusNet(
        NetConfig(max_players=4, core="gru"))
    agent = Player(args.checkpoint or "gru", net=net.eval())
    played = {}
    original = evaluation.play

    def counting_play(*a, **k):  # every instance's steps, the references' included
        result = original(*a, **k)
        played["steps"], played["instances"] = int(result.steps.sum()), int(result.steps.size)
        return result

    evaluation.play = counting_play
    print(f"agent: {agent.name} ({net.config}); torch threads 1")
    print(f"{'suite':<10}{'cells':>7}{'instances':>11}{'steps':>10}{'seconds':>9}"
          f"{'steps/s':>10}")
    for name in args.suites.split(","):
        suite = load_suite(name)
        if suite.max_players > net.config.max_players:
            print(f"{name:<10} skipped: scenarios of {suite.max_players} players")
            continue
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            report = evaluation.evaluate([agent], suite)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        print(f"{name:<10}{len(report.cells):>7}{played['instances']:>11}"
              f"{played['steps']:>10,}{seconds:>9.2f}{played['steps'] / seconds:>10,.0f}")
    print("target: heldout for one agent <= 60 s")
    selection_speed(net, args.repeats)


def selection_speed(net, repeats: int) -> None:
    agents = [Player(f"main_{i}", net=net) for i in range(3)]
    suite = load_suite("dilemmas")
    partners, references = evaluation.inputs_of("reciprocity", list(suite.partners))
    ways = {"whole zoo + references": (suite, None),
            f"{len(partners)} partners, no references": (
                suite if references else dataclasses.replace(suite, references=()), partners)}
    seconds, scores = {}, {}
    for name, (played_suite, zoo) in ways.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            report = evaluation.evaluate(agents, played_suite, partners=zoo, cross_play=False,
                                         episodes=8)
            times.append(time.perf_counter() - start)
        seconds[name] = float(np.median(times))
        scores[name] = [report.summary[a.name]["reciprocity"] for a in agents]
        print(f"selection on reciprocity, {name}: {seconds[name]:.2f} s")
    full, reduced = seconds.values()
    same = len({tuple(v) for v in scores.values()}) == 1
    print(f"ratio {full / reduced:.2f}x; scores equal: {same}")


if __name__ == "__main__":
    main()
