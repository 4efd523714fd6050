"""League configuration: pydantic models that reject unknown keys, loaded from YAML, with
dotted `--set key=value` overrides and named profiles (`smoke`, `default`).

Bad configuration fails here, before any actor starts, with a message naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socius.envs.families import FAMILIES, MAX_PLAYERS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationConfig(Strict):
    """One population and how many members of each role it starts with."""

    name: str
    main: int = Field(1, ge=0, description="main agents")
    main_exploiter: int = Field(0, ge=0, description="main exploiters")
    league_exploiter: int = Field(0, ge=0, description="league exploiters")


class ScenarioConfig(Strict):
    """Where the league's scenarios come from: a sample of the space's `train` split."""

    split: Literal["train", "all"] = "train"
    families: list[str] | None = Field(None, description="None: every family of the split")
    count: int = Field(32, ge=1, description="scenarios sampled for the curriculum")
    min_players: int = Field(2, ge=2, le=MAX_PLAYERS)
    max_players: int = Field(4, ge=2, le=MAX_PLAYERS)
    p_fixed_horizon: float = Field(0.5, ge=0, le=1)
    horizon_range: tuple[int, int] = (5, 40)
    continuation_range: tuple[float, float] = (0.8, 0.97)
    max_steps: int = Field(200, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> ScenarioConfig:
        if self.min_players > self.max_players:
            raise ValueError(f"min_players ({self.min_players}) > max_players ({self.max_players})")
        for name in self.families or []:
            if name not in FAMILIES:
                raise ValueError(f"unknown family {name!r} (known: {sorted(FAMILIES)})")
        return self


class LeagueConfig(Strict):
    """A whole league run."""

    name: str = "league"
    seed: int = 0
    generations: int = Field(5, ge=1)
    rounds_per_generation: int = Field(4, ge=1, description="sample/learn rounds per generation")
    tickets_per_round: int = Field(64, ge=1, description="matches each runner plays per round")
    steps_per_round: int = Field(16, ge=1, description="steps of every match per round")
    runners: int = Field(1, ge=1)
    populations: list[PopulationConfig] = Field(
        default_factory=lambda: [PopulationConfig(name="red"), PopulationConfig(name="blue")])
    scripted: list[str] = Field(default_factory=lambda: ["tit_for_tat", "always_defect"],
                                description="scripted background population")
    scenarios: ScenarioConfig = Field(default_factory=ScenarioConfig)
    core: Literal["gru", "mlp"] = "gru"
    lr: float = Field(1e-3, gt=0)
    epochs: int = Field(4, ge=1)
    minibatches: int = Field(4, ge=1)
    snapshot_every_steps: int = Field(10_000, ge=1)
    pfsp_weighting: Literal["squared", "variance", "linear", "linear_capped"] = "squared"

    @model_validator(mode="after")
    def _check(self) -> LeagueConfig:
        names = [p.name for p in self.populations]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"populations need distinct names, got {names}")
        if not any(p.main + p.main_exploiter + p.league_exploiter for p in self.populations):
            raise ValueError("the league needs at least one member")
        return self


PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"generations": 2, "rounds_per_generation": 2, "tickets_per_round": 16,
              "steps_per_round": 8, "core": "mlp", "snapshot_every_steps": 200,
              "scenarios": {"count": 4, "families": ["prisoners_dilemma", "public_goods"],
                            "max_players": 2, "p_fixed_horizon": 1.0, "horizon_range": [4, 8]}},
    "default": {},
}


class ConfigError(ValueError):
    """A league config is invalid; the message names the key."""


def _set_dotted(data: dict[str, Any], dotted: str) -> None:
    key, sep, raw = dotted.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {dotted!r}")
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                profile: str | None = None) -> LeagueConfig:
    """Profile, then the YAML file, then `--set` overrides; one ConfigError names what is wrong."""
    data: dict[str, Any] = {}
    if profile is not None:
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r} (known: {sorted(PROFILES)})")
        data = yaml.safe_load(yaml.safe_dump(PROFILES[profile]))
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc})") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config must be a mapping")
        data.update(loaded)
    for dotted in overrides or []:
        _set_dotted(data, dotted)
    try:
        return LeagueConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
                             for e in exc.errors())
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}invalid league config: {problems}") from None
