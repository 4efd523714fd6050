"""Socius's checkpoint format: a folder with `weights.safetensors` and `policy.json`. No pickle.

`policy.json` records the format version, the socius and observation-encoding versions, the
architecture and its sizes, the weights' sha256, and free-form lineage. Loading checks every one
of these and refuses anything else with a `CheckpointError` naming the file and the problem. It
needs neither Ray nor RLlib: `load_policy` gives an inference `Policy`, `load_module` a plain
trainable `SociusNet`; `socius.policies.rl_module.load_rl_module` gives an RLlib RLModule.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

import socius
from socius.envs.encoding import OBS_VERSION
from socius.policies.network import NetConfig, SociusNet, flat_observation

FORMAT = "socius-policy"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)
WEIGHTS, MANIFEST = "weights.safetensors", "policy.json"
MAX_MANIFEST_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 1 << 30
# Largest architecture size a checkpoint may declare (policy.json is written by whoever wrote the
# checkpoint: its sha256 proves integrity, not origin); far above anything trained here.
MAX_ARCHITECTURE_SIZE = {"history": 64, "embed": 1024, "hidden": 4096, "core_size": 4096}


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, tampered with or incompatible; the message says which."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by its path (a folder's fsync makes renames in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(net: SociusNet, path: str | os.PathLike, lineage: dict[str, Any] | None = None,
                    overwrite: bool = False) -> Path:
    """Write `net` as a checkpoint folder at `path`, atomically (a reader sees all or nothing)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise CheckpointError(f"{path} already exists (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        state = {k: v.detach().to("cpu", torch.float32).contiguous()
                 for k, v in net.state_dict().items()}
        _check_finite(state, path)
        save_file(state, str(staging / WEIGHTS))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "socius_version": socius.__version__,
            "obs_version": OBS_VERSION,
            "architecture": {"class": "SociusNet", "config": net.config.to_dict()},
            "weights_sha256": _sha256(staging / WEIGHTS),
            "weights_bytes": (staging / WEIGHTS).stat().st_size,
            "created_unix": time.time(),
            "lineage": lineage or {},
        }
        with open(staging / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        with open(staging / WEIGHTS, "rb+") as f:
            os.fsync(f.fileno())
        # mkdtemp makes a private folder; a checkpoint is meant to be shared and read
        os.chmod(staging, 0o755)
        for name in (WEIGHTS, MANIFEST):
            os.chmod(staging / name, 0o644)
        fsync_path(staging)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(staging, path)
            shutil.rmtree(old)
        else:
            os.replace(staging, path)
        fsync_path(path.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The checked `policy.json` of a checkpoint folder."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no checkpoint folder there")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{manifest_path}: missing (a checkpoint holds {MANIFEST} and "
                              f"{WEIGHTS})")
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{manifest_path}: larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{manifest_path}: not valid JSON ({str(exc)[:200]})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path}: not a socius policy (format should be {FORMAT!r})")
    version = manifest.get("format_version")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise CheckpointError(
            f"{manifest_path}: format_version {version!r} was written by socius "
            f"{manifest.get('socius_version', '?')}; this socius {socius.__version__} reads "
            f"format versions {list(SUPPORTED_FORMAT_VERSIONS)}")
    if manifest.get("obs_version") != OBS_VERSION:
        raise CheckpointError(f"{manifest_path}: observation encoding version "
                              f"{manifest.get('obs_version')!r}, this socius uses {OBS_VERSION}")
    architecture = manifest.get("architecture")
    if not isinstance(architecture, dict) or architecture.get("class") != "SociusNet":
        raise CheckpointError(f"{manifest_path}: unknown architecture {architecture!r}")
    for key, kind in (("weights_sha256", str), ("weights_bytes", int)):
        if not isinstance(manifest.get(key), kind):
            raise CheckpointError(f"{manifest_path}: {key!r} missing or not a {kind.__name__}")
    config = architecture.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{manifest_path}: architecture.config should be a mapping")
    for key, bound in MAX_ARCHITECTURE_SIZE.items():
        value = config.get(key)
        if isinstance(value, int) and value > bound:
            raise CheckpointError(f"{manifest_path}: architecture.config.{key} = {value} is "
                                  f"above {bound} (refused before building anything)")
    return manifest


def _check_finite(state: dict[str, torch.Tensor], where: Path) -> None:
    """No checkpoint holds a NaN or an infinity (a diverged learner's weights)."""
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{where}: non-finite weights in {bad[:5]} (a diverged learner; "
                              "lower the learning rate)")


def load_module(path: str | os.PathLike, device: str | torch.device = "cpu") -> SociusNet:
    """The checkpoint as a plain, trainable `SociusNet` (policy, value and theory-of-mind heads)."""
    path = Path(path)
    manifest = read_manifest(path)
    try:
        config = NetConfig(**manifest["architecture"]["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / MANIFEST}: bad architecture config ({exc})") from exc
    weights = path / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing")
    with torch.device("meta"):  # the architecture's shapes, without allocating it
        expected = {k: tuple(v.shape) for k, v in SociusNet(config).state_dict().items()}
    size = weights.stat().st_size
    if size > MAX_WEIGHTS_BYTES or size != manifest["weights_bytes"]:
        raise CheckpointError(f"{weights}: {size} bytes, the manifest says "
                              f"{manifest['weights_bytes']}")
    if _sha256(weights) != manifest["weights_sha256"]:
        raise CheckpointError(f"{weights}: sha256 does not match {MANIFEST} (corrupted or "
                              "tampered with)")
    try:  # names, shapes and dtypes from the header before any tensor is read
        with safe_open(str(weights), framework="pt") as f:
            header = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
                      for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({exc})") from exc
    if set(header) != set(expected):
        missing, extra = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
        raise CheckpointError(f"{weights}: tensors do not match the architecture "
                              f"(missing {missing[:5]}, unexpected {extra[:5]})")
    for key, (shape, dtype) in header.items():
        if shape != expected[key] or dtype != "F32":
            raise CheckpointError(f"{weights}: tensor {key!r} is {shape} {dtype}, expected "
                                  f"{expected[key]} F32")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({exc})") from exc
    _check_finite(state, weights)
    net = SociusNet(config)
    net.load_state_dict(state)
    return net.to(device)


class Policy:
    """Inference for one seat: `reset()` at an episode's start, then `act(observation)`.

    Keeps the recurrent state inside. `act` returns the game action, or `[action, team_move]`
    when the observation allows team moves; `deterministic=True` takes the most likely ones."""

    def __init__(self, net: SociusNet, deterministic: bool = False, seed: int = 0):
        self.net = net.eval()
        self.deterministic = deterministic
        self._generator = torch.Generator().manual_seed(seed)
        self._state: torch.Tensor | None = None

    @property
    def config(self) -> NetConfig:
        return self.net.config

    def reset(self) -> None:
        self._state = None

    @torch.no_grad()
    def forward(self, observation: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """All heads for one observation; advances the recurrent state."""
        tokens = np.asarray(observation["tokens"])
        if tokens.shape != (self.config.layout.size,):
            raise ValueError(f"observation tokens have shape {tokens.shape}, this policy reads "
                             f"({self.config.layout.size},) (max_players="
                             f"{self.config.max_players}, history={self.config.history})")
        obs = torch.from_numpy(flat_observation(tokens, np.asarray(observation["rules"])))[None]
        out = self.net(obs, self._state)
        self._state = out["state"] if self.net.recurrent else None
        return out

    def act(self, observation: dict[str, np.ndarray]) -> int | np.ndarray:
        out = self.forward(observation)
        action = self._choose(out["action_logits"][0])
        team_moves = int(observation["tokens"][self.config.layout.team_moves])
        if team_moves <= 1:
            return action
        return np.array([action, self._choose(out["team_logits"][0])])

    def _choose(self, logits: torch.Tensor) -> int:
        if self.deterministic:
            return int(logits.argmax())
        return int(torch.multinomial(torch.softmax(logits, -1), 1, generator=self._generator))


def load_policy(path: str | os.PathLike, deterministic: bool = False, seed: int = 0) -> Policy:
    """The checkpoint as an inference `Policy` (no Ray needed)."""
    return Policy(load_module(path), deterministic=deterministic, seed=seed)
