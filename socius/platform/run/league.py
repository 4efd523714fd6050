"""`run_league` / `resume_league`: a league run, its live parts (`LeagueRun`: the league actor,
the learners, the runners, the lake writer, the mirror) and what keeps it going when an actor
dies (`_supervise`). One generation, top to bottom, is `play_generation` (run/generation.py);
the stages it calls are `LeagueRun`'s methods here. The objects the run needs are built from
the config's sections (`ppo_settings`, `rollout_settings`, ...). Everything goes under a run
folder (runfolder.py).
"""

from __future__ import annotations

import math
import platform as host
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
from pydantic import ValidationError

import socius
from socius.envs import Scenario, ScenarioSpace, classic
from socius.platform.config import LeagueConfig, describe_errors
from socius.platform.data.writer import (
    LakeWriterActor,
    episodes_table,
    matches_table,
    outcomes_table,
)
from socius.platform.league.actor import GenerationOrders, LeagueActor
from socius.platform.league.evolution import EvolutionRules, selection_groups
from socius.platform.league.matchmaker import MatchmakingRules
from socius.platform.league.ratings import leaderboard
from socius.platform.league.roles import Role, SnapshotRules
from socius.platform.league.state import LeagueState, Member, saved_state
from socius.platform.run import placement as place
from socius.platform.run.generation import play_generation
from socius.platform.run.metrics import LeagueMetrics
from socius.platform.runfolder import RunFolder, RunFolderError
from socius.platform.training.guard import DivergenceGuard
from socius.platform.training.loop import RoundLoop
from socius.platform.training.runner import RunnerActor
from socius.platform.training.weights import WeightsHandle, state_digest
from socius.platform.types import Care, GenerationRecord, MatchResult, RoundStats, TicketBatch
from socius.policies.checkpoint import load_module, save_checkpoint
from socius.policies.network import NetConfig, SociusNet
from socius.policies.rollout import RolloutSettings
from socius.policies.trainer import (
    PPOSettings,
    build_learner_group,
    learner_states,
    set_learner_state,
)

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
                care = Care(draw(population.care_team, population.care_spread),
                            draw(population.care_others, population.care_spread))
                member = Member(f"{role.value}_{counts[role]}", population.name, role, care=care)
                counts[role] += 1
                state.members[member.id] = member
    return state


def league_scenarios(config: LeagueConfig) -> list[Scenario]:
    """The curriculum: named classics when the config lists them (plus `also_sample` sampled
    scenarios), else a sample of the space."""
    sc = config.scenarios

    def sample(count: int) -> list[Scenario]:
        space = ScenarioSpace(
            split=sc.split, families=tuple(sc.families) if sc.families else None,
            min_players=sc.min_players, max_players=sc.max_players,
            p_fixed_horizon=sc.p_fixed_horizon, horizon_range=sc.horizon_range,
            continuation_range=sc.continuation_range, max_steps=sc.max_steps)
        return [space.sample(sc.seed + k) for k in range(count)]

    if not sc.classics:
        return sample(sc.count)
    if sc.classic_continuation is not None:
        classics = [classic(name, horizon=None, continuation=sc.classic_continuation,
                            max_steps=sc.max_steps) for name in sc.classics]
    else:
        classics = [classic(name, horizon=sc.classic_horizon) for name in sc.classics]
    return classics + (sample(sc.also_sample) if sc.also_sample else [])


def league_net_config(config: LeagueConfig, scenarios: list[Scenario] | None = None
                      ) -> NetConfig:
    """The network every member of the league has: seats for the largest of its scenarios
    (`scenarios`, default the curriculum) or `scenarios.max_players`, whichever is more."""
    scenarios = league_scenarios(config) if scenarios is None else scenarios
    seats = max(config.scenarios.max_players, *(s.n_players for s in scenarios))
    return NetConfig(max_players=seats, core=config.core, tom_to_policy=config.tom_to_policy)


def ppo_settings(config: LeagueConfig) -> PPOSettings:
    """The learners' PPO from the `ppo` section (a constant entropy bonus)."""
    ppo = config.ppo
    return PPOSettings(lr=ppo.lr, clip=ppo.clip, entropy_start=ppo.entropy,
                       entropy_end=ppo.entropy, epochs=ppo.epochs, minibatches=ppo.minibatches,
                       tom_weight=ppo.tom_weight)


def rollout_settings(config: LeagueConfig) -> RolloutSettings:
    """How runners turn play into training data: `ppo`'s discount and GAE lambda, `rollout`'s
    exploration and reward scale."""
    return RolloutSettings(gamma=config.ppo.gamma, lam=config.ppo.lambda_,
                           reward_scale=config.rollout.reward_scale,
                           explore_prob=config.rollout.explore_prob)


def matchmaking_rules(config: LeagueConfig) -> MatchmakingRules:
    return MatchmakingRules(**config.matchmaking.model_dump(exclude={"match_episodes"}))


def snapshot_rules(config: LeagueConfig) -> SnapshotRules:
    every = config.snapshots.every_steps
    return SnapshotRules(min_steps=max(1, every // 10), **config.snapshots.model_dump())


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
            "seed": config.seed, "config": config.as_json(),
            "created_unix": time.time()}


# (state, every member's weights, the generation's match results)
OnGeneration = Callable[[LeagueState, dict[str, dict[str, np.ndarray]], list[MatchResult]],
                        None]
# the record of each finished generation, as it finishes (progress displays)
OnRecord = Callable[[GenerationRecord], None]


def run_league(config: LeagueConfig, run_dir: str | Path, log: Callable[[str], None] = print,
               on_generation: OnGeneration | None = None,
               on_record: OnRecord | None = None) -> LeagueState:
    """Run the configured league to its last generation under `run_dir` (created here).
    `on_generation(state, weights, results)`, if given, sees the state, every member's weights
    and the generation's match results after each generation is saved (for measurements);
    `on_record(record)` each generation's record (instead of a log line)."""
    run = RunFolder.create(run_dir)
    run.write(RunFolder.MANIFEST, manifest(config))
    return _supervise(config, run, log, on_generation, on_record)


def resume_league(run_dir: str | Path, log: Callable[[str], None] = print,
                  on_record: OnRecord | None = None) -> LeagueState:
    """Continue a stopped run from its last saved generation (members, weights, ratings,
    lineage and the matchmaker's random state as saved); refuses other socius versions."""
    run = RunFolder(run_dir)
    config, state, _ = load_saved(run)
    log(f"resuming {run.path} after generation {state.generation}")
    return _supervise(config, run, log, None, on_record)


# An actor's process died (killed, out of memory, its node gone): the run starts again from
# its last saved generation. Errors raised by the code inside an actor stop the run instead.
ACTOR_LOST = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError,
              ray.exceptions.ObjectLostError, ray.exceptions.OwnerDiedError)


def _supervise(config: LeagueConfig, run: RunFolder, log: Callable[[str], None],
               on_generation: OnGeneration | None, on_record: OnRecord | None) -> LeagueState:
    """Run from the last saved generation (or the start); when an actor dies, close the rest
    and start again from the last saved generation — at most `faults.max_restarts` times, as
    Ray Train's FailureConfig does — then stop, printing the resume command."""
    restarts, max_restarts = 0, config.faults.max_restarts
    while True:
        if run.has_saved_generation():
            _, state, rng_state = load_saved(run)
            resumed_after = state.generation
        else:  # nothing saved yet: from the start (the lake drops what was written)
            torch.manual_seed(config.seed)
            state, rng_state = initial_state(config), None
            resumed_after = None if restarts == 0 else -1
        if state.tickets.in_flight:
            log(f"{len(state.tickets.in_flight)} matches in flight when the run stopped are "
                f"cancelled ({RESUMED})")
        try:
            league = LeagueRun(config, run, state, rng_state, resumed_after, restarts)
        except ValueError as exc:  # e.g. the node that offered the runners' resources is gone
            if restarts:
                log(f"stopped: {exc}; the run folder holds the last saved generation; continue "
                    f"with `socius league resume {run.path}` once the cluster can place it")
            raise
        try:
            return league.run_generations(first_generation=state.generation + 1 if rng_state else 0,
                              log=log, on_generation=on_generation, on_record=on_record)
        except ACTOR_LOST as exc:
            cause = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
            if restarts >= max_restarts:
                log(f"stopped after {restarts} restarts: {cause}; the run folder holds the last "
                    f"saved generation; continue with `socius league resume {run.path}`")
                raise
            restarts += 1
            log(f"restart {restarts} of at most {max_restarts}: {cause}; starting again "
                "from the last saved generation")


def load_saved(run: RunFolder) -> tuple[LeagueConfig, LeagueState, dict[str, Any]]:
    """A run folder's config, saved league state and matchmaker's random state; a
    RunFolderError naming the file when they are missing, damaged or from another socius
    version."""
    saved_manifest, saved = run.manifest(), run.saved()
    where = run.file(RunFolder.MANIFEST)
    if saved_manifest.get("state_format") != 1 or saved_manifest.get(
            "socius_version") != socius.__version__:
        raise RunFolderError(
            f"{where}: written by socius {saved_manifest.get('socius_version')!r} (state format "
            f"{saved_manifest.get('state_format')!r}); this socius {socius.__version__} resumes "
            "only its own runs (state format 1)")
    try:
        config = LeagueConfig(**saved_manifest["config"])
    except (KeyError, TypeError) as exc:
        raise RunFolderError(f"{where}: damaged (no config: {exc}); restore it from a backup, "
                             "or start a new run") from None
    except ValidationError as exc:
        raise RunFolderError(f"{where}: its config is not valid ({describe_errors(exc)}); "
                             "restore it from a backup, or start a new run") from None
    rng = saved.get("rng")
    if not isinstance(rng, dict):
        raise RunFolderError(f"{run.file(RunFolder.STATE)}: damaged (no generator state); "
                             "restore it from a backup, or start a new run")
    return config, saved_state(run, saved), rng


class LeagueRun:
    """The live parts of a league run — the league actor, learners, runners, lake writer,
    mirror — and the stages of a generation that use them (`play_generation` calls them)."""

    def __init__(self, config: LeagueConfig, run: RunFolder, state: LeagueState,
                 rng_state: dict[str, Any] | None, resumed_after: int | None = None,
                 restarts: int = 0):
        """`resumed_after`: the last saved generation when the run starts again (-1: none was
        saved), so the lake drops what came after it; `restarts` so far, for the record."""
        torch.set_num_threads(1)
        self.config, self.folder, self.restarts, self.state = config, run, restarts, state
        rollout = config.rollout
        scenarios = league_scenarios(config)
        self.net_config = league_net_config(config, scenarios)
        start = _starting_weights(config.init_from, self.net_config) if config.init_from else None
        self.ppo = ppo_settings(config)
        self.learning = sorted(m.id for m in state.learners())
        self.guard = DivergenceGuard(config.faults.max_abs_weight,
                                     config.faults.divergence_strikes, config.ppo.lr)
        placement, cluster = config.placement, ray.cluster_resources()
        # before any actor waits for what cannot come
        place.check_feasible(placement, cluster, rollout.runners)
        device = place.runner_device(placement, self.net_config.max_players,
                                     {g.family for s in scenarios for g in s.games})
        self.group = build_learner_group(
            self.net_config, self.ppo, total_steps=10**9, module_ids=tuple(self.learning),
            num_learners=placement.learners,
            gpus_per_learner=place.learner_gpus(placement, cluster) if placement.learners else None,
            resources_per_learner=placement.learner_resources,
            nan_checks=False)  # the divergence guard below keeps diverged weights out
        self.runners = [RunnerActor.options(**place.runner_options(placement)).remote(
            self.net_config, rollout.steps_per_round, rollout=rollout_settings(config),
            seed=config.seed + i, record=config.data.store, run_id=run.name, device=device,
            slots=rollout.slots) for i in range(rollout.runners)]
        # every runner starts with all its slots free; matches then run across rounds
        self.free_slots = [rollout.slots] * rollout.runners
        state_options = place.state_options(placement)  # league actor and writer: the head
        self.mirror = None
        if config.tracking.mirror:
            from socius.platform.registry import BackgroundMirror, Mirror

            self.mirror = BackgroundMirror(Mirror(run.path, config.tracking.uri))
        self.writer, self._pending = None, []
        if config.data.store:  # resumed runs first drop what a crashed generation left behind
            self.writer = LakeWriterActor.options(**state_options).remote(
                run.lake, run.name, drop_after=resumed_after,
                **config.data.model_dump(exclude={"store"}))
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
        self.evolution = evolution = None if config.evolution is None else EvolutionRules(
            **config.evolution.model_dump(exclude={"fitness"}))
        self.league = LeagueActor.options(**state_options).remote(
            state, scenarios, matchmaking_rules(config), snapshot_rules(config), rng_state,
            seed=config.seed,
            initial_digests={m: state_digest(w) for m, w in self.initial.items()},
            evolution=evolution,
            fitness_kind=config.evolution.fitness if config.evolution else "own",
            match_episodes=config.matchmaking.match_episodes)
        minibatch = max(1, rollout.slots * rollout.steps_per_round // config.ppo.minibatches)
        self.loop = RoundLoop(self.group, self.runners, self.ppo, minibatch, self.learning,
                              self.frozen, self.guard)
        self.scenario_count = len(scenarios)
        # snapshots whose evaluation is in history.jsonl (a restart evaluates the rest again)
        self.evaluated = {m for record in run.history() for m in (record.get("eval") or {})
                          .get("members", {}) if m in state.members and
                          not state.members[m].trainable}
        self.metrics = LeagueMetrics(run.name)
        run.write(RunFolder.CLUSTER, place.cluster_record(self._actor_nodes()))

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
        for member_id in self.learning:
            self.initial[member_id] = _numpy_state(load_module(self.folder.checkpoint(
                f"{member_id}@init")))
            set_learner_state(self.group, member_id,
                              _numpy_state(load_module(self.folder.checkpoint(member_id))))
        for member in state.members.values():
            if not member.trainable:
                weights = _numpy_state(load_module(self.folder.checkpoint(member.id)))
                self.frozen[member.id] = WeightsHandle(state_digest(weights), ray.put(weights))

    def run_generations(self, first_generation: int, log: Callable[[str], None],
                        on_generation: OnGeneration | None = None,
                        on_record: OnRecord | None = None) -> LeagueState:
        """The generations from `first_generation` to the last; closes the run's actors."""
        config = self.config
        if first_generation == 0:
            for member_id, weights in self.initial.items():
                self._save(member_id, weights, f"{member_id}@init", self.state)
        log(f"league {config.name!r}: {len(self.learning)} learning members, "
            f"{self.scenario_count} scenarios, {config.rollout.runners} runner(s) -> "
            f"{self.folder.path}")
        try:
            for generation in range(first_generation, config.generations):
                self.generation = generation
                record, played = play_generation(self, generation)
                if on_generation is not None:
                    on_generation(self.state, self._all_weights(), played.match_results)
                if on_record is not None:
                    on_record(record)
                else:
                    log(generation_line(record))
        except KeyboardInterrupt:
            log(f"stopped: the run folder holds the last finished generation; continue with "
                f"`socius league resume {self.folder.path}`")
        finally:
            self._close(log)
        return saved_state(self.folder) if self.folder.has_saved_generation() else self.state

    # --- the stages of a generation (play_generation calls them in order) ------------------
    def care(self) -> dict[str, Care]:
        """Each learning member's care, as the last saved generation left it."""
        return {m.id: m.care for m in self.state.learners()}

    def store_tickets(self, plan: list[TicketBatch]) -> None:
        self._store("matches", matches_table([t for b in plan for t in b.tickets()],
                                             self.folder.name, self.generation))

    def store_steps(self, stats: list[RoundStats]) -> None:
        for s in stats:
            if s.steps is not None:
                self._store("steps", s.steps)

    def store_results(self, results: list[MatchResult]) -> None:
        self._store("episodes", episodes_table(results, self.folder.name, self.generation))
        self._store("matches", outcomes_table({r.match_id: r.family for r in results},
                                              "finished", self.folder.name, self.generation))

    def evolve(self, last: bool, scores: dict[str, float] | None = None
               ) -> tuple[GenerationOrders, dict[str, dict[str, np.ndarray]]]:
        """Snapshots, resets and evolution copies as the league actor orders them (`scores`:
        fitness `eval`'s), applied to the learners; matches of members whose weights are reset
        or replaced are cancelled (all matches after the `last` generation). Returns the orders
        and the weights to save, by checkpoint name (learners and new snapshots)."""
        weights = learner_states(self.group, self.learning)
        orders = ray.get(self.league.close_generation.remote(
            {m: state_digest(w) for m, w in weights.items()}, scores))
        replaced = {o.member for o in orders.snapshots if o.reset} | {
            c.child for c in orders.copies}
        if last:
            self._cancel(None, RUN_FINISHED)
        elif replaced:
            self._cancel(replaced, MEMBER_RESET)
        for order in orders.snapshots:
            weights[order.snapshot] = weights[order.member]
            self.frozen[order.snapshot] = WeightsHandle(state_digest(weights[order.member]),
                                                        ray.put(weights[order.member]))
            if order.reset:
                weights[order.member] = self.initial[order.member]
                set_learner_state(self.group, order.member, weights[order.member])
        for copy in orders.copies:  # the child's optimizer state stays its own
            weights[copy.child] = {k: v.copy() for k, v in weights[copy.parent].items()}
            set_learner_state(self.group, copy.child, weights[copy.child])
        self.loop.publish()  # the next generation's runners see resets, copies, snapshots
        return orders, weights

    def checkpoint(self, orders: GenerationOrders, weights: dict[str, dict[str, np.ndarray]]
                   ) -> tuple[LeagueState, dict[str, Any]]:
        """Learners and new snapshots saved, the lake's writes confirmed; returns the state
        and what league.json is to hold (written last, by `register`, so it never names a
        missing file or rows the lake does not list)."""
        saved = ray.get(self.league.saved.remote())
        self.state = LeagueState.from_dict(saved["league"])
        for order in orders.snapshots:
            self._save(order.member, weights[order.snapshot], order.snapshot, self.state,
                       parent=order.member)
        for member_id in self.learning:
            self._save(member_id, weights[member_id], member_id, self.state)
        self._confirm_writes()
        return self.state, saved

    def fitness_scores(self, generation: int) -> dict[str, float] | None:
        """For `evolution.fitness: eval`, when evolution is due: the learners of every group
        that evolves (two or more of one population and role) evaluated on the `eval` suite
        now, scored by `eval.score` (None otherwise). Not stored: the run's
        evaluation stage records the learners after the copies."""
        if self.evolution is None or self.config.evolution.fitness != "eval" or \
                not self.evolution.due(generation):
            return None
        from socius.platform.eval.evaluate import inputs_of
        from socius.platform.eval.suites import load_suite

        selected = [m.id for group in selection_groups(self.state.members).values()
                    if len(group) > 1 for m in group]  # a group of one has no one to copy
        if not selected:
            return {}
        weights = learner_states(self.group, selected)
        suite, score = load_suite(self.config.eval.suite), self.config.eval.score
        # only what the score reads: the same figure for less play (`inputs_of`)
        partners, references = inputs_of(score, list(self.config.eval.partners or
                                                     suite.partners))
        if not references:
            suite = replace(suite, references=())
        report = self._evaluate(weights, suite, partners)
        return {m: float(summary.get(score, float("nan")))
                for m, summary in report.summary.items()}

    def evaluate(self, generation: int, weights: dict[str, dict[str, np.ndarray]]
                 ) -> dict[str, Any] | None:
        """When due (`eval.every_generations`, and the last generation): the learners and every
        snapshot not evaluated yet, on the `eval` suite against the zoo; rows into the lake's
        `evals` table; returns the summary for history.jsonl (None when not due)."""
        cfg = self.config.eval
        if cfg is None or ((generation + 1) % cfg.every_generations and
                           generation != self.config.generations - 1):
            return None
        from socius.platform.data.writer import evals_table
        from socius.platform.eval.suites import load_suite

        suite = load_suite(cfg.suite)
        members = {m: w for m, w in weights.items() if m in self.state.members}
        for member in self.state.members.values():  # snapshots of earlier generations
            if not member.trainable and member.id not in self.evaluated | set(members):
                members[member.id] = ray.get(self.frozen[member.id].source)
        report = self._evaluate(members, suite)
        self.evaluated |= {m for m in members if not self.state.members[m].trainable}
        self._store("evals", evals_table([asdict(c) for c in report.cells], self.folder.name,
                                         generation, suite.name, suite.hash))
        return {"suite": suite.name, "suite_hash": suite.hash, "seconds": report.seconds,
                "members": {m: {k: round(v, 4) if math.isfinite(v) else None  # JSON: no NaN
                                for k, v in summary.items()}
                            for m, summary in report.summary.items()}}

    def _evaluate(self, members: dict[str, dict[str, np.ndarray]], suite,
                  partners: list[str] | None = None) -> Any:
        """`members` (id -> weights) on `suite` against the zoo (`partners`, default
        `eval.partners`)."""
        from socius.platform.eval.evaluate import evaluate
        from socius.platform.eval.play import Player

        cfg = self.config.eval
        players = []
        for member_id, state in sorted(members.items()):
            players.append(Player(member_id, net=SociusNet.from_weights(self.net_config, state)))
        if partners is None:
            partners = list(cfg.partners) if cfg.partners else None
        return evaluate(players, suite, partners=partners, cross_play=False,
                        episodes=cfg.episodes)

    def register(self, record: GenerationRecord, saved: dict[str, Any]) -> None:
        """History first, then league.json: written last, it declares the generation saved (a
        replayed generation's history line replaces this one); then the lake's generation
        end, the MLflow mirror (every generation history.jsonl holds) and the live metrics."""
        self.folder.append_history(record.as_dict())
        self.folder.write(RunFolder.STATE, saved)
        if self.writer is not None:
            self._pending.append(self.writer.end_generation.remote(record.generation))
        if self.mirror is not None:
            self.mirror.request()
        self.metrics.record(record)

    def books(self, state: LeagueState) -> dict[str, Any]:
        """The league's ticket books, checked against the matches the runners hold."""
        books = state.tickets.counts()
        books["runner_in_flight"] = sum(self.config.rollout.slots - free
                                        for free in self.free_slots)
        books["balanced"] = books["balanced"] and books["runner_in_flight"] == books["in_flight"]
        return books

    # --- the rest --------------------------------------------------------------------------
    def _all_weights(self) -> dict[str, dict[str, np.ndarray]]:
        return {**{m: ray.get(h.source) for m, h in self.frozen.items()},
                **learner_states(self.group, self.learning)}

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
            self._store("matches", outcomes_table(matches, "cancelled", self.folder.name,
                                                  self.generation, reason))

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

    def _save(self, member_id: str, weights: dict[str, np.ndarray], name: str,
              state: LeagueState, parent: str | None = None) -> None:
        net = SociusNet.from_weights(self.net_config, weights)
        member = state.members[member_id]
        lineage = {"member": name, "role": member.role.value, "population": member.population,
                   "generation": state.generation}
        if parent is not None:
            lineage["parent"] = parent
        # overwriting is safe: a name is only reused when a crashed generation is played again
        save_checkpoint(net, self.folder.checkpoint(name), overwrite=True, lineage=lineage)



def generation_line(record: GenerationRecord) -> str:
    """One log line per generation: throughput, matches, members, the leaders."""
    top = ", ".join(f"{m} {r:.1f}" for m, r in sorted(record.ratings.items(),
                                                        key=lambda kv: -kv[1])[:4])
    return (f"generation {record.generation}: {record.throughput['trained']:,.0f} agent-steps/s "
            f"trained, {record.episodes} matches finished, {record.members} members; "
            f"top: {top}")


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
        care = f"{m.care.team:.2f}/{m.care.others:.2f}"
        rows.append(f"{m.id:<32}{m.role.value:<18}{m.population:<12}{str(m.trainable):<10}"
                    f"{rating}{coop}{care:>12}")
    return "\n".join(rows)
