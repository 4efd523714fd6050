"""Does the generalist's scripted background help the one-minute default league?

For each seed, the default league runs twice, alternating: as it is (`old`: tit-for-tat and a
uniform player in 15% of the main agents' matches) and with the background that produced
reciprocity in `configs/generalist.yaml` (`new`: tit-for-tat, grim, win-stay-lose-shift,
always-defect and the uniform player in half their matches, self-play 20%). Each population's
final main agent is scored on `dilemmas` (conditional cooperation, cooperation with
tit-for-tat and with always-defect) and `heldout` (normalised score with the zoo). A third
variant, `zoo90`, gives the main agents the generalist's exact mix: its seven zoo strategies in
90% of their matches, self-play in the rest; `zoo60` the same strategies in 60%, self-play in
15%, league opponents (PFSP) in the rest. The rating lead of each main over the scripted
tit-for-tat is printed too (the default-league test asks for it to be positive), and the
self-play return on `heldout` (the test asks for more than the untrained net's, 8.8-9.0).

    python benchmarks/default_league_background.py [--seeds 3] [--variants old new zoo90]
"""

from __future__ import annotations

import argparse
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
from socius.platform.run.league import run_league  # noqa: E402
from socius.policies.checkpoint import load_module  # noqa: E402

# the generalist config's scripted background, read from it (the zoo90 and zoo60 variants)
GENERALIST_ZOO = "matchmaking.scripted=[{}]".format(", ".join(load_config(
    Path(__file__).resolve().parents[1] / "configs" / "generalist.yaml").matchmaking.scripted))
VARIANTS = {
    "old": [],
    "new": ["matchmaking.scripted=[tit_for_tat, grim_trigger, win_stay_lose_shift, "
            "always_defect, uniform_random]", "matchmaking.main_scripted=0.5",
            "matchmaking.main_self_play=0.2"],
    "zoo90": [GENERALIST_ZOO, "matchmaking.main_scripted=0.9", "matchmaking.main_self_play=0.1"],
    "zoo60": [GENERALIST_ZOO, "matchmaking.main_scripted=0.6",
              "matchmaking.main_self_play=0.15"],
}


MEASURES = ("seconds", "cc", "tft", "alld", "heldout_nz", "heldout_self", "lead_over_tft")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["old", "new"], choices=list(VARIANTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    dilemmas, heldout = load_suite("dilemmas"), load_suite("heldout")
    work = Path(tempfile.mkdtemp(prefix="default-background-"))
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in args.variants}
    for seed in range(args.seeds):
        for name in args.variants:
            overrides = VARIANTS[name]
            config = load_config(None, [f"seed={seed}", "tracking.mirror=false", *overrides])
            run = work / f"{name}{seed}"
            start = time.perf_counter()
            state = run_league(config, run, log=lambda line: None)
            seconds = time.perf_counter() - start
            for member in ("main_0", "main_1"):
                agent = Player(member, net=load_module(run / "checkpoints" / member).eval())
                d = evaluate([agent], dilemmas).summary[member]
                h = evaluate([agent], heldout).summary[member]
                row = {"seconds": seconds, "cc": d["conditional_cooperation"],
                       "tft": d["cooperation_with/tit_for_tat"],
                       "alld": d["cooperation_with/always_defect"],
                       "heldout_nz": h["normalised_zoo"], "heldout_self": h["focal_return_self"],
                       # the rating order the default-league test checks
                       "lead_over_tft": state.ratings[member].ordinal
                       - state.ratings["scripted:tit_for_tat"].ordinal}
                rows[name].append(row)
                print(f"{name} seed {seed} {member} " + " ".join(
                    f"{k}={v:.2f}" for k, v in row.items()), flush=True)
    ray.shutdown()
    print(f"\nper variant, over {args.seeds} seeds x 2 mains (mean +- 95% CI):")
    for name, variant_rows in rows.items():
        print(f"  {name:<6} " + "  ".join(
            "{} {:.2f} +- {:.2f}".format(k, *ci95([r[k] for r in variant_rows]))
            for k in MEASURES), flush=True)


if __name__ == "__main__":
    main()
