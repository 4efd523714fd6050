"""`SociusNet`: one torch network for every scenario of up to `max_players` seats.

Input: the flat observation `obs = [tokens (L bytes, as floats), rules (64 floats)]` of
`socius.envs.encoding` (`flat_observation` builds it). Each seat becomes a token from its
recent actions (one embedding table per history slot, so slots stay distinct), whether it is
the observer, whether it is on the observer's team, and whether it is present; the other seats
are pooled as a set (masked means over everyone and over teammates), so the network is the same
for 2 and for 8 players. A recurrent core (GRU, or an MLP for memoryless play) follows.

Heads: game-action logits (invalid actions masked), team-move logits (masked to "stay" when the
scenario has no coalition moves), a value, and theory of mind: for every seat, logits of the
action (and team move) it takes this step. With `tom_to_policy` the policy and value heads also
read what the theory-of-mind head expects the other seats to do (their predicted action
distributions, averaged over them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from socius.envs.encoding import RULE_FEATURES, ObsLayout
from socius.envs.families import MAX_ACTIONS, MAX_PLAYERS

MASKED = -1e9  # logit of an invalid choice: finite, so entropies and KLs stay finite


@dataclass(frozen=True)
class NetConfig:
    """Sizes of a SociusNet; stored in every checkpoint."""

    max_players: int = MAX_PLAYERS
    history: int = 4
    embed: int = 8
    hidden: int = 64
    core: str = "gru"  # "gru" (recurrent) or "mlp"
    core_size: int = 64
    tom_to_policy: bool = False  # the ToM head's predictions of the others feed the policy

    def __post_init__(self) -> None:
        if self.core not in ("gru", "mlp"):
            raise ValueError(f"NetConfig.core must be 'gru' or 'mlp', got {self.core!r}")
        for key in ("max_players", "history", "embed", "hidden", "core_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"NetConfig.{key} must be a positive integer, "
                                 f"got {getattr(self, key)!r}")
        if not 2 <= self.max_players <= MAX_PLAYERS:
            raise ValueError(f"NetConfig.max_players must be in [2, {MAX_PLAYERS}], "
                             f"got {self.max_players}")

    @property
    def layout(self) -> ObsLayout:
        return ObsLayout(self.max_players, self.history)

    @property
    def obs_size(self) -> int:
        return self.layout.size + RULE_FEATURES

    @property
    def team_moves(self) -> int:
        return self.max_players + 2

    def to_dict(self) -> dict:
        return asdict(self)


def flat_observation(tokens: np.ndarray, rules: np.ndarray) -> np.ndarray:
    """The network's input `[..., L + 64]` float32 from token rows and rule features."""
    return np.concatenate([tokens.astype(np.float32), rules.astype(np.float32)], axis=-1)


class SociusNet(nn.Module):
    """Policy, value and theory-of-mind heads over the compact observation (see module doc)."""

    def __init__(self, config: NetConfig | None = None):
        super().__init__()
        self.config = cfg = config or NetConfig()
        m, w, e, h = cfg.max_players, cfg.history, cfg.embed, cfg.hidden
        self.layout = cfg.layout
        self.history_embed = nn.Embedding(w * (MAX_ACTIONS + 1), e)  # one table per slot
        self.seat_encoder = nn.Sequential(nn.Linear(w * e + 3, h), nn.ReLU(), nn.Linear(h, h),
                                          nn.ReLU())
        context = 3 + 3 + (MAX_ACTIONS + 1) + (m + 3) + RULE_FEATURES  # events, clocks, counts
        self.trunk = nn.Sequential(nn.Linear(3 * h + context, h), nn.ReLU())
        if cfg.core == "gru":
            self.core = nn.GRU(h, cfg.core_size, batch_first=True)
        else:
            self.core = nn.Sequential(nn.Linear(h, cfg.core_size), nn.ReLU())
        c = cfg.core_size
        features = c + (MAX_ACTIONS if cfg.tom_to_policy else 0)
        self.action_head = nn.Linear(features, MAX_ACTIONS)
        self.team_head = nn.Linear(features, cfg.team_moves)
        self.value_head = nn.Linear(features, 1)
        # theory of mind reads the core, the predicted seat and the observer's own seat directly
        # (a partner's next move often answers the observer's last one)
        self.tom_head = nn.Sequential(nn.Linear(c + 2 * h, h), nn.ReLU(),
                                      nn.Linear(h, MAX_ACTIONS + cfg.team_moves))
        # constants, made once (not saved in checkpoints): acting calls forward every step
        self.register_buffer("_slot_offset", torch.arange(w).view(w, 1) * (MAX_ACTIONS + 1),
                             persistent=False)
        self.register_buffer("_event_bits", torch.arange(3), persistent=False)
        self.register_buffer("_action_ids", torch.arange(MAX_ACTIONS), persistent=False)
        self.register_buffer("_move_ids", torch.arange(cfg.team_moves), persistent=False)

    @classmethod
    def from_weights(cls, config: NetConfig, weights: Mapping[str, Any]) -> SociusNet:
        """A net of `config` holding `weights` (name -> array or tensor), in eval mode."""
        net = cls(config)
        # numpy arrays are copied: weights from a remote learner arrive read-only, which
        # torch would only warn about (load_state_dict copies into the parameters anyway)
        net.load_state_dict({k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.array(v))
                             for k, v in weights.items()})
        return net.eval()

    @property
    def recurrent(self) -> bool:
        return self.config.core == "gru"

    def initial_state(self, batch: int) -> torch.Tensor:
        """The recurrent state at an episode's start, `[batch, core_size]`."""
        return torch.zeros(batch, self.config.core_size)

    def forward(self, obs: torch.Tensor, state: torch.Tensor | None = None, tom: bool = True
                ) -> dict[str, torch.Tensor]:
        """obs `[B, T, D]` (or `[B, D]`), state `[B, H]` -> logits, value, tom, state.

        Returns `features [.., F]` (what the policy and value heads read: the core's output,
        and with `tom_to_policy` the others' expected actions), `action_logits [.., 6]`,
        `team_logits [.., M + 2]`, `value [..]`, `tom_action_logits [.., M, 6]`,
        `tom_team_logits [.., M, M + 2]` and `state [B, H]` (empty for the MLP core).
        `tom=False` leaves the theory-of-mind logits out: acting does not need them, and their
        head (per seat) is the largest matrix product of the network."""
        squeeze = obs.dim() == 2
        if squeeze:
            obs = obs.unsqueeze(1)
        cfg, lay = self.config, self.layout
        m, w = cfg.max_players, cfg.history
        tokens = obs[..., : lay.size].long()
        rules = obs[..., lay.size:]
        hist = tokens[..., : lay.teams].reshape(*tokens.shape[:-1], w, m)  # [B, T, W, M]
        hist_emb = self.history_embed(hist + self._slot_offset)  # [B, T, W, M, E]
        hist_emb = hist_emb.permute(0, 1, 3, 2, 4).reshape(*tokens.shape[:-1], m, -1)
        teams = tokens[..., lay.teams: lay.seat_mask]
        present = tokens[..., lay.seat_mask: lay.seat].float()
        seat = tokens[..., lay.seat]
        is_me = nn.functional.one_hot(seat, m).float()
        my_team = teams.gather(-1, seat.unsqueeze(-1))
        mate = (teams == my_team).float() * present
        seats = self.seat_encoder(torch.cat([hist_emb, is_me.unsqueeze(-1), mate.unsqueeze(-1),
                                             present.unsqueeze(-1)], dim=-1))  # [B, T, M, h]
        me = (seats * is_me.unsqueeze(-1)).sum(-2)
        others = present * (1 - is_me)
        mates = mate * (1 - is_me)
        pooled_others = (seats * others.unsqueeze(-1)).sum(-2) / others.sum(-1, True).clamp(min=1)
        pooled_mates = (seats * mates.unsqueeze(-1)).sum(-2) / mates.sum(-1, True).clamp(min=1)
        events = tokens[..., lay.events]
        event_bits = ((events.unsqueeze(-1) >> self._event_bits) & 1).float()
        clocks = torch.stack([tokens[..., lay.time_left].float() / 254,
                              (tokens[..., lay.time_left] > 0).float(),
                              tokens[..., lay.resource].float() / 254], -1)
        n_actions = tokens[..., lay.n_actions]
        team_moves = tokens[..., lay.team_moves]
        context = torch.cat([event_bits, clocks,
                             nn.functional.one_hot(n_actions, MAX_ACTIONS + 1).float(),
                             nn.functional.one_hot(team_moves, m + 3).float(), rules], -1)
        x = self.trunk(torch.cat([me, pooled_others, pooled_mates, context], -1))
        if self.recurrent:
            if state is None:
                state = self.initial_state(x.shape[0]).to(x.device)
            z, last = self.core(x, state.unsqueeze(0))
            state = last.squeeze(0)
        else:
            z = self.core(x)
        action_valid = self._action_ids < n_actions.unsqueeze(-1)
        team_valid = self._move_ids < team_moves.unsqueeze(-1)
        out = {}
        if tom or cfg.tom_to_policy:
            predicted = self.tom_head(torch.cat(
                [z.unsqueeze(-2).expand(*z.shape[:-1], m, z.shape[-1]), seats,
                 me.unsqueeze(-2).expand_as(seats)], -1))
            out["tom_action_logits"] = predicted[..., :MAX_ACTIONS].masked_fill(
                ~action_valid.unsqueeze(-2), MASKED)
            out["tom_team_logits"] = predicted[..., MAX_ACTIONS:].masked_fill(
                ~team_valid.unsqueeze(-2), MASKED)
        features = z
        if cfg.tom_to_policy:
            # detached: the theory-of-mind head learns only from its own loss, as a predictor
            expected = torch.softmax(out["tom_action_logits"].detach(), -1)
            expected = (expected * others.unsqueeze(-1)).sum(-2) / others.sum(-1, True).clamp(
                min=1)
            features = torch.cat([z, expected], -1)
        out |= {
            "features": features,
            "action_logits": self.action_head(features).masked_fill(~action_valid, MASKED),
            "team_logits": self.team_head(features).masked_fill(~team_valid, MASKED),
            "value": self.value_head(features).squeeze(-1),
        }
        if not tom:
            out.pop("tom_action_logits", None)
            out.pop("tom_team_logits", None)
        if squeeze:
            out = {k: v.squeeze(1) for k, v in out.items()}
        out["state"] = state if state is not None else torch.zeros(0)
        return out
