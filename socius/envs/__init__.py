"""The scenario space: stage-game families, scenarios, the batched engine and its env views.

Imports numpy, gymnasium and pettingzoo only (no torch, no ray): a test enforces it.
"""

from socius.envs.encoding import OBS_VERSION, RULE_FEATURES, ObsLayout
from socius.envs.engine import BatchedEngine, StepBuffers
from socius.envs.external import ExternalScenario, make_env, register_external
from socius.envs.families import FAMILIES, HELDOUT_FAMILIES, MAX_ACTIONS, MAX_PLAYERS, ScenarioError
from socius.envs.parallel_env import SociusParallelEnv
from socius.envs.scenario import Scenario, StageGame, classic, classic_names
from socius.envs.space import SPLITS, SPLITS_VERSION, ScenarioSpace

__all__ = [
    "FAMILIES", "HELDOUT_FAMILIES", "MAX_ACTIONS", "MAX_PLAYERS", "OBS_VERSION", "RULE_FEATURES",
    "BatchedEngine", "ObsLayout", "Scenario", "ScenarioError", "StageGame", "StepBuffers",
    "ExternalScenario", "SPLITS", "SPLITS_VERSION", "ScenarioSpace", "SociusParallelEnv",
    "classic", "classic_names", "make_env", "register_external",
]
