"""PPO for one SociusNet against fixed partners, in this process: RLlib's Learner does the
update, `RolloutCollector` the sampling. The league's distributed loop (runner actors, many
members) builds on the same two pieces."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

from socius.envs import BatchedEngine
from socius.policies.learner import SociusPPOLearner
from socius.policies.network import NetConfig, SociusNet
from socius.policies.rl_module import module_spec
from socius.policies.rollout import RolloutBatch, RolloutCollector, RolloutSettings
from socius.policies.scripted import ScriptedPartner

MODULE_ID = "learner"


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyperparameters (defaults: what trained small agents reliably on 2 cores here)."""

    lr: float = 1e-3
    clip: float = 0.2
    entropy_start: float = 0.01
    entropy_end: float = 0.0  # annealed linearly over the run
    vf_coeff: float = 0.5
    vf_clip: float = 100.0  # RLlib's default of 10 starved the critic in short runs
    grad_clip: float = 0.5
    epochs: int = 4
    minibatches: int = 4
    tom_weight: float = 0.5
    rollout_steps: int = 32


def build_learner_group(net_config: NetConfig, ppo: PPOSettings, total_steps: int,
                        module_ids: tuple[str, ...] = (MODULE_ID,), num_learners: int = 0,
                        gpus_per_learner: float | None = None,
                        resources_per_learner: dict[str, float] | None = None,
                        nan_checks: bool = True):
    """An RLlib LearnerGroup running `SociusPPOLearner` for SociusNet modules; by default on
    the GPU when this process sees one. Remote learners (`num_learners` > 0) take
    `gpus_per_learner` GPUs and the custom Ray resources given. `nan_checks=False` drops
    RLlib's per-gradient NaN check (which zeroes such gradients and logs each whole tensor)
    for callers that guard the weights themselves (`platform.training.guard`)."""
    gpus = gpus_per_learner if gpus_per_learner is not None else (
        1 if torch.cuda.is_available() else 0)
    spec = MultiRLModuleSpec(rl_module_specs={mid: module_spec(net_config) for mid in module_ids})
    config = (
        PPOConfig()
        .multi_agent(policies=set(module_ids), policy_mapping_fn=lambda agent, *a, **k: agent)
        .rl_module(rl_module_spec=spec)
        .framework(torch_skip_nan_gradients=not nan_checks)
        .training(lr=ppo.lr, clip_param=ppo.clip, vf_loss_coeff=ppo.vf_coeff,
                  vf_clip_param=ppo.vf_clip, grad_clip=ppo.grad_clip,
                  grad_clip_by="global_norm", use_kl_loss=False,
                  entropy_coeff=[[0, ppo.entropy_start], [max(total_steps, 1), ppo.entropy_end]])
        .learners(num_learners=num_learners, num_gpus_per_learner=gpus,
                  custom_resources_per_learner=resources_per_learner or {},
                  learner_class=SociusPPOLearner,
                  learner_config_dict={"tom_weight": ppo.tom_weight})
    )
    return config.build_learner_group(rl_module_spec=spec)


def to_multi_agent_batch(batches: dict[str, RolloutBatch], max_seq_len: int) -> MultiAgentBatch:
    """RolloutBatches as RLlib's MultiAgentBatch (torch tensors: RLlib's numpy conversion drops
    the zero-padding flag of recurrent batches)."""
    policy_batches = {}
    for module_id, batch in batches.items():
        columns: dict[str, Any] = {k: torch.from_numpy(np.ascontiguousarray(v))
                                   for k, v in batch.columns.items() if k != "state_in"}
        if batch.recurrent:
            columns["state_in"] = {"h": torch.from_numpy(batch.columns["state_in"])}
            policy_batches[module_id] = SampleBatch(columns, _zero_padded=True,
                                                    _max_seq_len=max_seq_len)
        else:
            policy_batches[module_id] = SampleBatch(columns)
    steps = sum(b.agent_steps for b in batches.values())
    return MultiAgentBatch(policy_batches, env_steps=steps)


def learner_states(learner_group, module_ids: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Each module's SociusNet state dict (numpy), taken from the Learner: its value head is
    current, unlike a runner's copy. The RLModule holds the net as `net`; the prefix goes."""
    states = learner_group.get_weights(module_ids=list(module_ids))
    return {m: {k.removeprefix("net."): np.asarray(v) for k, v in states[m].items()}
            for m in module_ids}


def set_learner_state(learner_group, module_id: str, state: dict[str, Any]) -> None:
    """Load a SociusNet state dict into a module of the Learner (the inverse of learner_states)."""
    learner_group.set_weights({module_id: {f"net.{k}": v for k, v in state.items()}})


def learner_weights(learner_group, module_id: str = MODULE_ID) -> dict[str, torch.Tensor]:
    """The SociusNet state dict of one module as torch tensors."""
    state = learner_states(learner_group, [module_id])[module_id]
    return {k: torch.as_tensor(v) for k, v in state.items()}


@contextmanager
def global_numpy_seed(rng: np.random.Generator):
    """Seed `np.random`'s global state from `rng` for the block and restore it after: RLlib
    shuffles minibatches with that global state, so without this an update depends on whatever
    else in the process drew from it before (a test's outcome on the tests run before it)."""
    saved = np.random.get_state()
    np.random.seed(int(rng.integers(2**32)))
    try:
        yield
    finally:
        np.random.set_state(saved)


class LocalTrainer:
    """Trains one SociusNet in the seats where `seat_policy == 0`; `partners[i - 1]` plays the
    seats where `seat_policy == i`."""

    def __init__(self, engine: BatchedEngine, seat_policy: np.ndarray,
                 partners: list[ScriptedPartner], net_config: NetConfig | None = None,
                 ppo: PPOSettings | None = None, rollout: RolloutSettings | None = None,
                 total_steps: int = 100_000, seed: int = 0):
        torch.manual_seed(seed)
        self.net_config = net_config or NetConfig(max_players=engine.max_players)
        self.ppo = ppo or PPOSettings()
        self.rollout = rollout or RolloutSettings()
        self.learner_group = build_learner_group(self.net_config, self.ppo, total_steps)
        self.net = SociusNet(self.net_config)
        self.net.load_state_dict(learner_weights(self.learner_group))
        self.net.eval()
        self.collector = RolloutCollector(engine, [self.net, *partners], seat_policy,
                                          np.asarray(seat_policy) == 0, self.rollout, seed)
        self.shuffle_rng = np.random.default_rng([seed, 1])
        self.steps = 0
        self.history: list[dict[str, float]] = []

    def iterate(self) -> dict[str, float]:
        """One sample -> update -> sync cycle; returns its metrics."""
        start = time.perf_counter()
        batch = self.collector.collect(self.ppo.rollout_steps)[0]
        sampled = time.perf_counter()
        self.steps += batch.agent_steps
        rows = len(batch.columns["loss_mask"])
        with global_numpy_seed(self.shuffle_rng):
            results = self.learner_group.update(
                batch=to_multi_agent_batch({MODULE_ID: batch}, self.rollout.max_seq_len),
                minibatch_size=max(1, batch.agent_steps // self.ppo.minibatches)
                if not batch.recurrent
                else max(1, rows // self.ppo.minibatches) * self.rollout.max_seq_len,
                num_epochs=self.ppo.epochs, shuffle_batch_per_epoch=True,
                timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self.steps})
        self.net.load_state_dict(learner_weights(self.learner_group))
        done = time.perf_counter()
        learner = results[0][MODULE_ID] if isinstance(results, list) else results[MODULE_ID]
        metrics = {"steps": self.steps, "reward_mean": batch.stats["reward_mean"],
                   "env_seconds": sampled - start, "learner_seconds": done - sampled}
        for key, value in learner.items():
            peek = value.peek() if hasattr(value, "peek") else value
            if np.ndim(peek) == 0:
                metrics[f"learner/{key}"] = float(peek)
        self.history.append(metrics)
        return metrics

    def train(self, agent_steps: int) -> list[dict[str, float]]:
        """Iterate until `agent_steps` learning agent-steps have been trained on."""
        while self.steps < agent_steps:
            self.iterate()
        return self.history
