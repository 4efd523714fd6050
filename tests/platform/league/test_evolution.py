"""Fitness bookkeeping and exploit/explore on hand-built populations, without Ray."""

import numpy as np
import pytest

from socius.platform.league.evolution import (
    EvolutionRules,
    exploit_explore,
    family_tree,
    fitness,
    inherit,
)
from socius.platform.league.ratings import Rating
from socius.platform.league.roles import Role
from socius.platform.league.state import LeagueState, Member
from socius.platform.types import Care, MatchResult


def population(n, care=0.5):
    return [Member(f"m{k}", "p", Role.MAIN, care=Care(care, care)) for k in range(n)]


def test_fitness_choices_on_known_results():
    results = [MatchResult("x", "pd", ("a", "b", "c", "d"), (4.0, 0.0, 1.0, 3.0), (2, 2)),
               MatchResult("y", "pd", ("a", "c"), (2.0, 2.0), (1, 1))]
    own = fitness(results, ["a", "b", "c", "e"], "own")
    assert own == {"a": 3.0, "b": 0.0, "c": 1.5, "e": -np.inf}
    team = fitness(results, ["a", "c"], "team")
    assert team == {"a": (2.0 + 2.0) / 2, "c": (2.0 + 2.0) / 2}
    welfare = fitness(results, ["a", "d"], "welfare")
    assert welfare == {"a": (2.0 + 2.0) / 2, "d": 2.0}
    rated = fitness(results, ["a", "z"], "rating", {"a": Rating(30.0, 1.0)})
    assert rated["a"] == 27.0 and rated["z"] == Rating().ordinal
    scored = fitness(results, ["a", "b", "c"], "eval", scores={"a": 0.9, "b": float("nan")})
    assert scored == {"a": 0.9, "b": -np.inf, "c": -np.inf}  # unscored members rank last
    with pytest.raises(ValueError, match="needs the members' evaluation scores"):
        fitness(results, ["a"], "eval")
    with pytest.raises(ValueError, match="unknown fitness"):
        fitness(results, ["a"], "happiness")


def test_bottom_copies_top_and_mutations_stay_in_bounds():
    members = population(8)
    fit = {m.id: float(k) for k, m in enumerate(members)}  # m7 best, m0 worst
    rules = EvolutionRules(bottom_fraction=0.25, top_fraction=0.25, resample_prob=0.0,
                           care_step=0.1)
    rng = np.random.default_rng(0)
    for _ in range(50):
        copies = exploit_explore(members, fit, rules, rng, generation=3)
        assert {c.child for c in copies} == {"m0", "m1"}
        assert {c.parent for c in copies} <= {"m6", "m7"}
        for c in copies:
            for key in ("care.team", "care.others"):
                old, new = c.changes[key]
                assert old == 0.5 and new in (pytest.approx(0.6), pytest.approx(0.4))
            assert set(c.changes) == {"care.team", "care.others"}
    # clipping at the bounds, and resampling within them
    edge = population(4, care=1.0)
    for c in exploit_explore(edge, {m.id: float(k) for k, m in enumerate(edge)},
                             EvolutionRules(bottom_fraction=0.5, top_fraction=0.5,
                                            resample_prob=0.0, care_step=0.3), rng, 1):
        assert all(0.7 - 1e-9 <= c.changes[k][1] <= 1.0 for k in ("care.team", "care.others"))
    resampled = [c.changes["care.team"][1] for _ in range(200) for c in exploit_explore(
        members, fit, EvolutionRules(resample_prob=1.0, care_bounds=(0.2, 0.3)), rng, 1)]
    assert min(resampled) >= 0.2 and max(resampled) <= 0.3 and np.std(resampled) > 0.01


def test_inheritance_is_recorded_as_lineage_and_round_trips():
    members = population(4)
    members[3].care = Care(0.9, 0.1)
    fit = {"m0": -1.0, "m1": 0.0, "m2": 1.0, "m3": 2.0}
    copies = exploit_explore(members, fit, EvolutionRules(bottom_fraction=0.25,
                                                          top_fraction=0.25, resample_prob=0.0),
                             np.random.default_rng(1), generation=5)
    assert len(copies) == 1 and copies[0].child == "m0" and copies[0].parent == "m3"
    inherit(members[0], copies[0])
    assert members[0].care.team in (pytest.approx(1.0), pytest.approx(0.8))
    assert members[0].lineage == [{"generation": 5, "event": "copied", "from": "m3",
                                   "changes": copies[0].changes,
                                   "fitness": {"child": -1.0, "parent": 2.0}}]
    state = LeagueState(members={m.id: m for m in members})
    assert LeagueState.from_dict(state.to_dict()).members["m0"].lineage == members[0].lineage
    assert "copied m3 (care.team 0.9->" in family_tree(state.members, "m0")
    assert "fitness -1 < 2" in family_tree(state.members, "m0")


def test_too_small_groups_do_not_evolve():
    members = population(1)
    assert exploit_explore(members, {"m0": 1.0}, EvolutionRules(), np.random.default_rng(0),
                           1) == []


def test_exploiter_measurement_and_fitness_with_scripted_tit_for_tat_mains():
    """Tit-for-tat 'mains' in the iterated PD with continuation 0.95: they cooperate fully
    among themselves; an always-defect 'exploiter' earns T once per episode and P after, so
    less than R per step; own-return fitness ranks the defector first, welfare ranks TFT."""
    from socius.envs import classic
    from socius.platform.league.evolution import cooperation_among, reward_per_step_against
    from socius.platform.training.runner import Runner
    from socius.platform.types import MatchTicket
    from socius.policies.network import NetConfig

    ipd = classic("prisoners_dilemma__textbook", horizon=None, continuation=0.95)
    tft, alld = "scripted:tit_for_tat", "scripted:always_defect"
    tickets = [MatchTicket(f"m{k}", ipd, seats, (False, False), seed=k) for k, seats in
               enumerate([(tft, tft)] * 32 + [(alld, tft)] * 16 + [(tft, alld)] * 16)]
    _, stats = Runner(NetConfig(max_players=2, core="mlp"), steps=400, seed=0).run(tickets, {})
    results = stats.results
    assert cooperation_among(results, {tft}) == 1.0
    versus = [r for r in results if alld in r.seats]
    episodes, steps = len(versus), sum(r.steps for r in versus)
    expected = (5.0 * episodes + 1.0 * (steps - episodes)) / steps  # T once, then P
    assert reward_per_step_against(results, {alld}, {tft}) == pytest.approx(expected)
    assert expected < 3.0  # below mutual cooperation's R
    assert reward_per_step_against(results, {tft}, {tft}) == pytest.approx(3.0)
    # in their matches the defector out-earns tit-for-tat by T - S = 5 per episode ...
    own = fitness(versus, [tft, alld], "own")
    assert own[alld] == pytest.approx(own[tft] + 5.0)
    # ... but counting all its matches, tit-for-tat's are the better ones for everyone in them
    welfare = fitness(results, [tft, alld], "welfare")
    assert welfare[tft] > welfare[alld]
