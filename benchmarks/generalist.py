"""Generalists: run `configs/generalist.yaml` for several seeds, pull each run's champion from
the registry as a user would, and measure the issue's goals with the evaluation suites.

    python benchmarks/generalist.py [--seeds 5] [--set generations=60] [--out results.json]
        [--plot curves.png] [--transfer t.json] [--selection s.json] [--ablation a.json]
        [--reuse DIR]

Goal 1 (reciprocity, `dilemmas`): cooperation >= 0.9 with tit-for-tat, generous TFT and
win-stay-lose-shift, <= 0.1 with always-defect after its first 3 moves, >= 0.8 with TFT under
5% noise, conditional cooperation >= 0.8. Goal 2 (strangers, `heldout`): normalised score
>= 0.8 with the zoo and with the other seeds' champions (learned partners it never met).
Printed per seed, then mean and 95% CI (t distribution) over seeds; a goal is met when the
whole interval is on its side, not met when all of it is on the other, undecided otherwise.
Beside them, the baseline in the same run: every zoo strategy measured the same way (goal 1
on `dilemmas`, goal 2 with the zoo and with the champions as partners). Goals 3-5 (transfer, reciprocity under selection,
the theory-of-mind ablation) are other benchmarks' (`pretrain_finetune.py`,
`league_cooperation.py`, `tom_ablation.py`): given their `--out` JSON (`--transfer`,
`--selection`, `--ablation`) this script prints their verdicts and figures too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from intervals import ci95  # noqa: E402

from socius.platform.config import load_config  # noqa: E402
from socius.platform.eval.evaluate import evaluate, finite_mean  # noqa: E402
from socius.platform.eval.play import Player  # noqa: E402
from socius.platform.eval.suites import ZOO, load_suite  # noqa: E402
from socius.platform.registry import default_tracking_uri, eval_scores, pull  # noqa: E402
from socius.platform.run.league import run_league  # noqa: E402
from socius.platform.runfolder import RunFolder  # noqa: E402
from socius.policies.checkpoint import load_module  # noqa: E402
from socius.policies.scripted import make_partner  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generalist.yaml"
GOAL1 = {"cooperation_with/tit_for_tat": (">=", 0.9),
         "cooperation_with/generous_tit_for_tat": (">=", 0.9),
         "cooperation_with/win_stay_lose_shift": (">=", 0.9),
         "cooperation_after_3_with/always_defect": ("<=", 0.1),
         "cooperation_with/tit_for_tat_noisy": (">=", 0.8),
         "conditional_cooperation": (">=", 0.8)}
GOAL2 = {"heldout/normalised_zoo": (">=", 0.8), "heldout/normalised_learned": (">=", 0.8)}
SHORT = dict(zip([*GOAL1, *GOAL2], ["tft", "gtft", "wsls", "alld_after_3", "noisy_tft",
                                    "cond_coop", "heldout_zoo", "heldout_learned"], strict=True))


def champion(run: RunFolder) -> tuple[str, Path]:
    """The run's champion as a user finds it: the main agent whose `champion` (chosen by the
    config's `eval.score`) scores best, pulled from the run's registry."""
    config = run.manifest()["config"]
    scores = eval_scores(run.history(), config["eval"].get("score", "normalised_zoo"))
    mains = {m: s for m, s in scores.items()  # main agents' snapshots (not exploiters')
             if re.fullmatch(r"main_\d+@\d+", m)}
    # no snapshot scored yet (a short run): the registry's champion is main_0's newest snapshot
    best = max(mains, key=mains.get) if mains else "main_0"
    name = config["name"]
    ref = f"socius.{name}.{best.split('@')[0]}@champion"
    return ref, pull(ref, run.path / "pulled", default_tracking_uri(run.path))


def main_is(member: str) -> bool:
    """A main agent or one of its snapshots (not a main exploiter, not the zoo)."""
    return re.fullmatch(r"main_\d+(@\d+)?", member) is not None


def selection_figures(run: RunFolder, last: int = 10) -> dict[str, float]:
    """Goal 4's two figures inside this run, from its lake, over its `last` generations'
    prisoner's dilemma matches: cooperation among main agents (cooperative moves in matches
    whose every seat is a main agent or its snapshot) and the main exploiter's reward per step
    in matches against them."""
    import pyarrow.compute as pc

    from socius.envs.families import FAMILIES
    from socius.platform.data.lake import Lake
    from socius.platform.league.evolution import reward_per_step_against
    from socius.platform.types import MatchResult

    lake = Lake(run.lake, create=False)
    episodes = [e for e in lake.read("episodes").to_pylist()
                if e["family"] == "prisoners_dilemma"]
    first = max(e["generation"] for e in episodes) - last + 1
    results = [MatchResult(e["match_id"], e["family"], tuple(e["members"]), tuple(e["returns"]),
                           (), steps=e["steps"]) for e in episodes if e["generation"] >= first]
    seated = {m for r in results for m in r.seats}
    exploiter_reward = reward_per_step_against(
        results, {m for m in seated if m.startswith("main_exploiter")},
        {m for m in seated if main_is(m)})
    among = sorted({r.match_id for r in results if all(map(main_is, r.seats))})
    moves = lake.read("steps", filter=pc.field("match_id").isin(among), columns=["action"])
    cooperative = FAMILIES["prisoners_dilemma"].cooperative_action
    actions = moves.column("action").to_numpy()
    return {"selection/cooperation_among_mains":
            float(np.mean(actions == cooperative)) if len(actions) else float("nan"),
            "selection/exploiter_reward": exploiter_reward}


def final_policy_figures(run: RunFolder) -> dict[str, float]:
    """Goal 4's two figures for the run's final main agents and main exploiter as they play,
    without training's exploration episodes (`league_cooperation.policy_figures`)."""
    from league_cooperation import policy_figures

    from socius.platform.config import LeagueConfig

    config = LeagueConfig.model_validate(run.manifest()["config"])
    folder = run.path / "checkpoints"
    live = sorted(p.name for p in folder.iterdir() if "@" not in p.name)

    figures = policy_figures(config, {m: load_module(folder / m).eval() for m in live if main_is(m)},
                             {m: load_module(folder / m).eval() for m in live
                              if m.startswith("main_exploiter")})
    return {f"selection/{k}": v for k, v in figures.items()}


def holds(value: float, rule: tuple[str, float]) -> bool:
    """`value` is on the goal's side of its bound (`rule`: (">=" or "<=", bound))."""
    op, bound = rule
    return value >= bound if op == ">=" else value <= bound


def verdict(mean: float, half: float, rule: tuple[str, float]) -> str:
    """met: the whole 95% interval on the goal's side; not met: all of it on the other;
    undecided: the interval straddles the bound (or has no width: fewer than 2 seeds)."""
    if not np.isfinite(mean):
        return "not measured"
    low, high = (mean - half, mean + half) if np.isfinite(half) else (mean, mean)
    worst, best = (low, high) if rule[0] == ">=" else (high, low)
    good, bad = holds(worst, rule), not holds(best, rule)
    if not np.isfinite(half):
        return ("met" if good else "not met") + " (one seed: no interval)"
    return "met" if good else "not met" if bad else "undecided"


def plot(runs: list[dict], path: str) -> None:
    """Per seed, at every evaluation during the run: the main agent with the best conditional
    cooperation that generation, its conditional cooperation and its cooperation with
    tit-for-tat and with always-defect (the `eval.suite`'s figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("conditional_cooperation", "conditional cooperation (best main)"),
            ("cooperation_with/tit_for_tat", "its cooperation with tit-for-tat"),
            ("cooperation_with/always_defect", "its cooperation with always-defect")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for r in runs:
        points = []
        for record in RunFolder(r["run"]).history():
            members = (record.get("eval") or {}).get("members") or {}
            mains = [v for m, v in members.items() if re.fullmatch(r"main_\d+", m) and
                     v.get("conditional_cooperation") is not None]
            if mains:
                points.append((record["generation"],
                               max(mains, key=lambda v: v["conditional_cooperation"])))
        for ax, (key, title) in zip(axes, keys, strict=True):
            ax.plot([g for g, _ in points], [v.get(key, np.nan) for _, v in points],
                    marker="o", label=f"seed {r['seed']}")
            ax.set_title(title)
            ax.set_xlabel("generation")
    for ax, bound in zip(axes, (0.8, 0.9, 0.1), strict=True):
        ax.axhline(bound, color="grey", linestyle="--", label=f"goal {bound}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def other_goals(args: argparse.Namespace) -> dict[str, str]:
    """Goals 3-5 from their benchmarks' JSON (`--transfer`, `--selection`, `--ablation`):
    printed with their figures, or as not run."""
    out = {}
    if args.transfer:
        t = json.loads(Path(args.transfer).read_text())
        out["3 transfer"] = t["verdict"]
        print(f"goal 3 transfer: {t['verdict'].upper()} (steps to scratch's final return, "
              "pretrained / scratch: " + ", ".join(
                  f"{k} {v['ratio']:.2f}" for k, v in t["scenarios"].items()) +
              f"; wants <= 0.33 on every one; {t['seeds']} seeds, partners {t['partners']})")
    else:
        print("goal 3 transfer: not run (benchmarks/pretrain_finetune.py --out, then --transfer)")
    if args.selection:
        c = json.loads(Path(args.selection).read_text())
        out["4 reciprocity under selection"] = c["verdict"]
        measured = ("the final policies without exploration" if "training_cooperation" in c
                    else "training matches")
        print(f"goal 4 reciprocity under selection: {c['verdict'].upper()} ({measured}: "
              f"cooperation among mains {', '.join(f'{x:.2f}' for x in c['cooperation'])}, "
              f"wants > 0.8; exploiter reward per step "
              f"{', '.join(f'{x:.2f}' for x in c['exploiter_reward'])}, wants <= 3.1" +
              (f"; training matches: {', '.join(f'{x:.2f}' for x in c['training_cooperation'])}"
               f" and {', '.join(f'{x:.2f}' for x in c['training_exploiter_reward'])}, "
               f"{c['verdict_training_matches']}" if "training_cooperation" in c else "") + ")")
    else:
        print("goal 4 reciprocity under selection: not run (benchmarks/league_cooperation.py "
              "--out, then --selection)")
    if args.ablation:
        a = json.loads(Path(args.ablation).read_text())
        mean, half, _ = a["effects"]["normalised_learned/no_tom-tom"]
        state = "met" if mean + half < 0 else "not met"  # removing it must cost, surely
        out["5 theory of mind"] = state
        print(f"goal 5 theory of mind earns its place: {state.upper()} (heldout cross-play, "
              f"no ToM minus ToM: {mean:+.3f} +- {half:.3f}; " + "; ".join(
                  f"{k}: {m:+.3f} +- {h:.3f} ({WITHOUT_TOM.get(v, v)})"
                  for k, (m, h, v) in a["effects"].items()) +
              f"; {a['seeds']} seeds x {a['generations']} generations)")
    else:
        print("goal 5 theory of mind: not run (benchmarks/tom_ablation.py --out, then "
              "--ablation)")
    return out


def on_reciprocator_games(report, suite) -> dict[str, float]:
    """The normalised scores over only the scenarios where the zoo's reciprocators are defined
    (games with a cooperative action): the cells a zoo strategy's own scores are made of, so
    the champions compare with `zoo_baseline` on the same ground. Elsewhere only the random
    references set the scale."""
    games = {s.id for s in suite.scenarios if make_partner("tit_for_tat").supports(s)}
    cells = [r for r in report.cells if r.scenario_id in games]
    zoo = [r.normalised for r in cells if r.partners in ZOO]  # as `evaluate` summarises
    learned = [r.normalised for r in cells if r.partners.startswith("learned:")]
    return {"heldout/normalised_zoo@reciprocator_games": finite_mean(zoo),
            "heldout/normalised_learned@reciprocator_games": finite_mean(learned)}


def zoo_baseline(dilemmas, heldout, champions: list[Player]) -> dict[str, dict[str, float]]:
    """The zoo's own strategies measured as the champions are (the baseline in the same run):
    goal 1's figures on `dilemmas`, goal 2's on `heldout` with the zoo and with the champions
    as learned partners. A strategy plays only the games it is defined for (those with a
    cooperative action), which are the cells the champions' zoo score is made of too."""
    agents = [Player(f"scripted:{z}", scripted=z) for z in ZOO]
    d = evaluate(agents, dilemmas, cross_play=False).summary
    h = evaluate(agents, heldout, learned=champions, cross_play=False).summary
    table = {}
    print("\nthe zoo's strategies as the agent (goal 1 on dilemmas, goal 2 on heldout with the "
          "zoo and with the champions):")
    for a in agents:
        row = {**{k: d[a.name].get(k, float("nan")) for k in GOAL1},
               "heldout/normalised_zoo": h[a.name]["normalised_zoo"],
               "heldout/normalised_learned": h[a.name]["normalised_learned"]}
        met = [goal for goal, rules in (("1", GOAL1), ("2", GOAL2))
               if all(holds(row[k], rule) for k, rule in rules.items())]
        table[a.name.removeprefix("scripted:")] = row
        print(f"  {a.name.removeprefix('scripted:'):<24}" + " ".join(
            f"{SHORT[k]} {v:5.2f}" for k, v in row.items()) +
            f"  meets goal {', '.join(met) or 'neither'}")
    return table


# tom_ablation.py's verdicts on (arm - tom), read for the arm without theory of mind
WITHOUT_TOM = {"helps": "no ToM scores higher", "hurts": "no ToM scores lower"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--set", action="append", default=[], help="config overrides")
    parser.add_argument("--out", help="write every figure as JSON here")
    parser.add_argument("--plot", help="curves of the evaluations during each run (PNG)")
    parser.add_argument("--transfer", help="goal 3: pretrain_finetune.py --out JSON")
    parser.add_argument("--selection", help="goal 4: league_cooperation.py --out JSON")
    parser.add_argument("--ablation", help="goal 5: tom_ablation.py --out JSON")
    parser.add_argument("--reuse", help="a folder of runs (seed0, seed1, ...): finished ones "
                        "are evaluated again, missing seeds run there (more seeds added)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(args.reuse or tempfile.mkdtemp(prefix="generalist-"))
    to_run = [seed for seed in range(args.seeds) if not (work / f"seed{seed}").exists()]
    if to_run:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"runs under {work}", flush=True)
    runs = []
    for seed in range(args.seeds):
        config = load_config(CONFIG, [f"seed={seed}", f"name=generalist{seed}", *args.set])
        start = time.perf_counter()
        if seed in to_run:
            run_league(config, work / f"seed{seed}", log=lambda line: None)
        run = RunFolder(work / f"seed{seed}")
        ref, path = champion(run)
        seconds = sum(r["seconds"] for r in run.history())  # the league's generations
        runs.append({"seed": seed, "seconds": seconds, "champion": ref, "run": run.path,
                     "path": path, "generations": config.generations,
                     "fitness": config.evolution.fitness if config.evolution else "none"})
        print(f"seed {seed}: {config.generations} generations, {runs[-1]['seconds']:.0f} s in "
              f"generations ({time.perf_counter() - start:.0f} s here), "
              f"champion {ref}", flush=True)
    if to_run:
        ray.shutdown()
    dilemmas, heldout = load_suite("dilemmas"), load_suite("heldout")
    figures = []
    for r in runs:
        agent = Player(r["champion"], net=load_module(r["path"]).eval())
        others = [Player(o["champion"], net=load_module(o["path"]).eval()) for o in runs
                  if o is not r]
        d = evaluate([agent], dilemmas).summary[agent.name]
        held = evaluate([agent], heldout, learned=others)
        h = held.summary[agent.name]
        row = {"seed": r["seed"], "seconds": r["seconds"],
               **{k: d.get(k, float("nan")) for k in GOAL1},
               "cooperation_with/always_defect": d["cooperation_with/always_defect"],
               "heldout/normalised_zoo": h["normalised_zoo"],
               "heldout/normalised_learned": h["normalised_learned"],
               **on_reciprocator_games(held, heldout),
               "dilemmas/cooperation": d["cooperation"], "dilemmas/tom_accuracy":
                   d["tom_accuracy"], **selection_figures(RunFolder(r["run"])),
               **final_policy_figures(RunFolder(r["run"]))}
        figures.append(row)
        print(f"seed {r['seed']}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()
                                                 if k != "seed"), flush=True)
    print("\ngoal figures over seeds (mean +- 95% CI):")
    verdicts = {}
    for goal, rules in (("1 reciprocates", GOAL1), ("2 strangers", GOAL2)):
        states = []
        for key, rule in rules.items():
            mean, half = ci95([f[key] for f in figures])
            states.append(verdict(mean, half, rule))
            print(f"  goal {goal}: {key} {mean:.2f} +- {half:.2f} (wants {rule[0]} {rule[1]}): "
                  f"{states[-1]}")
        verdicts[goal] = "met" if all(s == "met" for s in states) else "not met" if any(
            s.startswith("not met") for s in states) else "undecided"
    for key in ("heldout/normalised_zoo@reciprocator_games",
                "heldout/normalised_learned@reciprocator_games"):
        mean, half = ci95([f[key] for f in figures])
        print(f"  (not a goal) {key} {mean:.2f} +- {half:.2f}: the cells of zoo_baseline below")
    for (goal, state), rules in zip(verdicts.items(), (GOAL1, GOAL2), strict=True):
        seeds = [f["seed"] for f in figures if all(holds(f[k], rule)
                                                      for k, rule in rules.items())]
        print(f"goal {goal}: {state.upper()} (every figure on its side on {len(seeds)} of "
              f"{len(figures)} seeds: {seeds})")
    for goal, state in other_goals(args).items():
        verdicts[goal] = state
    fitness = runs[0]["fitness"]
    print(f"goal 4's figures inside these runs (selection on {fitness}; the goal asks for "
          "welfare), last 10 generations: cooperation among mains " + ", ".join(
              f"{f['selection/cooperation_among_mains']:.2f}" for f in figures) +
          " (wants > 0.8); exploiter reward per step vs mains " + ", ".join(
              f"{f['selection/exploiter_reward']:.2f}" for f in figures) + " (wants <= 3.1); "
          "the final policies without exploration: cooperation among mains " + ", ".join(
              f"{f['selection/policy_cooperation']:.2f}" for f in figures) + ", exploiter " +
          ", ".join(f"{f['selection/policy_exploiter_reward']:.2f}" for f in figures))
    champions = [Player(r["champion"], net=load_module(r["path"]).eval()) for r in runs]
    baseline = zoo_baseline(dilemmas, heldout, champions)
    if args.plot:
        plot(runs, args.plot)
        print(f"plot: {args.plot}")
    if args.out:
        Path(args.out).write_text(json.dumps({"figures": figures, "verdicts": verdicts,
                                              "zoo_baseline": baseline, "overrides": args.set},
                                             indent=1))


if __name__ == "__main__":
    main()
