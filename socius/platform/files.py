"""Atomic file writes and append-only JSON-lines files, shared by run folders, rollout lakes
and the MLflow mirror.

Atomic writes: a temporary name starting with `.` in the same folder, fsync, rename, fsync the
folder: readers see the old file or the new one, never a part (and skip `.` names in listings).
JSON lines: appended and fsynced; a crash leaves at most a cut last line, which readers skip.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from socius.policies.checkpoint import fsync_path


def write_atomic(path: Path, data: bytes | memoryview) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode())


def append_jsonl(path: Path, records: Iterable[dict[str, Any]], fsync: bool = True) -> None:
    """Append one JSON line per record in one write (fsynced unless told otherwise)."""
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as f:
        f.write(lines)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines file in order; a line cut short by a crash is skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
