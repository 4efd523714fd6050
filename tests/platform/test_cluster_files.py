"""cluster/: the launcher YAML, the KubeRay manifests, the job's runtime env and the cluster
league config parse, and agree with each other and with what Socius relies on."""

import json
import shlex
from pathlib import Path

import ray
import yaml

import socius
from socius.platform.cli import build_parser
from socius.platform.config import load_config
from socius.platform.ops.jobs import plan_submission

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
WHEEL = f"socius-{socius.__version__}-py3-none-any.whl"


def load(name: str) -> dict:
    data = yaml.safe_load((CLUSTER / name).read_text())
    assert isinstance(data, dict), name
    return data


def league_resources() -> tuple[set[str], set[str]]:
    placement = load_config(CLUSTER / "league.yaml").placement
    return set(placement.runner_resources), set(placement.learner_resources)


def test_cluster_league_config_is_valid_and_writes_to_shared_storage():
    config = load_config(CLUSTER / "league.yaml")
    assert Path(config.runs_dir).is_absolute() and config.runs_dir.startswith("/mnt/shared/")
    assert config.placement.league_on_head and config.placement.learners >= 1
    assert config.placement.learners <= config.rollout.runners


def test_launcher_yaml_has_runner_and_learner_node_types_with_token_auth():
    launcher = load("launcher.yaml")
    types = launcher["available_node_types"]
    assert launcher["head_node_type"] in types
    runner_keys, learner_keys = league_resources()
    offered = {key for t in types.values() for key in t.get("resources", {})}
    assert runner_keys | learner_keys <= offered
    (gpu_type,) = [t for t in types.values() if learner_keys & set(t.get("resources", {}))]
    assert gpu_type["node_config"]["InstanceType"].startswith(("g", "p"))  # a GPU instance
    starts = launcher["head_start_ray_commands"] + launcher["worker_start_ray_commands"]
    ray_starts = [c for c in starts if "ray start" in c]
    assert len(ray_starts) == 2 and all("RAY_AUTH_MODE=token" in c for c in ray_starts)
    assert "--dashboard-host=127.0.0.1" in launcher["head_start_ray_commands"][1]
    assert "~/.ray/auth_token" in launcher["file_mounts"]
    assert any(f"/opt/socius/dist/{WHEEL}" in c for c in launcher["setup_commands"])
    assert launcher["file_mounts"]["/opt/socius/dist"] == "./dist"


def _groups(spec: dict) -> list[dict]:
    return [spec["headGroupSpec"], *spec["workerGroupSpecs"]]


def _check_ray_cluster_spec(spec: dict) -> None:
    assert spec["rayVersion"] == ray.__version__
    assert spec["authOptions"]["mode"] == "token"
    runner_keys, learner_keys = league_resources()
    offered: dict[str, dict] = {}
    for group in spec["workerGroupSpecs"]:
        resources = json.loads(json.loads(group["rayStartParams"]["resources"]))
        offered.update({key: group for key in resources})
    assert runner_keys | learner_keys <= set(offered)
    for key in learner_keys:
        (container,) = offered[key]["template"]["spec"]["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for group in _groups(spec):
        assert group["rayStartParams"]["metrics-export-port"] == "8080"
        for container in group["template"]["spec"]["containers"]:
            assert container["image"] == f"socius:{socius.__version__}"
            assert {"name": "shared", "mountPath": "/mnt/shared"} in container["volumeMounts"]


def test_kuberay_raycluster_has_token_auth_and_the_league_s_resources():
    manifest = load("kuberay-raycluster.yaml")
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayCluster"
    _check_ray_cluster_spec(manifest["spec"])


def test_kuberay_rayjob_runs_the_cluster_league_from_the_image():
    manifest = load("kuberay-rayjob.yaml")
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayJob"
    spec = manifest["spec"]
    _check_ray_cluster_spec(spec["rayClusterSpec"])
    command = shlex.split(spec["entrypoint"])
    assert command[:3] == ["python", "-m", "socius.platform.cli"]
    args = build_parser().parse_args(command[3:])  # the entrypoint is a valid socius command
    assert args.func.__name__ == "cmd_league_run" and args.address == "auto"
    assert args.run_dir.startswith("/mnt/shared/")
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-py311" in dockerfile
    assert f"COPY cluster/league.yaml {args.config}" in dockerfile and WHEEL in dockerfile
    assert yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]["OMP_NUM_THREADS"] == "1"


def test_runtime_env_installs_the_wheel_and_leaves_the_source_behind(tmp_path):
    env = load("runtime_env.yaml")
    assert env["pip"]["packages"] == [f"/opt/socius/dist/{WHEEL}"]
    assert "socius/" in env["excludes"]  # the code comes from the wheel, not the working dir
    plan = plan_submission(str(CLUSTER / "league.yaml"), [], None, None,
                           CLUSTER.parent, str(CLUSTER / "runtime_env.yaml"))
    assert plan.runtime_env["pip"] == env["pip"] and "socius/" in plan.runtime_env["excludes"]
    assert plan.run_dir.startswith("/mnt/shared/socius/runs/cluster_league-")
    assert "cluster/league.yaml" in plan.entrypoint
