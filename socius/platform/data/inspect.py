"""What a run stored, as text: `socius data inspect RUN` and `socius replay RUN MATCH`."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from socius.platform.data import schema
from socius.platform.data.lake import Lake, LakeError
from socius.platform.runfolder import RunFolder


def open_run_lake(run_dir: str | Path) -> Lake:
    return Lake(RunFolder(run_dir).lake, create=False)


def row_filter(family: str | None = None, member: str | None = None,
               generation: int | None = None) -> ds.Expression | None:
    """A filter on the lake's tables from the common options (None: everything)."""
    parts = []
    if family is not None:
        parts.append(ds.field(schema.FAMILY) == family)
    if member is not None:
        parts.append(ds.field(schema.MEMBER) == member)
    if generation is not None:
        parts.append(ds.field("generation") == generation)
    expression = None
    for part in parts:
        expression = part if expression is None else expression & part
    return expression


def inspect_run(run_dir: str | Path, family: str | None = None, member: str | None = None,
                generation: int | None = None) -> str:
    """Rows, episodes, matches, families, members, generations and size on disk."""
    lake = open_run_lake(run_dir)
    steps = lake.read("steps", filter=row_filter(family, member, generation),
                      columns=[schema.MATCH_ID, schema.EPISODE, schema.FAMILY, schema.MEMBER,
                               "generation"])
    episode_filter = row_filter(family, None, generation)
    episodes = lake.read("episodes", filter=episode_filter)
    if member is not None:  # episodes the member played in
        keep = [member in m for m in episodes.column(schema.MEMBERS).to_pylist()]
        episodes = episodes.filter(pa.array(keep, pa.bool_()))
    summary = lake.summary()
    lines = [f"lake {lake.root}: {summary['shards']} shards, {summary['bytes'] / 1e6:.2f} MB "
             f"on disk"]
    where = ", ".join(f"{k}={v}" for k, v in (("family", family), ("member", member),
                                               ("generation", generation)) if v is not None)
    lines.append(f"selection: {where or 'everything'}")
    lines.append(f"agent-steps: {steps.num_rows:,}")
    played = set(zip(steps.column(schema.MATCH_ID).to_pylist(),
                     steps.column(schema.EPISODE).to_pylist(), strict=True))
    lines.append(f"episodes: {len(played):,}  matches: "
                 f"{len({match for match, _ in played}):,}  finished matches: "
                 f"{episodes.num_rows:,}")
    for title, column in (("families", schema.FAMILY), ("members", schema.MEMBER),
                          ("generations", "generation")):
        values = steps.column(column).to_pylist()
        counts = {v: values.count(v) for v in sorted(set(values), key=str)}
        lines.append(f"{title}: " + ", ".join(f"{k} ({n:,} steps)" for k, n in counts.items()))
    if episodes.num_rows:
        returns = [np.mean(r) for r in episodes.column(schema.RETURNS).to_pylist()]
        lines.append(f"finished match length: mean {np.mean(episodes.column(schema.STEPS)):.1f} "
                     f"steps (max {pc.max(episodes.column(schema.STEPS)).as_py()}); "
                     f"mean return per seat {np.mean(returns):.2f}; team changes "
                     f"{int(pc.sum(episodes.column(schema.TEAM_CHANGES)).as_py() or 0)}, rule "
                     f"changes {int(pc.sum(episodes.column(schema.RULE_CHANGES)).as_py() or 0)}")
    return "\n".join(lines)


def replay(run_dir: str | Path, match_id: str, limit: int = 200) -> str:
    """A match step by step: per step each seat's member, action, reward and team."""
    lake = open_run_lake(run_dir)
    steps = lake.read("steps", filter=ds.field(schema.MATCH_ID) == match_id)
    if steps.num_rows == 0:
        raise LakeError(f"no stored steps of match {match_id!r} in {lake.root} (`socius data "
                        "inspect` shows what the run stored)")
    matches = lake.read("matches", filter=ds.field(schema.MATCH_ID) == match_id)
    rows = sorted(steps.select([schema.EPISODE, schema.STEP, schema.GAME, schema.SEAT,
                                schema.MEMBER, schema.ACTION, schema.REWARD, schema.TEAM])
                  .to_pylist(), key=lambda r: (r[schema.EPISODE], r[schema.STEP],
                                               r[schema.SEAT]))
    lines = []
    if matches.num_rows:
        row = matches.slice(0, 1).to_pylist()[0]
        lines.append(f"match {match_id}: generation {row['generation']}, {row['family']}, "
                     f"seats {row['members']}, learning {row['learns']}")
    last_teams = None
    by_step = groupby(rows, key=lambda r: (r[schema.EPISODE], r[schema.STEP], r[schema.GAME]))
    for shown, ((episode, step, game), group) in enumerate(by_step):
        if shown == limit:
            lines.append(f"... ({limit} steps shown)")
            break
        group = list(group)
        teams = tuple(r[schema.TEAM] for r in group)
        change = "  <- teams changed" if last_teams is not None and teams != last_teams \
            and step > 0 else ""
        last_teams = teams
        seats = "  ".join(f"[{r[schema.SEAT]}] {r[schema.MEMBER]}: a={r[schema.ACTION]} "
                          f"r={r[schema.REWARD]:+.2f} team={r[schema.TEAM]}" for r in group)
        lines.append(f"episode {episode} step {step:>3} game {game}: {seats}{change}")
    return "\n".join(lines)
