"""Learning checks through RLlib's Learner (each passed on 5 of 5 seeds locally; see the notes).

Marked slow: they train for real (tens of seconds each on 2 cores)."""

import numpy as np
import pytest
import torch

from socius.envs import BatchedEngine, classic
from socius.policies.evaluate import play_against
from socius.policies.network import NetConfig
from socius.policies.scripted import make_partner

pytest.importorskip("ray.rllib")
from socius.policies.trainer import LocalTrainer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
IPD = classic("prisoners_dilemma__textbook", horizon=None, continuation=0.95)


def two_player_trainer(scenario, partners, core, budget, seed, instances=128):
    """The net in seat 0 of even instances and seat 1 of odd ones; partners[k] in the other
    seat of instances whose (index // 2) % len(partners) == k: an unlabelled mix."""
    torch.set_num_threads(1)
    engine = BatchedEngine([scenario], np.zeros(instances, np.intp), max_players=8)
    b = np.arange(instances)
    seat_policy = np.full((8, instances), -1)
    seat_policy[b % 2, b] = 0
    seat_policy[1 - b % 2, b] = 1 + (b // 2) % len(partners)
    trainer = LocalTrainer(engine, seat_policy, partners, NetConfig(core=core),
                           total_steps=budget, seed=seed)
    trainer.train(budget)
    return trainer


@pytest.mark.parametrize("seed", range(5))
def test_iterated_prisoners_dilemma_reciprocates_and_reads_the_partner(seed):
    trainer = two_player_trainer(IPD, [make_partner("tit_for_tat"), make_partner("always_defect")],
                                 "gru", 150_000, seed)
    net = trainer.net
    with_tft = play_against(net, IPD, make_partner("tit_for_tat"), 200, seed=10_000 + seed)
    with_alld = play_against(net, IPD, make_partner("always_defect"), 200, seed=20_000 + seed)
    assert with_tft.action_freq[0] >= 0.9, with_tft
    assert with_alld.action_freq[1] >= 0.9, with_alld
    # theory of mind: the agent acts at random; the head must still predict tit-for-tat
    random_play = play_against(net, IPD, make_partner("tit_for_tat"), 600, seed=30_000 + seed,
                               net_acts_randomly=True)
    assert random_play.tom_steps >= 10_000
    assert random_play.tom_accuracy >= 0.95, random_play


@pytest.mark.parametrize("seed", range(5))
def test_rock_paper_scissors_best_response_to_a_biased_opponent(seed):
    rps = classic("rock_paper_scissors__textbook", horizon=10)
    probs = np.array([0.5, 0.25, 0.25])
    trainer = two_player_trainer(rps, [make_partner("fixed_mixed", probs=probs.tolist(),
                                                    seed=seed)], "gru", 60_000, seed)
    result = play_against(trainer.net, rps, make_partner("fixed_mixed", probs=probs.tolist()),
                          200, seed=40_000 + seed, partner_probs=probs)
    assert result.expected_payoff >= 0.23, result  # best response (paper) earns 0.25


@pytest.mark.parametrize("seed", range(5))
def test_one_network_trains_on_2_4_and_8_players_at_once(seed):
    torch.set_num_threads(1)
    scenarios = [classic("public_goods__textbook", n_players=n, horizon=10) for n in (2, 4, 8)]
    instances = 48
    which = np.arange(instances) % 3
    engine = BatchedEngine(scenarios, which, max_players=8)
    seat_policy = np.where(engine.present, 0, -1)  # one net in every seat: self-play
    trainer = LocalTrainer(engine, seat_policy, [], NetConfig(core="gru"), total_steps=150_000,
                           seed=seed)
    history = trainer.train(150_000)
    assert all(np.isfinite(h["learner/total_loss"]) for h in history)
    # free-riding dominates in public goods (mpcr 0.75 < 1): self-play learns it at every size
    keep = {}
    for n in (2, 4, 8):
        engine = BatchedEngine([classic("public_goods__textbook", n_players=n, horizon=10)],
                               np.zeros(64, np.intp), max_players=8)
        out = engine.buffers()
        engine.reset(np.arange(64) + 1000 * seed, out)
        rows = out.tokens[:n].transpose(0, 2, 1).reshape(-1, out.tokens.shape[1])
        from socius.policies.network import flat_observation
        obs = flat_observation(rows, engine.rule_table[out.rules_index[:n].ravel()])
        with torch.no_grad():
            probs = torch.softmax(trainer.net(torch.from_numpy(obs))["action_logits"], -1)
        keep[n] = float(probs[:, 1].mean())
    assert all(v >= 0.8 for v in keep.values()), keep
