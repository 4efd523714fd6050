"""`<run>/history.jsonl`: one line per finished generation (ratings, cooperation, care,
throughput by stage, scenario coverage, team changes and betrayals), appended as the league
goes. It is what the dashboard plots over time and what the live metrics report."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from socius.platform.files import append_jsonl, read_jsonl
from socius.platform.league.state import LeagueState

HISTORY_FILE = "history.jsonl"
STAGES = ("env/wait_seconds", "env/runner_seconds", "learner/update_seconds",
          "learner/sync_seconds")


def generation_record(generation: int, state: LeagueState, result,
                      seconds: float) -> dict[str, Any]:
    """What one generation did (`result` is the training loop's `LoopResult`)."""
    episodes = result.match_results
    lengths = [e.steps for e in episodes]
    stage_seconds = {stage: float(sum(it.get(stage, 0.0) for it in result.iterations))
                     for stage in STAGES}
    return {
        "generation": generation, "unix_time": time.time(), "seconds": seconds,
        "members": len(state.members),
        "ratings": {m: round(r.ordinal, 4) for m, r in sorted(state.ratings.items())},
        "cooperation": {m: round(c, 4) for m, c in sorted(state.cooperation.items())},
        "care": {m.id: [m.care.get("team", 0.0), m.care.get("others", 0.0)]
                 for m in state.learners()},
        "agent_steps_trained": result.agent_steps_trained,
        "agent_steps_sampled": result.agent_steps_sampled,
        "throughput": {"trained": result.agent_steps_trained / max(seconds, 1e-9),
                       "sampled": result.agent_steps_sampled / max(seconds, 1e-9)},
        "stage_seconds": {**stage_seconds, "total": seconds},
        "episodes": len(episodes),  # finished matches (one result each)
        "match_steps": {"mean": float(np.mean(lengths)) if lengths else 0.0,
                        "max": max(lengths, default=0),
                        "p90": float(np.percentile(lengths, 90)) if lengths else 0.0},
        "families": dict(Counter(e.family for e in episodes)),
        "scenarios": dict(Counter(e.scenario_id for e in episodes)),
        "team_changes": sum(e.team_changes for e in episodes),
        "rule_changes": sum(e.rule_changes for e in episodes),
        "betrayals": sum(e.betrayals for e in episodes),
    }


def append_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one fsynced line: a crash leaves at most a cut last line, which readers skip."""
    append_jsonl(run_dir / HISTORY_FILE, [record])


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """Records by generation; a generation played again after a resume keeps its last record."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    by_generation = {record["generation"]: record for record in read_jsonl(path)}
    return [by_generation[g] for g in sorted(by_generation)]
