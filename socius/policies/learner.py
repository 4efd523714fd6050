"""PPO with a theory-of-mind loss, through RLlib's Learner, driven with ready batches.

Batches come from `socius.policies.rollout` with advantages and value targets already computed,
so RLlib's connector pipeline is skipped. Extra columns: `tom_actions` / `tom_moves` (each
seat's actual game action and team move at that step, -1 for the observer itself and for absent
seats) and `tom_mask` (steps whose theory-of-mind targets count: every real step, including the
off-policy ones where the agent acted at random, which PPO's `loss_mask` leaves out).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner

TOM_ACTIONS, TOM_MOVES, TOM_MASK = "tom_actions", "tom_moves", "tom_mask"


class SociusPPOLearner(PPOTorchLearner):
    """RLlib's PPO loss plus `tom_weight` x the theory-of-mind cross-entropy (logged apart)."""

    def compute_loss_for_module(self, *, module_id: str, config: PPOConfig,
                                batch: dict[str, Any], fwd_out: dict[str, Any]) -> torch.Tensor:
        ppo_loss = super().compute_loss_for_module(module_id=module_id, config=config,
                                                   batch=batch, fwd_out=fwd_out)
        weight = float(self.config.learner_config_dict.get("tom_weight", 1.0))
        step_mask = batch[TOM_MASK].bool()
        losses, metrics = [], {}
        for name, logits_key, targets_key in (("tom_action", "tom_action_logits", TOM_ACTIONS),
                                              ("tom_move", "tom_team_logits", TOM_MOVES)):
            targets = batch[targets_key].long()
            valid = (targets >= 0) & step_mask.unsqueeze(-1)
            logits = fwd_out[logits_key][valid]
            if logits.shape[0] == 0:
                continue
            chosen = targets[valid]
            losses.append(torch.nn.functional.cross_entropy(logits, chosen))
            metrics[f"{name}_loss"] = losses[-1]
            metrics[f"{name}_accuracy"] = (logits.argmax(-1) == chosen).float().mean()
        tom_loss = sum(losses) if losses else torch.zeros((), device=ppo_loss.device)
        self.metrics.log_dict({k: v.detach() for k, v in metrics.items()}, key=module_id,
                              window=1)
        return ppo_loss + weight * tom_loss
