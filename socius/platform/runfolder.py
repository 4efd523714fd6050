"""A league run's folder: every path in it, and reading each file with an error that names the
file and says what to do.

    <run>/manifest.json   what produced the run: versions, commit, seed, the resolved config
    <run>/league.json     the last saved generation: league state and the matchmaker's generator
    <run>/history.jsonl   one line per finished generation (`GenerationRecord`)
    <run>/checkpoints/    socius checkpoints: `<member>`, `<member>@init`, snapshots `<id>@<gen>`
    <run>/lake/           the rollout lake (Arrow/Parquet shards and their manifest)
    <run>/cluster.json    where the run's actors were placed
    <run>/mirror.json     what the MLflow mirror has logged
    <run>/mlflow.db, <run>/mlartifacts/   the default MLflow tracking store

`league.json` is written last in a generation, atomically: it is what declares the generation
saved. Nothing here knows what the files mean beyond JSON; the layers above parse them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socius.platform.files import append_jsonl, read_jsonl, write_json_atomic


class RunFolderError(ValueError):
    """A run folder, or one of its files, is missing or damaged; the message names it."""


@dataclass(frozen=True, init=False)
class RunFolder:
    """The paths of one run folder, and its files read with errors that say what to do."""

    path: Path

    MANIFEST = "manifest.json"
    STATE = "league.json"
    HISTORY = "history.jsonl"
    CLUSTER = "cluster.json"
    MIRROR = "mirror.json"

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def lake(self) -> Path:
        return self.path / "lake"

    @property
    def mlflow_db(self) -> Path:
        return self.path / "mlflow.db"

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / name

    def file(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def create(cls, path: str | Path) -> RunFolder:
        """A new, empty run folder (refuses one that exists: runs are never mixed)."""
        folder = cls(path)
        try:
            folder.path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise RunFolderError(f"{folder.path}: exists already; a new run needs a new "
                                 "folder (resume an existing one with `socius league resume`)"
                                 ) from None
        folder.checkpoints.mkdir()
        return folder

    def is_run(self) -> bool:
        return self.file(self.MANIFEST).is_file()

    def has_saved_generation(self) -> bool:
        return self.file(self.STATE).is_file()

    # --- reading ---------------------------------------------------------------------------
    def read(self, name: str, missing: str) -> dict[str, Any]:
        """A JSON object file of the run; `missing` says what to do when it is not there."""
        path = self.file(name)
        if not self.path.is_dir():
            raise RunFolderError(f"{self.path}: no such run folder (`socius runs list` shows "
                                 "the runs under ./runs)")
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise RunFolderError(f"{path}: missing; {missing}") from None
        except OSError as exc:
            raise RunFolderError(f"{path}: cannot be read ({exc})") from None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise RunFolderError(f"{path}: damaged ({str(exc)[:120]}); restore it from a "
                                 "backup, or start a new run") from None
        if not isinstance(data, dict):
            raise RunFolderError(f"{path}: should hold a JSON object; restore it from a "
                                 "backup, or start a new run")
        return data

    def read_optional(self, name: str) -> dict[str, Any] | None:
        """A file the run may not have written yet (or is replacing right now): None then."""
        try:
            return self.read(name, "")
        except RunFolderError:
            return None

    def manifest(self) -> dict[str, Any]:
        return self.read(self.MANIFEST, "this is not a league run folder (`socius league run` "
                         "makes one)")

    def saved(self) -> dict[str, Any]:
        """league.json: {"league": state, "rng": the matchmaker's generator state}."""
        return self.read(self.STATE, "no generation of this run was saved yet (it stopped "
                         "during its first one: start it again with `socius league resume`)")

    def history(self) -> list[dict[str, Any]]:
        """history.jsonl's records by generation; a generation played again after a resume
        keeps its last record; a line cut short by a crash is skipped."""
        path = self.file(self.HISTORY)
        if not path.is_file():
            return []
        by_generation = {}
        for record in read_jsonl(path):
            if isinstance(record, dict) and isinstance(record.get("generation"), int):
                by_generation[record["generation"]] = record
        return [by_generation[g] for g in sorted(by_generation)]

    # --- writing (atomic, or appended and fsynced) ----------------------------------------
    def write(self, name: str, data: dict[str, Any]) -> None:
        write_json_atomic(self.file(name), data)

    def append_history(self, record: dict[str, Any]) -> None:
        append_jsonl(self.file(self.HISTORY), [record])


def find_runs(folder: str | Path) -> list[RunFolder]:
    """The run folders directly under `folder` (those with a manifest), by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [RunFolder(p) for p in sorted(folder.iterdir())
            if p.is_dir() and RunFolder(p).is_run()]


def newest_run(folder: str | Path = "runs") -> RunFolder:
    """The most recently saved run under `folder`."""
    saved = [r for r in find_runs(folder) if r.has_saved_generation()]
    if not saved:
        raise RunFolderError(f"no run folder given, and no saved run under {folder}/")
    return max(saved, key=lambda r: r.file(RunFolder.STATE).stat().st_mtime)
