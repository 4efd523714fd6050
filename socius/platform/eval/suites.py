"""Evaluation suites: versioned, seeded data (JSON files next to this module), each with a hash
recorded next to every result.

A suite lists its scenarios (full scenario specs, so a suite never changes when the space's
sampler does), the zoo strategies it pairs agents with, the reference policies its scores are
normalised between, and how many episodes each (scenario, partner set) cell plays.

    heldout        the held-out split: both held-out families (chicken, battle of the sexes) and
                   the held-out band of every other family, 2-4 players, teams, rule changes
    heldout_wide   the same for 2-8 players (networks with 8 seats)
    dilemmas       repeated prisoner's dilemma, public goods, stag hunt and common pool with
                   unobserved horizons averaging 100 steps: where reciprocity shows
    classics       every named textbook game, 10 steps
    zero_sum       rock-paper-scissors and matching pennies (only the random references are
                   defined there, and they tie: no normalised score; NashConv measures it)

`build_suites()` writes the files; they are committed, and a test checks they still build the
same way from this code (`python -m socius.platform.eval.suites` rewrites them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socius.envs import Scenario, ScenarioSpace, classic, classic_names
from socius.envs.families import FAMILIES, HELDOUT_FAMILIES

FOLDER = Path(__file__).parent / "suites"
SUITE_VERSION = 1

# the partner zoo: every scripted strategy of policies/scripted.py but the parameterised mix
ZOO = ("always_cooperate", "always_defect", "tit_for_tat", "generous_tit_for_tat",
       "suspicious_tit_for_tat", "grim_trigger", "win_stay_lose_shift", "extortion",
       "alternator", "random_cooperator", "biased_random", "tit_for_tat_noisy",
       "uniform_random")
RECIPROCATORS = ("tit_for_tat", "generous_tit_for_tat", "win_stay_lose_shift")
DEFECTORS = ("always_defect",)  # what conditional cooperation and reciprocity set them against


class SuiteError(ValueError):
    """An unknown suite, or a suite file that does not read."""


@dataclass(frozen=True)
class Suite:
    name: str
    version: int
    scenarios: tuple[Scenario, ...]
    partners: tuple[str, ...]  # zoo strategies agents are paired with
    references: tuple[str, ...]  # the focal policies scores are normalised between
    episodes: int  # per (scenario, partner set) cell
    seed: int
    hash: str  # sha256 of the suite file

    @property
    def max_players(self) -> int:
        return max(s.n_players for s in self.scenarios)


def suite_names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.json"))


def load_suite(name: str) -> Suite:
    """A suite by name; a SuiteError lists the known ones."""
    path = FOLDER / f"{name}.json"
    if not path.is_file():
        raise SuiteError(f"unknown suite {name!r} (known: {suite_names()})")
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
        return Suite(data["name"], int(data["version"]),
                     tuple(Scenario.from_json(json.dumps(s)) for s in data["scenarios"]),
                     tuple(data["partners"]), tuple(data["references"]), int(data["episodes"]),
                     int(data["seed"]), hashlib.sha256(raw).hexdigest())
    except (KeyError, TypeError, ValueError) as exc:
        raise SuiteError(f"{path}: not a suite ({exc.__class__.__name__}: {exc})") from None


def _heldout(max_players: int, count: int) -> list[Scenario]:
    """Held-out scenarios covering every family the split samples, each player count from 2
    to `max_players`, with and without teams and rule changes: the first seeds that add
    something new, then the next ones in order."""
    space = ScenarioSpace(split="heldout", max_players=max_players)
    chosen, seen = [], set()
    for seed in range(10_000):
        s = space.sample(seed)
        facts = {("family", g.family) for g in s.games} | {("players", s.n_players),
                                                           ("teams", max(s.team_sizes) > 1),
                                                           ("rules", s.p_rule_change > 0)}
        if facts - seen:
            chosen.append(s)
            seen |= facts
    ids = {s.id for s in chosen}
    for seed in range(10_000):  # then the next seeds in order, up to `count`
        if len(chosen) >= count:
            break
        s = space.sample(seed)
        if s.id not in ids:
            chosen.append(s)
            ids.add(s.id)
    families = {g.family for s in chosen for g in s.games}
    missing = [f for f in HELDOUT_FAMILIES if f not in families]
    if missing:
        raise SuiteError(f"heldout suite: no scenario of {missing} in the first seeds")
    return chosen


def suite_data() -> dict[str, dict[str, Any]]:
    """What each suite file holds."""
    dilemmas = [classic(name, horizon=None, continuation=0.99, max_steps=300)
                for name in ("prisoners_dilemma__textbook", "public_goods__textbook",
                             "public_goods__four_player", "stag_hunt__textbook",
                             "common_pool__default")]
    suites = {
        "heldout": (_heldout(4, 16), 8),
        "heldout_wide": (_heldout(8, 24), 8),
        "dilemmas": (dilemmas, 16),
        "classics": ([classic(name, horizon=10) for name in classic_names()], 16),
        "zero_sum": ([classic(name, horizon=10) for name in
                      ("rock_paper_scissors__textbook", "matching_pennies__textbook")], 32),
    }
    return {name: {"name": name, "version": SUITE_VERSION, "seed": 0, "episodes": episodes,
                   "partners": list(ZOO), "references": list(ZOO),
                   "scenarios": [json.loads(s.to_json()) for s in scenarios]}
            for name, (scenarios, episodes) in suites.items()}


def build_suites(folder: Path = FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in suite_data().items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        paths.append(path)
    return paths


assert all(name in FAMILIES for name in HELDOUT_FAMILIES)

if __name__ == "__main__":
    for written in build_suites():
        print(written)
