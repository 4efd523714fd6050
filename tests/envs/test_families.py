"""Each family reduces to its textbook two-player game, and follows its N-player formula."""

import itertools

import nashpy
import numpy as np
import pytest

from socius.envs.families import FAMILIES, compile_game, two_player_bimatrix
from socius.envs.scenario import classic, classic_names

TEXTBOOK = {
    "prisoners_dilemma": ([[3, 0], [5, 1]], [[3, 5], [0, 1]]),
    "stag_hunt": ([[4, 0], [3, 3]], [[4, 3], [0, 3]]),
    "chicken": ([[0, -1], [1, -10]], [[0, 1], [-1, -10]]),
    "coordination": ([[1, 0], [0, 1]], [[1, 0], [0, 1]]),
    "battle_of_sexes": ([[3, 0], [0, 2]], [[2, 0], [0, 3]]),
    "matching_pennies": ([[1, -1], [-1, 1]], [[-1, 1], [1, -1]]),
    "rock_paper_scissors": ([[0, -1, 1], [1, 0, -1], [-1, 1, 0]],
                            [[0, 1, -1], [-1, 0, 1], [1, -1, 0]]),
    "public_goods": ([[1.5, 0.75], [1.75, 1.0]], [[1.5, 1.75], [0.75, 1.0]]),
    "bargaining": ([[0, 0, 0, 0, 0], [0.25] * 4 + [0], [0.5] * 3 + [0, 0], [0.75] * 2 + [0] * 3,
                    [1] + [0] * 4],
                   [[0, 0.25, 0.5, 0.75, 1], [0, 0.25, 0.5, 0.75, 0], [0, 0.25, 0.5, 0, 0],
                    [0, 0.25, 0, 0, 0], [0, 0, 0, 0, 0]]),
    "common_pool": ([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 1, 2], [0, 1, 2], [0, 1, 2]]),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_two_player_reduction_is_the_textbook_table(name):
    fam = FAMILIES[name]
    params = next(iter(fam.classics.values())) if name != "public_goods" else {"mpcr": 0.75}
    row, col = two_player_bimatrix(fam, params)
    want_row, want_col = TEXTBOOK[name]
    np.testing.assert_allclose(row, want_row)
    np.testing.assert_allclose(col, want_col)


def test_every_named_classic_is_a_valid_scenario():
    names = classic_names()
    assert "prisoners_dilemma__textbook" in names and len(names) >= 10
    for name in names:
        assert classic(name).name == name


def test_prisoners_dilemma_textbook_payoffs_by_name():
    game = classic("prisoners_dilemma__textbook").games[0].param_dict
    assert game == {"T": 5.0, "R": 3.0, "P": 1.0, "S": 0.0}


def test_nash_prisoners_dilemma_unique_equilibrium_is_mutual_defection():
    row, col = two_player_bimatrix(FAMILIES["prisoners_dilemma"], {"T": 5, "R": 3, "P": 1, "S": 0})
    equilibria = list(nashpy.Game(row, col).support_enumeration())
    assert len(equilibria) == 1
    sigma_row, sigma_col = equilibria[0]
    np.testing.assert_allclose(sigma_row, [0, 1])
    np.testing.assert_allclose(sigma_col, [0, 1])


def test_nash_rock_paper_scissors_is_uniform():
    row, col = two_player_bimatrix(FAMILIES["rock_paper_scissors"],
                                   {"rock": 1, "paper": 1, "scissors": 1})
    np.testing.assert_allclose(row, -col)
    equilibria = list(nashpy.Game(row).support_enumeration())
    assert len(equilibria) == 1
    for sigma in equilibria[0]:
        np.testing.assert_allclose(sigma, [1 / 3] * 3)


def test_random_general_sum_index_spans_common_interest_to_zero_sum():
    fam = FAMILIES["random_general_sum"]
    for seed in range(5):
        row, col = two_player_bimatrix(fam, {"n_actions": 3, "rho": 1.0, "seed": seed})
        np.testing.assert_allclose(row, col)  # u2(a, b) = M[b, a] = M[a, b]
        row, col = two_player_bimatrix(fam, {"n_actions": 3, "rho": -1.0, "seed": seed})
        np.testing.assert_allclose(row, -col, atol=1e-12)
    corr = []
    for rho in (-0.5, 0.0, 0.5):
        pairs = []
        for seed in range(400):
            m = fam.pair_matrix({"n_actions": 4, "rho": rho, "seed": seed})[0, 0]
            pairs += [(m[a, b], m[b, a]) for a in range(4) for b in range(a + 1, 4)]
        corr.append(np.corrcoef(np.array(pairs).T)[0, 1])
    np.testing.assert_allclose(corr, [-0.5, 0.0, 0.5], atol=0.06)


def _formula(name, params, roles, actions):
    """Each family's documented N-player payoff, written out independently of the tables."""
    n = len(actions)
    a = np.asarray(actions)
    out = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        if name == "prisoners_dilemma":
            m = [[params["R"], params["S"]], [params["T"], params["P"]]]
            out[i] = np.mean([m[a[i]][a[j]] for j in others])
        elif name == "chicken":
            m = [[0, -1], [1, -params["crash"]]]
            out[i] = np.mean([m[a[i]][a[j]] for j in others])
        elif name == "stag_hunt":
            stags = int((a == 0).sum())
            out[i] = (params["stag"] if stags >= params["threshold"] else 0) if a[i] == 0 \
                else params["hare"]
        elif name == "public_goods":
            out[i] = (a[i] == 1) + params["mpcr"] * (a == 0).sum()
        elif name == "bargaining":
            k = params["levels"]
            out[i] = a[i] / k if a.sum() <= k else params["disagreement"]
        elif name == "matching_pennies":
            s = params["stake"]
            total = 0.0
            for j in others:
                if roles[j] != roles[i]:
                    match = a[i] == a[j]
                    total += s * (1 if match == (roles[i] == 0) else -1)
            out[i] = total / (n - 1)
        elif name == "battle_of_sexes":
            vals = []
            for j in others:
                if a[i] != a[j]:
                    vals.append(0.0)
                else:
                    vals.append(params["high"] if a[i] == roles[i] else params["low"])
            out[i] = np.mean(vals)
        elif name == "coordination":
            bonus = 1 + params["bonus"] * a[i] / (params["n_actions"] - 1)
            out[i] = np.mean([bonus * (a[i] == a[j]) for j in others])
    return out


@pytest.mark.parametrize("name", ["prisoners_dilemma", "chicken", "stag_hunt", "public_goods",
                                  "bargaining", "matching_pennies", "battle_of_sexes",
                                  "coordination"])
@pytest.mark.parametrize("n", [3, 5, 8])
def test_n_player_tables_follow_the_documented_formula(name, n):
    fam = FAMILIES[name]
    rng = np.random.default_rng(n)
    params = fam.sample(rng, 0.5, n)
    fam.check(params, n, "test")
    table = compile_game(fam, params, n)
    roles = [i % 2 for i in range(n)]
    a_count = table.n_actions
    profiles = itertools.islice(itertools.product(range(a_count), repeat=n), 0, None, 7)
    for actions in itertools.islice(profiles, 300):
        code = [table.code[roles[j], actions[j]] for j in range(n)]
        got = [table.table[roles[i], actions[i], sum(code) - code[i]] for i in range(n)]
        np.testing.assert_allclose(got, _formula(name, params, roles, actions), atol=1e-12)
