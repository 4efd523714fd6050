"""Care-weighted training rewards, against hand computation."""

import numpy as np
import pytest

from socius.policies.care import care_weighted_rewards


def test_care_adds_mean_teammate_and_mean_outsider_rewards():
    # one 4-player match: teams {0, 1} and {2, 3}; one 3-player match: teams {0}, {1, 2}
    rewards = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 30.0], [7.0, 99.0]])
    teams = np.array([[0, 0], [0, 1], [1, 1], [1, 2]])
    present = np.array([[True, True], [True, True], [True, True], [True, False]])
    care_team = np.full((4, 2), 0.5)
    care_others = np.full((4, 2), 0.25)
    out = care_weighted_rewards(rewards, teams, present, care_team, care_others)
    assert out[0, 0] == pytest.approx(1 + 0.5 * 3 + 0.25 * (5 + 7) / 2)
    assert out[3, 0] == pytest.approx(7 + 0.5 * 5 + 0.25 * (1 + 3) / 2)
    assert out[0, 1] == pytest.approx(10 + 0 + 0.25 * (20 + 30) / 2)  # alone on its team
    assert out[1, 1] == pytest.approx(20 + 0.5 * 30 + 0.25 * 10)
    assert out[3, 1] == 0.0  # an absent seat; its 99 counts for nobody


def test_zero_care_is_the_own_reward_and_full_care_values_everyone():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(3, 5))
    teams = np.zeros((3, 5), int)
    present = np.ones((3, 5), bool)
    zero = np.zeros((3, 5))
    np.testing.assert_allclose(care_weighted_rewards(rewards, teams, present, zero, zero), rewards)
    # everyone on one team, care 1: own + mean of the two others
    out = care_weighted_rewards(rewards, teams, present, np.ones((3, 5)), zero)
    np.testing.assert_allclose(out, rewards + (rewards.sum(0) - rewards) / 2)


def test_the_collector_trains_on_care_weighted_rewards():
    """A learner caring fully for others trains on its reward plus its partner's."""
    import torch

    from socius.envs import BatchedEngine, classic
    from socius.policies.network import NetConfig, SociusNet
    from socius.policies.rollout import RolloutCollector
    from socius.policies.scripted import make_partner

    torch.manual_seed(0)
    pd = classic("prisoners_dilemma__textbook", horizon=5)
    b = 32
    engine = BatchedEngine([pd], np.zeros(b, np.intp), max_players=2)
    net = SociusNet(NetConfig(max_players=2, core="mlp"))
    seat_policy = np.stack([np.zeros(b, int), np.ones(b, int)])
    learn = np.stack([np.ones(b, bool), np.zeros(b, bool)])
    partner = make_partner("always_cooperate", layout=engine.layout)
    collector = RolloutCollector(engine, [net, partner], seat_policy, learn, seed=0,
                                 log_steps=True)
    collector.care[0] = (0.0, 1.0)
    batch = collector.collect(10)[0]
    rewards = collector.step_log["reward"]  # [T, M, B]: the game's own rewards
    expected = (rewards[:, 0] + rewards[:, 1]).mean()
    assert batch.stats["reward_mean"] == pytest.approx(expected, rel=1e-5)
    assert rewards[:, 0].mean() < expected  # the partner's reward really was added


def test_care_on_torch_tensors_equals_numpy():
    import torch

    rng = np.random.default_rng(5)
    rewards = rng.normal(size=(4, 50)).astype(np.float32)
    teams = rng.integers(0, 3, (4, 50)).astype(np.int8)
    present = rng.random((4, 50)) < 0.8
    care_team, care_others = rng.random((4, 50)), rng.random((4, 50))
    expected = care_weighted_rewards(rewards, teams, present, care_team, care_others)
    got = care_weighted_rewards(*(torch.from_numpy(a) for a in (rewards, teams, present)),
                                torch.from_numpy(care_team).float(),
                                torch.from_numpy(care_others).float())
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
