"""Ticket composition: team sizes, cross-population teammates, role-based opponents, learn flags;
league state round-trips through JSON."""

import json
from collections import Counter

import numpy as np
import pytest

from socius.envs import Scenario, StageGame, classic
from socius.platform.league.matchmaker import (
    MatchmakingRules,
    issue_tickets,
    scenario_weights,
    seat_pools,
)
from socius.platform.league.ratings import Rating
from socius.platform.league.roles import Role
from socius.platform.league.state import LeagueState, Member, PayoffTable

TEAM_GAME = Scenario(name="teams", n_players=6, games=(StageGame.make("public_goods"),),
                     team_sizes=(3, 3), team_share=0.5)


def league():
    state = LeagueState()
    for member in (Member("main_0", "red", Role.MAIN), Member("main_1", "blue", Role.MAIN),
                   Member("main_exploiter_0", "red", Role.MAIN_EXPLOITER),
                   Member("league_exploiter_0", "green", Role.LEAGUE_EXPLOITER),
                   Member("main_0@1", "red", Role.MAIN, trainable=False, parent="main_0")):
        state.members[member.id] = member
    return state


def tickets_for(state, learner, scenario, rules, rng, n):
    """`n` tickets of `learner` (the learners take turns, so issue enough for all)."""
    pools = seat_pools(state, rules, [scenario])
    turns = len(state.learners())
    batch = issue_tickets(state, pools, [scenario], rules, rng, n * turns)
    mine = [t for t in batch.tickets() if learner_of(t) == learner]
    assert len(mine) == n
    return mine


def learner_of(ticket):
    return next(s for s, learn in zip(ticket.seats, ticket.learn, strict=True) if learn)


def test_teams_take_strangers_and_only_the_learner_learns():
    state, rules, rng = league(), MatchmakingRules(), np.random.default_rng(0)
    for ticket in tickets_for(state, "main_0", TEAM_GAME, rules, rng, 200):
        assert len(ticket.seats) == 6
        teams = [ticket.seats[:3], ticket.seats[3:]]
        # the learner's team: the learner plus strangers from other populations (the other team
        # is drawn independently and may hold self-play copies of the learner)
        assert any("main_0" in team and all(
            m == "main_0" or state.members[m].population != "red" for m in team)
            for team in teams), ticket.seats
        assert ticket.learn == tuple(s == "main_0" for s in ticket.seats)
        assert not any(learn and s == "main_0@1" for s, learn in zip(ticket.seats, ticket.learn, strict=True))


def test_same_population_teammates_when_cross_population_is_off():
    state = LeagueState(members={m.id: m for m in (Member("a_0", "p", Role.MAIN),
                                                   Member("a_1", "p", Role.MAIN))})
    ticket, = tickets_for(state, "a_0", TEAM_GAME, MatchmakingRules(cross_population=False),
                          np.random.default_rng(1), 1)
    assert set(ticket.seats) <= {"a_0", "a_1"}


def test_main_exploiters_face_mains_and_mains_mix_self_play_scripted_and_league():
    state, rng = league(), np.random.default_rng(2)
    pd = classic("prisoners_dilemma__textbook")
    rules = MatchmakingRules(scripted=("tit_for_tat",))
    faced = Counter()
    for ticket in tickets_for(state, "main_exploiter_0", pd, rules, rng, 400):
        faced.update(s for s in ticket.seats if s != "main_exploiter_0")
    assert set(faced) <= {"main_0", "main_1", "main_0@1"}
    kinds = Counter()
    for ticket in tickets_for(state, "main_0", pd, rules, rng, 2000):
        other = ticket.seats[1 - ticket.seats.index("main_0")] if ticket.seats.count("main_0") == 1 \
            else "main_0"
        kinds["self" if other == "main_0" else "scripted" if other.startswith("scripted:")
              else "league"] += 1
    assert abs(kinds["self"] / 2000 - 0.35) < 0.04
    assert abs(kinds["scripted"] / 2000 - 0.15) < 0.03
    assert abs(kinds["league"] / 2000 - 0.50) < 0.04


def test_pfsp_targets_the_opponents_the_learner_loses_to():
    state, rng = league(), np.random.default_rng(3)
    for _ in range(30):  # main_exploiter_0 beats main_1, loses to main_0
        state.payoff.record("main_exploiter_0", "main_1", "prisoners_dilemma", 1.0)
        state.payoff.record("main_exploiter_0", "main_0", "prisoners_dilemma", 0.0)
    rules = MatchmakingRules(exploiter_weighting="squared")
    pd = classic("prisoners_dilemma__textbook")
    faced = Counter(s for ticket in tickets_for(state, "main_exploiter_0", pd, rules, rng, 500)
                    for s in ticket.seats)
    assert faced["main_0"] > 5 * faced["main_1"]


def test_issue_tickets_rotates_learners_and_refuses_frozen_learners():
    state, rng = league(), np.random.default_rng(4)
    scenarios = [classic("prisoners_dilemma__textbook"), TEAM_GAME]
    pools = seat_pools(state, MatchmakingRules(), scenarios)
    tickets = issue_tickets(state, pools, scenarios, MatchmakingRules(), rng, 6).tickets()
    assert [learner_of(t) for t in tickets[:4]] == [
        "main_0", "main_1", "main_exploiter_0", "league_exploiter_0"]
    more = issue_tickets(state, pools, scenarios, MatchmakingRules(), rng, 6).tickets()
    # turns and match ids continue across calls
    assert learner_of(more[0]) == "main_exploiter_0"
    assert len({t.match_id for t in tickets + more}) == 12 and state.tickets_issued == 12
    # frozen snapshots sit in seats but never learn
    for ticket in tickets_for(state, "main_0", TEAM_GAME, MatchmakingRules(), rng, 300):
        assert not any(learn and s == "main_0@1"
                       for s, learn in zip(ticket.seats, ticket.learn, strict=True))
    with pytest.raises(ValueError, match="no trainable member"):
        frozen = LeagueState(members={"x": Member("x", "p", Role.MAIN, trainable=False)})
        issue_tickets(frozen, seat_pools(frozen, MatchmakingRules(), scenarios), scenarios,
                      MatchmakingRules(), rng, 1)


def test_learning_progress_curriculum_prefers_moving_scenarios():
    a, b = classic("prisoners_dilemma__textbook"), TEAM_GAME
    rules, rng = MatchmakingRules(curriculum="learning_progress"), np.random.default_rng(5)
    weights = scenario_weights([a, b], rules, {a.id: 0.0, b.id: 1.0})
    assert weights[1] > 20 * weights[0]
    picks = Counter(t.scenario.id for t in issue_tickets(
        league(), seat_pools(league(), rules, [a, b]), [a, b], rules, rng, 500,
        progress={a.id: 0.0, b.id: 1.0}).tickets())
    assert picks[b.id] > 20 * max(picks[a.id], 1)
    with pytest.raises(ValueError, match="curriculum"):
        MatchmakingRules(curriculum="random")


def test_league_state_round_trips_through_json():
    state = league()
    state.payoff.record("main_0", "main_1", "public_goods", 1.0)
    state.ratings["main_0"] = Rating(27.0, 7.5)
    state.generation = 4
    again = LeagueState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.to_dict() == state.to_dict()
    assert again.payoff.win_rate("main_1", "main_0") < 0.5 < again.payoff.win_rate("main_0", "main_1")


def test_payoff_table_decays_old_results():
    table = PayoffTable(decay=0.5)
    for _ in range(10):
        table.record("a", "b", "f", 0.0)
    for _ in range(3):
        table.record("a", "b", "f", 1.0)
    assert table.win_rate("a", "b") > 0.7  # recent wins dominate


def test_scripted_partners_join_only_games_where_they_are_defined():
    state, rng = league(), np.random.default_rng(6)
    rules = MatchmakingRules(scripted=("tit_for_tat", "uniform_random"))
    rps = classic("rock_paper_scissors__textbook")
    seats = Counter(s for ticket in tickets_for(state, "main_0", rps, rules, rng, 500)
                    for s in ticket.seats)
    assert seats["scripted:uniform_random"] > 0 and seats["scripted:tit_for_tat"] == 0
    with pytest.raises(ValueError, match="unknown partner"):
        MatchmakingRules(scripted=("saint",))


def test_payoff_totals_equal_the_sum_over_families():
    rng = np.random.default_rng(7)
    table = PayoffTable(decay=0.9)
    members, families = ["a", "b", "c"], ["pd", "pg", "rps"]
    for _ in range(300):
        x, y = rng.choice(members, 2, replace=False)
        table.record(str(x), str(y), str(rng.choice(families)), float(rng.choice([0, 0.5, 1])))
    again = PayoffTable.from_dict(table.to_dict())
    for x in members:
        for y in members:
            keys = [k for k in table.games if k[:2] == (x, y)]
            wins = sum(table.wins[k] for k in keys)
            games = sum(table.games[k] for k in keys)
            expected = (wins + 0.5) / (games + 1.0)
            assert table.win_rate(x, y) == pytest.approx(expected, rel=1e-9)
            assert again.win_rate(x, y) == pytest.approx(expected, rel=1e-9)
            for f in families:
                if (x, y, f) in table.games:
                    assert table.win_rate(x, y, f) == pytest.approx(
                        (table.wins[x, y, f] + 0.5) / (table.games[x, y, f] + 1.0))
