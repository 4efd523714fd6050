"""Policies: torch networks, scripted partners, the checkpoint format, sampling and evaluation.

Imports `socius.envs`, never `socius.platform` (a test enforces it). Nothing imported here
needs Ray: the RLlib glue lives in `rl_module`, `learner`, `trainer` and `rllib_env`.
"""

from socius.policies.checkpoint import (
    CheckpointError,
    Policy,
    load_module,
    load_policy,
    read_manifest,
    save_checkpoint,
)
from socius.policies.network import NetConfig, SociusNet, flat_observation
from socius.policies.scripted import PARTNERS, ScriptedPartner, make_partner

__all__ = [
    "PARTNERS", "CheckpointError", "NetConfig", "Policy", "ScriptedPartner", "SociusNet",
    "flat_observation", "load_module", "load_policy", "make_partner", "read_manifest",
    "save_checkpoint",
]
