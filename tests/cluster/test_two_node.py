"""A real two-node Ray cluster on this machine (head + a second node on 127.0.0.1, token
authentication on): the smoke league submitted with `socius submit`, followed with `socius jobs`,
runners placed on the second node, metrics scraped from Ray's metrics port, a run folder like a
local run's. Runs in its own pytest invocation (`pytest --cluster tests/cluster`, as
scripts/test.sh does): it starts and stops Ray processes of its own, never `ray stop`."""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_ports() -> list[str]:
    """Each node's own agent and manager ports: two nodes on one machine (or a leftover Ray
    session of another test) would otherwise reach for the same defaults."""
    return [f"--{name}={_free_port()}" for name in (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
        "node-manager-port", "object-manager-port")]


def _wait(check, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


class TwoNodeCluster:
    def __init__(self, root: Path):
        self.root, self.token = root, secrets.token_hex(16)
        (root / "token").write_text(self.token)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("RAY_ADDRESS", "RAY_API_SERVER", "RAY_AUTH"))}
        self.env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(root / "token"),
                        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", OMP_NUM_THREADS="1")
        self.gcs, self.dash = _free_port(), _free_port()
        self.metrics = [_free_port(), _free_port()]
        self.url = f"http://127.0.0.1:{self.dash}"
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        try:
            self._start_nodes()
        except AssertionError as exc:  # say why: the fixture deletes the logs afterwards
            logs = "\n".join(f"--- {p.name} (last lines)\n" + "\n".join(
                p.read_text(errors="replace").splitlines()[-40:])
                for p in sorted(self.root.glob("*.log")))
            raise AssertionError(f"{exc}\n{self.ray_status()}\n{logs}") from None

    def _start_nodes(self) -> None:
        ray = str(BIN / "ray")
        self._start([ray, "start", "--head", "--block", f"--port={self.gcs}",
                     "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
                     f"--dashboard-port={self.dash}", f"--metrics-export-port={self.metrics[0]}",
                     *_node_ports(), "--num-cpus=1", f"--temp-dir={self.root / 'ray'}"], "head")
        _wait(lambda: _get(f"{self.url}/api/jobs/", self.token)[0] == 200, 90, "the head")
        self._start([ray, "start", "--block", f"--address=127.0.0.1:{self.gcs}",
                     "--node-ip-address=127.0.0.1", f"--metrics-export-port={self.metrics[1]}",
                     *_node_ports(), "--num-cpus=2", '--resources={"socius_runner": 2}',
                     # its own temp dir, as on a second machine: sharing the head's, its
                     # runtime-env agent re-unpacks the job's working dir under the driver
                     f"--temp-dir={self.root / 'ray2'}"], "worker")
        _wait(lambda: "socius_runner" in self.ray_status(), 90, "the second node")

    def _start(self, command: list[str], name: str) -> None:
        log = open(self.root / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        self.processes.append(subprocess.Popen(command, env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def ray_status(self) -> str:
        return subprocess.run([str(BIN / "ray"), "status", f"--address=127.0.0.1:{self.gcs}"],
                              env=self.env, capture_output=True, text=True, timeout=60).stdout

    def socius(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "socius"), *args], env=env or self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        """SIGTERM to each `ray start --block` shuts its node down; leftovers of this cluster
        (found by its GCS port or temp dir) are killed, other Ray sessions are left alone."""
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        marks = (f":{self.gcs}", str(self.root / "ray"))  # also matches ray2
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError):
                continue
            if proc.name.isdigit() and int(proc.name) != os.getpid() and any(
                    mark in cmdline for mark in marks):
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="sc", dir="/tmp"))  # short: Ray's socket paths
    cluster = TwoNodeCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_jobs_api_refuses_calls_without_the_token(cluster, tmp_path):
    assert _get(f"{cluster.url}/api/jobs/")[0] == 401
    assert _get(f"{cluster.url}/api/jobs/", "not-the-token")[0] == 403
    no_token = {k: v for k, v in cluster.env.items() if not k.startswith("RAY_AUTH")}
    no_token["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    refused = cluster.socius("jobs", "list", "--address", cluster.url, env=no_token)
    assert refused.returncode == 2
    assert "No Ray token found" in refused.stderr and cluster.url in refused.stderr


def test_submitted_smoke_league_runs_with_runners_on_the_second_node(cluster, tmp_path):
    run_dir = tmp_path / "run"
    submitted = cluster.socius(
        "submit", "--profile", "smoke", "--set", "generations=4", "--set", "rollout.runners=2",
        "--set", "placement.runner_resources={socius_runner: 1}", "--run-dir", str(run_dir),
        "--address", cluster.url)
    assert submitted.returncode == 0, submitted.stderr
    job_id = re.search(r"submitted (\S+)", submitted.stdout).group(1)

    scraped: set[str] = set()

    def finished() -> str | None:
        for port in cluster.metrics:
            _, body = _get(f"http://127.0.0.1:{port}/metrics")
            scraped.update(re.findall(r"^(ray_socius_\w+?)\{", body, flags=re.M))
        status = json.loads(cluster.socius("jobs", "status", job_id, "--address",
                                           cluster.url).stdout)["status"]
        return status if status in ("SUCCEEDED", "FAILED", "STOPPED") else None

    status = _wait(finished, 300, f"job {job_id}")
    logs = cluster.socius("jobs", "logs", job_id, "--address", cluster.url).stdout
    assert status == "SUCCEEDED", logs[-3000:]
    assert "generation 3:" in logs and "run folder:" in logs
    listed = cluster.socius("jobs", "list", "--address", cluster.url).stdout
    assert job_id in listed and str(run_dir) in listed
    # Socius metrics on Ray's metrics port, live while the league ran
    assert {"ray_socius_generation", "ray_socius_rating",
            "ray_socius_agent_steps_per_second"} <= scraped, scraped
    # a run folder like a local run's
    assert {p.name for p in run_dir.iterdir()} >= {
        "manifest.json", "league.json", "history.jsonl", "cluster.json", "checkpoints", "lake",
        "mirror.json", "mlflow.db"}
    assert json.loads((run_dir / "league.json").read_text())["league"]["generation"] == 3
    placed = json.loads((run_dir / "cluster.json").read_text())
    nodes, actors = placed["nodes"], placed["actors"]
    assert len(nodes) == 2
    (head,) = [n for n, info in nodes.items() if info["head"]]
    (second,) = [n for n, info in nodes.items() if not info["head"]]
    assert actors["runners"] == [second, second]  # runners on the node that offers them
    assert actors["league"] == [head] and actors["writer"] == [head]
    assert placed["ray_dashboard"]


def test_a_running_league_job_can_be_stopped(cluster, tmp_path):
    submitted = cluster.socius("submit", "--profile", "smoke", "--set", "generations=200",
                               "--run-dir", str(tmp_path / "long"), "--address", cluster.url)
    job_id = re.search(r"submitted (\S+)", submitted.stdout).group(1)
    _wait(lambda: (tmp_path / "long" / "league.json").exists(), 180, "a first generation")
    stopped = cluster.socius("jobs", "stop", job_id, "--address", cluster.url)
    assert "stop requested" in stopped.stdout
    _wait(lambda: '"STOPPED"' in cluster.socius("jobs", "status", job_id, "--address",
                                                 cluster.url).stdout, 120, "the stop")


def test_league_runs_from_the_wheel_the_runtime_env_installs_on_each_node(cluster, tmp_path):
    """cluster/runtime_env.yaml with the wheel built here: Ray pip-installs it on both nodes
    and the league's code comes from it, not from the working dir (whose socius/ stays home)."""
    import yaml

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("socius-*.whl")
    env = yaml.safe_load((ROOT / "cluster" / "runtime_env.yaml").read_text())
    env["pip"]["packages"] = [str(wheel)]  # the same path on both nodes of this machine
    env["env_vars"].pop("MLFLOW_TRACKING_URI")  # no MLflow server here: SQLite in the run
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(env))
    run_dir = tmp_path / "run"
    submitted = cluster.socius(
        "submit", "--profile", "smoke", "--set", "placement.runner_resources={socius_runner: 1}",
        "--runtime-env", str(tmp_path / "env.yaml"), "--run-dir", str(run_dir),
        "--address", cluster.url)
    assert submitted.returncode == 0, submitted.stderr
    job_id = re.search(r"submitted (\S+)", submitted.stdout).group(1)
    status = _wait(lambda: (lambda s: s if s in ("SUCCEEDED", "FAILED") else None)(
        json.loads(cluster.socius("jobs", "status", job_id, "--address",
                                  cluster.url).stdout)["status"]), 420, f"job {job_id}")
    logs = cluster.socius("jobs", "logs", job_id, "--address", cluster.url).stdout
    assert status == "SUCCEEDED", logs[-3000:]
    location = json.loads((run_dir / "manifest.json").read_text())["socius_location"]
    assert "runtime_resources/pip" in location and location.endswith("site-packages/socius")
    placed = json.loads((run_dir / "cluster.json").read_text())
    (second,) = [n for n, info in placed["nodes"].items() if not info["head"]]
    assert placed["actors"]["runners"] == [second]


def test_a_league_whose_runner_node_stops_ends_cleanly_with_the_resume_command(cluster, tmp_path):
    """Runs last: it stops the second node. The league's runner needs `socius_runner`, which
    only that node offers; when the node goes, the runner dies, the league starts again from
    its last saved generation, finds no node to place a runner on, and stops saying so, with
    the resume command; what it saved stays whole."""
    run_dir = tmp_path / "run"
    submitted = cluster.socius(
        "submit", "--profile", "smoke", "--set", "generations=200", "--set",
        "placement.runner_resources={socius_runner: 1}", "--run-dir", str(run_dir),
        "--address", cluster.url)
    assert submitted.returncode == 0, submitted.stderr
    job_id = re.search(r"submitted (\S+)", submitted.stdout).group(1)

    def saved() -> int:
        try:
            return json.loads((run_dir / "league.json").read_text())["league"]["generation"]
        except (OSError, ValueError, KeyError):
            return -1

    _wait(lambda: saved() >= 1 or None, 240, "a saved generation")
    worker = cluster.processes[1]  # `ray start --block` of the second node
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=120)
    status = _wait(lambda: (lambda s: s if s in ("SUCCEEDED", "FAILED", "STOPPED") else None)(
        json.loads(cluster.socius("jobs", "status", job_id, "--address",
                                  cluster.url).stdout)["status"]), 300, f"job {job_id}")
    logs = cluster.socius("jobs", "logs", job_id, "--address", cluster.url).stdout
    assert status == "FAILED", logs[-3000:]
    assert "restart 1 of at most" in logs and "'socius_runner'" in logs
    assert f"socius league resume {run_dir}" in logs
    from socius.platform.runfolder import RunFolder

    history = RunFolder(run_dir).history()
    assert history and history[-1]["generation"] == saved() and history[-1]["tickets"]["balanced"]
