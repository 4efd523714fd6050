"""Rollout lake throughput and size: agent-steps/s into hot shards and through compaction, and
bytes per agent-step on disk, for the 4-player public-goods reference scenario.

The rows are real: a runner plays 256 matches of the reference scenario of `bench_envs.py`
(teams re-drawn at 5% of steps, rules changing at 1%, coalition moves) with a network in every
seat for 64 steps and records every seat's step in the rollout schema (ids of run, match,
episode, step, scenario, family, game, seat, member, team; the compact observation; action,
team move, reward, terminated/truncated, log-prob, value, learn flag). Those batches (with
distinct match ids per write) are then written as hot shards — Arrow IPC straight from Arrow's
buffers, renamed, recorded in the manifest — and compacted to Parquet (zstd). The process is
pinned to one core (so "per core" is literal), and the hot path runs four ways in the same run:
one fsynced shard per call (`Lake.write`), groups of shards committed together with one folder
fsync and one manifest append (`Lake.write_many`), the same with the fsyncs on the lake's
commit thread while the caller writes the next group (still one core: fsync waits on the disk,
not the CPU), and groups without fsync (`Lake(fsync=False)`: safe against a crash of the
process, not of the machine). Each mode prints agent-steps per second of wall clock and per
CPU-second of the process (user + system, all threads). The same run then writes the same number
of bytes as plain files fsynced in groups: the disk's rate at that moment, which fsynced shards
follow (here it varies from about 300 MB/s to 1.4 GB/s between runs).

Targets (issue 7): >= 10 M agent-steps/s per core into hot shards; <= 24 bytes per agent-step
after compaction.

Usage: python benchmarks/bench_store.py [--writes 40] [--group 8] [--lake DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from socius.platform.data import schema  # noqa: E402
from socius.platform.data.lake import Lake  # noqa: E402
from socius.platform.training.runner import Runner  # noqa: E402
from socius.platform.training.weights import WeightsHandle, state_digest  # noqa: E402
from socius.platform.types import MatchTicket  # noqa: E402
from socius.policies.checkpoint import fsync_path  # noqa: E402
from socius.policies.network import NetConfig, SociusNet  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_envs import PLAYERS, reference_scenario  # noqa: E402


def recorded_batch(matches: int, steps: int) -> pa.RecordBatch:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = NetConfig(max_players=PLAYERS, core="mlp")
    state = {k: v.numpy() for k, v in SociusNet(config).state_dict().items()}
    weights = {"main_0": WeightsHandle(state_digest(state), state)}
    scenario = reference_scenario()
    tickets = [MatchTicket(f"g0-{k}", scenario, ("main_0",) * PLAYERS, (True,) * PLAYERS, seed=k)
               for k in range(matches)]
    runner = Runner(config, steps=steps, seed=0, record=True, run_id="bench")
    _, stats = runner.run(tickets, weights)
    return stats.steps


def with_match_prefix(batch: pa.RecordBatch, prefix: str) -> pa.RecordBatch:
    """The same rows as another set of matches (new match ids), as the next runner call."""
    index = batch.schema.get_field_index(schema.MATCH_ID)
    ids = batch.column(index)
    renamed = pa.DictionaryArray.from_arrays(
        ids.indices, pa.array([f"{prefix}{v}" for v in ids.dictionary.to_pylist()]))
    return batch.set_column(index, batch.schema.field(index), renamed)


def disk_bandwidth(folder: Path, file_bytes: int, files: int, group: int) -> float:
    """Bytes/s of plain files written, fsynced in groups and renamed, as the lake commits
    shards: what the disk allows now (it varies several-fold from run to run here)."""
    folder.mkdir()
    data = os.urandom(1 << 20) * (file_bytes >> 20) + os.urandom(file_bytes % (1 << 20))
    start = time.perf_counter()
    for k in range(0, files, group):
        names = []
        for j in range(k, min(k + group, files)):
            tmp = folder / f".f{j}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            names.append(tmp)
        for tmp in names:
            fsync_path(tmp)
            os.replace(tmp, tmp.with_name(tmp.name[1:-4]))
        fsync_path(folder)
    return file_bytes * files / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--matches", type=int, default=256)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--group", type=int, default=8, help="shards per group commit")
    parser.add_argument("--lake", help="lake folder (default: a temporary one)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    batch = recorded_batch(args.matches, args.steps)
    batches = [with_match_prefix(batch, f"w{k}-") for k in range(args.writes)]
    rows = batch.num_rows * args.writes
    row_bytes = batch.nbytes / batch.num_rows
    print(f"{batch.num_rows:,} agent-steps per runner batch ({row_bytes:.1f} bytes per "
          f"agent-step in memory, observation {len(batch.column(schema.OBS)[0].as_py())} "
          f"bytes), {args.writes} batches")
    with tempfile.TemporaryDirectory() as tmp:
        rates, cpu_rates = {}, {}
        group = args.group
        for mode, fsync, size, background in (
                ("one fsynced shard per call", True, 1, False),
                (f"groups of {group}, fsynced", True, group, False),
                (f"groups of {group}, fsynced on the commit thread", True, group, True),
                (f"groups of {group}, no fsync", False, group, False)):
            lake = Lake(Path(tmp) / f"lake-{len(rates)}", fsync=fsync)
            start, cpu_start = time.perf_counter(), time.process_time()
            for k in range(0, len(batches), size):
                lake.write_many("steps", [(b, "bench", 0, "public_goods")
                                          for b in batches[k: k + size]], background=background)
            lake.flush()  # everything committed and visible
            rates[mode] = rows / (time.perf_counter() - start)
            cpu_rates[mode] = rows / (time.process_time() - cpu_start)
            hot_bytes = sum(s.bytes for s in lake.shards("steps"))
            print(f"hot shards, {mode}: {rates[mode] / 1e6:.1f} M agent-steps/s on one core, "
                  f"{cpu_rates[mode] / 1e6:.1f} M per CPU-second ({hot_bytes / rows:.1f} bytes "
                  f"per agent-step)")
        disk = disk_bandwidth(Path(tmp) / "disk", hot_bytes // args.writes, args.writes, group)
        print(f"the disk right after, the same bytes as plain files fsynced in groups of "
              f"{group}: {disk / 1e6:.0f} MB/s = {disk / (hot_bytes / rows) / 1e6:.1f} M "
              f"agent-steps/s at this row width (fsynced shards follow the disk's rate)")
        lake = Lake(args.lake or Path(tmp) / "lake-0")
        start = time.perf_counter()
        lake.compact("steps", "bench", 0)
        compact_seconds = time.perf_counter() - start
        compact_bytes = sum(s.bytes for s in lake.shards("steps"))
        assert lake.read("steps", columns=[schema.STEP]).num_rows == rows
        print(f"compaction: {rows / compact_seconds / 1e6:.2f} M agent-steps/s, "
              f"{compact_bytes / rows:.1f} bytes per agent-step on disk (Parquet, zstd)")
        met = [mode for mode, rate in rates.items() if rate >= 10e6]
        cpu_met = [mode for mode, rate in cpu_rates.items() if rate >= 10e6]
        print(f"targets: >= 10 M agent-steps/s into hot shards -> wall clock: "
              f"{'met (' + '; '.join(met) + ')' if met else 'NOT met'}; per CPU-second: "
              f"{'met (' + '; '.join(cpu_met) + ')' if cpu_met else 'NOT met'}; <= 24 bytes per "
              f"agent-step after compaction -> {'met' if compact_bytes / rows <= 24 else 'NOT met'}")
        widths = {}
        table = lake.read("steps")
        for name in table.column_names:
            one = pa.table({name: table.column(name)})
            sink = pa.BufferOutputStream()
            import pyarrow.parquet as pq

            pq.write_table(one, sink, compression="zstd", compression_level=9)
            widths[name] = sink.getvalue().size / rows
        print("bytes per agent-step by column after compaction: " + ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(widths.items(), key=lambda kv: -kv[1])))
        np.testing.assert_equal(rows, sum(s.rows for s in lake.shards("steps")))


if __name__ == "__main__":
    main()
