"""Scripted partners behave as their definitions say, in 2- and N-player games."""

import numpy as np
import pytest

from socius.envs import SociusParallelEnv, classic
from socius.policies.scripted import PARTNERS, make_partner


def play(partner, opponent_actions, n_players=2, seat=0, game="prisoners_dilemma__textbook"):
    """The partner plays `seat`; the other seats play the scripted sequences given."""
    env = SociusParallelEnv(classic(game, n_players=n_players, horizon=len(opponent_actions)))
    obs, _ = env.reset(seed=0)
    partner.reset()
    mine = []
    for others in opponent_actions:
        others = list(others) if isinstance(others, (list, tuple)) else [others]
        action = partner.act(obs[f"player_{seat}"])
        mine.append(action)
        joint = others[:seat] + [action] + others[seat:]
        obs, *_ = env.step({a: joint[i] for i, a in enumerate(env.possible_agents)})
    return mine


def test_always_cooperate_and_always_defect():
    assert play(make_partner("always_cooperate"), [1, 1, 0]) == [0, 0, 0]
    assert play(make_partner("always_defect"), [0, 0, 0]) == [1, 1, 1]


def test_tit_for_tat_copies_the_partner():
    assert play(make_partner("tit_for_tat"), [1, 0, 1, 1, 0]) == [0, 1, 0, 1, 1]
    assert play(make_partner("tit_for_tat"), [0, 0, 1], seat=1) == [0, 0, 0]


def test_tit_for_tat_n_player_threshold():
    others = [[0, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert play(make_partner("tit_for_tat", threshold=0.5), others, n_players=4) == [0, 0, 1, 1, 0]
    assert play(make_partner("tit_for_tat", threshold=1.0), others, n_players=4) == [0, 1, 1, 1, 0]


def test_grim_trigger_never_forgives():
    assert play(make_partner("grim_trigger"), [0, 0, 1, 0, 0, 0]) == [0, 0, 0, 1, 1, 1]


def test_grim_trigger_forgets_between_episodes():
    partner = make_partner("grim_trigger")
    assert play(partner, [1, 0, 0]) == [0, 1, 1]
    assert play(partner, [0, 0, 0]) == [0, 0, 0]


def test_win_stay_lose_shift():
    # win (partner cooperated): repeat; loss (partner defected): switch
    assert play(make_partner("win_stay_lose_shift"), [0, 1, 1, 0, 0]) == [0, 0, 1, 0, 0]


def test_fixed_mixed_frequencies():
    partner = make_partner("fixed_mixed", probs=[0.5, 0.25, 0.25], seed=3)
    rows = np.zeros((20000, partner.layout.size), np.uint8)
    rows[:, partner.layout.n_actions] = 3
    actions = partner.act_rows(rows, partner.new_state(20000), np.random.default_rng(0).random(20000))
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / 20000, [0.5, 0.25, 0.25],
                               atol=0.015)
    with pytest.raises(ValueError, match="probability"):
        make_partner("fixed_mixed", probs=[0.5, 0.6])


def test_biased_random_keeps_one_favourite_per_episode():
    """Each episode draws a favourite (uniformly) and plays it with probability `bias`."""
    partner = make_partner("biased_random", bias=0.8)
    favourites = []
    for episode in range(60):
        env = SociusParallelEnv(classic("rock_paper_scissors__textbook", horizon=40))
        obs, _ = env.reset(seed=episode)
        partner.reset()
        partner._rng = np.random.default_rng(episode)
        actions = []
        for _ in range(40):
            actions.append(partner.act(obs["player_0"]))
            obs, *_ = env.step({"player_0": actions[-1], "player_1": 0})
        counts = np.bincount(actions, minlength=3)
        favourite = int(np.argmax(counts))
        assert counts[favourite] / 40 >= 0.6  # 0.8 + 0.2/3 expected
        assert actions[0] == favourite
        favourites.append(favourite)
    assert set(favourites) == {0, 1, 2}  # drawn anew each episode
    assert partner.supports(classic("rock_paper_scissors__textbook"))
    with pytest.raises(ValueError, match="bias"):
        make_partner("biased_random", bias=1.5)


def test_uniform_random_stays_in_range():
    partner = make_partner("uniform_random")
    rows = np.zeros((3000, partner.layout.size), np.uint8)
    rows[:, partner.layout.n_actions] = 3
    actions = partner.act_rows(rows, partner.new_state(3000), np.random.default_rng(0).random(3000))
    assert set(np.unique(actions)) == {0, 1, 2}


def test_support_follows_the_game():
    pd, rps = classic("prisoners_dilemma__textbook"), classic("rock_paper_scissors__textbook")
    assert make_partner("tit_for_tat").supports(pd) and not make_partner("tit_for_tat").supports(rps)
    assert make_partner("fixed_mixed", probs=[0.5, 0.25, 0.25]).supports(rps)
    assert make_partner("uniform_random").supports(rps)
    with pytest.raises(ValueError, match="unknown scripted partner"):
        make_partner("saint")
    assert set(PARTNERS) >= {"always_cooperate", "always_defect", "tit_for_tat", "grim_trigger",
                             "win_stay_lose_shift", "fixed_mixed", "uniform_random"}


def test_play_against_refuses_a_partner_reading_another_layout():
    from socius.policies.evaluate import play_against
    from socius.policies.network import NetConfig, SociusNet

    net = SociusNet(NetConfig(max_players=2, core="mlp")).eval()
    pd = classic("prisoners_dilemma__textbook", horizon=3)
    with pytest.raises(ValueError, match="partner reads observations of 8 seats, the net of 2"):
        play_against(net, pd, make_partner("tit_for_tat"), 4, seed=0)
    result = play_against(net, pd, make_partner("tit_for_tat", layout=net.config.layout), 4,
                          seed=0)
    assert result.steps == 12


def _pd_play(name, opponent_moves, draws=None, **kwargs):
    """The strategy's moves against a fixed sequence of opponent moves in the textbook
    prisoner's dilemma, through the PettingZoo view (one seat, one game)."""
    env_scenario = classic("prisoners_dilemma__textbook", horizon=len(opponent_moves))
    from socius.envs import make_env

    env = make_env(env_scenario)
    obs, _ = env.reset(seed=0)
    partner = make_partner(name, **kwargs)
    partner._rng = np.random.default_rng(0) if draws is None else draws
    moves = []
    for theirs in opponent_moves:
        mine = partner.act(obs["player_0"])
        moves.append(mine)
        obs, *_ = env.step({"player_0": mine, "player_1": theirs})
    return moves


def test_the_zoo_strategies_play_as_their_docstrings_say():
    c, d = 0, 1
    assert _pd_play("suspicious_tit_for_tat", [c, c, d, c]) == [d, c, c, d]
    assert _pd_play("alternator", [c, d, c, d, d]) == [c, d, c, d, c]
    # generous tit-for-tat forgives a defection about a third of the time
    forgave = [_pd_play("generous_tit_for_tat", [d, d], np.random.default_rng(k))[1] == c
               for k in range(300)]
    assert 0.25 < np.mean(forgave) < 0.42
    assert _pd_play("generous_tit_for_tat", [c, c, c]) == [c, c, c]
    # tit-for-tat with a trembling hand: 5% of moves flipped
    noisy = np.array([_pd_play("tit_for_tat_noisy", [c] * 20, np.random.default_rng(k))
                      for k in range(50)])
    assert 0.02 < noisy.mean() < 0.09
    coin = np.array([_pd_play("random_cooperator", [c] * 20, np.random.default_rng(k), p=0.8)
                     for k in range(30)])
    assert 0.12 < coin.mean() < 0.28  # defects 1 - p of the time


def test_extortion_cooperates_with_the_press_dyson_probabilities():
    c, d = 0, 1
    expected = {(c, c): 11 / 13, (c, d): 1 / 2, (d, c): 7 / 26, (d, d): 0.0}
    partner = make_partner("extortion")
    n = 20000
    for (own, other), p in expected.items():
        first = np.zeros(n, bool)
        coop = np.full(n, 1.0 if other == c else 0.0)
        own_last = np.full(n, own)
        uniform = np.random.default_rng(1).random(n)
        actions = partner._act(first, coop, own_last, partner.new_state(n), uniform,
                               np.full(n, 2))
        assert np.mean(actions == c) == pytest.approx(p, abs=0.01), (own, other)
    assert _pd_play("extortion", [c]) == [c]  # it opens with cooperation
