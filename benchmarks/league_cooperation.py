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
(`--plot`). Those figures come from the training matches, where a share of every learning
seat's episodes (`rollout.explore_prob`, 0.2) is played with uniformly random actions; after
the last generation the final policies are also measured as they play, without that
exploration (`policy_figures`: cross-play on the league's scenarios), and the goal's verdict
reads those (the training-match verdict is printed and saved beside it).

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
from socius.platform.eval.evaluate import evaluate  # noqa: E402
from socius.platform.eval.play import Player  # noqa: E402
from socius.platform.eval.suites import Suite  # noqa: E402
from socius.platform.league.evolution import (  # noqa: E402
    cooperation_among,
    reward_per_step_against,
)
from socius.platform.league.roles import Role  # noqa: E402
from socius.platform.run.league import (  # noqa: E402
    league_net_config,
    league_scenarios,
    run_league,
)
from socius.policies.network import SociusNet  # noqa: E402

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


def policy_figures(config, mains: dict[str, SociusNet], exploiters: dict[str, SociusNet],
                   episodes: int = 32) -> dict[str, float]:
    """The goal's two figures for the policies as they play, without training's exploration:
    in the league's matches a share `rollout.explore_prob` of each learning seat's episodes is
    played with uniformly random actions (they train the theory-of-mind head), and those count
    in the per-generation figures. Here the final main agents and main exploiters (id ->
    net) play each other on the league's own scenarios (`evaluate` cross-play, `episodes`
    per cell, every seat sampling from its policy): cooperation among mains is the mean over
    (main, main) cells, itself included, of its share of cooperative actions; the exploiter's
    reward per step is its total return over its steps against each main in the prisoner's
    dilemma, averaged over mains."""
    scenarios = league_scenarios(config)
    players = [Player(member, net=net) for member, net in sorted({**mains, **exploiters}.items())]
    suite = Suite("league", 0, tuple(scenarios), (), (), episodes, config.seed, "")
    cells = evaluate(players, suite, partners=[], cross_play=True).cells
    among = [c.cooperation for c in cells if c.agent in mains and np.isfinite(c.cooperation)
             and (c.partners == "self" or c.partners.removeprefix("agent:") in mains)]
    against = [c.focal_return / c.steps for c in cells if c.agent in exploiters
               and c.family == "prisoners_dilemma" and c.partners.removeprefix("agent:") in mains]
    return {"policy_cooperation": float(np.mean(among)) if among else float("nan"),
            "policy_exploiter_reward": float(np.mean(against)) if against else float("nan")}


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
        if state.generation == config.generations - 1:  # the final policies, as they play
            net_config = league_net_config(config)
            nets = {m: SociusNet.from_weights(net_config, weights[m])
                    for m in [*(m.id for m in learners), *exploiters]}
            r.update(policy_figures(config, {m.id: nets[m.id] for m in learners},
                                    {m: nets[m] for m in exploiters}))
            print(f"  {fitness:<8} seed {seed} final policies without exploration: cooperation "
                  f"among mains {r['policy_cooperation']:.3f}, exploiter reward/step vs mains "
                  f"{r['policy_exploiter_reward']:.3f}", flush=True)

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
        pcoop = [r["policy_cooperation"] for r in last]
        pexpl = [r["policy_exploiter_reward"] for r in last]
        print(f"  {'':<15} final policies without exploration: cooperation among mains "
              f"{', '.join(f'{x:.2f}' for x in pcoop)}; exploiter reward/step "
              f"{', '.join(f'{x:.2f}' for x in pexpl)}")
    if "welfare" in curves:
        last = [rows[-1] for rows in curves["welfare"]]
        verdicts = {}
        for label, coop, expl in (("policies", "policy_cooperation", "policy_exploiter_reward"),
                                  ("training matches", "cooperation", "exploiter_reward")):
            met_coop = all(r[coop] > 0.8 for r in last)
            met_expl = all(r[expl] <= R + 0.1 for r in last)
            verdicts[label] = "met" if met_coop and met_expl else "not met"
            print(f"goals under welfare selection ({label}): cooperation > 0.8 "
                  f"{'met' if met_coop else 'NOT met'}; exploiter <= R + 0.1 "
                  f"{'met' if met_expl else 'NOT met'}")
        if args.out:
            import json

            Path(args.out).write_text(json.dumps({
                "config": args.config, "overrides": args.set,
                "generations": args.generations,
                "cooperation": [r["policy_cooperation"] for r in last],
                "exploiter_reward": [r["policy_exploiter_reward"] for r in last],
                "training_cooperation": [r["cooperation"] for r in last],
                "training_exploiter_reward": [r["exploiter_reward"] for r in last],
                "verdict": verdicts["policies"],
                "verdict_training_matches": verdicts["training matches"]}, indent=1))
    plot(curves, args.plot)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
