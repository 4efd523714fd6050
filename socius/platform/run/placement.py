"""Where the league's actors run: Ray options from the config's `placement` section, checked
against the cluster before any actor starts, and a record of where each actor landed
(`<run>/cluster.json`, which the dashboard and `socius jobs` users read)."""

from __future__ import annotations

from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from socius.envs.catalog import SMALL_SEATS, stock_families, table_driven
from socius.platform.config import PlacementConfig

HEAD_RESOURCE = "node:__internal_head__"  # Ray gives the head node this resource


def this_node() -> str:
    """The Ray node id of the calling process (actors answer `where()` with it)."""
    return ray.get_runtime_context().get_node_id()


def head_node_id() -> str | None:
    for node in ray.nodes():
        if node["Alive"] and HEAD_RESOURCE in node["Resources"]:
            return node["NodeID"]
    return None


def check_feasible(placement: PlacementConfig, cluster: dict[str, float], runners: int = 1
                   ) -> None:
    """Refuse a placement the cluster cannot meet (Ray would wait forever for it); the
    message names the key."""
    for key, needs in (("runner_resources", placement.runner_resources),
                       ("learner_resources", placement.learner_resources)):
        for name in needs:
            if cluster.get(name, 0) <= 0:
                offered = sorted(k for k in cluster if not k.startswith("node:"))
                raise ValueError(f"placement.{key}: no node of this cluster offers {name!r} "
                                 f"(resources offered: {offered})")
    if placement.runner_cpus * runners > cluster.get("CPU", 0):
        raise ValueError(f"rollout.runners: {runners} runners x placement.runner_cpus "
                         f"{placement.runner_cpus} CPUs asked, the cluster has "
                         f"{cluster.get('CPU', 0):g} CPUs (fewer runners, or a smaller "
                         "runner_cpus)")
    for name, amount in placement.runner_resources.items():
        if amount * runners > cluster.get(name, 0):
            raise ValueError(f"placement.runner_resources: {runners} runners x {amount} "
                             f"{name!r} asked, the cluster has {cluster.get(name, 0):g}")
    if placement.runner_gpus * runners > cluster.get("GPU", 0):
        raise ValueError(f"placement.runner_gpus: {runners} runners x {placement.runner_gpus} "
                         f"GPUs asked, the cluster has {cluster.get('GPU', 0)} GPUs")
    if (placement.learner_gpus or 0) > cluster.get("GPU", 0):
        raise ValueError(f"placement.learner_gpus: {placement.learner_gpus} asked, the cluster "
                         f"has {cluster.get('GPU', 0)} GPUs")


def learner_gpus(placement: PlacementConfig, cluster: dict[str, float]) -> float:
    """GPUs per remote learner: as configured, else 1 where the cluster has GPUs."""
    if placement.learner_gpus is not None:
        return placement.learner_gpus
    return 1.0 if cluster.get("GPU", 0) > 0 else 0.0


def runner_options(placement: PlacementConfig) -> dict[str, Any]:
    return {"num_cpus": placement.runner_cpus, "num_gpus": placement.runner_gpus,
            "resources": dict(placement.runner_resources)}


def runner_device(placement: PlacementConfig, seats: int, families: set[str]) -> str | None:
    """The torch device of the runners' engines and nets, or None for the numpy engine;
    leagues the torch engine does not play are refused naming the keys."""
    device = placement.runner_device or ("cuda" if placement.runner_gpus > 0 else "numpy")
    if device == "numpy":
        return None
    if not table_driven(seats, families):
        stock = stock_families(families)
        raise ValueError(f"placement.runner_device: {device} runners play leagues of at most "
                         f"{SMALL_SEATS} seats without common-pool games; this league has "
                         f"scenarios.max_players={seats}"
                         + (f" and {', '.join(stock)} games" if stock else ""))
    return device


def state_options(placement: PlacementConfig) -> dict[str, Any]:
    """Options of the actors that hold the run's state (league actor, lake writer)."""
    head = head_node_id() if placement.league_on_head else None
    if head is None:
        return {}
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(head, soft=False)}


def cluster_record(actors: dict[str, list[str]]) -> dict[str, Any]:
    """`cluster.json`: the nodes (id, address, resources, head or not), the Ray dashboard and
    which node each actor (league, writer, runners, learners, driver) runs on."""
    nodes = {n["NodeID"]: {"address": n["NodeManagerAddress"], "head": HEAD_RESOURCE in
                           n["Resources"], "resources": {k: v for k, v in n["Resources"].items()
                                                         if not k.startswith("node:")}}
             for n in ray.nodes() if n["Alive"]}
    try:
        dashboard = ray._private.worker.get_dashboard_url() or None
    except Exception:  # no dashboard in this session  # noqa: BLE001
        dashboard = None
    if dashboard and not dashboard.startswith("http"):
        dashboard = f"http://{dashboard}"
    return {"ray_dashboard": dashboard, "nodes": nodes, "actors": actors}
