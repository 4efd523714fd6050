"""League configs: unknown keys and bad values are refused naming the key, before any actor."""

import pytest

from socius.platform.cli import main
from socius.platform.config import ConfigError, LeagueConfig, load_config, run_profile


def test_profiles_and_overrides():
    smoke = load_config(profile="smoke")
    assert smoke.generations == 2 and smoke.core == "mlp"
    tuned = load_config(profile="smoke", overrides=["generations=3", "scenarios.count=2"])
    assert tuned.generations == 3 and tuned.scenarios.count == 2
    assert load_config() == LeagueConfig()


def test_a_run_without_a_config_is_the_default_profile_and_a_file_starts_bare(tmp_path):
    assert run_profile(None, None) == "default"  # `socius league run` with nothing else
    assert run_profile("mine.yaml", None) is None  # a file: on the bare defaults
    assert run_profile(None, "smoke") == "smoke" and run_profile("mine.yaml", "default") == "default"
    default = load_config(profile=run_profile(None, None))
    assert [p.name for p in default.populations] == ["red", "blue", "green"]
    assert default.scenarios.classics and default.scenarios.classic_continuation == 0.95
    assert "always_defect" in default.matchmaking.scripted
    assert "always_cooperate" not in default.matchmaking.scripted
    path = tmp_path / "league.yaml"
    path.write_text("generations: 3\n")
    assert load_config(path, profile=run_profile(path, None)) == LeagueConfig(generations=3)


def test_classics_with_a_sample_on_top():
    from socius.platform.run.league import league_scenarios

    config = load_config(overrides=[
        "scenarios.classics=[prisoners_dilemma__textbook, stag_hunt__textbook]",
        "scenarios.also_sample=3", "scenarios.families=[random_general_sum]"])
    scenarios = league_scenarios(config)
    assert [s.games[0].family for s in scenarios] == [
        "prisoners_dilemma", "stag_hunt"] + ["random_general_sum"] * 3
    assert len({s.id for s in scenarios}) == 5
    alone = load_config(overrides=["scenarios.classics=[stag_hunt__textbook]"])
    assert [s.games[0].family for s in league_scenarios(alone)] == ["stag_hunt"]


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
    (["scenarios.also_sample=4"], "also_sample"),  # a sample on top of classics, none named
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
    assert names == ["full_space", "generalist", "mixed_motive", "zero_sum"]
    for path in folder.glob("*.yaml"):
        assert load_config(path).name == path.stem


def test_config_reference_is_in_sync():
    from pathlib import Path

    from socius.platform.config import config_reference

    doc = Path(__file__).resolve().parents[3] / "docs" / "config.md"
    assert doc.read_text() == config_reference(), (
        "docs/config.md is stale: regenerate it with "
        "`python -c \"from socius.platform.config import config_reference; "
        "open('docs/config.md', 'w').write(config_reference())\"`")


def test_unknown_scripted_partner_is_refused():
    with pytest.raises(ConfigError, match="saint"):
        load_config(overrides=["matchmaking.scripted=[saint]"])


def test_init_from_must_name_a_checkpoint(tmp_path):
    from socius.platform.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="init_from"):
        load_config(overrides=[f"init_from={tmp_path}"])


def test_a_run_name_that_could_leave_the_runs_folder_is_refused():
    for bad in ("../../../etc/cron.d/x", "a/b", ".hidden", "-flag", "x" * 65, "sp ace", ""):
        with pytest.raises(ConfigError, match="name: String should match pattern"):
            load_config(overrides=[f"name={bad!r}"] if bad else ["name=''"])
    assert load_config(overrides=["name=ipd_v2.1-run"]).name == "ipd_v2.1-run"


def test_a_config_of_the_old_flat_shape_is_refused_with_where_each_key_moved(tmp_path):
    from socius.platform.config import ConfigError, LeagueConfig, load_config

    old = tmp_path / "old.yaml"
    old.write_text("name: old\nlr: 0.001\ntickets_per_round: 32\nscripted: [tit_for_tat]\n")
    with pytest.raises(ConfigError, match=r"old\.yaml: invalid league config: config: a config "
                       r"of the old, flat shape: `lr` moved to `ppo.lr`; `tickets_per_round` "
                       r"moved to `rollout.slots`; `scripted` moved to `matchmaking.scripted`"):
        load_config(old)
    with pytest.raises(ConfigError, match="`snapshot_every_steps` moved to `snapshots.every_steps`"):
        load_config(overrides=["snapshot_every_steps=5"])
    with pytest.raises(ValueError, match="`max_restarts` moved to `faults.max_restarts`"):
        LeagueConfig(max_restarts=1)


def test_sections_build_what_the_run_needs():
    from socius.platform.config import load_config
    from socius.platform.run.league import (
        matchmaking_rules,
        ppo_settings,
        rollout_settings,
        snapshot_rules,
    )

    config = load_config(overrides=[
        "ppo.lr=3e-4", "ppo.entropy=0.02", "ppo.gamma=0.9", "ppo.lambda=0.8", "ppo.clip=0.3",
        "ppo.tom_weight=0.1", "rollout.explore_prob=0.05", "rollout.reward_scale=0.5",
        "matchmaking.weighting=variance", "matchmaking.scripted=[always_defect]",
        "snapshots.every_steps=500"])
    ppo = ppo_settings(config)
    assert (ppo.lr, ppo.entropy_start, ppo.entropy_end, ppo.clip, ppo.tom_weight) == (
        3e-4, 0.02, 0.02, 0.3, 0.1)
    rollout = rollout_settings(config)
    assert (rollout.gamma, rollout.lam, rollout.explore_prob, rollout.reward_scale) == (
        0.9, 0.8, 0.05, 0.5)
    rules = matchmaking_rules(config)
    assert rules.weighting == "variance" and rules.scripted == ("always_defect",)
    assert snapshot_rules(config).every_steps == 500 and snapshot_rules(config).min_steps == 50
    # the manifest's form (`lambda`, not `lambda_`) reads back as the same config
    assert config.as_json()["ppo"]["lambda"] == 0.8
    from socius.platform.config import LeagueConfig

    assert LeagueConfig(**config.as_json()) == config


def test_a_profile_and_a_file_merge_section_by_section(tmp_path):
    from socius.platform.config import load_config

    mine = tmp_path / "mine.yaml"
    mine.write_text("rollout:\n  runners: 2\n")
    config = load_config(mine, profile="smoke")
    assert config.rollout.runners == 2 and config.rollout.slots == 16  # smoke's slots survive


def test_the_eval_section_is_checked_before_any_actor():
    from socius.platform.config import ConfigError, load_config

    config = load_config(profile="smoke", overrides=["eval.suite=zero_sum"])
    assert config.eval.every_generations == 2 and config.tracking.champion_by == "rating"
    for overrides, needle in [
        (["eval.suite=nope"], "unknown suite 'nope'"),
        (["eval.suite=zero_sum", "eval.partners=[saint]"], "'saint' is not in the zoo"),
        (["eval.suite=heldout"], "eval.suite: 'heldout' has scenarios of 4 players, the "
                                 "league's networks seat scenarios.max_players=2"),
        (["tracking.champion_by=eval"], "champion_by: eval needs an `eval` section"),
        (["evolution={fitness: eval}"], "evolution.fitness: eval needs an `eval` section"),
        (["eval.suite=zero_sum", "eval.score=wins"], "eval.score"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            load_config(profile="smoke", overrides=overrides)
