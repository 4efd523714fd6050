"""The mechanism behind the generalist config's reciprocity, at CI size: a league whose main agent
meets the zoo's reciprocators and defectors (no unconditional cooperators) in most of its matches,
with a recurrent core and no care for others, ends with a policy that reads its partner in the
repeated prisoner's dilemma: it cooperates with tit-for-tat and its kin and defects against
always-defect.

The league is not bit-reproducible (rounds overlap with learning, so timing matters), and a
single main sometimes collapses to always-defect early (defecting pays at once, cooperating
with a reciprocator only later) or has not yet converged. At 20 generations 10 of 11 seed-runs
reciprocated when this test was written, but later only 5 of 10 (a CI run: 2 of 5, the others
half-way, cooperation with tit-for-tat 0.46-0.71); at 30 generations 6 of 8 (two collapsed to
always-defect). So: 30 generations, 6 seeds, at least 3 must reciprocate (at 0.75 per seed,
96% of runs pass); about 50 s per seed on 2 cores."""

import dataclasses

import pytest

from socius.platform.config import load_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

RECIPROCATORS_AND_DEFECTORS = ("[tit_for_tat, generous_tit_for_tat, win_stay_lose_shift, "
                               "grim_trigger, always_defect, suspicious_tit_for_tat]")


def reciprocity_league(seed: int):
    return load_config(profile="smoke", overrides=[
        f"seed={seed}", "generations=30", "core=gru", "populations=[{name: red, main: 1}]",
        "scenarios.classics=[prisoners_dilemma__textbook]",
        "scenarios.classic_continuation=0.9", "scenarios.max_steps=100",
        f"matchmaking.scripted={RECIPROCATORS_AND_DEFECTORS}",
        "matchmaking.main_scripted=0.9", "matchmaking.main_self_play=0.1",
        "rollout.rounds_per_generation=8", "rollout.slots=32", "rollout.steps_per_round=16",
        "snapshots.every_steps=5000", "data.store=false", "tracking.mirror=false"])


def test_a_main_agent_trained_among_reciprocators_and_defectors_reciprocates(ray_session,
                                                                            tmp_path):
    from socius.platform.eval.evaluate import evaluate
    from socius.platform.eval.play import Player
    from socius.platform.eval.suites import load_suite
    from socius.platform.run.league import run_league
    from socius.policies.checkpoint import load_module

    dilemmas = load_suite("dilemmas")  # continuation 0.99: about 100 moves per episode
    suite = dataclasses.replace(dilemmas, scenarios=tuple(
        s for s in dilemmas.scenarios if s.name == "prisoners_dilemma__textbook"))
    assert len(suite.scenarios) == 1
    figures = {}
    for seed in range(6):
        run_league(reciprocity_league(seed), tmp_path / f"seed{seed}", log=lambda line: None)
        net = load_module(tmp_path / f"seed{seed}" / "checkpoints" / "main_0").eval()
        summary = evaluate([Player("main_0", net=net)], suite).summary["main_0"]
        figures[seed] = {k: round(summary[k], 2) for k in (
            "conditional_cooperation", "cooperation_with/tit_for_tat",
            "cooperation_with/always_defect")}
    reciprocating = [seed for seed, f in figures.items()
                     if f["conditional_cooperation"] >= 0.6
                     and f["cooperation_with/tit_for_tat"] >= 0.8
                     and f["cooperation_with/always_defect"] <= 0.2]
    assert len(reciprocating) >= 3, figures
