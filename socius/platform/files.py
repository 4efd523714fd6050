"""Atomic file writes, shared by run folders, rollout lakes and the MLflow mirror.

A temporary name starting with `.` in the same folder, fsync, rename, fsync the folder:
readers see the old file or the new one, never a part (and skip `.` names in listings).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from socius.policies.checkpoint import fsync_dir


def write_atomic(path: Path, data: bytes | memoryview) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode())
