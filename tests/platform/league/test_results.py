"""Match results feed the payoff table and the team ratings; runners report them per episode."""

import numpy as np
import torch

from socius.envs import Scenario, StageGame, classic
from socius.platform.league.results import record_results
from socius.platform.league.roles import Role
from socius.platform.league.state import LeagueState, Member
from socius.platform.types import MatchResult


def test_team_results_update_payoffs_and_ratings():
    state = LeagueState(members={m: Member(m, "p", Role.MAIN) for m in "abcd"})
    for _ in range(20):
        record_results(state, [MatchResult("m", "public_goods", ("a", "b", "c", "d"),
                                           (3.0, 1.0, 1.0, 1.0), (2, 2))])
    assert state.payoff.win_rate("a", "c") > 0.9 and state.payoff.win_rate("d", "b") < 0.6
    assert state.ratings["a"].mu > state.ratings["c"].mu
    assert state.ratings["a"].mu == state.ratings["b"].mu  # one team, one outcome


def test_draws_and_self_play_across_teams():
    state = LeagueState()
    record_results(state, [MatchResult("m", "rock_paper_scissors", ("a", "b"), (0.0, 0.0), (1, 1))])
    assert state.payoff.win_rate("a", "b") == 0.5
    record_results(state, [MatchResult("m", "prisoners_dilemma", ("a", "a"), (5.0, 0.0), (1, 1))])
    assert "a" in state.ratings and state.payoff.games.get(("a", "a", "prisoners_dilemma")) is None


def test_runner_reports_each_finished_match_once():
    from socius.platform.training.runner import Runner
    from socius.platform.training.weights import WeightsHandle, state_digest
    from socius.platform.types import MatchTicket
    from socius.policies.network import NetConfig, SociusNet

    torch.manual_seed(0)
    config = NetConfig(max_players=4, core="mlp")
    state = {k: v.numpy() for k, v in SociusNet(config).state_dict().items()}
    weights = {"main_0": WeightsHandle(state_digest(state), state)}
    pd = classic("prisoners_dilemma__textbook", horizon=5)
    teams = Scenario(name="t", n_players=4, games=(StageGame.make("public_goods"),),
                     team_sizes=(2, 2), horizon=5)
    tickets = [MatchTicket("pd", pd, ("main_0", "scripted:always_defect"), (True, False),
                           episodes=2),
               MatchTicket("pg", teams, ("main_0",) * 4, (True,) * 4)]
    runner = Runner(config, steps=4)
    _, stats = runner.run(tickets, weights)
    assert stats.results == () and stats.free_slots == 0  # nothing ended in 4 steps
    _, stats = runner.run([], weights)
    results = stats.results
    assert [(r.match_id, r.steps, r.episode) for r in results] == [("pg", 5, 0)]
    assert stats.free_slots == 1 and runner.in_flight() == ["pd"]
    _, stats = runner.run([], weights)
    results += stats.results
    assert [(r.match_id, r.steps, r.episode) for r in stats.results] == [("pd", 10, 1)]
    assert stats.free_slots == 2 and runner.in_flight() == []
    pd_result = next(r for r in results if r.match_id == "pd")
    assert pd_result.returns[1] >= pd_result.returns[0]  # defection never loses in the PD
    assert all(len(r.returns) == len(r.seats) for r in results)
    assert np.isfinite([x for r in results for x in r.returns]).all()


def test_runner_counts_cooperation_per_member_and_partner():
    """Cooperation rates: share of cooperative actions in games that have one (not in RPS)."""
    from socius.platform.training.runner import Runner
    from socius.platform.training.weights import WeightsHandle, state_digest
    from socius.platform.types import MatchTicket
    from socius.policies.network import NetConfig, SociusNet

    config = NetConfig(max_players=2, core="mlp")
    state = {k: v.numpy() for k, v in SociusNet(config).state_dict().items()}
    weights = {"main_0": WeightsHandle(state_digest(state), state)}
    pd = classic("prisoners_dilemma__textbook", horizon=4)
    rps = classic("rock_paper_scissors__textbook", horizon=4)
    tickets = [MatchTicket("a", pd, ("scripted:always_cooperate", "scripted:always_defect"),
                           (False, False), episodes=2),
               MatchTicket("b", pd, ("main_0", "scripted:tit_for_tat"), (True, False),
                           episodes=2),
               MatchTicket("c", rps, ("main_0", "scripted:uniform_random"), (True, False),
                           episodes=2)]
    _, stats = Runner(config, steps=8).run(tickets, weights)
    coop = stats.cooperation
    assert coop["scripted:always_cooperate"] == (8, 8)
    assert coop["scripted:always_defect"] == (0, 8)
    assert coop["scripted:uniform_random"] == (0, 0)  # RPS has no cooperative action
    cooperated, possible = coop["main_0"]
    assert possible == 8 and 0 <= cooperated <= 8  # only its PD steps count
    # and per finished match (horizon 4: a match of two episodes ends in 8 steps)
    matches = [r for r in stats.results if r.match_id == "a"]
    assert len(matches) == 1
    assert all(r.steps == 8 and r.cooperated == (8, 0) and r.could_cooperate == (8, 8)
               for r in matches)
    assert all(r.could_cooperate == (0, 0) for r in stats.results if r.match_id == "c")


def test_learning_progress_tracks_fast_and_slow_returns():
    from socius.platform.league.results import learning_progress, track_returns

    state = LeagueState(members={"a": Member("a", "p", Role.MAIN),
                                 "f": Member("f", "p", Role.MAIN, trainable=False)})
    for k in range(30):  # scenario "up" improves, "flat" does not; frozen seats never count
        track_returns(state, [
            MatchResult("m", "pd", ("a", "f"), (float(k), 100.0), (1, 1), "up"),
            MatchResult("m", "pd", ("a", "f"), (1.0, -100.0), (1, 1), "flat")])
    progress = learning_progress(state)
    assert progress["up"] > 5 and abs(progress["flat"]) < 1e-9
    again = LeagueState.from_dict(state.to_dict())
    assert learning_progress(again) == progress
