"""The rollout lake: atomic shards with a manifest, compaction, retention, and integrity
checks that find truncated and altered shards and set them aside."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from socius.envs import classic
from socius.platform.data.lake import MANIFEST, QUARANTINE, Lake, LakeError
from socius.platform.training.runner import Runner
from socius.platform.types import MatchTicket
from socius.policies.network import NetConfig


def recorded_steps(steps=20, seed=0) -> pa.RecordBatch:
    """Real rollout rows: scripted players in the PD and in 4-player public goods."""
    pd = classic("prisoners_dilemma__textbook", horizon=5)
    pg = classic("public_goods__four_player", horizon=5)
    # matches of several 5-step episodes: every call step is recorded
    tickets = [MatchTicket("pd-0", pd, ("scripted:tit_for_tat", "scripted:always_defect"),
                           (False, False), seed=1, episodes=max(1, steps // 5)),
               MatchTicket("pg-0", pg, ("scripted:uniform_random",) * 4, (False,) * 4, seed=2,
                           episodes=max(1, steps // 5))]
    runner = Runner(NetConfig(max_players=4, core="mlp"), steps=steps, seed=seed, record=True,
                    run_id="run_a")
    _, stats = runner.run(tickets, {})
    return stats.steps


def test_shards_round_trip_by_family_with_manifest_counts(tmp_path):
    lake = Lake(tmp_path / "lake")
    batch = recorded_steps()
    shards = lake.write_by_family("steps", batch, run="run_a", generation=0)
    assert {s.family for s in shards} == {"prisoners_dilemma", "public_goods"}
    table = lake.read("steps")
    assert table.num_rows == batch.num_rows == sum(s.rows for s in lake.shards("steps"))
    pd_rows = lake.read("steps", filter=ds.field("family") == "prisoners_dilemma")
    assert pd_rows.num_rows == 2 * 20 and set(pd_rows.column("generation").to_pylist()) == {0}
    assert not any(p.name.startswith(".") for p in (tmp_path / "lake").rglob("*"))
    with pytest.raises(LakeError, match="not a rollout lake"):
        Lake(tmp_path / "elsewhere", create=False)


def version_2_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The same rows as schema version 2 wrote them: int32 dictionary indices, variable
    binary observations."""
    from socius.platform.data import schema

    return pa.Table.from_batches([batch]).cast(schema.schema(1)).to_batches()[0]


def test_narrow_hot_shards_version_2_shards_and_compaction_read_as_one_table(tmp_path):
    from socius.platform.data import schema

    lake = Lake(tmp_path / "lake")
    batch = recorded_steps()
    assert pa.types.is_int16(batch.schema.field(schema.MEMBER).type.index_type)
    assert batch.schema.field(schema.OBS).type == pa.binary(30)
    lake.write("steps", batch, "run_a", 0, "mixed")
    lake.write("steps", version_2_rows(batch), "run_a", 0, "mixed")
    table = lake.read("steps")
    assert table.schema.field(schema.OBS).type == pa.binary()
    assert table.num_rows == 2 * batch.num_rows
    expected = pa.Table.from_batches([batch]).column(schema.OBS).to_pylist()
    assert table.column(schema.OBS).to_pylist() == expected * 2
    assert table.column(schema.MEMBER).to_pylist() == \
        pa.Table.from_batches([batch]).column(schema.MEMBER).to_pylist() * 2
    lake.compact("steps", "run_a", 0)
    compacted = lake.read("steps")
    assert [s.format for s in lake.shards("steps")] == ["parquet"]
    assert sorted(compacted.column(schema.OBS).to_pylist()) == sorted(expected * 2)


def test_more_ids_than_int16_counts_compact_and_read_back(tmp_path):
    from socius.platform.data import schema

    lake = Lake(tmp_path / "lake")
    rows = 20_000
    base = pa.Table.from_batches([recorded_steps(steps=1)]).slice(0, 1)
    for part in range(2):  # 40,000 distinct matches in the generation, 20,000 per shard
        columns = {name: np.repeat(base.column(name).to_numpy(zero_copy_only=False), rows)
                   for name in base.column_names if name != schema.OBS}
        columns[schema.MATCH_ID] = [f"m{part}-{i}" for i in range(rows)]
        columns[schema.OBS] = np.zeros((rows, 30), np.uint8)
        lake.write("steps", schema.step_batch(columns, 1), "run_a", 0, "pd")
    lake.compact("steps", "run_a", 0)
    ids = lake.read("steps", columns=[schema.MATCH_ID]).column(schema.MATCH_ID)
    assert len(set(ids.to_pylist())) == 2 * rows
    columns = {k: np.concatenate([v, v]) for k, v in columns.items()}  # one 40,000-row batch
    columns[schema.MATCH_ID] = [f"m-{i}" for i in range(2 * rows)]
    with pytest.raises(ValueError, match="'match_id': 40,000 distinct values"):
        schema.step_batch(columns, 1)


def test_background_commits_become_visible_in_order(tmp_path):
    lake = Lake(tmp_path / "lake")
    batch = pa.record_batch({"x": np.arange(1000)})
    for generation in range(6):
        lake.write_many("steps", [(batch, "r", generation, "a"), (batch, "r", generation, "b")],
                        background=True)
    lake.flush()
    assert [(s.generation, s.family) for s in lake.shards("steps")] == \
        [(g, f) for g in range(6) for f in "ab"]
    assert lake.read("steps").num_rows == 12_000
    assert lake.verify() == {"corrupt": [], "missing": [], "adopted": [], "duplicate": []}
    assert not [p for p in (tmp_path / "lake").rglob(".*") if p.is_file()]  # no temp left


def test_compaction_swaps_hot_shards_for_one_parquet_file(tmp_path):
    lake = Lake(tmp_path / "lake")
    for k in range(3):
        lake.write_by_family("steps", recorded_steps(seed=k), run="run_a", generation=1)
    before = lake.read("steps")
    hot_bytes = sum(s.bytes for s in lake.shards("steps"))
    compacted = lake.compact("steps", "run_a", 1)
    assert len(compacted) == 2 and all(s.format == "parquet" for s in compacted)
    after = lake.read("steps")
    assert after.num_rows == before.num_rows
    key = ["match_id", "episode", "seat", "step", "reward"]
    assert sorted(zip(*[before.column(k).to_pylist() for k in key], strict=True)) == \
        sorted(zip(*[after.column(k).to_pylist() for k in key], strict=True))
    assert sum(s.bytes for s in lake.shards("steps")) < hot_bytes / 3
    assert not list((tmp_path / "lake").rglob("*.arrow"))
    assert lake.verify() == {"corrupt": [], "missing": [], "adopted": [], "duplicate": []}


def test_a_compaction_cut_short_leaves_no_duplicate_rows(tmp_path, monkeypatch):
    """Killed after writing its output but before the manifest's swap (found by the chaos test:
    `verify` adopted the output beside its still-listed inputs), or after the swap but before
    deleting the inputs: `verify` deletes the leftovers as duplicates and the rows stay as
    written."""
    lake = Lake(tmp_path / "lake")
    for k in range(2):
        lake.write_by_family("steps", recorded_steps(seed=k), run="run_a", generation=1)
    rows = lake.read("steps").num_rows
    inputs = {s.path: (tmp_path / "lake" / s.path).read_bytes() for s in lake.shards("steps")}

    def killed(events):
        raise KeyboardInterrupt("killed before the manifest's swap")

    with monkeypatch.context() as patch:
        patch.setattr(lake, "_append", killed)
        with pytest.raises(KeyboardInterrupt):
            lake.compact("steps", "run_a", 1)
    orphans = [str(p.relative_to(tmp_path / "lake")) for p in (tmp_path / "lake").rglob("compact-*")]
    assert orphans and lake.read("steps").num_rows == rows
    report = lake.verify()
    assert sorted(report["duplicate"]) == sorted(orphans) and report["adopted"] == []
    assert lake.read("steps").num_rows == rows and not list((tmp_path / "lake").rglob("compact-*"))
    lake.compact("steps", "run_a", 1)  # now whole; then the inputs come back, as if not deleted
    for path, data in inputs.items():
        (tmp_path / "lake" / path).write_bytes(data)
    report = lake.verify()
    assert sorted(report["duplicate"]) == sorted(inputs) and report["adopted"] == []
    assert lake.read("steps").num_rows == rows
    assert lake.verify() == {"corrupt": [], "missing": [], "adopted": [], "duplicate": []}
    # a run resuming rolls back and clears such leftovers of earlier generations too
    for path, data in inputs.items():
        (tmp_path / "lake" / path).write_bytes(data)
    assert lake.roll_back("run_a", after_generation=1, reason="resume") == len(inputs)
    assert lake.verify() == {"corrupt": [], "missing": [], "adopted": [], "duplicate": []}
    assert lake.read("steps").num_rows == rows


def test_truncated_and_altered_shards_are_found_and_quarantined(tmp_path):
    lake = Lake(tmp_path / "lake")
    shards = [lake.write("steps", recorded_steps(seed=k), "run_a", 0, f"f{k}") for k in range(3)]
    truncated, flipped, intact = (tmp_path / "lake" / s.path for s in shards)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    data[len(data) // 3] ^= 0xFF
    flipped.write_bytes(bytes(data))
    report = lake.verify()
    assert sorted(report["corrupt"]) == sorted([shards[0].path, shards[1].path])
    for shard in shards[:2]:
        assert (tmp_path / "lake" / QUARANTINE / shard.path).is_file()
        assert not (tmp_path / "lake" / shard.path).exists()
    assert [s.path for s in lake.shards()] == [shards[2].path]
    assert lake.read("steps").num_rows == shards[2].rows and intact.is_file()
    assert lake.verify() == {"corrupt": [], "missing": [], "adopted": [], "duplicate": []}


def test_retention_keeps_the_last_generations_and_the_manifest_consistent(tmp_path):
    lake = Lake(tmp_path / "lake")
    batch = recorded_steps()
    for generation in range(4):
        lake.write_by_family("steps", batch, "run_a", generation)
    removed = lake.retain(keep_generations=2)
    assert {s.generation for s in removed} == {0, 1}
    assert {s.generation for s in lake.shards()} == {2, 3}
    assert all(not (tmp_path / "lake" / s.path).exists() for s in removed)
    assert lake.read("steps").num_rows == 2 * batch.num_rows
    lake.retain(max_bytes=1)
    assert lake.shards() == [] and lake.read("steps").num_rows == 0


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import pyarrow as pa
    from socius.platform.data.lake import Lake

    lake = Lake(sys.argv[1], fsync=sys.argv[2] != "no-fsync")
    background = sys.argv[2] == "background"
    rows = 400_000
    rng = np.random.default_rng(0)
    batch = pa.record_batch({"x": np.arange(rows), "y": rng.random(rows)})
    for k in range(10_000):
        lake.write_many("steps", [(batch, "run_a", k, "f")], background=background)
        lake.flush()  # committed (visible) before it is reported
        print(k, flush=True)
""")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sync", ["fsync", "no-fsync", "background"])
def test_sigkill_of_a_writer_leaves_only_whole_committed_shards(tmp_path, sync):
    """With or without fsync: a killed process leaves no visible part (fsync only adds
    surviving a machine crash)."""
    root = tmp_path / "lake"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), sync],
                            stdout=subprocess.PIPE, text=True)
    committed = 0
    while committed < 3:
        line = proc.stdout.readline()
        assert line, "the writer stopped early"
        committed = int(line) + 1
    time.sleep(float(np.random.default_rng().uniform(0.0, 0.05)))  # somewhere mid-shard
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lake = Lake(root, create=False)
    listed = lake.shards()
    assert len(listed) >= 3
    visible = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
               and p.name != MANIFEST]
    # every visible shard file is whole: listed ones match their manifest record; an unlisted
    # one (killed between rename and manifest line) reads back whole and is adopted
    report = lake.verify()
    assert report["corrupt"] == [] and report["missing"] == []
    assert len(visible) == len(listed) + len(report["adopted"])
    assert lake.read("steps").num_rows == sum(s.rows for s in lake.shards()) == \
        400_000 * len(lake.shards())


def test_the_lake_reads_with_duckdb_and_polars(tmp_path):
    import duckdb
    import polars as pl

    lake = Lake(tmp_path / "lake")
    lake.write_by_family("steps", recorded_steps(seed=0), "run_a", 0)
    lake.write_by_family("steps", recorded_steps(seed=1), "run_a", 1)
    lake.compact("steps", "run_a", 0)  # one generation compacted, one hot
    steps = lake.dataset("steps")  # manifest-aware: hot and compacted shards together
    counts = dict(duckdb.sql("select family, count(*) from steps group by family").fetchall())
    assert counts == {"prisoners_dilemma": 80, "public_goods": 160}
    frame = pl.scan_pyarrow_dataset(steps).filter(pl.col("generation") == 1).collect()
    assert frame.height == 120 and set(frame["family"]) == {"prisoners_dilemma", "public_goods"}
    parquet = lake.files("steps", format="parquet")
    assert duckdb.sql(f"select count(*) from read_parquet({parquet})").fetchall()[0][0] == 120


def test_data_cli_inspects_replays_verifies_and_removes_runs(tmp_path, capsys):
    import json

    from socius.platform.cli import main
    from socius.platform.data.writer import episodes_table, matches_table

    run = tmp_path / "run_a"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"socius_version": "x"}))
    pd = classic("prisoners_dilemma__textbook", horizon=5)
    tickets = [MatchTicket("g0-0", pd, ("scripted:tit_for_tat", "scripted:always_defect"),
                           (False, False), seed=1, episodes=2)]
    _, stats = Runner(NetConfig(max_players=2, core="mlp"), steps=10, record=True,
                      run_id="run_a").run(tickets, {})
    lake = Lake(run / "lake")
    lake.write_by_family("steps", stats.steps, "run_a", 0)
    lake.write_by_family("episodes", episodes_table(stats.results, "run_a", 0), "run_a", 0)
    lake.write_by_family("matches", matches_table(tickets, "run_a", 0), "run_a", 0)
    assert main(["data", "inspect", str(run)]) == 0
    out = capsys.readouterr().out
    assert "agent-steps: 20" in out and "episodes: 2" in out and "always_defect" in out
    assert main(["data", "inspect", str(run), "--member", "scripted:tit_for_tat"]) == 0
    assert "agent-steps: 10" in capsys.readouterr().out
    assert main(["replay", str(run), "g0-0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("match g0-0") and len(out) == 11  # header + 10 steps
    assert "tit_for_tat: a=0" in out[1] and "always_defect: a=1" in out[1]
    assert "tit_for_tat: a=1" in out[2]  # tit-for-tat answers the defection
    assert main(["replay", str(run), "g9-9"]) == 2
    assert main(["data", "verify", str(run)]) == 0
    shard = run / "lake" / lake.shards("steps")[0].path
    shard.write_bytes(shard.read_bytes()[:100])
    assert main(["data", "verify", str(run)]) == 1
    assert "corrupt" in capsys.readouterr().out
    assert main(["runs", "rm", str(run)]) == 0 and not run.exists()
    assert main(["runs", "rm", str(tmp_path)]) == 2


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_lake_reads_with_ray_data(ray_session, tmp_path):
    import ray

    lake = Lake(tmp_path / "lake")
    lake.write_by_family("steps", recorded_steps(), "run_a", 0)
    lake.compact("steps", "run_a", 0)
    dataset = ray.data.read_parquet(lake.files("steps", format="parquet"))
    assert dataset.count() == 120
    assert ray.data.from_arrow(lake.read("steps")).count() == 120


def test_a_resume_sets_aside_the_aborted_attempts_unlisted_shards(tmp_path):
    """A crash between a shard's rename and its manifest line leaves an unlisted file of the
    generation being played; the resumed run rolls that generation back, so `verify` does not
    adopt the old attempt's rows next to the replay's."""
    import shutil

    from socius.platform.data.writer import LakeWriter

    lake = Lake(tmp_path / "lake")
    batch = recorded_steps()
    lake.write_by_family("steps", batch, run="run_a", generation=0)
    (listed,) = lake.write_by_family("steps", batch.slice(0, 10), run="run_a", generation=1)[:1]
    orphan = tmp_path / "lake" / listed.path.replace("generation=1", "generation=2")
    orphan.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "lake" / listed.path, orphan)  # renamed, never listed
    LakeWriter(tmp_path / "lake", "run_a", drop_after=0)  # resuming after generation 0
    assert {s.generation for s in Lake(tmp_path / "lake").shards()} == {0}
    assert not orphan.exists() and any((tmp_path / "lake" / "_quarantine").rglob("*.arrow"))
    assert Lake(tmp_path / "lake").verify()["adopted"] == []
    assert lake.read("steps").num_rows == batch.num_rows
