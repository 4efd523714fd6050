"""The divergence guard: a learner whose weights turn non-finite or explode keeps its last good
weights instead, and learning that diverges round after round stops the run, naming the
learning rate. No diverged weights reach the runners or a checkpoint."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from socius.policies.trainer import set_learner_state

WINDOW = 10  # rounds the guard remembers


class DivergenceError(ValueError):
    """Learning diverged again and again; the message says what to change."""


def unhealthy(state: dict[str, np.ndarray], max_abs_weight: float) -> list[str]:
    """Tensors of a state dict that hold a NaN, an infinity, or a value above the bound."""
    return [k for k, v in state.items()
            if not np.isfinite(v).all() or (v.size and float(np.abs(v).max()) > max_abs_weight)]


@dataclass
class DivergenceGuard:
    """Checks each learner's weights after every update (`check`)."""

    max_abs_weight: float = 1e4
    max_strikes: int = 3  # rounds with a diverged learner among the last `WINDOW` that stop it
    lr: float | None = None  # named in the message
    good: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    recent: deque = field(default_factory=lambda: deque(maxlen=WINDOW))  # diverged per round
    skipped: int = 0  # updates thrown away, over the run

    @property
    def strikes(self) -> int:
        return sum(self.recent)

    def check(self, learner_group, states: dict[str, dict[str, np.ndarray]]
              ) -> dict[str, dict[str, np.ndarray]]:
        """`states` as they should be published: diverged members get their last good
        weights back (in the learner too); raises DivergenceError once `max_strikes` of the
        last `WINDOW` rounds had one (a diverged optimizer can alternate between bad updates
        and skipped ones), or when a member never had good weights."""
        bad = {m: unhealthy(s, self.max_abs_weight) for m, s in states.items()}
        bad = {m: keys for m, keys in bad.items() if keys}
        self.recent.append(bool(bad))
        if not bad:
            self.good.update(states)
            return states
        self.skipped += len(bad)
        member, keys = next(iter(bad.items()))
        if self.strikes >= self.max_strikes or any(m not in self.good for m in bad):
            raise DivergenceError(
                f"learning diverged in {self.strikes} of the last {len(self.recent)} rounds: "
                f"{member}'s weights "
                f"{keys[:3]} are non-finite or above {self.max_abs_weight:g}; lower the "
                f"learning rate (lr={self.lr}) — the run folder keeps the last good generation")
        for m in bad:
            set_learner_state(learner_group, m, self.good[m])
        return {**states, **{m: self.good[m] for m in bad}}
