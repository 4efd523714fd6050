"""The torch engine steps exactly as the numpy engine: same observations, rewards, dones, teams
and events for the same seeds and actions (on CPU here; on a GPU too where one is present)."""

import numpy as np
import pytest
import torch

from socius.envs import FAMILIES, BatchedEngine, ScenarioSpace, classic
from socius.policies.torch_engine import TorchEngine

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def eventful_scenarios(count: int):
    families = tuple(n for n, f in FAMILIES.items() if f.sampled and n != "common_pool")
    space = ScenarioSpace(split="all", families=families, max_players=4, p_teams=0.9,
                          p_reteam_range=(0.05, 0.3), p_coalition=0.6, p_rule_changes=0.8,
                          p_rule_change_range=(0.05, 0.3), horizon_range=(3, 12), max_steps=30)
    return [space.sample(700 + k) for k in range(count)] + [
        classic("prisoners_dilemma__textbook", horizon=None, continuation=0.9)]


@pytest.mark.parametrize("device", DEVICES)
def test_torch_engine_equals_the_numpy_engine_bit_for_bit(device):
    scenarios = eventful_scenarios(200)
    b = 600
    which = np.arange(b) % len(scenarios)
    reference = BatchedEngine(scenarios, which, max_players=4)
    engine = TorchEngine(BatchedEngine(scenarios, which, max_players=4), device)
    ref_out, out = reference.buffers(), engine.buffers()
    seeds = np.arange(b, dtype=np.uint64) * np.uint64(7919) + np.uint64(2**63 + 5)  # above 2^63
    reference.reset(seeds, ref_out)
    engine.reset(seeds, out)
    rng = np.random.default_rng(2)
    n, present, coalition = reference.n_players, reference.present, reference.coalition
    events = dones = 0
    for step in range(120):
        acts = (rng.random((4, b)) * reference.n_actions).astype(np.int64) * present
        moves = (rng.random((4, b)) * (n + 2)).astype(np.int64) * present * coalition
        reference.step(acts, ref_out, moves)
        engine.step(torch.from_numpy(acts).to(device), out, torch.from_numpy(moves).to(device))
        for name in ("tokens", "rules_index", "rewards", "terminated", "truncated"):
            np.testing.assert_array_equal(getattr(out, name).cpu().numpy(),
                                          getattr(ref_out, name), err_msg=f"{name}, step {step}")
        np.testing.assert_array_equal(engine.teams.cpu().numpy(), reference.teams)
        np.testing.assert_array_equal(engine.events.cpu().numpy(), reference.events)
        np.testing.assert_array_equal(engine.episode.cpu().numpy().astype(np.uint64),
                                      reference.episode)
        events += int((reference.events != 0).sum())
        dones += int((ref_out.terminated | ref_out.truncated).sum())
    assert events > 1000 and dones > 1000  # re-teaming, coalitions, rule changes, resets seen


def test_torch_engine_refuses_what_only_the_numpy_engine_runs():
    with pytest.raises(ValueError, match="table-driven engines only"):
        TorchEngine(BatchedEngine([classic("common_pool__default")], [0, 0]))
    with pytest.raises(ValueError, match="table-driven engines only"):
        TorchEngine(BatchedEngine([classic("prisoners_dilemma__textbook")], [0, 0],
                                  max_players=8))
