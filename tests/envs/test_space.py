"""The scenario space: deterministic, golden-pinned, and its splits never leak.

Regenerate the golden file after a deliberate change to the space (and bump SPACE_VERSION):
    python tests/envs/test_space.py --regen
"""

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socius.envs import FAMILIES, HELDOUT_FAMILIES, ScenarioError, ScenarioSpace
from socius.envs.space import SPACE_VERSION, SPLITS_VERSION

GOLDEN = Path(__file__).parent / "golden" / f"space_v{SPACE_VERSION}.json"
GOLDEN_SEEDS = [0, 1, 2, 3, 7, 42, 1000, 12345, 2**31 - 1]


def golden_samples() -> dict:
    return {"space_version": SPACE_VERSION, "splits_version": SPLITS_VERSION,
            "samples": {split: {str(seed): json.loads(ScenarioSpace(split=split).sample(seed).to_json())
                                for seed in GOLDEN_SEEDS} for split in ("train", "heldout")}}


def test_golden_samples_match_committed_json():
    committed = json.loads(GOLDEN.read_text())
    assert golden_samples() == committed, (
        "ScenarioSpace.sample changed: if deliberate, bump SPACE_VERSION and regenerate with "
        "`python tests/envs/test_space.py --regen`")


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**40))
def test_train_never_yields_a_heldout_scenario(seed):
    scenario = ScenarioSpace(split="train").sample(seed)
    assert scenario.split == "train", scenario.to_json()
    assert not set(scenario.families) & set(HELDOUT_FAMILIES)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**40))
def test_heldout_yields_only_heldout_scenarios(seed):
    scenario = ScenarioSpace(split="heldout").sample(seed)
    assert scenario.split == "heldout"
    assert all(g.is_heldout for g in scenario.games)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**40))
def test_same_seed_same_scenario(seed):
    space = ScenarioSpace(split="all")
    assert space.sample(seed) == space.sample(seed)
    assert space.sample(seed).id == space.sample(seed).id


def test_heldout_covers_two_whole_families_and_a_band_of_every_other():
    assert len(HELDOUT_FAMILIES) >= 2
    assert "stag_hunt" not in HELDOUT_FAMILIES and "prisoners_dilemma" not in HELDOUT_FAMILIES
    seen = Counter(ScenarioSpace(split="heldout").sample(s).games[0].family for s in range(1500))
    sampled = {name for name, f in FAMILIES.items() if f.sampled}
    assert set(seen) == sampled


def test_space_covers_every_family_teams_and_rule_changes():
    scenarios = [ScenarioSpace(split="all").sample(s) for s in range(600)]
    families = {f for s in scenarios for f in s.families}
    assert families == {name for name, f in FAMILIES.items() if f.sampled}
    assert any(s.p_rule_change > 0 for s in scenarios)
    assert any(s.p_reteam > 0 for s in scenarios)
    assert any(s.coalition_moves for s in scenarios)
    assert any(s.continuation is not None for s in scenarios)
    assert {s.n_players for s in scenarios} == set(range(2, 9))


def test_fingerprint_changes_with_the_space():
    assert ScenarioSpace().fingerprint() == ScenarioSpace().fingerprint()
    assert ScenarioSpace().fingerprint() != ScenarioSpace(max_players=4).fingerprint()


@pytest.mark.parametrize("kwargs, needle", [
    ({"split": "test"}, "split"),
    ({"families": ("poker",)}, "poker"),
    ({"split": "train", "families": ("chicken",)}, "chicken"),
    ({"min_players": 5, "max_players": 3}, "min_players"),
    ({"horizon_range": (10, 5)}, "horizon_range"),
    ({"p_teams": 2.0}, "p_teams"),
])
def test_bad_space_config_names_the_field(kwargs, needle):
    with pytest.raises(ScenarioError, match=needle):
        ScenarioSpace(**kwargs)


if __name__ == "__main__" and "--regen" in sys.argv:
    GOLDEN.write_text(json.dumps(golden_samples(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
