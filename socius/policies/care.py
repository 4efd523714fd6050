"""Care: how much of a member's training reward comes from the rewards of others.

A learning seat trains on its own reward plus `team` times the mean reward of its current
teammates plus `others` times the mean reward of everyone else in the match (the seats outside
its team). A part with nobody in it (no teammates, or no one outside the team) adds nothing.
Care shapes only what the seat learns from; the game's rewards, returns and ratings stay the
seat's own.
"""

from __future__ import annotations

import numpy as np


def care_weighted_rewards(rewards: np.ndarray, teams: np.ndarray, present: np.ndarray,
                          care_team: np.ndarray, care_others: np.ndarray) -> np.ndarray:
    """Training rewards [M, B] from the step's rewards, teams and presence (all [M, B]) and each
    seat's care weights ([M, B], broadcastable)."""
    rewards = np.where(present, rewards, 0.0)
    m = rewards.shape[0]
    not_me = ~np.eye(m, dtype=bool)[:, :, None]  # [me, other, 1]
    both = present[:, None, :] & present[None, :, :] & not_me
    same = both & (teams[:, None, :] == teams[None, :, :])
    outside = both & ~same
    team_sum = np.einsum("ijb,jb->ib", same, rewards)
    others_sum = np.einsum("ijb,jb->ib", outside, rewards)
    team_mean = team_sum / np.maximum(same.sum(1), 1)
    others_mean = others_sum / np.maximum(outside.sum(1), 1)
    return np.where(present, rewards + care_team * team_mean + care_others * others_mean, 0.0)
