"""Scenarios as RLlib `MultiAgentEnv`s, for RLlib's own runners (the measured baseline path).

It lives here rather than in `socius.envs` because that layer must not import ray.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.env.multi_agent_env import MultiAgentEnv

from socius.envs import Scenario, SociusParallelEnv


class SociusMultiAgentEnv(MultiAgentEnv):
    """One scenario through the PettingZoo view. `config["scenario"]` is a Scenario, its dict or
    its JSON; `config["max_players"]` sets the observation width (default 8)."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        config = dict(config or {})
        scenario = config.pop("scenario", None)
        if isinstance(scenario, str):
            scenario = Scenario.from_json(scenario)
        elif isinstance(scenario, dict):
            scenario = Scenario.from_dict(scenario)
        if not isinstance(scenario, Scenario):
            raise ValueError("SociusMultiAgentEnv needs config['scenario'] (a Scenario, dict or "
                             f"JSON), got {scenario!r}")
        self.env = SociusParallelEnv(scenario, **config)
        self.possible_agents = list(self.env.possible_agents)
        self.agents = list(self.possible_agents)
        self.observation_spaces = {a: self.env.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: self.env.action_space(a) for a in self.possible_agents}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, action_dict: dict[str, Any]):
        observations, rewards, terminated, truncated, infos = self.env.step(action_dict)
        terminated["__all__"] = all(terminated.values())
        truncated["__all__"] = all(truncated.values())
        # RLlib keeps every agent listed through the final step; "__all__" marks the end.
        return observations, rewards, terminated, truncated, infos
