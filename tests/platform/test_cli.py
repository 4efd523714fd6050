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
