"""The lake writer: a Ray actor that takes rollout batches off the league's hands.

The driver submits batches without waiting (`write_*.remote`), so sampling never waits on the
disk; the actor writes hot shards as they come and, when a generation closes, compacts it to
Parquet and applies retention. A fraction of matches can be stored (chosen by a hash of the
match id, so a match's steps, episodes and ticket are stored together or not at all).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray

from socius.platform.data import schema
from socius.platform.data.lake import TABLES, Lake
from socius.platform.types import MatchResult, MatchTicket


def stored(match_ids: Sequence[str], fraction: float) -> np.ndarray:
    """Which matches a lake keeps at this fraction (the same answer for every table)."""
    if fraction >= 1.0:
        return np.ones(len(match_ids), bool)
    return np.array([zlib.crc32(m.encode()) < fraction * 2**32 for m in match_ids], bool)


def episodes_table(results: Sequence[MatchResult], run: str, generation: int) -> pa.Table:
    return pa.Table.from_pylist([{
        schema.RUN_ID: run, schema.MATCH_ID: r.match_id, schema.EPISODE: r.episode,
        schema.GENERATION: generation, schema.SCENARIO_ID: r.scenario_id,
        schema.FAMILY: r.family, schema.STEPS: r.steps, schema.TEAM_CHANGES: r.team_changes,
        schema.RULE_CHANGES: r.rule_changes, schema.MEMBERS: list(r.seats),
        schema.RETURNS: list(r.returns)} for r in results],
        schema=schema.table_schema("episodes"))


def evals_table(rows: Sequence[Mapping[str, object]], run: str, generation: int,
                suite: str, suite_hash: str) -> pa.Table:
    """Evaluation results (`eval.evaluate.CellResult`s as dicts) as lake rows."""
    return pa.Table.from_pylist([{
        schema.RUN_ID: run, schema.GENERATION: generation, schema.AGENT: r["agent"],
        schema.SUITE: suite, schema.SUITE_HASH: suite_hash,
        schema.SCENARIO_ID: r["scenario_id"], schema.FAMILY: r["family"],
        schema.PARTNERS: r["partners"], schema.EPISODE: r["episodes"],
        **{m: float(r[m]) for m in schema.EVAL_MEASURES}} for r in rows],
        schema=schema.table_schema("evals"))


def matches_table(tickets: Sequence[MatchTicket], run: str, generation: int) -> pa.Table:
    """The `issued` rows of these tickets."""
    return pa.Table.from_pylist([{
        schema.RUN_ID: run, schema.MATCH_ID: t.match_id, schema.GENERATION: generation,
        schema.SCENARIO_ID: t.scenario.id, schema.FAMILY: t.scenario.games[0].family,
        schema.SCENARIO_JSON: t.scenario.to_json(), schema.MEMBERS: list(t.seats),
        schema.LEARNS: list(t.learn), schema.SEED: t.seed, schema.OUTCOME: "issued",
        schema.REASON: ""} for t in tickets],
        schema=schema.table_schema("matches"))


def outcomes_table(matches: Mapping[str, str], outcome: str, run: str, generation: int,
                   reason: str = "") -> pa.Table:
    """How matches ended: `matches` maps match id to family; `outcome` is "finished" or
    "cancelled" (with a reason)."""
    if outcome not in schema.OUTCOMES[1:]:
        raise ValueError(f"outcome must be one of {schema.OUTCOMES[1:]}, got {outcome!r}")
    return pa.Table.from_pylist([{
        schema.RUN_ID: run, schema.MATCH_ID: match_id, schema.GENERATION: generation,
        schema.FAMILY: family, schema.OUTCOME: outcome, schema.REASON: reason}
        for match_id, family in matches.items()], schema=schema.table_schema("matches"))


class LakeWriter:
    """Writes one run's rollouts into a lake (see the module docstring)."""

    def __init__(self, root: str | Path, run: str, fraction: float = 1.0,
                 keep_generations: int | None = None, max_bytes: int | None = None,
                 compact: bool = True, drop_after: int | None = None, fsync: bool = True):
        if not 0 < fraction <= 1:
            raise ValueError(f"data.fraction must be in (0, 1], got {fraction}")
        self.lake, self.run, self.fraction = Lake(root, fsync=fsync), run, fraction
        if drop_after is not None:  # a resumed run plays these generations again
            self.lake.roll_back(run, drop_after, "rolled back on resume")
        self.keep_generations, self.max_bytes, self.compact = keep_generations, max_bytes, compact
        self.rows = {t: 0 for t in TABLES}

    def _keep(self, data: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
        if self.fraction >= 1.0 or data.num_rows == 0 or schema.MATCH_ID not in \
                data.schema.names:  # evaluations are kept whole
            return data
        ids = data.column(schema.MATCH_ID)
        ids = ids.cast(pa.string()) if pa.types.is_dictionary(ids.type) else ids
        return data.filter(pa.array(stored(ids.to_pylist(), self.fraction)))

    def write(self, table: str, data: pa.Table | pa.RecordBatch, generation: int) -> int:
        data = self._keep(data)
        if data.num_rows:
            # committed on the lake's commit thread while the next rows arrive
            self.lake.write_by_family(table, data, self.run, generation, background=True)
            self.rows[table] += data.num_rows
        return data.num_rows

    def commit(self) -> dict[str, int]:
        """Wait until every shard written so far is committed (listed in the manifest); the
        rows written so far."""
        self.lake.flush()
        return dict(self.rows)

    def end_generation(self, generation: int) -> dict[str, int]:
        """Commit, compact the generation's hot shards and apply retention; the rows written
        so far."""
        self.lake.flush()
        if self.compact:
            for table in TABLES:
                self.lake.compact(table, self.run, generation)
        if self.keep_generations is not None or self.max_bytes is not None:
            self.lake.retain(self.keep_generations, self.max_bytes)
        return dict(self.rows)


LakeWriterActor = ray.remote(num_cpus=0)(LakeWriter)
