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
    saved = LeagueState.from_dict(json.loads((run_dir / "league.json").read_text())["league"])
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


def test_sigkill_then_resume_continues_with_the_same_members(tmp_path):
    """The driver is killed (SIGKILL) after a generation is saved; `socius league resume`
    continues from it with the same members, ratings and lineage."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "socius.platform.cli", "league", "run", "--profile",
               "smoke", "--set", "generations=4", "--run-dir", str(run_dir)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    state_file = run_dir / "league.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state_file.exists() and json.loads(state_file.read_text())["league"]["generation"] >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = json.loads(state_file.read_text())["league"]
    assert before["generation"] < 3
    result = subprocess.run([sys.executable, "-m", "socius.platform.cli", "league", "resume",
                             str(run_dir)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    after = json.loads(state_file.read_text())["league"]
    assert after["generation"] == 3
    ids_before = {m["id"]: m for m in before["members"]}
    ids_after = {m["id"]: m for m in after["members"]}
    assert set(ids_before) <= set(ids_after)
    for member_id, member in ids_before.items():
        assert ids_after[member_id]["parent"] == member["parent"]  # lineage kept
        assert ids_after[member_id]["steps"] >= member["steps"]
    assert set(before["ratings"]) <= set(after["ratings"])


def test_resume_refuses_another_socius_version(tmp_path):
    from socius.platform.league.run import resume_league

    run_dir = tmp_path / "old"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({"socius_version": "0.0.1",
                                                       "state_format": 0, "config": {}}))
    (run_dir / "league.json").write_text(json.dumps({"league": {}, "rng": {}}))
    with pytest.raises(ValueError, match="0.0.1"):
        resume_league(run_dir)
