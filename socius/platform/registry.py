"""MLflow mirror of a league run, and the model registry of its snapshots.

The run folder is the source of truth; `Mirror.sync` copies what is new into MLflow and records
what it did in `<run>/mirror.json`, so running it again logs nothing twice and a mirror that
could not reach MLflow catches up on its next call:

- one MLflow run per league run (experiment `socius`): the resolved config as params and as a
  JSON artifact; per generation, each member's rating (openskill ordinal), cooperation and care
  as metrics (step = generation);
- every snapshot of a learner becomes a version of the registered model
  `socius.<league>.<member>`: its artifact is the socius checkpoint folder, its tags say
  population, role, generation, parent, rating at registration, the scenario split's hash, the
  socius version and the weights' sha256; alias `champion` points at the member's best-rated
  snapshot. (`latest` is MLflow's own reserved name for the newest version; `socius pull
  name@latest` resolves it that way.)

The tracking store defaults to SQLite inside the run folder; `MLFLOW_TRACKING_URI` (or
`tracking_uri`) points anywhere else, e.g. a remote `mlflow server`. `pull` fetches a version's
checkpoint and checks its weights' sha256 against the registry; it needs no Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from socius.platform.league.state import LeagueState, saved_state
from socius.platform.runfolder import RunFolder
from socius.policies.checkpoint import CheckpointError, read_manifest

EXPERIMENT = "socius"


def default_tracking_uri(run_dir: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or \
        f"sqlite:///{RunFolder(run_dir).mlflow_db.resolve()}"


def model_name(league: str, member: str) -> str:
    return f"socius.{league}.{member}"


# A tracking server that does not answer fails a call within about 15 s (MLflow's defaults
# retry for minutes): at most this many retries, each request waiting at most this long.
HTTP_RETRIES, HTTP_TIMEOUT_S = "1", "5"


def mlflow_client(uri: str):
    from mlflow import MlflowClient

    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_RETRIES)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT_S)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def artifact_location(uri: str) -> str | None:
    """Where a SQLite store's artifacts go: `mlartifacts/` beside the database (for the
    default store, inside the run folder) rather than `./mlruns` of whatever folder the run
    was started from; None (the server's choice) for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()


def _flatten(data: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: json.dumps(data)[:500]}


class Mirror:
    """Copies a run folder's new generations and snapshots into MLflow (see module doc)."""

    def __init__(self, run_dir: str | Path, tracking_uri: str | None = None):
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(run_dir)
        self.uri = tracking_uri or default_tracking_uri(self.run_dir)
        done = self.folder.read(RunFolder.MIRROR, "") if self.folder.file(
            RunFolder.MIRROR).is_file() else None
        self.done = done or {
            "tracking_uri": self.uri, "run_id": None, "generations": [], "versions": {}}

    def _save(self) -> None:
        self.folder.write(RunFolder.MIRROR, self.done)

    def sync(self) -> dict[str, Any]:
        """Mirror whatever is new; returns what was added. Raises if MLflow is unreachable
        (nothing is marked done then, so the next call retries)."""
        manifest, state = self.folder.manifest(), saved_state(self.folder)
        client = mlflow_client(self.uri)
        added = {"generations": [], "versions": []}
        if self.done["run_id"] is None:
            experiment = client.get_experiment_by_name(EXPERIMENT)
            experiment_id = experiment.experiment_id if experiment else \
                client.create_experiment(EXPERIMENT,
                                         artifact_location=artifact_location(self.uri))
            run = client.create_run(experiment_id, run_name=self.run_dir.name,
                                    tags={"socius.run_dir": str(self.run_dir.resolve()),
                                          "socius.version": manifest["socius_version"]})
            params = _flatten(manifest["config"])
            from mlflow.entities import Param

            items = [Param(k, v) for k, v in sorted(params.items())]
            for start in range(0, len(items), 100):
                client.log_batch(run.info.run_id, params=items[start: start + 100])
            client.log_dict(run.info.run_id, manifest, "manifest.json")
            self.done["run_id"] = run.info.run_id
            self.done["experiment_id"] = experiment_id  # for links (the dashboard's)
            self._save()
        run_id = self.done["run_id"]
        for record in self.folder.history():  # every generation not logged yet
            if record["generation"] in self.done["generations"]:
                continue
            self._log_generation(client, run_id, record)
            self.done["generations"].append(record["generation"])
            self._save()
            added["generations"].append(record["generation"])
        league = manifest["config"]["name"]
        split = hashlib.sha256(json.dumps(manifest["config"]["scenarios"], sort_keys=True)
                               .encode()).hexdigest()[:16]
        for member in state.members.values():
            if member.trainable or member.id in self.done["versions"]:
                continue
            version = self._register(client, run_id, league, member, state, split,
                                     manifest["socius_version"])
            self.done["versions"][member.id] = version
            self._save()
            added["versions"].append(member.id)
        measure = (manifest["config"].get("eval") or {}).get("score", "normalised_zoo")
        scores = eval_scores(self.folder.history(), measure)
        for member_id, version in self.done["versions"].items():  # evaluation as version tags
            tagged = self.done.setdefault("eval_tagged", [])
            if member_id in scores and member_id not in tagged:
                member = state.members.get(member_id)
                name = model_name(league, member.parent or member.id) if member else None
                if name:
                    client.set_model_version_tag(name, version, f"eval_{measure}",
                                                 f"{scores[member_id]:.4f}")
                    tagged.append(member_id)
                    self._save()
        by_eval = manifest["config"].get("tracking", {}).get("champion_by") == "eval"
        self._set_champions(client, league, state, scores if by_eval else None)
        return added

    def _log_generation(self, client, run_id: str, record: dict[str, Any]) -> None:
        """One generation's line of history.jsonl as metrics (step = generation)."""
        from mlflow.entities import Metric

        step, metrics = record["generation"], []
        for member_id, ordinal in record["ratings"].items():
            metrics.append(Metric(f"rating/{_key(member_id)}", ordinal, 0, step))
        for member_id, rate in record["cooperation"].items():
            metrics.append(Metric(f"cooperation/{_key(member_id)}", rate, 0, step))
        for member_id, (team, others) in record["care"].items():
            metrics.append(Metric(f"care_team/{_key(member_id)}", team, 0, step))
            metrics.append(Metric(f"care_others/{_key(member_id)}", others, 0, step))
        metrics.append(Metric("members", float(record["members"]), 0, step))
        metrics.append(Metric("agent_steps_trained", float(record["agent_steps_trained"]), 0,
                              step))
        metrics.append(Metric("episodes", float(record["episodes"]), 0, step))
        for member_id, summary in ((record.get("eval") or {}).get("members") or {}).items():
            for measure, value in summary.items():  # evaluation: scores of members, snapshots
                if value is not None:
                    metrics.append(Metric(f"eval/{_key(measure)}/{_key(member_id)}",
                                          float(value), 0, step))
        for start in range(0, len(metrics), 500):
            client.log_batch(run_id, metrics=metrics[start: start + 500])

    def _register(self, client, run_id: str, league: str, member, state: LeagueState,
                  split: str, version: str) -> str:
        folder = self.folder.checkpoint(member.id)
        weights_sha = read_manifest(folder)["weights_sha256"]
        path = f"checkpoints/{member.id}"
        client.log_artifacts(run_id, str(folder), path)
        source = f"{client.get_run(run_id).info.artifact_uri}/{path}"
        name = model_name(league, member.parent or member.id)
        from mlflow.exceptions import MlflowException

        try:
            client.create_registered_model(name)
        except MlflowException:  # it exists already
            pass
        rating = state.ratings.get(member.id)
        tags = {"population": member.population, "role": member.role.value,
                "generation": str(member.generation), "member": member.id,
                "parent": member.parent or "", "rating": f"{rating.ordinal:.4f}" if rating
                else "", "scenario_split_hash": split, "socius_version": version,
                "weights_sha256": weights_sha, "rollouts_manifest_sha256": _lake_hash(
                    self.run_dir, member.generation)}
        return client.create_model_version(name, source, run_id, tags=tags).version

    def _set_champions(self, client, league: str, state: LeagueState,
                       scores: dict[str, float] | None = None) -> None:
        """Alias `champion` on each main agent's best registered snapshot (`champions`)."""
        for main_id, snap_id in champions(state, self.done["versions"], scores).items():
            client.set_registered_model_alias(model_name(league, main_id), "champion",
                                              self.done["versions"][snap_id])


def champions(state: LeagueState, snapshot_ids: Iterable[str],
              scores: Mapping[str, float] | None = None) -> dict[str, str]:
    """Each main agent's best snapshot among `snapshot_ids`: by current rating (ordinal), or
    with `scores` by evaluation score; snapshots without a rating (or score) come after every
    one with, newest first (so a main with snapshots always has a champion). Keyed by the
    main agent's id."""
    best: dict[str, tuple[tuple[int, float], str]] = {}
    for snap_id in snapshot_ids:
        member = state.members.get(snap_id)
        if member is None or member.role.value != "main":
            continue
        value = scores.get(snap_id) if scores is not None else (
            state.ratings[snap_id].ordinal if snap_id in state.ratings else None)
        key = (1, value) if value is not None else (0, float(member.generation))
        main_id = member.parent or member.id
        if main_id not in best or key > best[main_id][0]:
            best[main_id] = (key, snap_id)
    return {main_id: snap_id for main_id, (_, snap_id) in best.items()}


def eval_scores(history: list[dict[str, Any]], measure: str = "normalised_zoo"
                ) -> dict[str, float]:
    """Each evaluated member's latest `measure` (default: normalised score with the zoo) from
    history.jsonl's `eval` summaries."""
    scores = {}
    for record in history:
        for member_id, summary in ((record.get("eval") or {}).get("members") or {}).items():
            if summary.get(measure) is not None:
                scores[member_id] = float(summary[measure])
    return scores


def _key(member_id: str) -> str:
    return member_id.replace("@", "_at_").replace(":", "_")


def _lake_hash(run_dir: Path, generation: int) -> str:
    """sha256 over the lake's live shards up to this generation (the data it trained on):
    path, rows and CRC-32 of each, as the manifest lists them."""
    from socius.platform.data.lake import MANIFEST, Lake

    lake = RunFolder(run_dir).lake
    if not (lake / MANIFEST).is_file():
        return ""
    shards = sorted((s.path, s.rows, s.crc32) for s in Lake(lake).shards()
                    if s.generation <= generation)
    return hashlib.sha256(json.dumps(shards).encode()).hexdigest()


class BackgroundMirror:
    """Runs `Mirror.sync` on a thread when asked; failures (MLflow unreachable) are reported
    and retried at the next request, and training never waits on them."""

    def __init__(self, mirror: Mirror, log=print):
        self.mirror, self.log = mirror, log
        self._wake, self._stop = threading.Event(), threading.Event()
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="socius-mirror")
        self._thread.start()

    def request(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.mirror.sync()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - any MLflow failure: retry next time
                if self.last_error is None:
                    self.log(f"mlflow mirror ({self.mirror.uri}): {exc.__class__.__name__}: "
                             f"{str(exc)[:200]} (training goes on; the mirror retries)")
                self.last_error = str(exc)
            # a close() during that sync asked for one more: the run's last state
            if self._stop.is_set() and not self._wake.is_set():
                return

    def close(self, timeout: float = 120.0) -> None:
        """One last sync (waiting at most `timeout` seconds), then stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive() or self.last_error is not None:
            self.log(f"mlflow mirror: not complete; run `socius mirror {self.mirror.run_dir}` "
                     "when MLflow is reachable")


def resolve(ref: str, tracking_uri: str) -> tuple[str, dict[str, str]]:
    """(artifact source, tags) of `name@alias`, `name/version` or `runs:/<run>/<path>`;
    `name@latest` is the newest version."""
    if ref.startswith("runs:/"):
        return ref, {}
    version = model_version(mlflow_client(tracking_uri), ref, tracking_uri)
    return version.source, dict(version.tags)


def model_version(client, ref: str, tracking_uri: str):
    """The MLflow model version of `name@alias`, `name/version` or `name@latest` (newest)."""
    if "@" in ref:
        name, alias = ref.split("@", 1)
        if alias == "latest":
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                raise ValueError(f"{ref}: no versions of {name!r} in {tracking_uri}")
            return max(versions, key=lambda v: int(v.version))
        return client.get_model_version_by_alias(name, alias)
    if "/" in ref:
        name, number = ref.rsplit("/", 1)
        return client.get_model_version(name, number)
    raise ValueError(f"{ref!r}: expected name@alias, name/version or runs:/...")


def pull(ref: str, out: str | Path, tracking_uri: str) -> Path:
    """Download a checkpoint and verify its weights' sha256 (registry tag and manifest)."""
    import mlflow

    source, tags = resolve(ref, tracking_uri)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(out),
                                                     tracking_uri=tracking_uri))
    manifest = read_manifest(local)
    weights = local / "weights.safetensors"
    actual = hashlib.sha256(weights.read_bytes()).hexdigest()
    expected = tags.get("weights_sha256", manifest["weights_sha256"])
    if actual != expected or actual != manifest["weights_sha256"]:
        raise CheckpointError(f"{ref}: weights sha256 {actual[:16]}... does not match the "
                              f"registry's {expected[:16]}... (tampered or corrupted artifact)")
    return local


def record_eval(ref: str, tracking_uri: str, suite: str, suite_hash: str,
                summary: dict[str, float]) -> str | None:
    """An evaluation of a registered version, into MLflow: its finite measures as metrics
    `eval/<suite>/<measure>` of the version's run, and as tags `eval.<suite>.<measure>` (with
    the suite's hash) on the version. Returns `name/version` (None for runs:/ references)."""
    if ref.startswith("runs:/"):
        return None
    from mlflow.entities import Metric

    client = mlflow_client(tracking_uri)
    version = model_version(client, ref, tracking_uri)
    name = version.name
    finite = {k: float(v) for k, v in summary.items() if v is not None and np.isfinite(v)}
    if version.run_id:
        stamp = int(time.time() * 1000)
        client.log_batch(version.run_id, metrics=[
            Metric(f"eval/{suite}/{_key(k)}", v, stamp, 0) for k, v in sorted(finite.items())])
    client.set_model_version_tag(name, version.version, f"eval.{suite}.suite_hash", suite_hash)
    for key, value in finite.items():
        client.set_model_version_tag(name, version.version, f"eval.{suite}.{_key(key)}",
                                     f"{value:.4f}")
    return f"{name}/{version.version}"


def registry_lineage(ref: str, tracking_uri: str) -> str:
    """A registered checkpoint's family from the registry: its tags, its registered model's
    other versions (the member's snapshots over generations), and fine-tuned children."""
    source, tags = resolve(ref, tracking_uri)
    name = ref.split("@")[0].rsplit("/", 1)[0] if not ref.startswith("runs:/") else ref
    lines = [f"{ref}: {tags.get('member', '?')} [{tags.get('role', '?')}, "
             f"{tags.get('population', '?')}], generation {tags.get('generation', '?')}, "
             f"rating {tags.get('rating', '?')}, parent {tags.get('parent') or '-'}",
             f"  artifact {source}"]
    client = mlflow_client(tracking_uri)
    if not ref.startswith("runs:/"):
        versions = sorted(client.search_model_versions(f"name='{name}'"),
                          key=lambda v: int(v.version))
        lines.append(f"versions of {name}:")
        lines += [f"  {v.version}: {v.tags.get('member', '?')} (generation "
                  f"{v.tags.get('generation', '?')}, rating {v.tags.get('rating', '?')})"
                  for v in versions]
    children = [(m.name, v) for m in client.search_registered_models()
                if m.name.startswith("socius.finetuned.")
                for v in client.search_model_versions(f"name='{m.name}'")
                if v.tags.get("parent", "").split("@")[0].rsplit("/", 1)[0] == name]
    if children:
        lines.append("fine-tuned from it:")
        lines += [f"  {n}/{v.version} from {v.tags['parent']} on {v.tags.get('scenario')} "
                  f"({v.tags.get('steps')} steps)" for n, v in children]
    return "\n".join(lines)
