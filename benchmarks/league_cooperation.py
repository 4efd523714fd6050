"""Does care survive selection? A mixed-motive league under two fitness choices.

Scenarios: the iterated prisoner's dilemma (T5 R3 P1 S0) and 4-player public goods, both
continuing with probability 0.95 per step (horizon unobserved). One population: main agents
whose starting care is spread over [0, 1], and one main exploiter. Every generation the
bottom quarter of the mains copies the weights and care of the top quarter and mutates the
care (evolution every generation), with fitness either the member's own return (`own`) or the
mean return of everyone in its matches (`welfare`).

Printed per generation, per fitness and seed: cooperation among the main agents (cooperative
actions in matches whose every seat is a main agent), the mains' mean care (team and others
alike here: no teams), and the main exploiter's mean reward per step against main agents in
the prisoner's dilemma (the goal: at most R + 0.1 = 3.1). Curves are saved as a plot
(`--plot`).

`--set key=value` overrides the league config (e.g. the generalist's levers: `core=gru`, a
scripted background of reciprocators and defectors, no care); `--config PATH` measures a league
config file instead of the one above (its name, seed, generations and evolution fitness set
here: e.g. `configs/generalist.yaml` as it is); `--out` writes the final figures and verdicts
as JSON.

Usage: python benchmarks/league_cooperation.py [--seeds 3] [--generations 10] [--plot out.png]
       [--set key=value ...] [--config league.yaml] [--out results.json]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402

from socius.platform.config import load_config  # noqa: E402
from socius.platform.league.evolution import (  # noqa: E402
    cooperation_among,
    reward_per_step_against,
)
from socius.platform.league.roles import Role  # noqa: E402
from socius.platform.run.league import run_league  # noqa: E402

R = 3.0  # mutual cooperation's payoff per step in the textbook PD


def league_config(fitness: str, seed: int, generations: int, mains: int,
                  overrides: list[str] = (), path: str | None = None):
    if path is not None:
        return load_config(path, [f"name=coop-{fitness}-{seed}", f"seed={seed}",
                                  f"generations={generations}", f"evolution.fitness={fitness}",
                                  *overrides])
    return load_config(overrides=[
        f"name=coop-{fitness}-{seed}", f"seed={seed}", f"generations={generations}",
        "rollout.rounds_per_generation=4", "rollout.slots=64", "rollout.steps_per_round=64", "core=mlp",
        "snapshots.every_steps=1000000", "matchmaking.scripted=[]",
        "scenarios.classics=[prisoners_dilemma__textbook, public_goods__four_player]",
        "scenarios.classic_continuation=0.95", "scenarios.max_steps=100",
        "scenarios.max_players=4",
        f"populations=[{{name: red, main: {mains}, main_exploiter: 1, care_team: 0.5, "
        "care_others: 0.5, care_spread: 0.5}]",
        f"evolution={{every_generations: 1, fitness: {fitness}, bottom_fraction: 0.25, "
        "top_fraction: 0.25, care_step: 0.1, resample_prob: 0.2}", *overrides])


def run_one(fitness: str, seed: int, generations: int, mains: int,
            overrides: list[str] = (), path: str | None = None) -> list[dict]:
    config = league_config(fitness, seed, generations, mains, overrides, path)
    rows = []

    def measure(state, weights, results):
        main_ids = {m.id for m in state.members.values() if m.role is Role.MAIN}
        learners = [m for m in state.members.values() if m.trainable and m.role is Role.MAIN]
        exploiters = {m.id for m in state.members.values()
                      if m.trainable and m.role is Role.MAIN_EXPLOITER}
        rows.append({
            "generation": state.generation,
            "cooperation": cooperation_among(results, main_ids),
            "care": float(np.mean([(m.care.team + m.care.others) / 2 for m in learners])),
            "exploiter_reward": reward_per_step_against(
                [r for r in results if r.family == "prisoners_dilemma"], exploiters, main_ids),
        })
        r = rows[-1]
        print(f"  {fitness:<8} seed {seed} generation {r['generation']:>2}: cooperation among "
              f"mains {r['cooperation']:.3f}, mean care {r['care']:.3f}, exploiter reward/step "
              f"vs mains {r['exploiter_reward']:.3f}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        run_league(config, Path(tmp) / "run", log=lambda line: None, on_generation=measure)
    return rows


def plot(curves: dict[str, list[list[dict]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("cooperation", "cooperation among mains"), ("care", "mean care of mains"),
            ("exploiter_reward", "exploiter reward / step vs mains")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colours = {"own": "tab:red", "welfare": "tab:green"}
    for ax, (key, title) in zip(axes, keys, strict=True):
        for fitness, runs in curves.items():
            for k, rows in enumerate(runs):
                ax.plot([r["generation"] for r in rows], [r[key] for r in rows],
                        color=colours.get(fitness), alpha=0.7,
                        label=f"fitness: {fitness}" if k == 0 else None)
        if key == "exploiter_reward":
            ax.axhline(R + 0.1, color="grey", linestyle="--", label="R + 0.1")
        if key == "cooperation":
            ax.axhline(0.8, color="grey", linestyle="--", label="goal 0.8")
        ax.set_title(title)
        ax.set_xlabel("generation")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--mains", type=int, default=4)
    parser.add_argument("--fitness", nargs="+", default=["own", "welfare"])
    parser.add_argument("--plot", default="league_cooperation.png")
    parser.add_argument("--set", action="append", default=[], help="league config overrides")
    parser.add_argument("--config", help="a league config file to measure instead (--mains is "
                        "then its own)")
    parser.add_argument("--out", help="write the final figures and verdicts as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    curves: dict[str, list[list[dict]]] = {}
    start = time.perf_counter()
    for fitness in args.fitness:
        for seed in range(args.seeds):
            curves.setdefault(fitness, []).append(
                run_one(fitness, seed, args.generations, args.mains, args.set, args.config))
    ray.shutdown()
    print(f"\nfinal generation ({time.perf_counter() - start:.0f} s in all):")
    for fitness, runs in curves.items():
        last = [rows[-1] for rows in runs]
        coop = [r["cooperation"] for r in last]
        care = [r["care"] for r in last]
        expl = [r["exploiter_reward"] for r in last]
        print(f"  fitness {fitness:<8} cooperation among mains {np.nanmean(coop):.3f} "
              f"(seeds {', '.join(f'{x:.2f}' for x in coop)}); care {np.mean(care):.3f}; "
              f"exploiter reward/step {np.nanmean(expl):.3f} "
              f"(seeds {', '.join(f'{x:.2f}' for x in expl)})")
    if "welfare" in curves:
        last = [rows[-1] for rows in curves["welfare"]]
        met_coop = all(r["cooperation"] > 0.8 for r in last)
        met_expl = all(r["exploiter_reward"] <= R + 0.1 for r in last)
        print(f"goals under welfare selection: cooperation > 0.8 "
              f"{'met' if met_coop else 'NOT met'}; exploiter <= R + 0.1 "
              f"{'met' if met_expl else 'NOT met'}")
        if args.out:
            import json

            Path(args.out).write_text(json.dumps({
                "config": args.config, "overrides": args.set,
                "generations": args.generations,
                "cooperation": [r["cooperation"] for r in last],
                "exploiter_reward": [r["exploiter_reward"] for r in last],
                "verdict": "met" if met_coop and met_expl else "not met"}, indent=1))
    plot(curves, args.plot)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
