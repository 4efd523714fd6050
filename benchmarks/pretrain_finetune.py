"""The premise, measured: does pretraining on the train split help on held-out scenarios?

1. Pretrain: a league on the `train` split (the default league unless `--config`), mirrored
   into MLflow; its champion is pulled from the registry (`socius.<league>.main_0@champion`).
   Its cost (seconds, agent-steps trained) is reported apart.
2. For each held-out scenario (sampled from the `heldout` split, two players) and seed, PPO
   runs twice with the same budget, partner and seed: from the champion's weights, and from a
   fresh network of the same shape. The partner is fixed (`--partners`, default one that plays
   the first action 70% of the time: against it every held-out two-action game has something
   to learn, while in zero-sum self-play, or against a uniform player, the mean reward is zero
   whatever is learned).
3. Per scenario and seed: the from-scratch run's final return (mean training reward of its
   last 3 iterations) is the threshold; printed are the steps each run needs to reach it (first
   iteration whose trailing mean over up to 3 iterations does; the budget if never) and the area under
   the learning curve (mean reward over the budget), mean and spread over seeds. Goal: pretrained reaches the
   threshold in <= 1/3 of the steps. Curves go to `--plot`.

With `--champion DIR` a checkpoint folder is the pretrained agent (no league runs); with
`--families` the held-out scenarios are one two-player scenario of each named family from the
held-out split (chicken and battle of the sexes are held-out families; the other families'
held-out bands); `--partners` also takes checkpoint folders (learned partners, e.g. other runs'
champions), and a scripted partner not defined for a scenario is left out of that scenario;
`--fresh-value-head` starts the pretrained agent's value head anew (its policy and core kept).

Usage: python benchmarks/pretrain_finetune.py [--seeds 3] [--scenarios 3] [--steps 20000]
       [--champion DIR] [--families chicken,battle_of_sexes,...] [--partners a,b,DIR]
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

from socius.envs import ScenarioSpace  # noqa: E402
from socius.platform.config import load_config  # noqa: E402
from socius.platform.finetune import partner_from_spec, train_on  # noqa: E402
from socius.platform.registry import Mirror, default_tracking_uri, pull  # noqa: E402
from socius.platform.run.league import run_league  # noqa: E402
from socius.policies.checkpoint import load_module  # noqa: E402
from socius.policies.network import SociusNet  # noqa: E402


def steps_to(history: list[dict], threshold: float) -> float:
    """Agent-steps until the trailing mean of the last (up to) 3 iterations' reward reaches
    `threshold`; the first iterations average what there is, so a run that starts at the
    threshold is credited with its first iteration (not with the third)."""
    rewards = np.array([h["reward_mean"] for h in history])
    steps = np.array([h["steps"] for h in history])
    trailing = np.array([rewards[max(0, i - 2): i + 1].mean() for i in range(len(rewards))])
    hit = np.flatnonzero(trailing >= threshold)
    return float(steps[hit[0]]) if hit.size else float("inf")


def pretrained_champion(config_path: str | None, overrides: list[str]) -> SociusNet:
    """Run the pretraining league, mirror it and pull its champion as a user would."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "pretrain"
        config = load_config(config_path, overrides)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        start = time.perf_counter()
        state = run_league(config, run, log=lambda line: None)
        pretrain_seconds = time.perf_counter() - start
        ray.shutdown()
        uri = default_tracking_uri(run)
        Mirror(run, uri).sync()
        champion = load_module(pull(f"socius.{config.name}.main_0@champion", Path(tmp) / "c",
                                    uri))
        trained = sum(m.steps for m in state.members.values() if m.trainable)
    print(f"pretraining: {config.generations} generations, {trained:,} agent-steps trained "
          f"by learners, {pretrain_seconds:.0f} s")
    return champion


def playable(partner: str, scenario) -> bool:
    """A learned partner (a folder) plays anything; a scripted one the games it defines."""
    if Path(partner).is_dir():
        return True
    return partner_from_spec(partner).supports(scenario)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="league config for pretraining (default league)")
    parser.add_argument("--set", action="append", default=[], help="league config overrides")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scenarios", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--partners", default="fixed_mixed:0.7/0.3",
                        help="scripted partners and checkpoint folders of learned ones, "
                        "comma-separated ('' for self-play)")
    parser.add_argument("--champion", help="a checkpoint folder to fine-tune (no pretraining)")
    parser.add_argument("--families", help="one held-out two-player scenario per family, "
                        "comma-separated (instead of --scenarios sampled ones)")
    parser.add_argument("--fresh-value-head", action="store_true",
                        help="the pretrained run's value head starts anew")
    parser.add_argument("--plot", default="pretrain_finetune.png")
    parser.add_argument("--curves", help="save every learning curve as JSON here")
    parser.add_argument("--out", help="write the per-scenario ratios and the verdict as JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.champion:
        champion = load_module(args.champion)
        print(f"pretrained: {args.champion}")
    else:
        champion = pretrained_champion(args.config, args.set)
    if args.families:
        scenarios = [ScenarioSpace(split="heldout", families=(f,), min_players=2,
                                   max_players=2).sample(0) for f in args.families.split(",")]
    else:
        space = ScenarioSpace(split="heldout", min_players=2, max_players=2)
        scenarios = [space.sample(k) for k in range(args.scenarios)]
    curves: dict[str, dict[str, list]] = {}
    for scenario in scenarios:
        runs = curves.setdefault(scenario.name, {"pretrained": [], "scratch": []})
        partners = [p for p in args.partners.split(",") if p and playable(p, scenario)]
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            fresh = SociusNet(champion.config)
            for label, net in (("pretrained", champion), ("scratch", fresh)):
                _, history = train_on(net, scenario, partners, args.steps, seed,
                                      fresh_value_head=args.fresh_value_head
                                      and label == "pretrained")
                runs[label].append(history)
        print(f"  {scenario.name} (families {', '.join(scenario.families)}): partners "
              f"{', '.join(Path(p).name for p in partners) or 'self-play'}", flush=True)

    print(f"\nheld-out scenarios, {args.seeds} seeds, {args.steps:,} steps each, partners: "
          f"{args.partners or 'self-play'}:")
    ratios, by_scenario = [], {}
    for name, runs in curves.items():
        reach: dict[str, list[float]] = {"pretrained": [], "scratch": []}
        for pre, scratch in zip(runs["pretrained"], runs["scratch"], strict=True):
            threshold = np.mean([h["reward_mean"] for h in scratch[-3:]])
            for label, hist in (("pretrained", pre), ("scratch", scratch)):
                reach[label].append(min(steps_to(hist, threshold), hist[-1]["steps"]))
        auc = {k: [np.mean([x["reward_mean"] for x in h]) for h in v] for k, v in runs.items()}
        ratio = np.mean(reach["pretrained"]) / np.mean(reach["scratch"])
        ratios.append(ratio)
        by_scenario[name] = {"pretrained_steps": float(np.mean(reach["pretrained"])),
                             "scratch_steps": float(np.mean(reach["scratch"])),
                             "ratio": float(ratio)}
        print(f"  {name}: steps to the scratch run's final return: pretrained "
              f"{np.mean(reach['pretrained']):,.0f} +- {np.std(reach['pretrained']):,.0f}, "
              f"scratch {np.mean(reach['scratch']):,.0f} +- {np.std(reach['scratch']):,.0f} "
              f"(ratio {ratio:.2f}); AUC pretrained {np.mean(auc['pretrained']):.3f} +- "
              f"{np.std(auc['pretrained']):.3f}, scratch {np.mean(auc['scratch']):.3f} +- "
              f"{np.std(auc['scratch']):.3f}")
    print(f"goal: pretrained reaches the threshold in <= 1/3 of the steps -> "
          f"{'met' if all(r <= 1 / 3 for r in ratios) else 'NOT met'} (ratios "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")

    import json

    if args.out:
        Path(args.out).write_text(json.dumps({
            "scenarios": by_scenario, "seeds": args.seeds, "steps": args.steps,
            "partners": args.partners, "fresh_value_head": args.fresh_value_head,
            "verdict": "met" if all(r <= 1 / 3 for r in ratios) else "not met"}, indent=1))
    if args.curves:
        Path(args.curves).write_text(json.dumps(curves))
        print(f"curves: {args.curves}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4), squeeze=False)
    for ax, (name, runs) in zip(axes[0], curves.items(), strict=True):
        for label, colour in (("pretrained", "tab:green"), ("scratch", "tab:grey")):
            for k, hist in enumerate(runs[label]):
                ax.plot([h["steps"] for h in hist], [h["reward_mean"] for h in hist],
                        color=colour, alpha=0.7, label=label if k == 0 else None)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("agent-steps")
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=100)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
