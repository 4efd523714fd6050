"""The batched scenario engine: B instances of possibly different scenarios stepped on arrays.

This is the one implementation of every game; the PettingZoo env is a B = 1 view of it. Arrays
are seat-major (`[seats, B]`); the hot path has no Python loop over instances, only short loops
over seats or teams (at most 8) of whole-batch array operations.

Order of one step, per instance:
  1. payoffs of the joint action from the active stage game (common-pool: from the stock);
  2. rewards = (1 - w) * payoff + w * mean payoff of the player's team (w = team_share);
  3. the episode ends (fixed horizon, or a failed continuation draw; `max_steps` truncates);
  4. otherwise the step's events, in order: coalition moves, a scheduled re-teaming, a rule
     change — so the next step is played under the new teams and rules;
  5. finished instances reset at once (auto-reset); the observation is then the new episode's.

Coalition moves (when the scenario allows them): each seat sends 0 = stay, 1 = leave (become a
team of one), or 2 + t = ask to join team t (t = team id as observed). All moves are settled at
once from the teams at the start of the step: a leave always succeeds when the team has other
members; requests to join team t are all accepted if t exists, is not the asker's team, and its
size plus the number of requests is at most `max_team_size`, else all refused.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from socius.envs import rng
from socius.envs.encoding import (
    EVENT_COALITION,
    EVENT_RETEAM,
    EVENT_RULES,
    RULE_FEATURES,
    ObsLayout,
    rule_features,
)
from socius.envs.families import FAMILIES, GameTable, compile_game
from socius.envs.scenario import Scenario

_MASK21 = np.uint64(2**21 - 1)


@dataclass
class StepBuffers:
    """Caller-owned outputs of `reset` / `step`; allocate once with `BatchedEngine.buffers()`."""

    tokens: np.ndarray  # [M, L, B] uint8: tokens[seat, :, b] is one observation row (encoding.py)
    rules_index: np.ndarray  # [M, B] int32, row of BatchedEngine.rule_table for each seat
    rewards: np.ndarray  # [M, B] float32
    terminated: np.ndarray  # [B] bool
    truncated: np.ndarray  # [B] bool


class BatchedEngine:
    """Steps B instances; `instance_scenario[b]` says which of `scenarios` instance b plays."""

    def __init__(self, scenarios: Sequence[Scenario], instance_scenario: Sequence[int] | np.ndarray,
                 max_players: int | None = None, autoreset: bool = True):
        scenarios = list(scenarios)
        if not scenarios:
            raise ValueError("BatchedEngine needs at least one scenario")
        for sc in scenarios:
            if not isinstance(sc, Scenario):
                raise ValueError(f"BatchedEngine runs socius game families only, got "
                                 f"{type(sc).__name__} {getattr(sc, 'name', sc)!r}: use make_env")
        windows = {s.history_window for s in scenarios}
        if len(windows) != 1:
            raise ValueError(f"all scenarios of one engine share history_window, got {windows}")
        m = max_players or max(s.n_players for s in scenarios)
        if m < max(s.n_players for s in scenarios):
            raise ValueError(f"max_players={m} is below a scenario's n_players")
        self.scenarios = scenarios
        self.autoreset = autoreset  # False: a finished instance waits for reset() (the B=1 view)
        self.layout = ObsLayout(m, windows.pop())
        self.max_players = m
        which = np.asarray(instance_scenario, dtype=np.intp)
        if which.ndim != 1 or which.size == 0 or which.min() < 0 or which.max() >= len(scenarios):
            raise ValueError(f"instance_scenario must index the {len(scenarios)} scenarios")
        self.batch_size = b = which.size
        self._compile(scenarios)

        s = which
        self.scenario_of = s
        self.n_players = self._s_players[s]
        self.present = np.arange(m)[:, None] < self.n_players[None, :]  # [M, B]
        self.roles = self._s_roles[s].T.copy()  # [M, B]
        self.team_share = self._s_share[s].astype(np.float32)
        self.horizon = self._s_horizon[s]
        self.continuation = self._s_cont[s]
        self.max_steps = self._s_max_steps[s]
        self.p_reteam = self._s_reteam[s]
        self.p_rule = self._s_rule[s]
        self.coalition = self._s_coalition[s]
        self.max_team = self._s_max_team[s]
        self.visible = self._s_visible[s]
        self.n_actions = self._s_actions[s]
        self.any_continuation = bool((self.horizon == 0).any())
        self.any_reteam = bool((self.p_reteam > 0).any())
        self.any_rule = bool((self.p_rule > 0).any())
        self.any_coalition = bool(self.coalition.any())
        self.any_share = bool((self.team_share > 0).any())
        # Absent seats may only play 0; it points at the zero entries that open the tables.
        self.action_limit = np.where(self.present, self.n_actions[None, :], 1)
        self.move_limit = np.where(self.present & self.coalition[None, :],
                                   self.n_players[None, :] + 2, 1)
        self._absent = (~self.present).astype(np.int8)
        # Events compare 21-bit slices of one random word per step with these integer thresholds
        # (probabilities resolve to 2^-21). Fixed-horizon instances never end by continuation.
        self._continue_below = np.where(self.horizon == 0, np.rint(self.continuation * 2**21),
                                        2**22).astype(np.uint64)
        self._reteam_below = np.rint(self.p_reteam * 2**21).astype(np.uint64)
        self._rule_below = np.rint(self.p_rule * 2**21).astype(np.uint64)

        # per-instance state
        self.seed = np.zeros(b, np.uint64)
        self.episode = np.zeros(b, np.uint64)
        self.key = np.zeros(b, np.uint64)
        self.t = np.zeros(b, np.int64)
        self.game_slot = np.zeros(b, np.int64)
        self.game = np.zeros(b, np.intp)
        self.teams = np.zeros((m, b), np.int8)  # team id = lowest seat of the team; absent: m
        self.stock = np.zeros(b, np.float64)
        self.row = np.zeros((self.layout.size, b), np.uint8)  # the shared observation row
        self.rules_index = np.zeros((m, b), np.int32)
        self.events = np.zeros(b, np.uint8)
        self.rule_changed = np.zeros(b, bool)  # also when rules are hidden (for infos and logs)
        self.finished = np.zeros(b, bool)  # only without autoreset
        self._code_base = np.zeros((m, b), np.int64)
        self._table_base = np.zeros((m, b), np.int64)
        self._stride = np.zeros((m, b), np.int64)
        self._own_stride = np.zeros((m, b), np.int64)  # stride, minus 1 for linear games
        self._linear = np.zeros(b, bool)
        self._nonlinear = np.zeros(0, np.intp)
        self._is_stock = np.zeros(b, bool)
        self._remaining = np.zeros(b, np.int16)  # steps left under a fixed horizon, else 0
        self._has_horizon = (self.horizon > 0).astype(np.int16)
        # Work buffers for the hot path: fresh 0.5 MB temporaries each step cost page faults.
        self._index = np.zeros((m, b), np.int64)
        self._payoff = np.zeros((m, b), np.float32)
        self._team_total = np.zeros((m, b), np.float32)
        self._same = np.zeros((m, m, b), np.float32)
        self._term = np.zeros((m, b), np.float32)
        self._seats = np.arange(m, dtype=np.int8)[:, None]
        self._max_team = self.max_team.astype(np.int8)
        self.any_stock = False
        self._set_game(np.arange(b), self._s_game_base[s])

    # --- compile scenarios into flat tables -------------------------------------------------
    def _compile(self, scenarios: list[Scenario]) -> None:
        m = self.max_players
        tables = {}
        for sc in scenarios:
            for game in sc.games:
                tables[sc, game] = compile_game(FAMILIES[game.family], game.param_dict, sc.n_players)
        zero_block = max(t.table.shape[2] for t in tables.values())
        # Both flat tables open with zeros: absent seats index there and read 0.
        code_parts, table_parts = [np.zeros(1, np.int64)], [np.zeros(zero_block)]
        feats = []
        g_code_off, g_table_off, g_x, g_stock, g_is_stock, g_linear = [], [], [], [], [], []
        s_base, s_games = [], []
        code_len, table_len = 1, zero_block
        for sc in scenarios:
            s_base.append(len(g_x))
            s_games.append(len(sc.games))
            cont = sc.continuation if sc.continuation is not None else 1 - 1 / sc.horizon
            for game in sc.games:
                fam, params = FAMILIES[game.family], game.param_dict
                table: GameTable = tables[sc, game]
                g_code_off.append(code_len)
                g_table_off.append(table_len)
                g_x.append(table.table.shape[2])
                g_is_stock.append(table.stock is not None)
                g_linear.append(table.linear)
                g_stock.append(table.stock or (1.0, 0.0, 1.0))
                code_parts.append(table.code.ravel())
                table_parts.append(table.table.ravel())
                code_len += table.code.size
                table_len += table.table.size
                for role in range(2):
                    feats.append(rule_features(fam, table, role, sc.n_players, sc.team_share, cont,
                                               fam.zero_sum(params)))
        feats.append(np.zeros(RULE_FEATURES, np.float32))  # last row: rules hidden
        self.code_flat = np.concatenate(code_parts)
        self.table_flat = np.concatenate(table_parts).astype(np.float32)
        self.rule_table = np.stack(feats)
        self.hidden_rules_row = len(feats) - 1
        self._g_code_off = np.array(g_code_off, np.int64)
        self._g_table_off = np.array(g_table_off, np.int64)
        self._g_x = np.array(g_x, np.int64)
        self._g_is_stock = np.array(g_is_stock)
        self._g_linear = np.array(g_linear)
        self._g_stock = np.array(g_stock, np.float64)
        self._s_game_base = np.array(s_base, np.intp)
        self._s_games = np.array(s_games, np.int64)
        self._s_players = np.array([sc.n_players for sc in scenarios], np.int64)
        roles = np.zeros((len(scenarios), m), np.int64)
        slots = np.full((len(scenarios), m), m, np.int64)  # team slot of each seat position
        for i, sc in enumerate(scenarios):
            roles[i, : sc.n_players] = sc.roles
            slots[i, : sc.n_players] = np.repeat(np.arange(len(sc.team_sizes)), sc.team_sizes)
        self._s_roles = roles
        self._s_slots = slots
        initial = np.stack([_canonical(sl[:, None], m)[:, 0] for sl in slots])
        self._s_initial_teams = np.where(slots < m, initial, m)
        self._s_share = np.array([sc.team_share for sc in scenarios])
        self._s_horizon = np.array([sc.horizon or 0 for sc in scenarios], np.int64)
        self._s_cont = np.array([sc.continuation or 0.0 for sc in scenarios])
        self._s_max_steps = np.array([sc.horizon or sc.max_steps for sc in scenarios], np.int64)
        self._s_reteam = np.array([sc.p_reteam for sc in scenarios])
        self._s_rule = np.array([sc.p_rule_change for sc in scenarios])
        self._s_coalition = np.array([sc.coalition_moves for sc in scenarios])
        self._s_max_team = np.array([sc.max_team_size for sc in scenarios], np.int64)
        self._s_visible = np.array([sc.rules_visible for sc in scenarios])
        self._s_actions = np.array([sc.n_actions for sc in scenarios], np.int64)
        self._compile_seat_bases(scenarios)

    def _compile_seat_bases(self, scenarios: list[Scenario]) -> None:
        """Per game and seat, the offsets the payoff lookup needs (absent seats: 0), so a rule
        change is a few row gathers. Also each scenario's distinct re-teaming partitions."""
        m, g = self.max_players, len(self._g_x)
        self._gs_code = np.zeros((g, m), np.int64)
        self._gs_table = np.zeros((g, m), np.int64)
        self._gs_stride = np.zeros((g, m), np.int64)
        self._gs_own_stride = np.zeros((g, m), np.int64)
        self._gs_rules = np.full((g, m), self.hidden_rules_row, np.int32)
        parts, part_off, part_count = [], [], []
        for s, sc in enumerate(scenarios):
            n, a = sc.n_players, sc.n_actions
            roles = np.array(sc.roles)
            for game in range(self._s_game_base[s], self._s_game_base[s] + len(sc.games)):
                x = self._g_x[game]
                self._gs_code[game, :n] = self._g_code_off[game] + roles * a
                self._gs_table[game, :n] = self._g_table_off[game] + roles * a * x
                self._gs_stride[game, :n] = x
                self._gs_own_stride[game, :n] = x - self._g_linear[game]
                if sc.rules_visible:
                    self._gs_rules[game, :n] = 2 * game + roles
            table = _partitions(n, tuple(sorted(sc.team_sizes)), m)
            part_off.append(sum(len(p) for p in parts))
            part_count.append(len(table))
            parts.append(table)
        self._part_table = np.concatenate(parts)
        self._s_part_off = np.array(part_off, np.int64)
        self._s_part_count = np.array(part_count, np.uint64)

    def _set_game(self, idx: np.ndarray, game: np.ndarray) -> None:
        """Make `game` (global index) the active stage game of instances `idx`."""
        self.game[idx] = game
        self.game_slot[idx] = game - self._s_game_base[self.scenario_of[idx]]
        self.rules_index[:, idx] = self._gs_rules[game].T
        self._code_base[:, idx] = self._gs_code[game].T
        self._table_base[:, idx] = self._gs_table[game].T
        self._stride[:, idx] = self._gs_stride[game].T
        self._own_stride[:, idx] = self._gs_own_stride[game].T
        self._linear[idx] = self._g_linear[game]
        self._nonlinear = np.flatnonzero(~self._linear)
        self._is_stock[idx] = self._g_is_stock[game]
        self.any_stock = bool(self._is_stock.any())

    # --- public API -------------------------------------------------------------------------
    def buffers(self) -> StepBuffers:
        """Fresh output buffers for this engine's shapes."""
        m, b = self.max_players, self.batch_size
        tokens = np.zeros((m, self.layout.size, b), np.uint8)
        tokens[:, self.layout.seat, :] = np.arange(m)[:, None]
        return StepBuffers(tokens, np.zeros((m, b), np.int32), np.zeros((m, b), np.float32),
                           np.zeros(b, bool), np.zeros(b, bool))

    @property
    def agent_count(self) -> int:
        """Seats in play across the batch (the unit of agent-steps)."""
        return int(self.n_players.sum())

    def reset(self, seeds: Sequence[int] | np.ndarray, out: StepBuffers,
              episodes: Sequence[int] | np.ndarray | None = None) -> None:
        """Start episode `episodes[b]` (default 0) of seed `seeds[b]` in every instance."""
        seeds = np.asarray(seeds, dtype=np.uint64).reshape(-1)
        if seeds.size != self.batch_size:
            raise ValueError(f"reset needs {self.batch_size} seeds, got {seeds.size}")
        self.seed[:] = seeds
        self.episode[:] = 0 if episodes is None else np.asarray(episodes, np.uint64)
        self._reset_instances(np.arange(self.batch_size))
        out.rewards.fill(0.0)
        out.terminated.fill(False)
        out.truncated.fill(False)
        self._write(out)

    def step(self, actions: np.ndarray, out: StepBuffers, team_moves: np.ndarray | None = None) -> None:
        """Play one joint action `actions[seat, b]` (absent seats play 0), with optional
        `team_moves[seat, b]`; write rewards, dones and the next observations into `out`."""
        if not self.autoreset and self.finished.any():
            raise RuntimeError("the episode is over: call reset() before stepping again")
        _check_moves("action", actions, self.action_limit)
        if team_moves is not None:
            _check_moves("team move", team_moves, self.move_limit)

        same = self.teams[:, None, :] == self.teams[None, :, :]  # [M, M, B]
        team_size = same.sum(axis=1, dtype=np.int8)
        self._taken = None
        payoff = self._payoffs(actions)
        rewards = out.rewards
        if self.any_share:
            # A fixed summation order (seat 0, 1, ...) keeps results bit-identical for any B.
            total, term, same_f = self._team_total, self._term, self._same
            np.copyto(same_f, same)
            np.multiply(same_f[:, 0], payoff[0], out=total)
            for seat in range(1, self.max_players):
                np.multiply(same_f[:, seat], payoff[seat], out=term)
                total += term
            np.divide(total, np.maximum(team_size, 1), out=rewards)
            rewards -= payoff
            rewards *= self.team_share
            rewards += payoff
        else:
            rewards[:] = payoff
        self._record(actions)

        self.t += 1
        self._remaining -= self._has_horizon
        word = rng.step_key(self.key, self.t)
        terminated = out.terminated
        np.greater(self.horizon, 0, out=terminated)
        terminated &= self.t >= self.horizon
        if self.any_continuation:
            terminated |= (word >> np.uint64(43)) >= self._continue_below
        np.greater_equal(self.t, self.max_steps, out=out.truncated)
        out.truncated &= ~terminated
        done = terminated | out.truncated
        if self._taken is not None:
            self._regrow(~done)

        self.events[:] = 0
        self.rule_changed[:] = False
        if self.any_coalition and team_moves is not None:
            self._coalition(team_moves, team_size, done)
        if self.any_reteam:
            idx = np.flatnonzero(((word >> np.uint64(22)) & _MASK21 < self._reteam_below) & ~done)
            if idx.size:
                self._reteam(idx, word[idx])
        if self.any_rule:
            idx = np.flatnonzero((word & _MASK21 < self._rule_below) & ~done)
            if idx.size:
                self._change_rules(idx, word[idx])
        finished = np.flatnonzero(done)
        if finished.size and self.autoreset:
            self.episode[finished] += np.uint64(1)
            self._reset_instances(finished)
        elif finished.size:
            self.finished[finished] = True
        self._write(out)

    # --- stages of a step -------------------------------------------------------------------
    def _payoffs(self, actions: np.ndarray) -> np.ndarray:
        # Linear games (code = action): table index = base + a * (stride - 1) + sum of actions.
        index, payoff = self._index, self._payoff
        total = actions.sum(axis=0)
        np.multiply(self._own_stride, actions, out=index)
        index += self._table_base
        index += total
        idx = self._nonlinear
        if idx.size:  # other games look each action's code up
            acts = actions[:, idx]
            code = np.take(self.code_flat, self._code_base[:, idx] + acts)
            others = code.sum(axis=0) - code
            index[:, idx] = self._table_base[:, idx] + self._stride[:, idx] * acts + others
        np.take(self.table_flat, index, out=payoff, mode="clip")  # valid by construction
        if self.any_stock:  # common pool: harvest a units, rationed when demand exceeds the stock
            idx = np.flatnonzero(self._is_stock)
            demand = total[idx].astype(np.float64)
            share = np.minimum(1.0, self.stock[idx] / np.maximum(demand, 1e-12))
            payoff[:, idx] = (actions[:, idx] * share).astype(np.float32)
            self._taken = (idx, np.minimum(demand, self.stock[idx]))
        return payoff

    def _record(self, actions: np.ndarray) -> None:
        m, row, window = self.max_players, self.row, self.layout.history
        if window > 1:
            row[m: window * m] = row[: (window - 1) * m]
        row[:m] = actions  # absent seats play 0, so adding the seat mask gives 1 + action or 0
        row[:m] += row[self.layout.seat_mask: self.layout.seat]

    def _coalition(self, moves: np.ndarray, team_size: np.ndarray, done: np.ndarray) -> None:
        m = self.max_players
        moves = moves.astype(np.int8, copy=False)
        idx = np.flatnonzero((moves != 0).any(axis=0) & ~done)
        if not idx.size:
            return
        # Settle the moves of the instances where some seat moved (columns `idx`) at once.
        moves = np.take(moves, idx, axis=1)
        teams = np.take(self.teams, idx, axis=1)
        team_size = np.take(team_size, idx, axis=1)
        seats = self._seats
        leave = (moves == 1) & (team_size > 1)
        target = moves - 2
        joining = (target >= 0) & (target != teams)
        # asks[t, i]: seat i asks to join team t (teams are named by their lowest seat)
        asks = (target[None, :, :] == seats[:, :, None]) & joining[None, :, :]
        requests = asks.sum(axis=1, dtype=np.int8)  # [team, k]
        ok = (teams == seats) & (requests > 0) & (team_size + requests <= self._max_team[idx])
        accepted = (asks & ok[:, None, :]).any(axis=0)
        labels = teams + accepted * (target - teams)
        labels += leave * (m + 1 + seats - labels)
        new = _canonical(labels, m)
        new += np.take(self._absent, idx, axis=1) * (m - new)
        changed = (new != teams).any(axis=0)
        self.teams[:, idx] = new
        self.events[idx[changed]] |= EVENT_COALITION

    def _reteam(self, idx: np.ndarray, word: np.ndarray) -> None:
        # A uniformly random partition of the seats into teams of the scenario's sizes.
        s = self.scenario_of[idx]
        pick = rng.words(word, rng.STREAM_PERMUTE) % self._s_part_count[s]
        self.teams[:, idx] = self._part_table[self._s_part_off[s] + pick.astype(np.int64)].T
        self.events[idx] |= EVENT_RETEAM

    def _change_rules(self, idx: np.ndarray, word: np.ndarray) -> None:
        s = self.scenario_of[idx]
        n_games = self._s_games[s]
        pick = rng.uniform(word, rng.STREAM_RULE_PICK)
        slot = (self.game_slot[idx] + 1 + (pick * (n_games - 1)).astype(np.int64)) % n_games
        self._set_game(idx, self._s_game_base[s] + slot)
        self.rule_changed[idx] = True
        self.events[idx[self.visible[idx]]] |= EVENT_RULES

    def _regrow(self, alive: np.ndarray) -> None:
        idx, taken = self._taken
        keep = alive[idx]
        idx, taken = idx[keep], taken[keep]
        capacity, growth, _ = self._g_stock[self.game[idx]].T
        left = self.stock[idx] - taken
        self.stock[idx] = np.minimum(capacity, left + growth * left * (1 - left / capacity))

    def _reset_instances(self, idx: np.ndarray) -> None:
        s = self.scenario_of[idx]
        self.key[idx] = rng.episode_key(self.seed[idx], self.episode[idx])
        self.t[idx] = 0
        self._remaining[idx] = self.horizon[idx]
        self.teams[:, idx] = self._s_initial_teams[s].T
        self._set_game(idx, self._s_game_base[s])
        capacity, _, init = self._g_stock[self.game[idx]].T
        self.stock[idx] = capacity * init
        self.finished[idx] = False
        self.row[:, idx] = 0
        self.row[self.layout.seat_mask: self.layout.seat, idx] = self.present[:, idx]
        self.row[self.layout.n_actions, idx] = self.n_actions[idx]
        self.events[idx] = 0

    def _write(self, out: StepBuffers) -> None:
        lay, row = self.layout, self.row
        np.add(self.teams, 1, out=row[lay.teams: lay.seat_mask], casting="unsafe")
        row[lay.teams: lay.seat_mask] *= row[lay.seat_mask: lay.seat]  # absent seats: 0
        row[lay.events] = self.events
        np.minimum(self._remaining, 254, out=row[lay.time_left], casting="unsafe")
        if self.any_stock:
            capacity = self._g_stock[self.game, 0]
            level = np.where(self._is_stock & self.visible, self.stock / capacity * 254, 0)
            row[lay.resource] = np.rint(level).astype(np.uint8)
        for seat in range(self.max_players):
            out.tokens[seat, : lay.seat] = row[: lay.seat]
            out.tokens[seat, lay.seat + 1:] = row[lay.seat + 1:]
        out.rules_index[:] = self.rules_index


def _check_moves(what: str, values: np.ndarray, limit: np.ndarray) -> None:
    """Raise a ValueError naming the seat, instance and value of the first invalid entry."""
    if values.shape != limit.shape:
        raise ValueError(f"{what}s must have shape {limit.shape} (seats, instances), "
                         f"got {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{what}s must be integers, got dtype {values.dtype}")
    if values.min() < 0 or (values >= limit).any():
        seat, inst = np.argwhere((values < 0) | (values >= limit))[0]
        raise ValueError(f"invalid {what} {values[seat, inst]} for seat {seat} of instance {inst} "
                         f"(valid: 0..{limit[seat, inst] - 1}; absent seats play 0)")


@functools.lru_cache(maxsize=256)
def _partitions(n: int, sizes: tuple[int, ...], m: int) -> np.ndarray:
    """Every partition of n seats into teams of these sizes, as canonical labels [K, m] (int8)."""
    found = []

    def grow(labels: list[int], counts: list[int]) -> None:  # restricted growth strings
        if len(labels) == n:
            if tuple(sorted(counts)) == sizes:
                found.append([labels.index(b) for b in labels] + [m] * (m - n))
            return
        for block in range(len(counts) + 1):
            if block == len(counts):
                grow(labels + [block], counts + [1])
            elif counts[block] < sizes[-1]:
                grow(labels + [block], counts[:block] + [counts[block] + 1] + counts[block + 1:])

    grow([], [])
    return np.array(found, np.int8)


def _canonical(labels: np.ndarray, m: int) -> np.ndarray:
    """Relabel teams `[seats, k]` so each team's id is its lowest seat index (int8).

    The lowest seat j sharing seat i's label is m - max_j([L_j == L_i] * (m - j)): int8
    arithmetic, several times faster here than np.where or argmax."""
    weight = (m - np.arange(labels.shape[0], dtype=np.int8))[None, :, None]
    same = labels[:, None, :] == labels[None, :, :]
    return np.int8(m) - (same * weight).max(axis=1)
