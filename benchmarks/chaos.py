"""Chaos run: a league while a killer SIGKILLs its actors' processes, and once its driver.

    python benchmarks/chaos.py [--generations 20] [--interval 10] [--seed 0]

First the same league runs undisturbed (the baseline, in this run); then again while, every
`--interval` seconds, a random runner, lake-writer or league-actor process is SIGKILLed (never
twice without a newly saved generation in between, so the run keeps progressing: a restart
here takes about 10 s), and once — the third kill — the driver itself with its whole process
group, after which `socius league resume` takes over. At the end: the books balance, the lake's
finished matches per generation equal history.jsonl's and the matches rated, `data verify`
finds nothing wrong. Prints kills survived, restarts, and the seconds lost against the
baseline.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from socius.platform.data.lake import Lake
from socius.platform.runfolder import RunFolder

TARGETS = ("ray::Runner", "ray::LakeWriter", "ray::League")


def league_command(run_dir: Path, generations: int) -> list[str]:
    return [sys.executable, "-m", "socius.platform.cli", "league", "run", "--profile", "smoke",
            "--set", f"generations={generations}", "--set", "scenarios.p_fixed_horizon=0",
            "--set", "faults.max_restarts=1000", "--run-dir", str(run_dir)]


def saved_generation(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "league.json").read_text())["league"]["generation"]
    except (OSError, ValueError, KeyError):
        return -1


def chaos(run_dir: Path, generations: int, interval: float, rng: random.Random
          ) -> tuple[collections.Counter, float, str]:
    """Run the league under the killer; returns kills by target, seconds, output."""
    kills: collections.Counter = collections.Counter()
    output, start, driver_killed = [], time.perf_counter(), False
    command = league_command(run_dir, generations)
    while True:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        last_kill_generation = saved_generation(run_dir)
        next_kill = time.monotonic() + interval * rng.uniform(0.5, 1.5)
        while proc.poll() is None:
            time.sleep(0.2)
            progressed = saved_generation(run_dir) > last_kill_generation
            if time.monotonic() < next_kill or not progressed:
                continue
            if not driver_killed and sum(kills.values()) == 2:
                os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray
                kills["driver"] += 1
                driver_killed = True
                break
            target = rng.choice(TARGETS)
            if subprocess.run(["pkill", "-9", "-f", target], check=False).returncode == 0:
                kills[target] += 1
            last_kill_generation = saved_generation(run_dir)
            next_kill = time.monotonic() + interval * rng.uniform(0.5, 1.5)
        out, _ = proc.communicate()
        output.append(out)
        if proc.returncode == 0:
            return kills, time.perf_counter() - start, "".join(output)
        if kills["driver"] and proc.returncode == -signal.SIGKILL:
            command = [sys.executable, "-m", "socius.platform.cli", "league", "resume",
                       str(run_dir)]
            continue
        raise RuntimeError(f"the league failed (rc {proc.returncode}):\n{out[-3000:]}")


def check(run_dir: Path, generations: int) -> dict[str, object]:
    """The books and the lake after the run."""
    history = RunFolder(run_dir).history()
    lake = Lake(run_dir / "lake", create=False)
    report = lake.verify()
    episodes = lake.read("episodes", columns=["match_id", "generation"]).to_pydict()
    per_generation = collections.Counter(episodes["generation"])
    final = json.loads((run_dir / "league.json").read_text())["league"]
    return {
        "generations": [h["generation"] for h in history] == list(range(generations)),
        "books balanced": history[-1]["tickets"]["balanced"],
        "lake = history per generation": [per_generation[g] for g in range(generations)]
        == [h["episodes"] for h in history],
        "no match twice": len(set(episodes["match_id"])) == len(episodes["match_id"]),
        "rated = finished = lake": final["matches_recorded"] == final["tickets"]["finished"]
        == len(episodes["match_id"]),
        "verify clean": report == {"corrupt": [], "missing": [], "adopted": []},
        "restarts": history[-1].get("restarts"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between kills")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        start = time.perf_counter()
        subprocess.run(league_command(base, args.generations), check=True,
                       capture_output=True)
        baseline = time.perf_counter() - start
        run_dir = Path(tmp) / "chaos"
        kills, seconds, output = chaos(run_dir, args.generations, args.interval,
                                       random.Random(args.seed))
        checks = check(run_dir, args.generations)
    restarts = output.count("starting again from the last saved generation")
    print(f"{args.generations}-generation smoke league; a kill every ~{args.interval:g} s")
    print(f"baseline (no kills):  {baseline:7.1f} s")
    print(f"under chaos:          {seconds:7.1f} s  ({seconds - baseline:+.1f} s lost)")
    print(f"kills survived:       {sum(kills.values())}  " + ", ".join(
        f"{k}: {n}" for k, n in sorted(kills.items())))
    print(f"restarts in place:    {restarts} (the driver's kill is survived by `resume`)")
    for name, ok in checks.items():
        print(f"{name:<30}{ok}")


if __name__ == "__main__":
    main()
