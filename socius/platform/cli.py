"""The `socius` command line.

Each subcommand is a small function `cmd_*(args) -> exit status`; `COMMANDS` declares them with
their arguments (shared groups such as `CONFIG_ARGS` declared once); `main` is the one place a
project error becomes `socius: error: ...` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import socius
from socius.envs import ScenarioSpace, classic, classic_names, make_env
from socius.envs.scenario import Scenario
from socius.platform.ops.jobs import JobsError
from socius.platform.runfolder import RunFolder, find_runs, newest_run


def _scenario_from(args: argparse.Namespace) -> Scenario:
    if args.name:
        return classic(args.name)
    return ScenarioSpace(split=args.split).sample(args.seed)


def cmd_scenarios_sample(args: argparse.Namespace) -> int:
    space = ScenarioSpace(split=args.split)
    for seed in range(args.seed, args.seed + args.count):
        print(space.sample(seed).to_json())
    return 0


def cmd_scenarios_classics(args: argparse.Namespace) -> int:
    for name in classic_names():
        print(name)
    return 0


def cmd_scenarios_play(args: argparse.Namespace) -> int:
    """Play one episode with uniformly random actions and print it step by step."""
    scenario = _scenario_from(args)
    env = make_env(scenario, render_mode="ansi")
    rng = np.random.default_rng(args.seed)
    env.reset(seed=args.seed)
    print(scenario.to_json())
    totals = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        actions = {a: _random_action(env.action_space(a), rng) for a in env.agents}
        _, rewards, _, _, infos = env.step(actions)
        for agent, reward in rewards.items():
            totals[agent] += reward
        events = {k: v for k, v in infos[env.possible_agents[0]].items()
                  if k in ("team_change", "rule_change")}
        print(env.render(), json.dumps(events) if events else "")
    print("returns:", {a: round(r, 3) for a, r in totals.items()})
    return 0


def _random_action(space, rng: np.random.Generator):
    if hasattr(space, "nvec"):
        return np.array([rng.integers(n) for n in space.nvec])
    return int(rng.integers(space.n))


def _start_ray(address: str, num_cpus: int) -> None:
    """A fresh local Ray ("local"), or join a cluster ("auto" inside a job, or an address)."""
    import ray

    if address == "local":
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)


def _league(args: argparse.Namespace, work: Callable[..., Any], generations: int,
            done: int) -> int:
    """Run league work on Ray with a progress display; print the members and what to try
    next. An actor that died for good: exit status 1 (the run said how to resume)."""
    import ray

    from socius.platform.ops.progress import LeagueProgress
    from socius.platform.run.league import members_table

    _start_ray(args.address, args.num_cpus)
    try:
        with LeagueProgress(generations, done) as progress:
            state, run = work(log=progress.log, on_record=progress.on_record)
    except ray.exceptions.RayError:
        return 1
    finally:
        ray.shutdown()
    print(members_table(state))
    print(next_commands(run, state))
    return 0


def next_commands(run: RunFolder, state) -> str:
    """What to try with a finished run, with its own paths (and the command as it was
    called: `.venv/bin/socius` from scripts/league.sh)."""
    from socius.platform.eval.suites import load_suite
    from socius.platform.league.roles import Role

    config = run.manifest()["config"]
    socius_command = sys.argv[0] if Path(sys.argv[0]).name == "socius" else "socius"
    lines = [f"run folder: {run.path}", "next:",
             f"  {socius_command} dashboard {run.path}",
             f"  {socius_command} data inspect {run.path}"]
    # a member with a snapshot has a registered model with a `champion` alias
    parents = sorted({m.parent for m in state.members.values() if not m.trainable and m.parent})
    if config.get("tracking", {}).get("mirror") and parents:
        model = f"socius.{config['name']}.{parents[0]}@champion"
        seats = config.get("scenarios", {}).get("max_players", 4)
        suites = {name: load_suite(name) for name in ("heldout", "dilemmas", "zero_sum")}
        classics = set(config.get("scenarios", {}).get("classics") or ())
        dilemmas = {s.name for s in suites["dilemmas"].scenarios}
        # a league of the dilemmas (the default one): do its mains read their partners?
        order = ("dilemmas", "heldout", "zero_sum") if classics and classics <= dilemmas \
            else ("heldout", "dilemmas", "zero_sum")
        suite = next(name for name in order
                     if suites[name].max_players <= seats)  # zero_sum: 2 players
        mains = [p for p in parents if p in state.members and state.members[p].role is Role.MAIN]
        evaluated = " ".join(f"socius.{config['name']}.{p}@champion" for p in mains) \
            if suite == "dilemmas" and mains else model
        lines += [f"  {socius_command} eval {evaluated} --run {run.path} --suite {suite}",
                  f"  {socius_command} pull {model} --run {run.path} -o pulled",
                  f"  {socius_command} finetune --from {model} --run {run.path} "
                  "--scenario prisoners_dilemma__textbook --steps 20000"]
    return "\n".join(lines)


def cmd_league_run(args: argparse.Namespace) -> int:
    """Run a league on Ray: everything goes under one run folder."""
    import time

    from socius.platform.config import load_config, run_profile
    from socius.platform.run.league import run_league
    from socius.platform.runfolder import RunFolderError

    # a config that does not validate fails here, before any actor starts
    config = load_config(args.config, args.set, run_profile(args.config, args.profile))
    run = RunFolder(args.run_dir or Path(config.runs_dir) /
                    f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run.path.exists():
        raise RunFolderError(f"{run.path} already exists; pick another --run-dir, or "
                             f"`socius league resume {run.path}`")
    return _league(args, lambda **hooks: (run_league(config, run.path, **hooks), run),
                   config.generations, 0)


def cmd_league_resume(args: argparse.Namespace) -> int:
    """Continue a stopped league run from its last saved generation."""
    from socius.platform.run.league import load_saved, resume_league

    run = RunFolder(args.run_dir)
    config, state, _ = load_saved(run)  # a damaged folder fails before Ray starts
    return _league(args, lambda **hooks: (resume_league(run.path, **hooks), run),
                   config.generations, state.generation + 1)


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a league to a Ray cluster as a job (the config is checked here first)."""
    from socius.platform.config import run_profile
    from socius.platform.ops import jobs

    submission = jobs.plan_submission(args.config, args.set,
                                      run_profile(args.config, args.profile), args.run_dir,
                                      args.working_dir, args.runtime_env)
    job_id = jobs.submit(submission, args.address)
    print(f"submitted {job_id}\nrun folder: {submission.run_dir}\n"
          f"follow it: socius jobs logs {job_id} --follow")
    if args.follow:
        status = jobs.follow_logs(job_id, args.address, write=lambda s: print(s, end=""))
        print(f"{job_id}: {status}")
        return 0 if status == "SUCCEEDED" else 1
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    """Ray jobs on a cluster: list, status, logs (optionally followed), stop."""
    from socius.platform.ops import jobs

    if args.verb == "list":
        for row in jobs.list_jobs(args.address):
            print(f"{row['id']:<44}{row['status']:<11}{row['run_dir'] or '-':<40}"
                  f"{row['entrypoint']}")
    elif args.verb == "status":
        print(json.dumps(jobs.job_status(args.job_id, args.address), indent=2))
    elif args.verb == "logs" and args.follow:
        status = jobs.follow_logs(args.job_id, args.address, write=lambda s: print(s, end=""))
        print(f"{args.job_id}: {status}")
    elif args.verb == "logs":
        print(jobs.job_logs(args.job_id, args.address), end="")
    elif args.verb == "stop":
        stopped = jobs.stop_job(args.job_id, args.address)
        print(f"{args.job_id}: {'stop requested' if stopped else 'was not running'}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the live page of a run folder."""
    from socius.platform.ops.dashboard import serve

    serve(args.run_dir, args.host, args.port)
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    """The league runs in a folder: name, generations done of planned, members, socius version."""
    rows = []
    for run in find_runs(args.folder):
        manifest = run.read_optional(RunFolder.MANIFEST) or {}
        saved = run.read_optional(RunFolder.STATE) or {}
        league = saved.get("league") if isinstance(saved.get("league"), dict) else {}
        done, members = league.get("generation", -1) + 1, len(league.get("members", []))
        planned = (manifest.get("config") or {}).get("generations", "?")
        rows.append(f"{run.name:<36}{done:>4}/{planned:<4}{members:>8}  socius "
                    f"{manifest.get('socius_version', '?')}")
    print(f"{'run':<36}{'generations':>9}{'members':>8}")
    print("\n".join(rows) if rows else f"(no runs in {args.folder})")
    return 0


def cmd_runs_rm(args: argparse.Namespace) -> int:
    """Delete run folders (the lake's manifest first, so no reader sees a dangling shard)."""
    from socius.platform.data.lake import remove_run

    runs = [RunFolder(path) for path in args.runs]
    for run in runs:
        run.manifest()  # refuse anything that is not a run folder, before deleting any
    for run in runs:
        remove_run(run)
        print(f"removed {run.path}")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    """A member's family tree: from a run folder's saved league state, or from the registry."""
    if args.member.startswith(("socius.", "runs:/")):  # a registry reference
        from socius.platform.registry import registry_lineage

        print(registry_lineage(args.member, _tracking_uri(args)))
        return 0
    from socius.platform.league.evolution import family_tree
    from socius.platform.league.state import saved_state

    run = RunFolder(args.run) if args.run else newest_run()
    if not args.run:
        print(f"(run {run.path})")
    try:
        print(family_tree(saved_state(run).members, args.member))
    except KeyError as exc:
        raise ValueError(f"{run.path}: {exc.args[0]}") from None
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from socius.platform.data.inspect import inspect_run

    print(inspect_run(args.run, args.family, args.member, args.generation))
    return 0


def cmd_data_verify(args: argparse.Namespace) -> int:
    from socius.platform.data.inspect import open_run_lake

    report = open_run_lake(args.run).verify()
    for kind, paths in report.items():
        for path in paths:
            print(f"{kind}: {path}")
    bad = report["corrupt"] + report["missing"]
    print("lake intact" if not bad else f"{len(bad)} shard(s) set aside (see _quarantine/)")
    return 1 if bad else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from socius.platform.data.inspect import replay

    print(replay(args.run, args.match, limit=args.limit))
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Behaviour cloning from a run's lake into a socius checkpoint."""
    import torch

    from socius.platform.data.pretrain import pretrain
    from socius.platform.ops.progress import steps_progress

    torch.set_num_threads(1)
    with steps_progress("epochs") as on_progress:
        stats = pretrain(args.data, args.out, where=args.where, epochs=args.epochs,
                         seed=args.seed, on_progress=on_progress)
    print(f"cloned {stats['examples']:,} steps into {args.out}; held-out episodes' action "
          f"accuracy {stats['heldout_accuracy']:.3f} ({stats['heldout']:,} steps)")
    return 0


def _tracking_uri(args: argparse.Namespace, required: bool = True) -> str | None:
    """--tracking-uri, else the run's own store (--run), else MLFLOW_TRACKING_URI; when none
    is given, an error (`required`) or None."""
    import os

    from socius.platform.registry import default_tracking_uri

    if args.tracking_uri:
        return args.tracking_uri
    if args.run:
        return default_tracking_uri(Path(args.run))
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if not required:
        return None
    raise ValueError("say where the registry is: --tracking-uri, --run RUN or "
                     "MLFLOW_TRACKING_URI")


def cmd_pull(args: argparse.Namespace) -> int:
    """Download a registered checkpoint and verify it (no Ray needed)."""
    from socius.platform.registry import pull

    local = pull(args.ref, args.output, _tracking_uri(args))
    print(f"{args.ref} -> {local} (sha256 verified)")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """PPO fine-tuning of a registered checkpoint on one scenario, registered with its parent."""
    from socius.platform.finetune import finetune, target_scenario
    from socius.platform.ops.progress import steps_progress

    uri = _tracking_uri(args)
    scenario = target_scenario(args.scenario)
    partners = [p for p in (args.partners or "").split(",") if p]
    with steps_progress("agent-steps") as on_progress:
        result = finetune(args.from_ref, scenario, uri, args.out, partners, args.steps,
                          args.seed, args.name, on_progress=on_progress,
                          fresh_value_head=args.fresh_value_head)
    print(f"fine-tuned {args.from_ref} on {scenario.name} for {result['steps']:,} steps "
          f"(mean reward {result['reward_first']:.3f} -> {result['reward_last']:.3f}); "
          f"{result['checkpoint']}, registered version {result.get('version')}")
    return 0


def cmd_mirror(args: argparse.Namespace) -> int:
    """Bring a run's MLflow mirror up to date (after MLflow was unreachable)."""
    from socius.platform.registry import Mirror

    added = Mirror(args.run, args.tracking_uri).sync()
    print(f"mirrored generations {added['generations']}, registered {added['versions']}")
    return 0


def resolve_agent(ref: str, tracking_uri: str | None, folder: Path):
    """An evaluation player from a REF: `scripted:<name>`, a socius checkpoint folder, or a
    registry reference (pulled into `folder`)."""
    from socius.platform.eval.play import Player
    from socius.policies.checkpoint import load_module

    if ref.startswith("scripted:"):
        return Player(ref, scripted=ref.removeprefix("scripted:"))
    if (Path(ref) / "policy.json").is_file():
        return Player(ref, net=load_module(ref))
    if _is_registry_reference(ref):
        from socius.platform.registry import pull

        if tracking_uri is None:
            raise ValueError(f"{ref}: a registry reference needs --tracking-uri, --run RUN or "
                             "MLFLOW_TRACKING_URI")
        target = folder / f"ref{len(list(folder.iterdir()))}"
        return Player(ref, net=load_module(pull(ref, target, tracking_uri)))
    raise ValueError(f"{ref}: not a checkpoint folder (no policy.json), a registry reference "
                     "(socius.<league>.<member>@alias, runs:/...) or scripted:<name>")


def _is_registry_reference(ref: str) -> bool:
    return ref.startswith(("socius.", "runs:/"))


def cmd_eval(args: argparse.Namespace) -> int:
    """Agents on an evaluation suite: the zoo, learned partners, each other."""
    import tempfile

    import torch

    from socius.platform.eval.evaluate import evaluate, table
    from socius.platform.eval.suites import ZOO, load_suite

    torch.set_num_threads(1)
    suite = load_suite(args.suite)  # an unknown suite fails before anything loads
    uri = _tracking_uri(args, required=False)
    names = [p for p in (args.partners or "").split(",") if p]
    zoo = [p for p in names if p in ZOO]
    for name in names:
        if name not in ZOO and not (Path(name) / "policy.json").is_file() and \
                not _is_registry_reference(name):
            raise ValueError(f"unknown partner {name!r} (the zoo: {', '.join(ZOO)}; learned "
                             "partners are checkpoint folders or registry references)")
    for ref in args.refs:  # learned partners from the agent's own run are its population
        for name in names:
            if _run_of(ref) is not None and _run_of(ref) == _run_of(name):
                raise ValueError(f"learned partner {name} comes from the run of {ref} "
                                 f"({_run_of(ref)}): partners must come from other runs or "
                                 "seeds")
    with tempfile.TemporaryDirectory() as tmp:
        agents = [resolve_agent(ref, uri, Path(tmp)) for ref in args.refs]
        learned = [resolve_agent(p, uri, Path(tmp)) for p in names if p not in ZOO]
        report = evaluate(agents, suite, partners=zoo or None, learned=learned,
                          episodes=args.episodes)
    print(table(report))
    if args.run:  # the run's lake keeps the rows (under its last saved generation)
        store_evals(RunFolder(args.run), report)
    for ref in args.refs:  # registered versions get their scores as metrics and tags
        if ref.startswith("socius.") and uri:
            from socius.platform.registry import record_eval

            where = record_eval(ref, uri, suite.name, suite.hash, report.summary[ref])
            print(f"recorded in MLflow: {where}")
    if args.out:
        Path(args.out).write_text(json.dumps(report.as_dict(), indent=1, default=float))
        print(f"wrote {args.out}")
    return 0


def store_evals(run: RunFolder, report) -> None:
    """An evaluation's rows into a run's lake (`evals` table, under the run's name and its
    last saved generation)."""
    from dataclasses import asdict

    from socius.platform.data.lake import Lake
    from socius.platform.data.writer import evals_table
    from socius.platform.league.state import saved_state

    generation = saved_state(run).generation
    rows = evals_table([asdict(c) for c in report.cells], run.name, generation, report.suite,
                       report.suite_hash)
    Lake(run.lake, create=False).write_by_family("evals", rows, run.name, generation)
    print(f"stored {rows.num_rows} rows in {run.lake} (table evals)")


def _run_of(ref: str) -> Path | None:
    """The run folder a checkpoint folder belongs to (`<run>/checkpoints/<name>`), if any."""
    path = Path(ref).resolve()
    if path.parent.name == "checkpoints" and RunFolder(path.parent.parent).is_run():
        return path.parent.parent
    return None


# --- the command table ------------------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    """One `add_argument` call."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    """`socius <words...>`: its function, help and arguments."""

    words: tuple[str, ...]
    func: Callable[[argparse.Namespace], int]
    help: str
    args: tuple[Arg, ...] = ()


ADDRESS_HELP = ("Ray Jobs API (default: RAY_API_SERVER_ADDRESS, RAY_ADDRESS or "
                "http://127.0.0.1:8265); the token comes from RAY_AUTH_TOKEN, "
                "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token")
CONFIG_ARGS = (
    arg("config", nargs="?", help="a YAML league config (default: built-in)"),
    arg("--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set generations=3 --set ppo.lr=3e-4"),
    arg("--profile", choices=["smoke", "default"], default=None,
        help="start from a named profile (smoke: about 20 seconds; default: the league run "
        "without a config, about 40 s; with a config: none unless given)"))
LOCAL_RAY_ARGS = (
    arg("--num-cpus", type=int, default=2, help="CPUs of a local Ray"),
    arg("--address", default="local", help="Ray to use: local (a fresh one), auto (the "
        "cluster this runs on, as inside a job) or an address"))
REGISTRY_ARGS = (
    arg("--tracking-uri", help="MLflow tracking/registry URI"),
    arg("--run", help="a run folder whose own mlflow.db to use"))
GROUP_HELP = {"scenarios": "explore the scenario space", "league": "run a league",
              "jobs": "league jobs on a Ray cluster", "runs": "league runs on disk",
              "data": "a run's rollout lake"}

COMMANDS = (
    Command(("scenarios", "sample"), cmd_scenarios_sample, "print sampled scenarios as JSON "
            "lines", (arg("--split", default="train", help="train, heldout or all"),
                      arg("--seed", type=int, default=0, help="first seed"),
                      arg("--count", type=int, default=1, help="how many scenarios"))),
    Command(("scenarios", "classics"), cmd_scenarios_classics, "list the named textbook games"),
    Command(("scenarios", "play"), cmd_scenarios_play, "play one random episode and print it",
            (arg("name", nargs="?", help="a named classic (default: a sampled scenario)"),
             arg("--split", default="train"), arg("--seed", type=int, default=0))),
    Command(("league", "run"), cmd_league_run, "run a league on a local Ray", (
        *CONFIG_ARGS,
        arg("--run-dir", help="where to write the run (default: <runs_dir>/<name>-<time>, "
            "runs_dir from the config)"),
        *LOCAL_RAY_ARGS)),
    Command(("league", "resume"), cmd_league_resume, "continue a stopped league run",
            (arg("run_dir"), *LOCAL_RAY_ARGS)),
    Command(("submit",), cmd_submit, "submit a league to a Ray cluster as a job", (
        *CONFIG_ARGS,
        arg("--run-dir", help="absolute run folder on storage the cluster shares (default: "
            "<runs_dir>/<name>-<time>)"),
        arg("--working-dir", default=".", help="folder packaged with the job (run folders, "
            "virtual environments and MLflow stores left out)"),
        arg("--runtime-env", help="YAML merged into the job's runtime_env, e.g. "
            "cluster/runtime_env.yaml"),
        arg("--address", help=ADDRESS_HELP),
        arg("--follow", action="store_true", help="stream the logs until it ends"))),
    Command(("jobs", "list"), cmd_jobs, "all jobs", (arg("--address", help=ADDRESS_HELP),)),
    Command(("jobs", "status"), cmd_jobs, "one job's status",
            (arg("job_id"), arg("--address", help=ADDRESS_HELP))),
    Command(("jobs", "logs"), cmd_jobs, "one job's logs",
            (arg("job_id"), arg("--follow", action="store_true"),
             arg("--address", help=ADDRESS_HELP))),
    Command(("jobs", "stop"), cmd_jobs, "stop a job",
            (arg("job_id"), arg("--address", help=ADDRESS_HELP))),
    Command(("dashboard",), cmd_dashboard, "serve a run's live league page", (
        arg("run_dir"),
        arg("--host", default="127.0.0.1", help="address to bind (default loopback only; "
            "anything else is reachable by others and warns)"),
        arg("--port", type=int, default=8600))),
    Command(("runs", "list"), cmd_runs_list, "list the runs in a folder",
            (arg("folder", nargs="?", default="runs"),)),
    Command(("runs", "rm"), cmd_runs_rm, "delete run folders with their lakes",
            (arg("runs", nargs="+"),)),
    Command(("data", "inspect"), cmd_data_inspect, "what a run stored", (
        arg("run", help="run folder"), arg("--family"), arg("--member"),
        arg("--generation", type=int))),
    Command(("data", "verify"), cmd_data_verify, "check every shard; set aside bad ones",
            (arg("run", help="run folder"),)),
    Command(("pretrain",), cmd_pretrain, "behaviour cloning from a run's lake", (
        arg("--data", required=True, help="run folder whose lake to read"),
        arg("--where", action="append", metavar="KEY=VALUE", help="rows to clone: member=, "
            "family=, seat=, generation=, match= (repeat to combine)"),
        arg("--out", required=True, help="checkpoint folder to write"),
        arg("--epochs", type=int, default=30), arg("--seed", type=int, default=0))),
    Command(("pull",), cmd_pull, "download a registered checkpoint", (
        arg("ref", help="name@alias, name/version or runs:/<run id>/<path>"),
        arg("-o", "--output", default=".", help="folder to download into"), *REGISTRY_ARGS)),
    Command(("finetune",), cmd_finetune, "fine-tune a registered checkpoint", (
        arg("--from", dest="from_ref", required=True,
            help="name@alias, name/version or runs:/..."),
        arg("--scenario", required=True, help="named classic or a spec file"),
        arg("--partners", help="scripted partners or checkpoint folders of learned ones, "
            "comma-separated (default: self-play)"),
        arg("--steps", type=int, default=50_000),
        arg("--out", default="finetuned", help="checkpoint folder to write"),
        arg("--name", help="registered as socius.finetuned.<name>"),
        arg("--fresh-value-head", action="store_true", help="start the value head anew (a "
            "value learned on other games' payoffs can make fine-tuning unlearn)"),
        arg("--seed", type=int, default=0), *REGISTRY_ARGS)),
    Command(("eval",), cmd_eval, "evaluate agents on a suite: the partner zoo, learned "
            "partners, each other", (
                arg("refs", nargs="+", metavar="REF", help="a checkpoint folder, a registry "
                    "reference (socius.<league>.<member>@champion) or scripted:<name>"),
                arg("--suite", default="heldout", help="heldout, heldout_wide, dilemmas, "
                    "classics or zero_sum"),
                arg("--partners", help="comma-separated: zoo strategies and learned partners "
                    "(checkpoints, registry references); default: the suite's zoo"),
                arg("--episodes", type=int, help="episodes per cell (default: the suite's)"),
                arg("--out", help="write the report as JSON here"), *REGISTRY_ARGS)),
    Command(("mirror",), cmd_mirror, "bring a run's MLflow mirror up to date", (
        arg("run", help="run folder"),
        arg("--tracking-uri", help="MLflow tracking URI (default: the run's own)"))),
    Command(("replay",), cmd_replay, "print a stored match step by step", (
        arg("run", help="run folder"), arg("match", help="match id, e.g. g0-12"),
        arg("--limit", type=int, default=200, help="most steps to print"))),
    Command(("lineage",), cmd_lineage, "a league member's family tree", (
        arg("member", help="member id (main_0, main_0@3) or a registry reference "
            "(socius.<league>.<member>@champion, .../3)"),
        arg("--run", help="run folder (default: the newest under ./runs)"),
        arg("--tracking-uri", help="MLflow registry URI (for references)"))),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socius", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"socius {socius.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, Any] = {}
    for command in COMMANDS:
        if len(command.words) == 1:
            sub = commands.add_parser(command.words[0], help=command.help)
        else:
            group, verb = command.words
            if group not in groups:
                groups[group] = commands.add_parser(group, help=GROUP_HELP[group]) \
                    .add_subparsers(dest="verb", required=True)
            sub = groups[group].add_parser(verb, help=command.help)
        for a in command.args:
            sub.add_argument(*a.flags, **a.options)
        sub.set_defaults(func=command.func)
    return parser


def is_user_error(exc: BaseException) -> bool:
    """Errors that are the user's to fix: the project's own (all ValueErrors: bad config,
    scenario, run folder, lake, checkpoint, placement), the jobs API's, and MLflow's (an
    unknown model, alias or store)."""
    return isinstance(exc, (ValueError, JobsError)) or \
        type(exc).__module__.startswith("mlflow.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
