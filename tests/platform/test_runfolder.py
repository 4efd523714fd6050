"""The run folder: its files read with errors that name the file and say what to do."""

import json

import pytest

from socius.platform.league.state import LeagueState, saved_state
from socius.platform.runfolder import RunFolder, RunFolderError, find_runs, newest_run


def test_history_keeps_the_last_record_per_generation_and_skips_a_cut_line(tmp_path):
    run = RunFolder.create(tmp_path / "r")
    for generation, value in ((0, 1.0), (1, 2.0), (1, 3.0)):
        run.append_history({"generation": generation, "value": value})
    with open(run.file(RunFolder.HISTORY), "a") as f:
        f.write('{"generation": 2, "val')  # a crash mid-line
    assert run.history() == [{"generation": 0, "value": 1.0}, {"generation": 1, "value": 3.0}]
    assert RunFolder(tmp_path / "absent").history() == []


def test_each_file_error_names_the_file_and_what_to_do(tmp_path):
    with pytest.raises(RunFolderError, match="no such run folder"):
        RunFolder(tmp_path / "absent").manifest()
    run = RunFolder.create(tmp_path / "r")
    with pytest.raises(RunFolderError, match=r"exists already.*socius league resume"):
        RunFolder.create(tmp_path / "r")
    with pytest.raises(RunFolderError, match=r"manifest\.json: missing; this is not a league"):
        run.manifest()
    with pytest.raises(RunFolderError, match=r"league\.json: missing; no generation"):
        run.saved()
    run.file(RunFolder.STATE).write_text("{not json")
    with pytest.raises(RunFolderError, match=r"league\.json: damaged .*restore it from a backup"):
        run.saved()
    run.file(RunFolder.STATE).write_text("[1, 2]")
    with pytest.raises(RunFolderError, match="should hold a JSON object"):
        run.saved()
    run.write(RunFolder.STATE, {"league": {"members": "x"}, "rng": {}})
    with pytest.raises(RunFolderError, match=r"league\.json: damaged \(.*Error"):
        saved_state(run)
    assert run.read_optional(RunFolder.MIRROR) is None


def test_find_and_newest_runs(tmp_path):
    with pytest.raises(RunFolderError, match="no saved run under"):
        newest_run(tmp_path)
    for name in ("a", "b"):
        run = RunFolder.create(tmp_path / name)
        run.write(RunFolder.MANIFEST, {"config": {}})
    (tmp_path / "not_a_run").mkdir()
    assert [r.name for r in find_runs(tmp_path)] == ["a", "b"]
    RunFolder(tmp_path / "a").write(RunFolder.STATE, {"league": LeagueState().to_dict()})
    assert newest_run(tmp_path).name == "a"
    assert saved_state(newest_run(tmp_path)).generation == 0
    assert json.loads((tmp_path / "a" / "league.json").read_text())["league"]["members"] == []
