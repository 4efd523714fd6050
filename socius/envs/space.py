"""`ScenarioSpace`: a seeded distribution over scenarios, with named, versioned splits.

Splits (version `SPLITS_VERSION`): `heldout` holds the whole families in `HELDOUT_FAMILIES` plus
the band [0.8, 1) of every other family's band coordinate (each family documents which parameter
that is); `train` holds the rest. A scenario belongs to `heldout` if any of its games does, and
`train` never samples one (tests check it on many seeds).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from socius.envs.families import (
    FAMILIES,
    HELDOUT_BAND,
    HELDOUT_FAMILIES,
    MAX_PLAYERS,
    ScenarioError,
)
from socius.envs.scenario import MAX_HISTORY, Scenario, StageGame

SPACE_VERSION = 1
SPLITS_VERSION = 1
SPLITS = ("train", "heldout", "all")
_BAND_MARGIN = 1e-3  # keeps rounded parameters on their side of the band edge


@dataclass(frozen=True)
class ScenarioSpace:
    """Where scenarios come from; every field is a knob of the distribution."""

    split: str = "train"
    families: tuple[str, ...] | None = None  # None: every sampled family of the split
    min_players: int = 2
    max_players: int = MAX_PLAYERS
    history_window: int = 4
    p_fixed_horizon: float = 0.5
    horizon_range: tuple[int, int] = (5, 40)
    continuation_range: tuple[float, float] = (0.8, 0.97)
    max_steps: int = 200
    p_rules_visible: float = 0.5
    p_teams: float = 0.6
    team_share_range: tuple[float, float] = (0.0, 1.0)
    p_reteam_range: tuple[float, float] = (0.0, 0.1)
    p_coalition: float = 0.3
    p_rule_changes: float = 0.4
    p_rule_change_range: tuple[float, float] = (0.01, 0.1)
    max_extra_games: int = 2

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ScenarioError(f"space.split must be one of {SPLITS}, got {self.split!r}")
        if self.families is not None:
            object.__setattr__(self, "families", tuple(self.families))
            for name in self.families:
                if name not in FAMILIES or not FAMILIES[name].sampled:
                    known = sorted(n for n, f in FAMILIES.items() if f.sampled)
                    raise ScenarioError(f"space.families: unknown family {name!r} (known: {known})")
                if self.split == "train" and name in HELDOUT_FAMILIES:
                    raise ScenarioError(f"space.families: {name!r} is held out whole and cannot "
                                        "be sampled from split 'train'")
            if not self.families:
                raise ScenarioError("space.families must not be empty")
        if not 2 <= self.min_players <= self.max_players <= MAX_PLAYERS:
            raise ScenarioError(f"space.min_players/max_players must satisfy 2 <= min <= max <= "
                                f"{MAX_PLAYERS}, got {self.min_players}, {self.max_players}")
        if not 1 <= self.history_window <= MAX_HISTORY:
            raise ScenarioError(f"space.history_window must be in [1, {MAX_HISTORY}], "
                                f"got {self.history_window}")
        for key in ("horizon_range", "continuation_range", "team_share_range", "p_reteam_range",
                    "p_rule_change_range"):
            low, high = getattr(self, key)
            if not low <= high:
                raise ScenarioError(f"space.{key} must be (low, high) with low <= high, "
                                    f"got {getattr(self, key)}")
        if self.horizon_range[0] < 1:
            raise ScenarioError(f"space.horizon_range must start at 1 or more, "
                                f"got {self.horizon_range}")
        for key in ("p_fixed_horizon", "p_rules_visible", "p_teams", "p_coalition",
                    "p_rule_changes"):
            if not 0 <= getattr(self, key) <= 1:
                raise ScenarioError(f"space.{key} must be in [0, 1], got {getattr(self, key)}")

    @property
    def eligible_families(self) -> tuple[str, ...]:
        names = self.families or tuple(sorted(n for n, f in FAMILIES.items() if f.sampled))
        if self.split == "train":
            names = tuple(n for n in names if n not in HELDOUT_FAMILIES)
        return names

    def fingerprint(self) -> str:
        """A hash of the space and the split and scenario versions: same hash, same scenarios."""
        body = {"space": asdict(self), "space_version": SPACE_VERSION,
                "splits_version": SPLITS_VERSION, "scenario_version": Scenario.version}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    def sample(self, seed: int) -> Scenario:
        """The scenario of `seed`: deterministic, in this space's split."""
        rng = np.random.default_rng([SPACE_VERSION, int(seed)])
        n = int(rng.integers(self.min_players, self.max_players + 1))
        first = self._game(rng, n, None)
        games = [first]
        p_rule = 0.0
        if rng.random() < self.p_rule_changes:
            actions = FAMILIES[first.family].n_actions(first.param_dict)
            for _ in range(int(rng.integers(1, self.max_extra_games + 1))):
                extra = self._game(rng, n, (actions, first.family == "common_pool"))
                if extra is not None:
                    games.append(extra)
            if len(games) > 1:
                p_rule = round(float(rng.uniform(*self.p_rule_change_range)), 4)
        team_sizes: tuple[int, ...] = (1,) * n
        share = p_reteam = 0.0
        coalition = False
        if n >= 3 and rng.random() < self.p_teams:
            n_teams = int(rng.integers(2, n))
            cuts = np.sort(rng.choice(np.arange(1, n), size=n_teams - 1, replace=False))
            team_sizes = tuple(int(x) for x in np.diff(np.concatenate([[0], cuts, [n]])))
            share = round(float(rng.uniform(*self.team_share_range)), 4)
            p_reteam = round(float(rng.uniform(*self.p_reteam_range)), 4)
            coalition = bool(rng.random() < self.p_coalition)
        horizon: int | None = None
        continuation: float | None = None
        if rng.random() < self.p_fixed_horizon:
            horizon = int(rng.integers(self.horizon_range[0], self.horizon_range[1] + 1))
        else:
            continuation = round(float(rng.uniform(*self.continuation_range)), 4)
        return Scenario(
            name=f"{first.family}__s{int(seed)}", n_players=n, games=tuple(games),
            team_sizes=team_sizes, team_share=share, horizon=horizon, continuation=continuation,
            max_steps=self.max_steps, history_window=self.history_window,
            rules_visible=bool(rng.random() < self.p_rules_visible), p_reteam=p_reteam,
            p_rule_change=p_rule, coalition_moves=coalition,
        )

    def _game(self, rng: np.random.Generator, n: int,
              match: tuple[int, bool] | None) -> StageGame | None:
        """A game of this split; with `match` = (actions, is common_pool), one that fits it or None."""
        names = self.eligible_families
        for _ in range(20):
            name = names[int(rng.integers(len(names)))]
            fam = FAMILIES[name]
            held = self.split == "heldout" or (self.split == "all" and rng.random() < 0.2)
            if name in HELDOUT_FAMILIES:
                band = float(rng.uniform(0.0, 1.0))
            elif held:
                band = float(rng.uniform(HELDOUT_BAND + _BAND_MARGIN, 1.0))
            else:
                band = float(rng.uniform(0.0, HELDOUT_BAND - _BAND_MARGIN))
            params = fam.sample(rng, band, n)
            if match is None or (fam.n_actions(params) == match[0]
                                 and (name == "common_pool") == match[1]):
                return StageGame.make(name, params)
        return None
