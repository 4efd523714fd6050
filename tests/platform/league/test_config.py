"""League configs: unknown keys and bad values are refused naming the key, before any actor."""

import pytest

from socius.platform.cli import main
from socius.platform.league.config import ConfigError, LeagueConfig, load_config


def test_profiles_and_overrides():
    smoke = load_config(profile="smoke")
    assert smoke.generations == 2 and smoke.core == "mlp"
    tuned = load_config(profile="smoke", overrides=["generations=3", "scenarios.count=2"])
    assert tuned.generations == 3 and tuned.scenarios.count == 2
    assert load_config() == LeagueConfig()


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "league.yaml"
    path.write_text("name: mixed\npopulations:\n  - name: a\n    main: 2\n    main_exploiter: 1\n")
    config = load_config(path, ["seed=7"])
    assert config.name == "mixed" and config.seed == 7 and config.populations[0].main == 2


@pytest.mark.parametrize("overrides, needle", [
    (["colour=red"], "colour"),
    (["generations=0"], "generations"),
    (["scenarios.families=[poker]"], "poker"),
    (["scenarios.min_players=5", "scenarios.max_players=3"], "min_players"),
    (["core=lstm"], "core"),
    (["populations=[]"], "populations"),
    (["generations"], "key=value"),
])
def test_bad_config_names_the_key(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(overrides=overrides)


def test_unreadable_file_and_unknown_profile(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown profile"):
        load_config(profile="huge")


def test_cli_refuses_bad_config_before_starting_anything(capsys):
    assert main(["league", "run", "--profile", "smoke", "--set", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err


def test_cli_refuses_an_existing_run_folder(tmp_path, capsys):
    assert main(["league", "run", "--profile", "smoke", "--run-dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_example_configs_are_valid():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "configs"
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    assert names == ["full_space", "mixed_motive", "zero_sum"]
    for path in folder.glob("*.yaml"):
        assert load_config(path).name == path.stem


def test_config_reference_is_in_sync():
    from pathlib import Path

    from socius.platform.league.config import config_reference

    doc = Path(__file__).resolve().parents[3] / "docs" / "config.md"
    assert doc.read_text() == config_reference(), (
        "docs/config.md is stale: regenerate it with "
        "`python -c \"from socius.platform.league.config import config_reference; "
        "open('docs/config.md', 'w').write(config_reference())\"`")


def test_unknown_scripted_partner_is_refused():
    with pytest.raises(ConfigError, match="saint"):
        load_config(overrides=["scripted=[saint]"])


def test_init_from_must_name_a_checkpoint(tmp_path):
    from socius.platform.league.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="init_from"):
        load_config(overrides=[f"init_from={tmp_path}"])


def test_a_run_name_that_could_leave_the_runs_folder_is_refused():
    for bad in ("../../../etc/cron.d/x", "a/b", ".hidden", "-flag", "x" * 65, "sp ace", ""):
        with pytest.raises(ConfigError, match="name: String should match pattern"):
            load_config(overrides=[f"name={bad!r}"] if bad else ["name=''"])
    assert load_config(overrides=["name=ipd_v2.1-run"]).name == "ipd_v2.1-run"
