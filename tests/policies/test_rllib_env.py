"""Scenarios as RLlib MultiAgentEnvs pass RLlib's own environment check."""

import numpy as np
import pytest

from socius.envs import ScenarioSpace, classic

pytest.importorskip("ray.rllib")
from ray.rllib.utils.pre_checks.env import check_multiagent_environments  # noqa: E402

from socius.policies.rllib_env import SociusMultiAgentEnv  # noqa: E402


@pytest.mark.parametrize("seed", range(5))
def test_rllib_env_check_and_episode(seed):
    scenario = ScenarioSpace(p_coalition=1.0, p_teams=1.0, min_players=3).sample(seed)
    env = SociusMultiAgentEnv({"scenario": scenario.to_json()})
    check_multiagent_environments(env)
    obs, infos = env.reset(seed=seed)
    assert set(obs) == set(env.possible_agents)
    for _ in range(scenario.max_steps + 1):
        actions = {a: env.action_spaces[a].sample() for a in env.agents}
        obs, rewards, terminated, truncated, infos = env.step(actions)
        assert all(np.isfinite(r) for r in rewards.values())
        if terminated["__all__"] or truncated["__all__"]:
            break
    assert terminated["__all__"] or truncated["__all__"]


def test_rllib_env_needs_a_scenario():
    with pytest.raises(ValueError, match="scenario"):
        SociusMultiAgentEnv({})
    env = SociusMultiAgentEnv({"scenario": classic("prisoners_dilemma__textbook").to_dict()})
    assert env.possible_agents == ["player_0", "player_1"]
