"""Evaluation: known answers for the zoo, the measures and the meta-game tools; bad input."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from socius.envs import classic
from socius.platform.cli import main
from socius.platform.eval import metrics
from socius.platform.eval.evaluate import EvalError, evaluate, inputs_of
from socius.platform.eval.play import Player
from socius.platform.eval.suites import (
    SuiteError,
    build_suites,
    load_suite,
    suite_data,
    suite_names,
)
from socius.policies.network import NetConfig, SociusNet

PD = classic("prisoners_dilemma__textbook", horizon=10)  # T, R, P, S = 5, 3, 1, 0


def scripted(name):
    return Player(f"scripted:{name}", scripted=name)


def pd_suite(partners, episodes=2):
    base = load_suite("dilemmas")
    return replace(base, name="pd10", scenarios=(PD,), partners=tuple(partners),
                   references=tuple(partners), episodes=episodes)


def row(report, agent, partners):
    (found,) = [r for r in report.cells if r.agent == agent and r.partners == partners]
    return found


def test_tit_for_tat_against_the_deterministic_zoo_earns_the_payoffs_computed_by_hand():
    # 10 steps of the textbook prisoner's dilemma, tit-for-tat's return:
    expected = {
        "always_cooperate": 10 * 3,  # CC every step
        "always_defect": 0 + 9 * 1,  # CD, then DD
        "tit_for_tat": 10 * 3,
        "grim_trigger": 10 * 3,
        "win_stay_lose_shift": 10 * 3,
        "suspicious_tit_for_tat": 5 * (0 + 5),  # CD, DC, CD, ... : S, T alternate
        "alternator": 3 + 4 * (0 + 5) + 0,  # CC, then CD, DC, ... ; the last step CD
    }
    report = evaluate([scripted("tit_for_tat")], pd_suite(expected), cross_play=False)
    for partner, value in expected.items():
        assert row(report, "scripted:tit_for_tat", partner).focal_return == value, partner
    assert row(report, "scripted:tit_for_tat", "self").focal_return == 30
    assert row(report, "scripted:tit_for_tat", "always_defect").cooperation == 0.1
    # after its first 3 moves (steps 3-9): with always-defect only D; with the alternator
    # (C, D, C, ...) tit-for-tat echoes it a step late: C, D, C, D, C, D, C
    assert row(report, "scripted:tit_for_tat", "always_defect").cooperation_late == 0.0
    assert row(report, "scripted:tit_for_tat", "alternator").cooperation_late == 4 / 7
    summary = report.summary["scripted:tit_for_tat"]
    # suspicious TFT opens with D: tit-for-tat plays C, D, C, D, ...; steps 3-9: D, C, D, ...
    assert summary["cooperation_after_3_with/suspicious_tit_for_tat"] == 3 / 7
    assert summary["cooperation_with/suspicious_tit_for_tat"] == 0.5


def test_normalised_score_is_exactly_0_and_1_at_the_references():
    zoo = ("always_cooperate", "always_defect", "tit_for_tat", "grim_trigger", "alternator",
           "uniform_random", "random_cooperator")
    report = evaluate([scripted(z) for z in zoo], pd_suite(zoo, episodes=4), cross_play=False)
    for partner in zoo:
        values = {z: row(report, f"scripted:{z}", partner).focal_return for z in zoo}
        worst, best = min(values, key=values.get), max(values, key=values.get)
        assert row(report, f"scripted:{worst}", partner).normalised == 0.0
        assert row(report, f"scripted:{best}", partner).normalised == 1.0


def test_normalised_score_needs_references_the_episodes_can_tell_apart():
    refs = {"ref:a": 1.0, "ref:b": 3.0}
    assert metrics.normalised(2.0, refs) == 0.5
    # paired episodes: long and short games move both references alike, the gap stays
    steady = {"ref:a": np.array([0.0, 2.0, 1.0]), "ref:b": np.array([2.0, 4.1, 2.9])}
    assert metrics.normalised(2.0, refs, steady) == 0.5
    # the gap itself swings (differences 4, -1, 3): mean 2, standard error ~1.53 -> no scale
    noisy = {"ref:a": np.array([0.0, 2.0, 1.0]), "ref:b": np.array([4.0, 1.0, 4.0])}
    assert np.isnan(metrics.normalised(2.0, refs, noisy))
    assert np.isnan(metrics.normalised(2.0, {"ref:a": 1.0, "ref:b": 1.0}))


def test_gini_of_known_vectors():
    assert metrics.gini([1, 1, 1, 1]) == 0.0
    assert metrics.gini([0, 0, 0, 4]) == pytest.approx(0.75)
    assert metrics.gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert metrics.gini([-1, -1]) == 0.0  # shifted to start at 0
    assert metrics.best_welfare_per_step(PD) == 6.0


def test_alpha_rank_of_rock_paper_scissors_is_uniform_and_a_dominated_agent_gets_no_mass():
    rps = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], float)
    np.testing.assert_allclose(metrics.alpha_rank(rps), [1 / 3] * 3, atol=1e-6)
    dominated = np.array([[0, -1, 1, 1], [1, 0, -1, 1], [-1, 1, 0, 1], [-1, -1, -1, 0]], float)
    mass = metrics.alpha_rank(dominated)
    assert mass[3] < 1e-3 and mass[:3] == pytest.approx([1 / 3] * 3, abs=1e-3)
    nash = metrics.nash_conv(rps)
    assert nash["nash"] == pytest.approx([1 / 3] * 3) and nash["nash_conv"] == pytest.approx(0)


def test_conditional_cooperation_orders_tit_for_tat_above_the_unconditional_strategies():
    report = evaluate([scripted(n) for n in ("tit_for_tat", "always_cooperate",
                                             "always_defect")], load_suite("dilemmas"),
                      episodes=4)
    cc = {a: report.summary[a]["conditional_cooperation"] for a in report.agents}
    # both unconditional strategies cooperate alike with everyone: 0 by the definition
    assert cc["scripted:tit_for_tat"] > 0.9
    assert cc["scripted:always_cooperate"] == cc["scripted:always_defect"] == 0.0
    rec = {a: report.summary[a]["reciprocity"] for a in report.agents}
    assert rec["scripted:tit_for_tat"] > 0.9
    assert rec["scripted:always_cooperate"] == rec["scripted:always_defect"] == 0.0
    # among policies that ignore their partner, cooperating half the time beats never
    assert metrics.reciprocity({"tit_for_tat": 0.5, "always_defect": 0.5}, ("tit_for_tat",)) \
        == 0.25 > metrics.reciprocity({"tit_for_tat": 0.1, "always_defect": 0.1},
                                      ("tit_for_tat",))
    assert np.isnan(metrics.reciprocity({"tit_for_tat": 1.0}, ("tit_for_tat",)))
    cross = report.cross_play
    assert cross["agents"] == list(report.agents) and len(cross["alpha_rank"]) == 3
    # tit-for-tat with itself earns more than always-defect with itself
    assert cross["matrix"][0][0] > cross["matrix"][2][2]


def test_a_score_evaluated_on_only_what_it_reads_is_the_same_figure():
    """A league's selection evaluates only the partners and references its score reads: that
    must not change the score (each cell plays the same games whatever shares its batch)."""
    torch.manual_seed(1)
    agents = [Player(f"net{i}", net=SociusNet(NetConfig(max_players=4, core="gru")).eval())
              for i in range(2)]
    suite = load_suite("dilemmas")
    full = evaluate(agents, suite, cross_play=False, episodes=2)
    partners, references = inputs_of("reciprocity", list(suite.partners))
    assert sorted(partners) == sorted(["tit_for_tat", "generous_tit_for_tat",
                                       "win_stay_lose_shift", "always_defect"])
    assert not references
    reduced = evaluate(agents, replace(suite, references=()), partners=partners,
                       cross_play=False, episodes=2)
    assert len(reduced.cells) < len(full.cells) / 2  # and no reference plays
    for agent in ("net0", "net1"):
        for score in ("reciprocity", "conditional_cooperation"):
            assert reduced.summary[agent][score] == full.summary[agent][score]
        assert np.isnan(reduced.summary[agent]["normalised_zoo"])
    # the scores that read everything keep everything
    assert inputs_of("normalised_zoo", list(suite.partners)) == (list(suite.partners), True)
    assert inputs_of("efficiency", ["always_defect"]) == (["always_defect"], False)
    # a zoo without the score's partners is kept whole (the score is then nan either way)
    assert inputs_of("reciprocity", ["alternator"]) == (["alternator"], False)


def test_a_network_plays_every_held_out_scenario_with_every_measure():
    torch.manual_seed(0)
    net = SociusNet(NetConfig(max_players=4, core="gru"))
    suite = load_suite("heldout")
    report = evaluate([Player("net", net=net)], suite, episodes=4)
    played = {r.scenario_id for r in report.cells}
    assert played == {s.id for s in suite.scenarios}  # every scenario, with some partner
    families = {g.family for s in suite.scenarios for g in s.games}
    assert {"chicken", "battle_of_sexes"} <= families
    summary = report.summary["net"]
    assert 0 <= summary["tom_accuracy"] <= 1 and 0 <= summary["peace"] <= 1
    assert np.isfinite(summary["normalised_zoo"]) and np.isfinite(summary["equality"])
    again = evaluate([Player("net", net=net)], load_suite("heldout"), episodes=4)
    assert [r.focal_return for r in again.cells] == [r.focal_return for r in report.cells]


def test_bad_input_is_refused_before_anything_plays(tmp_path):
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope")
    with pytest.raises(EvalError, match="unknown partner 'saint'"):
        evaluate([scripted("tit_for_tat")], load_suite("dilemmas"), partners=["saint"])
    small = Player("two_seats", net=SociusNet(NetConfig(max_players=2, core="mlp")))
    with pytest.raises(EvalError, match="two_seats: its network seats 2 players, the suite "
                       "'heldout' has scenarios of 4"):
        evaluate([small], load_suite("heldout"))
    with pytest.raises(EvalError, match="unknown scripted strategy 'saint'"):
        evaluate([Player("scripted:saint", scripted="saint")], load_suite("dilemmas"))
    with pytest.raises(EvalError, match="defined for none of the scenarios"):
        evaluate([scripted("tit_for_tat")], load_suite("zero_sum"))
    assert main(["eval", "scripted:tit_for_tat", "--suite", "nope"]) == 2
    assert main(["eval", str(tmp_path)]) == 2  # no checkpoint there
    net = SociusNet(NetConfig(max_players=4, core="mlp"))
    with pytest.raises(EvalError, match="learned partner copy has the same weights as agent"):
        evaluate([Player("agent", net=net)], load_suite("dilemmas"),
                 learned=[Player("copy", net=net)])
    # a partner from the agent's own run is its own population
    from socius.platform.runfolder import RunFolder
    from socius.policies.checkpoint import save_checkpoint

    run = RunFolder.create(tmp_path / "run")
    run.write(RunFolder.MANIFEST, {"config": {}})
    for name in ("main_0", "main_1"):
        save_checkpoint(SociusNet(NetConfig(max_players=4, core="mlp")), run.checkpoint(name))
    assert main(["eval", str(run.checkpoint("main_0")), "--suite", "dilemmas",
                 "--partners", str(run.checkpoint("main_1"))]) == 2


def test_socius_eval_writes_json_with_the_suite_hash(tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["eval", "scripted:tit_for_tat", "scripted:always_defect", "--suite",
                 "dilemmas", "--episodes", "2", "--partners",
                 "tit_for_tat,always_defect", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["suite_hash"] == load_suite("dilemmas").hash
    assert {r["partners"] for r in report["cells"]} >= {"tit_for_tat", "always_defect", "self"}
    assert "cross-play" in capsys.readouterr().out


def test_suite_files_are_what_the_code_builds(tmp_path):
    assert suite_names() == ["classics", "dilemmas", "heldout", "heldout_wide", "zero_sum"]
    build_suites(tmp_path)
    for name, data in suite_data().items():
        assert json.loads((tmp_path / f"{name}.json").read_text()) == data
        assert load_suite(name).scenarios  # the committed file reads
    dilemmas = load_suite("dilemmas")
    # unobserved horizons of about 100 steps: continuation 0.99
    assert all(s.continuation == 0.99 and s.horizon is None for s in dilemmas.scenarios)
