"""The `socius` command line."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

import socius
from socius.envs import ScenarioError, ScenarioSpace, classic, classic_names, make_env
from socius.envs.scenario import Scenario
from socius.platform.league.config import ConfigError
from socius.platform.ops.jobs import JobsError


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


def cmd_league_run(args: argparse.Namespace) -> int:
    """Run a league on Ray: everything goes under one run folder."""
    import time
    from pathlib import Path

    from socius.platform.league.config import load_config

    config = load_config(args.config, args.set, args.profile)  # fails before any actor starts
    import ray

    from socius.platform.league.run import members_table, run_league

    run_dir = Path(args.run_dir or Path(config.runs_dir) /
                   f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run_dir.exists():
        print(f"socius: error: {run_dir} already exists; pick another --run-dir, or "
              f"`socius league resume {run_dir}`", file=sys.stderr)
        return 2
    _start_ray(args.address, args.num_cpus)
    try:
        state = run_league(config, run_dir)
    except ValueError as exc:  # e.g. a placement the cluster cannot meet
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
    except ray.exceptions.RayError:  # an actor died; the run said how to resume
        return 1
    finally:
        ray.shutdown()
    print(members_table(state))
    print(f"run folder: {run_dir}")
    return 0


def cmd_league_resume(args: argparse.Namespace) -> int:
    """Continue a stopped league run from its last saved generation."""
    import ray

    from socius.platform.league.run import members_table, resume_league

    _start_ray(args.address, args.num_cpus)
    try:
        state = resume_league(args.run_dir)
    except ValueError as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
    except ray.exceptions.RayError:  # an actor died; the run said how to resume
        return 1
    finally:
        ray.shutdown()
    print(members_table(state))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a league to a Ray cluster as a job (the config is checked here first)."""
    from socius.platform.ops import jobs

    submission = jobs.plan_submission(args.config, args.set, args.profile, args.run_dir,
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
    from pathlib import Path

    folder = Path(args.folder)
    rows = []
    for run in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        try:
            manifest = json.loads((run / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        try:
            league = json.loads((run / "league.json").read_text())["league"]
            done, members = league["generation"] + 1, len(league["members"])
        except (OSError, json.JSONDecodeError, KeyError):
            done, members = 0, 0
        rows.append(f"{run.name:<36}{done:>4}/{manifest['config']['generations']:<4}"
                    f"{members:>8}  socius {manifest['socius_version']}")
    print(f"{'run':<36}{'generations':>9}{'members':>8}")
    print("\n".join(rows) if rows else f"(no runs in {folder})")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    """A member's family tree from a run folder's saved league state."""
    from pathlib import Path

    from socius.platform.league.evolution import family_tree
    from socius.platform.league.state import LeagueState

    if args.member.startswith(("socius.", "runs:/")):  # a registry reference
        from socius.platform.registry import registry_lineage

        try:
            print(registry_lineage(args.member, _tracking_uri(args)))
        except Exception as exc:  # noqa: BLE001 - MLflow's errors name what is missing
            print(f"socius: error: {args.member}: {exc}", file=sys.stderr)
            return 2
        return 0
    run = Path(args.run) if args.run else None
    if run is None:  # the newest run under ./runs
        candidates = [p for p in Path("runs").glob("*") if (p / "league.json").is_file()]
        if not candidates:
            print("socius: error: no run folder given (--run) and none under ./runs",
                  file=sys.stderr)
            return 2
        run = max(candidates, key=lambda p: p.stat().st_mtime)
        print(f"(run {run})")
    try:
        state = LeagueState.from_dict(json.loads((run / "league.json").read_text())["league"])
        print(family_tree(state.members, args.member))
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        print(f"socius: error: {run}: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from socius.platform.data.inspect import inspect_run
    from socius.platform.data.lake import LakeError

    try:
        print(inspect_run(args.run, args.family, args.member, args.generation))
    except LakeError as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_data_verify(args: argparse.Namespace) -> int:
    from socius.platform.data.inspect import open_run_lake
    from socius.platform.data.lake import LakeError

    try:
        report = open_run_lake(args.run).verify()
    except LakeError as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
    for kind, paths in report.items():
        for path in paths:
            print(f"{kind}: {path}")
    bad = report["corrupt"] + report["missing"]
    print("lake intact" if not bad else f"{len(bad)} shard(s) set aside (see _quarantine/)")
    return 1 if bad else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from socius.platform.data.inspect import replay
    from socius.platform.data.lake import LakeError

    try:
        print(replay(args.run, args.match, limit=args.limit))
    except (LakeError, KeyError) as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Behaviour cloning from a run's lake into a socius checkpoint."""
    import torch

    from socius.platform.data.lake import LakeError
    from socius.platform.data.pretrain import pretrain

    torch.set_num_threads(1)
    try:
        stats = pretrain(args.data, args.out, where=args.where, epochs=args.epochs,
                         seed=args.seed)
    except (LakeError, ValueError) as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
    print(f"cloned {stats['examples']:,} steps into {args.out}; held-out episodes' action "
          f"accuracy {stats['heldout_accuracy']:.3f} ({stats['heldout']:,} steps)")
    return 0


def _tracking_uri(args: argparse.Namespace) -> str:
    import os
    from pathlib import Path

    from socius.platform.registry import default_tracking_uri

    if args.tracking_uri:
        return args.tracking_uri
    if args.run:
        return default_tracking_uri(Path(args.run))
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    raise ValueError("say where the registry is: --tracking-uri, --run RUN or "
                     "MLFLOW_TRACKING_URI")


def cmd_pull(args: argparse.Namespace) -> int:
    """Download a registered checkpoint and verify it (no Ray needed)."""
    from socius.platform.registry import pull
    from socius.policies.checkpoint import CheckpointError

    try:
        local = pull(args.ref, args.output, _tracking_uri(args))
    except (ValueError, CheckpointError) as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - MLflow's own errors (unknown model, alias, ...)
        print(f"socius: error: {args.ref}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.ref} -> {local} (sha256 verified)")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """PPO fine-tuning of a registered checkpoint on one scenario, registered with its parent."""
    from socius.platform.finetune import finetune, target_scenario
    from socius.policies.checkpoint import CheckpointError

    try:
        uri = _tracking_uri(args)
        scenario = target_scenario(args.scenario)
        partners = [p for p in (args.partners or "").split(",") if p]
        result = finetune(args.from_ref, scenario, uri, args.out, partners, args.steps,
                          args.seed, args.name)
    except (ValueError, CheckpointError, ScenarioError) as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2
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


def cmd_runs_rm(args: argparse.Namespace) -> int:
    """Delete run folders (the lake's manifest first, so no reader sees a dangling shard)."""
    from pathlib import Path

    from socius.platform.data.lake import remove_tree_safely

    for run in args.runs:
        path = Path(run)
        if not (path / "manifest.json").is_file():
            print(f"socius: error: {path} is not a league run folder (no manifest.json)",
                  file=sys.stderr)
            return 2
        remove_tree_safely(path)
        print(f"removed {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socius", description=__doc__)
    parser.add_argument("--version", action="version", version=f"socius {socius.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    scenarios = commands.add_parser("scenarios", help="explore the scenario space")
    verbs = scenarios.add_subparsers(dest="verb", required=True)
    sample = verbs.add_parser("sample", help="print sampled scenarios as JSON lines")
    sample.add_argument("--split", default="train", help="train, heldout or all")
    sample.add_argument("--seed", type=int, default=0, help="first seed")
    sample.add_argument("--count", type=int, default=1, help="how many scenarios")
    sample.set_defaults(func=cmd_scenarios_sample)
    classics = verbs.add_parser("classics", help="list the named textbook games")
    classics.set_defaults(func=cmd_scenarios_classics)
    play = verbs.add_parser("play", help="play one random episode and print it")
    play.add_argument("name", nargs="?", help="a named classic (default: a sampled scenario)")
    play.add_argument("--split", default="train")
    play.add_argument("--seed", type=int, default=0)
    play.set_defaults(func=cmd_scenarios_play)

    league = commands.add_parser("league", help="run a league")
    league_verbs = league.add_subparsers(dest="verb", required=True)
    run = league_verbs.add_parser("run", help="run a league on a local Ray")
    run.add_argument("config", nargs="?", help="a YAML league config (default: built-in)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key, e.g. --set generations=3")
    run.add_argument("--profile", choices=["smoke", "default"], default=None,
                     help="start from a named profile (smoke: about 20 seconds)")
    run.add_argument("--run-dir", help="where to write the run (default: "
                     "<runs_dir>/<name>-<time>, runs_dir from the config)")
    run.add_argument("--num-cpus", type=int, default=2, help="CPUs of a local Ray")
    run.add_argument("--address", default="local", help="Ray to use: local (a fresh one), "
                     "auto (the cluster this runs on, as inside a job) or an address")
    run.set_defaults(func=cmd_league_run)
    resume = league_verbs.add_parser("resume", help="continue a stopped league run")
    resume.add_argument("run_dir")
    resume.add_argument("--num-cpus", type=int, default=2)
    resume.add_argument("--address", default="local")
    resume.set_defaults(func=cmd_league_resume)

    address_help = ("Ray Jobs API (default: RAY_API_SERVER_ADDRESS, RAY_ADDRESS or "
                    "http://127.0.0.1:8265); the token comes from RAY_AUTH_TOKEN, "
                    "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token")
    submit = commands.add_parser("submit", help="submit a league to a Ray cluster as a job")
    submit.add_argument("config", nargs="?", help="a YAML league config inside the working dir")
    submit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    submit.add_argument("--profile", choices=["smoke", "default"], default=None)
    submit.add_argument("--run-dir", help="absolute run folder on storage the cluster shares "
                        "(default: <runs_dir>/<name>-<time>)")
    submit.add_argument("--working-dir", default=".", help="folder packaged with the job "
                        "(run folders, virtual environments and MLflow stores left out)")
    submit.add_argument("--runtime-env", help="YAML merged into the job's runtime_env, e.g. "
                        "cluster/runtime_env.yaml")
    submit.add_argument("--address", help=address_help)
    submit.add_argument("--follow", action="store_true", help="stream the logs until it ends")
    submit.set_defaults(func=cmd_submit)

    jobs = commands.add_parser("jobs", help="league jobs on a Ray cluster")
    jobs_verbs = jobs.add_subparsers(dest="verb", required=True)
    for verb, text in (("list", "all jobs"), ("status", "one job's status"),
                       ("logs", "one job's logs"), ("stop", "stop a job")):
        job_verb = jobs_verbs.add_parser(verb, help=text)
        if verb != "list":
            job_verb.add_argument("job_id")
        if verb == "logs":
            job_verb.add_argument("--follow", action="store_true")
        job_verb.add_argument("--address", help=address_help)
        job_verb.set_defaults(func=cmd_jobs)

    board = commands.add_parser("dashboard", help="serve a run's live league page")
    board.add_argument("run_dir")
    board.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback "
                       "only; anything else is reachable by others and warns)")
    board.add_argument("--port", type=int, default=8600)
    board.set_defaults(func=cmd_dashboard)

    runs = commands.add_parser("runs", help="league runs on disk")
    runs_verbs = runs.add_subparsers(dest="verb", required=True)
    listing = runs_verbs.add_parser("list", help="list the runs in a folder")
    listing.add_argument("folder", nargs="?", default="runs")
    listing.set_defaults(func=cmd_runs_list)
    remove = runs_verbs.add_parser("rm", help="delete run folders with their lakes")
    remove.add_argument("runs", nargs="+")
    remove.set_defaults(func=cmd_runs_rm)

    data = commands.add_parser("data", help="a run's rollout lake")
    data_verbs = data.add_subparsers(dest="verb", required=True)
    inspect = data_verbs.add_parser("inspect", help="what a run stored")
    inspect.add_argument("run", help="run folder")
    inspect.add_argument("--family")
    inspect.add_argument("--member")
    inspect.add_argument("--generation", type=int)
    inspect.set_defaults(func=cmd_data_inspect)
    verify = data_verbs.add_parser("verify", help="check every shard; set aside bad ones")
    verify.add_argument("run", help="run folder")
    verify.set_defaults(func=cmd_data_verify)

    clone = commands.add_parser("pretrain", help="behaviour cloning from a run's lake")
    clone.add_argument("--data", required=True, help="run folder whose lake to read")
    clone.add_argument("--where", action="append", metavar="KEY=VALUE",
                       help="rows to clone: member=, family=, seat=, generation=, match= "
                       "(repeat to combine)")
    clone.add_argument("--out", required=True, help="checkpoint folder to write")
    clone.add_argument("--epochs", type=int, default=30)
    clone.add_argument("--seed", type=int, default=0)
    clone.set_defaults(func=cmd_pretrain)

    fetch = commands.add_parser("pull", help="download a registered checkpoint")
    fetch.add_argument("ref", help="name@alias, name/version or runs:/<run id>/<path>")
    fetch.add_argument("-o", "--output", default=".", help="folder to download into")
    fetch.add_argument("--tracking-uri", help="MLflow tracking/registry URI")
    fetch.add_argument("--run", help="a run folder whose own mlflow.db to use")
    fetch.set_defaults(func=cmd_pull)
    tune = commands.add_parser("finetune", help="fine-tune a registered checkpoint")
    tune.add_argument("--from", dest="from_ref", required=True,
                      help="name@alias, name/version or runs:/...")
    tune.add_argument("--scenario", required=True, help="named classic or a spec file")
    tune.add_argument("--partners", help="scripted partners, comma-separated (default: "
                      "self-play)")
    tune.add_argument("--steps", type=int, default=50_000)
    tune.add_argument("--out", default="finetuned", help="checkpoint folder to write")
    tune.add_argument("--name", help="registered as socius.finetuned.<name>")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--tracking-uri", help="MLflow tracking/registry URI")
    tune.add_argument("--run", help="a run folder whose own mlflow.db to use")
    tune.set_defaults(func=cmd_finetune)

    sync = commands.add_parser("mirror", help="bring a run's MLflow mirror up to date")
    sync.add_argument("run", help="run folder")
    sync.add_argument("--tracking-uri", help="MLflow tracking URI (default: the run's own)")
    sync.set_defaults(func=cmd_mirror)

    replay = commands.add_parser("replay", help="print a stored match step by step")
    replay.add_argument("run", help="run folder")
    replay.add_argument("match", help="match id, e.g. g0-12")
    replay.add_argument("--limit", type=int, default=200, help="most steps to print")
    replay.set_defaults(func=cmd_replay)

    lineage = commands.add_parser("lineage", help="a league member's family tree")
    lineage.add_argument("member", help="member id (main_0, main_0@3) or a registry reference "
                         "(socius.<league>.<member>@champion, .../3)")
    lineage.add_argument("--run", help="run folder (default: the newest under ./runs)")
    lineage.add_argument("--tracking-uri", help="MLflow registry URI (for references)")
    lineage.set_defaults(func=cmd_lineage)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ScenarioError, ConfigError, JobsError) as exc:
        print(f"socius: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
