"""Placement options and their checks against a cluster's resources (no Ray started)."""

import pytest

from socius.platform.config import PlacementConfig, load_config
from socius.platform.run.placement import (
    check_feasible,
    learner_gpus,
    runner_device,
    runner_options,
)


def test_runner_options_carry_cpus_and_custom_resources():
    placement = PlacementConfig(runner_cpus=2, runner_resources={"socius_runner": 1})
    assert runner_options(placement) == {"num_cpus": 2, "num_gpus": 0.0,
                                         "resources": {"socius_runner": 1}}


def test_placement_the_cluster_cannot_meet_is_refused_naming_the_key():
    cluster = {"CPU": 4.0, "memory": 1e9, "node:127.0.0.1": 1.0}
    with pytest.raises(ValueError, match="placement.runner_resources: no node .*'socius_runner'"):
        check_feasible(PlacementConfig(runner_resources={"socius_runner": 1}), cluster)
    with pytest.raises(ValueError, match="placement.learner_gpus"):
        check_feasible(PlacementConfig(learners=1, learner_gpus=1), cluster)
    with pytest.raises(ValueError, match=r"placement.runner_gpus: 2 runners x 0.5 GPUs"):
        check_feasible(PlacementConfig(runner_gpus=0.5), cluster, runners=2)
    check_feasible(PlacementConfig(runner_gpus=0.5), {**cluster, "GPU": 1.0}, runners=2)
    check_feasible(PlacementConfig(runner_resources={"socius_runner": 1}),
                   {**cluster, "socius_runner": 2.0})
    # more runners than the cluster's CPUs (or custom resources) would wait forever
    with pytest.raises(ValueError, match=r"runners: 5 runners x placement.runner_cpus 1.0 "
                                         r"CPUs asked, the cluster has 4 CPUs"):
        check_feasible(PlacementConfig(), cluster, runners=5)
    with pytest.raises(ValueError, match=r"runner_resources: 3 runners x 1.0 'socius_runner' "
                                         r"asked, the cluster has 2"):
        check_feasible(PlacementConfig(runner_resources={"socius_runner": 1}),
                       {**cluster, "socius_runner": 2.0}, runners=3)
    check_feasible(PlacementConfig(runner_cpus=0.5), cluster, runners=8)


def test_learners_take_gpus_where_the_cluster_has_them():
    assert learner_gpus(PlacementConfig(learners=1), {"CPU": 8}) == 0
    assert learner_gpus(PlacementConfig(learners=1), {"CPU": 8, "GPU": 2}) == 1
    assert learner_gpus(PlacementConfig(learners=1, learner_gpus=0.5), {"GPU": 2}) == 0.5


def test_placement_keys_are_validated():
    with pytest.raises(ValueError, match="'CPU'"):
        PlacementConfig(runner_resources={"CPU": 1})
    with pytest.raises(ValueError, match="placement.learners"):
        load_config(overrides=["placement.learners=2", "rollout.runners=1"])


def test_gpu_runners_run_the_leagues_the_torch_engine_plays():
    assert runner_device(PlacementConfig(), 8, {"common_pool"}) is None  # numpy runners: any
    gpu = PlacementConfig(runner_gpus=1)
    assert runner_device(gpu, 4, {"public_goods", "prisoners_dilemma"}) == "cuda"
    assert runner_device(PlacementConfig(runner_device="cpu"), 2, {"public_goods"}) == "cpu"
    with pytest.raises(ValueError, match="runner_device: cuda runners .*max_players=8"):
        runner_device(gpu, 8, {"public_goods"})
    with pytest.raises(ValueError, match="common_pool games"):
        runner_device(PlacementConfig(runner_device="cpu"), 4, {"common_pool"})
    with pytest.raises(ValueError, match="runner_device: cuda needs placement.runner_gpus"):
        PlacementConfig(runner_device="cuda")
