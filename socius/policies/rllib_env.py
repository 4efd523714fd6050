"""Scenarios as RLlib `MultiAgentEnv`s, for RLlib's own runners (the measured baseline path).

It lives here rather than in `socius.envs` because that layer must not import ray. With
`config["flat"] = True` observations and actions take the shapes a `SociusRLModule` reads and
writes (flat float observations; [game action, team move] actions), so RLlib's default
multi-agent runner can drive the same network the Socius loop trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from socius.envs import Scenario, SociusParallelEnv
from socius.policies.network import NetConfig, flat_observation


class SociusMultiAgentEnv(MultiAgentEnv):
    """One scenario through the PettingZoo view. `config["scenario"]` is a Scenario, its dict or
    its JSON; `config["max_players"]` sets the observation width (default 8)."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        config = dict(config or {})
        scenario = config.pop("scenario", None)
        self.flat = bool(config.pop("flat", False))
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
        if self.flat:
            from socius.policies.rl_module import module_spaces
            layout = self.env.engine.layout
            obs_space, act_space = module_spaces(NetConfig(max_players=layout.max_players,
                                                           history=layout.history))
            self.observation_spaces = dict.fromkeys(self.possible_agents, obs_space)
            self.action_spaces = dict.fromkeys(self.possible_agents, act_space)
        else:
            self.observation_spaces = {a: self.env.observation_space(a)
                                       for a in self.possible_agents}
            self.action_spaces = {a: self.env.action_space(a) for a in self.possible_agents}

    def _out(self, observations: dict) -> dict:
        if not self.flat:
            return observations
        return {a: flat_observation(o["tokens"], o["rules"]) for a, o in observations.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._out(observations), infos

    def step(self, action_dict: dict[str, Any]):
        if self.flat:  # [game action, team move] in the module's space -> the env's own shape
            sc = self.env.scenario
            # The module masks invalid choices; samples of the whole space (RLlib's env check)
            # are folded into the valid range.
            action_dict = {
                a: (np.array([v[0] % sc.n_actions, v[1] % (sc.n_players + 2)])
                    if sc.coalition_moves else int(v[0]) % sc.n_actions)
                for a, v in ((a, np.asarray(v)) for a, v in action_dict.items())}
        observations, rewards, terminated, truncated, infos = self.env.step(action_dict)
        terminated["__all__"] = all(terminated.values())
        truncated["__all__"] = all(truncated.values())
        # RLlib keeps every agent listed through the final step; "__all__" marks the end.
        return self._out(observations), rewards, terminated, truncated, infos
