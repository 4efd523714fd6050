"""League runs as Ray jobs: `socius submit` and `socius jobs list|status|logs|stop`, through
the Ray Jobs SDK. The job runs `socius league run` on the cluster with the working dir packaged
(run folders, lakes, virtual environments and MLflow stores left out) and the cluster's token:
`RAY_AUTH_TOKEN`, the file named by `RAY_AUTH_TOKEN_PATH`, or `~/.ray/auth_token`."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socius.platform.config import ConfigError, load_config, read_yaml_mapping

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
# never uploaded with the working dir: outputs and environments, not code
EXCLUDES = ["runs/", "mlruns/", "*.db", ".venv/", "venv/", ".git/", "dist/", "build/",
            "*.egg-info/", "__pycache__/", ".pytest_cache/", ".ruff_cache/", "lake/",
            "benchmarks/results/"]


class JobsError(RuntimeError):
    """A job could not be submitted or queried; the message says why and what to check."""


@dataclass(frozen=True)
class Submission:
    """What `socius submit` hands to the Jobs API."""

    entrypoint: str
    runtime_env: dict[str, Any]
    run_dir: str
    submission_id: str


def auth_token() -> str | None:
    """The cluster token from the places Ray itself looks, in Ray's order."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise JobsError(f"RAY_AUTH_TOKEN_PATH={path}: cannot read the token ({exc})") from exc
    default = Path.home() / ".ray" / "auth_token"
    return default.read_text().strip() if default.is_file() else None


def job_address(address: str | None) -> str:
    return (address or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS")
            or DEFAULT_ADDRESS)


def job_client(address: str | None = None):
    """A JobSubmissionClient carrying the token; a refusal names the address and the fix."""
    from ray.job_submission import JobSubmissionClient

    url = job_address(address)
    token = auth_token()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return JobSubmissionClient(url, headers=headers)
    except Exception as exc:  # the SDK raises several kinds; all mean "not usable"
        hint = "" if token else (" No Ray token found: set RAY_AUTH_TOKEN or "
                                 "RAY_AUTH_TOKEN_PATH, or put it in ~/.ray/auth_token.")
        raise JobsError(f"cannot use the Ray Jobs API at {url}: {exc}{hint}") from exc


def plan_submission(config: str | None, overrides: list[str], profile: str | None,
                    run_dir: str | None, working_dir: str | Path = ".",
                    runtime_env_file: str | None = None) -> Submission:
    """The job for a league config; every check runs here, before anything is submitted."""
    working_dir = Path(working_dir).resolve()
    league = load_config(config, overrides, profile)  # ConfigError names the bad key
    stamp = time.strftime('%Y%m%d-%H%M%S')
    submission_id = f"socius-{league.name}-{stamp}-{secrets.token_hex(2)}"
    folder = run_dir or str(Path(league.runs_dir) / submission_id.removeprefix("socius-"))
    if not Path(folder).is_absolute():
        raise ConfigError(f"run folder {folder!r} is relative, but a job runs in a temporary "
                          "copy of the working dir: give --run-dir or runs_dir as an absolute "
                          "path on storage every node of the cluster shares")
    args = ["python", "-m", "socius.platform.cli", "league", "run"]
    if config is not None:
        path = Path(config).resolve()
        if not path.is_relative_to(working_dir):
            raise ConfigError(f"{config}: the config must lie inside the working dir "
                              f"{working_dir} (it travels with it)")
        args.append(path.relative_to(working_dir).as_posix())
    if profile:
        args += ["--profile", profile]
    for dotted in overrides:
        args += ["--set", dotted]
    args += ["--run-dir", folder, "--address", "auto"]
    env: dict[str, Any] = {"working_dir": str(working_dir), "excludes": list(EXCLUDES),
                           "env_vars": {"OMP_NUM_THREADS": "1"}}
    if runtime_env_file is not None:
        extra = read_yaml_mapping(runtime_env_file, "runtime env")
        env = {**env, **extra, "env_vars": {**env["env_vars"], **extra.get("env_vars", {})},
               "excludes": sorted({*env["excludes"], *extra.get("excludes", [])})}
    return Submission(shlex.join(args), env, folder, submission_id)


def _api(what: str, call):
    """One Jobs API call; its failure (unknown job, refused, unreachable) as a JobsError."""
    try:
        return call()
    except JobsError:
        raise
    except Exception as exc:  # the SDK raises RuntimeError, ValueError, ConnectionError...
        raise JobsError(f"{what}: {exc}") from exc


def submit(submission: Submission, address: str | None = None) -> str:
    client = job_client(address)
    return _api("submitting the league", lambda: client.submit_job(
        entrypoint=submission.entrypoint, runtime_env=submission.runtime_env,
        submission_id=submission.submission_id,
        metadata={"socius_run_dir": submission.run_dir}))


def list_jobs(address: str | None = None) -> list[dict[str, Any]]:
    client = job_client(address)
    jobs = _api("listing jobs", client.list_jobs)
    rows = [{"id": j.submission_id or j.job_id, "status": str(j.status.value),
             "start": j.start_time, "entrypoint": j.entrypoint,
             "run_dir": (j.metadata or {}).get("socius_run_dir")} for j in jobs]
    return sorted(rows, key=lambda r: r["start"] or 0)


def job_status(job_id: str, address: str | None = None) -> dict[str, Any]:
    client = job_client(address)
    info = _api(f"job {job_id}", lambda: client.get_job_info(job_id))
    return {"id": job_id, "status": str(info.status.value), "message": info.message,
            "entrypoint": info.entrypoint, "run_dir": (info.metadata or {}).get("socius_run_dir"),
            "start": info.start_time, "end": info.end_time}


def job_logs(job_id: str, address: str | None = None) -> str:
    client = job_client(address)
    return _api(f"job {job_id}", lambda: client.get_job_logs(job_id))


def follow_logs(job_id: str, address: str | None = None, write=print) -> str:
    """Stream the job's logs until it ends; returns its final status."""
    client = job_client(address)

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)

    _api(f"job {job_id}", lambda: asyncio.run(tail()))
    return _api(f"job {job_id}", lambda: str(client.get_job_status(job_id).value))


def stop_job(job_id: str, address: str | None = None) -> bool:
    client = job_client(address)
    return _api(f"job {job_id}", lambda: client.stop_job(job_id))
