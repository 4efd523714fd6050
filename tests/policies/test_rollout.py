"""Sampling into training batches: GAE, recurrent chunks and masks, checked against references."""

import numpy as np
import pytest
import torch

from socius.envs import BatchedEngine, classic
from socius.policies.network import NetConfig, SociusNet
from socius.policies.rollout import RolloutCollector, RolloutSettings, gae, sample_actions
from socius.policies.scripted import make_partner


def reference_gae(rewards, values, dones, last, gamma, lam):
    """Per stream, one step at a time."""
    t_len, k = rewards.shape
    out = np.zeros((t_len, k))
    for j in range(k):
        running, next_value = 0.0, last[j]
        for t in reversed(range(t_len)):
            alive = 0.0 if dones[t, j] else 1.0
            delta = rewards[t, j] + gamma * alive * next_value - values[t, j]
            running = delta + gamma * lam * alive * running
            out[t, j] = running
            next_value = values[t, j]
    return out


def test_gae_matches_the_reference():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(40, 7)), rng.normal(size=(40, 7))
    dones, last = rng.random((40, 7)) < 0.1, rng.normal(size=7)
    np.testing.assert_allclose(gae(rewards, values, dones, last, 0.99, 0.95),
                               reference_gae(rewards, values, dones, last, 0.99, 0.95), atol=1e-5)


def collector(core, instances=16, explore=0.3, seed=0):
    torch.manual_seed(seed)
    scenario = classic("prisoners_dilemma__textbook", horizon=None, continuation=0.8)
    engine = BatchedEngine([scenario], np.zeros(instances, np.intp), max_players=8)
    b = np.arange(instances)
    seat_policy = np.full((8, instances), -1)
    seat_policy[0, b], seat_policy[1, b] = 0, 1
    net = SociusNet(NetConfig(core=core)).eval()
    settings = RolloutSettings(explore_prob=explore, max_seq_len=8)
    return net, RolloutCollector(engine, [net, make_partner("tit_for_tat")], seat_policy,
                                 seat_policy == 0, settings, seed)


def test_flat_batch_masks_and_targets():
    net, col = collector("mlp")
    batch = col.collect(30)[0]
    c = batch.columns
    assert batch.agent_steps == 30 * 16 and len(c["obs"]) == 30 * 16
    assert c["loss_mask"].dtype == bool and 0 < c["loss_mask"].mean() < 1  # explored rows out
    assert c["tom_mask"].all()
    # theory-of-mind targets: the partner's action in seat 1, -1 for the observer and absent seats
    assert set(np.unique(c["tom_actions"][:, 1])) <= {0, 1}
    assert (c["tom_actions"][:, 0] == -1).all() and (c["tom_actions"][:, 2:] == -1).all()
    assert (c["tom_moves"] == -1).all()  # no coalition moves in this scenario
    assert np.isfinite(c["advantages"]).all() and np.isfinite(c["value_targets"]).all()
    assert set(np.unique(c["actions"][:, 0])) <= {0, 1} and (c["actions"][:, 1] == 0).all()


def test_recurrent_chunks_start_at_episode_starts_and_replay_exactly():
    net, col = collector("gru")
    batch = col.collect(40)[0]
    c = batch.columns
    seq_lens, valid = c["seq_lens"], c["tom_mask"]
    assert seq_lens.sum() == batch.agent_steps == 40 * 16 and seq_lens.max() <= 8
    assert (valid.sum(1) == seq_lens).all() and (c["loss_mask"] <= valid).all()
    # every chunk's first observation is an episode start or continues from its state_in
    # replaying each chunk from its state_in reproduces the logits recorded while sampling
    with torch.no_grad():
        out = net(torch.from_numpy(c["obs"]), torch.from_numpy(c["state_in"]))
    logits = torch.cat([out["action_logits"], out["team_logits"]], -1).numpy()
    np.testing.assert_allclose(logits[valid], c["action_dist_inputs"][valid], atol=1e-5)


@pytest.mark.parametrize("core", ["gru", "mlp"])
def test_rllib_learner_sees_the_sampled_distribution(core):
    """Through RLlib's batch handling, the Learner's forward reproduces the rollout logits."""
    pytest.importorskip("ray.rllib")
    from ray.rllib.core.columns import Columns

    from socius.policies.rl_module import module_spec
    from socius.policies.trainer import to_multi_agent_batch

    net, col = collector(core)
    batch = col.collect(24)[0]
    module = module_spec(net.config).build()
    module.net.load_state_dict(net.state_dict())
    sample = to_multi_agent_batch({"learner": batch}, 8).policy_batches["learner"]
    inputs = {Columns.OBS: sample["obs"]}
    if core == "gru":
        inputs[Columns.STATE_IN] = sample["state_in"]
    with torch.no_grad():
        out = module.forward_train(inputs)
    mask = sample["tom_mask"].bool()
    np.testing.assert_allclose(out[Columns.ACTION_DIST_INPUTS][mask].numpy(),
                               sample["action_dist_inputs"][mask].numpy(), atol=1e-5)


def test_betrayals_count_defections_right_after_all_round_cooperation():
    torch.manual_seed(3)
    scenario = classic("prisoners_dilemma__textbook", horizon=None, continuation=0.9)
    engine = BatchedEngine([scenario], np.zeros(32, np.intp), max_players=8)
    seat_policy = np.full((8, 32), -1)
    seat_policy[0], seat_policy[1] = 0, 1
    partners = [make_partner("fixed_mixed", probs=[0.7, 0.3]), make_partner("tit_for_tat")]
    run = RolloutCollector(engine, partners, seat_policy, seat_policy < -1, RolloutSettings(),
                           seed=0, log_steps=True)
    run.collect(64)
    cooperative = int(engine.catalog.game_cooperative_action[0])
    actions, episodes = run.step_log["action"], run.step_log["episode"]  # [T, M, B], [T, B]
    expected: dict[tuple[int, int], int] = {}
    for b in range(32):
        mutual, current = False, None
        for t in range(actions.shape[0]):
            if episodes[t, b] != current:
                mutual, current = False, episodes[t, b]
            coop = actions[t, :2, b] == cooperative
            key = (b, int(episodes[t, b]))
            expected[key] = expected.get(key, 0) + (int((~coop).sum()) if mutual else 0)
            mutual = bool(coop.all())
    finished = run.book.finished
    assert len(finished) > 50
    assert [e.betrayals for e in finished] == [expected[(e.instance, e.episode)]
                                               for e in finished]
    assert sum(e.betrayals for e in finished) > 0


def test_sampling_follows_the_policy_and_explores_uniformly_over_valid_choices():
    n = 200_000
    probs = np.array([0.5, 0.3, 0.2, 0, 0, 0])  # three valid actions, as masked logits give
    action_logits = torch.log(torch.tensor(probs, dtype=torch.float32)).clamp(min=-1e9)
    team_logits = torch.tensor([0.0, np.log(3.0)] + [-1e9] * 8, dtype=torch.float32)
    out = {"action_logits": action_logits.expand(n, 6).clone(),
           "team_logits": team_logits.expand(n, 10).clone()}
    explore = torch.from_numpy(np.arange(n) % 4 == 0)  # a quarter of the rows explore
    act, move, logp = (x.numpy() for x in sample_actions(out, explore,
                                                          torch.Generator().manual_seed(0)))
    policy, explored = np.arange(n) % 4 != 0, np.arange(n) % 4 == 0
    assert set(np.unique(act)) == {0, 1, 2} and set(np.unique(move)) == {0, 1}  # never masked
    np.testing.assert_allclose(np.bincount(act[policy], minlength=6) / policy.sum(), probs,
                               atol=0.006)
    np.testing.assert_allclose(np.bincount(move[policy]) / policy.sum(), [0.25, 0.75], atol=0.006)
    np.testing.assert_allclose(np.bincount(act[explored]) / explored.sum(), [1 / 3] * 3,
                               atol=0.008)
    np.testing.assert_allclose(np.bincount(move[explored]) / explored.sum(), [0.5, 0.5],
                               atol=0.008)
    # log-probs are the policy's, also on exploring rows (they are masked out of the loss)
    expected = np.log(probs[act]) + np.log(np.array([0.25, 0.75])[move])
    np.testing.assert_allclose(logp, expected, atol=1e-5)


def test_collector_inputs_of_the_wrong_shape_are_refused_naming_them():
    scenario = classic("prisoners_dilemma__textbook", horizon=4)
    engine = BatchedEngine([scenario], np.zeros(4, np.intp), max_players=8)
    seat_policy = np.where(engine.present, 0, -1)
    net = SociusNet(NetConfig(core="mlp")).eval()
    with pytest.raises(ValueError, match=r"learn must have shape \(8, 4\).*got \(8, 4\) and "
                                          r"\(2, 4\)"):
        RolloutCollector(engine, [net], seat_policy, np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="4 present seats have no policy"):  # instances 2, 3
        RolloutCollector(engine, [net], np.where(engine.present & (np.arange(4) < 2), 0, -1),
                         engine.present)
