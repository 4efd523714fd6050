"""The PettingZoo `ParallelEnv` view: one scenario, one instance of the batched engine (B = 1).

It exists for users and tests, not for training throughput: training drives `BatchedEngine`.
Agents are `player_0 .. player_{n-1}`. Observations are ``{"tokens": uint8[L], "rules":
float32[64]}`` (see `socius.envs.encoding`); actions are the game action, or ``[game action, team
move]`` when the scenario allows coalition moves. `infos[agent]` records the teams, the active
game, and every team change and rule change of the step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from socius.envs.encoding import EVENT_COALITION, EVENT_RETEAM, RULE_FEATURES
from socius.envs.engine import BatchedEngine
from socius.envs.families import MAX_PLAYERS
from socius.envs.scenario import Scenario


class SociusParallelEnv(ParallelEnv):
    """A scenario as a PettingZoo parallel environment."""

    metadata = {"name": "socius_v1", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, scenario: Scenario, max_players: int = MAX_PLAYERS,
                 render_mode: str | None = None):
        self.scenario = scenario
        self.render_mode = render_mode
        self.engine = BatchedEngine([scenario], [0], max_players=max_players, autoreset=False)
        self._buffers = self.engine.buffers()
        self.possible_agents = [f"player_{i}" for i in range(scenario.n_players)]
        self.agents: list[str] = []
        layout = self.engine.layout
        self._obs_space = spaces.Dict({
            "tokens": spaces.MultiDiscrete(layout.upper_bounds(), dtype=np.uint8),
            "rules": spaces.Box(-16.0, 16.0, (RULE_FEATURES,), np.float32),
        })
        a = scenario.n_actions
        self._act_space = (spaces.MultiDiscrete([a, scenario.n_players + 2])
                           if scenario.coalition_moves else spaces.Discrete(a))
        self._seed = 0
        self._episode = -1
        self._last: dict[str, Any] = {}

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Episode 0 of `seed`, or the next episode of the current seed when no seed is given."""
        if seed is not None:
            self._seed, self._episode = int(seed), 0
        else:
            self._episode += 1
        self.engine.reset([self._seed], self._buffers, episodes=[self._episode])
        self.agents = list(self.possible_agents)
        return self._observations(), {a: self._info(None, None) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() after the episode ended: call reset() first")
        n, m = self.scenario.n_players, self.engine.max_players
        game_actions = np.zeros((m, 1), np.int64)
        moves = np.zeros((m, 1), np.int64) if self.scenario.coalition_moves else None
        for seat, agent in enumerate(self.possible_agents):
            if agent not in actions:
                raise ValueError(f"missing action for {agent}")
            action = actions[agent]
            if not self._act_space.contains(np.asarray(action, dtype=np.int64)
                                            if moves is not None else int(action)):
                raise ValueError(f"invalid action {action!r} for {agent}: expected {self._act_space}")
            if moves is not None:
                game_actions[seat, 0], moves[seat, 0] = int(action[0]), int(action[1])
            else:
                game_actions[seat, 0] = int(action)
        teams_before = self.engine.teams[:n, 0].copy()
        game_before = int(self.engine.game_slot[0])
        self.engine.step(game_actions, self._buffers, moves)
        buf = self._buffers
        rewards = {a: float(buf.rewards[i, 0]) for i, a in enumerate(self.possible_agents)}
        term, trunc = bool(buf.terminated[0]), bool(buf.truncated[0])
        observations = self._observations()
        info = self._info(teams_before, game_before)
        self._last = {"actions": game_actions[:n, 0].tolist(), "rewards": list(rewards.values())}
        agents = self.agents
        if term or trunc:
            self.agents = []
        return (observations, rewards, {a: term for a in agents}, {a: trunc for a in agents},
                {a: info for a in agents})

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        buf, table = self._buffers, self.engine.rule_table
        return {a: {"tokens": buf.tokens[i, :, 0].copy(), "rules": table[buf.rules_index[i, 0]].copy()}
                for i, a in enumerate(self.possible_agents)}

    def _info(self, teams_before: np.ndarray | None, game_before: int | None) -> dict[str, Any]:
        n = self.scenario.n_players
        teams = self.engine.teams[:n, 0].tolist()
        info: dict[str, Any] = {"teams": teams, "game": int(self.engine.game_slot[0]),
                                "step": int(self.engine.t[0])}
        events = int(self.engine.events[0])
        if teams_before is not None and events & (EVENT_RETEAM | EVENT_COALITION):
            cause = "schedule" if events & EVENT_RETEAM else "coalition"
            info["team_change"] = {"cause": cause, "before": teams_before.tolist(), "after": teams}
        if game_before is not None and self.engine.rule_changed[0]:
            after = int(self.engine.game_slot[0])
            info["rule_change"] = {"before": game_before, "after": after,
                                   "game": self.scenario.games[after].to_dict()}
        return info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return (f"{self.scenario.name} step {int(self.engine.t[0])} teams "
                f"{self.engine.teams[: self.scenario.n_players, 0].tolist()} last {self._last}")

    def close(self) -> None:
        pass
