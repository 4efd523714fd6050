"""The `socius` command line: scenario commands print real scenarios; bad input exits 2."""

import json
import subprocess
import sys

from socius.envs import Scenario, ScenarioSpace
from socius.platform.cli import main


def test_sample_prints_the_space_json(capsys):
    assert main(["scenarios", "sample", "--split", "heldout", "--seed", "3", "--count", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [Scenario.from_json(line) for line in lines] == [
        ScenarioSpace(split="heldout").sample(s) for s in (3, 4)]


def test_play_prints_each_step_and_returns(capsys):
    assert main(["scenarios", "play", "prisoners_dilemma__textbook", "--seed", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[0])["name"] == "prisoners_dilemma__textbook"
    assert sum(" step " in line for line in out) == 10 and out[-1].startswith("returns:")


def test_unknown_classic_exits_2_naming_it(capsys):
    assert main(["scenarios", "play", "poker__texas"]) == 2
    assert "poker" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "socius.platform.cli", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith("socius ")


def test_every_command_fails_one_way_naming_what_is_wrong(tmp_path, capsys):
    """One error path: `socius: error: <what, where, what to do>` and exit status 2, before
    any Ray starts."""
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "manifest.json").write_text('{"socius_version": "0.1.0", "state_format": 1}')
    (damaged / "league.json").write_text("{cut")
    cases = [
        (["runs", "rm", str(tmp_path)], "manifest.json: missing; this is not a league run"),
        (["lineage", "main_0", "--run", str(tmp_path / "none")], "no such run folder"),
        (["league", "resume", str(damaged)], "league.json: damaged"),
        (["league", "run", "--set", "lr=0.1"], "`lr` moved to `ppo.lr`"),
        (["league", "run", "--run-dir", str(damaged)], "already exists"),
        (["data", "inspect", str(tmp_path)], str(tmp_path)),
        (["pull", "socius.x.main_0@champion"], "say where the registry is"),
        (["scenarios", "play", "poker__texas"], "unknown family 'poker'"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("socius: error: ") and needle in err, (argv, err)
    assert tmp_path.is_dir() and damaged.is_dir()  # nothing deleted by a refused `runs rm`


def test_commands_are_declared_once():
    from socius.platform.cli import COMMANDS, build_parser

    words = [c.words for c in COMMANDS]
    assert len(words) == len(set(words))
    parser = build_parser()
    args = parser.parse_args(["league", "run", "--profile", "smoke", "--set", "ppo.lr=0.1"])
    assert args.set == ["ppo.lr=0.1"] and args.profile == "smoke"
    args = parser.parse_args(["submit", "--profile", "smoke", "--set", "generations=2"])
    assert args.set == ["generations=2"]


def test_next_commands_evaluate_a_dilemma_league_s_main_champions_on_the_dilemmas(tmp_path):
    """After a run, the eval hint fits the league: the default league (the dilemmas) evaluates
    every main agent's champion on `dilemmas` (do they read their partners?); a league of
    sampled scenarios, the first member's champion on `heldout`."""
    from socius.platform.cli import next_commands
    from socius.platform.config import load_config
    from socius.platform.league.roles import Role
    from socius.platform.league.state import LeagueState, Member
    from socius.platform.runfolder import RunFolder

    members = [Member(f"main_{i}", f"p{i}", Role.MAIN) for i in range(3)]
    members += [Member("main_exploiter_0", "p0", Role.MAIN_EXPLOITER)]
    members += [Member(f"{m.id}@1", m.population, m.role, trainable=False, parent=m.id,
                       generation=1) for m in list(members)]
    state = LeagueState(members={m.id: m for m in members})
    hints = {}
    for profile in ("default", None):
        run = tmp_path / f"run-{profile}"
        run.mkdir()
        config = load_config(overrides=["name=lg"], profile=profile).as_json()
        (run / "manifest.json").write_text(json.dumps({"config": config}))
        hints[profile] = next(line for line in next_commands(RunFolder(run), state).splitlines()
                              if " eval " in line)
    assert hints["default"].endswith("--suite dilemmas")
    assert " ".join(f"socius.lg.main_{i}@champion" for i in range(3)) in hints["default"]
    assert "exploiter" not in hints["default"]
    assert hints[None].endswith("--suite heldout") and "main_1" not in hints[None]
