"""Agent-steps/s of the scenario engine on one core, for the issue's reference scenario.

4-player public goods whose teams are re-drawn at 5% of steps, whose rules change at 1% of steps,
with random coalition moves (90% stay, 5% leave, 5% ask to join a random team). Counts present
seats only. Observations are written into the caller's buffers exactly as a policy reads them
(uint8 token rows plus a rule-feature index per seat). Random actions are drawn ahead of time so
the figure is the engine's, not numpy's random generator's.

Usage: python benchmarks/bench_envs.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from socius.envs import BatchedEngine, Scenario, SociusParallelEnv, StageGame  # noqa: E402

PLAYERS = 4


def reference_scenario(max_steps: int = 100) -> Scenario:
    return Scenario(
        name="public_goods__bench", n_players=PLAYERS,
        games=(StageGame.make("public_goods", {"mpcr": 0.4}),
               StageGame.make("public_goods", {"mpcr": 0.6})),
        team_sizes=(2, 2), team_share=0.5, horizon=max_steps, p_reteam=0.05,
        p_rule_change=0.01, coalition_moves=True,
    )


def random_moves(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    u = rng.random(shape)
    join = 2 + rng.integers(0, PLAYERS, shape)
    return np.where(u < 0.9, 0, np.where(u < 0.95, 1, join))


def bench_engine(batch: int, seconds: float, max_players: int = PLAYERS,
                 device: str | None = None) -> tuple[float, float]:
    """(median, best) agent-steps/s over repeats of about 0.2 s each, after a warm-up; with
    `device`, the torch engine there (each repeat ends when the device has finished)."""
    engine = BatchedEngine([reference_scenario()], np.zeros(batch, np.intp), max_players)
    rng = np.random.default_rng(0)
    pool = 8
    actions = rng.integers(0, 2, (pool, max_players, batch)) * engine.present
    moves = random_moves(rng, (pool, max_players, batch)) * engine.present
    sync = None  # waits for a GPU's queue
    if device is not None:
        import torch

        from socius.policies.torch_engine import TorchEngine

        engine = TorchEngine(engine, device)
        actions, moves = (torch.as_tensor(a, device=device) for a in (actions, moves))
        if engine.device.type == "cuda":
            sync = torch.cuda.synchronize
    out = engine.buffers()
    engine.reset(np.arange(batch), out)
    rates, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 5:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.2:
            for k in range(pool):
                engine.step(actions[k], out, moves[k])
            steps += pool
        if sync is not None:
            sync()
        rates.append(steps * engine.agent_count / (time.perf_counter() - start))
    rates = rates[1:]  # the first repeat warms caches up
    return float(np.median(rates)), float(np.max(rates))


def bench_parallel_env(seconds: float) -> float:
    env = SociusParallelEnv(reference_scenario())
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    agent_steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        moves = random_moves(rng, (PLAYERS,))
        acts = {a: np.array([rng.integers(0, 2), moves[i]]) for i, a in enumerate(env.agents)}
        _, _, term, trunc, _ = env.step(acts)
        agent_steps += PLAYERS
        if any(term.values()) or any(trunc.values()):
            env.reset()
    return agent_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--device", help="also the torch engine on this device (cpu, cuda)")
    args = parser.parse_args()
    print(f"reference scenario: {reference_scenario().to_json()}")
    print(f"{'path':<40}{'agent-steps/s (median)':>24}{'best':>16}")
    rate = bench_parallel_env(args.seconds)
    print(f"{'PettingZoo ParallelEnv loop':<40}{rate:>24,.0f}")
    for batch in (1, 64, 1024, 16384):
        median, best = bench_engine(batch, args.seconds)
        print(f"{f'batched engine B={batch}':<40}{median:>24,.0f}{best:>16,.0f}")
    median, best = bench_engine(16384, args.seconds, max_players=8)
    print(f"{'batched engine B=16384, 8-seat layout':<40}{median:>24,.0f}{best:>16,.0f}")
    for batch in (1024, 16384, 262144) if args.device else ():
        median, best = bench_engine(batch, args.seconds, device=args.device)
        print(f"{f'torch engine on {args.device}, B={batch}':<40}{median:>24,.0f}{best:>16,.0f}")
    print("4 seats use the table-driven path; the 8-seat layout (the same 4 players in seats of")
    print("an 8-player observation) uses the general path. Target: >= 50,000,000 at B=16384.")


if __name__ == "__main__":
    main()
