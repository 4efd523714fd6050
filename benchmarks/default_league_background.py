"""Does the generalist's scripted background help the one-minute default league?

For each seed, the default league runs twice, alternating: as it is (`old`: tit-for-tat and a
uniform player in 15% of the main agents' matches) and with the background that produced
reciprocity in `configs/generalist.yaml` (`new`: tit-for-tat, grim, win-stay-lose-shift,
always-defect and the uniform player in half their matches, self-play 20%). Each population's
final main agent is scored on `dilemmas` (conditional cooperation, cooperation with
tit-for-tat and with always-defect) and `heldout` (normalised score with the zoo).

    python benchmarks/default_league_background.py [--seeds 3]
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

from socius.platform.config import load_config  # noqa: E402
from socius.platform.eval.evaluate import evaluate  # noqa: E402
from socius.platform.eval.play import Player  # noqa: E402
from socius.platform.eval.suites import load_suite  # noqa: E402
from socius.platform.run.league import run_league  # noqa: E402
from socius.policies.checkpoint import load_module  # noqa: E402

VARIANTS = {
    "old": [],
    "new": ["matchmaking.scripted=[tit_for_tat, grim_trigger, win_stay_lose_shift, "
            "always_defect, uniform_random]", "matchmaking.main_scripted=0.5",
            "matchmaking.main_self_play=0.2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    dilemmas, heldout = load_suite("dilemmas"), load_suite("heldout")
    work = Path(tempfile.mkdtemp(prefix="default-background-"))
    for seed in range(args.seeds):
        for name, overrides in VARIANTS.items():
            config = load_config(None, [f"seed={seed}", "tracking.mirror=false", *overrides])
            run = work / f"{name}{seed}"
            start = time.perf_counter()
            run_league(config, run, log=lambda line: None)
            seconds = time.perf_counter() - start
            for member in ("main_0", "main_1"):
                agent = Player(member, net=load_module(run / "checkpoints" / member).eval())
                d = evaluate([agent], dilemmas).summary[member]
                h = evaluate([agent], heldout).summary[member]
                print(f"{name} seed {seed} {member} {seconds:.0f}s "
                      f"cc={d['conditional_cooperation']:.2f} "
                      f"tft={d['cooperation_with/tit_for_tat']:.2f} "
                      f"alld={d['cooperation_with/always_defect']:.2f} "
                      f"heldout_nz={h['normalised_zoo']:.2f}", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
