"""Compiles scenarios into the flat arrays the batched engine indexes.

Every stage game of every scenario gets a global index `g`. Its payoff table lives in one flat
float32 array; per game and seat, `seat_table[g, i]` / `seat_stride[g, i]` / `seat_code[g, i]`
give the offsets the lookup needs (0 for absent seats, which index the zeros that open the
tables). For batches of at most `SMALL_SEATS` seats without common-pool games, `SmallTables`
also precomputes, per game, the shared reward of every seat for every team partition and joint
action, and per (players, team cap) the partition reached by every profile of coalition moves;
both are built with the same functions the general path runs each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socius.envs import teams
from socius.envs.encoding import RULE_FEATURES, rule_features
from socius.envs.families import FAMILIES, compile_game
from socius.envs.scenario import Scenario

SMALL_SEATS = 4


def stock_families(families) -> list[str]:
    """The common-pool (stateful stock) families among these: they need the general path."""
    return sorted(f for f in set(families) if FAMILIES[f].shape == "stock")


def table_driven(max_players: int, families) -> bool:
    """Whether an engine of `max_players` seats playing these families runs table-driven
    (`SmallTables`, and the torch engine)."""
    return max_players <= SMALL_SEATS and not stock_families(families)


class Catalog:
    """Per-game, per-seat and per-scenario arrays for the scenarios of one engine."""

    def __init__(self, scenarios: list[Scenario], m: int):
        self.m = m
        compiled = {(sc.n_players, g): compile_game(FAMILIES[g.family], g.param_dict, sc.n_players)
                    for sc in scenarios for g in sc.games}
        zero_block = max(t.table.shape[2] for t in compiled.values())
        # Both flat tables open with zeros: absent seats index there and read 0.
        codes, tables, features = [np.zeros(1, np.int64)], [np.zeros(zero_block)], []
        code_off, table_off, x, stock, linear, game_scenario = [], [], [], [], [], []
        cooperative = []
        self.scenario_game_base = np.zeros(len(scenarios), np.intp)
        for s, sc in enumerate(scenarios):
            self.scenario_game_base[s] = len(x)
            continuation = sc.continuation if sc.continuation is not None else 1 - 1 / sc.horizon
            for game in sc.games:
                fam, table = FAMILIES[game.family], compiled[sc.n_players, game]
                code_off.append(sum(c.size for c in codes))
                table_off.append(sum(t.size for t in tables))
                x.append(table.table.shape[2])
                stock.append(table.stock)
                linear.append(table.linear)
                game_scenario.append(s)
                cooperative.append(-1 if fam.cooperative_action is None else fam.cooperative_action)
                codes.append(table.code.ravel())
                tables.append(table.table.ravel())
                for role in range(2):
                    features.append(rule_features(fam, table, role, sc.n_players, sc.team_share,
                                                  continuation, fam.zero_sum(game.param_dict)))
        features.append(np.zeros(RULE_FEATURES, np.float32))  # last row: rules hidden
        self.code_flat = np.concatenate(codes)
        self.table_flat = np.concatenate(tables).astype(np.float32)
        self.rule_table = np.stack(features)
        self.hidden_rules_row = len(features) - 1
        self.game_x = np.array(x, np.int64)
        self.game_linear = np.array(linear)
        self.game_is_stock = np.array([s is not None for s in stock])
        self.game_stock = np.array([s or (1.0, 0.0, 1.0) for s in stock], np.float64)
        self.game_scenario = np.array(game_scenario, np.intp)
        self.game_cooperative_action = np.array(cooperative, np.int64)  # -1: the game has none
        n_games = len(x)
        self.seat_code = np.zeros((n_games, m), np.int64)
        self.seat_table = np.zeros((n_games, m), np.int64)
        self.seat_stride = np.zeros((n_games, m), np.int64)
        self.seat_own_stride = np.zeros((n_games, m), np.int64)  # stride, minus 1 if linear
        self.seat_rules = np.full((n_games, m), self.hidden_rules_row, np.int32)
        for g in range(n_games):
            sc = scenarios[game_scenario[g]]
            n, roles = sc.n_players, np.array(sc.roles)
            self.seat_code[g, :n] = code_off[g] + roles * sc.n_actions
            self.seat_table[g, :n] = table_off[g] + roles * sc.n_actions * x[g]
            self.seat_stride[g, :n] = x[g]
            self.seat_own_stride[g, :n] = x[g] - linear[g]
            if sc.rules_visible:
                self.seat_rules[g, :n] = 2 * g + roles

        # Team partitions: every partition of n seats, for each n present, in one label table.
        players = sorted({sc.n_players for sc in scenarios})
        self.partition_base = np.zeros(m + 1, np.int64)
        labels, offset = [], 0
        for n in players:
            self.partition_base[n] = offset
            labels.append(teams.partitions(n, m))
            offset += len(labels[-1])
        self.partition_labels = np.concatenate(labels)
        # per scenario: its initial partition and the partitions a re-teaming may draw
        self.initial_partition = np.zeros(len(scenarios), np.int64)
        self.reteam_base = np.zeros(len(scenarios), np.int64)
        self.reteam_count = np.zeros(len(scenarios), np.uint64)
        reteam = []
        for s, sc in enumerate(scenarios):
            n = sc.n_players
            slots = np.repeat(np.arange(len(sc.team_sizes)), sc.team_sizes).astype(np.int8)
            initial = teams.canonical(np.concatenate([slots, [m] * (m - n)])[:, None], m)[:, 0]
            initial[n:] = m
            self.initial_partition[s] = partition_index(initial[None, :], n, m)[0]
            choices = partition_index(teams.partitions(n, m, tuple(sorted(sc.team_sizes))), n, m)
            self.reteam_base[s] = sum(len(r) for r in reteam)
            self.reteam_count[s] = len(choices)
            reteam.append(choices)
        self.reteam_partitions = np.concatenate(reteam)

    def labels(self, n: np.ndarray, partition: np.ndarray) -> np.ndarray:
        """Team labels `[m, k]` of local partition indices for instances of n players."""
        return self.partition_labels[self.partition_base[n] + partition].T

    def game_payoffs(self, g: int, actions: np.ndarray) -> np.ndarray:
        """Payoffs `[m, k]` of game g for joint actions `[m, k]`: the general path's lookup."""
        code = np.take(self.code_flat, self.seat_code[g][:, None] + actions)  # absent seats: 0
        others = code.sum(axis=0) - code
        index = self.seat_table[g][:, None] + self.seat_stride[g][:, None] * actions + others
        return self.table_flat[index]


def partition_index(labels: np.ndarray, n: int, m: int) -> np.ndarray:
    """Local index (in `teams.partitions(n, m)`) of each canonical labelling `[k, m]`."""
    radix = (m + 1) ** np.arange(m)
    known = teams.partitions(n, m).astype(np.int64) @ radix
    order = np.argsort(known)
    keys = labels.astype(np.int64) @ radix
    found = order[np.searchsorted(known, keys, sorter=order)]
    if not np.array_equal(known[found], keys):
        raise ValueError("labels that are not a canonical partition")
    return found


@dataclass
class SmallTables:
    """Table-driven rewards and coalition moves for engines of at most `SMALL_SEATS` seats.

    rewards[reward_base[g] + ((partition * A^n + joint) * m) + seat] is the shared reward of a
    seat; coalition[coalition_base[n, cap] + partition * (n + 2)^n + move_joint] the partition
    after the moves, where joint and move_joint read the seats' choices as base-A / base-(n + 2)
    numbers (seat 0 lowest)."""

    rewards: np.ndarray
    reward_base: np.ndarray  # [games]
    coalition: np.ndarray
    coalition_base: dict[tuple[int, int], int]

    @classmethod
    def build(cls, catalog: Catalog, scenarios: list[Scenario]) -> SmallTables:
        m = catalog.m
        rewards, reward_base, size = [], np.zeros(len(catalog.game_x), np.int64), 0
        for g, s in enumerate(catalog.game_scenario):
            sc = scenarios[s]
            n, a = sc.n_players, sc.n_actions
            parts = teams.partitions(n, m)
            joint = np.arange(a**n)
            actions = np.zeros((m, joint.size), np.int64)
            actions[:n] = (joint[None, :] // a ** np.arange(n)[:, None]) % a
            payoff = catalog.game_payoffs(g, actions)  # [m, J]
            k = len(parts) * joint.size
            labels = np.repeat(parts.T, joint.size, axis=1)  # [m, P * J], partition-major
            share = np.full(k, sc.team_share, np.float32)
            out = teams.share_rewards(np.tile(payoff, (1, len(parts))), labels, share,
                                      np.empty((m, k), np.float32))
            reward_base[g] = size
            rewards.append(out.T.ravel())  # [P, J, m] flattened
            size += out.size
        coalition, coalition_base, size = [], {}, 0
        for sc in scenarios:
            key = (sc.n_players, sc.max_team_size)
            if not sc.coalition_moves or key in coalition_base:
                continue
            n, cap = key
            parts = teams.partitions(n, m)
            profile = np.arange((n + 2) ** n)
            moves = np.zeros((m, profile.size), np.int64)
            moves[:n] = (profile[None, :] // (n + 2) ** np.arange(n)[:, None]) % (n + 2)
            k = len(parts) * profile.size
            labels = np.repeat(parts.T, profile.size, axis=1)
            absent = np.zeros((m, k), np.int8)
            absent[n:] = 1
            new = teams.settle_moves(np.tile(moves, (1, len(parts))), labels,
                                     teams.team_sizes(labels), np.full(k, cap, np.int8), absent, m)
            coalition_base[key] = size
            coalition.append(partition_index(new.T, n, m))
            size += k
        return cls(np.concatenate(rewards).astype(np.float32), reward_base,
                   np.concatenate(coalition) if coalition else np.zeros(1, np.int64),
                   coalition_base)
