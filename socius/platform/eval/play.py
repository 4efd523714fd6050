"""Play evaluation games: many (scenario, seats) cells at once in one batched engine, one episode
per instance, every seat played by a network or a scripted strategy; per instance, what each
seat did.

Nets sample from their policy (the way they play in a league, without exploration); every random
draw of a seat — a net's action, a scripted strategy's coin — is a hash of (the instance's seed,
the seat, the step), and an instance's seed is its cell's seed and its episode number: the same
cell plays the same games whatever else shares the batch. Two cells with the same seed and the
same partners (an agent and a reference policy in the same focal seat) see the same episodes
and the same partner coins: common random numbers. Recurrent state is kept per (seat, instance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from socius.envs import BatchedEngine, Scenario, rng
from socius.policies.book import MatchBook
from socius.policies.network import SociusNet, flat_observation
from socius.policies.scripted import ScriptedPartner, make_partner


@dataclass(frozen=True)
class Player:
    """What plays a seat: a network (`net`) or a scripted strategy by name (`scripted`)."""

    name: str
    net: SociusNet | None = None
    scripted: str | None = None

    def __post_init__(self) -> None:
        if (self.net is None) == (self.scripted is None):
            raise ValueError(f"player {self.name!r}: give a net or a scripted strategy, not both")


@dataclass(frozen=True)
class Cell:
    """`episodes` episodes of `scenarios[scenario]` with seat i played by `players[seats[i]]`."""

    scenario: int
    seats: tuple[int, ...]
    episodes: int
    seed: int


LATE_FROM = 3  # "after its first 3 moves": cooperation once a partner has shown what it is


@dataclass(frozen=True)
class Played:
    """Per instance `[B]` (or per seat and instance `[M, B]`): the cell it belongs to and what
    happened in its one episode."""

    cell: np.ndarray  # [B]
    returns: np.ndarray  # [M, B], 0 past the scenario's players
    steps: np.ndarray  # [B]
    cooperated: np.ndarray  # [M, B] cooperative actions
    could_cooperate: np.ndarray  # [M, B] steps in games with a cooperative action
    betrayal_steps: np.ndarray  # [B] steps where a seat defected right after all cooperated
    team_changes: np.ndarray  # [B]
    stock_fraction: np.ndarray  # [B] mean common-pool stock / capacity (nan: no stock game)
    tom_hits: np.ndarray  # [M, B] the seat's net predicted another seat's action right
    tom_steps: np.ndarray  # [M, B] predictions it made (steps after the first)
    cooperated_late: np.ndarray  # [M, B] cooperative actions after the first LATE_FROM steps
    could_cooperate_late: np.ndarray  # [M, B] steps after those where it could cooperate


class _Seats:
    """Each player's per-(seat, instance) memory: a scripted strategy's state, a recurrent
    net's hidden state."""

    def __init__(self, players: list[Player], seat_player: np.ndarray, layout):
        self.partners: list[ScriptedPartner | None] = [
            make_partner(p.scripted, layout=layout) if p.scripted else None for p in players]
        m, b = seat_player.shape
        self.memory = [p.new_state(m * b).reshape(m, b) if p else None for p in self.partners]
        self.state = [p.net.initial_state(m * b).reshape(m, b, -1).numpy() if p.net is not None and
                      p.net.recurrent else None for p in players]


@torch.no_grad()
def play(scenarios: list[Scenario], players: list[Player], cells: list[Cell],
         max_players: int) -> Played:
    """Every cell's episodes, all instances stepped together until each has ended once."""
    index = np.repeat(np.arange(len(cells)), [c.episodes for c in cells])
    engine = BatchedEngine(scenarios, np.array([cells[c].scenario for c in index], np.intp),
                           max_players=max_players)
    m, b = engine.max_players, engine.batch_size
    seat_player = np.full((m, b), -1)
    for k, c in enumerate(index):
        seats = cells[c].seats
        seat_player[: len(seats), k] = seats
    out = engine.buffers()
    episode_of = np.concatenate([np.arange(c.episodes) for c in cells]) if cells else index
    seeds = np.array([cells[c].seed * 1_000_003 + e for c, e in zip(index, episode_of,
                                                                    strict=True)], np.uint64)
    engine.reset(seeds, out)
    seats = _Seats(players, seat_player, engine.layout)
    book = MatchBook(engine)
    book.start(np.arange(b))
    live = np.ones(b, bool)
    step = 0  # every instance starts together: the loop's count is each one's step
    tom_hits, tom_steps = np.zeros((m, b), np.int64), np.zeros((m, b), np.int64)
    cooperated_late, could_late = np.zeros((m, b), np.int64), np.zeros((m, b), np.int64)
    betrayal_steps, mutual = np.zeros(b, np.int64), np.zeros(b, bool)
    stock_sum = np.zeros(b)
    capacity = engine.catalog.game_stock[:, 0]
    results = {}
    while live.any():
        actions = np.zeros((m, b), np.int64)
        moves = np.zeros((m, b), np.int64)
        predicted = np.full((m, m, b), -1)  # [predictor seat, other seat, instance]
        for p, player in enumerate(players):
            who, inst = np.nonzero((seat_player == p) & engine.present & live[None, :])
            if not who.size:
                continue
            rows = out.tokens[who, :, inst]
            if player.net is not None:
                net = player.net
                obs = flat_observation(rows, engine.rule_table[out.rules_index[who, inst]])
                state = seats.state[p]
                h = torch.from_numpy(state[who, inst]) if state is not None else None
                result = net(torch.from_numpy(obs), h)
                if state is not None:
                    state[who, inst] = result["state"].numpy()
                u = _uniform(seeds[inst], who, step, 2)
                actions[who, inst] = _sample(result["action_logits"], u[0])
                if engine.any_coalition:
                    moves[who, inst] = _sample(result["team_logits"], u[1])
                predicted[who, :, inst] = result["tom_action_logits"].argmax(-1).numpy()
            else:
                memory = seats.memory[p]
                mem = memory[who, inst]
                actions[who, inst] = seats.partners[p].act_rows(
                    rows, mem, _uniform(seeds[inst], who, step, 1)[0])
                memory[who, inst] = mem
        # theory of mind: each net seat's prediction of every other present seat's action
        other = engine.present[None, :, :] & ~np.eye(m, dtype=bool)[:, :, None]
        judged = other & (predicted >= 0) & (live & (step > 0))[None, None, :]
        tom_hits += (judged & (predicted == actions[None, :, :])).sum(1)
        tom_steps += judged.sum(1)
        # peace: a step where someone defects right after every present seat cooperated
        cooperative = book.cooperative_action[engine.game]
        defined = engine.present & (cooperative >= 0)[None, :]
        cooperated = defined & (actions == cooperative[None, :])
        if step >= LATE_FROM:
            cooperated_late += cooperated & live[None, :]
            could_late += defined & live[None, :]
        betrayal_steps += live & mutual & (defined & ~cooperated).any(0)
        mutual = (cooperated | ~engine.present).all(0) & defined.any(0)
        game_before, teams_before = engine.game.copy(), engine.teams.copy()
        episode = engine.episode.copy()
        engine.step(actions, out, moves if engine.any_coalition else None)
        stock = engine.catalog.game_is_stock[game_before]
        stock_sum += np.where(live & stock, engine.stock / np.maximum(capacity[game_before],
                                                                      1e-12), 0.0)
        done = out.terminated | out.truncated
        book.feed(actions[None], game_before[None], out.rewards[None], done[None],
                  episode[None], (teams_before != engine.teams).any(0)[None],
                  (game_before != engine.game)[None])
        step += 1
        for match in book.finished:
            results[match.instance] = match
        book.finished.clear()
        live &= ~done
    returns = np.zeros((m, b))
    steps = np.zeros(b, np.int64)
    cooperated_total, could = np.zeros((m, b), np.int64), np.zeros((m, b), np.int64)
    team_changes = np.zeros(b, np.int64)
    for k, match in results.items():
        n = len(match.returns)
        returns[:n, k], cooperated_total[:n, k] = match.returns, match.cooperated
        could[:n, k], team_changes[k] = match.could_cooperate, match.team_changes
        steps[k] = match.steps
    stock_fraction = np.where(stock_sum > 0, stock_sum / np.maximum(steps, 1), np.nan)
    return Played(index, returns, steps, cooperated_total, could, betrayal_steps, team_changes,
                  stock_fraction, tom_hits, tom_steps, cooperated_late, could_late)


def _uniform(seeds: np.ndarray, seat: np.ndarray, step: int, streams: int) -> np.ndarray:
    """`[streams, N]` uniform draws in [0, 1): a hash of (instance seed, seat, step, stream)."""
    key = rng.mix(seeds ^ (seat.astype(np.uint64) * rng.GOLDEN))
    key = rng.step_key(key, np.uint64(step))
    return np.stack([rng.uniform(key, 100 + k) for k in range(streams)])


def _sample(logits: torch.Tensor, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling of one action per row with the given uniforms."""
    cdf = torch.softmax(logits, -1).cumsum(-1).numpy()
    picks = (cdf < u[:, None]).sum(-1)
    return np.minimum(picks, logits.shape[-1] - 1)
