"""Planning a league job (no cluster needed): checks before submitting, entrypoint, runtime env,
where the token comes from."""

import shlex

import pytest

from socius.platform.config import ConfigError
from socius.platform.ops.jobs import EXCLUDES, JobsError, auth_token, plan_submission


def test_submission_runs_the_league_from_the_packaged_working_dir(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text("name: mine\ngenerations: 3\n")
    env_file = tmp_path / "env.yaml"
    env_file.write_text("env_vars: {MLFLOW_TRACKING_URI: http://10.0.0.1:5000}\n"
                        "excludes: [data/]\npip: [openskill]\n")
    plan = plan_submission(str(tmp_path / "configs" / "mine.yaml"), ["rollout.rounds_per_generation=2"],
                           "smoke", "/shared/runs/mine", tmp_path, str(env_file))
    args = shlex.split(plan.entrypoint)
    assert args[:5] == ["python", "-m", "socius.platform.cli", "league", "run"]
    assert args[5] == "configs/mine.yaml"  # relative: it travels inside the working dir
    assert args[args.index("--run-dir") + 1] == "/shared/runs/mine"
    assert args[args.index("--address") + 1] == "auto"
    assert args[args.index("--set") + 1] == "rollout.rounds_per_generation=2"
    assert plan.runtime_env["working_dir"] == str(tmp_path)
    assert set(EXCLUDES) | {"data/"} == set(plan.runtime_env["excludes"])
    assert {"runs/", ".venv/", "mlruns/", "*.db"} <= set(plan.runtime_env["excludes"])
    assert plan.runtime_env["env_vars"] == {"OMP_NUM_THREADS": "1",
                                            "MLFLOW_TRACKING_URI": "http://10.0.0.1:5000"}
    assert plan.runtime_env["pip"] == ["openskill"]
    assert plan.submission_id.startswith("socius-mine-")


def test_submission_refuses_what_would_fail_on_the_cluster(tmp_path):
    with pytest.raises(ConfigError, match="relative"):
        plan_submission(None, [], "smoke", "runs/x", tmp_path)  # lost in the job's temp copy
    with pytest.raises(ConfigError, match="runs_dir|relative"):
        plan_submission(None, [], "smoke", None, tmp_path)  # the default runs_dir is relative
    outside = tmp_path.parent / "outside.yaml"
    outside.write_text("name: x\n")
    with pytest.raises(ConfigError, match="inside the working dir"):
        plan_submission(str(outside), [], None, "/abs/run", tmp_path / "wd")
    with pytest.raises(ConfigError, match="generations"):
        plan_submission(None, ["generations=0"], "smoke", "/abs/run", tmp_path)
    plan = plan_submission(None, ["runs_dir=/shared/runs"], "smoke", None, tmp_path)
    assert plan.run_dir.startswith("/shared/runs/league-")


def test_token_comes_from_ray_s_places_in_ray_s_order(tmp_path, monkeypatch):
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert auth_token() is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert auth_token() == "from-home"
    (tmp_path / "file").write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "file"))
    assert auth_token() == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert auth_token() == "from-env"
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(JobsError, match="RAY_AUTH_TOKEN_PATH"):
        auth_token()
