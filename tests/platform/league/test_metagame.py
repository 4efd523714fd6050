"""The empirical meta-game's Nash mixture, exploitability, and Nash opponent sampling."""

import numpy as np
import pytest

from socius.envs import classic
from socius.platform.league.matchmaker import MatchmakingRules, issue_tickets, seat_pools
from socius.platform.league.metagame import exploitability, meta_game, meta_game_nash
from socius.platform.league.roles import Role
from socius.platform.league.state import LeagueState, Member

RPS = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], float)


def cyclic_league():
    """rock beats scissors beats paper beats rock; `weak` loses to everyone."""
    state = LeagueState(members={m: Member(m, "p", Role.MAIN, trainable=m == "learner")
                                 for m in ("rock", "paper", "scissors", "weak", "learner")})
    beats = [("rock", "scissors"), ("scissors", "paper"), ("paper", "rock")]
    beats += [(m, "weak") for m in ("rock", "paper", "scissors")]
    for winner, loser in beats:
        for _ in range(50):
            state.payoff.record(winner, loser, "rock_paper_scissors", 1.0)
    return state


def test_meta_game_nash_of_a_cycle_is_uniform_and_ignores_the_dominated():
    state = cyclic_league()
    members = ["rock", "paper", "scissors", "weak"]
    payoff = meta_game(state, members)
    np.testing.assert_allclose(payoff, -payoff.T)
    nash = meta_game_nash(state, members)
    for m in ("rock", "paper", "scissors"):
        assert nash[m] == pytest.approx(1 / 3, abs=1e-6)
    assert nash["weak"] == pytest.approx(0, abs=1e-6)
    assert meta_game_nash(LeagueState(members={"x": Member("x", "p", Role.MAIN)})) == {"x": 1.0}


def test_exploitability_against_known_mixtures():
    probs = {"r": np.array([1.0, 0, 0]), "p": np.array([0, 1.0, 0]), "s": np.array([0, 0, 1.0])}
    assert exploitability(probs, {"r": 1.0}, RPS) == pytest.approx(1.0)  # paper beats it
    assert exploitability(probs, {"r": 1 / 3, "p": 1 / 3, "s": 1 / 3}, RPS) == pytest.approx(0)
    assert exploitability(probs, {"r": 0.5, "p": 0.5}, RPS) == pytest.approx(0.5)


def test_nash_opponent_sampling_never_draws_the_dominated_member():
    state = cyclic_league()
    rules = MatchmakingRules(main_opponents="nash", main_self_play=0.0)
    pd = classic("prisoners_dilemma__textbook")
    batch = issue_tickets(state, seat_pools(state, rules, [pd]), [pd], rules,
                          np.random.default_rng(0), 3000)
    faced = [s for t in batch.tickets() for s in t.seats if s != "learner"]
    counts = {m: faced.count(m) for m in ("rock", "paper", "scissors", "weak")}
    assert counts["weak"] == 0
    assert all(abs(counts[m] / len(faced) - 1 / 3) < 0.04 for m in ("rock", "paper", "scissors"))
