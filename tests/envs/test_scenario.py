"""Scenario specs: validation names the field and value; JSON round-trips; ids are content hashes."""

import json
import math

import pytest

from socius.envs import Scenario, ScenarioError, StageGame, classic

PD = {"family": "prisoners_dilemma", "params": {"T": 5, "R": 3, "P": 1, "S": 0}}


def spec(**overrides):
    base = {"name": "test", "n_players": 4, "games": [PD], "horizon": 10}
    base.update(overrides)
    return base


@pytest.mark.parametrize("overrides, field, value", [
    ({"n_players": 1}, "n_players", "1"),
    ({"n_players": 9}, "n_players", "9"),
    ({"horizon": 0}, "horizon", "0"),
    ({"horizon": -3}, "horizon", "-3"),
    ({"team_sizes": [2, 1]}, "team_sizes", "[2, 1]"),
    ({"team_sizes": [2, 3]}, "team_sizes", "[2, 3]"),
    ({"games": [{"family": "poker"}]}, "family", "poker"),
    ({"games": [{"family": "prisoners_dilemma", "params": {"T": math.nan, "R": 3, "P": 1,
                                                           "S": 0}}]}, "T", "nan"),
    ({"games": [{"family": "matrix_game", "params": {"matrix": [[1, 2, 3], [4, 5, 6]]}}]},
     "matrix", "square"),
    ({"games": [{"family": "matrix_game", "params": {"matrix": [[1, 0], [0, math.inf]]}}]},
     "matrix", "inf"),
    ({"games": [{"family": "prisoners_dilemma", "params": {"T": 5, "R": 3, "P": 1, "S": 0,
                                                           "X": 1}}]}, "params", "'X'"),
    ({"colour": "red"}, "unknown key", "colour"),
    ({"team_share": 1.5}, "team_share", "1.5"),
    ({"continuation": 0.9}, "horizon", "continuation"),
    ({"horizon": None, "continuation": 1.0}, "continuation", "1.0"),
    ({"p_rule_change": 0.1}, "p_rule_change", "two games"),
    ({"games": [PD, {"family": "rock_paper_scissors"}]}, "games[1]", "3 actions"),
    ({"games": [{"family": "stag_hunt", "params": {"stag": 4, "hare": 3, "threshold": 7}}]},
     "threshold", "7"),
])
def test_invalid_specs_raise_one_error_naming_field_and_value(overrides, field, value):
    with pytest.raises(ScenarioError) as excinfo:
        Scenario.from_dict(spec(**overrides))
    message = str(excinfo.value)
    assert field in message and value in message, message


def test_scenario_error_is_a_value_error():
    assert issubclass(ScenarioError, ValueError)


def test_json_round_trip_and_content_id():
    s = Scenario.from_dict(spec(team_sizes=[2, 2], team_share=0.5, p_reteam=0.1,
                                coalition_moves=True))
    again = Scenario.from_json(s.to_json())
    assert again == s and hash(again) == hash(s) and again.id == s.id
    assert json.loads(s.to_json())["team_sizes"] == [2, 2]
    other = Scenario.from_dict(spec(team_sizes=[1, 3]))
    assert other.id != s.id


def test_defaults_fill_in_and_split_is_derived():
    s = classic("prisoners_dilemma__textbook")
    assert s.team_sizes == (1, 1) and s.roles == (0, 1) and s.max_team_size == 2
    assert s.split == "train"
    assert classic("chicken__textbook").split == "heldout"
    assert StageGame.make("prisoners_dilemma", {"T": 5.9, "R": 3, "P": 1, "S": 0}).is_heldout


def test_classic_with_unknown_variant_lists_known_names():
    with pytest.raises(ScenarioError, match="prisoners_dilemma__textbook"):
        classic("prisoners_dilemma__nope")
