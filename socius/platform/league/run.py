"""`run_league`: the league's generations on one screen, writing everything under a run folder.

Per generation: the matchmaker issues tickets (`plan`), runner actors play them and the
LearnerGroup trains every learning member (`training_loop`), results update payoffs and
ratings, due members are snapshotted (frozen checkpoints) and exploiters reset, and the league
state is written atomically. The run folder holds `manifest.json`, `league.json` and
`checkpoints/<member>/` (socius checkpoints).
"""

from __future__ import annotations

import json
import os
import platform as host
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch

import socius
from socius.envs import ScenarioSpace
from socius.platform.league.config import LeagueConfig
from socius.platform.league.matchmaker import MatchmakingRules, issue_tickets
from socius.platform.league.ratings import leaderboard
from socius.platform.league.results import record_results
from socius.platform.league.roles import Role, SnapshotRules, reset_after_snapshot, snapshot_due
from socius.platform.league.state import LeagueState, Member
from socius.platform.training.loop import training_loop
from socius.platform.training.runner import RunnerActor
from socius.platform.training.weights import WeightsHandle, state_digest
from socius.policies.checkpoint import save_checkpoint
from socius.policies.network import NetConfig, SociusNet
from socius.policies.trainer import PPOSettings, build_learner_group

STATE_FILE, MANIFEST_FILE = "league.json", "manifest.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Temp file in the same folder, fsync, rename: readers see the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def initial_state(config: LeagueConfig) -> LeagueState:
    """Members `<role>_<n>` (numbered across populations) from the configured populations."""
    state, counts = LeagueState(), {role: 0 for role in Role}
    for population in config.populations:
        for role in Role:
            for _ in range(getattr(population, role.value)):
                member = Member(f"{role.value}_{counts[role]}", population.name, role)
                counts[role] += 1
                state.members[member.id] = member
    return state


def manifest(config: LeagueConfig) -> dict[str, Any]:
    """What produced this run: versions, commit, seeds and the resolved config."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    packages = {}
    for name in ("ray", "torch", "numpy", "gymnasium", "pettingzoo", "openskill", "pyarrow"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"socius_version": socius.__version__, "state_format": 1, "git_commit": commit,
            "python": sys.version.split()[0], "host": host.node(), "packages": packages,
            "seed": config.seed, "config": config.model_dump(mode="json"),
            "created_unix": time.time()}


def win_rate_vs_targets(state: LeagueState, member: Member) -> float:
    """Main exploiters are judged against the main agents, league exploiters against all."""
    targets = [m.id for m in state.members.values() if m.id != member.id and (
        member.role is not Role.MAIN_EXPLOITER or m.role is Role.MAIN)]
    if not targets:
        return 0.0
    return float(np.mean([state.payoff.win_rate(member.id, t) for t in targets]))


def run_league(config: LeagueConfig, run_dir: str | Path,
               log: Callable[[str], None] = print) -> LeagueState:
    """Run the configured league to its last generation under `run_dir` (created here)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "checkpoints").mkdir()
    write_json_atomic(run_dir / MANIFEST_FILE, manifest(config))
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    sc = config.scenarios
    space = ScenarioSpace(split=sc.split, families=tuple(sc.families) if sc.families else None,
                          min_players=sc.min_players, max_players=sc.max_players,
                          p_fixed_horizon=sc.p_fixed_horizon, horizon_range=sc.horizon_range,
                          continuation_range=sc.continuation_range, max_steps=sc.max_steps)
    scenarios = [space.sample(sc.seed + k) for k in range(sc.count)]
    net_config = NetConfig(max_players=sc.max_players, core=config.core)
    ppo = PPOSettings(lr=config.lr, epochs=config.epochs, minibatches=config.minibatches)
    rules = MatchmakingRules(weighting=config.pfsp_weighting, scripted=tuple(config.scripted))
    snapshots = SnapshotRules(every_steps=config.snapshot_every_steps,
                              min_steps=max(1, config.snapshot_every_steps // 10))
    state = initial_state(config)
    learning = sorted(m.id for m in state.learners())
    rounds = config.generations * config.rounds_per_generation
    group = build_learner_group(net_config, ppo, total_steps=10**9, module_ids=tuple(learning))
    initial = {m: {k.removeprefix("net."): np.asarray(v) for k, v in w.items()}
               for m, w in group.get_weights(module_ids=learning).items()}
    runners = [RunnerActor.remote(net_config, config.steps_per_round, seed=config.seed + i)
               for i in range(config.runners)]
    frozen: dict[str, WeightsHandle] = {}
    minibatch = max(1, config.tickets_per_round * config.steps_per_round // config.minibatches)
    log(f"league {config.name!r}: {len(learning)} learning members, {len(scenarios)} scenarios, "
        f"{config.runners} runner(s), {rounds} rounds -> {run_dir}")
    for generation in range(config.generations):
        state.generation = generation
        start = time.perf_counter()

        def plan(_round: int) -> list:
            return [issue_tickets(state, scenarios, rules, rng, config.tickets_per_round)
                    for _ in runners]

        result = training_loop(group, runners, plan, config.rounds_per_generation, ppo,
                               minibatch, frozen=frozen, learning=learning)
        record_results(state, result.match_results)
        weights = {m: {k.removeprefix("net."): np.asarray(v) for k, v in w.items()}
                   for m, w in group.get_weights(module_ids=learning).items()}
        for member_id in learning:
            member = state.members[member_id]
            member.steps += result.steps_by_member.get(member_id, 0)
            member.steps_since_snapshot += result.steps_by_member.get(member_id, 0)
            member.weights_digest = state_digest(weights[member_id])
            if snapshot_due(member.role, member.steps_since_snapshot,
                            win_rate_vs_targets(state, member), snapshots):
                frozen.update(_snapshot(state, member, weights[member_id], net_config, run_dir))
                member.steps_since_snapshot = 0
                if reset_after_snapshot(member.role, float(rng.random()), snapshots):
                    group.set_weights({member_id: {f"net.{k}": v for k, v in
                                                   initial[member_id].items()}})
        write_json_atomic(run_dir / STATE_FILE, state.to_dict())
        seconds = time.perf_counter() - start
        top = ", ".join(f"{m} {r.ordinal:.1f}" for m, r in leaderboard(state.ratings)[:4])
        log(f"generation {generation}: {result.agent_steps_trained / seconds:,.0f} agent-steps/s "
            f"trained, {len(result.match_results)} episodes, {len(state.members)} members; "
            f"top: {top}")
    group.shutdown()
    for runner in runners:
        ray.kill(runner)
    return state


def _snapshot(state: LeagueState, member: Member, weights: dict[str, np.ndarray],
              net_config: NetConfig, run_dir: Path) -> dict[str, WeightsHandle]:
    """Freeze the member's current weights as `<id>@<generation>`: a checkpoint on disk and a
    league member that never learns again."""
    snap_id = f"{member.id}@{state.generation}"
    net = SociusNet(net_config)
    net.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
    save_checkpoint(net, run_dir / "checkpoints" / snap_id,
                    lineage={"member": snap_id, "parent": member.id, "role": member.role.value,
                             "population": member.population, "generation": state.generation})
    digest = state_digest(weights)
    state.members[snap_id] = Member(snap_id, member.population, member.role, trainable=False,
                                    parent=member.id, generation=state.generation,
                                    steps=member.steps, weights_digest=digest)
    return {snap_id: WeightsHandle(digest, ray.put(weights))}


def members_table(state: LeagueState) -> str:
    """Members, roles, ratings (ordinal mu - 3 sigma), strongest first."""
    rows = [f"{'member':<24}{'role':<18}{'population':<12}{'trainable':<10}{'rating':>8}"]
    rated = dict(leaderboard(state.ratings))
    order = list(rated) + [m for m in state.members if m not in rated]
    for member_id in order:
        rating = f"{rated[member_id].ordinal:8.2f}" if member_id in rated else "       -"
        if member_id not in state.members:  # the scripted background
            rows.append(f"{member_id:<24}{'scripted':<18}{'background':<12}{'False':<10}{rating}")
            continue
        m = state.members[member_id]
        rows.append(f"{m.id:<24}{m.role.value:<18}{m.population:<12}{str(m.trainable):<10}"
                    f"{rating}")
    return "\n".join(rows)
