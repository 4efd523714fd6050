"""What of the generalist helps the one-minute default league?

Each variant is a league run per seed, alternating, on top of the bare defaults (what
`socius league run` ran before it took the profile `default`: two populations, 32 scenarios
sampled from the train split, tit-for-tat and a uniform player in 15% of the main agents'
matches; `old`), with parts of `configs/generalist.yaml`:
- `new`: tit-for-tat, grim, win-stay-lose-shift, always-defect and the uniform player in half
  the main agents' matches, self-play 20%;
- `zoo90`: the generalist's seven zoo strategies (reciprocators and defectors) in 90% of the
  main agents' matches, self-play in the rest; `zoo60`: 60%, self-play 15%, league opponents
  (PFSP) in the rest;
- `recip`: as `old`, the champion chosen as the generalist chooses it: every 2 generations
  the learners and new snapshots are evaluated on `dilemmas` (8 episodes a cell) and each main
  agent's champion is its snapshot with the best reciprocity (`tracking.champion_by: eval`);
  `zoo50recip`: that with the zoo in half the main agents' matches;
- `dz90`: `zoo90` on the generalist's scenarios (prisoner's dilemma, two public goods games,
  stag hunt, continuation 0.95) instead of the sample; `dz80`, `dz50`: the zoo in 80% (PFSP
  10%) or 50% (self-play 20%) of the matches;
- `dz90x3`, `dz80x3`: with three populations; `dz90x3u`: with 32 slots and 24 rounds a
  generation (twice the PPO updates, half the batch); `dz90x3b`: with 128 slots and 6 rounds
  (half the updates, twice the batch); `dz90x3b16`: that for 16 generations;
- `default`: the profile `default` (what `socius league run` runs without a config).

Each main agent and its champion (the snapshot the registry's `champion` alias would name:
best-rated, or best evaluated where the champion is chosen by evaluation) are scored on
`dilemmas` (conditional cooperation, cooperation with tit-for-tat and with always-defect; 16
episodes a cell, with another seed than a run's own evaluation, so a pick is not scored on the
draws it was picked on) and `heldout` (normalised score with the zoo, self-play return; the
untrained net's is 8.8-9.0). The summary gives each run's best main too: what a user pulling
the league's champions finds.

    python benchmarks/default_league_background.py [--seeds 3] [--first-seed 0] \\
        [--variants old default]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import ray  # noqa: E402
import torch  # noqa: E402
from intervals import ci95  # noqa: E402

from socius.platform.config import load_config  # noqa: E402
from socius.platform.eval.evaluate import evaluate  # noqa: E402
from socius.platform.eval.play import Player  # noqa: E402
from socius.platform.eval.suites import load_suite  # noqa: E402
from socius.platform.registry import champions, eval_scores  # noqa: E402
from socius.platform.run.league import run_league  # noqa: E402
from socius.platform.runfolder import RunFolder  # noqa: E402
from socius.policies.checkpoint import load_module  # noqa: E402

GENERALIST = load_config(Path(__file__).resolve().parents[1] / "configs" / "generalist.yaml")
GENERALIST_ZOO = "matchmaking.scripted=[{}]".format(", ".join(GENERALIST.matchmaking.scripted))
GENERALIST_DILEMMAS = ["scenarios.classics=[{}]".format(", ".join(GENERALIST.scenarios.classics)),
                       f"scenarios.classic_continuation={GENERALIST.scenarios.classic_continuation}",
                       f"scenarios.max_steps={GENERALIST.scenarios.max_steps}"]
RECIPROCITY_CHAMPION = ["eval={suite: dilemmas, every_generations: 2, episodes: 8, "
                        "score: reciprocity}", "tracking.champion_by=eval"]
THREE_POPULATIONS = "populations=[{name: red}, {name: blue}, {name: green}]"


def zoo(share: float, self_play: float) -> list[str]:
    return [GENERALIST_ZOO, f"matchmaking.main_scripted={share}",
            f"matchmaking.main_self_play={self_play}"]


VARIANTS = {
    "old": [],
    "new": ["matchmaking.scripted=[tit_for_tat, grim_trigger, win_stay_lose_shift, "
            "always_defect, uniform_random]", "matchmaking.main_scripted=0.5",
            "matchmaking.main_self_play=0.2"],
    "zoo90": zoo(0.9, 0.1),
    "zoo60": zoo(0.6, 0.15),
    "recip": RECIPROCITY_CHAMPION,
    "zoo50recip": [*zoo(0.5, 0.2), *RECIPROCITY_CHAMPION],
    "dz90": [*GENERALIST_DILEMMAS, *zoo(0.9, 0.1)],
    "dz80": [*GENERALIST_DILEMMAS, *zoo(0.8, 0.1)],
    "dz50": [*GENERALIST_DILEMMAS, *zoo(0.5, 0.2)],
    "dz90x3": [*GENERALIST_DILEMMAS, *zoo(0.9, 0.1), THREE_POPULATIONS],
    "dz80x3": [*GENERALIST_DILEMMAS, *zoo(0.8, 0.1), THREE_POPULATIONS],
}
VARIANTS["dz90x3u"] = [*VARIANTS["dz90x3"], "rollout.slots=32", "rollout.rounds_per_generation=24"]
VARIANTS["dz90x3b"] = [*VARIANTS["dz90x3"], "rollout.slots=128", "rollout.rounds_per_generation=6"]
VARIANTS["dz90x3b16"] = [*VARIANTS["dz90x3b"], "generations=16"]
VARIANTS["default"] = []  # on the profile `default`, not the bare defaults


SCORED = ("cc", "tft", "alld", "heldout_nz", "heldout_self")
MEASURES = ("seconds", *SCORED, *(f"champ_{k}" for k in SCORED), "lead_over_tft")


def scores(net, dilemmas, heldout) -> dict[str, float]:
    agent = Player("focal", net=net.eval())
    d = evaluate([agent], dilemmas).summary["focal"]
    h = evaluate([agent], heldout).summary["focal"]
    return {"cc": d["conditional_cooperation"], "tft": d["cooperation_with/tit_for_tat"],
            "alld": d["cooperation_with/always_defect"], "heldout_nz": h["normalised_zoo"],
            "heldout_self": h["focal_return_self"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    parser.add_argument("--variants", nargs="+", default=["old", "default"],
                        choices=list(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    # another seed than the runs' own evaluation, so a champion is not scored on its pick's draws
    dilemmas = load_suite("dilemmas")
    dilemmas = dataclasses.replace(dilemmas, seed=dilemmas.seed + 1)
    heldout = load_suite("heldout")
    work = Path(tempfile.mkdtemp(prefix="default-background-"))
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in args.variants}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for seed in seeds:
        for name in args.variants:
            config = load_config(None, [f"seed={seed}", "tracking.mirror=false",
                                        *VARIANTS[name]],
                                 profile="default" if name == "default" else None)
            run = work / f"{name}{seed}"
            start = time.perf_counter()
            state = run_league(config, run, log=lambda line: None)
            seconds = time.perf_counter() - start
            by_eval = config.tracking.champion_by == "eval"
            snapshots = [m.id for m in state.members.values() if not m.trainable]
            champion = champions(state, snapshots, eval_scores(
                RunFolder(run).history(), config.eval.score) if by_eval else None)
            for member in sorted(m for m in state.members if state.members[m].trainable):
                row = {"seed": seed, "seconds": seconds,
                       **scores(load_module(run / "checkpoints" / member), dilemmas, heldout),
                       **{f"champ_{k}": v for k, v in scores(load_module(
                           run / "checkpoints" / champion[member]), dilemmas, heldout).items()},
                       # the rating order the default-league test checks
                       "lead_over_tft": state.ratings[member].ordinal
                       - state.ratings["scripted:tit_for_tat"].ordinal}
                rows[name].append(row)
                print(f"{name} seed {seed} {member} champion {champion[member]} " + " ".join(
                    f"{k}={v:.2f}" for k, v in row.items() if k != "seed"), flush=True)
    ray.shutdown()
    print(f"\nper variant, over {args.seeds} seeds and every main of each (mean +- 95% CI):")
    for name, variant_rows in rows.items():
        print(f"  {name:<10} " + "  ".join(
            "{} {:.2f} +- {:.2f}".format(k, *ci95([r[k] for r in variant_rows]))
            for k in MEASURES), flush=True)
    print("\neach run's best main (conditional cooperation on dilemmas), seed by seed:")
    for name, variant_rows in rows.items():
        best = [max(r["cc"] for r in variant_rows if r["seed"] == seed)
                for seed in seeds]
        print(f"  {name:<10} " + " ".join(f"{b:.2f}" for b in best)
              + f"  ({sum(b >= 0.3 for b in best)} of {len(best)} at >= 0.3)",
              flush=True)


if __name__ == "__main__":
    main()
