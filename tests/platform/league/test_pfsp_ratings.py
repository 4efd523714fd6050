"""PFSP weightings follow AlphaStar's formulas; team ratings recover a known order."""

import itertools

import numpy as np
import pytest

from socius.platform.league.pfsp import pfsp_probabilities, win_rate
from socius.platform.league.ratings import Rating, leaderboard, rate_match

X = np.array([0.0, 0.1, 0.5, 0.8, 1.0])


@pytest.mark.parametrize("weighting, formula", [
    ("squared", lambda x: (1 - x) ** 2),
    ("variance", lambda x: x * (1 - x)),
    ("linear", lambda x: 1 - x),
    ("linear_capped", lambda x: np.minimum(0.5, 1 - x)),
])
def test_pfsp_weightings_are_alphastars(weighting, formula):
    probs = pfsp_probabilities(X, weighting)
    np.testing.assert_allclose(probs, formula(X) / formula(X).sum())
    assert probs.sum() == pytest.approx(1.0)


def test_pfsp_prefers_what_each_weighting_promises():
    squared = pfsp_probabilities(X, "squared")
    assert squared.argmax() == 0 and squared[-1] == 0  # hardest opponents, never the beaten
    assert pfsp_probabilities(X, "variance").argmax() == 2  # even matches
    capped = pfsp_probabilities(X, "linear_capped")
    assert capped[0] == capped[1] == capped[2]  # the cap makes hard opponents equal


def test_pfsp_falls_back_to_uniform_and_rejects_bad_input():
    np.testing.assert_allclose(pfsp_probabilities([1.0, 1.0], "squared"), [0.5, 0.5])
    with pytest.raises(ValueError, match="unknown PFSP weighting"):
        pfsp_probabilities(X, "cubic")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pfsp_probabilities([1.5], "linear")


def test_win_rate_shrinks_towards_the_prior():
    np.testing.assert_allclose(win_rate([0, 10], [0, 10]), [0.5, 10.5 / 11])


def kendall_tau(order_a, order_b):
    rank_b = {m: i for i, m in enumerate(order_b)}
    concordant = discordant = 0
    for x, y in itertools.combinations(order_a, 2):
        if rank_b[x] < rank_b[y]:
            concordant += 1
        else:
            discordant += 1
    return (concordant - discordant) / (concordant + discordant)


@pytest.mark.parametrize("seed", range(5))
def test_team_ratings_recover_a_known_order(seed):
    """10 scripted members with skills 0-9 in a noisy team-sum contest, random teams of 2 (two
    or three teams a match): the rating order matches the truth with Kendall tau >= 0.8."""
    rng = np.random.default_rng(seed)
    members = [f"scripted_{k}" for k in range(10)]
    skill = {m: k for k, m in enumerate(members)}
    ratings: dict[str, Rating] = {}
    for _ in range(1500):
        n_teams = int(rng.integers(2, 4))
        chosen = rng.choice(members, size=2 * n_teams, replace=False)
        teams = [list(chosen[2 * t: 2 * t + 2]) for t in range(n_teams)]
        scores = [sum(skill[m] for m in team) + rng.normal(0, 3.0) for team in teams]
        ratings = rate_match(ratings, teams, scores)
    ranked = [m for m, _ in leaderboard(ratings)]
    truth = sorted(members, key=lambda m: -skill[m])
    assert kendall_tau(ranked, truth) >= 0.8, ranked


def test_rate_match_validates_teams():
    with pytest.raises(ValueError, match="two teams"):
        rate_match({}, [["a"]], [1.0])
    with pytest.raises(ValueError, match="exactly one"):
        rate_match({}, [["a"], ["a"]], [1.0, 0.0])
    tied = rate_match({}, [["a"], ["b"]], [1.0, 1.0])
    assert tied["a"].mu == pytest.approx(tied["b"].mu)
