"""`Scenario`: one fully specified world (players, stage games, teams, rule changes), as plain data.

A scenario is frozen, validated on construction, JSON-serializable and hashable; its `id` is a
content hash, so the same world always has the same id.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from socius.envs.families import (
    FAMILIES,
    HELDOUT_BAND,
    HELDOUT_FAMILIES,
    MAX_PLAYERS,
    ScenarioError,
    family,
)

SCENARIO_VERSION = 1
MAX_HISTORY = 16
MAX_STEPS_CAP = 10_000


def _freeze(value: Any) -> Any:
    """Lists to tuples (recursively) so params hash; numbers stay as given."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class StageGame:
    """A family name and its parameters, e.g. StageGame("prisoners_dilemma", {"T": 5, ...})."""

    family: str
    params: tuple[tuple[str, Any], ...]

    @classmethod
    def make(cls, family_name: str, params: dict[str, Any] | None = None) -> StageGame:
        fam = family(family_name)
        merged = dict(fam.defaults if params is None else params)
        return cls(family_name, tuple(sorted((k, _freeze(v)) for k, v in merged.items())))

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "params": {k: _thaw(v) for k, v in self.params}}

    def check(self, n_players: int, where: str) -> None:
        fam = family(self.family, f"{where}.family")
        fam.check(self.param_dict, n_players, f"{where}.params")

    @property
    def is_heldout(self) -> bool:
        """Held out when its family is held out whole, or its band coordinate is in the held band."""
        if self.family in HELDOUT_FAMILIES:
            return True
        return FAMILIES[self.family].band(self.param_dict) >= HELDOUT_BAND


@dataclass(frozen=True)
class Scenario:
    """One world. Exactly one of `horizon` (fixed, observed) or `continuation` (the probability of
    another round; the horizon is then unobserved, capped at `max_steps`) is set."""

    name: str
    n_players: int
    games: tuple[StageGame, ...]
    team_sizes: tuple[int, ...] = ()  # empty: every player on its own
    team_share: float = 0.0  # weight of the team-mean payoff in each member's reward
    roles: tuple[int, ...] = ()  # empty: seat i has role i % 2 (used by role families)
    horizon: int | None = 10
    continuation: float | None = None
    max_steps: int = 500
    history_window: int = 4
    rules_visible: bool = True
    p_reteam: float = 0.0  # per-step probability of a scheduled re-teaming
    p_rule_change: float = 0.0  # per-step probability that the stage game switches
    coalition_moves: bool = False  # agents may leave or ask to join a team each step
    max_team_size: int = 0  # 0: no cap below n_players
    version: int = field(default=SCENARIO_VERSION)

    def __post_init__(self) -> None:
        n = self.n_players
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_PLAYERS:
            raise ScenarioError(f"scenario.n_players must be an integer in [2, {MAX_PLAYERS}], "
                                f"got {n!r}")
        # Normalize containers and fill defaults so equal scenarios hash equally.
        object.__setattr__(self, "games", tuple(self.games))
        object.__setattr__(self, "team_sizes", tuple(self.team_sizes) or (1,) * n)
        object.__setattr__(self, "roles", tuple(self.roles) or tuple(i % 2 for i in range(n)))
        if self.max_team_size == 0:
            object.__setattr__(self, "max_team_size", n)
        self._check()

    def _check(self) -> None:
        n = self.n_players
        if self.version != SCENARIO_VERSION:
            raise ScenarioError(f"scenario.version {self.version!r} is not supported "
                                f"(this socius reads version {SCENARIO_VERSION})")
        if not isinstance(self.name, str) or not self.name:
            raise ScenarioError(f"scenario.name must be a non-empty string, got {self.name!r}")
        if not self.games:
            raise ScenarioError("scenario.games must list at least one stage game")
        actions = None
        for k, game in enumerate(self.games):
            if not isinstance(game, StageGame):
                raise ScenarioError(f"scenario.games[{k}] must be a StageGame, got {game!r}")
            game.check(n, f"scenario.games[{k}]")
            a = FAMILIES[game.family].n_actions(game.param_dict)
            if actions is not None and a != actions:
                raise ScenarioError(f"scenario.games[{k}] has {a} actions but games[0] has "
                                    f"{actions}: rule changes keep the action count")
            actions = a
            if (game.family == "common_pool") != (self.games[0].family == "common_pool"):
                raise ScenarioError(f"scenario.games[{k}]: common_pool switches only to other "
                                    "common_pool games (the stock is their state)")
        if sum(self.team_sizes) != n or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.team_sizes):
            raise ScenarioError(f"scenario.team_sizes {list(self.team_sizes)} must be positive "
                                f"integers summing to n_players={n}")
        if len(self.roles) != n or any(r not in (0, 1) for r in self.roles):
            raise ScenarioError(f"scenario.roles {list(self.roles)} must be {n} values of 0 or 1")
        _unit(self.team_share, "scenario.team_share")
        _unit(self.p_reteam, "scenario.p_reteam")
        _unit(self.p_rule_change, "scenario.p_rule_change")
        if (self.horizon is None) == (self.continuation is None):
            raise ScenarioError("scenario: set exactly one of horizon or continuation, got "
                                f"horizon={self.horizon!r}, continuation={self.continuation!r}")
        if self.horizon is not None and (isinstance(self.horizon, bool) or not isinstance(
                self.horizon, int) or not 0 < self.horizon <= MAX_STEPS_CAP):
            raise ScenarioError(f"scenario.horizon must be an integer in [1, {MAX_STEPS_CAP}], "
                                f"got {self.horizon!r}")
        if self.continuation is not None:
            _unit(self.continuation, "scenario.continuation")
            if self.continuation >= 1:
                raise ScenarioError(f"scenario.continuation must be < 1, got {self.continuation!r}")
        if not isinstance(self.max_steps, int) or not 0 < self.max_steps <= MAX_STEPS_CAP:
            raise ScenarioError(f"scenario.max_steps must be an integer in [1, {MAX_STEPS_CAP}], "
                                f"got {self.max_steps!r}")
        if not isinstance(self.history_window, int) or not 1 <= self.history_window <= MAX_HISTORY:
            raise ScenarioError(f"scenario.history_window must be an integer in "
                                f"[1, {MAX_HISTORY}], got {self.history_window!r}")
        if self.p_rule_change > 0 and len(self.games) < 2:
            raise ScenarioError(f"scenario.p_rule_change={self.p_rule_change} needs at least two "
                                "games to switch between")
        if not isinstance(self.max_team_size, int) or not 1 <= self.max_team_size <= n:
            raise ScenarioError(f"scenario.max_team_size must be in [1, {n}], "
                                f"got {self.max_team_size!r}")

    # --- views -------------------------------------------------------------------------------
    @property
    def n_actions(self) -> int:
        return FAMILIES[self.games[0].family].n_actions(self.games[0].param_dict)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(g.family for g in self.games)

    @property
    def zero_sum(self) -> bool:
        return all(FAMILIES[g.family].zero_sum(g.param_dict) for g in self.games)

    @property
    def split(self) -> str:
        """`heldout` if any of its games is held out, else `train`."""
        return "heldout" if any(g.is_heldout for g in self.games) else "train"

    # --- serialization -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "games":
                value = [g.to_dict() for g in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @cached_property  # frozen: the hash never changes, and matchmaking asks for it per seat
    def id(self) -> str:
        """A content hash: equal scenarios have equal ids."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """Build from a dict (as from JSON or YAML); unknown keys and bad values raise ScenarioError."""
        if not isinstance(data, dict):
            raise ScenarioError(f"scenario must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ScenarioError(f"scenario: unknown key {key!r} (known: {sorted(known)})")
        kwargs = dict(data)
        games = kwargs.get("games")
        if not isinstance(games, list) or not games:
            raise ScenarioError(f"scenario.games must be a non-empty list, got {games!r}")
        parsed = []
        for k, g in enumerate(games):
            if not isinstance(g, dict) or set(g) - {"family", "params"} or "family" not in g:
                raise ScenarioError(f"scenario.games[{k}] must be {{family, params}}, got {g!r}")
            family(g["family"], f"scenario.games[{k}].family")
            params = g.get("params")
            if params is not None and not isinstance(params, dict):
                raise ScenarioError(f"scenario.games[{k}].params must be a mapping, got {params!r}")
            parsed.append(StageGame.make(g["family"], params))
        kwargs["games"] = tuple(parsed)
        for key in ("team_sizes", "roles"):
            if key in kwargs:
                if not isinstance(kwargs[key], (list, tuple)):
                    raise ScenarioError(f"scenario.{key} must be a list, got {kwargs[key]!r}")
                kwargs[key] = tuple(kwargs[key])
        if "name" not in kwargs:
            raise ScenarioError("scenario: missing key 'name'")
        if "n_players" not in kwargs:
            raise ScenarioError("scenario: missing key 'n_players'")
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        return cls.from_dict(json.loads(text))


def _unit(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        raise ScenarioError(f"{where} must be a number in [0, 1], got {value!r}")


def classic(name: str, n_players: int | None = None, **overrides: Any) -> Scenario:
    """A named textbook game `family__variant` as a one-shot-per-step repeated scenario.

    With no overrides it is the plain repeated game: fixed horizon 10, rules visible, no teams.
    """
    fam_name, sep, variant = name.partition("__")
    fam = family(fam_name, "classic")
    if not sep or variant not in fam.classics:
        known = sorted(f"{f.name}__{v}" for f in FAMILIES.values() for v in f.classics)
        raise ScenarioError(f"classic: unknown game {name!r} (known: {known})")
    players = n_players or (4 if variant == "four_player" else 2)
    return Scenario(name=name, n_players=players,
                    games=(StageGame.make(fam_name, fam.classics[variant]),), **overrides)


def classic_names() -> list[str]:
    """Every named classic, `family__variant`."""
    return sorted(f"{f.name}__{v}" for f in FAMILIES.values() for v in f.classics)
