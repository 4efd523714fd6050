"""A smoke-sized league end to end on local Ray: run folder, snapshots, ratings, checkpoints."""

import json

import pytest
import torch

from socius.platform.league.config import load_config
from socius.platform.league.state import LeagueState
from socius.platform.training.weights import state_digest
from socius.policies import load_module, load_policy, read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_smoke_league_writes_a_complete_run_folder(ray_session, tmp_path):
    from socius.platform.league.run import members_table, run_league

    config = load_config(profile="smoke", overrides=["generations=3"])
    run_dir = tmp_path / "run"
    state = run_league(config, run_dir, log=lambda line: None)
    saved = LeagueState.from_dict(json.loads((run_dir / "league.json").read_text()))
    assert saved.to_dict() == state.to_dict() and saved.generation == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["generations"] == 3 and manifest["packages"]["ray"]
    learners = [m for m in state.members.values() if m.trainable]
    snapshots = [m for m in state.members.values() if not m.trainable]
    assert {m.id for m in learners} == {"main_0", "main_1"} and snapshots
    for snap in snapshots:
        path = run_dir / "checkpoints" / snap.id
        # a frozen snapshot keeps exactly the weights it was taken with
        net = load_module(path)
        weights = {k: v.numpy() for k, v in net.state_dict().items()}
        assert state_digest(weights) == snap.weights_digest
        assert read_manifest(path)["lineage"]["parent"] == snap.parent
        load_policy(path).act({"tokens": torch.zeros(net.config.layout.size, dtype=torch.uint8)
                               .numpy(), "rules": torch.zeros(64).numpy()})
    # members that kept training moved on from their first snapshot
    first = min(snapshots, key=lambda m: m.generation)
    assert state.members[first.parent].weights_digest != first.weights_digest
    assert set(state.ratings) >= {"main_0", "main_1"}
    assert "main_0" in members_table(state)
