"""Does theory of mind earn its place? Leagues with and without it, scored on held-out games.

Three arms of `configs/generalist.yaml` (short: `--generations`; evaluated for selection as the
config says, and by the run itself only at its last generation), the same seeds in each:
- `tom`: the default (theory-of-mind loss at `ppo.tom_weight` 0.5; its head shapes the core);
- `no_tom`: `ppo.tom_weight=0` (the head learns nothing and nothing flows from it);
- `tom_to_policy`: the default loss, and the head's predictions of the others' actions are an
  input of the policy and value heads (`tom_to_policy: true`).

Every arm's final main agent (`checkpoints/main_0`) is scored on the `heldout` suite with the
zoo (`normalised_zoo`) and with every other run's agent as an unseen learned partner, all arms
pooled (`normalised_learned`: the cross-play score). The normalised score divides by the spread
of the suite's references, which is small in some cells, so it swings; two steadier figures
come beside it: `return_learned`, the raw mean focal return per episode with the learned
partners over the heldout cells, and the `dilemmas` suite's `conditional_cooperation` (with the
zoo). Per arm: mean and 95% t-interval over seeds; per ablation: the paired difference to `tom`
(same seed), mean and 95% interval. An effect counts when its interval excludes 0.

    python benchmarks/tom_ablation.py [--seeds 5] [--generations 15] [--out results.json]
                                      [--work DIR]

`--work DIR` keeps the runs in DIR, and a run already there (its `main_0` saved after the
asked number of generations) is scored again instead of rerun: more seeds can be added to an
earlier ablation, and every agent is still a learned partner of every other.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from intervals import ci95  # noqa: E402

from socius.platform.config import load_config  # noqa: E402
from socius.platform.eval.evaluate import evaluate  # noqa: E402
from socius.platform.eval.play import Player  # noqa: E402
from socius.platform.eval.suites import load_suite  # noqa: E402
from socius.platform.run.league import run_league  # noqa: E402
from socius.platform.runfolder import RunFolder  # noqa: E402
from socius.policies.checkpoint import load_module  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generalist.yaml"
ARMS = {"tom": [], "no_tom": ["ppo.tom_weight=0"], "tom_to_policy": ["tom_to_policy=true"]}
MEASURES = ("normalised_learned", "normalised_zoo", "return_learned",
            "dilemmas/conditional_cooperation")


def finished_seconds(run: Path, generations: int) -> float | None:
    """The generations' seconds of a run that finished `generations` and saved main_0, else
    None (a run cut short is run again from the start)."""
    if not (run / "checkpoints" / "main_0").is_dir():
        return None
    rows = RunFolder(run).history()
    return sum(row["seconds"] for row in rows) if len(rows) == generations else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--generations", type=int, default=15)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--out", help="write every figure as JSON here")
    parser.add_argument("--work", type=Path, help="keep runs here; reuse finished ones")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    work = args.work or Path(tempfile.mkdtemp(prefix="tom-ablation-"))
    agents: dict[tuple[str, int], Player] = {}
    seconds: dict[tuple[str, int], float] = {}
    for seed in range(args.seeds):
        for arm in args.arms:
            config = load_config(CONFIG, [
                f"seed={seed}", f"name=tom-{arm.replace('_', '-')}-{seed}",
                f"generations={args.generations}", "tracking.champion_by=rating",
                # the selection's evaluations stay; the run's own only at its last generation
                f"eval.every_generations={args.generations}",
                "tracking.mirror=false", "data.store=false", *ARMS[arm]])
            run = work / f"{arm}{seed}"
            reused = finished_seconds(run, args.generations)
            start = time.perf_counter()
            if reused is None:
                shutil.rmtree(run, ignore_errors=True)  # a run cut short starts again
                run_league(config, run, log=lambda line: None)
            seconds[arm, seed] = time.perf_counter() - start if reused is None else reused
            agents[arm, seed] = Player(f"{arm}{seed}", net=load_module(
                run / "checkpoints" / "main_0").eval())
            print(f"{arm} seed {seed}: league {seconds[arm, seed]:.0f} s"
                  + ("" if reused is None else " (reused: its generations' seconds)"), flush=True)
    ray.shutdown()

    heldout, dilemmas = load_suite("heldout"), load_suite("dilemmas")
    scores: dict[tuple[str, int], dict[str, float]] = {}
    for key, agent in agents.items():
        others = [a for k, a in agents.items() if k != key]
        report = evaluate([agent], heldout, learned=others)
        summary = report.summary[agent.name]
        scores[key] = {m: float(summary[m]) for m in MEASURES[:2]}
        scores[key]["return_learned"] = float(np.mean(
            [c.focal_return for c in report.cells if c.partners.startswith("learned:")]))
        scores[key]["dilemmas/conditional_cooperation"] = float(evaluate(
            [agent], dilemmas).summary[agent.name]["conditional_cooperation"])
        print(f"{key[0]} seed {key[1]}: " + ", ".join(f"{m} {v:.3f}" for m, v in
                                                      scores[key].items()), flush=True)

    print(f"\n{args.seeds} seeds, {args.generations} generations per league "
          f"({np.mean(list(seconds.values())):.0f} s on average); heldout suite, mean +- 95% CI:")
    effects = {}
    for measure in MEASURES:
        for arm in args.arms:
            mean, half = ci95([scores[arm, s][measure] for s in range(args.seeds)])
            print(f"  {measure:<32} {arm:<14} {mean:7.3f} +- {half:.3f}")
        for arm in args.arms:
            if arm == "tom" or "tom" not in args.arms:
                continue
            diff = [scores[arm, s][measure] - scores["tom", s][measure]
                    for s in range(args.seeds)]
            mean, half = ci95(diff)
            verdict = ("helps" if mean - half > 0 else "hurts" if mean + half < 0
                       else "no effect shown") if np.isfinite(half) else "one seed"
            effects[f"{measure}/{arm}-tom"] = (mean, half, verdict)
            print(f"  {measure:<32} {arm} - tom: {mean:+.3f} +- {half:.3f} "
                  f"({arm} {verdict.replace('helps', 'scores higher').replace('hurts', 'scores lower')})")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "seeds": args.seeds, "generations": args.generations,
            "seconds": {f"{a}{s}": v for (a, s), v in seconds.items()},
            "scores": {f"{a}{s}": v for (a, s), v in scores.items()},
            "effects": effects}, indent=1))


if __name__ == "__main__":
    main()
