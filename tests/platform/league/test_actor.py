"""The league actor's methods on a plain `League` (no Ray): tickets as arrays with shared lists,
results folded in, snapshots and resets ordered, and state that round-trips."""

from dataclasses import replace

import numpy as np
import pytest

from socius.envs import classic
from socius.platform.league.actor import League, SnapshotOrder
from socius.platform.league.matchmaker import MatchmakingRules
from socius.platform.league.roles import Role, SnapshotRules
from socius.platform.league.state import LeagueState, Member
from socius.platform.types import Care, MatchResult


def league(**rules):
    state = LeagueState(members={m.id: m for m in (
        Member("main_0", "red", Role.MAIN), Member("main_exploiter_0", "blue",
                                                   Role.MAIN_EXPLOITER))})
    scenarios = [classic("prisoners_dilemma__textbook"), classic("stag_hunt__textbook")]
    return League(state, scenarios, MatchmakingRules(scripted=("tit_for_tat",)),
                  SnapshotRules(every_steps=100, min_steps=10, **rules), seed=0,
                  initial_digests={"main_0": "init-m", "main_exploiter_0": "init-e"})


def test_tickets_need_the_shared_lists_and_play_with_them():
    lg = league()
    batch = lg.issue(8)
    with pytest.raises(ValueError, match="attach"):
        batch.tickets()
    shared = lg.shared()
    assert batch.names_version == shared["names_version"]
    tickets = replace(batch, names=shared["names"], scenarios=shared["scenarios"]).tickets()
    assert [t.match_id for t in tickets] == [f"g0-{k}" for k in range(8)]
    assert {t.scenario.name for t in tickets} <= {"prisoners_dilemma__textbook",
                                                  "stag_hunt__textbook"}
    planned = lg.plan([4, 3, 0])  # as many tickets as each runner has free slots
    assert [len(b) for b in planned] == [4, 3, 0]
    assert planned[1].tickets()[0].match_id == "g0-12" and planned[2].tickets() == []
    assert lg.books() == {"issued": 7, "finished": 0, "cancelled": 0, "in_flight": 7,
                          "balanced": True, "cancel_reasons": {}}


def test_every_planned_ticket_ends_once_finished_or_cancelled():
    lg = league()
    ids = [t.match_id for b in lg.plan([3, 3]) for t in b.tickets()]
    lg.report([MatchResult(ids[0], "prisoners_dilemma", ("main_0", "main_0"), (1.0, 1.0),
                           (1, 1))], {}, {})
    # ids[0] finished already
    assert list(lg.cancel(ids[:2], "member reset")) == [ids[1]]
    books = lg.books()
    assert (books["issued"], books["finished"], books["cancelled"], books["in_flight"]) == \
        (6, 1, 1, 4) and books["balanced"] and books["cancel_reasons"] == {"member reset": 1}
    with pytest.raises(ValueError, match="not in flight"):  # a result reported twice
        lg.report([MatchResult(ids[0], "prisoners_dilemma", ("main_0", "main_0"), (1.0, 1.0),
                               (1, 1))], {}, {})
    saved = LeagueState.from_dict(lg.saved()["league"])
    assert set(saved.tickets.in_flight) == set(ids[2:]) and saved.tickets.balanced


def test_reports_then_snapshots_resets_and_a_new_name_list():
    lg = league()
    version = lg.shared()["names_version"]
    results = [MatchResult(f"g0-{k}", "prisoners_dilemma", ("main_exploiter_0", "main_0"),
                           (5.0, 0.0), (1, 1)) for k in range(40)]
    lg.state.tickets.issue({r.match_id: r.family for r in results})
    lg.report(results, {"main_0": 120, "main_exploiter_0": 30},
              {"main_0": (3, 4), "scripted:tit_for_tat": (4, 4)})
    state = lg.get_state()
    assert state.members["main_0"].steps == 120 and state.cooperation["main_0"] == 0.75
    assert state.ratings["main_exploiter_0"].mu > state.ratings["main_0"].mu
    state.generation = 3
    orders = lg.close_generation({"main_0": "d-main", "main_exploiter_0": "d-expl"})
    # main_0 is due by steps; the exploiter by beating the mains after min_steps, then resets
    assert orders.snapshots == [SnapshotOrder("main_0", "main_0@3", False),
                                SnapshotOrder("main_exploiter_0", "main_exploiter_0@3", True)]
    assert orders.copies == []  # no evolution configured
    snap = state.members["main_0@3"]
    assert not snap.trainable and snap.parent == "main_0" and snap.weights_digest == "d-main"
    assert state.members["main_exploiter_0@3"].weights_digest == "d-expl"
    assert state.members["main_exploiter_0"].weights_digest == "init-e"  # restarted
    assert state.members["main_0"].steps_since_snapshot == 0
    assert lg.shared()["names_version"] == version + 1  # snapshots joined the name list
    saved = lg.saved()
    again = League(LeagueState.from_dict(saved["league"]), lg.scenarios, lg.rules,
                   lg.snapshot_rules, rng_state=saved["rng"])
    assert again.saved() == saved
    np.testing.assert_array_equal(again.issue(16).seats, lg.issue(16).seats)


def test_evolution_copies_the_fitter_member_after_its_generation():
    from socius.platform.league.evolution import EvolutionRules

    state = LeagueState(members={m.id: m for m in (
        Member("main_0", "red", Role.MAIN, care=Care(0.0, 0.0)),
        Member("main_1", "red", Role.MAIN, care=Care(0.8, 0.8)))})
    lg = League(state, [classic("prisoners_dilemma__textbook")], MatchmakingRules(),
                SnapshotRules(every_steps=10**6, min_steps=10**5),
                evolution=EvolutionRules(every_generations=2, bottom_fraction=0.5,
                                         top_fraction=0.5, resample_prob=0.0),
                fitness_kind="welfare")
    # main_1's matches are mutual cooperation, main_0's mutual defection
    def results(generation):
        played = [MatchResult(f"a{generation}", "prisoners_dilemma", ("main_1", "main_1"),
                              (3.0, 3.0), (1, 1)),
                  MatchResult(f"b{generation}", "prisoners_dilemma", ("main_0", "main_0"),
                              (1.0, 1.0), (1, 1))]
        lg.state.tickets.issue({r.match_id: r.family for r in played})
        return played

    lg.start_generation(0)
    lg.report(results(0), {}, {})
    assert lg.close_generation({"main_0": "d0", "main_1": "d1"}).copies == []  # not due yet
    lg.start_generation(1)
    lg.report(results(1), {}, {})
    copies = lg.close_generation({"main_0": "d0", "main_1": "d1"}).copies
    assert [(c.child, c.parent) for c in copies] == [("main_0", "main_1")]
    child = lg.get_state().members["main_0"]
    assert child.weights_digest == "d1" and child.lineage[0]["from"] == "main_1"
    assert child.care.team in (pytest.approx(0.9), pytest.approx(0.7))
