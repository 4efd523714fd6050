"""Matches that run across collect calls: a game played over k calls is the game played in one
call (same seeds, frozen weights) — actions, log-probs, values, recurrent state — and its GAE
bootstraps at each cut from the value the next call starts from; slots start and stop matches."""

import numpy as np
import pytest
import torch

from socius.envs import BatchedEngine, classic
from socius.policies.network import NetConfig, SociusNet
from socius.policies.rollout import RolloutCollector, RolloutSettings, gae
from socius.policies.scripted import make_partner
from socius.policies.torch_engine import TorchEngine

SLOTS, CALL, CALLS = 6, 8, 4


def collector(core: str, device: str | None, seed: int = 0):
    """Six slots playing the repeated prisoner's dilemma or stag hunt (continuation 0.9 / 0.8),
    a net learning in seat 0 against another net or tit-for-tat; the matches last many
    episodes, so every step is in play and episodes end inside them."""
    torch.manual_seed(seed)
    scenarios = [classic("prisoners_dilemma__textbook", horizon=None, continuation=0.9),
                 classic("stag_hunt__textbook", horizon=None, continuation=0.8)]
    engine = BatchedEngine(scenarios, np.zeros(SLOTS, np.intp), max_players=2)
    if device is not None:
        engine = TorchEngine(engine, device)
    net = SociusNet(NetConfig(max_players=2, core=core)).eval()
    partner = SociusNet(NetConfig(max_players=2, core=core)).eval()
    settings = RolloutSettings(explore_prob=0.3, max_seq_len=4)
    col = RolloutCollector(engine, settings=settings, seed=seed, log_steps=True)
    col.start_matches(np.arange(SLOTS), np.arange(SLOTS) % 2, np.arange(SLOTS) + 100,
                      episodes=1000)
    seat_policy = np.array([[0] * SLOTS, [1, 2, 1, 2, 1, 2]])
    col.set_policies([net, partner, make_partner("tit_for_tat", layout=engine.layout)],
                     seat_policy, seat_policy == 0)
    return col


@pytest.mark.parametrize("device", [None, "cpu"])
@pytest.mark.parametrize("core", ["mlp", "gru"])
def test_a_game_played_over_calls_is_the_game_played_in_one(core, device):
    whole = collector(core, device)
    (one,) = whole.collect(CALL * CALLS).values()
    one_log = whole.step_log
    cut = collector(core, device)
    parts, logs = [], []
    for _ in range(CALLS):
        (batch,) = cut.collect(CALL).values()
        parts.append(batch)
        logs.append(cut.step_log)
    for key in ("action", "team_move", "reward", "terminated", "episode", "step", "tokens"):
        np.testing.assert_array_equal(np.concatenate([log[key] for log in logs]), one_log[key],
                                      err_msg=key)
    # NaN where scripted partners play; the recurrent state before each step
    for key in ("action_logp", "value") + (("state",) if core == "gru" else ()):
        np.testing.assert_allclose(np.concatenate([log[key] for log in logs]), one_log[key],
                                   atol=1e-5, equal_nan=True, err_msg=key)
    assert one_log["terminated"].any()  # episodes end (and restart) inside the matches
    # GAE: at each cut it bootstraps from the value the next call starts from (the one-call
    # game's value at that step), so it equals GAE over the one-call game cut at the same steps
    learner = whole.pairs[0]
    seats, slots = learner[0][learner[2]], learner[1][learner[2]]
    values = one_log["value"][:, seats, slots]
    rewards = np.stack([one_log["reward"][:, s, b] for s, b in zip(seats, slots, strict=True)],
                       1) * whole.settings.reward_scale
    dones = (one_log["terminated"] | one_log["truncated"])[:, slots]
    settings = whole.settings
    one_advantages = _per_step(one, "advantages", CALL * CALLS, len(seats))
    for c, batch in enumerate(parts):
        window = slice(c * CALL, (c + 1) * CALL)
        if c + 1 < CALLS:
            expected = gae(rewards[window], values[window], dones[window],
                           values[(c + 1) * CALL], settings.gamma, settings.lam)
        else:  # both end at the same step, bootstrapping from the same value
            expected = one_advantages[window]
        got = _per_step(batch, "advantages", CALL, len(seats))
        np.testing.assert_allclose(got, expected, atol=1e-5)
        if core == "gru" and c > 0:  # each stream's first chunk starts from the carried state
            firsts = _first_chunks(batch, CALL, len(seats))
            carried = one_log["state"][c * CALL, seats, slots]
            fresh = dones[c * CALL - 1]  # an episode started at the cut: the state is zero
            np.testing.assert_allclose(batch.columns["state_in"][firsts],
                                       np.where(fresh[:, None], 0.0, carried), atol=1e-5)
    assert sum(p.agent_steps for p in parts) == one.agent_steps == CALL * CALLS * len(seats)


def _per_step(batch, column, t_len, streams):
    """A flat or chunked column back as `[T, streams]`."""
    values = batch.columns[column]
    if not batch.recurrent:
        return values.reshape(t_len, streams)
    mask = batch.columns["tom_mask"]
    flat = values[mask]  # stream-major, each stream's steps in order
    return flat.reshape(streams, t_len).T


def _first_chunks(batch, t_len, streams):
    """Index of each stream's first chunk (chunks are stream-major, each stream t_len long)."""
    firsts, total = [], 0
    for k, length in enumerate(batch.columns["seq_lens"]):
        if total % t_len == 0:
            firsts.append(k)
        total += int(length)
    assert len(firsts) == streams
    return np.array(firsts)



def test_slots_refuse_a_new_match_while_one_is_in_play_and_free_up_when_it_ends():
    col = collector("mlp", None)
    with pytest.raises(ValueError, match=r"slots \[0\] still hold a match"):
        col.start_matches([0], [0], [1])
    col.stop_matches([0, 1])
    assert not col.book.active[:2].any() and col.book.active[2:].all()
    col.start_matches([0], [1], [7], episodes=1)
    col.collect(40)
    assert not col.book.active[0]  # its one episode ended within 40 steps
    ended = [m for m in col.book.finished if m.instance == 0]
    assert len(ended) == 1 and ended[0].episodes == 1
    assert not any(m.instance == 1 for m in col.book.finished)  # a cancelled match: no result
