"""The batched scenario engine: B instances of possibly different scenarios stepped on arrays.

This is the one implementation of every game; the PettingZoo env is a B = 1 view of it. Arrays
are seat-major (`[seats, B]`); the hot path has no Python loop over instances, only short loops
over seats (at most 8) of whole-batch array operations.

Order of one step, per instance:
  1. payoffs of the joint action from the active stage game (common-pool: from the stock);
  2. rewards = (1 - w) * payoff + w * mean payoff of the player's team (w = team_share);
  3. the episode ends (fixed horizon, or a failed continuation draw; `max_steps` truncates);
  4. otherwise the step's events, in order: coalition moves, a scheduled re-teaming, a rule
     change — so the next step is played under the new teams and rules;
  5. finished instances reset at once (auto-reset); the observation is then the new episode's.

Coalition moves (when the scenario allows them): each seat sends 0 = stay, 1 = leave (become a
team of one), or 2 + t = ask to join team t (t = team id as observed). All moves are settled at
once from the teams at the start of the step: a leave succeeds when the team has other members;
requests to join team t are all accepted if t exists, is not the asker's team, and its size plus
the number of requests is at most `max_team_size`, else all refused (`teams.settle_moves`).

Two paths compute steps 1-2 and the coalition moves, with bit-identical results: the general
one looks payoffs up per seat; for batches of at most 4 seats without common-pool games, a
table-driven one looks up each instance's shared rewards and next partition in tables
precomputed by the general functions (`catalog.SmallTables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from socius.envs import rng, teams
from socius.envs.catalog import Catalog, SmallTables, table_driven
from socius.envs.encoding import EVENT_COALITION, EVENT_RETEAM, EVENT_RULES, ObsLayout
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


@dataclass(frozen=True)
class EngineTables:
    """`BatchedEngine.tables()`: per-instance facts `[B]` / `[M, B]` of the current assignment
    and the lookup tables of the table-driven step (see `catalog.SmallTables`)."""

    present: np.ndarray
    n_players: np.ndarray
    n_actions: np.ndarray
    coalition: np.ndarray
    visible: np.ndarray
    horizon: np.ndarray
    max_steps: np.ndarray
    n_games: np.ndarray
    has_horizon: np.ndarray
    continue_below: np.ndarray  # uint64 thresholds of the 21-bit event slices
    reteam_below: np.ndarray
    rule_below: np.ndarray
    game_base: np.ndarray  # global index of each instance's scenario's first stage game
    initial_partition: np.ndarray
    reteam_first: np.ndarray
    reteam_count: np.ndarray
    joint_count: np.ndarray
    move_base: np.ndarray
    move_radix: np.ndarray
    move_count: np.ndarray
    partition_base: np.ndarray
    fresh_row: np.ndarray  # [L, B] the shared observation row at an episode's start
    reteam_partitions: np.ndarray
    seat_rules: np.ndarray  # [games, M]
    rewards: np.ndarray
    reward_base_of_game: np.ndarray
    coalition_table: np.ndarray
    team_fields: np.ndarray  # [partitions, M] team field bytes
    partition_labels: np.ndarray  # [partitions, M] team ids


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
        windows = {sc.history_window for sc in scenarios}
        if len(windows) != 1:
            raise ValueError(f"all scenarios of one engine share history_window, got {windows}")
        largest = max(sc.n_players for sc in scenarios)
        m = max_players or largest
        if m < largest:
            raise ValueError(f"max_players={m} is below a scenario's n_players ({largest})")
        s = np.asarray(instance_scenario, dtype=np.intp)
        if s.ndim != 1 or s.size == 0 or s.min() < 0 or s.max() >= len(scenarios):
            raise ValueError(f"instance_scenario must index the {len(scenarios)} scenarios")
        self.scenarios = scenarios
        self.autoreset = autoreset  # False: a finished instance waits for reset() (the B=1 view)
        self.layout = ObsLayout(m, windows.pop())
        self.max_players = m
        self.batch_size = b = s.size
        self.catalog = cat = Catalog(scenarios, m)
        self.rule_table = cat.rule_table

        # Flags of the whole scenario list: instances may be re-assigned (`assign`) to any of
        # them, so the step keeps every path any scenario needs.
        self.any_continuation = any(sc.horizon is None for sc in scenarios)
        self.any_reteam = any(sc.p_reteam > 0 for sc in scenarios)
        self.any_rule = any(sc.p_rule_change > 0 for sc in scenarios)
        self.any_coalition = any(sc.coalition_moves for sc in scenarios)
        self.any_share = any(sc.team_share > 0 for sc in scenarios)
        self.table_driven = table_driven(m, (g.family for sc in scenarios for g in sc.games))
        # per-instance state
        self.seed = np.zeros(b, np.uint64)
        self.episode = np.zeros(b, np.uint64)
        self.key = np.zeros(b, np.uint64)
        self.t = np.zeros(b, np.int64)
        self.game = np.zeros(b, np.intp)
        self.game_slot = np.zeros(b, np.int64)
        self._teams = np.zeros((m, b), np.int8)  # team id = lowest seat of the team; absent: m
        self.partition = np.zeros(b, np.int64)  # index into teams.partitions(n, m)
        self.stock = np.zeros(b, np.float64)
        self.row = np.zeros((self.layout.size, b), np.uint8)  # the observation row all seats share
        self.rules_index = np.zeros((m, b), np.int32)
        self.events = np.zeros(b, np.uint8)
        self.rule_changed = np.zeros(b, bool)  # also when rules are hidden (for infos and logs)
        self.finished = np.zeros(b, bool)  # only without autoreset
        self._remaining = np.zeros(b, np.int16)  # steps left under a fixed horizon, else 0
        self._word, self._word_work = np.zeros(b, np.uint64), np.zeros(b, np.uint64)
        self._rules_dirty, self._last_out = True, None
        self._taken: tuple[np.ndarray, np.ndarray] | None = None
        self._is_stock = np.zeros(b, bool)
        self.any_stock = False

        if self.table_driven:
            self._small = SmallTables.build(cat, scenarios)
            self._reward_base = np.zeros(b, np.int64)
            self._index = np.zeros((m, b), np.int64)
            self._seat_column = np.arange(m)[:, None]
            self._labels = np.zeros((b, m), np.uint8)
            labels = cat.partition_labels
            self._team_fields = np.where(labels < m, labels + 1, 0).astype(np.uint8)
        else:
            # general path work buffers: fresh 0.5 MB temporaries each step cost page faults
            self._code_base = np.zeros((m, b), np.int64)
            self._table_base = np.zeros((m, b), np.int64)
            self._stride = np.zeros((m, b), np.int64)
            self._own_stride = np.zeros((m, b), np.int64)
            self._linear = np.zeros(b, bool)
            self._nonlinear = np.zeros(0, np.intp)
            self._index = np.zeros((m, b), np.int64)
            self._payoff = np.zeros((m, b), np.float32)
            self._share_work = (np.zeros((m, b), np.float32), np.zeros((m, b), np.float32),
                                np.zeros((m, m, b), np.float32))
        self.scenario_of = s.copy()
        self._set_statics()
        self._set_game(np.arange(b), cat.scenario_game_base[s])

    # --- public API -------------------------------------------------------------------------
    @property
    def teams(self) -> np.ndarray:
        """Team id of every seat `[M, B]` (int8): the team's lowest seat; absent seats: M."""
        if self.table_driven:
            return self.catalog.partition_labels[self._partition_base + self.partition].T
        return self._teams

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

    def _set_statics(self) -> None:
        """The per-instance facts that follow from `scenario_of` (at build and on `assign`)."""
        m, s, scenarios = self.max_players, self.scenario_of, self.scenarios

        def per(values):
            return np.asarray(values)[s]

        self.n_players = per([sc.n_players for sc in scenarios]).astype(np.int64)
        self.n_actions = per([sc.n_actions for sc in scenarios]).astype(np.int64)
        self.present = np.arange(m)[:, None] < self.n_players[None, :]  # [M, B]
        self.team_share = per([sc.team_share for sc in scenarios]).astype(np.float32)
        self.horizon = per([sc.horizon or 0 for sc in scenarios]).astype(np.int64)
        self.continuation = per([sc.continuation or 0.0 for sc in scenarios])
        self.max_steps = per([sc.horizon or sc.max_steps for sc in scenarios]).astype(np.int64)
        self.coalition = per([sc.coalition_moves for sc in scenarios])
        self.max_team = per([sc.max_team_size for sc in scenarios]).astype(np.int8)
        self.visible = per([sc.rules_visible for sc in scenarios])
        self._n_games = per([len(sc.games) for sc in scenarios]).astype(np.int64)
        p_reteam = per([sc.p_reteam for sc in scenarios])
        p_rule = per([sc.p_rule_change for sc in scenarios])
        # Absent seats may only play 0: it points at the zero entries that open the tables.
        self.action_limit = np.where(self.present, self.n_actions[None, :], 1)
        self.move_limit = np.where(self.present & self.coalition[None, :],
                                   self.n_players[None, :] + 2, 1)
        self._absent = (~self.present).astype(np.int8)
        # with no absent seats every seat of an instance shares one limit: a cheaper check
        full = bool(self.present.all())
        self._action_row_limit = self.action_limit[0].astype(np.uint64) if full else None
        self._move_row_limit = self.move_limit[0].astype(np.uint64) if full else None
        # Events compare 21-bit slices of one random word per step with integer thresholds
        # (probabilities resolve to 2^-21); fixed-horizon instances never end by continuation.
        self._continue_below = np.where(self.horizon == 0, np.rint(self.continuation * 2**21),
                                        2**22).astype(np.uint64)
        self._reteam_below = np.rint(p_reteam * 2**21).astype(np.uint64)
        self._rule_below = np.rint(p_rule * 2**21).astype(np.uint64)
        self._has_horizon = (self.horizon > 0).astype(np.int16)
        if self.table_driven:
            self._joint_count = self.n_actions ** self.n_players
            self._move_base = per([self._small_coalition_base(sc) for sc in scenarios]
                                  ).astype(np.int64)
            self._move_radix = self.n_players + 2
            self._move_count = self._move_radix ** self.n_players
            self._partition_base = self.catalog.partition_base[self.n_players]

    def _small_coalition_base(self, scenario: Scenario) -> int:
        return self._small.coalition_base.get((scenario.n_players, scenario.max_team_size), 0)

    def assign(self, instances: Sequence[int] | np.ndarray,
               scenario_index: Sequence[int] | np.ndarray, seeds: Sequence[int] | np.ndarray,
               out: StepBuffers) -> None:
        """Instances `instances` start episode 0 of scenario `scenarios[scenario_index[k]]`
        with seed `seeds[k]` (the others play on): how a runner hands a slot a new match."""
        idx = np.asarray(instances, np.intp).reshape(-1)
        scen = np.asarray(scenario_index, np.intp).reshape(-1)
        seeds = np.asarray(seeds, np.uint64).reshape(-1)
        if not (idx.size == scen.size == seeds.size):
            raise ValueError(f"assign needs as many scenarios and seeds as instances, got "
                             f"{idx.size}, {scen.size} and {seeds.size}")
        if idx.size == 0:
            return
        if idx.min() < 0 or idx.max() >= self.batch_size:
            raise ValueError(f"assign: instances must be in 0..{self.batch_size - 1}")
        if scen.min() < 0 or scen.max() >= len(self.scenarios):
            raise ValueError(f"assign: scenario indices must be in 0..{len(self.scenarios) - 1}")
        self.scenario_of[idx] = scen
        self._set_statics()
        self.seed[idx] = seeds
        self.episode[idx] = 0
        self._reset_instances(idx)
        out.rewards[:, idx] = 0.0
        out.terminated[idx] = False
        out.truncated[idx] = False
        self._rules_dirty = True
        self._write(out)

    def tables(self) -> EngineTables:
        """What another implementation of the table-driven step (the torch engine) needs: the
        per-instance facts of the current assignment and the shared lookup tables."""
        if not self.table_driven:
            raise ValueError(f"lookup tables exist for table-driven engines only (at most 4 "
                             f"seats, no common-pool games); this one has max_players="
                             f"{self.max_players} "
                             f"and common-pool games: {bool(self.catalog.game_is_stock.any())}")
        cat, s, small = self.catalog, self.scenario_of, self._small
        lay = self.layout
        fresh = np.zeros((lay.size, self.batch_size), np.uint8)  # a new episode's shared row
        fresh[lay.seat_mask: lay.seat] = self.present
        fresh[lay.n_actions] = self.n_actions
        fresh[lay.team_moves] = self.move_limit[0]
        labels = cat.partition_labels
        return EngineTables(
            present=self.present, n_players=self.n_players, n_actions=self.n_actions,
            coalition=self.coalition, visible=self.visible, horizon=self.horizon,
            max_steps=self.max_steps, n_games=self._n_games,
            has_horizon=self._has_horizon.astype(np.int64),
            continue_below=self._continue_below, reteam_below=self._reteam_below,
            rule_below=self._rule_below, game_base=cat.scenario_game_base[s].astype(np.int64),
            initial_partition=cat.initial_partition[s].astype(np.int64),
            reteam_first=cat.reteam_base[s].astype(np.int64),
            reteam_count=cat.reteam_count[s].astype(np.int64),
            joint_count=self._joint_count, move_base=self._move_base,
            move_radix=self._move_radix, move_count=self._move_count,
            partition_base=np.asarray(self._partition_base, np.int64), fresh_row=fresh,
            reteam_partitions=cat.reteam_partitions.astype(np.int64),
            seat_rules=cat.seat_rules.astype(np.int32), rewards=small.rewards,
            reward_base_of_game=small.reward_base, coalition_table=small.coalition,
            team_fields=np.where(labels < self.max_players, labels + 1, 0).astype(np.uint8),
            partition_labels=labels)

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
        self._rules_dirty = True
        self._write(out)

    def step(self, actions: np.ndarray, out: StepBuffers, team_moves: np.ndarray | None = None) -> None:
        """Play one joint action `actions[seat, b]` (absent seats play 0), with optional
        `team_moves[seat, b]`; write rewards, dones and the next observations into `out`."""
        if not self.autoreset and self.finished.any():
            raise RuntimeError("the episode is over: call reset() before stepping again")
        _check_moves("action", actions, self.action_limit, self._action_row_limit)
        if team_moves is not None:
            _check_moves("team move", team_moves, self.move_limit, self._move_row_limit)
        if self.table_driven:
            self._rewards_from_tables(actions, out.rewards)
        else:
            self._rewards_from_payoffs(actions, out.rewards)
        self._record(actions)

        self.t += 1
        self._remaining -= self._has_horizon
        word = rng.step_key(self.key, self.t, self._word, self._word_work)
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
            self._coalition(team_moves, done)
        alive = ~done
        if self.any_reteam:
            idx = np.flatnonzero(((word >> np.uint64(22)) & _MASK21 < self._reteam_below) & alive)
            if idx.size:
                self._reteam(idx, word[idx])
        if self.any_rule:
            idx = np.flatnonzero((word & _MASK21 < self._rule_below) & alive)
            if idx.size:
                self._change_rules(idx, word[idx])
        finished = np.flatnonzero(done)
        if finished.size and self.autoreset:
            self.episode[finished] += np.uint64(1)
            self._reset_instances(finished)
        elif finished.size:
            self.finished[finished] = True
        self._write(out)

    # --- rewards ------------------------------------------------------------------------------
    def _rewards_from_payoffs(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        # Linear games (code = action): table index = base + a * (stride - 1) + sum of actions.
        cat, index, payoff = self.catalog, self._index, self._payoff
        total = actions.sum(axis=0)
        np.multiply(self._own_stride, actions, out=index)
        index += self._table_base
        index += total
        idx = self._nonlinear
        if idx.size:  # other games look each action's code up
            acts = actions[:, idx]
            code = np.take(cat.code_flat, self._code_base[:, idx] + acts)
            others = code.sum(axis=0) - code
            index[:, idx] = self._table_base[:, idx] + self._stride[:, idx] * acts + others
        np.take(cat.table_flat, index, out=payoff, mode="clip")  # valid by construction
        self._taken = None
        if self.any_stock:  # common pool: harvest a units, rationed when demand exceeds the stock
            idx = np.flatnonzero(self._is_stock)
            demand = total[idx].astype(np.float64)
            share = np.minimum(1.0, self.stock[idx] / np.maximum(demand, 1e-12))
            payoff[:, idx] = (actions[:, idx] * share).astype(np.float32)
            self._taken = (idx, np.minimum(demand, self.stock[idx]))
        if self.any_share:
            teams.share_rewards(payoff, self._teams, self.team_share, rewards, self._share_work)
        else:
            rewards[:] = payoff

    def _rewards_from_tables(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        key = self.partition * self._joint_count
        key += _base_number(actions, self.n_actions)
        key *= self.max_players
        key += self._reward_base
        np.add(key[None, :], self._seat_column, out=self._index)
        np.take(self._small.rewards, self._index, out=rewards, mode="clip")

    # --- events -------------------------------------------------------------------------------
    def _coalition(self, moves: np.ndarray, done: np.ndarray) -> None:
        if self.table_driven:  # all-zero moves map a partition to itself
            key = self.partition * self._move_count
            key += _base_number(moves, self._move_radix)
            key += self._move_base
            new = np.take(self._small.coalition, key, mode="clip")
            new = np.where(self.coalition, new, self.partition)  # no table for the others
            # finished instances are reset after the events, so they may take `new` too
            self.events |= (new != self.partition).astype(np.uint8) * np.uint8(EVENT_COALITION)
            self.partition = new
            return
        moves = moves.astype(np.int8, copy=False)
        idx = np.flatnonzero((moves != 0).any(axis=0) & ~done)
        if not idx.size:
            return
        # Settle the moves of the instances where some seat moved (columns `idx`) at once.
        current = np.take(self._teams, idx, axis=1)
        new = teams.settle_moves(np.take(moves, idx, axis=1), current, teams.team_sizes(current),
                                 self.max_team[idx], np.take(self._absent, idx, axis=1),
                                 self.max_players)
        changed = (new != current).any(axis=0)
        self._teams[:, idx] = new
        self.events[idx[changed]] |= EVENT_COALITION

    def _reteam(self, idx: np.ndarray, word: np.ndarray) -> None:
        """A uniformly random partition of the seats into teams of the scenario's sizes."""
        cat, s = self.catalog, self.scenario_of[idx]
        pick = rng.words(word, rng.STREAM_PERMUTE) % cat.reteam_count[s]
        self._set_partition(idx, cat.reteam_partitions[cat.reteam_base[s] + pick.astype(np.int64)])
        self.events[idx] |= EVENT_RETEAM

    def _set_partition(self, idx: np.ndarray, partition: np.ndarray) -> None:
        self.partition[idx] = partition
        if not self.table_driven:  # the table-driven path derives teams in _write
            self._teams[:, idx] = self.catalog.labels(self.n_players[idx], partition)

    def _change_rules(self, idx: np.ndarray, word: np.ndarray) -> None:
        s = self.scenario_of[idx]
        n_games = self._n_games[idx]
        pick = rng.uniform(word, rng.STREAM_RULE_PICK)
        slot = (self.game_slot[idx] + 1 + (pick * (n_games - 1)).astype(np.int64)) % n_games
        self._set_game(idx, self.catalog.scenario_game_base[s] + slot)
        self.rule_changed[idx] = True
        self.events[idx[self.visible[idx]]] |= EVENT_RULES

    def _set_game(self, idx: np.ndarray, game: np.ndarray) -> None:
        """Make `game` (global index) the active stage game of instances `idx`."""
        cat = self.catalog
        self.game[idx] = game
        self.game_slot[idx] = game - cat.scenario_game_base[self.scenario_of[idx]]
        self.rules_index[:, idx] = cat.seat_rules[game].T
        self._rules_dirty = True
        if self.table_driven:
            self._reward_base[idx] = self._small.reward_base[game]
            return
        self._code_base[:, idx] = cat.seat_code[game].T
        self._table_base[:, idx] = cat.seat_table[game].T
        self._stride[:, idx] = cat.seat_stride[game].T
        self._own_stride[:, idx] = cat.seat_own_stride[game].T
        self._linear[idx] = cat.game_linear[game]
        self._nonlinear = np.flatnonzero(~self._linear)
        self._is_stock[idx] = cat.game_is_stock[game]
        self.any_stock = bool(self._is_stock.any())

    def _regrow(self, alive: np.ndarray) -> None:
        idx, taken = self._taken
        keep = alive[idx]
        idx, taken = idx[keep], taken[keep]
        capacity, growth, _ = self.catalog.game_stock[self.game[idx]].T
        left = self.stock[idx] - taken
        self.stock[idx] = np.minimum(capacity, left + growth * left * (1 - left / capacity))

    def _reset_instances(self, idx: np.ndarray) -> None:
        cat, s = self.catalog, self.scenario_of[idx]
        self.key[idx] = rng.episode_key(self.seed[idx], self.episode[idx])
        self.t[idx] = 0
        self._remaining[idx] = self.horizon[idx]
        self._set_partition(idx, cat.initial_partition[s])
        self._set_game(idx, cat.scenario_game_base[s])
        capacity, _, init = cat.game_stock[self.game[idx]].T
        self.stock[idx] = capacity * init
        self.finished[idx] = False
        lay = self.layout
        self.row[:, idx] = 0
        self.row[lay.seat_mask: lay.seat, idx] = self.present[:, idx]
        self.row[lay.n_actions, idx] = self.n_actions[idx]
        self.row[lay.team_moves, idx] = self.move_limit[0, idx]
        self.events[idx] = 0

    # --- observations -------------------------------------------------------------------------
    def _record(self, actions: np.ndarray) -> None:
        m, row, window = self.max_players, self.row, self.layout.history
        if window > 1:
            row[m: window * m] = row[: (window - 1) * m]
        row[:m] = actions  # absent seats play 0, so adding the seat mask gives 1 + action or 0
        row[:m] += row[self.layout.seat_mask: self.layout.seat]

    def _write(self, out: StepBuffers) -> None:
        lay, row = self.layout, self.row
        if self.table_driven:  # the team field straight from each instance's partition
            np.take(self._team_fields, self._partition_base + self.partition, axis=0,
                    out=self._labels)
            row[lay.teams: lay.seat_mask] = self._labels.T
        else:
            team_field = row[lay.teams: lay.seat_mask]
            np.add(self._teams, 1, out=team_field, casting="unsafe")
            team_field *= row[lay.seat_mask: lay.seat]  # absent seats: 0
        row[lay.events] = self.events
        np.minimum(self._remaining, 254, out=row[lay.time_left], casting="unsafe")
        if self.any_stock:
            capacity = self.catalog.game_stock[self.game, 0]
            level = np.where(self._is_stock & self.visible, self.stock / capacity * 254, 0)
            row[lay.resource] = np.rint(level).astype(np.uint8)
        out.tokens[:, : lay.seat] = row[None, : lay.seat]  # every seat's row but its seat byte
        out.tokens[:, lay.seat + 1:] = row[None, lay.seat + 1:]
        # the rules index changes only with rule changes and resets
        if self._rules_dirty or out is not self._last_out:
            out.rules_index[:] = self.rules_index
            self._rules_dirty, self._last_out = False, out


def _base_number(digits: np.ndarray, radix: np.ndarray) -> np.ndarray:
    """sum_j digits[j] * radix^j per instance (Horner's rule; absent seats' zeros add nothing)."""
    number = digits[-1].copy()
    for seat in range(digits.shape[0] - 2, -1, -1):
        number *= radix
        number += digits[seat]
    return number


def _check_moves(what: str, values: np.ndarray, limit: np.ndarray,
                 row_limit: np.ndarray | None) -> None:
    """Raise a ValueError naming the seat, instance and value of the first invalid entry.

    `row_limit`, given when all seats of an instance share one limit, allows a cheaper check."""
    if values.shape != limit.shape:
        raise ValueError(f"{what}s must have shape {limit.shape} (seats, instances), "
                         f"got {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{what}s must be integers, got dtype {values.dtype}")
    if row_limit is not None and values.dtype == np.int64:
        # one reduction: viewed as unsigned, negative values are huge
        bad = (values.view(np.uint64).max(axis=0) >= row_limit).any()
    else:
        bad = values.min() < 0 or (values >= limit).any()
    if bad:
        seat, inst = np.argwhere((values < 0) | (values >= limit))[0]
        raise ValueError(f"invalid {what} {values[seat, inst]} for seat {seat} of instance {inst} "
                         f"(valid: 0..{limit[seat, inst] - 1}; absent seats play 0)")
