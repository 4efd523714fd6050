"""League configuration: pydantic models that reject unknown keys, loaded from YAML, with
dotted `--set key=value` overrides and named profiles (`smoke`, `default`).

Bad configuration fails here, before any actor starts, with a message naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socius.envs.families import FAMILIES, MAX_PLAYERS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationConfig(Strict):
    """One population and how many members of each role it starts with."""

    name: str = Field(description="population name (members keep it for life)")
    main: int = Field(1, ge=0, description="main agents")
    main_exploiter: int = Field(0, ge=0, description="main exploiters")
    league_exploiter: int = Field(0, ge=0, description="league exploiters")
    care_team: float = Field(0.0, ge=-1, le=1, description="members' starting care for their "
                             "teammates' rewards (negative: spite)")
    care_others: float = Field(0.0, ge=-1, le=1, description="members' starting care for "
                               "everyone else's rewards")
    care_spread: float = Field(0.0, ge=0, le=1, description="starting care drawn uniformly "
                               "within plus or minus this of the values above (clipped to "
                               "[-1, 1]), so selection has variety to work on")


class ScenarioConfig(Strict):
    """Where the league's scenarios come from: a sample of the space's `train` split."""

    split: Literal["train", "all"] = Field("train", description="scenario split to sample")
    families: list[str] | None = Field(None, description="None: every family of the split")
    count: int = Field(32, ge=1, description="scenarios sampled for the curriculum")
    min_players: int = Field(2, ge=2, le=MAX_PLAYERS, description="fewest players")
    max_players: int = Field(4, ge=2, le=MAX_PLAYERS,
                             description="most players; also the network's seat capacity")
    p_fixed_horizon: float = Field(0.5, ge=0, le=1,
                                   description="share of scenarios with a fixed horizon")
    horizon_range: tuple[int, int] = Field((5, 40), description="fixed horizons drawn from")
    continuation_range: tuple[float, float] = Field(
        (0.8, 0.97), description="continuation probabilities drawn from")
    max_steps: int = Field(200, ge=1, description="cap on continuation episodes")
    seed: int = Field(0, description="seed of the scenario sample")
    classics: list[str] | None = Field(
        None, description="named classics (`socius scenarios classics`) instead of a sample")
    classic_horizon: int = Field(10, ge=1, description="fixed horizon of the named classics")
    classic_continuation: float | None = Field(
        None, gt=0, lt=1, description="if set, the classics continue with this probability "
        "each step instead (horizon unobserved, capped at `max_steps`)")
    also_sample: int = Field(
        0, ge=0, description="with `classics`: this many scenarios sampled from the split as "
        "well (`families`, players, horizons and `seed` as for a sample), so the curriculum "
        "holds both; 0: the classics only")

    @model_validator(mode="after")
    def _check(self) -> ScenarioConfig:
        if self.min_players > self.max_players:
            raise ValueError(f"min_players ({self.min_players}) > max_players ({self.max_players})")
        for name in self.families or []:
            if name not in FAMILIES:
                raise ValueError(f"unknown family {name!r} (known: {sorted(FAMILIES)})")
        if self.classics is not None:
            from socius.envs import classic_names

            for name in self.classics:
                if name not in classic_names():
                    raise ValueError(f"unknown classic {name!r} (known: {classic_names()})")
            if not self.classics:
                raise ValueError("classics: name at least one, or leave it out to sample")
        elif self.also_sample:
            raise ValueError(f"also_sample ({self.also_sample}) adds a sample to `classics`; "
                             "without classics use `count`")
        return self


class EvolutionConfig(Strict):
    """Exploit/explore within each population and role (off unless the section is given)."""

    every_generations: int = Field(2, ge=1, description="generations between evolution steps")
    fitness: Literal["own", "team", "welfare", "rating", "eval"] = Field(
        "own", description="what selection rewards: own return, team return, group welfare "
        "(everyone's mean return in the member's matches), team rating (openskill ordinal) "
        "or `eval` (the learners evaluated on the `eval` suite before each selection, ranked "
        "by `eval.score`; needs an `eval` section)")
    bottom_fraction: float = Field(0.25, ge=0, le=1, description="share that copies others")
    top_fraction: float = Field(0.25, ge=0, le=1, description="share that is copied")
    resample_prob: float = Field(0.2, ge=0, le=1,
                                 description="chance a copied value is resampled, not perturbed")
    care_step: float = Field(0.1, ge=0, description="care perturbation (plus or minus)")
    care_bounds: tuple[float, float] = Field((0.0, 1.0), description="care stays within")


class DataConfig(Strict):
    """The run's rollout lake (`<run>/lake/`): what is stored and for how long."""

    store: bool = Field(True, description="store rollouts (steps, episodes, matches)")
    fraction: float = Field(1.0, gt=0, le=1, description="share of matches stored (by a hash "
                            "of the match id: all of a match or none of it)")
    compact: bool = Field(True, description="compact each generation to Parquet (zstd)")
    keep_generations: int | None = Field(None, ge=1,
                                         description="keep only the last K generations")
    max_bytes: int | None = Field(None, ge=1, description="drop the oldest shards above this")
    fsync: bool = Field(True, description="fsync every hot shard (survives power loss); "
                        "false: survives process crashes only, 1.5-4x faster writes here")


class TrackingConfig(Strict):
    """The MLflow mirror of the run folder (runs, metrics, registered snapshots)."""

    mirror: bool = Field(True, description="mirror the run into MLflow in the background")
    uri: str | None = Field(None, description="tracking URI (default: MLFLOW_TRACKING_URI, "
                            "else sqlite:///<run>/mlflow.db)")
    champion_by: Literal["rating", "eval"] = Field(
        "rating", description="the registry's `champion` alias of a main agent: its snapshot "
        "with the best rating, or with the best `eval.score` on the `eval` suite (needs an "
        "`eval` section; snapshots not evaluated yet are passed over)")


EvalScore = Literal["normalised_zoo", "conditional_cooperation", "reciprocity", "efficiency",
                    "cooperation"]


class EvalConfig(Strict):
    """Evaluation during the run (off unless the section is given): the learning members and
    every snapshot not evaluated yet, on a suite against the partner zoo (`socius eval`)."""

    every_generations: int = Field(2, ge=1, description="generations between evaluations "
                                   "(the last generation is always evaluated)")
    suite: str = Field("heldout", description="heldout, heldout_wide, dilemmas, classics or "
                       "zero_sum")
    partners: tuple[str, ...] | None = Field(None, description="zoo strategies (default: the "
                                             "suite's)")
    episodes: int | None = Field(None, ge=1, description="episodes per (scenario, partner) "
                                 "cell (default: the suite's)")
    score: EvalScore = Field("normalised_zoo", description="the measure that ranks evaluated "
                             "snapshots (`tracking.champion_by: eval`): the normalised score "
                             "with the zoo rewards exploiting the zoo's cooperators too; "
                             "conditional cooperation rewards reciprocity (0 for any policy "
                             "that ignores its partner); `reciprocity` (cooperation with "
                             "reciprocators times 1 - cooperation with always-defect) too, and "
                             "among policies that ignore their partner it prefers cooperating "
                             "half the time to never")

    @model_validator(mode="after")
    def _check(self) -> EvalConfig:
        from socius.platform.eval.suites import ZOO, load_suite

        load_suite(self.suite)  # a SuiteError (a ValueError) names the known suites
        for name in self.partners or ():
            if name not in ZOO:
                raise ValueError(f"partners: {name!r} is not in the zoo ({', '.join(ZOO)})")
        return self


class PlacementConfig(Strict):
    """Where the league's actors run on a Ray cluster. The defaults fit one machine."""

    league_on_head: bool = Field(True, description="pin the league actor and the lake writer to "
                                 "the head node (they hold the run's state and write its files)")
    runner_cpus: float = Field(1.0, gt=0, description="CPUs each runner actor reserves")
    runner_gpus: float = Field(0.0, ge=0, description="GPUs each runner reserves (their "
                               "engines and nets then run on them: `runner_device`)")
    runner_device: Literal["numpy", "cpu", "cuda"] | None = Field(
        None, description="where runners play: numpy (the numpy engine, nets on the CPU), or "
        "the torch path on cpu or cuda (engine, nets and sampling as tensors there; leagues of "
        "at most 4 seats without common-pool games); default: cuda when runner_gpus > 0, else "
        "numpy")
    runner_resources: dict[str, float] = Field(
        default_factory=dict, description="custom Ray resources each runner needs, e.g. "
        "{socius_runner: 1} to keep runners on the CPU workers that advertise it")
    learners: int = Field(0, ge=0, description="remote learner actors (0: the learner runs in "
                          "the driver process)")
    learner_gpus: float | None = Field(None, ge=0, description="GPUs per remote learner (None: "
                                       "1 when the cluster has GPUs, else 0)")
    learner_resources: dict[str, float] = Field(
        default_factory=dict, description="custom Ray resources each remote learner needs")

    @model_validator(mode="after")
    def _check(self) -> PlacementConfig:
        if self.runner_device == "cuda" and self.runner_gpus <= 0:
            raise ValueError("placement.runner_device: cuda needs placement.runner_gpus > 0 "
                             "(a runner sees no GPU it has not reserved)")
        for key, amount in {**self.runner_resources, **self.learner_resources}.items():
            if amount <= 0 or key in ("CPU", "GPU", "memory"):
                raise ValueError(f"placement: resource {key!r}: {amount} (custom resources need "
                                 "a positive amount; set CPUs and GPUs with their own keys)")
        return self


class PPOConfig(Strict):
    """PPO, the same for every learner of the league (RLlib's LearnerGroup trains them all)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    lr: float = Field(1e-3, gt=0, description="learning rate")
    entropy: float = Field(0.01, ge=0, description="entropy bonus coefficient")
    epochs: int = Field(4, ge=1, description="epochs over each round's batch")
    minibatches: int = Field(4, ge=1, description="minibatches per epoch")
    gamma: float = Field(0.99, gt=0, le=1, description="discount")
    lambda_: float = Field(0.95, ge=0, le=1, alias="lambda", description="GAE lambda")
    clip: float = Field(0.2, gt=0, description="ratio clipping")
    tom_weight: float = Field(0.5, ge=0, description="weight of the theory-of-mind loss "
                              "(predicting the other seats' actions)")


class RolloutConfig(Strict):
    """How the runners play: how many, how many matches each keeps in play, how long a round
    is, and how experience becomes training data."""

    runners: int = Field(1, ge=1, description="runner actors")
    slots: int = Field(64, ge=1, description="matches each runner keeps in play (its engine "
                       "slots); a slot takes a new ticket when its match ends")
    steps_per_round: int = Field(16, ge=1, description="steps of every match in play per "
                                 "round (a unit of learning: matches run on across rounds)")
    rounds_per_generation: int = Field(12, ge=1, description="sample/learn rounds per "
                                       "generation")
    explore_prob: float = Field(0.2, ge=0, le=1, description="share of a learning seat's "
                                "episodes played with uniformly random actions (they train the "
                                "theory-of-mind head only)")
    reward_scale: float = Field(0.1, gt=0, description="rewards are multiplied by this before "
                                "GAE (returns near 40 would saturate gradient clipping)")


class MatchmakingConfig(Strict):
    """Who plays with and against whom (the matchmaker's rules)."""

    main_opponents: Literal["pfsp", "uniform", "nash"] = Field(
        "pfsp", description="how main agents draw league opponents: PFSP, uniformly, or from "
        "the Nash mixture of the empirical meta-game")
    weighting: Literal["squared", "variance", "linear", "linear_capped"] = Field(
        "squared", description="PFSP weighting of main agents and league exploiters")
    main_self_play: float = Field(0.35, ge=0, le=1, description="share of a main agent's "
                                  "matches against itself")
    main_scripted: float = Field(0.15, ge=0, le=1, description="share of a main agent's "
                                 "matches against the scripted background")
    scripted: tuple[str, ...] = Field(
        ("tit_for_tat", "uniform_random"),
        description="scripted background population (always_defect is never out-scored in a "
        "social dilemma, so these bare defaults leave it out of the ratings; the profile "
        "`default` and the generalist keep it: reciprocity is not learned without a defector)")
    curriculum: Literal["uniform", "learning_progress"] = Field(
        "uniform", description="how scenarios are drawn: uniformly, or by learning progress "
        "(gap between fast and slow moving averages of the learners' return per scenario)")
    match_episodes: int = Field(1, ge=1, description="episodes of its scenario each match "
                                "lasts")

    @model_validator(mode="after")
    def _check(self) -> MatchmakingConfig:
        from socius.policies.scripted import PARTNERS

        for name in self.scripted:
            if name not in PARTNERS or name == "fixed_mixed":
                raise ValueError(f"scripted: {name!r} is not a background partner (known: "
                                 f"{sorted(set(PARTNERS) - {'fixed_mixed'})})")
        if self.main_self_play + self.main_scripted > 1:
            raise ValueError(f"main_self_play + main_scripted: {self.main_self_play} + "
                             f"{self.main_scripted} > 1")
        return self


class SnapshotsConfig(Strict):
    """When learners are frozen into snapshots and exploiters restart."""

    every_steps: int = Field(10_000, ge=1, description="agent-steps trained between snapshots "
                             "of a member (exploiters: earlier once they beat their targets, "
                             "after a tenth of this)")
    exploiter_win_rate: float = Field(0.7, ge=0, le=1, description="win rate against its "
                                      "targets at which an exploiter is snapshotted early")
    league_exploiter_reset_prob: float = Field(0.25, ge=0, le=1, description="chance a league "
                                               "exploiter restarts after a snapshot (main "
                                               "exploiters always do, mains never)")


class FaultsConfig(Strict):
    """What the run survives, and when it stops instead."""

    max_restarts: int = Field(3, ge=0, description="times the run starts again from its last "
                              "saved generation when an actor dies (runner, lake writer, league "
                              "actor, remote learner); then it stops with the resume command")
    max_abs_weight: float = Field(1e4, gt=0, description="a learner whose weights go above this "
                                  "(or non-finite) keeps its last good weights for the round")
    divergence_strikes: int = Field(3, ge=1, le=10, description="rounds with a diverged "
                                    "learner, among the last 10, that stop the run (lower "
                                    "ppo.lr)")


# Keys of the flat config of socius <= 0.4 and where each lives now.
MOVED_KEYS = {
    "lr": "ppo.lr", "entropy": "ppo.entropy", "epochs": "ppo.epochs",
    "minibatches": "ppo.minibatches", "runners": "rollout.runners",
    "tickets_per_round": "rollout.slots", "steps_per_round": "rollout.steps_per_round",
    "rounds_per_generation": "rollout.rounds_per_generation",
    "pfsp_weighting": "matchmaking.weighting", "main_opponents": "matchmaking.main_opponents",
    "curriculum": "matchmaking.curriculum", "scripted": "matchmaking.scripted",
    "match_episodes": "matchmaking.match_episodes",
    "snapshot_every_steps": "snapshots.every_steps", "max_restarts": "faults.max_restarts",
    "max_abs_weight": "faults.max_abs_weight",
    "divergence_strikes": "faults.divergence_strikes",
}


class LeagueConfig(Strict):
    """A whole league run: what it is, who is in it, what they play; the rest in sections."""

    name: str = Field("league", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                      description="run name (the run folder starts with it): letters, digits, "
                      "'_', '.', '-', at most 64, not starting with '.' or '-'")
    seed: int = Field(0, description="seed of matchmaking and initial weights")
    generations: int = Field(10, ge=1, description="generations to run")
    populations: list[PopulationConfig] = Field(
        default_factory=lambda: [PopulationConfig(name="red"), PopulationConfig(name="blue")],
        description="populations and their members by role")
    scenarios: ScenarioConfig = Field(default_factory=ScenarioConfig,
                                      description="the scenario curriculum")
    core: Literal["gru", "mlp"] = Field("gru", description="network core")
    tom_to_policy: bool = Field(False, description="the theory-of-mind head's predictions of "
                                "the other seats' actions are an input of the policy (else "
                                "the head only shapes the core through its loss)")
    init_from: str | None = Field(
        None, description="socius checkpoint folder every learner starts from (and exploiters "
        "reset to); its network must match `core` and the scenarios' seat count")
    runs_dir: str = Field("runs", description="folder that holds run folders (on a cluster: "
                          "an absolute path on storage every node shares)")
    ppo: PPOConfig = Field(default_factory=PPOConfig, description="PPO")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig,
                                   description="runners, rounds, exploration")
    matchmaking: MatchmakingConfig = Field(default_factory=MatchmakingConfig,
                                           description="who plays whom")
    snapshots: SnapshotsConfig = Field(default_factory=SnapshotsConfig,
                                       description="snapshots and exploiter resets")
    evolution: EvolutionConfig | None = Field(
        None, description="exploit/explore of learners' weights and care (None: off)")
    data: DataConfig = Field(default_factory=DataConfig, description="the rollout lake")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig,
                                     description="the MLflow mirror")
    placement: PlacementConfig = Field(default_factory=PlacementConfig,
                                       description="where actors run on a cluster")
    faults: FaultsConfig = Field(default_factory=FaultsConfig,
                                 description="restarts and the divergence guard")
    eval: EvalConfig | None = Field(None, description="evaluation during the run (None: off)")

    @model_validator(mode="before")
    @classmethod
    def _refuse_old_shape(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = [f"`{key}` moved to `{MOVED_KEYS[key]}`" for key in data if key in MOVED_KEYS]
            if moved:
                raise ValueError("a config of the old, flat shape: " + "; ".join(moved))
        return data

    @model_validator(mode="after")
    def _check(self) -> LeagueConfig:
        if self.init_from is not None and not (Path(self.init_from) / "policy.json").is_file():
            raise ValueError(f"init_from: {self.init_from!r} is not a socius checkpoint folder "
                             "(no policy.json there)")
        names = [p.name for p in self.populations]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"populations need distinct names, got {names}")
        if not any(p.main + p.main_exploiter + p.league_exploiter for p in self.populations):
            raise ValueError("the league needs at least one member")
        if self.eval is not None:
            from socius.platform.eval.suites import load_suite

            seats = load_suite(self.eval.suite).max_players
            if seats > self.scenarios.max_players:
                raise ValueError(f"eval.suite: {self.eval.suite!r} has scenarios of {seats} "
                                 "players, the league's networks seat scenarios.max_players="
                                 f"{self.scenarios.max_players} (raise it, or pick a suite "
                                 "that fits)")
        if self.evolution is not None and self.evolution.fitness == "eval" and self.eval is None:
            raise ValueError("evolution.fitness: eval needs an `eval` section (the suite and "
                             "score that rank the learners)")
        if self.tracking.champion_by == "eval" and self.eval is None:
            raise ValueError("tracking.champion_by: eval needs an `eval` section (which suite "
                             "to score snapshots on)")
        if self.placement.learners > self.rollout.runners:
            raise ValueError(f"placement.learners: {self.placement.learners} remote learners "
                             f"but {self.rollout.runners} runners (each learner takes at least "
                             "one runner's batch per round)")
        return self

    def as_json(self) -> dict[str, Any]:
        """The config as the manifest stores it (and `LeagueConfig(**...)` reads back)."""
        return self.model_dump(mode="json", by_alias=True)


PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"generations": 2, "core": "mlp",
              "rollout": {"rounds_per_generation": 2, "slots": 16, "steps_per_round": 8},
              "snapshots": {"every_steps": 200},
              "scenarios": {"count": 4, "families": ["prisoners_dilemma", "public_goods"],
                            "max_players": 2, "p_fixed_horizon": 1.0, "horizon_range": [4, 8]}},
    # The league `socius league run` (and `socius submit`) starts without a config: about 40 s
    # of generations on 2 cores. What produced reciprocity in configs/generalist.yaml, at first-run
    # size: the repeated social dilemmas with unobserved horizons (continuation 0.95) and the
    # zoo's reciprocators and defectors in 90% of the main agents' matches (no unconditional
    # cooperators: beside them defecting is the easy optimum). Three populations: a main
    # either finds reciprocity or collapses to always-defect early, so three mains give a run
    # three chances (benchmarks/results/default_league_background.txt: the best main
    # reciprocates on 6 of 7 runs). League opponents are left out: at 10% of the matches they
    # cost reciprocity there. A config file starts from the bare defaults instead
    # (docs/config.md); `--profile default` puts this under it.
    "default": {
        "populations": [{"name": "red"}, {"name": "blue"}, {"name": "green"}],
        "scenarios": {"classics": ["prisoners_dilemma__textbook", "public_goods__textbook",
                                   "public_goods__four_player", "stag_hunt__textbook"],
                      "classic_continuation": 0.95, "max_steps": 200},
        "matchmaking": {"scripted": ["tit_for_tat", "generous_tit_for_tat",
                                     "win_stay_lose_shift", "grim_trigger", "tit_for_tat_noisy",
                                     "always_defect", "suspicious_tit_for_tat"],
                        "main_scripted": 0.9, "main_self_play": 0.1}},
}


def run_profile(config_path: str | Path | None, profile: str | None) -> str | None:
    """The profile a league run starts from: the one asked for; else, without a config file,
    `default` (the built-in league); else none (the file on the bare defaults)."""
    if profile is not None:
        return profile
    return "default" if config_path is None else None


class ConfigError(ValueError):
    """A league config is invalid; the message names the key."""


def _set_dotted(data: dict[str, Any], dotted: str) -> None:
    key, sep, raw = dotted.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {dotted!r}")
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; a ConfigError names the file otherwise."""
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc})") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the {what} must be a mapping")
    return loaded


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` over `base`, section by section (a profile's `rollout` keys survive a file
    that sets other `rollout` keys)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                profile: str | None = None) -> LeagueConfig:
    """Profile, then the YAML file, then `--set` overrides; one ConfigError names what is wrong."""
    data: dict[str, Any] = {}
    if profile is not None:
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r} (known: {sorted(PROFILES)})")
        data = yaml.safe_load(yaml.safe_dump(PROFILES[profile]))
    if path is not None:
        data = _merged(data, read_yaml_mapping(path, "config"))
    for dotted in overrides or []:
        _set_dotted(data, dotted)
    try:
        return LeagueConfig(**data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}invalid league config: {describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    """Pydantic's errors as `key.path: message; ...`."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: "
                     f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())


def config_reference() -> str:
    """Markdown reference of every league config key, generated from the models."""
    lines = ["# League configuration reference", "",
             "Generated from `socius/platform/config.py` (`config_reference()`); a test "
             "keeps this file in sync.", ""]
    for title, model in (("league", LeagueConfig), ("populations[]", PopulationConfig),
                         ("scenarios", ScenarioConfig), ("ppo", PPOConfig),
                         ("rollout", RolloutConfig), ("matchmaking", MatchmakingConfig),
                         ("snapshots", SnapshotsConfig), ("evolution", EvolutionConfig),
                         ("data", DataConfig), ("tracking", TrackingConfig),
                         ("placement", PlacementConfig), ("faults", FaultsConfig),
                         ("eval", EvalConfig)):
        lines += [f"## `{title}`", "", model.__doc__.strip(), "",
                  "| key | type | default | meaning |", "|---|---|---|---|"]
        for name, info in model.model_fields.items():
            default = "(required)" if info.is_required() else \
                info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = "(section)"
            elif isinstance(default, list) and default and isinstance(default[0], BaseModel):
                default = [d.model_dump() for d in default]
            kind = getattr(info.annotation, "__name__", None) or str(info.annotation)
            kind = kind.replace("typing.", "").replace("|", "or")
            lines.append(f"| `{info.alias or name}` | {kind} | `{default}` | "
                         f"{info.description or ''} |")
        lines.append("")
    lines += ["## Profiles", "", "A profile is applied first, then the config file, then "
              "`--set`. `socius league run` and `socius submit` without a config file use "
              "`default` (the built-in league); with a file, no profile unless `--profile` "
              "names one (the file starts from the defaults above).", "",
              *[f"- `{k}`: `{v}`" for k, v in PROFILES.items()], "",
              "## Keys that moved", "", "A config of the old, flat shape is refused with "
              "the key's new place:", "", *[f"- `{old}` -> `{new}`" for old, new in
                                            MOVED_KEYS.items()], ""]
    return "\n".join(lines)
