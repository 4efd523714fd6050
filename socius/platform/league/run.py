"""`run_league`: the league's generations on one screen, writing everything under a run folder.

Per generation: the matchmaker issues tickets (`plan`), runner actors play them and the
LearnerGroup trains every learning member (`training_loop`), results update payoffs and
ratings, due members are snapshotted (frozen checkpoints) and exploiters reset, and the league
state is written atomically. The run folder holds `manifest.json`, `league.json` and
`checkpoints/<member>/` (socius checkpoints).
"""

from __future__ import annotations

import json
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
from socius.envs import Scenario, ScenarioSpace, classic
from socius.platform.data.writer import (
    LakeWriterActor,
    episodes_table,
    matches_table,
    outcomes_table,
)
from socius.platform.files import write_json_atomic
from socius.platform.league.actor import LeagueActor
from socius.platform.league.config import LeagueConfig
from socius.platform.league.evolution import EvolutionRules
from socius.platform.league.history import append_record, generation_record
from socius.platform.league.matchmaker import MatchmakingRules
from socius.platform.league.ratings import leaderboard
from socius.platform.league.roles import Role, SnapshotRules
from socius.platform.league.state import LeagueState, Member
from socius.platform.ops import placement as place
from socius.platform.ops.metrics import LeagueMetrics
from socius.platform.training.guard import DivergenceGuard
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

STATE_FILE, MANIFEST_FILE, CLUSTER_FILE = "league.json", "manifest.json", "cluster.json"
# why matches end without a result
RESUMED = "in flight when the run stopped"
MEMBER_RESET = "a member's weights were reset or replaced"
RUN_FINISHED = "the run finished"


def initial_state(config: LeagueConfig) -> LeagueState:
    """Members `<role>_<n>` (numbered across populations) from the configured populations."""
    state, counts = LeagueState(), {role: 0 for role in Role}
    rng = np.random.default_rng([config.seed, 1])  # starting care only

    def draw(centre: float, spread: float) -> float:
        return float(np.clip(centre + rng.uniform(-spread, spread), -1, 1)) if spread else centre

    for population in config.populations:
        for role in Role:
            for _ in range(getattr(population, role.value)):
                care = {"team": draw(population.care_team, population.care_spread),
                        "others": draw(population.care_others, population.care_spread)}
                member = Member(f"{role.value}_{counts[role]}", population.name, role, care=care)
                counts[role] += 1
                state.members[member.id] = member
    return state


def league_scenarios(config: LeagueConfig) -> list[Scenario]:
    """The curriculum: named classics when the config lists them, else a sample of the space."""
    sc = config.scenarios
    if sc.classics:
        if sc.classic_continuation is not None:
            return [classic(name, horizon=None, continuation=sc.classic_continuation,
                            max_steps=sc.max_steps) for name in sc.classics]
        return [classic(name, horizon=sc.classic_horizon) for name in sc.classics]
    space = ScenarioSpace(
        split=sc.split, families=tuple(sc.families) if sc.families else None,
        min_players=sc.min_players, max_players=sc.max_players,
        p_fixed_horizon=sc.p_fixed_horizon, horizon_range=sc.horizon_range,
        continuation_range=sc.continuation_range, max_steps=sc.max_steps)
    return [space.sample(sc.seed + k) for k in range(sc.count)]


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
            "socius_location": str(Path(socius.__file__).parent),  # checkout, wheel or env
            "python": sys.version.split()[0], "host": host.node(), "packages": packages,
            "seed": config.seed, "config": config.model_dump(mode="json"),
            "created_unix": time.time()}


# (state, every member's weights, the generation's match results)
OnGeneration = Callable[[LeagueState, dict[str, dict[str, np.ndarray]], list], None]


def run_league(config: LeagueConfig, run_dir: str | Path, log: Callable[[str], None] = print,
               on_generation: OnGeneration | None = None) -> LeagueState:
    """Run the configured league to its last generation under `run_dir` (created here).
    `on_generation(state, weights, results)`, if given, sees the state, every member's weights
    and the generation's match results after each generation is saved (for measurements)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "checkpoints").mkdir()
    write_json_atomic(run_dir / MANIFEST_FILE, manifest(config))
    return _supervise(config, run_dir, log, on_generation)


def resume_league(run_dir: str | Path, log: Callable[[str], None] = print) -> LeagueState:
    """Continue a stopped run from its last saved generation (members, weights, ratings,
    lineage and the matchmaker's random state as saved); refuses other socius versions."""
    run_dir = Path(run_dir)
    config, state, _ = load_saved(run_dir)
    log(f"resuming {run_dir} after generation {state.generation}")
    return _supervise(config, run_dir, log, None)


# An actor's process died (killed, out of memory, its node gone): the run starts again from
# its last saved generation. Errors raised by the code inside an actor stop the run instead.
ACTOR_LOST = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError,
              ray.exceptions.ObjectLostError, ray.exceptions.OwnerDiedError)


def _supervise(config: LeagueConfig, run_dir: Path, log: Callable[[str], None],
               on_generation: OnGeneration | None) -> LeagueState:
    """Run from the last saved generation (or the start); when an actor dies, close the rest
    and start again from the last saved generation — at most `max_restarts` times, as Ray
    Train's FailureConfig does — then stop, printing the resume command."""
    restarts = 0
    while True:
        if (run_dir / STATE_FILE).is_file():
            _, state, rng_state = load_saved(run_dir)
            resumed_after = state.generation
        else:  # nothing saved yet: from the start (the lake drops what was written)
            torch.manual_seed(config.seed)
            state, rng_state = initial_state(config), None
            resumed_after = None if restarts == 0 else -1
        if state.tickets.in_flight:
            log(f"{len(state.tickets.in_flight)} matches in flight when the run stopped are "
                f"cancelled ({RESUMED})")
        try:
            league = LeagueRun(config, run_dir, state, rng_state, resumed_after, restarts)
        except ValueError as exc:  # e.g. the node that offered the runners' resources is gone
            if restarts:
                log(f"stopped: {exc}; the run folder holds the last saved generation; continue "
                    f"with `socius league resume {run_dir}` once the cluster can place it")
            raise
        try:
            return league.run(first_generation=state.generation + 1 if rng_state else 0,
                              log=log, on_generation=on_generation)
        except ACTOR_LOST as exc:
            cause = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
            if restarts >= config.max_restarts:
                log(f"stopped after {restarts} restarts: {cause}; the run folder holds the last "
                    f"saved generation; continue with `socius league resume {run_dir}`")
                raise
            restarts += 1
            log(f"restart {restarts} of at most {config.max_restarts}: {cause}; starting again "
                "from the last saved generation")


def load_saved(run_dir: Path) -> tuple[LeagueConfig, LeagueState, dict[str, Any]]:
    """A run folder's config, saved league state and matchmaker's random state; a ValueError
    naming the file when they are missing, damaged or from another socius version."""
    try:
        saved_manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
        saved = json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{run_dir}: not a resumable league run ({str(exc)[:200]})") from exc
    if not isinstance(saved_manifest, dict) or not isinstance(saved, dict):
        raise ValueError(f"{run_dir}: {MANIFEST_FILE} and {STATE_FILE} should each hold a JSON "
                         "object; restore them from a backup, or start a new run")
    if saved_manifest.get("state_format") != 1 or saved_manifest.get(
            "socius_version") != socius.__version__:
        raise ValueError(
            f"{run_dir}: written by socius {saved_manifest.get('socius_version')!r} (state format "
            f"{saved_manifest.get('state_format')!r}); this socius {socius.__version__} resumes "
            "only its own runs (state format 1)")
    try:
        return (LeagueConfig(**saved_manifest["config"]), LeagueState.from_dict(saved["league"]),
                dict(saved["rng"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{run_dir}: {MANIFEST_FILE} or {STATE_FILE} is damaged "
                         f"({exc.__class__.__name__}: {str(exc)[:200]}); restore them from a "
                         "backup, or start a new run") from exc


class LeagueRun:
    """The live parts of a league run: the league actor, learners, runners, frozen weights."""

    def __init__(self, config: LeagueConfig, run_dir: Path, state: LeagueState,
                 rng_state: dict[str, Any] | None, resumed_after: int | None = None,
                 restarts: int = 0):
        """`resumed_after`: the last saved generation when the run starts again (-1: none was
        saved), so the lake drops what came after it; `restarts` so far, for the record."""
        torch.set_num_threads(1)
        self.config, self.run_dir, self.restarts = config, run_dir, restarts
        scenarios = league_scenarios(config)
        seats = max(config.scenarios.max_players, *(s.n_players for s in scenarios))
        self.net_config = NetConfig(max_players=seats, core=config.core)
        start = _starting_weights(config.init_from, self.net_config) if config.init_from else None
        self.ppo = PPOSettings(lr=config.lr, epochs=config.epochs, minibatches=config.minibatches,
                               entropy_start=config.entropy, entropy_end=config.entropy)
        self.learning = sorted(m.id for m in state.learners())
        self.guard = DivergenceGuard(config.max_abs_weight, config.divergence_strikes, config.lr)
        placement, cluster = config.placement, ray.cluster_resources()
        # before any actor waits for what cannot come
        place.check_feasible(placement, cluster, config.runners)
        device = place.runner_device(placement, seats,
                                     {g.family for s in scenarios for g in s.games})
        self.group = build_learner_group(
            self.net_config, self.ppo, total_steps=10**9, module_ids=tuple(self.learning),
            num_learners=placement.learners,
            gpus_per_learner=place.learner_gpus(placement, cluster) if placement.learners else None,
            resources_per_learner=placement.learner_resources,
            nan_checks=False)  # the divergence guard below keeps diverged weights out
        self.runners = [RunnerActor.options(**place.runner_options(placement)).remote(
            self.net_config, config.steps_per_round, seed=config.seed + i,
            record=config.data.store, run_id=run_dir.name, device=device,
            slots=config.tickets_per_round) for i in range(config.runners)]
        # every runner starts with all its slots free; matches then run across rounds
        self.free_slots = [config.tickets_per_round] * config.runners
        state_options = place.state_options(placement)  # league actor and writer: the head
        self.mirror = None
        if config.tracking.mirror:
            from socius.platform.registry import BackgroundMirror, Mirror

            self.mirror = BackgroundMirror(Mirror(run_dir, config.tracking.uri))
        self.writer, self._pending = None, []
        if config.data.store:  # resumed runs first drop what a crashed generation left behind
            data = config.data
            self.writer = LakeWriterActor.options(**state_options).remote(
                run_dir / "lake", run_dir.name, data.fraction, data.keep_generations,
                data.max_bytes, data.compact,
                drop_after=resumed_after, fsync=data.fsync)
        self.generation = state.generation + 1 if rng_state is not None else 0
        if state.tickets.in_flight:
            # the runners that played them are gone: those matches end here, without a result
            self._cancelled(state.tickets.cancel(list(state.tickets.in_flight), RESUMED))
        if start is not None:
            for member_id in self.learning:
                set_learner_state(self.group, member_id, start)
        self.initial = learner_states(self.group, self.learning)  # exploiters restart here
        self.frozen: dict[str, WeightsHandle] = {}
        if rng_state is not None:
            self._restore_weights(state)
        rules = MatchmakingRules(weighting=config.pfsp_weighting,
                                 main_opponents=config.main_opponents,
                                 curriculum=config.curriculum,
                                 scripted=tuple(config.scripted))
        snapshots = SnapshotRules(every_steps=config.snapshot_every_steps,
                                  min_steps=max(1, config.snapshot_every_steps // 10))
        evolution = None if config.evolution is None else EvolutionRules(
            **config.evolution.model_dump(exclude={"fitness"}))
        self.league = LeagueActor.options(**state_options).remote(
            state, scenarios, rules, snapshots, rng_state, seed=config.seed,
            initial_digests={m: state_digest(w) for m, w in self.initial.items()},
            evolution=evolution,
            fitness_kind=config.evolution.fitness if config.evolution else "own",
            match_episodes=config.match_episodes)
        self.scenario_count = len(scenarios)
        self.metrics = LeagueMetrics(run_dir.name)
        write_json_atomic(run_dir / CLUSTER_FILE, place.cluster_record(self._actor_nodes()))

    def _actor_nodes(self) -> dict[str, list[str]]:
        """The Ray node of every actor of the run, and of the driver (the local learner)."""
        def node(actor) -> Any:
            return actor.__ray_call__.remote(lambda _self: place.this_node())

        actors = {"league": [self.league], "runners": self.runners,
                  "writer": [self.writer] if self.writer is not None else []}
        nodes = {role: ray.get([node(a) for a in group]) for role, group in actors.items()}
        nodes["driver"] = [place.this_node()]
        nodes["learners"] = nodes["driver"] if self.group.is_local else [
            r.get() for r in self.group.foreach_learner(lambda _learner: place.this_node())]
        return nodes

    def _restore_weights(self, state: LeagueState) -> None:
        """Learners and snapshots from the run folder's checkpoints."""
        folder = self.run_dir / "checkpoints"
        for member_id in self.learning:
            self.initial[member_id] = _numpy_state(load_module(folder / f"{member_id}@init"))
            current = _numpy_state(load_module(folder / member_id))
            set_learner_state(self.group, member_id, current)
        for member in state.members.values():
            if not member.trainable:
                weights = _numpy_state(load_module(folder / member.id))
                self.frozen[member.id] = WeightsHandle(state_digest(weights), ray.put(weights))

    def run(self, first_generation: int, log: Callable[[str], None],
            on_generation: OnGeneration | None = None) -> LeagueState:
        config, league, run_dir = self.config, self.league, self.run_dir
        state = ray.get(league.get_state.remote())
        if first_generation == 0:
            for member_id, weights in self.initial.items():
                self._save(member_id, weights, f"{member_id}@init", state)
        minibatch = max(1, config.tickets_per_round * config.steps_per_round // config.minibatches)
        log(f"league {config.name!r}: {len(self.learning)} learning members, "
            f"{self.scenario_count} scenarios, {config.runners} runner(s) -> {self.run_dir}")
        try:
            for generation in range(first_generation, config.generations):
                start = time.perf_counter()
                league.start_generation.remote(generation)
                self.generation = generation
                care = {m.id: (m.care["team"], m.care["others"]) for m in state.learners()}

                def plan(_round: int, free_slots: list[int]) -> list:
                    batches = ray.get(league.plan.remote(free_slots))
                    self._store("matches", matches_table(
                        [t for b in batches for t in b.tickets()], run_dir.name, self.generation))
                    return batches

                result = training_loop(self.group, self.runners, plan,
                                       config.rounds_per_generation, self.ppo, minibatch,
                                       free_slots=self.free_slots, frozen=self.frozen,
                                       learning=self.learning, care=care,
                                       on_steps=lambda steps: self._store("steps", steps),
                                       guard=self.guard)
                self.free_slots = result.free_slots
                league.report.remote(result.match_results, result.steps_by_member,
                                     result.cooperation)
                self._store("episodes", episodes_table(result.match_results, run_dir.name,
                                                       generation))
                self._store("matches", outcomes_table(
                    {r.match_id: r.family for r in result.match_results}, "finished",
                    run_dir.name, generation))
                state, weights, saved = self._after_generation(
                    last=generation == config.generations - 1)
                seconds = time.perf_counter() - start
                record = generation_record(generation, state, result, seconds)
                record["tickets"] = self._books(state)
                record["diverged_updates"] = self.guard.skipped  # over the run so far
                record["restarts"] = self.restarts  # of the run, after actors died
                # history first: league.json, written last, is what declares the generation
                # saved, and a replayed generation's line replaces this one
                append_record(run_dir, record)
                write_json_atomic(run_dir / STATE_FILE, saved)
                if self.writer is not None:
                    self._pending.append(self.writer.end_generation.remote(generation))
                if on_generation is not None:
                    on_generation(state, {**{m: ray.get(h.source) for m, h in self.frozen.items()},
                                          **weights}, result.match_results)
                if self.mirror is not None:  # it logs every generation history.jsonl holds
                    self.mirror.request()
                self.metrics.record(record)
                top = ", ".join(f"{m} {r.ordinal:.1f}" for m, r in leaderboard(state.ratings)[:4])
                log(f"generation {generation}: {result.agent_steps_trained / seconds:,.0f} "
                    f"agent-steps/s trained, {len(result.match_results)} episodes, "
                    f"{len(state.members)} members; top: {top}")
        except KeyboardInterrupt:
            log(f"stopped: the run folder holds the last finished generation; continue with "
                f"`socius league resume {self.run_dir}`")
        finally:
            self._close(log)
        return LeagueState.from_dict(json.loads((run_dir / STATE_FILE).read_text())["league"]) \
            if (run_dir / STATE_FILE).is_file() else state

    def _close(self, log: Callable[[str], None]) -> None:
        """Shut down in order — learners, the lake's last writes, the mirror's last sync, the
        actors — each step even when an earlier one fails (a dead actor)."""
        steps = [("learners", self.group.shutdown),
                 ("lake writes", lambda: ray.get(self._pending))]
        if self.mirror is not None:
            steps.append(("mlflow mirror", self.mirror.close))
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - report it, then go on closing
                log(f"closing: {name}: {exc.__class__.__name__}: {str(exc)[:200]}")
        for actor in [*self.runners, self.league] + ([self.writer] if self.writer else []):
            ray.kill(actor)

    def _cancel(self, members: set[str] | None, reason: str) -> None:
        """Cancel the runners' matches that seat any of `members` (None: all of them)."""
        cancelled = ray.get([runner.cancel.remote(members) for runner in self.runners])
        for i, match_ids in enumerate(cancelled):
            self.free_slots[i] += len(match_ids)
        self._cancelled(ray.get(self.league.cancel.remote(
            [m for ids in cancelled for m in ids], reason)), reason)

    def _cancelled(self, matches: dict[str, str], reason: str = RESUMED) -> None:
        """Cancellations into the lake's matches table."""
        if matches:
            self._store("matches", outcomes_table(matches, "cancelled", self.run_dir.name,
                                                  self.generation, reason))

    def _books(self, state: LeagueState) -> dict[str, Any]:
        """The league's ticket books, checked against the matches the runners hold."""
        books = state.tickets.counts()
        books["runner_in_flight"] = sum(self.config.tickets_per_round - free
                                        for free in self.free_slots)
        books["balanced"] = books["balanced"] and books["runner_in_flight"] == books["in_flight"]
        return books

    def _store(self, table: str, data) -> None:
        """Hand rows to the lake writer without waiting (at most 16 writes in flight)."""
        if self.writer is None:
            return
        self._pending.append(self.writer.write.remote(table, data, self.generation))
        if len(self._pending) > 16:
            done, self._pending = ray.wait(self._pending, num_returns=len(self._pending) - 16)
            ray.get(done)  # a failed write (a dead writer) stops the run here, never silently

    def _confirm_writes(self) -> None:
        """Every row handed to the lake so far is written and committed (its manifest lists
        it): before league.json may claim the generation."""
        if self.writer is None:
            return
        ray.get(self._pending)
        self._pending = []
        ray.get(self.writer.commit.remote())

    def _after_generation(self, last: bool) -> tuple[LeagueState, dict[str, dict[str, np.ndarray]],
                                                     dict[str, Any]]:
        """Snapshots and resets as the league actor orders them; matches of members whose
        weights are reset or replaced are cancelled (all matches after the `last` generation);
        learners and snapshots are saved and the lake's writes confirmed. Returns the state,
        the learners' weights and what league.json is to hold (the caller writes it last,
        atomically, so it never names a missing file or rows the lake does not list)."""
        weights = learner_states(self.group, self.learning)
        orders = ray.get(self.league.close_generation.remote(
            {m: state_digest(w) for m, w in weights.items()}))
        replaced = {o.member for o in orders.snapshots if o.reset} | {
            c.child for c in orders.copies}
        if last:
            self._cancel(None, RUN_FINISHED)
        elif replaced:
            self._cancel(replaced, MEMBER_RESET)
        saved = ray.get(self.league.saved.remote())
        state = LeagueState.from_dict(saved["league"])
        for order in orders.snapshots:
            self._save(order.member, weights[order.member], order.snapshot, state,
                       parent=order.member)
            self.frozen[order.snapshot] = WeightsHandle(state_digest(weights[order.member]),
                                                        ray.put(weights[order.member]))
            if order.reset:
                weights[order.member] = self.initial[order.member]
                set_learner_state(self.group, order.member, weights[order.member])
        for copy in orders.copies:  # the child's optimizer state stays its own
            weights[copy.child] = {k: v.copy() for k, v in weights[copy.parent].items()}
            set_learner_state(self.group, copy.child, weights[copy.child])
        for member_id in self.learning:
            self._save(member_id, weights[member_id], member_id, state)
        self._confirm_writes()
        return state, weights, saved

    def _save(self, member_id: str, weights: dict[str, np.ndarray], name: str,
              state: LeagueState, parent: str | None = None) -> None:
        net = SociusNet(self.net_config)
        # torch.tensor copies: weights from a remote learner arrive as read-only arrays
        net.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
        member = state.members[member_id]
        lineage = {"member": name, "role": member.role.value, "population": member.population,
                   "generation": state.generation}
        if parent is not None:
            lineage["parent"] = parent
        # overwriting is safe: a name is only reused when a crashed generation is played again
        save_checkpoint(net, self.run_dir / "checkpoints" / name, overwrite=True, lineage=lineage)


def _starting_weights(path: str, net_config: NetConfig) -> dict[str, np.ndarray]:
    net = load_module(path)
    if net.config != net_config:
        raise ValueError(f"init_from: {path} holds a network {net.config}, but this league needs "
                         f"{net_config} (set `core` and `scenarios.max_players` to match)")
    return _numpy_state(net)


def _numpy_state(net: SociusNet) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in net.state_dict().items()}


def members_table(state: LeagueState) -> str:
    """Members, roles, ratings (ordinal mu - 3 sigma), cooperation rates (share of
    cooperative actions in the last generation's games that have one) and care (team/others),
    strongest first."""
    rows = [f"{'member':<32}{'role':<18}{'population':<12}{'trainable':<10}{'rating':>8}"
            f"{'cooperation':>13}{'care t/o':>12}"]
    rated = dict(leaderboard(state.ratings))
    order = list(rated) + [m for m in state.members if m not in rated]
    order += [m for m in state.cooperation if m not in order]
    for member_id in order:
        rating = f"{rated[member_id].ordinal:8.2f}" if member_id in rated else f"{'-':>8}"
        coop = state.cooperation.get(member_id)
        coop = f"{coop:13.2f}" if coop is not None else f"{'-':>13}"
        if member_id not in state.members:  # the scripted background
            rows.append(f"{member_id:<32}{'scripted':<18}{'background':<12}{'False':<10}{rating}"
                        f"{coop}{'-':>12}")
            continue
        m = state.members[member_id]
        care = f"{m.care.get('team', 0):.2f}/{m.care.get('others', 0):.2f}"
        rows.append(f"{m.id:<32}{m.role.value:<18}{m.population:<12}{str(m.trainable):<10}"
                    f"{rating}{coop}{care:>12}")
    return "\n".join(rows)
