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
from socius.policies.checkpoint import load_module, save_checkpoint
from socius.policies.network import NetConfig, SociusNet
from socius.policies.trainer import (
    PPOSettings,
    build_learner_group,
    learner_states,
    set_learner_state,
)

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
    torch.manual_seed(config.seed)
    league = LeagueRun(config, run_dir, initial_state(config), np.random.default_rng(config.seed))
    return league.run(first_generation=0, log=log)


def resume_league(run_dir: str | Path, log: Callable[[str], None] = print) -> LeagueState:
    """Continue a stopped run from its last saved generation (members, weights, ratings,
    lineage and the matchmaker's random state as saved); refuses other socius versions."""
    run_dir = Path(run_dir)
    try:
        saved_manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
        saved = json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{run_dir}: not a resumable league run ({exc})") from exc
    if saved_manifest.get("state_format") != 1 or saved_manifest.get(
            "socius_version") != socius.__version__:
        raise ValueError(
            f"{run_dir}: written by socius {saved_manifest.get('socius_version')!r} (state format "
            f"{saved_manifest.get('state_format')!r}); this socius {socius.__version__} resumes "
            "only its own runs (state format 1)")
    config = LeagueConfig(**saved_manifest["config"])
    rng = np.random.default_rng()
    rng.bit_generator.state = saved["rng"]
    state = LeagueState.from_dict(saved["league"])
    league = LeagueRun(config, run_dir, state, rng)
    league.restore_weights()
    log(f"resuming {run_dir} after generation {state.generation}")
    return league.run(first_generation=state.generation + 1, log=log)


class LeagueRun:
    """The live parts of a league run: learners, runners, frozen weights."""

    def __init__(self, config: LeagueConfig, run_dir: Path, state: LeagueState,
                 rng: np.random.Generator):
        torch.set_num_threads(1)
        self.config, self.run_dir, self.state, self.rng = config, run_dir, state, rng
        sc = config.scenarios
        space = ScenarioSpace(
            split=sc.split, families=tuple(sc.families) if sc.families else None,
            min_players=sc.min_players, max_players=sc.max_players,
            p_fixed_horizon=sc.p_fixed_horizon, horizon_range=sc.horizon_range,
            continuation_range=sc.continuation_range, max_steps=sc.max_steps)
        self.scenarios = [space.sample(sc.seed + k) for k in range(sc.count)]
        self.net_config = NetConfig(max_players=sc.max_players, core=config.core)
        self.ppo = PPOSettings(lr=config.lr, epochs=config.epochs, minibatches=config.minibatches)
        self.rules = MatchmakingRules(weighting=config.pfsp_weighting,
                                      scripted=tuple(config.scripted))
        self.snapshots = SnapshotRules(every_steps=config.snapshot_every_steps,
                                       min_steps=max(1, config.snapshot_every_steps // 10))
        self.learning = sorted(m.id for m in state.learners())
        self.group = build_learner_group(self.net_config, self.ppo, total_steps=10**9,
                                         module_ids=tuple(self.learning))
        self.runners = [RunnerActor.remote(self.net_config, config.steps_per_round,
                                           seed=config.seed + i) for i in range(config.runners)]
        self.frozen: dict[str, WeightsHandle] = {}
        self.initial = learner_states(self.group, self.learning)  # exploiters restart here


    def restore_weights(self) -> None:
        """Learners and snapshots from the run folder's checkpoints."""
        folder = self.run_dir / "checkpoints"
        for member_id in self.learning:
            self.initial[member_id] = _numpy_state(load_module(folder / f"{member_id}@init"))
            current = _numpy_state(load_module(folder / member_id))
            set_learner_state(self.group, member_id, current)
        for member in self.state.members.values():
            if not member.trainable:
                weights = _numpy_state(load_module(folder / member.id))
                self.frozen[member.id] = WeightsHandle(state_digest(weights), ray.put(weights))

    def run(self, first_generation: int, log: Callable[[str], None]) -> LeagueState:
        config, state = self.config, self.state
        if first_generation == 0:
            for member_id, weights in self.initial.items():
                self._save(member_id, weights, f"{member_id}@init")
        minibatch = max(1, config.tickets_per_round * config.steps_per_round // config.minibatches)
        log(f"league {config.name!r}: {len(self.learning)} learning members, "
            f"{len(self.scenarios)} scenarios, {config.runners} runner(s) -> {self.run_dir}")
        try:
            for generation in range(first_generation, config.generations):
                state.generation = generation
                start = time.perf_counter()

                def plan(_round: int) -> list:
                    return [issue_tickets(state, self.scenarios, self.rules, self.rng,
                                          config.tickets_per_round) for _ in self.runners]

                result = training_loop(self.group, self.runners, plan,
                                       config.rounds_per_generation, self.ppo, minibatch,
                                       frozen=self.frozen, learning=self.learning)
                record_results(state, result.match_results)
                self._after_generation(result.steps_by_member)
                seconds = time.perf_counter() - start
                top = ", ".join(f"{m} {r.ordinal:.1f}" for m, r in leaderboard(state.ratings)[:4])
                log(f"generation {generation}: {result.agent_steps_trained / seconds:,.0f} "
                    f"agent-steps/s trained, {len(result.match_results)} episodes, "
                    f"{len(state.members)} members; top: {top}")
        except KeyboardInterrupt:
            log(f"stopped: the run folder holds generation {state.generation - 1}; "
                f"continue with `socius league resume {self.run_dir}`")
        finally:
            self.group.shutdown()
            for runner in self.runners:
                ray.kill(runner)
        return state

    def _after_generation(self, steps_by_member: dict[str, int]) -> None:
        """Bookkeeping, snapshots and resets; then learners and state are saved atomically."""
        state, weights = self.state, learner_states(self.group, self.learning)
        for member_id in self.learning:
            member = state.members[member_id]
            member.steps += steps_by_member.get(member_id, 0)
            member.steps_since_snapshot += steps_by_member.get(member_id, 0)
            member.weights_digest = state_digest(weights[member_id])
            if snapshot_due(member.role, member.steps_since_snapshot,
                            win_rate_vs_targets(state, member), self.snapshots):
                self.frozen.update(_snapshot(state, member, weights[member_id], self.net_config,
                                             self.run_dir))
                member.steps_since_snapshot = 0
                if reset_after_snapshot(member.role, float(self.rng.random()), self.snapshots):
                    weights[member_id] = self.initial[member_id]
                    set_learner_state(self.group, member_id, weights[member_id])
            self._save(member_id, weights[member_id], member_id)
        write_json_atomic(self.run_dir / STATE_FILE,
                          {"league": state.to_dict(), "rng": self.rng.bit_generator.state})

    def _save(self, member_id: str, weights: dict[str, np.ndarray], name: str) -> None:
        net = SociusNet(self.net_config)
        net.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
        member = self.state.members[member_id]
        save_checkpoint(net, self.run_dir / "checkpoints" / name, overwrite=True,
                        lineage={"member": member_id, "role": member.role.value,
                                 "population": member.population,
                                 "generation": self.state.generation})


def _numpy_state(net: SociusNet) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in net.state_dict().items()}


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
    rows = [f"{'member':<32}{'role':<18}{'population':<12}{'trainable':<10}{'rating':>8}"]
    rated = dict(leaderboard(state.ratings))
    order = list(rated) + [m for m in state.members if m not in rated]
    for member_id in order:
        rating = f"{rated[member_id].ordinal:8.2f}" if member_id in rated else "       -"
        if member_id not in state.members:  # the scripted background
            rows.append(f"{member_id:<32}{'scripted':<18}{'background':<12}{'False':<10}{rating}")
            continue
        m = state.members[member_id]
        rows.append(f"{m.id:<32}{m.role.value:<18}{m.population:<12}{str(m.trainable):<10}"
                    f"{rating}")
    return "\n".join(rows)
