"""Fine-tuning a registered league member on one target scenario, registered with its parent.

`finetune` pulls REF (sha256 checked), trains it with PPO on the scenario — against fixed
scripted partners, or in self-play without them — with the learner's seat rotating over the
instances, writes a socius checkpoint whose lineage names REF, and registers it as a version
of `socius.finetuned.<name>` tagged with its parent, scenario, steps and weights sha256.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from socius.envs import BatchedEngine, Scenario, classic, classic_names
from socius.platform.registry import mlflow_client, pull
from socius.policies.checkpoint import load_module, read_manifest, save_checkpoint
from socius.policies.network import SociusNet
from socius.policies.scripted import ScriptedPartner, make_partner
from socius.policies.trainer import MODULE_ID, LocalTrainer, PPOSettings, set_learner_state


def target_scenario(name_or_spec: str) -> Scenario:
    """A named classic (`family__variant`) or a JSON/YAML scenario spec file."""
    if name_or_spec in classic_names():
        return classic(name_or_spec)
    path = Path(name_or_spec)
    if not path.is_file():
        raise ValueError(f"--scenario {name_or_spec!r}: neither a named classic nor a spec "
                         f"file (classics: {classic_names()})")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return Scenario.from_dict(data)


def partner_from_spec(spec: str, layout=None) -> ScriptedPartner | SociusNet:
    """A scripted partner by name, `fixed_mixed:0.7/0.3` with its action probabilities, or a
    socius checkpoint folder: a learned partner that plays with frozen weights."""
    if Path(spec).is_dir():
        return load_module(spec).eval()
    name, _, probs = spec.partition(":")
    if name == "fixed_mixed":
        try:
            values = [float(x) for x in probs.split("/")]
        except ValueError:
            raise ValueError(f"partner {spec!r}: write fixed_mixed:p1/p2/...") from None
        return make_partner(name, layout=layout, probs=values)
    return make_partner(name, layout=layout)


def seat_assignment(n_players: int, instances: int, n_partners: int, max_players: int
                    ) -> np.ndarray:
    """Who sits where (`[max_players, instances]`): 0 the learner, 1 + k the k-th partner, -1
    an empty seat. The learner's seat rotates over the instances, and the partners rotate over
    the other seats and the instances alike, so that each partner plays about as many
    instances as any other (no partners: the learner in every seat, self-play)."""
    seats = np.full((max_players, instances), -1)
    for b in range(instances):
        mine = b % n_players
        for seat in range(n_players):
            other = (seat - mine - 1) % n_players  # 0 .. n - 2: which of the other seats
            seats[seat, b] = 0 if seat == mine or not n_partners else \
                1 + (b // n_players * (n_players - 1) + other) % n_partners
    return seats


def train_on(net: SociusNet, scenario: Scenario, partners: list[str] | None = None,
             steps: int = 50_000, seed: int = 0, lr: float = 3e-4,
             on_progress: Callable[[int, int], None] | None = None,
             fresh_value_head: bool = False) -> tuple[SociusNet, list[dict[str, float]]]:
    """PPO from `net`'s weights on one scenario: the learner's seat rotates over 64
    instances; `partners` (scripted names, checkpoint folders of learned partners) fill the
    other seats in turn, each in about as many instances (`seat_assignment`; none:
    self-play). `fresh_value_head`: the value head starts anew (seeded by `seed`) — a value
    learned on other games' payoffs biases every advantage of a new game's first updates
    (measured in chicken: the pretrained reward fell during fine-tuning, and rose with a fresh
    head). Returns the trained net and the per-iteration metrics (`steps`, `reward_mean`,
    ...)."""
    torch.set_num_threads(1)
    if fresh_value_head:
        net = copy.deepcopy(net)  # the caller's network stays as it was
        torch.manual_seed(seed)
        net.value_head.reset_parameters()
    config, n = net.config, scenario.n_players
    if n > config.max_players:
        raise ValueError(f"{scenario.name} has {n} players; the network seats at most "
                         f"{config.max_players}")
    instances = 64
    engine = BatchedEngine([scenario], np.zeros(instances, np.intp),
                           max_players=config.max_players)
    team_players = [partner_from_spec(p, engine.layout) for p in partners or []]
    for spec, partner in zip(partners or [], team_players, strict=True):
        if isinstance(partner, ScriptedPartner) and not partner.supports(scenario):
            raise ValueError(f"partner {partner.name!r} is not defined for {scenario.name}")
        if isinstance(partner, SociusNet) and (
                partner.config.max_players < n or partner.config.core != config.core or
                partner.config.core_size != config.core_size):
            raise ValueError(f"partner {spec}: its network ({partner.config.core} core of "
                             f"{partner.config.core_size}, {partner.config.max_players} seats) "
                             f"cannot play {scenario.name} ({n} players) beside this one "
                             f"({config.core} core of {config.core_size})")
    seat_policy = seat_assignment(n, instances, len(team_players), config.max_players)
    trainer = LocalTrainer(engine, seat_policy, team_players, config,
                           PPOSettings(lr=lr, entropy_start=0.003, entropy_end=0.0),
                           total_steps=steps, seed=seed)
    set_learner_state(trainer.learner_group, MODULE_ID,
                      {k: v.numpy() for k, v in net.state_dict().items()})
    trainer.net.load_state_dict(net.state_dict())
    history = []
    while trainer.steps < steps:
        history.append(trainer.iterate())
        if on_progress is not None:
            on_progress(min(trainer.steps, steps), steps)
    return trainer.net, history


def finetune(ref: str, scenario: Scenario, tracking_uri: str, out: str | Path,
             partners: list[str] | None = None, steps: int = 50_000, seed: int = 0,
             name: str | None = None, lr: float = 3e-4, register: bool = True,
             on_progress: Callable[[int, int], None] | None = None,
             fresh_value_head: bool = False) -> dict[str, Any]:
    """Pull `ref`, train it on `scenario` (`train_on`), save it at `out` with its parent in
    its lineage and register it as `socius.finetuned.<name>`."""
    with tempfile.TemporaryDirectory() as tmp:
        net = load_module(pull(ref, tmp, tracking_uri))
    tuned, history = train_on(net, scenario, partners, steps, seed, lr, on_progress,
                              fresh_value_head)
    done = int(history[-1]["steps"])
    save_checkpoint(tuned, out, overwrite=True, lineage={
        "parent": ref, "scenario": scenario.to_json(), "partners": list(partners or []),
        "steps": done, "fresh_value_head": fresh_value_head})
    result = {"steps": done, "reward_first": history[0]["reward_mean"],
              "reward_last": history[-1]["reward_mean"], "checkpoint": str(out)}
    if register:
        result["version"] = _register(tracking_uri, f"socius.finetuned.{name or scenario.name}",
                                      out, ref, scenario, done, partners or [])
    return result


def _register(uri: str, model: str, folder: str | Path, ref: str, scenario: Scenario,
              steps: int, partners: list[str]) -> str:
    from mlflow.exceptions import MlflowException

    client = mlflow_client(uri)
    experiment = client.get_experiment_by_name("socius-finetune")
    experiment_id = experiment.experiment_id if experiment else \
        client.create_experiment("socius-finetune")
    run = client.create_run(experiment_id, run_name=f"finetune {model}",
                            tags={"socius.parent": ref})
    client.log_artifacts(run.info.run_id, str(folder), "checkpoint")
    client.set_terminated(run.info.run_id)
    try:
        client.create_registered_model(model)
    except MlflowException:
        pass
    tags = {"parent": ref, "scenario": scenario.name, "steps": str(steps),
            "partners": ",".join(partners),
            "weights_sha256": read_manifest(folder)["weights_sha256"]}
    return client.create_model_version(model, f"{run.info.artifact_uri}/checkpoint",
                                       run.info.run_id, tags=tags).version
