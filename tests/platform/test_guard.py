"""The divergence guard on a real LearnerGroup (no Ray actors): diverged weights are replaced by
the last good ones in the learner, and repeated divergence stops with the learning rate named."""

import numpy as np
import pytest

from socius.platform.training.guard import DivergenceError, DivergenceGuard, unhealthy
from socius.policies.network import NetConfig
from socius.policies.trainer import PPOSettings, build_learner_group, learner_states


def test_unhealthy_names_non_finite_and_exploding_tensors():
    state = {"a": np.ones(3), "b": np.array([1.0, np.nan]), "c": np.array([2e4]),
             "d": np.zeros(0)}
    assert unhealthy(state, 1e4) == ["b", "c"]


def test_diverged_learners_keep_their_last_good_weights_then_the_run_stops():
    config = NetConfig(max_players=2, core="mlp", hidden=8, core_size=8)
    group = build_learner_group(config, PPOSettings(), 1000, module_ids=("m",))
    guard = DivergenceGuard(max_abs_weight=100.0, max_strikes=2, lr=1e6)
    good = learner_states(group, ["m"])
    assert guard.check(group, good) is good  # healthy: published as they are
    bad = {"m": {k: v * 1e6 for k, v in good["m"].items()}}
    published = guard.check(group, bad)
    for key, value in good["m"].items():
        np.testing.assert_array_equal(published["m"][key], value)
        np.testing.assert_array_equal(learner_states(group, ["m"])["m"][key], value)
    assert guard.strikes == 1 and guard.skipped == 1
    assert guard.check(group, good) is good  # a healthy round between does not clear it
    with pytest.raises(DivergenceError, match=r"in 2 of the last 4 rounds.*lower the learning "
                                              r"rate \(lr=1000000.0\)"):
        guard.check(group, bad)
    group.shutdown()
