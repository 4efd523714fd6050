"""`MatchBook`: which engine slots hold a match, and each match's totals until it ends.

A slot plays one match at a time; a match lasts a number of episodes (the engine auto-resets
between them). The book is fed a collect call's recorded steps after the call (host arrays,
`[T, ...]`), counts returns, steps, team and rule changes, cooperation and betrayals of the
slots in play, and closes a match when its last episode ends: the slot is then free for the
next ticket, or — for a slot marked `endless` (a plain vector env) — the next episode is the
next match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FinishedMatch:
    """One match that ended during a collect call, with per-seat totals over its episodes."""

    instance: int
    episode: int  # the engine's episode counter of the match's last episode
    returns: np.ndarray  # [n_players]
    steps: int
    team_changes: int  # steps after which the teams differed
    rule_changes: int  # steps after which the stage game differed
    cooperated: np.ndarray  # [n_players] cooperative actions
    could_cooperate: np.ndarray  # [n_players] steps in games that have a cooperative action
    # seats that defected right after a step in which every seat cooperated
    betrayals: int = 0
    episodes: int = 1


class MatchBook:
    """Slots in play and per-slot match totals of one engine (host arrays)."""

    def __init__(self, engine):
        m, b = engine.max_players, engine.batch_size
        self.engine = engine  # its `present` and `n_players` follow the slots' scenarios
        self.cooperative_action = engine.catalog.game_cooperative_action  # [games], -1: none
        self.active = np.zeros(b, bool)  # slot holds a match in play
        self.endless = np.zeros(b, bool)  # a finished match is followed by the next at once
        self.match_episodes = np.ones(b, np.int64)
        self.episode_returns: list[float] = []  # per present seat of each finished match
        self.finished: list[FinishedMatch] = []
        self._episodes = np.zeros(b, np.int64)
        self._steps = np.zeros(b, np.int64)
        self._team_changes = np.zeros(b, np.int64)
        self._rule_changes = np.zeros(b, np.int64)
        self._cooperated = np.zeros((m, b), np.int64)
        self._could = np.zeros((m, b), np.int64)
        self._betrayals = np.zeros(b, np.int64)
        self._mutual = np.zeros(b, bool)  # every present seat cooperated on the last step
        self._return = np.zeros((m, b))
        # per seat and slot, since the caller last cleared them: steps in games that have a
        # cooperative action, and how many of them the seat cooperated in
        self.cooperation_steps = np.zeros((m, b), np.int64)
        self.cooperated = np.zeros((m, b), np.int64)

    def start(self, slots: np.ndarray, episodes: np.ndarray | int = 1,
              endless: bool = False) -> None:
        """New matches in `slots` (lasting `episodes` episodes each)."""
        self._clear(slots)
        self.active[slots] = True
        self.endless[slots] = endless
        self.match_episodes[slots] = episodes

    def stop(self, slots: np.ndarray) -> None:
        """The matches in `slots` end without a result (cancelled); the slots are free."""
        self._clear(slots)
        self.active[slots] = False

    def _clear(self, slots) -> None:
        for totals in (self._return, self._cooperated, self._could):
            totals[:, slots] = 0
        for totals in (self._episodes, self._steps, self._team_changes, self._rule_changes,
                       self._betrayals):
            totals[slots] = 0
        self._mutual[slots] = False

    def feed(self, actions: np.ndarray, game: np.ndarray, rewards: np.ndarray,
             done: np.ndarray, episode: np.ndarray, teams_changed: np.ndarray,
             rules_changed: np.ndarray) -> np.ndarray:
        """A call's steps (`[T, M, B]` joint actions and rewards; `[T, B]` active stage games
        before each step, dones, episode counters, team and rule changes); returns which slots
        were in play at each step `[T, B]` (a slot whose match ended plays on unrecorded)."""
        valid = np.zeros(done.shape, bool)
        for t in range(len(done)):
            valid[t] = self.active
            self._count(actions[t], game[t], self.active)
            self._record(rewards[t], done[t] & self.active, episode[t],
                         teams_changed[t], rules_changed[t])
        return valid

    def _count(self, actions: np.ndarray, game: np.ndarray, live: np.ndarray) -> None:
        present = self.engine.present & live[None, :]
        cooperative = self.cooperative_action[game]  # [B]
        defined = present & (cooperative >= 0)[None, :]
        cooperated = defined & (actions == cooperative[None, :])
        self.cooperation_steps += defined
        self.cooperated += cooperated
        self._could += defined
        self._cooperated += cooperated
        self._steps += live
        self._betrayals += (defined & ~cooperated).sum(0) * self._mutual
        self._mutual = (cooperated | ~present).all(0) & defined.any(0)

    def _record(self, rewards: np.ndarray, done: np.ndarray, episode: np.ndarray,
                teams_changed: np.ndarray, rules_changed: np.ndarray) -> None:
        live = self.active
        self._team_changes += live & ~done & teams_changed
        self._rule_changes += live & ~done & rules_changed
        self._return += np.where(live[None, :], rewards, 0.0)
        if not done.any():
            return
        self._mutual[done] = False
        self._episodes += done
        ended = np.flatnonzero(done & (self._episodes >= self.match_episodes))
        if not ended.size:
            return
        present, n = self.engine.present, self.engine.n_players
        self.episode_returns.extend(self._return[:, ended][present[:, ended]].tolist())
        self.finished.extend(FinishedMatch(
            int(b), int(episode[b]), self._return[: n[b], b].copy(), int(self._steps[b]),
            int(self._team_changes[b]), int(self._rule_changes[b]),
            self._cooperated[: n[b], b].copy(), self._could[: n[b], b].copy(),
            int(self._betrayals[b]), int(self._episodes[b])) for b in ended)
        self._clear(ended)
        self.active[ended] = self.endless[ended]
