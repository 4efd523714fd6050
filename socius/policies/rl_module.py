"""`SociusNet` as an RLlib RLModule, and loading a socius checkpoint as one.

The action distribution is a multi-categorical over (game action, team move); invalid choices
are masked inside the network, so one module serves every scenario. `Columns.EMBEDDINGS`
carries the core's output, from which `compute_values` reads the value without a second pass.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchMultiCategorical
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule

from socius.envs.families import MAX_ACTIONS
from socius.policies.checkpoint import load_module
from socius.policies.network import NetConfig, SociusNet


def module_spaces(config: NetConfig) -> tuple[spaces.Box, spaces.MultiDiscrete]:
    """The (observation, action) spaces of a module: flat observations, (action, team move)."""
    obs = spaces.Box(-16.0, 255.0, (config.obs_size,), np.float32)  # tokens, rule features
    return obs, spaces.MultiDiscrete([MAX_ACTIONS, config.team_moves])


def module_spec(config: NetConfig) -> RLModuleSpec:
    obs, act = module_spaces(config)
    return RLModuleSpec(module_class=SociusRLModule, observation_space=obs, action_space=act,
                        model_config={"net": config.to_dict()})


class SociusRLModule(TorchRLModule, ValueFunctionAPI):
    """RLlib wrapper of one SociusNet (`model_config["net"]` holds its NetConfig fields)."""

    def setup(self) -> None:
        self.net_config = NetConfig(**self.model_config.get("net", {}))
        self.net = SociusNet(self.net_config)
        self.action_dist_cls = TorchMultiCategorical.get_partial_dist_cls(
            input_lens=[MAX_ACTIONS, self.net_config.team_moves])

    def get_initial_state(self) -> dict[str, np.ndarray]:
        if not self.net.recurrent:
            return {}
        return {"h": np.zeros(self.net_config.core_size, np.float32)}

    def _run(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        state = batch.get(Columns.STATE_IN, {}).get("h") if self.net.recurrent else None
        return self.net(batch[Columns.OBS], state)

    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        out = self._run(batch)
        result = {Columns.ACTION_DIST_INPUTS: torch.cat([out["action_logits"],
                                                         out["team_logits"]], -1)}
        if self.net.recurrent:
            result[Columns.STATE_OUT] = {"h": out["state"]}
        return result

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        out = self._run(batch)
        result = {
            Columns.ACTION_DIST_INPUTS: torch.cat([out["action_logits"], out["team_logits"]], -1),
            Columns.EMBEDDINGS: out["features"],
            "tom_action_logits": out["tom_action_logits"],
            "tom_team_logits": out["tom_team_logits"],
        }
        if self.net.recurrent:
            result[Columns.STATE_OUT] = {"h": out["state"]}
        return result

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self._run(batch)["features"]
        return self.net.value_head(embeddings).squeeze(-1)


def load_rl_module(path: str | os.PathLike) -> SociusRLModule:
    """A socius checkpoint as an RLlib RLModule (weights copied in; no RLlib checkpoint read)."""
    net = load_module(path)
    module = module_spec(net.config).build()
    module.net.load_state_dict(net.state_dict())
    return module
