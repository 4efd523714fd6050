"""External PettingZoo environments as scenario families, and `make_env` for any scenario.

An external family is a name and a factory that builds a PettingZoo `ParallelEnv` from keyword
arguments. Its scenarios (`ExternalScenario`) are plain data like `Scenario` (JSON, content id),
but they run in their own env: the batched engine only runs Socius's own game families.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pettingzoo import ParallelEnv

from socius.envs.families import ScenarioError
from socius.envs.parallel_env import SociusParallelEnv
from socius.envs.scenario import Scenario

_EXTERNAL: dict[str, Callable[..., ParallelEnv]] = {}


def register_external(name: str, factory: Callable[..., ParallelEnv] | str) -> None:
    """Register `factory` (a callable, or "module:attribute") as the external family `name`."""
    if not name or "__" in name:
        raise ScenarioError(f"external family name must be non-empty without '__', got {name!r}")
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ScenarioError(f"external family {name!r}: cannot import {module}:{attr} "
                                f"({exc})") from exc
    if not callable(factory):
        raise ScenarioError(f"external family {name!r}: factory {factory!r} is not callable")
    _EXTERNAL[name] = factory


def external_families() -> list[str]:
    return sorted(_EXTERNAL)


@dataclass(frozen=True)
class ExternalScenario:
    """A scenario of a registered external family: its name and its factory's keyword arguments."""

    family: str
    kwargs: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.family not in _EXTERNAL:
            raise ScenarioError(f"scenario.family: unknown external family {self.family!r} "
                                f"(registered: {external_families()})")
        object.__setattr__(self, "kwargs", tuple(sorted(dict(self.kwargs).items())))

    @property
    def name(self) -> str:
        return f"{self.family}__external"

    def to_json(self) -> str:
        return json.dumps({"external": self.family, "kwargs": dict(self.kwargs)}, sort_keys=True)

    @property
    def id(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def make_env(scenario: Scenario | ExternalScenario, **options: Any) -> ParallelEnv:
    """A PettingZoo ParallelEnv for any scenario, Socius's own or external."""
    if isinstance(scenario, ExternalScenario):
        return _EXTERNAL[scenario.family](**dict(scenario.kwargs), **options)
    if isinstance(scenario, Scenario):
        return SociusParallelEnv(scenario, **options)
    raise ScenarioError(f"make_env needs a Scenario or ExternalScenario, got {type(scenario).__name__}")
