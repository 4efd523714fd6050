"""PettingZoo's own API test on sampled scenarios, on every named classic, and on an external env."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from socius.envs import (
    FAMILIES,
    BatchedEngine,
    ExternalScenario,
    ScenarioError,
    ScenarioSpace,
    classic,
    classic_names,
    make_env,
    register_external,
)

SPACE = ScenarioSpace(split="all", p_teams=0.8, p_rule_changes=0.6, p_coalition=0.5,
                      horizon_range=(5, 30), max_steps=60)
SCENARIOS = [SPACE.sample(seed) for seed in range(240)]


def test_sampled_scenarios_cover_every_family_and_event_kind():
    families = {f for s in SCENARIOS for f in s.families}
    assert families == {n for n, f in FAMILIES.items() if f.sampled}
    assert sum(s.p_reteam > 0 for s in SCENARIOS) >= 50
    assert sum(s.coalition_moves for s in SCENARIOS) >= 30
    assert sum(s.p_rule_change > 0 for s in SCENARIOS) >= 50


@pytest.mark.parametrize("index", range(len(SCENARIOS)))
def test_parallel_api_on_sampled_scenario(index):
    parallel_api_test(make_env(SCENARIOS[index]), num_cycles=60)


@pytest.mark.parametrize("name", classic_names())
def test_parallel_api_on_named_classic(name):
    parallel_api_test(make_env(classic(name)), num_cycles=30)


def test_external_pettingzoo_env_registers_as_a_family():
    pytest.importorskip("mpe2")
    register_external("simple_spread", "mpe2.simple_spread_v3:parallel_env")
    scenario = ExternalScenario("simple_spread", {"N": 3, "max_cycles": 25})
    assert scenario.id == ExternalScenario("simple_spread", {"max_cycles": 25, "N": 3}).id
    env = make_env(scenario)
    parallel_api_test(env, num_cycles=30)
    with pytest.raises(ValueError, match="socius game families only"):
        BatchedEngine([scenario], [0])
    with pytest.raises(ScenarioError, match="unknown external family"):
        ExternalScenario("no_such_env")
    with pytest.raises(ScenarioError, match="cannot import"):
        register_external("broken", "no_such_module:env")


def test_render_ansi_describes_the_step():
    env = make_env(classic("prisoners_dilemma__textbook"), render_mode="ansi")
    env.reset(seed=0)
    env.step({a: 1 for a in env.agents})
    text = env.render()
    assert "prisoners_dilemma__textbook" in text and "[1, 1]" in text
    assert np.isfinite(len(text))
