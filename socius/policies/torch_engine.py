"""The batched engine as torch tensors on any device: the GPU path of the table-driven engine.

`TorchEngine` steps the same games as `BatchedEngine` (it is built from one and reuses its
precomputed tables) and produces bit-identical observations, rewards, dones and teams for the
same seeds and actions, with every array a torch tensor on `device` — so a runner on a GPU
keeps the engine, the network and the sampling on the GPU, and the host only sees what it
records. (It lives with the policies because `socius.envs` stays free of torch.) It covers
the table-driven path (at most `catalog.SMALL_SEATS` seats, no common-pool
games); other engines stay on numpy, and `TorchEngine` refuses them naming why.

Differences of form, not of result: there is no Python-level branching on data (events and
resets are blended in with masks, so a step never waits for the device), and the counter-based
random numbers use int64 with wrapping arithmetic (the same bits as `rng`'s uint64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from socius.envs import rng
from socius.envs.encoding import EVENT_COALITION, EVENT_RETEAM, EVENT_RULES
from socius.envs.engine import BatchedEngine


def _signed(value: int) -> int:
    """A uint64 constant as the int64 with the same bits."""
    value %= 2**64
    return value - 2**64 if value >= 2**63 else value


_M1, _M2, _GOLDEN = (_signed(int(c)) for c in (rng.M1, rng.M2, rng.GOLDEN))
_MASK21 = 2**21 - 1


def _shr(z: torch.Tensor, shift: int) -> torch.Tensor:
    """Logical right shift of int64 words (torch shifts arithmetically)."""
    return (z >> shift) & ((1 << (64 - shift)) - 1)


def mix(z: torch.Tensor) -> torch.Tensor:
    """`rng.mix` on int64 words."""
    z = z + _GOLDEN
    z = (z ^ _shr(z, 30)) * _M1
    z = (z ^ _shr(z, 27)) * _M2
    return z ^ _shr(z, 31)


def _stream(key: torch.Tensor, stream: int) -> torch.Tensor:
    return mix(key ^ _signed(stream * rng.STREAM_SALT))


def _unsigned_mod(z: torch.Tensor, divisor: torch.Tensor) -> torch.Tensor:
    """(z as uint64) mod divisor, for positive divisors below 2^62."""
    return (_shr(z, 1) % divisor * 2 + (z & 1)) % divisor


@dataclass
class TorchStepBuffers:
    """`StepBuffers` as tensors on the engine's device (same shapes and dtypes)."""

    tokens: torch.Tensor  # [M, L, B] uint8
    rules_index: torch.Tensor  # [M, B] int32
    rewards: torch.Tensor  # [M, B] float32
    terminated: torch.Tensor  # [B] bool
    truncated: torch.Tensor  # [B] bool


# `EngineTables` fields the engine reads, and the attribute each becomes (default: `_<name>`)
_PER_INSTANCE = ("present", "n_players", "coalition", "visible", "horizon", "max_steps",
                 "n_games", "has_horizon", "continue_below", "reteam_below", "rule_below",
                 "game_base", "initial_partition", "reteam_first", "reteam_count", "joint_count",
                 "n_actions", "move_base", "move_radix", "move_count", "partition_base",
                 "fresh_row")
_SHARED = ("reteam_partitions", "seat_rules", "rewards", "reward_base_of_game",
           "coalition_table", "team_fields", "partition_labels")
_ATTRIBUTE = {"present": "present", "n_players": "n_players", "coalition": "coalition",
              "visible": "visible", "horizon": "horizon", "max_steps": "max_steps",
              "rewards": "_rewards_table", "partition_labels": "_labels"}


class TorchEngine:
    """Steps the instances of a table-driven `BatchedEngine` with torch tensors on `device`."""

    def __init__(self, engine: BatchedEngine, device: str | torch.device = "cpu"):
        if not engine.autoreset:
            raise ValueError("TorchEngine resets finished instances itself (autoreset=True)")
        self.device = device = torch.device(device)
        self.host = engine  # the static facts, on the host (its state is not stepped)
        self.layout, self.max_players = engine.layout, engine.max_players
        self.batch_size, self.rule_table = engine.batch_size, engine.rule_table
        self.any_continuation, self.any_coalition = engine.any_continuation, engine.any_coalition
        self.any_reteam, self.any_rule = engine.any_reteam, engine.any_rule
        self._seat_column = torch.arange(self.max_players, device=device)[:, None]
        self._load_tables(engine.tables())  # refuses engines that are not table-driven

        b = self.batch_size
        zeros = torch.zeros(b, dtype=torch.int64, device=device)
        self.seed, self.episode, self.key, self.t = zeros.clone(), zeros.clone(), zeros.clone(), \
            zeros.clone()
        self.game, self.game_slot, self.partition = zeros.clone(), zeros.clone(), zeros.clone()
        self._remaining, self._reward_base = zeros.clone(), zeros.clone()
        self.row = self._fresh_row.clone()
        self.rules_index = torch.zeros((self.max_players, b), dtype=torch.int32, device=device)
        self.events = torch.zeros(b, dtype=torch.uint8, device=device)
        self.rule_changed = torch.zeros(b, dtype=torch.bool, device=device)
        self._set_game(torch.ones(b, dtype=torch.bool, device=device), self._game_base)

    def _load_tables(self, tables, shared: bool = True) -> None:
        """The host engine's tables (`BatchedEngine.tables()`) as tensors on the device: the
        per-instance facts, and with `shared` the lookup tables too (they never change)."""
        def t(name: str) -> torch.Tensor:
            value = np.asarray(getattr(tables, name))
            if value.dtype == np.uint64:  # thresholds below 2^63: the same value as int64
                value = value.astype(np.int64)
            return torch.as_tensor(value, device=self.device)

        for name in _PER_INSTANCE + (_SHARED if shared else ()):
            setattr(self, _ATTRIBUTE.get(name, "_" + name), t(name))

    # --- public API -------------------------------------------------------------------------
    @property
    def teams(self) -> torch.Tensor:
        """Team id of every seat `[M, B]` (int8): the team's lowest seat; absent seats: M."""
        return self._labels[self._partition_base + self.partition].T

    @property
    def agent_count(self) -> int:
        """Seats in play across the batch (the unit of agent-steps)."""
        return self.host.agent_count

    def buffers(self) -> TorchStepBuffers:
        m, b, d = self.max_players, self.batch_size, self.device
        tokens = torch.zeros((m, self.layout.size, b), dtype=torch.uint8, device=d)
        tokens[:, self.layout.seat, :] = torch.arange(m, device=d, dtype=torch.uint8)[:, None]
        return TorchStepBuffers(tokens, torch.zeros((m, b), dtype=torch.int32, device=d),
                                torch.zeros((m, b), dtype=torch.float32, device=d),
                                torch.zeros(b, dtype=torch.bool, device=d),
                                torch.zeros(b, dtype=torch.bool, device=d))

    def reset(self, seeds, out: TorchStepBuffers, episodes=None) -> None:
        """Start episode `episodes[b]` (default 0) of seed `seeds[b]` in every instance."""
        seeds = torch.as_tensor(np.asarray(seeds, np.uint64).astype(np.int64), device=self.device)
        if seeds.numel() != self.batch_size:
            raise ValueError(f"reset needs {self.batch_size} seeds, got {seeds.numel()}")
        self.seed = seeds.reshape(-1).clone()
        self.episode = torch.zeros_like(self.seed) if episodes is None else torch.as_tensor(
            np.asarray(episodes, np.uint64).astype(np.int64), device=self.device)
        self._reset(torch.ones(self.batch_size, dtype=torch.bool, device=self.device))
        out.rewards.zero_()
        out.terminated.zero_()
        out.truncated.zero_()
        self._write(out)

    def assign(self, instances, scenario_index, seeds, out: TorchStepBuffers) -> None:
        """`BatchedEngine.assign` on the device: these instances start episode 0 of another
        scenario with new seeds; the others play on."""
        idx = np.asarray(instances, np.intp).reshape(-1)
        if idx.size == 0:
            return
        self.host.assign(idx, scenario_index, seeds, self.host.buffers())
        self._load_tables(self.host.tables(), shared=False)
        where = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        where[torch.as_tensor(idx, device=self.device)] = True
        self.seed = torch.where(where, torch.as_tensor(self.host.seed.astype(np.int64),
                                                       device=self.device), self.seed)
        self.episode = torch.where(where, 0, self.episode)
        self._reset(where)
        out.rewards.masked_fill_(where[None, :], 0.0)
        out.terminated.masked_fill_(where, False)
        out.truncated.masked_fill_(where, False)
        self._write(out)

    def step(self, actions: torch.Tensor, out: TorchStepBuffers,
             team_moves: torch.Tensor | None = None) -> None:
        """Play `actions[seat, b]` (int64, on the device; absent seats play 0) with optional
        `team_moves[seat, b]`. Moves are not range-checked here (a check would wait for the
        device): they come from masked policies; `BatchedEngine` checks them."""
        m = self.max_players
        joint = self.partition * self._joint_count + _base_number(actions, self._n_actions)
        index = (joint * m + self._reward_base)[None, :] + self._seat_column
        out.rewards.copy_(self._rewards_table[index])
        self._record(actions)

        self.t += 1
        self._remaining -= self._has_horizon
        word = mix(self.key ^ (self.t * _M2))
        terminated = (self.horizon > 0) & (self.t >= self.horizon)
        if self.any_continuation:
            terminated |= _shr(word, 43) >= self._continue_below
        truncated = (self.t >= self.max_steps) & ~terminated
        out.terminated.copy_(terminated)
        out.truncated.copy_(truncated)
        done = terminated | truncated
        alive = ~done

        events = torch.zeros_like(self.events)
        if self.any_coalition and team_moves is not None:
            key = (self.partition * self._move_count + _base_number(team_moves, self._move_radix)
                   + self._move_base)
            new = self._coalition_table[key.clamp(0, self._coalition_table.numel() - 1)]
            new = torch.where(self.coalition, new, self.partition)
            events |= (new != self.partition).to(torch.uint8) * EVENT_COALITION
            self.partition = new
        if self.any_reteam:  # a uniformly drawn partition into the scenario's team sizes
            reteam = ((word >> 22) & _MASK21 < self._reteam_below) & alive
            pick = _unsigned_mod(_stream(word, rng.STREAM_PERMUTE),
                                 self._reteam_count.clamp(min=1))
            index = (self._reteam_first + pick).clamp(max=self._reteam_partitions.numel() - 1)
            self.partition = torch.where(reteam, self._reteam_partitions[index], self.partition)
            events |= reteam.to(torch.uint8) * EVENT_RETEAM
        if self.any_rule:  # another of the scenario's stage games
            change = ((word & _MASK21) < self._rule_below) & alive
            uniform = _shr(_stream(word, rng.STREAM_RULE_PICK), 11).double() * (1.0 / 2**53)
            slot = (self.game_slot + 1 + (uniform * (self._n_games - 1)).long()) % self._n_games
            self._set_game(change, self._game_base + slot)
            self.rule_changed = change
            events |= (change & self.visible).to(torch.uint8) * EVENT_RULES
        self.events = torch.where(done, 0, events).to(torch.uint8)

        self.episode += done.long()
        self._reset(done)
        self._write(out)

    # --- internals ----------------------------------------------------------------------------
    def _set_game(self, where: torch.Tensor, game: torch.Tensor) -> None:
        self.game = torch.where(where, game, self.game)
        self.game_slot = self.game - self._game_base
        self.rules_index = torch.where(where[None, :], self._seat_rules[self.game].T,
                                       self.rules_index)
        self._reward_base = self._reward_base_of_game[self.game]

    def _reset(self, where: torch.Tensor) -> None:
        fresh_key = mix(mix(self.seed) ^ self.episode)
        self.key = torch.where(where, fresh_key, self.key)
        self.t = torch.where(where, 0, self.t)
        self._remaining = torch.where(where, self.horizon, self._remaining)
        self.partition = torch.where(where, self._initial_partition, self.partition)
        self._set_game(where, self._game_base)
        self.row = torch.where(where[None, :], self._fresh_row, self.row)
        self.events = torch.where(where, 0, self.events).to(torch.uint8)

    def _record(self, actions: torch.Tensor) -> None:
        m, window, lay = self.max_players, self.layout.history, self.layout
        row = self.row
        if window > 1:
            row[m: window * m] = row[: (window - 1) * m].clone()
        row[:m] = actions.to(torch.uint8) + row[lay.seat_mask: lay.seat]

    def _write(self, out: TorchStepBuffers) -> None:
        lay, row = self.layout, self.row
        row[lay.teams: lay.seat_mask] = self._team_fields[self._partition_base + self.partition].T
        row[lay.events] = self.events
        row[lay.time_left] = self._remaining.clamp(max=254).to(torch.uint8)
        out.tokens[:, : lay.seat] = row[None, : lay.seat]
        out.tokens[:, lay.seat + 1:] = row[None, lay.seat + 1:]
        out.rules_index.copy_(self.rules_index)


def _base_number(digits: torch.Tensor, radix: torch.Tensor) -> torch.Tensor:
    """sum_j digits[j] * radix^j per instance (Horner's rule)."""
    number = digits[-1].clone()
    for seat in range(digits.shape[0] - 2, -1, -1):
        number = number * radix + digits[seat]
    return number
