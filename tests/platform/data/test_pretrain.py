"""Behaviour cloning from the rollout lake: a scripted tit-for-tat, and a league member."""

import os

import numpy as np
import pytest
import torch

from socius.envs import classic
from socius.platform.data.lake import Lake
from socius.platform.data.pretrain import behaviour_clone, load_examples, parse_where, pretrain
from socius.platform.data.writer import matches_table, outcomes_table
from socius.platform.training.runner import Runner
from socius.platform.types import MatchTicket
from socius.policies.checkpoint import load_module, read_manifest
from socius.policies.network import NetConfig


def test_cloning_tit_for_tat_reproduces_its_actions(tmp_path):
    run = tmp_path / "run"
    ipd = classic("prisoners_dilemma__textbook", horizon=None, continuation=0.9)
    tickets = [MatchTicket(f"g0-{k}", ipd, ("scripted:tit_for_tat", "scripted:uniform_random"),
                           (False, False), seed=k, episodes=8) for k in range(64)]
    _, stats = Runner(NetConfig(max_players=2, core="mlp"), steps=64, seed=0, record=True,
                      run_id="run").run(tickets, {})
    lake = Lake(run / "lake")
    lake.write_by_family("steps", stats.steps, "run", 0)
    lake.write_by_family("matches", matches_table(tickets, "run", 0), "run", 0)
    # as in a league, each match's end is a row of its own (no scenario in it)
    lake.write_by_family("matches", outcomes_table({t.match_id: "prisoners_dilemma"
                                                    for t in tickets}, "finished", "run", 0),
                         "run", 0)
    result = pretrain(run, tmp_path / "tft", where=["member=scripted:tit_for_tat"], epochs=20)
    assert result["heldout"] > 300 and result["heldout_accuracy"] >= 0.98, result
    assert read_manifest(tmp_path / "tft")["lineage"]["where"] == ["member=scripted:tit_for_tat"]
    load_module(tmp_path / "tft")
    with pytest.raises(ValueError, match="key=value"):
        parse_where(["colour=red"])
    with pytest.raises(ValueError, match="no stored steps"):
        load_examples(run, ["member=nobody"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cloning_a_league_member_matches_its_action_distributions(ray_session, tmp_path):
    """After a league, its trained main agent plays more matches of the league's scenarios
    (self-play, with fixed weights), stored in the run's lake like any generation; cloning
    those steps gives a policy within 0.1 total-variation distance of the member's action
    distributions on held-out steps."""
    from socius.platform.config import load_config
    from socius.platform.run.league import league_scenarios, run_league
    from socius.platform.training.weights import WeightsHandle, state_digest

    config = load_config(profile="smoke", overrides=[
        "generations=3", "ppo.lr=0.01", f"seed={os.environ.get('BC_SEED', 0)}"])
    run = tmp_path / "run"
    run_league(config, run, log=lambda line: None)
    member = load_module(run / "checkpoints" / "main_0").eval()
    weights = {k: v.numpy() for k, v in member.state_dict().items()}
    scenarios = league_scenarios(config)
    tickets = [MatchTicket(f"eval-{k}", scenarios[k % len(scenarios)],
                           ("main_0",) * scenarios[k % len(scenarios)].n_players,
                           (False,) * scenarios[k % len(scenarios)].n_players, seed=k,
                           episodes=8)  # horizons of at most 8 steps: 8 fill the 64-step call
               for k in range(128)]
    runner = Runner(member.config, steps=64, seed=1, record=True, run_id=run.name)
    lake = Lake(run / "lake", create=False)
    for call in range(2):
        played = [MatchTicket(f"{t.match_id}-{call}", t.scenario, t.seats, t.learn,
                              t.seed + call, t.episodes) for t in tickets]
        _, stats = runner.run(played, {"main_0": WeightsHandle(state_digest(weights), weights)})
        lake.write_by_family("steps", stats.steps, run.name, config.generations)
        lake.write_by_family("matches", matches_table(played, run.name, config.generations),
                             run.name, config.generations)
    examples = load_examples(run, ["member=main_0", f"generation={config.generations}"])
    net, stats = behaviour_clone(examples, epochs=20)
    held = torch.from_numpy(examples.obs[examples.heldout])
    with torch.no_grad():
        p = torch.softmax(member(held)["action_logits"], -1).numpy()
        q = torch.softmax(net(held)["action_logits"], -1).numpy()
    tv = 0.5 * np.abs(p - q).sum(-1).mean()
    valid = p > 1e-6
    uniform = 0.5 * np.abs(p - valid / valid.sum(-1, keepdims=True)).sum(-1).mean()
    print(f"{stats}, TV to the member {tv:.3f} (a uniform policy's: {uniform:.3f})")
    assert stats["heldout"] >= 1000 and tv <= 0.1
