"""Role and snapshot transitions follow the AlphaStar league's rules."""

import pytest

from socius.platform.league.roles import Role, SnapshotRules, reset_after_snapshot, snapshot_due

RULES = SnapshotRules(every_steps=100, min_steps=10, exploiter_win_rate=0.7,
                      league_exploiter_reset_prob=0.25)


def test_mains_snapshot_on_schedule_only():
    assert not snapshot_due(Role.MAIN, 99, 1.0, RULES)
    assert snapshot_due(Role.MAIN, 100, 0.0, RULES)


@pytest.mark.parametrize("role", [Role.MAIN_EXPLOITER, Role.LEAGUE_EXPLOITER])
def test_exploiters_snapshot_early_when_they_win(role):
    assert not snapshot_due(role, 9, 1.0, RULES)  # too soon
    assert snapshot_due(role, 10, 0.7, RULES)
    assert not snapshot_due(role, 50, 0.69, RULES)
    assert snapshot_due(role, 100, 0.0, RULES)  # the schedule's latest


def test_resets_after_a_snapshot():
    assert reset_after_snapshot(Role.MAIN_EXPLOITER, 0.99, RULES)
    assert not reset_after_snapshot(Role.MAIN, 0.0, RULES)
    assert reset_after_snapshot(Role.LEAGUE_EXPLOITER, 0.2, RULES)
    assert not reset_after_snapshot(Role.LEAGUE_EXPLOITER, 0.3, RULES)


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="min_steps"):
        SnapshotRules(every_steps=10, min_steps=20)
    with pytest.raises(ValueError, match="exploiter_win_rate"):
        SnapshotRules(exploiter_win_rate=1.5)
