"""The MLflow mirror and registry against a real SQLite tracking store: versions with tags,
aliases that move, nothing logged twice, `pull` bit-exact, tampering caught."""

import json
from pathlib import Path

import pytest
import torch

from socius.platform.config import LeagueConfig
from socius.platform.league.ratings import Rating
from socius.platform.league.roles import Role
from socius.platform.league.state import LeagueState, Member
from socius.platform.registry import Mirror, champions, pull, resolve
from socius.policies.checkpoint import CheckpointError, save_checkpoint
from socius.policies.network import NetConfig, SociusNet


def write_run(run, state, config):
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run / "manifest.json").write_text(json.dumps(
        {"socius_version": "0.1.0", "config": config.as_json()}))
    (run / "league.json").write_text(json.dumps({"league": state.to_dict(), "rng": {}}))
    from socius.platform.runfolder import RunFolder

    RunFolder(run).append_history({"generation": state.generation, "members": len(state.members),
                        "ratings": {m: r.ordinal for m, r in state.ratings.items()},
                        "cooperation": dict(state.cooperation), "episodes": 0,
                        "care": {m.id: [0.0, 0.0] for m in state.learners()},
                        "agent_steps_trained": 0})
    for member in state.members.values():
        path = run / "checkpoints" / member.id
        if not path.exists():
            torch.manual_seed(len(member.id) + member.generation)
            save_checkpoint(SociusNet(NetConfig(max_players=2, core="mlp")), path)


def snapshot(parent, generation, role=Role.MAIN):
    return Member(f"{parent}@{generation}", "red", role, trainable=False, parent=parent,
                  generation=generation)


def test_mirror_registers_snapshots_moves_aliases_and_pulls_exact_weights(tmp_path):
    run, uri = tmp_path / "run", f"sqlite:///{tmp_path}/mlflow.db"
    config = LeagueConfig(name="lg")
    state = LeagueState(generation=3)
    for member in (Member("main_0", "red", Role.MAIN), snapshot("main_0", 1),
                   snapshot("main_0", 3), Member("main_exploiter_0", "red", Role.MAIN_EXPLOITER),
                   snapshot("main_exploiter_0", 2, Role.MAIN_EXPLOITER)):
        state.members[member.id] = member
    state.ratings = {"main_0": Rating(30, 2), "main_0@1": Rating(28, 2),
                     "main_0@3": Rating(26, 2), "main_exploiter_0@2": Rating(20, 2)}
    write_run(run, state, config)
    mirror = Mirror(run, tracking_uri=uri)
    added = mirror.sync()
    assert added == {"generations": [3], "versions": ["main_0@1", "main_0@3",
                                                       "main_exploiter_0@2"]}
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = {v.tags["member"]: v for v in client.search_model_versions("name='socius.lg.main_0'")}
    assert set(versions) == {"main_0@1", "main_0@3"}
    tags = versions["main_0@3"].tags
    assert tags["role"] == "main" and tags["generation"] == "3" and tags["parent"] == "main_0"
    assert tags["population"] == "red" and tags["socius_version"] == "0.1.0"
    assert float(tags["rating"]) == pytest.approx(20.0) and len(tags["scenario_split_hash"]) == 16
    assert client.get_model_version_by_alias("socius.lg.main_0", "champion").tags["member"] \
        == "main_0@1"  # 28 - 6 beats 26 - 6
    # nothing twice: a second sync adds nothing and logs no second point
    assert Mirror(run, tracking_uri=uri).sync() == {"generations": [], "versions": []}
    run_id = json.loads((run / "mirror.json").read_text())["run_id"]
    assert len(client.get_metric_history(run_id, "rating/main_0")) == 1
    # the league goes on: a better snapshot takes the champion alias
    state.generation = 5
    state.members["main_0@5"] = snapshot("main_0", 5)
    state.ratings["main_0@5"] = Rating(35, 1)
    write_run(run, state, config)
    assert Mirror(run, tracking_uri=uri).sync()["versions"] == ["main_0@5"]
    champion = client.get_model_version_by_alias("socius.lg.main_0", "champion")
    assert champion.tags["member"] == "main_0@5"
    assert len(client.get_metric_history(run_id, "rating/main_0")) == 2
    # snapshots not rated yet: after every rated one; a main with none rated gets its newest
    state.generation = 6
    for member in (snapshot("main_0", 6), Member("main_1", "blue", Role.MAIN),
                   snapshot("main_1", 4), snapshot("main_1", 6)):
        state.members[member.id] = member
    write_run(run, state, config)
    Mirror(run, tracking_uri=uri).sync()
    assert client.get_model_version_by_alias("socius.lg.main_0", "champion").tags["member"] \
        == "main_0@5"
    assert client.get_model_version_by_alias("socius.lg.main_1", "champion").tags["member"] \
        == "main_1@6"
    # pull: bit-exact, by alias, by version, newest as `latest`
    local = pull("socius.lg.main_0@champion", tmp_path / "pulled", uri)
    original = (run / "checkpoints" / "main_0@5" / "weights.safetensors").read_bytes()
    assert (local / "weights.safetensors").read_bytes() == original
    assert resolve("socius.lg.main_0@latest", uri)[1]["member"] == "main_0@6"
    assert resolve("socius.lg.main_0/1", uri)[1]["member"] == "main_0@1"
    # a tampered artifact in the store fails the sha256 check
    stored = Path(champion.source.removeprefix("file://")) / "weights.safetensors"
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        pull("socius.lg.main_0@champion", tmp_path / "pulled_again", uri)


def start_server(tmp_path, port):
    import subprocess
    import sys
    import time
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
         "--artifacts-destination", str(tmp_path / "server_artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("mlflow server did not start")


def stop_server(proc):
    import os
    import signal

    os.killpg(proc.pid, signal.SIGKILL)  # the server and its workers, at once
    proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_registry_through_mlflow_server_survives_it_going_away(ray_session, tmp_path,
                                                              monkeypatch):
    """A league mirrors into an `mlflow server` on 127.0.0.1; the server is stopped after the
    first generation, the run still finishes, and once the server is back the mirror
    completes with nothing logged twice."""
    import socket
    import threading
    import time

    from mlflow import MlflowClient

    from socius.platform.config import load_config
    from socius.platform.run.league import run_league

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port)
    run = tmp_path / "run"
    stopped = threading.Event()

    def stop_after_first_generation():
        state_file = run / "league.json"
        while not state_file.is_file() or json.loads(
                state_file.read_text())["league"]["generation"] < 1:
            time.sleep(0.1)
        stop_server(server)
        stopped.set()

    threading.Thread(target=stop_after_first_generation, daemon=True).start()
    config = load_config(profile="smoke", overrides=["generations=4", f"tracking.uri={uri}"])
    state = run_league(config, run, log=lambda line: None)
    assert stopped.is_set() and state.generation == 3  # the run finished without MLflow
    done = json.loads((run / "mirror.json").read_text()) if (run / "mirror.json").is_file() \
        else {"generations": []}
    assert 3 not in done["generations"]
    snapshots = {m.id for m in state.members.values() if not m.trainable}
    server = start_server(tmp_path, port)
    try:
        Mirror(run, tracking_uri=uri).sync()
        done = json.loads((run / "mirror.json").read_text())
        assert 3 in done["generations"] and set(done["versions"]) == snapshots
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        registered = [v.tags["member"] for name in ("socius.league.main_0", "socius.league.main_1")
                      for v in client.search_model_versions(f"name='{name}'")]
        assert sorted(registered) == sorted(snapshots)  # each exactly once
        pulled = pull("socius.league.main_0@latest", tmp_path / "pulled", uri)
        assert (pulled / "weights.safetensors").is_file()
    finally:
        stop_server(server)


@pytest.mark.timeout(600)
def test_finetune_a_pulled_checkpoint_and_register_it_with_its_parent(tmp_path, capsys):
    from mlflow import MlflowClient

    from socius.platform.cli import main
    from socius.policies.checkpoint import load_module, read_manifest

    run, uri = tmp_path / "run", f"sqlite:///{tmp_path}/mlflow.db"
    state = LeagueState(generation=1)
    for member in (Member("main_0", "red", Role.MAIN), snapshot("main_0", 1)):
        state.members[member.id] = member
    state.ratings = {"main_0@1": Rating(25, 2)}
    write_run(run, state, LeagueConfig(name="lg"))
    Mirror(run, tracking_uri=uri).sync()
    out = tmp_path / "tuned"
    code = main(["finetune", "--from", "socius.lg.main_0@champion", "--scenario",
                 "prisoners_dilemma__textbook", "--partners", "always_defect", "--steps", "3000",
                 "--out", str(out), "--tracking-uri", uri])
    assert code == 0, capsys.readouterr().err
    assert read_manifest(out)["lineage"]["parent"] == "socius.lg.main_0@champion"
    parent = load_module(run / "checkpoints" / "main_0@1")
    tuned = load_module(out)
    assert any(not torch.equal(a, b) for a, b in zip(parent.state_dict().values(),
                                                      tuned.state_dict().values(), strict=True))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version("socius.finetuned.prisoners_dilemma__textbook", "1")
    assert version.tags["parent"] == "socius.lg.main_0@champion"
    assert version.tags["partners"] == "always_defect"
    assert main(["finetune", "--from", "socius.lg.main_0@champion", "--scenario", "nowhere",
                 "--tracking-uri", uri]) == 2
    capsys.readouterr()
    assert main(["lineage", "socius.lg.main_0@champion", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "main_0@1" in out and "parent main_0" in out
    assert "socius.finetuned.prisoners_dilemma__textbook/1 from socius.lg.main_0@champion" in out


def test_partner_specs_for_fine_tuning():
    from socius.platform.finetune import partner_from_spec, target_scenario

    assert partner_from_spec("fixed_mixed:0.7/0.3").probs.tolist() == [0.7, 0.3]
    assert partner_from_spec("tit_for_tat").name == "tit_for_tat"
    with pytest.raises(ValueError, match="fixed_mixed:p1/p2"):
        partner_from_spec("fixed_mixed:a/b")
    with pytest.raises(ValueError, match="probability vector"):
        partner_from_spec("fixed_mixed:0.7/0.7")
    assert target_scenario("chicken__textbook").n_players == 2


def test_fine_tuning_beside_a_learned_partner_and_a_mismatched_one(tmp_path):
    """A checkpoint folder is a learned partner: training runs beside it; a partner whose
    network cannot share the collector (another core) is refused naming its folder."""
    import torch

    from socius.platform.finetune import partner_from_spec, target_scenario, train_on
    from socius.policies.checkpoint import save_checkpoint
    from socius.policies.network import NetConfig, SociusNet

    torch.manual_seed(0)
    learned = SociusNet(NetConfig(max_players=2))
    save_checkpoint(learned, tmp_path / "partner")
    assert isinstance(partner_from_spec(str(tmp_path / "partner")), SociusNet)
    scenario = target_scenario("prisoners_dilemma__textbook")
    net = SociusNet(NetConfig(max_players=2))
    _, history = train_on(net, scenario, ["tit_for_tat", str(tmp_path / "partner")], 600)
    assert history and history[-1]["steps"] >= 600
    # a fresh value head: the caller's network keeps its own, the run starts from a new one
    before = net.value_head.weight.detach().clone()
    fresh = SociusNet(NetConfig(max_players=2))
    fresh.load_state_dict(net.state_dict())
    torch.manual_seed(3)
    fresh.value_head.reset_parameters()
    _, reset = train_on(net, scenario, ["tit_for_tat"], 600, seed=3, fresh_value_head=True)
    _, by_hand = train_on(fresh, scenario, ["tit_for_tat"], 600, seed=3)
    _, kept = train_on(net, scenario, ["tit_for_tat"], 600, seed=3)
    assert torch.equal(net.value_head.weight, before)
    loss = "learner/vf_loss_unclipped"  # the first update's value loss: the head it started from
    assert reset[0][loss] == pytest.approx(by_hand[0][loss]) and reset[0][loss] != kept[0][loss]
    save_checkpoint(SociusNet(NetConfig(max_players=2, core="mlp")), tmp_path / "mlp")
    with pytest.raises(ValueError, match=f"partner {tmp_path / 'mlp'}: its network"):
        train_on(net, scenario, [str(tmp_path / "mlp")], 600)


def test_every_fine_tuning_partner_plays_in_two_player_games():
    """The partners rotate over the instances as well as the seats: in a two-player game each
    of six partners sits opposite the learner in 10-12 of 64 instances (a rotation over the
    other seats alone gave every instance to the first partner)."""
    import numpy as np

    from socius.platform.finetune import seat_assignment

    seats = seat_assignment(2, 64, 6, 4)
    assert (seats[2:] == -1).all() and ((seats[:2] == 0).sum(axis=0) == 1).all()
    assert (seats[0] == 0).sum() == (seats[1] == 0).sum() == 32  # the learner's seat rotates
    counts = np.bincount(seats[seats > 0], minlength=7)[1:]
    assert counts.min() >= 10 and counts.max() <= 12
    four = seat_assignment(4, 8, 3, 4)  # four players, three partners: all in every instance
    assert all(sorted(four[:, b]) == [0, 1, 2, 3] for b in range(8))
    assert (seat_assignment(2, 4, 0, 2) == 0).all()  # no partners: self-play


def test_a_tracking_server_that_does_not_answer_fails_fast_naming_it(tmp_path):
    """A socket that accepts connections and never answers: `pull` gives up within seconds
    (bounded retries and timeouts), not after minutes, and the error names the URI."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
    start = time.monotonic()
    try:
        with pytest.raises(Exception, match=f"127.0.0.1:{silent.getsockname()[1]}"):
            pull("socius.lg.main_0@champion", tmp_path / "pulled", uri)
    finally:
        silent.close()
    assert time.monotonic() - start < 30  # MLflow's defaults retried for about 4 minutes


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_8_generation_league_mirrors_every_generation_and_its_champion_pulls(
        ray_session, tmp_path):
    from mlflow import MlflowClient

    from socius.platform.config import load_config
    from socius.platform.run.league import run_league

    run = tmp_path / "run"
    run_league(load_config(profile="smoke", overrides=["generations=8"]), run,
               log=lambda line: None)
    uri = f"sqlite:///{run.resolve()}/mlflow.db"
    done = json.loads((run / "mirror.json").read_text())
    assert sorted(done["generations"]) == list(range(8))
    client = MlflowClient(tracking_uri=uri)
    steps = [m.step for m in client.get_metric_history(done["run_id"], "rating/main_0")]
    assert sorted(steps) == list(range(8))  # every generation, its number as the step
    local = pull("socius.league.main_0@champion", tmp_path / "pulled", uri)
    assert (local / "weights.safetensors").is_file()
    # artifacts live in the run folder, not in the folder the run was started from
    assert client.get_model_version_by_alias("socius.league.main_0", "champion").source \
        .startswith((run.resolve() / "mlartifacts").as_uri())


def test_eval_scores_rank_by_the_configured_measure_latest_first():
    from socius.platform.registry import eval_scores

    history = [
        {"generation": 0, "eval": {"members": {
            "main_0@0": {"normalised_zoo": 0.9, "conditional_cooperation": 0.1}}}},
        {"generation": 1},
        {"generation": 2, "eval": {"members": {
            "main_0@0": {"normalised_zoo": 0.7, "conditional_cooperation": 0.2},
            "main_0@2": {"normalised_zoo": 0.2, "conditional_cooperation": 0.9},
            "main_1@2": {"normalised_zoo": None, "conditional_cooperation": 0.5}}}}]
    assert eval_scores(history) == {"main_0@0": 0.7, "main_0@2": 0.2}
    assert eval_scores(history, "conditional_cooperation") == {
        "main_0@0": 0.2, "main_0@2": 0.9, "main_1@2": 0.5}


def test_champions_pick_each_mains_best_snapshot_by_rating_or_by_evaluation():
    """The registry's `champion` alias: per main agent, its best-rated snapshot, or with scores
    its best-evaluated one; unrated (unscored) snapshots only where none is, newest first."""
    members = [Member("main_0", "red", Role.MAIN),
               *(Member(f"main_0@{g}", "red", Role.MAIN, trainable=False, parent="main_0",
                        generation=g) for g in (1, 2, 3)),
               Member("main_1", "blue", Role.MAIN),
               *(Member(f"main_1@{g}", "blue", Role.MAIN, trainable=False, parent="main_1",
                        generation=g) for g in (1, 2)),
               Member("main_exploiter_0@1", "red", Role.MAIN_EXPLOITER, trainable=False,
                      parent="main_exploiter_0", generation=1)]
    state = LeagueState(members={m.id: m for m in members},
                        ratings={"main_0@1": Rating(30, 1), "main_0@2": Rating(25, 1),
                                 "main_exploiter_0@1": Rating(40, 1)})
    snapshots = [m.id for m in members if not m.trainable]
    assert champions(state, snapshots) == {"main_0": "main_0@1", "main_1": "main_1@2"}
    scores = {"main_0@2": 0.9, "main_0@3": 0.4}
    assert champions(state, snapshots, scores) == {"main_0": "main_0@2", "main_1": "main_1@2"}
    assert champions(state, ["main_0@3"]) == {"main_0": "main_0@3"}  # only registered ones
