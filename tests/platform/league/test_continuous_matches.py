"""Matches run to their end in a league: games longer than a round are played whole, stored in
the lake and rated; every ticket the league issues ends once, finished or cancelled."""

import collections

import numpy as np
import pyarrow.compute as pc
import pytest

from socius.platform.config import load_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def lake_of(run_dir):
    from socius.platform.data.lake import Lake

    return Lake(run_dir / "lake", create=False)


def returns_from_steps(lake) -> dict[tuple[str, int], float]:
    """Per (match, seat): the sum of that seat's per-step rewards in the steps table."""
    steps = lake.read("steps", columns=["match_id", "seat", "reward"]).to_pydict()
    totals: dict[tuple[str, int], float] = collections.defaultdict(float)
    for match, seat, reward in zip(steps["match_id"], steps["seat"], steps["reward"],
                                   strict=True):
        totals[match, seat] += reward
    return totals


@pytest.mark.parametrize("length", ["horizon=100", "continuation=0.99"])
def test_games_longer_than_a_round_are_played_whole_stored_and_rated(ray_session, tmp_path,
                                                                      length):
    from socius.platform.run.league import run_league
    from socius.platform.runfolder import RunFolder

    kind, value = length.split("=")
    scenario = ["scenarios.classic_horizon=100"] if kind == "horizon" else [
        f"scenarios.classic_continuation={value}", "scenarios.max_steps=200"]
    config = load_config(profile="smoke", overrides=[
        "generations=4", "rollout.rounds_per_generation=4", "rollout.steps_per_round=16", "rollout.slots=8",
        "scenarios.classics=[prisoners_dilemma__textbook]", *scenario])
    run_dir = tmp_path / "run"
    state = run_league(config, run_dir, log=lambda line: None)
    lake = lake_of(run_dir)
    episodes = lake.read("episodes").to_pydict()
    lengths = np.array(episodes["steps"])
    assert len(lengths) > 0
    if kind == "horizon":
        assert (lengths == 100).all()  # every finished match: exactly its 100 steps
    else:
        assert (lengths > 16).sum() >= len(lengths) // 2 and lengths.max() > 32
    # its returns are the sums of its per-step rewards in the lake
    totals = returns_from_steps(lake)
    for match, returns in zip(episodes["match_id"], episodes["returns"], strict=True):
        for seat, value in enumerate(returns):
            assert totals[match, seat] == pytest.approx(value, rel=1e-5, abs=1e-4)
    # rated: each finished match once, in the ratings' count too
    assert state.matches_recorded == len(lengths) == state.tickets.finished
    assert len(set(episodes["match_id"])) == len(lengths)
    assert {"main_0", "main_1"} <= set(state.ratings)
    history = RunFolder(run_dir).history()
    assert max(h["match_steps"]["max"] for h in history) == lengths.max()


def test_books_balance_through_snapshots_resets_and_evolution(ray_session, tmp_path):
    """Six generations with snapshots, exploiter resets (their matches are cancelled) and
    evolution copies: issued = finished + cancelled + in flight at every generation end, in
    history.jsonl and in the lake; each finished match once in the episodes table and in the
    ratings' count."""
    from socius.platform.run.league import run_league
    from socius.platform.runfolder import RunFolder

    config = load_config(profile="smoke", overrides=[
        "generations=6", "rollout.rounds_per_generation=3", "rollout.steps_per_round=8", "rollout.slots=12",
        "snapshots.every_steps=150",
        "populations=[{name: red, main: 2, main_exploiter: 1, care_others: 0.3, "
        "care_spread: 0.3}]",
        "evolution={every_generations: 2, resample_prob: 0}",
        "scenarios.p_fixed_horizon=0", "scenarios.continuation_range=[0.9, 0.97]"])
    run_dir = tmp_path / "run"
    state = run_league(config, run_dir, log=lambda line: None)
    history = RunFolder(run_dir).history()
    assert len(history) == 6
    for record in history:
        books = record["tickets"]
        assert books["balanced"], books
        assert books["issued"] == books["finished"] + books["cancelled"] + books["in_flight"]
        assert books["runner_in_flight"] == books["in_flight"]
    reasons = history[-1]["tickets"]["cancel_reasons"]
    assert reasons["a member's weights were reset or replaced"] > 0  # resets and copies
    assert reasons["the run finished"] > 0 and history[-1]["tickets"]["in_flight"] == 0
    assert any(m.lineage for m in state.members.values())  # evolution copied
    assert any(h["tickets"]["in_flight"] for h in history[:-1])  # matches crossed generations
    lake = lake_of(run_dir)
    matches = lake.read("matches", columns=["match_id", "outcome", "reason"]).to_pydict()
    outcome = collections.Counter(matches["outcome"])
    books = history[-1]["tickets"]
    assert outcome["issued"] == books["issued"] == state.tickets.issued
    assert outcome["finished"] == books["finished"] and outcome["cancelled"] == books["cancelled"]
    ends = [m for m, o in zip(matches["match_id"], matches["outcome"], strict=True)
            if o != "issued"]
    assert len(ends) == len(set(ends)) == books["issued"]  # each ticket ends exactly once
    episodes = lake.read("episodes", columns=["match_id"]).column("match_id")
    assert len(episodes) == pc.count_distinct(episodes).as_py() == state.tickets.finished \
        == state.matches_recorded == sum(h["episodes"] for h in history)
