"""Learner update throughput of the default SociusNet through RLlib's PPO Learner.

Prints agent-steps per second of `LearnerGroup.update` on a real 4,096-step batch (128 two-player
instances x 32 steps, 4 minibatches), for the GRU and MLP cores, at 1 and 4 epochs, on the CPU
(one torch thread) and on the GPU when one is present. Throughput = batch agent-steps / update
seconds (so 4 epochs process 4x the samples in that time).

Usage: python benchmarks/bench_learner.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from socius.envs import BatchedEngine, classic
from socius.policies.network import NetConfig, SociusNet
from socius.policies.rollout import RolloutCollector, RolloutSettings
from socius.policies.scripted import make_partner
from socius.policies.trainer import (
    MODULE_ID,
    PPOSettings,
    build_learner_group,
    to_multi_agent_batch,
)


def sample_batch(config: NetConfig, instances: int = 128, steps: int = 32):
    scenario = classic("prisoners_dilemma__textbook", horizon=None, continuation=0.95)
    engine = BatchedEngine([scenario], np.zeros(instances, np.intp), max_players=config.max_players)
    seat_policy = np.full((config.max_players, instances), -1)
    seat_policy[0], seat_policy[1] = 0, 1
    collector = RolloutCollector(engine, [SociusNet(config).eval(), make_partner("tit_for_tat")],
                                 seat_policy, seat_policy == 0, RolloutSettings(), seed=0)
    return collector.collect(steps)[0]


def measure(config: NetConfig, epochs: int, repeats: int) -> float:
    ppo = PPOSettings(epochs=epochs)
    group = build_learner_group(config, ppo, total_steps=10**9)
    batch = sample_batch(config)
    ma_batch = to_multi_agent_batch({MODULE_ID: batch}, RolloutSettings().max_seq_len)
    rows = len(batch.columns["loss_mask"])
    minibatch = (rows // ppo.minibatches) * (RolloutSettings().max_seq_len if batch.recurrent else 1)
    rates = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        group.update(batch=ma_batch, minibatch_size=minibatch, num_epochs=epochs,
                     shuffle_batch_per_epoch=True, timesteps={"num_env_steps_sampled_lifetime": 1})
        rates.append(batch.agent_steps / (time.perf_counter() - start))
    group.shutdown()
    return float(np.median(rates[1:]))  # the first update warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU, 1 thread"
    print(f"learner device: {device}")
    print(f"{'core':<6}{'params':>10}{'epochs':>8}{'agent-steps/s':>16}")
    for core in ("gru", "mlp"):
        config = NetConfig(core=core)
        params = sum(p.numel() for p in SociusNet(config).parameters())
        for epochs in (1, 4):
            rate = measure(config, epochs, args.repeats)
            print(f"{core:<6}{params:>10,}{epochs:>8}{rate:>16,.0f}")


if __name__ == "__main__":
    main()
