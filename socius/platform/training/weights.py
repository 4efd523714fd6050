"""Weights travel by content hash: the learner publishes each member's state once per update,
and a runner fetches a state only when it has not seen that hash (frozen snapshots: never again).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from socius.policies.network import NetConfig, SociusNet


@dataclass(frozen=True)
class WeightsHandle:
    """A member's weights: their content hash and where to get them (an object ref, or the
    state dict itself when no Ray is involved)."""

    digest: str
    source: Any


def state_digest(state: dict[str, Any]) -> str:
    """sha256 over the tensors' names and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(np.ascontiguousarray(np.asarray(state[name], dtype=np.float32)).tobytes())
    return h.hexdigest()[:24]


class WeightPool:
    """Nets keyed by weight hash, at most `capacity` of them (least recently used go first),
    on `device`."""

    def __init__(self, config: NetConfig, capacity: int = 64, fetch=None,
                 device: str | torch.device = "cpu"):
        self.config, self.capacity, self.device = config, capacity, torch.device(device)
        self._nets: OrderedDict[str, SociusNet] = OrderedDict()
        self._fetch = fetch or (lambda source: source)
        self.fetches = 0

    def net(self, handle: WeightsHandle) -> SociusNet:
        """The net with these weights, fetched and built only on a hash not seen before."""
        if handle.digest in self._nets:
            self._nets.move_to_end(handle.digest)
            return self._nets[handle.digest]
        state = self._fetch(handle.source)
        net = SociusNet.from_weights(self.config, state).to(self.device)
        self.fetches += 1
        self._nets[handle.digest] = net
        while len(self._nets) > self.capacity:
            self._nets.popitem(last=False)
        return net
