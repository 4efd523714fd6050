"""PPO on the 4-player public-goods scenario with teams: RLlib's default multi-agent path against
the Socius loop, in the same run, with the same network, batch, epochs and minibatch size.

Prints agent-steps/s sampled by each, agent-steps/s trained end to end by each, the learner
alone on the same batches, and the ratios. Targets on a 2-core machine: Socius samples >= 20x
as fast as RLlib's runner; Socius end to end reaches >= 70% of learner-only throughput.

`--device cuda` (or `cpu`) runs the Socius runner's torch path there: the torch engine, the
nets and the sampling as tensors on that device (`Runner(device=...)`); the learner takes the
GPU where the driver sees one. Without it, the runner uses the numpy engine (the default path).

Usage: python benchmarks/bench_training.py [--iterations 6] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_envs import reference_scenario  # noqa: E402

from socius.platform.training.loop import fixed_plan, training_loop  # noqa: E402
from socius.platform.training.runner import Runner, RunnerActor  # noqa: E402
from socius.platform.training.weights import WeightsHandle, state_digest  # noqa: E402
from socius.platform.types import MatchTicket  # noqa: E402
from socius.policies.network import NetConfig, SociusNet  # noqa: E402
from socius.policies.trainer import PPOSettings, build_learner_group, learner_states  # noqa: E402

BATCH = 4096  # agent-steps per training iteration, both paths
MINIBATCH = 1024
EPOCHS = 4
NET = NetConfig(max_players=4, core="mlp")
PLAYERS = 4
INSTANCES, STEPS = 64, BATCH // (64 * PLAYERS)  # Socius: 64 matches x 16 steps x 4 seats


def scenario():
    return reference_scenario(max_steps=32)


def rllib_baseline(iterations: int) -> tuple[float, float]:
    """(agent-steps/s sampled, agent-steps/s trained end to end) by RLlib's own Algorithm."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    from socius.policies.rl_module import module_spec
    from socius.policies.rllib_env import SociusMultiAgentEnv

    spec = MultiRLModuleSpec(rl_module_specs={"shared": module_spec(NET)})
    config = (
        PPOConfig()
        .environment(SociusMultiAgentEnv, env_config={"scenario": scenario().to_json(),
                                                      "flat": True, "max_players": PLAYERS})
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent, *a, **k: "shared",
                     count_steps_by="agent_steps")
        .rl_module(rl_module_spec=spec)
        .env_runners(num_env_runners=0, num_envs_per_env_runner=8, rollout_fragment_length="auto")
        .training(train_batch_size_per_learner=BATCH, minibatch_size=MINIBATCH,
                  num_epochs=EPOCHS, lr=1e-3, vf_clip_param=100.0)
        .learners(num_learners=0)
    )
    algo = config.build_algo()
    runner = algo.env_runner
    runner.sample(num_timesteps=BATCH // PLAYERS)  # warm-up
    start = time.perf_counter()
    episodes = runner.sample(num_timesteps=2 * BATCH // PLAYERS)
    sampled = sum(e.agent_steps() for e in episodes) / (time.perf_counter() - start)
    algo.train()  # warm-up
    start = time.perf_counter()
    for _ in range(iterations):
        algo.train()
    trained = iterations * BATCH / (time.perf_counter() - start)
    algo.stop()
    return sampled, trained


def tickets(instances: int = INSTANCES) -> list[MatchTicket]:
    sc = scenario()
    return [MatchTicket(f"m{k}", sc, ("main_0",) * PLAYERS, (True,) * PLAYERS, seed=k)
            for k in range(instances)]


def socius_sampling(repeats: int = 8, instances: int = INSTANCES,
                    device: str | None = None) -> float:
    """Agent-steps/s one Socius runner samples (in this process, one core), median."""
    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in SociusNet(NET).state_dict().items()}
    weights = {"main_0": WeightsHandle(state_digest(state), state)}
    runner, plan, rates = Runner(NET, STEPS, device=device), fixed_plan([tickets(instances)]), []
    free = None  # matches run to their end; each call refills the slots that came free
    for k in range(repeats + 1):
        _, stats = runner.run(plan(k, free)[0], weights)
        free = [stats.free_slots]
        rates.append(stats.agent_steps_sampled / stats.seconds)
    return float(np.median(rates[1:]))


def learner_only(repeats: int, device: str | None = None) -> float:
    """Agent-steps/s of LearnerGroup.update alone on Socius batches of the same size."""
    group = build_learner_group(NET, PPOSettings(epochs=EPOCHS), 10**9, module_ids=("main_0",))
    state = learner_states(group, ["main_0"])["main_0"]
    batch, _ = Runner(NET, STEPS, device=device).run(tickets(),
                                                     {"main_0": WeightsHandle("w", state)})
    rates = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        group.update(batch=batch, minibatch_size=MINIBATCH, num_epochs=EPOCHS,
                     shuffle_batch_per_epoch=True, timesteps={"num_env_steps_sampled_lifetime": 1})
        rates.append(BATCH / (time.perf_counter() - start))
    return float(np.median(rates[1:]))


def socius_end_to_end(iterations: int, device: str | None = None) -> float:
    group = build_learner_group(NET, PPOSettings(epochs=EPOCHS), 10**9, module_ids=("main_0",))
    gpus = 0.5 if device and device.startswith("cuda") else 0  # the other half: the learner
    runner = RunnerActor.options(num_gpus=gpus).remote(NET, STEPS, device=device)
    plan = fixed_plan([tickets()])
    warm = training_loop(group, [runner], plan, 2, PPOSettings(epochs=EPOCHS), MINIBATCH)
    result = training_loop(group, [runner], plan, iterations, PPOSettings(epochs=EPOCHS),
                           MINIBATCH, free_slots=warm.free_slots)
    return result.agent_steps_trained / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--device", help="the Socius runner's torch device (default: numpy)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gpus = 1 if torch.cuda.is_available() else 0
    ray.init(address="local", num_cpus=2, num_gpus=gpus, include_dashboard=False,
             log_to_driver=False)
    print(f"scenario: 4-player public goods, teams 2+2 (share 0.5), re-teaming 5%, rule changes "
          f"1%, coalition moves; network {NET}; batch {BATCH} agent-steps, minibatch "
          f"{MINIBATCH}, {EPOCHS} epochs; Socius runner on "
          f"{args.device or 'the numpy engine (CPU)'}; learner on {'GPU' if gpus else 'CPU'}")
    rl_sampled, rl_trained = rllib_baseline(args.iterations)
    so_sampled = socius_sampling(device=args.device)
    so_sampled_wide = socius_sampling(repeats=4, instances=1024, device=args.device)
    so_learner = learner_only(args.iterations, args.device)
    so_trained = socius_end_to_end(args.iterations * 3, args.device)
    print(f"{'':<44}{'agent-steps/s':>16}")
    print(f"{'(a) RLlib multi-agent runner: sampled':<44}{rl_sampled:>16,.0f}")
    print(f"{'(a) RLlib Algorithm: trained end to end':<44}{rl_trained:>16,.0f}")
    print(f"{'(b) Socius runner: sampled':<44}{so_sampled:>16,.0f}")
    print(f"{'(b) Socius runner, 1,024 matches per call':<44}{so_sampled_wide:>16,.0f}")
    print(f"{'(b) Socius loop: trained end to end':<44}{so_trained:>16,.0f}")
    print(f"{'learner only, same batches':<44}{so_learner:>16,.0f}")
    print(f"sampling ratio (b)/(a): {so_sampled / rl_sampled:.1f}x (target >= 20x)")
    print(f"end-to-end ratio (b)/(a): {so_trained / rl_trained:.1f}x")
    print(f"Socius end to end / learner only: {so_trained / so_learner:.0%} (target >= 70%)")
    ray.shutdown()


if __name__ == "__main__":
    main()
