"""Checkpoints: bit-identical round trips in all three forms, no Ray needed, bad files refused.

Regenerate the committed fixture only on a deliberate format change:
    python tests/policies/test_checkpoint.py --regen
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from socius.envs import BatchedEngine, ScenarioSpace
from socius.policies import (
    CheckpointError,
    NetConfig,
    SociusNet,
    flat_observation,
    load_module,
    load_policy,
    save_checkpoint,
)

FIXTURE = Path(__file__).parent / "fixtures" / "policy_v1"
FIXTURE_CONFIG = NetConfig(max_players=4, history=4, embed=4, hidden=16, core="gru", core_size=16)


def observations(config: NetConfig, count: int = 64, seed: int = 0):
    """Real observations from sampled scenarios, after a few random steps."""
    space = ScenarioSpace(max_players=config.max_players, history_window=config.history,
                          p_coalition=0.5)
    scenarios = [space.sample(seed * 1000 + k) for k in range(count)]
    engine = BatchedEngine(scenarios, np.arange(count), max_players=config.max_players)
    out = engine.buffers()
    engine.reset(np.arange(count), out)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        acts = (rng.random(engine.present.shape) * engine.n_actions).astype(np.int64) * engine.present
        engine.step(acts, out)
    tokens = out.tokens[0].T.copy()
    rules = engine.rule_table[out.rules_index[0]]
    return tokens, rules


def outputs(net, tokens, rules):
    with torch.no_grad():
        obs = torch.from_numpy(flat_observation(tokens, rules))
        return net(torch.stack([obs, obs], 1))  # two steps, so the recurrent state matters


@pytest.mark.parametrize("core,tom_to_policy", [("gru", False), ("mlp", False), ("gru", True)])
def test_round_trip_is_bit_identical_in_all_three_forms(tmp_path, core, tom_to_policy):
    torch.manual_seed(0)
    net = SociusNet(NetConfig(core=core, tom_to_policy=tom_to_policy)).eval()
    tokens, rules = observations(net.config)
    path = save_checkpoint(net, tmp_path / "ckpt", lineage={"member": "main_0", "generation": 3})
    assert sorted(p.name for p in path.iterdir()) == ["policy.json", "weights.safetensors"]
    want = outputs(net, tokens, rules)

    # 1. plain trainable torch module
    module = load_module(path)
    got = outputs(module, tokens, rules)
    for key in ("action_logits", "team_logits", "value", "tom_action_logits"):
        assert torch.equal(got[key], want[key]), key
    assert all(p.requires_grad for p in module.parameters())

    # 2. inference policy: deterministic actions are the argmax; sampled ones repeat by seed
    first, second = load_policy(path, seed=7), load_policy(path, seed=7)
    greedy = load_policy(path, deterministic=True)
    for i in range(len(tokens)):
        for policy in (first, second, greedy):
            policy.reset()
        obs = {"tokens": tokens[i], "rules": rules[i]}
        a, b = first.act(obs), second.act(obs)
        assert np.array_equal(a, b)
        g = greedy.act(obs)
        assert int(np.atleast_1d(g)[0]) == int(want["action_logits"][i, 0].argmax())

    # 3. RLlib RLModule
    pytest.importorskip("ray.rllib")
    from ray.rllib.core.columns import Columns

    from socius.policies.rl_module import load_rl_module
    rl_module = load_rl_module(path)
    obs = torch.from_numpy(flat_observation(tokens, rules))
    batch = {Columns.OBS: torch.stack([obs, obs], 1)}
    if core == "gru":
        batch[Columns.STATE_IN] = {"h": torch.zeros(len(tokens), net.config.core_size)}
    else:
        batch[Columns.OBS] = obs
    with torch.no_grad():
        rl_out = rl_module.forward_inference(batch)
        values = rl_module.compute_values(batch)
    want_flat = want if core == "gru" else {k: v[:, 0] for k, v in want.items() if v.dim() > 1}
    if core == "mlp":
        want_flat["value"] = want["value"][:, 0]
    expected = torch.cat([want_flat["action_logits"], want_flat["team_logits"]], -1)
    assert torch.equal(rl_out[Columns.ACTION_DIST_INPUTS], expected)
    assert torch.equal(values, want_flat["value"])


def test_from_weights_rebuilds_the_net_from_read_only_arrays_without_sharing_them():
    """Weights as a remote learner hands them over (read-only numpy arrays) or as tensors give
    an eval-mode net with the same outputs; changing the rebuilt net leaves the arrays alone."""
    torch.manual_seed(0)
    config = NetConfig(max_players=4, history=4, embed=4, hidden=16, core="gru", core_size=16)
    net = SociusNet(config).eval()
    arrays = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    for array in arrays.values():
        array.setflags(write=False)
    tokens, rules = observations(config, count=8)
    bias = net.action_head.bias.detach().clone()
    for weights in (arrays, net.state_dict()):
        rebuilt = SociusNet.from_weights(config, weights)
        assert not rebuilt.training
        for key in ("action_logits", "value"):
            assert torch.equal(outputs(rebuilt, tokens, rules)[key], outputs(net, tokens, rules)[key])
        with torch.no_grad():
            rebuilt.action_head.bias += 1.0
        # neither the arrays nor the source net's tensors are shared with the rebuilt net
        assert np.array_equal(arrays["action_head.bias"], bias.numpy())
        assert torch.equal(net.action_head.bias, bias)
    with pytest.raises(RuntimeError, match="size mismatch"):
        SociusNet.from_weights(NetConfig(max_players=4, history=4, embed=4, hidden=32,
                                         core="gru", core_size=16), arrays)


def test_with_tom_to_policy_the_policy_reads_the_theory_of_mind_head():
    """Changing the theory-of-mind head changes the actions of a net with `tom_to_policy`
    (the others' expected actions are an input of its heads) and no other net's."""
    for tom_to_policy in (False, True):
        torch.manual_seed(0)
        net = SociusNet(NetConfig(tom_to_policy=tom_to_policy)).eval()
        tokens, rules = observations(net.config, count=16)
        before = outputs(net, tokens, rules)
        with torch.no_grad():
            net.tom_head[-1].bias[:6] += torch.tensor([3.0, -3.0, 0, 0, 0, 0])
        after = outputs(net, tokens, rules)
        changed = not torch.equal(before["action_logits"], after["action_logits"])
        assert changed == tom_to_policy
        assert net.action_head.in_features == net.config.core_size + 6 * tom_to_policy


def test_loads_where_importing_ray_fails(tmp_path):
    torch.manual_seed(1)
    path = save_checkpoint(SociusNet(NetConfig(core="gru")), tmp_path / "ckpt")
    code = f"""
import sys
sys.modules["ray"] = None  # any `import ray` now raises ImportError
import numpy as np
from socius.policies import load_policy
from socius.policies.network import NetConfig
policy = load_policy({str(path)!r})
size = NetConfig().layout.size
tokens = np.zeros(size, np.uint8)
tokens[NetConfig().layout.n_actions] = 2
tokens[NetConfig().layout.team_moves] = 1
print(policy.act({{"tokens": tokens, "rules": np.zeros(64, np.float32)}}))
assert "ray" not in [m for m in sys.modules if sys.modules[m] is not None and m == "ray"]
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("0", "1")


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(2)
    return save_checkpoint(SociusNet(NetConfig(core="mlp", hidden=16, core_size=16)),
                           tmp_path / "ckpt")


def test_flipped_weight_bytes_are_refused(saved):
    weights = saved / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_module(saved)


def test_truncated_weights_are_refused(saved):
    weights = saved / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="weights.safetensors"):
        load_module(saved)


def test_mismatched_architecture_is_refused(saved):
    manifest = json.loads((saved / "policy.json").read_text())
    manifest["architecture"]["config"]["hidden"] = 32
    (saved / "policy.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="expected"):
        load_module(saved)


@pytest.mark.parametrize("key, value, needle", [
    ("format_version", 0, "format_version 0"),
    ("format_version", 2, "format_version 2"),
    ("obs_version", 0, "observation encoding version 0"),
    ("format", "pickle", "not a socius policy"),
])
def test_incompatible_versions_are_refused(saved, key, value, needle):
    manifest = json.loads((saved / "policy.json").read_text())
    manifest[key] = value
    (saved / "policy.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=needle):
        load_module(saved)


def test_missing_and_garbled_files_are_refused(saved, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        load_module(tmp_path / "nowhere")
    (saved / "policy.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_module(saved)
    (saved / "policy.json").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_module(saved)


@pytest.mark.parametrize("edit, needle", [
    # a declared size that would cost gigabytes is refused before anything is built
    (lambda m: m["architecture"]["config"].update(hidden=40_000), "hidden = 40000 is above"),
    (lambda m: m["architecture"].update(config=[1, 2]), "config should be a mapping"),
    (lambda m: m.update(weights_bytes="12"), "'weights_bytes' missing or not a int"),
    (lambda m: m["architecture"]["config"].update(hidden=2048), "expected"),  # within bounds
])
def test_manifests_of_any_shape_are_refused_with_a_checkpoint_error(saved, edit, needle):
    manifest = json.loads((saved / "policy.json").read_text())
    edit(manifest)
    (saved / "policy.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=needle):
        load_module(saved)


def test_a_deeply_nested_manifest_is_refused(saved):
    (saved / "policy.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_module(saved)


def test_non_finite_weights_are_never_saved_nor_loaded(saved, tmp_path):
    import hashlib

    from safetensors.torch import load_file, save_file

    net = SociusNet(NetConfig(core="mlp", hidden=16, core_size=16))
    with torch.no_grad():
        net.value_head.bias.fill_(float("nan"))
    with pytest.raises(CheckpointError, match="non-finite weights in .*value_head.bias"):
        save_checkpoint(net, tmp_path / "diverged")
    assert not (tmp_path / "diverged").exists()
    # one written by other means, consistent with its manifest, still does not load
    weights = saved / "weights.safetensors"
    state = load_file(str(weights))
    state["value_head.bias"] = torch.full_like(state["value_head.bias"], float("inf"))
    save_file(state, str(weights))
    manifest = json.loads((saved / "policy.json").read_text())
    manifest.update(weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
                    weights_bytes=weights.stat().st_size)
    (saved / "policy.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="non-finite"):
        load_module(saved)


def test_save_refuses_to_overwrite_unless_asked(saved):
    net = SociusNet(NetConfig(core="mlp", hidden=16, core_size=16))
    with pytest.raises(CheckpointError, match="already exists"):
        save_checkpoint(net, saved)
    save_checkpoint(net, saved, overwrite=True)
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]


def fixture_expectation():
    tokens, rules = observations(FIXTURE_CONFIG, count=8, seed=5)
    out = outputs(load_module(FIXTURE), tokens, rules)
    return {"action_logits": out["action_logits"].tolist(), "value": out["value"].tolist()}


def test_committed_fixture_keeps_loading_with_the_same_outputs():
    expected = json.loads((FIXTURE.parent / "policy_v1_expected.json").read_text())
    got = fixture_expectation()
    np.testing.assert_allclose(got["action_logits"], expected["action_logits"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["value"], expected["value"], rtol=1e-6, atol=1e-6)


if __name__ == "__main__" and "--regen" in sys.argv:
    torch.manual_seed(12345)
    save_checkpoint(SociusNet(FIXTURE_CONFIG), FIXTURE, lineage={"fixture": True}, overwrite=True)
    (FIXTURE.parent / "policy_v1_expected.json").write_text(json.dumps(fixture_expectation()))
    print(f"wrote {FIXTURE}")
