"""The rollout schema: one Arrow row per agent-step, the layout runners emit (version below).

Column names live here and nowhere else. The compact observation is the encoding's token row
(`socius.envs.encoding`, its version in `obs_version` of the schema metadata); rule features are
not repeated per step: they are a function of the scenario, the active stage game (`game`, its
index in the scenario's games) and the seat. Version 2 added `family` (the scenario's first
game's family, the lake's partition key) and `game`.

Two forms of the step table (version 3): runners emit, and hot shards store, the *narrow* form —
dictionary indices as int16 (one runner batch never holds 32,768 matches, scenarios or members;
checked) and the observation as fixed-width binary (no offsets) — 12 bytes per agent-step less
than version 2, which matters on the hot path, where the disk's bandwidth is the limit. Reading
(`Lake.dataset`) and compaction use the *wide* form, `schema()`: int32 indices, since a
generation's Parquet file can hold more matches than int16 counts, and variable binary, so
observations of any width (and version-2 shards) read as one table.

The lake's other tables (episodes: one row per finished match; matches: one row when a ticket
is issued and one when it ends, finished or cancelled — version 4; evals: one row per
evaluated (agent, scenario, partner set)) are defined here too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 4

RUN_ID = "run_id"
MATCH_ID = "match_id"
EPISODE = "episode"
STEP = "step"
SCENARIO_ID = "scenario_id"
FAMILY = "family"
GAME = "game"
SEAT = "seat"
MEMBER = "member"
TEAM = "team"
OBS = "obs"
ACTION = "action"
TEAM_MOVE = "team_move"
REWARD = "reward"
TERMINATED = "terminated"
TRUNCATED = "truncated"
ACTION_LOGP = "action_logp"
VALUE = "value"
LEARN = "learn"

FIELDS = [
    pa.field(RUN_ID, pa.dictionary(pa.int32(), pa.string())),
    pa.field(MATCH_ID, pa.dictionary(pa.int32(), pa.string())),
    pa.field(EPISODE, pa.uint32()),
    pa.field(STEP, pa.uint16()),
    pa.field(SCENARIO_ID, pa.dictionary(pa.int32(), pa.string())),
    pa.field(FAMILY, pa.dictionary(pa.int32(), pa.string())),
    pa.field(GAME, pa.uint8()),
    pa.field(SEAT, pa.uint8()),
    pa.field(MEMBER, pa.dictionary(pa.int32(), pa.string())),
    pa.field(TEAM, pa.uint8()),
    pa.field(OBS, pa.binary()),
    pa.field(ACTION, pa.uint8()),
    pa.field(TEAM_MOVE, pa.uint8()),
    pa.field(REWARD, pa.float32()),
    pa.field(TERMINATED, pa.bool_()),
    pa.field(TRUNCATED, pa.bool_()),
    pa.field(ACTION_LOGP, pa.float32()),  # NaN for scripted seats
    pa.field(VALUE, pa.float32()),  # NaN for scripted seats
    pa.field(LEARN, pa.bool_()),
]


def _metadata(obs_version: int) -> dict[bytes, bytes]:
    return {b"socius.rollout_schema": str(SCHEMA_VERSION).encode(),
            b"socius.obs_version": str(obs_version).encode()}


def schema(obs_version: int) -> pa.Schema:
    """The step table's wide (read) form, with the schema and encoding versions attached."""
    return pa.schema(FIELDS, metadata=_metadata(obs_version))


def narrow_field(field: pa.Field, obs_width: int) -> pa.Field:
    if field.name == OBS:
        return pa.field(OBS, pa.binary(obs_width))
    if pa.types.is_dictionary(field.type):
        return pa.field(field.name, pa.dictionary(pa.int16(), pa.string()))
    return field


def batch_schema(obs_version: int, obs_width: int) -> pa.Schema:
    """The narrow form runners emit and hot shards store (observation rows of `obs_width`)."""
    return pa.schema([narrow_field(f, obs_width) for f in FIELDS], metadata=_metadata(obs_version))


def step_batch(columns: dict[str, np.ndarray | list], obs_version: int) -> pa.RecordBatch:
    """A record batch in the narrow form from equal-length columns (`obs`: one uint8 row per
    agent-step); a missing or extra column, or more distinct ids than int16 indices hold, is
    an error."""
    names = [f.name for f in FIELDS]
    missing, extra = set(names) - set(columns), set(columns) - set(names)
    if missing or extra:
        raise ValueError(f"rollout columns: missing {sorted(missing)}, unexpected {sorted(extra)}")
    rows = np.ascontiguousarray(columns[OBS], dtype=np.uint8)
    narrow = batch_schema(obs_version, rows.shape[1])
    arrays = []
    for field in narrow:
        value = columns[field.name]
        if field.name == OBS:
            arrays.append(pa.FixedSizeBinaryArray.from_buffers(
                field.type, len(rows), [None, pa.py_buffer(rows)]))
        elif pa.types.is_dictionary(field.type):
            encoded = pa.array(value, pa.string()).dictionary_encode()
            if len(encoded.dictionary) > np.iinfo(np.int16).max + 1:
                raise ValueError(f"rollout column {field.name!r}: {len(encoded.dictionary):,} "
                                 f"distinct values in one batch (at most 32,768: give the runner "
                                 f"fewer tickets per call)")
            arrays.append(pa.DictionaryArray.from_arrays(encoded.indices.cast(pa.int16()),
                                                         encoded.dictionary))
        else:
            arrays.append(pa.array(value, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=narrow)


# --- the episode and match tables ------------------------------------------------------------
GENERATION = "generation"
SCENARIO_JSON = "scenario_json"
STEPS = "steps"
RETURNS = "returns"
MEMBERS = "members"
TEAM_CHANGES = "team_changes"
RULE_CHANGES = "rule_changes"
LEARNS = "learns"
SEED = "seed"
OUTCOME = "outcome"
REASON = "reason"
OUTCOMES = ("issued", "finished", "cancelled")

EPISODE_FIELDS = [
    pa.field(RUN_ID, pa.string()),
    pa.field(MATCH_ID, pa.string()),
    pa.field(EPISODE, pa.uint32()),
    pa.field(GENERATION, pa.uint32()),
    pa.field(SCENARIO_ID, pa.string()),
    pa.field(FAMILY, pa.string()),
    pa.field(STEPS, pa.uint32()),
    pa.field(TEAM_CHANGES, pa.uint32()),  # steps after which the teams differed
    pa.field(RULE_CHANGES, pa.uint32()),  # steps after which the stage game differed
    pa.field(MEMBERS, pa.list_(pa.string())),
    pa.field(RETURNS, pa.list_(pa.float32())),
]

MATCH_FIELDS = [
    pa.field(RUN_ID, pa.string()),
    pa.field(MATCH_ID, pa.string()),
    pa.field(GENERATION, pa.uint32()),
    pa.field(SCENARIO_ID, pa.string()),
    pa.field(FAMILY, pa.string()),
    pa.field(SCENARIO_JSON, pa.string()),
    pa.field(MEMBERS, pa.list_(pa.string())),
    pa.field(LEARNS, pa.list_(pa.bool_())),
    pa.field(SEED, pa.int64()),
    # version 4: a ticket's row says "issued"; its end adds one row "finished" or "cancelled"
    # (with the reason), so issued = finished + cancelled + in flight can be read off the lake
    pa.field(OUTCOME, pa.string()),
    pa.field(REASON, pa.string()),
]

# evaluation results: one row per (agent, scenario, partner set) of an evaluation (eval/)
AGENT, SUITE, SUITE_HASH, PARTNERS = "agent", "suite", "suite_hash", "partners"
EVAL_MEASURES = ("focal_return", "normalised", "cooperation", "efficiency", "equality",
                 "sustainability", "peace", "tom_accuracy", "team_switches",
                 "coalition_stability")
EVAL_FIELDS = [
    pa.field(RUN_ID, pa.string()),
    pa.field(GENERATION, pa.uint32()),
    pa.field(AGENT, pa.string()),
    pa.field(SUITE, pa.string()),
    pa.field(SUITE_HASH, pa.string()),
    pa.field(SCENARIO_ID, pa.string()),
    pa.field(FAMILY, pa.string()),
    pa.field(PARTNERS, pa.string()),
    pa.field(EPISODE, pa.uint32()),  # episodes played in the cell
    *(pa.field(m, pa.float64()) for m in EVAL_MEASURES),
]

TABLE_FIELDS = {"steps": FIELDS, "episodes": EPISODE_FIELDS, "matches": MATCH_FIELDS,
                "evals": EVAL_FIELDS}


def table_schema(table: str, obs_version: int = 0) -> pa.Schema:
    """Schema of one lake table (`steps`, `episodes`, `matches`, `evals`) with the schema
    version."""
    if table == "steps":
        return schema(obs_version)
    if table not in TABLE_FIELDS:
        raise ValueError(f"unknown lake table {table!r} (known: {sorted(TABLE_FIELDS)})")
    return pa.schema(TABLE_FIELDS[table],
                     metadata={b"socius.rollout_schema": str(SCHEMA_VERSION).encode()})
