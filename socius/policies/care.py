"""Care: how much of a member's training reward comes from the rewards of others.

A learning seat trains on its own reward plus `team` times the mean reward of its current
teammates plus `others` times the mean reward of everyone else in the match (the seats outside
its team). A part with nobody in it (no teammates, or no one outside the team) adds nothing.
Care shapes only what the seat learns from; the game's rewards, returns and ratings stay the
seat's own.
"""

from __future__ import annotations

import numpy as np
import torch


def care_weighted_rewards(rewards, teams, present, care_team, care_others):
    """Training rewards [M, B] from the step's rewards, teams and presence (all [M, B]) and each
    seat's care weights ([M, B], broadcastable): numpy arrays, or torch tensors on one device."""
    xp = torch if isinstance(rewards, torch.Tensor) else np
    rewards = xp.where(present, rewards, 0.0)
    m = rewards.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=rewards.device) if xp is torch else \
        np.eye(m, dtype=bool)
    not_me = ~eye[:, :, None]  # [me, other, 1]
    both = present[:, None, :] & present[None, :, :] & not_me
    same = both & (teams[:, None, :] == teams[None, :, :])
    outside = both & ~same
    if xp is torch:  # torch's einsum takes no booleans
        same, outside = same.to(rewards.dtype), outside.to(rewards.dtype)
    team_sum = xp.einsum("ijb,jb->ib", same, rewards)
    others_sum = xp.einsum("ijb,jb->ib", outside, rewards)
    team_mean = team_sum / (same.sum(1).clamp(min=1) if xp is torch
                            else np.maximum(same.sum(1), 1))
    others_mean = others_sum / (outside.sum(1).clamp(min=1) if xp is torch
                                else np.maximum(outside.sum(1), 1))
    return xp.where(present, rewards + care_team * team_mean + care_others * others_mean, 0.0)
