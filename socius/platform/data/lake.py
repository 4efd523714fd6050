"""The rollout lake: every match stored as Arrow shards, compacted to Parquet, with a manifest.

Layout under a lake root (a run folder's `lake/`):

    <table>/run=<run>/generation=<g>/family=<family>/part-<n>-<id>.arrow    hot shards (Arrow IPC)
    <table>/run=<run>/generation=<g>/family=<family>/compact-<id>.parquet   after compaction (zstd)
    _manifest.jsonl     one JSON line per event: {"op": "add", shard...} or {"op": "remove", ...}
    _quarantine/        shards found corrupt or truncated, moved aside with a note

Tables: `steps` (the rollout schema), `episodes` and `matches` (`schema.py`). Writes are atomic:
a shard is written under a `.`-prefixed temporary name, fsynced and renamed, then recorded in
the manifest (appended and fsynced). Readers list shards from the manifest (and skip names
starting with `.` or `_`), so a crash mid-write leaves nothing visible; a crash between rename
and manifest line leaves an unlisted file that `verify` reports (and adopts if it is intact).
Each shard's rows, size and CRC-32 are in the manifest; `verify` checks them and quarantines
what does not match, so the rest stays readable.
"""

from __future__ import annotations

import os
import shutil
import uuid
import zlib
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from socius.platform.data import schema
from socius.platform.files import append_jsonl, read_jsonl, write_atomic
from socius.platform.runfolder import RunFolder
from socius.policies.checkpoint import fsync_path

LAKE_VERSION = 1
MANIFEST = "_manifest.jsonl"
COMPACT_PREFIX = "compact-"  # a compaction's output; only the manifest's swap lists it
QUARANTINE = "_quarantine"
TABLES = ("steps", "episodes", "matches", "evals")


class LakeError(ValueError):
    """A lake path, table or shard is unusable; the message names it."""


@dataclass(frozen=True)
class Shard:
    """One file of one table, as the manifest records it."""

    table: str
    path: str  # relative to the lake root
    rows: int
    bytes: int
    crc32: int
    format: str  # "arrow" (hot) or "parquet" (compacted)
    run: str
    generation: int
    family: str


def _safe(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in str(value)) or "_"


def partition_dir(table: str, run: str, generation: int, family: str) -> str:
    return f"{table}/run={_safe(run)}/generation={int(generation)}/family={_safe(family)}"


class Lake:
    """A lake root: append shards, read tables, verify, compact, apply retention."""

    def __init__(self, root: str | os.PathLike, create: bool = True, fsync: bool = True):
        """`fsync=False` skips the fsyncs of hot shards and manifest appends: shards then
        survive a crash of the process (renames and appends are atomic to other processes)
        but not of the machine, where the newest may be lost or torn (`verify` reports and
        sets aside torn ones); hot writes ran 1.5-4x faster here (the slower the disk, the more)."""
        self.root, self.fsync = Path(root), fsync
        self._committer: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not (self.root / MANIFEST).is_file():
            raise LakeError(f"{self.root}: not a rollout lake (no {MANIFEST})")
        (self.root / MANIFEST).touch(exist_ok=True)
        self._counter = 0

    # --- the manifest ------------------------------------------------------------------------
    def _append(self, events: list[dict[str, Any]]) -> None:
        append_jsonl(self.root / MANIFEST, events, fsync=self.fsync)

    def shards(self, table: str | None = None) -> list[Shard]:
        """The live shards (added and not removed), in the order they were written. A torn
        last line (a crash mid-append) is ignored: its shard is then unlisted, not lost."""
        live: dict[str, Shard] = {}
        for event in read_jsonl(self.root / MANIFEST):
            if event.get("op") == "add":
                shard = Shard(**event["shard"])
                live[shard.path] = shard
            elif event.get("op") == "remove":
                live.pop(event["path"], None)
        return [s for s in live.values() if table is None or s.table == table]

    # --- writing -----------------------------------------------------------------------------
    def write(self, table: str, data: pa.RecordBatch | pa.Table, run: str, generation: int,
              family: str) -> Shard:
        """One hot shard (Arrow IPC, uncompressed: the fast path) with these rows."""
        return self.write_many(table, [(data, run, generation, family)])[0]

    def write_many(self, table: str,
                   parts: Iterable[tuple[pa.RecordBatch | pa.Table, str, int, str]],
                   background: bool = False) -> list[Shard]:
        """Hot shards committed together, one per (rows, run, generation, family): each is
        written straight from Arrow's buffers to a `.`-prefixed temporary file (its CRC-32
        taken as the bytes pass); then each is fsynced and renamed, each folder fsynced once
        and the manifest appended once. A crash before the manifest append leaves whole,
        unlisted shards, which `verify` adopts; never a visible part. With `background`, that
        commit runs on the lake's commit thread (in order) while the caller goes on: the
        shards become visible when it is done (`flush()` waits for it)."""
        if table not in TABLES:
            raise LakeError(f"unknown lake table {table!r} (known: {TABLES})")
        written = []
        for data, run, generation, family in parts:
            folder = self.root / partition_dir(table, run, generation, family)
            folder.mkdir(parents=True, exist_ok=True)
            self._counter += 1
            path = folder / f"part-{self._counter:06d}-{uuid.uuid4().hex[:12]}.arrow"
            tmp = path.with_name(f".{path.name}.tmp")
            with open(tmp, "wb") as f:  # buffered: large writes go through whole
                sink = _ChecksummedFile(f)
                with pa.ipc.new_file(pa.PythonFile(sink, mode="w"), data.schema) as writer:
                    writer.write(data)
            written.append((tmp, path, Shard(table, str(path.relative_to(self.root)),
                                             data.num_rows, sink.size, sink.crc32, "arrow", run,
                                             int(generation), family)))
        if not background:
            self.flush()  # commits stay in order
            return self._commit(written)
        if self._committer is None:
            self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-commit")
        self._pending.append(self._committer.submit(self._commit, written))
        return [shard for _, _, shard in written]

    def _commit(self, written: list[tuple[Path, Path, Shard]]) -> list[Shard]:
        for tmp, path, _ in written:
            if self.fsync:  # the bytes reach the disk before the name does
                fsync_path(tmp)
            os.replace(tmp, path)
        for folder in {path.parent for _, path, _ in written} if self.fsync else ():
            fsync_path(folder)
        shards = [shard for _, _, shard in written]
        self._append([{"op": "add", "shard": asdict(shard)} for shard in shards])
        return shards

    def flush(self) -> None:
        """Wait for background commits; the first failure is raised here."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def write_by_family(self, table: str, data: pa.RecordBatch | pa.Table, run: str,
                        generation: int, background: bool = False) -> list[Shard]:
        """Split rows by their `family` column into one shard per family partition, committed
        together (`write_many`)."""
        data = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        families = data.column(schema.FAMILY)
        if pa.types.is_dictionary(families.type):
            families = families.cast(pa.string())
        families = np.asarray(families.to_numpy(zero_copy_only=False), dtype=object)
        return self.write_many(table, [(data.filter(pa.array(families == family)), run,
                                        generation, family)
                                       for family in sorted(set(families.tolist()))],
                               background=background)

    # --- reading -----------------------------------------------------------------------------
    def dataset(self, table: str) -> ds.Dataset:
        """The table as a `pyarrow.dataset` over its live shards (hot and compacted)."""
        shards = self.shards(table)
        parts = []
        # folder keys become columns unless the table has them already (family always does)
        columns = set(schema.table_schema(table).names)
        keys = pa.schema([f for f in (pa.field("run", pa.string()),
                                      pa.field("generation", pa.int32()))
                          if f.name not in columns])
        # one schema for every shard: hot shards' narrow step rows and older versions are cast
        wide = pa.schema(list(schema.table_schema(table)) + list(keys))
        for fmt in ("arrow", "parquet"):
            files = [str(self.root / s.path) for s in shards if s.format == fmt]
            if files:
                parts.append(ds.dataset(files, format="ipc" if fmt == "arrow" else "parquet",
                                        schema=wide,
                                        partitioning=ds.partitioning(keys, flavor="hive"),
                                        partition_base_dir=str(self.root / table)))
        if not parts:
            return ds.dataset([], schema=wide)
        return parts[0] if len(parts) == 1 else ds.dataset(parts, schema=wide)

    def files(self, table: str, format: str | None = None) -> list[str]:
        """Absolute paths of a table's live shards (optionally one format: arrow, parquet)."""
        return [str(self.root / s.path) for s in self.shards(table)
                if format is None or s.format == format]

    def read(self, table: str, filter: ds.Expression | None = None,
             columns: list[str] | None = None) -> pa.Table:
        return self.dataset(table).to_table(filter=filter, columns=columns)

    # --- integrity ---------------------------------------------------------------------------
    def verify(self, quarantine: bool = True) -> dict[str, list[str]]:
        """Check every listed shard (exists, size, CRC-32, readable, row count); move bad ones
        to `_quarantine/` and drop them from the manifest. Unlisted shard files (a crash after
        rename) are adopted when they read back whole, else quarantined — except what a
        compaction cut short leaves, whose rows the lake lists already: its output before the
        manifest swapped it in (the inputs are still listed), or its inputs after (the output
        is); those are deleted as `duplicate`. Returns the paths found `corrupt`, `missing`,
        `adopted` and `duplicate`."""
        self.flush()
        report: dict[str, list[str]] = {"corrupt": [], "missing": [], "adopted": [],
                                        "duplicate": self._drop_compaction_leftovers()}
        listed = self.shards()
        removals = []
        for shard in listed:
            path = self.root / shard.path
            problem = _check(path, shard)
            if problem == "missing":
                report["missing"].append(shard.path)
                removals.append({"op": "remove", "path": shard.path, "reason": "missing"})
            elif problem:
                report["corrupt"].append(shard.path)
                removals.append({"op": "remove", "path": shard.path, "reason": problem})
                if quarantine:
                    self._quarantine(path, problem)
        for table, path in self._unlisted({s.path for s in listed}):
            rel = str(path.relative_to(self.root))
            shard = _describe(path, self.root, table)
            if shard is None:
                report["corrupt"].append(rel)
                if quarantine:
                    self._quarantine(path, "unlisted and unreadable")
            else:
                report["adopted"].append(rel)
                self._append([{"op": "add", "shard": asdict(shard)}])
        if removals:
            self._append(removals)
        return report

    def _drop_compaction_leftovers(self) -> list[str]:
        """Delete the unlisted files a compaction cut short leaves (see `verify`); their paths."""
        compacted = {e["path"] for e in read_jsonl(self.root / MANIFEST)
                     if e.get("op") == "remove" and e.get("reason") == "compacted"}
        dropped = []
        for _, path in self._unlisted({s.path for s in self.shards()}):
            rel = str(path.relative_to(self.root))
            if path.name.startswith(COMPACT_PREFIX) or rel in compacted:
                path.unlink()
                dropped.append(rel)
        return dropped

    def _unlisted(self, known: set[str]):
        """(table, path) of shard files on disk that the manifest does not list."""
        for table in TABLES:
            folder = self.root / table
            for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                rel = str(path.relative_to(self.root))
                if path.is_file() and not path.name.startswith((".", "_")) and rel not in known:
                    yield table, path

    def roll_back(self, run: str, after_generation: int, reason: str) -> int:
        """A run resumes after `after_generation`: its later shards go, listed ones from the
        manifest and unlisted ones (an aborted attempt's, renamed before the crash could list
        them) to `_quarantine/`, so `verify` never adopts them next to the replay; and what an
        interrupted compaction left, of any generation, is deleted. Returns how many files
        went."""
        dropped = self._drop_compaction_leftovers()
        self.remove([s for s in self.shards() if s.run == run and s.generation > after_generation],
                    reason)
        prefix = f"run={_safe(run)}"
        stale = [path for _, path in self._unlisted({s.path for s in self.shards()})
                 if prefix in path.parts and _generation_of(path) > after_generation]
        for path in stale:
            self._quarantine(path, f"unlisted shard of an aborted attempt ({reason})")
        return len(stale) + len(dropped)

    def _quarantine(self, path: Path, reason: str) -> None:
        target = self.root / QUARANTINE / path.relative_to(self.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.replace(path, target)
        target.with_name(target.name + ".reason").write_text(reason + "\n")

    # --- compaction and retention ------------------------------------------------------------
    def compact(self, table: str, run: str, generation: int) -> list[Shard]:
        """Each family partition of (table, run, generation): its hot shards become one Parquet
        file (zstd, dictionary-encoded); the manifest swaps them in one append, then the hot
        files are deleted."""
        self.flush()
        out = []
        groups: dict[str, list[Shard]] = {}
        for s in self.shards(table):
            if s.run == run and s.generation == generation and s.format == "arrow":
                groups.setdefault(s.family, []).append(s)
        for family, shards in sorted(groups.items()):
            # in the wide form (`schema.py`): a generation can hold more ids than int16 counts
            parts = [_read_shard(self.root / s.path) for s in shards]
            wide = pa.schema(schema.table_schema(table), metadata=parts[0].schema.metadata)
            data = pa.concat_tables([part.cast(wide) for part in parts])
            sort_keys = [c for c in (schema.MATCH_ID, schema.EPISODE, schema.SEAT, schema.STEP)
                         if c in data.column_names]
            if sort_keys:  # neighbouring rows alike: better compression
                keys = pa.table({k: _plain(data.column(k)) for k in sort_keys})
                data = data.take(pc.sort_indices(keys, [(k, "ascending") for k in sort_keys]))
            sink = pa.BufferOutputStream()
            pq.write_table(data, sink, compression="zstd", compression_level=9,
                           use_dictionary=True, row_group_size=1 << 20)
            buffer = sink.getvalue()
            folder = self.root / partition_dir(table, run, generation, family)
            path = folder / f"{COMPACT_PREFIX}{uuid.uuid4().hex[:12]}.parquet"
            write_atomic(path, buffer)
            shard = Shard(table, str(path.relative_to(self.root)), data.num_rows, buffer.size,
                          zlib.crc32(buffer), "parquet", run, generation, family)
            self._append([{"op": "add", "shard": asdict(shard)}]
                         + [{"op": "remove", "path": s.path, "reason": "compacted"}
                            for s in shards])
            for s in shards:
                (self.root / s.path).unlink(missing_ok=True)
            out.append(shard)
        return out

    def remove(self, shards: Iterable[Shard], reason: str) -> None:
        """Drop shards: manifest first (so it never lists a deleted file), then the files."""
        self.flush()
        shards = list(shards)
        self._append([{"op": "remove", "path": s.path, "reason": reason} for s in shards])
        for s in shards:
            (self.root / s.path).unlink(missing_ok=True)

    def retain(self, keep_generations: int | None = None, max_bytes: int | None = None
               ) -> list[Shard]:
        """Keep the last `keep_generations` generations of each run, then drop the oldest
        shards until the lake is under `max_bytes`. Returns what was removed."""
        shards = self.shards()
        drop = []
        if keep_generations is not None:
            newest: dict[str, int] = {}
            for s in shards:
                newest[s.run] = max(newest.get(s.run, 0), s.generation)
            drop = [s for s in shards if s.generation <= newest[s.run] - keep_generations]
        if max_bytes is not None:
            kept = sorted((s for s in shards if s not in drop), key=lambda s: s.generation)
            total = sum(s.bytes for s in kept)
            for s in kept:
                if total <= max_bytes:
                    break
                drop.append(s)
                total -= s.bytes
        if drop:
            self.remove(drop, "retention")
        return drop

    def summary(self) -> dict[str, Any]:
        shards = self.shards()
        return {"shards": len(shards), "bytes": sum(s.bytes for s in shards),
                "rows": {t: sum(s.rows for s in shards if s.table == t) for t in TABLES}}


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column


class _ChecksummedFile:
    """A binary file that keeps the CRC-32 and size of what passes through it (Arrow writes
    its buffers here one by one, so the shard is never copied into one bytes object)."""

    def __init__(self, file):
        self.file, self.crc32, self.size, self.closed = file, 0, 0, False

    def write(self, data) -> int:
        self.crc32 = zlib.crc32(data, self.crc32)
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:  # the caller closes the real file
        self.closed = True


def _read_shard(path: Path, raw: bytes | None = None) -> pa.Table:
    """A shard's rows, from the file or from its bytes already read."""
    source = pa.BufferReader(raw) if raw is not None else None
    if path.suffix == ".parquet":
        return pq.read_table(source if source is not None else path)
    if source is not None:
        return pa.ipc.open_file(source).read_all()
    with pa.memory_map(str(path)) as mapped:
        return pa.ipc.open_file(mapped).read_all()


def _check(path: Path, shard: Shard) -> str | None:
    """None if the shard is whole, else what is wrong with it."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != shard.bytes:
        return f"size {size} != {shard.bytes} (truncated or grown)"
    raw = path.read_bytes()  # read once: checksum, then parse
    crc = zlib.crc32(raw)
    if crc != shard.crc32:
        return f"crc32 {crc} != {shard.crc32} (bytes changed)"
    try:
        rows = _read_shard(path, raw).num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        return f"unreadable ({exc})"
    if rows != shard.rows:
        return f"rows {rows} != {shard.rows}"
    return None


def _describe(path: Path, root: Path, table: str) -> Shard | None:
    """A manifest record for an unlisted shard file, if it reads back whole."""
    raw = path.read_bytes()
    try:
        data = _read_shard(path, raw)
    except (pa.ArrowInvalid, OSError):
        return None
    parts = dict(p.split("=", 1) for p in path.relative_to(root / table).parts[:-1] if "=" in p)
    return Shard(table, str(path.relative_to(root)), data.num_rows, len(raw), zlib.crc32(raw),
                 "parquet" if path.suffix == ".parquet" else "arrow", parts.get("run", ""),
                 int(parts.get("generation", 0)), parts.get("family", ""))


def _generation_of(path: Path) -> int:
    """The generation a shard file's partition folder names (-1 if none)."""
    for part in path.parts:
        if part.startswith("generation="):
            try:
                return int(part.removeprefix("generation="))
            except ValueError:
                return -1
    return -1


def remove_run(run: RunFolder) -> None:
    """Delete a run folder: its lake's manifest goes first, so no reader sees a listed shard
    that no longer exists."""
    lake = run.lake
    if (lake / MANIFEST).is_file():
        (lake / MANIFEST).unlink()
    shutil.rmtree(run.path)
