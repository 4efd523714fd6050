"""The batched engine: rewards follow the formulas, runs are reproducible, and B > 1 equals B = 1."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socius.envs import (
    FAMILIES,
    BatchedEngine,
    Scenario,
    ScenarioSpace,
    SociusParallelEnv,
    StageGame,
    classic,
)
from socius.envs.encoding import ObsLayout

# A space with events turned up, so short episodes still see team and rule changes.
EVENTFUL = ScenarioSpace(split="all", p_teams=0.9, p_reteam_range=(0.05, 0.3), p_coalition=0.5,
                         p_rule_changes=0.8, p_rule_change_range=(0.05, 0.3),
                         horizon_range=(3, 12), continuation_range=(0.7, 0.9), max_steps=30)


def random_actions(rng, env):
    acts = {}
    for agent in env.agents:
        space = env.action_space(agent)
        if hasattr(space, "nvec"):
            acts[agent] = np.array([rng.integers(n) for n in space.nvec])
        else:
            acts[agent] = int(rng.integers(space.n))
    return acts


def reference_rewards(scenario, game_slot, teams, stock, actions):
    """Payoffs from the family definitions (not the compiled tables), then team sharing."""
    game = scenario.games[game_slot]
    fam, params = FAMILIES[game.family], game.param_dict
    n, roles = scenario.n_players, scenario.roles
    a = np.asarray(actions)
    payoff = np.zeros(n)
    if fam.shape == "pairwise":
        p = fam.pair_matrix(params)
        for i in range(n):
            payoff[i] = sum(p[roles[i], roles[j], a[i], a[j]] for j in range(n) if j != i) / (n - 1)
    elif fam.shape == "aggregate":
        level, table = fam.aggregate(params, n)
        for i in range(n):
            payoff[i] = table[roles[i], a[i], level[a].sum() - level[a[i]]]
    else:  # common pool: harvest a_i units, rationed when demand exceeds the stock
        demand = a.sum()
        payoff = a * min(1.0, stock / demand) if demand > 0 else np.zeros(n)
    teams = np.asarray(teams)
    team_mean = np.array([payoff[teams == teams[i]].mean() for i in range(n)])
    return (1 - scenario.team_share) * payoff + scenario.team_share * team_mean


def run_episode(scenario, seed, action_seed, check=None):
    env = SociusParallelEnv(scenario)
    rng = np.random.default_rng(action_seed)
    obs, infos = env.reset(seed=seed)
    trajectory = [obs]
    while env.agents:
        acts = random_actions(rng, env)
        state = (int(env.engine.game_slot[0]), env.engine.teams[: scenario.n_players, 0].copy(),
                 float(env.engine.stock[0]))
        obs, rewards, term, trunc, infos = env.step(acts)
        if check:
            check(env, state, acts, obs, rewards, infos)
        trajectory.append((acts, obs, rewards, term, trunc, infos))
    return trajectory


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), action_seed=st.integers(0, 2**32))
def test_observations_in_spaces_and_rewards_equal_shared_payoffs(seed, action_seed):
    scenario = EVENTFUL.sample(seed)

    def check(env, state, acts, obs, rewards, infos):
        game_slot, teams, stock = state
        for agent, o in obs.items():
            assert env.observation_space(agent).contains(o), (agent, o)
        game_actions = [int(np.atleast_1d(acts[a])[0]) for a in env.possible_agents]
        want = reference_rewards(scenario, game_slot, teams, stock, game_actions)
        got = [rewards[a] for a in env.possible_agents]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    run_episode(scenario, seed, action_seed, check)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), action_seed=st.integers(0, 2**32))
def test_same_seed_and_actions_same_trajectory(seed, action_seed):
    scenario = EVENTFUL.sample(seed)
    first = run_episode(scenario, seed, action_seed)
    second = run_episode(scenario, seed, action_seed)
    assert len(first) == len(second)
    for a, b in zip(first[1:], second[1:], strict=True):
        assert a[2] == b[2] and a[3] == b[3] and a[5] == b[5]
        for agent in a[1]:
            np.testing.assert_array_equal(a[1][agent]["tokens"], b[1][agent]["tokens"])


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), action_seed=st.integers(0, 2**32))
def test_zero_sum_families_sum_to_zero(seed, action_seed):
    space = ScenarioSpace(split="all", families=("rock_paper_scissors", "matching_pennies"),
                          p_teams=0.9, p_reteam_range=(0.1, 0.3), p_coalition=0.5,
                          horizon_range=(3, 10), max_steps=30)
    scenario = space.sample(seed)
    assert scenario.zero_sum
    for step in run_episode(scenario, seed, action_seed)[1:]:
        assert abs(sum(step[2].values())) < 1e-5


def test_batched_engine_equals_parallel_env_on_1000_eventful_scenarios():
    scenarios = [EVENTFUL.sample(10_000 + k) for k in range(1000)]
    b, m = len(scenarios), 8
    engine = BatchedEngine(scenarios, np.arange(b), max_players=m)
    out = engine.buffers()
    seeds = np.arange(b) * 7 + 3
    engine.reset(seeds, out)
    rng = np.random.default_rng(0)
    steps = max(s.horizon or s.max_steps for s in scenarios) + 1
    limits = np.array([[s.n_actions if i < s.n_players else 1 for s in scenarios] for i in range(m)])
    move_limits = np.array([[s.n_players + 2 if i < s.n_players and s.coalition_moves else 1
                             for s in scenarios] for i in range(m)])
    actions = (rng.random((steps, m, b)) * limits).astype(np.int64)
    moves = (rng.random((steps, m, b)) * move_limits).astype(np.int64)
    record = {"tokens": [out.tokens.copy()], "rules": [out.rules_index.copy()], "rewards": [],
              "done": []}
    for t in range(steps):
        engine.step(actions[t], out, moves[t])
        record["tokens"].append(out.tokens.copy())
        record["rules"].append(out.rules_index.copy())
        record["rewards"].append(out.rewards.copy())
        record["done"].append(out.terminated | out.truncated)

    team_changes = rule_changes = 0
    for k, scenario in enumerate(scenarios):
        env = SociusParallelEnv(scenario, max_players=m)
        obs, _ = env.reset(seed=int(seeds[k]))
        n = scenario.n_players
        for i, agent in enumerate(env.possible_agents):
            np.testing.assert_array_equal(obs[agent]["tokens"], record["tokens"][0][i, :, k])
        t = 0
        while env.agents:
            acts = {agent: (np.array([actions[t, i, k], moves[t, i, k]]) if scenario.coalition_moves
                            else int(actions[t, i, k]))
                    for i, agent in enumerate(env.possible_agents)}
            obs, rewards, term, trunc, infos = env.step(acts)
            done = any(term.values()) or any(trunc.values())
            assert done == record["done"][t][k], (k, t)
            np.testing.assert_array_equal([rewards[a] for a in env.possible_agents],
                                          record["rewards"][t][:n, k])
            info = infos["player_0"]
            team_changes += "team_change" in info
            rule_changes += "rule_change" in info
            t += 1
            if not done:
                for i, agent in enumerate(env.possible_agents):
                    np.testing.assert_array_equal(obs[agent]["tokens"], record["tokens"][t][i, :, k])
                    np.testing.assert_array_equal(obs[agent]["rules"],
                                                  engine.rule_table[record["rules"][t][i, k]])
        # the batched engine auto-reset into the next episode; the B=1 view's reset() agrees
        obs, _ = env.reset()
        for i, agent in enumerate(env.possible_agents):
            np.testing.assert_array_equal(obs[agent]["tokens"], record["tokens"][t][i, :, k])
    assert team_changes > 200 and rule_changes > 200, (team_changes, rule_changes)


def test_coalition_rules():
    scenario = Scenario(name="coalitions", n_players=4, games=(StageGame.make("public_goods"),),
                        team_sizes=(2, 2), team_share=0.5, coalition_moves=True, max_team_size=3,
                        horizon=50)
    env = SociusParallelEnv(scenario)
    obs, _ = env.reset(seed=0)
    assert env.engine.teams[:4, 0].tolist() == [0, 0, 2, 2]
    assert env.engine.layout.decode(obs["player_0"]["tokens"])["team_moves"] == 6  # n + 2
    stay = {a: np.array([0, 0]) for a in env.possible_agents}
    # seat 1 leaves its team: a team of one
    _, _, _, _, infos = env.step({**stay, "player_1": np.array([0, 1])})
    assert infos["player_0"]["teams"] == [0, 1, 2, 2]
    assert infos["player_0"]["team_change"]["cause"] == "coalition"
    # seat 1 asks to join team 2 (size 2 -> 3 <= cap): accepted
    _, _, _, _, infos = env.step({**stay, "player_1": np.array([0, 4])})
    assert infos["player_0"]["teams"] == [0, 1, 1, 1]  # team of seats 1, 2, 3 is named 1 now
    # seat 0 asks to join the full team (3 + 1 > cap): refused
    _, _, _, _, infos = env.step({**stay, "player_0": np.array([0, 3])})
    assert infos["player_0"]["teams"] == [0, 1, 1, 1] and "team_change" not in infos["player_0"]
    # a lone seat cannot leave
    _, _, _, _, infos = env.step({**stay, "player_0": np.array([0, 1])})
    assert "team_change" not in infos["player_0"]


def test_common_pool_stock_depletes_and_regrows():
    scenario = classic("common_pool__default", n_players=2, horizon=50)
    env = SociusParallelEnv(scenario)
    env.reset(seed=0)
    capacity = 4.0 * 2
    assert env.engine.stock[0] == capacity
    greedy = {a: 2 for a in env.possible_agents}
    stocks = []
    for _ in range(2):
        _, rewards, *_ = env.step(greedy)
        stocks.append(float(env.engine.stock[0]))
    assert stocks[0] < capacity and stocks[-1] < stocks[0]  # over-harvesting depletes it
    assert rewards == {"player_0": 2.0, "player_1": 2.0}
    for _ in range(20):
        env.step({a: 0 for a in env.possible_agents})
    assert env.engine.stock[0] > stocks[-1]  # resting lets it regrow


def test_hidden_rules_give_zero_features_and_no_rule_flag():
    base = dict(name="hidden", n_players=3,
                games=(StageGame.make("public_goods"), StageGame.make("public_goods", {"mpcr": 0.5})),
                p_rule_change=1.0, horizon=5)
    for visible in (True, False):
        env = SociusParallelEnv(Scenario(rules_visible=visible, **base))
        env.reset(seed=1)
        obs, _, _, _, infos = env.step({a: 0 for a in env.possible_agents})
        fields = env.engine.layout.decode(obs["player_0"]["tokens"])
        assert "rule_change" in infos["player_0"]  # infos always record it, for analysis
        assert bool(fields["events"] & 4) == visible
        assert np.any(obs["player_0"]["rules"] != 0) == visible


def test_fixed_horizon_is_observed_and_continuation_is_not():
    fixed = SociusParallelEnv(classic("prisoners_dilemma__textbook", horizon=7))
    obs, _ = fixed.reset(seed=0)
    assert fixed.engine.layout.decode(obs["player_0"]["tokens"])["time_left"] == 7
    cont = SociusParallelEnv(classic("prisoners_dilemma__textbook", horizon=None,
                                     continuation=0.95))
    lengths = []
    for episode in range(200):
        obs, _ = cont.reset(seed=5) if episode == 0 else cont.reset()
        assert cont.engine.layout.decode(obs["player_0"]["tokens"])["time_left"] == 0
        steps = 0
        while cont.agents:
            cont.step({a: 0 for a in cont.agents})
            steps += 1
        lengths.append(steps)
    assert 14 < np.mean(lengths) < 27  # geometric with mean 1 / (1 - 0.95) = 20


def test_engine_rejects_bad_actions_with_seat_and_value():
    engine = BatchedEngine([classic("rock_paper_scissors__textbook")], [0, 0])
    out = engine.buffers()
    engine.reset([0, 1], out)
    with pytest.raises(ValueError, match="invalid action 3 for seat 1 of instance 0"):
        engine.step(np.array([[0, 0], [3, 0]]), out)
    with pytest.raises(ValueError, match="invalid action -1"):
        engine.step(np.array([[0, -1], [0, 0]]), out)
    with pytest.raises(ValueError, match="shape"):
        engine.step(np.zeros((3, 2), np.int64), out)


def test_one_layout_serves_every_player_count():
    layout = ObsLayout(8, 4)
    for n in (2, 5, 8):
        env = SociusParallelEnv(ScenarioSpace(min_players=n, max_players=n).sample(n))
        obs, _ = env.reset(seed=0)
        row = obs["player_0"]["tokens"]
        assert row.shape == (layout.size,)
        assert layout.decode(row)["seat_mask"].sum() == n


def test_table_driven_path_matches_the_general_path_bit_for_bit():
    families = tuple(n for n, f in FAMILIES.items() if f.sampled and n != "common_pool")
    space = ScenarioSpace(split="all", families=families, max_players=4, p_teams=0.9,
                          p_reteam_range=(0.05, 0.3), p_coalition=0.6, p_rule_changes=0.8,
                          p_rule_change_range=(0.05, 0.3), horizon_range=(3, 12), max_steps=30)
    scenarios = [space.sample(500 + k) for k in range(300)]
    b = 900
    which = np.arange(b) % len(scenarios)
    small = BatchedEngine(scenarios, which, max_players=4)
    general = BatchedEngine(scenarios, which, max_players=8)
    assert small.table_driven and not general.table_driven
    out_small, out_general = small.buffers(), general.buffers()
    small.reset(np.arange(b), out_small)
    general.reset(np.arange(b), out_general)
    rng = np.random.default_rng(1)
    n = small.n_players
    coalition = small.coalition
    changes = 0
    for _ in range(60):
        acts = (rng.random((4, b)) * small.n_actions).astype(np.int64) * small.present
        moves = (rng.random((4, b)) * (n + 2)).astype(np.int64) * small.present * coalition
        pad = np.zeros((4, b), np.int64)
        small.step(acts, out_small, moves)
        general.step(np.vstack([acts, pad]), out_general, np.vstack([moves, pad]))
        np.testing.assert_array_equal(out_small.rewards, out_general.rewards[:4])
        np.testing.assert_array_equal(out_small.terminated, out_general.terminated)
        present = small.present  # absent seats are labelled with the seat capacity (4 or 8)
        np.testing.assert_array_equal(np.where(present, small.teams, -1),
                                      np.where(present, general.teams[:4], -1))
        np.testing.assert_array_equal(small.events, general.events)
        changes += int((small.events != 0).sum())
        a, g = small.layout.decode(out_small.tokens.transpose(0, 2, 1)), \
            general.layout.decode(out_general.tokens.transpose(0, 2, 1))
        np.testing.assert_array_equal(a["history"], g["history"][:4, :, :, :4])
        np.testing.assert_array_equal(a["teams"], g["teams"][:4, :, :4])
        for field in ("events", "time_left", "n_actions", "seat"):  # team_moves: n + 2 or 1
            np.testing.assert_array_equal(a[field], g[field][:4])
        np.testing.assert_array_equal(small.rule_table[out_small.rules_index],
                                      general.rule_table[out_general.rules_index[:4]])
    assert changes > 1000


def test_common_pool_batches_use_the_general_path():
    engine = BatchedEngine([classic("common_pool__default")], [0, 0])
    assert not engine.table_driven
    assert BatchedEngine([classic("prisoners_dilemma__textbook")], [0, 0]).table_driven
