"""Finished-match lengths of league runs, per scenario family, from their lakes' episode tables.

    python benchmarks/match_lengths.py runs/<run> [runs/<other run> ...] [--round 16]

Prints, per run and family: finished matches, mean / p90 / max length, and how many lasted
longer than a round (`--round`, the config's steps_per_round); then the steps trained and the
seconds the generations took (history.jsonl).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from socius.platform.data.lake import Lake
from socius.platform.runfolder import RunFolder


def describe(run: str, round_steps: int) -> list[str]:
    episodes = Lake(f"{run}/lake", create=False).read(
        "episodes", columns=["family", "steps"]).to_pydict()
    by_family: dict[str, list[int]] = defaultdict(list)
    for family, steps in zip(episodes["family"], episodes["steps"], strict=True):
        by_family[family].append(steps)
    lines = [f"{run}", f"  {'family':<22}{'matches':>8}{'mean':>7}{'p90':>6}{'max':>6}"
                        f"{'> round':>9}"]
    for family, lengths in sorted({**by_family, "(all)": episodes["steps"]}.items()):
        a = np.asarray(lengths)
        lines.append(f"  {family:<22}{len(a):>8}{a.mean():>7.1f}{np.percentile(a, 90):>6.0f}"
                     f"{a.max():>6}{int((a > round_steps).sum()):>9}")
    history = RunFolder(run).history()
    lines.append(f"  trained {sum(h['agent_steps_trained'] for h in history):,} agent-steps, "
                 f"sampled {sum(h['agent_steps_sampled'] for h in history):,}, in "
                 f"{sum(h['seconds'] for h in history):.1f} s of generations")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--round", type=int, default=16, help="steps_per_round of the runs")
    args = parser.parse_args()
    for run in args.runs:
        print("\n".join(describe(run, args.round)))


if __name__ == "__main__":
    main()
