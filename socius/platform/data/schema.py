"""The rollout schema: one Arrow row per agent-step, the layout runners emit (version below).

Column names live here and nowhere else. The compact observation is the encoding's token row
(`socius.envs.encoding`, its version in `obs_version` of the schema metadata); rule features are
not repeated per step: they are a function of the scenario, the active stage game (`game`, its
index in the scenario's games) and the seat. Version 2 added `family` (the scenario's first
game's family, the lake's partition key) and `game`.

The lake's other tables (episodes, matches) are defined here too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 2

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


def schema(obs_version: int) -> pa.Schema:
    """The step table's schema, with the schema and observation-encoding versions attached."""
    return pa.schema(FIELDS, metadata={b"socius.rollout_schema": str(SCHEMA_VERSION).encode(),
                                       b"socius.obs_version": str(obs_version).encode()})


def step_batch(columns: dict[str, np.ndarray | list], obs_version: int) -> pa.RecordBatch:
    """A record batch from equal-length columns; a missing or extra column is an error."""
    names = [f.name for f in FIELDS]
    missing, extra = set(names) - set(columns), set(columns) - set(names)
    if missing or extra:
        raise ValueError(f"rollout columns: missing {sorted(missing)}, unexpected {sorted(extra)}")
    arrays = []
    for field in FIELDS:
        value = columns[field.name]
        if field.name == OBS:
            rows = np.ascontiguousarray(value, dtype=np.uint8)
            width = rows.shape[1]
            offsets = pa.array(np.arange(0, rows.size + 1, width, dtype=np.int32))
            arrays.append(pa.BinaryArray.from_buffers(pa.binary(), len(rows),
                                                      [None, offsets.buffers()[1],
                                                       pa.py_buffer(rows.tobytes())]))
        elif pa.types.is_dictionary(field.type):
            arrays.append(pa.array(value, pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(value, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema(obs_version))


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
]

TABLE_FIELDS = {"steps": FIELDS, "episodes": EPISODE_FIELDS, "matches": MATCH_FIELDS}


def table_schema(table: str, obs_version: int = 0) -> pa.Schema:
    """Schema of one lake table (`steps`, `episodes`, `matches`) with the schema version."""
    if table == "steps":
        return schema(obs_version)
    if table not in TABLE_FIELDS:
        raise ValueError(f"unknown lake table {table!r} (known: {sorted(TABLE_FIELDS)})")
    return pa.schema(TABLE_FIELDS[table],
                     metadata={b"socius.rollout_schema": str(SCHEMA_VERSION).encode()})
