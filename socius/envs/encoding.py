"""The compact observation encoding that every Socius policy reads (version `OBS_VERSION`).

Each seat observes one row of `ObsLayout.size` small integers (uint8) plus an index into a table
of at most 64 rule features (float32). All seats of an instance share the row except the own-seat
byte, which is why the engine writes one row and copies it.

Row layout, for a layout with M seats (`max_players`) and a window of W past steps:

=================  =====  =====================================================================
field              width  meaning
=================  =====  =====================================================================
history            W * M  history[k * M + j] = 1 + action of seat j, k + 1 steps ago; 0 = none
teams              M      1 + team id of seat j (team id = lowest seat index in the team);
                          0 = seat absent
seat_mask          M      1 if seat j is in play
seat               1      the observing seat's index
events             1      bit 0: scheduled re-teaming, bit 1: a coalition move changed teams,
                          bit 2: the stage game changed (only when rules are visible)
time_left          1      steps left, capped at 254, when the horizon is fixed; 0 = unobserved
resource           1      common-pool stock as 0..254 of capacity when rules are visible; else 0
n_actions          1      number of valid game actions (actions >= it are invalid)
team_moves         1      number of valid team moves: 1 (stay only) or players + 2
=================  =====  =====================================================================

Rule features (`RULE_FEATURES` = 64 floats, all zero when rules are hidden):
``[0:12]`` family one-hot (`FAMILY_ORDER`); ``[12]`` players / 8; ``[13]`` actions / 6;
``[14]`` team share; ``[15]`` continuation probability, or 1 - 1/horizon; ``[16]`` own role;
``[17]`` zero-sum; ``[18:21]`` common-pool capacity per player / 10, growth, initial stock;
``[21]`` reserved (0); ``[22:64]`` own payoff, clipped to [-16, 16], for own action a (6 slots)
and probe p (7 slots) at index 22 + 7a + p: for pairwise games probe p < A means "every other
player plays p" (others of the opposite role for role-dependent games); for aggregate games probe
p means the others' total is p/6 of its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socius.envs.families import FAMILIES, MAX_ACTIONS, MAX_PLAYERS, Family, GameTable

OBS_VERSION = 1
RULE_FEATURES = 64
FAMILY_ORDER = tuple(sorted(FAMILIES))
EVENT_RETEAM, EVENT_COALITION, EVENT_RULES = 1, 2, 4
_PROBES = 7


@dataclass(frozen=True)
class ObsLayout:
    """Byte offsets of the observation row for `max_players` seats and a window of `history`."""

    max_players: int = MAX_PLAYERS
    history: int = 4

    @property
    def teams(self) -> int:
        return self.history * self.max_players

    @property
    def seat_mask(self) -> int:
        return self.teams + self.max_players

    @property
    def seat(self) -> int:
        return self.seat_mask + self.max_players

    @property
    def events(self) -> int:
        return self.seat + 1

    @property
    def time_left(self) -> int:
        return self.seat + 2

    @property
    def resource(self) -> int:
        return self.seat + 3

    @property
    def n_actions(self) -> int:
        return self.seat + 4

    @property
    def team_moves(self) -> int:
        return self.seat + 5

    @property
    def size(self) -> int:
        return self.seat + 6

    def upper_bounds(self) -> np.ndarray:
        """Exclusive upper bound of every byte (a gymnasium MultiDiscrete nvec)."""
        m = self.max_players
        return np.concatenate([
            np.full(self.history * m, MAX_ACTIONS + 1), np.full(m, m + 1), np.full(m, 2),
            [m, 8, 255, 255, MAX_ACTIONS + 1, m + 3],
        ]).astype(np.int64)

    def decode(self, row: np.ndarray) -> dict[str, np.ndarray]:
        """Named fields of one or more rows (leading dimensions kept)."""
        m = self.max_players
        return {
            "history": row[..., : self.teams].reshape(*row.shape[:-1], self.history, m),
            "teams": row[..., self.teams: self.seat_mask],
            "seat_mask": row[..., self.seat_mask: self.seat],
            "seat": row[..., self.seat],
            "events": row[..., self.events],
            "time_left": row[..., self.time_left],
            "resource": row[..., self.resource],
            "n_actions": row[..., self.n_actions],
            "team_moves": row[..., self.team_moves],
        }


def rule_features(fam: Family, table: GameTable, role: int, n_players: int, team_share: float,
                  continuation: float, zero_sum: bool) -> np.ndarray:
    """The 64 visible-rule features of one game for a seat of the given role (see module doc)."""
    out = np.zeros(RULE_FEATURES, dtype=np.float32)
    out[FAMILY_ORDER.index(fam.name)] = 1.0
    out[12] = n_players / MAX_PLAYERS
    out[13] = table.n_actions / MAX_ACTIONS
    out[14] = team_share
    out[15] = continuation
    out[16] = role
    out[17] = float(zero_sum)
    if table.stock is not None:
        capacity, growth, init = table.stock
        out[18:21] = (capacity / n_players / 10.0, growth, init)
    a = table.n_actions
    x_max = table.table.shape[2] - 1
    for own in range(a):
        for p in range(_PROBES):
            if fam.shape == "pairwise":
                if p >= a:
                    continue
                partner_role = 1 - role if fam.role_of_others else role
                x = (n_players - 1) * table.code[partner_role, p]
            else:
                x = round(p / (_PROBES - 1) * x_max)
            out[22 + _PROBES * own + p] = np.clip(table.table[role, own, x], -16, 16)
    return out
