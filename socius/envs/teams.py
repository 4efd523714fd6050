"""Teams as data: canonical labels, set partitions, coalition moves and reward sharing.

Pure functions over arrays shaped `[seats, instances]`. A team is named by its lowest seat, so
one partition of the seats has exactly one labelling; absent seats carry the label `m` (the
seat capacity). The engine's general path calls these functions every step, and its
table-driven path precomputes them, so both follow one definition.
"""

from __future__ import annotations

import functools

import numpy as np


def canonical(labels: np.ndarray, m: int) -> np.ndarray:
    """Relabel teams `[seats, k]` so each team's id is its lowest seat index (int8).

    The lowest seat j sharing seat i's label is m - max_j([L_j == L_i] * (m - j)): int8
    arithmetic, several times faster here than np.where or argmax."""
    weight = (m - np.arange(labels.shape[0], dtype=np.int8))[None, :, None]
    same = labels[:, None, :] == labels[None, :, :]
    return np.int8(m) - (same * weight).max(axis=1)


@functools.lru_cache(maxsize=256)
def partitions(n: int, m: int, sizes: tuple[int, ...] | None = None) -> np.ndarray:
    """Every partition of n seats (optionally into teams of these sorted sizes), as canonical
    labels `[K, m]` (int8), in restricted-growth-string order."""
    found = []
    largest = max(sizes) if sizes else n

    def grow(labels: list[int], counts: list[int]) -> None:
        if len(labels) == n:
            if sizes is None or tuple(sorted(counts)) == sizes:
                found.append([labels.index(b) for b in labels] + [m] * (m - n))
            return
        for block in range(len(counts) + 1):
            if block == len(counts):
                grow(labels + [block], counts + [1])
            elif counts[block] < largest:
                grow(labels + [block], counts[:block] + [counts[block] + 1] + counts[block + 1:])

    grow([], [])
    return np.array(found, np.int8)


def team_sizes(teams: np.ndarray) -> np.ndarray:
    """Size of each seat's team `[seats, k]` (int8); absent seats count each other."""
    return (teams[:, None, :] == teams[None, :, :]).sum(axis=1, dtype=np.int8)


def settle_moves(moves: np.ndarray, teams: np.ndarray, sizes: np.ndarray, cap: np.ndarray,
                 absent: np.ndarray, m: int) -> np.ndarray:
    """New canonical teams after coalition moves `[seats, k]`, all settled at once.

    0 stays; 1 leaves (a team of one), only when the team has other members; 2 + t asks to join
    team t. Requests to join team t are all accepted if t exists, is not the asker's team, and
    its size plus the number of requests is at most `cap`; else all are refused."""
    seats = np.arange(m, dtype=np.int8)[:, None]
    moves = moves.astype(np.int8, copy=False)
    leave = (moves == 1) & (sizes > 1)
    target = moves - 2
    joining = (target >= 0) & (target != teams)
    asks = (target[None, :, :] == seats[:, :, None]) & joining[None, :, :]  # asks[t, i]
    requests = asks.sum(axis=1, dtype=np.int8)  # [team, k]
    ok = (teams == seats) & (requests > 0) & (sizes + requests <= cap)
    accepted = (asks & ok[:, None, :]).any(axis=0)
    labels = teams + accepted * (target - teams)
    labels += leave * (m + 1 + seats - labels)
    new = canonical(labels, m)
    new += absent * (m - new)
    return new


def share_rewards(payoff: np.ndarray, teams: np.ndarray, share: np.ndarray, out: np.ndarray,
                  work: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """out = (1 - share) * payoff + share * (mean payoff of the seat's team), in float32.

    The team total is summed seat 0, 1, ... in a fixed order, so results are bit-identical for
    any batch size and any seat capacity (absent seats add exact zeros)."""
    m = payoff.shape[0]
    if work is None:
        work = (np.empty(payoff.shape, np.float32), np.empty(payoff.shape, np.float32),
                np.empty((m, m, payoff.shape[1]), np.float32))
    total, term, same_f = work
    same = teams[:, None, :] == teams[None, :, :]
    sizes = same.sum(axis=1, dtype=np.int8)
    np.copyto(same_f, same)
    np.multiply(same_f[:, 0], payoff[0], out=total)
    for seat in range(1, m):
        np.multiply(same_f[:, seat], payoff[seat], out=term)
        total += term
    np.divide(total, np.maximum(sizes, 1), out=out)
    out -= payoff
    out *= share
    out += payoff
    return out
