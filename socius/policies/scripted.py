"""Scripted partners: the classic strategies of the game-theory literature, in any seat.

Each partner reads the same observation a learned policy reads. `act(observation)` plays one
seat (the PettingZoo view); `act_rows(rows, state, uniform)` plays many at once from token rows
`[N, L]`, keeping per-row memory in `state` (reset whenever a row shows an episode's first
step). Cooperation strategies play action 0 to cooperate and 1 to defect, so they are defined
for two-action games whose families have a cooperative action (prisoner's dilemma, stag hunt,
chicken, public goods); for N players "the others cooperated" means at least `threshold` of the
other players cooperated in the last round.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from socius.envs import FAMILIES, Scenario
from socius.envs.encoding import ObsLayout


class ScriptedPartner:
    """Base class: subclasses define `_act` on decoded rows."""

    name = "scripted"
    needs_cooperation = True  # only for games with a cooperative action 0

    def __init__(self, layout: ObsLayout | None = None, seed: int = 0):
        self.layout = layout or ObsLayout()
        self._rng = np.random.default_rng(seed)
        self._state = self.new_state(1)

    def supports(self, scenario: Scenario) -> bool:
        """Whether this partner is defined for every game of the scenario."""
        if not self.needs_cooperation:
            return True
        return scenario.n_actions == 2 and all(
            FAMILIES[g.family].cooperative_action == 0 for g in scenario.games)

    def new_state(self, n: int) -> np.ndarray:
        return np.zeros(n, np.int8)

    def reset(self) -> None:
        self._state = self.new_state(1)

    def act(self, observation: dict[str, Any]) -> int:
        """One seat's action from its PettingZoo observation."""
        row = np.asarray(observation["tokens"])[None, :]
        return int(self.act_rows(row, self._state, self._rng.random(1))[0])

    def act_rows(self, rows: np.ndarray, state: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """Actions for token rows `[N, L]`; `state` `[N]` is updated in place."""
        lay = self.layout
        fields = lay.decode(rows)
        first = (fields["history"] == 0).all(axis=(-2, -1))  # no action seen: episode start
        state[first] = 0
        seat = fields["seat"].astype(np.int64)
        last = fields["history"][:, 0, :].astype(np.int64) - 1  # -1: none
        n = np.arange(lay.max_players)[None, :]
        others = (fields["seat_mask"] == 1) & (n != seat[:, None])
        coop = ((last == 0) & others).sum(axis=1) / np.maximum(others.sum(axis=1), 1)
        own_last = np.take_along_axis(last, seat[:, None], axis=1)[:, 0]
        return self._act(first, coop, own_last, state, uniform,
                         fields["n_actions"].astype(np.int64)).astype(np.int64)

    def _act(self, first, coop, own_last, state, uniform, n_actions) -> np.ndarray:
        raise NotImplementedError


class AlwaysCooperate(ScriptedPartner):
    """Cooperates every round."""

    name = "always_cooperate"

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        return np.zeros(first.shape, np.int64)


class AlwaysDefect(ScriptedPartner):
    """Defects every round."""

    name = "always_defect"

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        return np.ones(first.shape, np.int64)


class TitForTat(ScriptedPartner):
    """Cooperates first, then cooperates iff at least `threshold` of the others cooperated."""

    name = "tit_for_tat"

    def __init__(self, threshold: float = 0.5, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        return np.where(first | (coop >= self.threshold), 0, 1)


class GrimTrigger(ScriptedPartner):
    """Cooperates until a round where fewer than `threshold` of the others cooperated; then
    defects for the rest of the episode."""

    name = "grim_trigger"

    def __init__(self, threshold: float = 1.0, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        state |= (~first & (coop < self.threshold)).astype(np.int8)
        return state.astype(np.int64)


class WinStayLoseShift(ScriptedPartner):
    """Pavlov: cooperates first; then repeats its last action after a 'win' (at least
    `threshold` of the others cooperated) and switches after a loss."""

    name = "win_stay_lose_shift"

    def __init__(self, threshold: float = 0.5, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        stay = coop >= self.threshold
        return np.where(first, 0, np.where(stay, own_last, 1 - own_last))


class GenerousTitForTat(TitForTat):
    """Tit-for-tat that forgives: after the others defected it still cooperates with
    probability `generosity` (Nowak and Sigmund's 1/3), so one mistake does not echo forever."""

    name = "generous_tit_for_tat"

    def __init__(self, generosity: float = 1 / 3, **kwargs):
        if not 0 <= generosity <= 1:
            raise ValueError(f"GenerousTitForTat.generosity must be in [0, 1], got {generosity}")
        self.generosity = generosity
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        intended = super()._act(first, coop, own_last, state, uniform, n_actions)
        return np.where(uniform < self.generosity, 0, intended)


class SuspiciousTitForTat(TitForTat):
    """Tit-for-tat that defects first: it must be shown cooperation before it gives any."""

    name = "suspicious_tit_for_tat"

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        return np.where(first, 1, super()._act(first, coop, own_last, state, uniform, n_actions))


class NoisyTitForTat(TitForTat):
    """Tit-for-tat whose every move is flipped with probability `noise` (5%: a trembling hand):
    a partner that a good reciprocator forgives rather than punishes forever."""

    name = "tit_for_tat_noisy"

    def __init__(self, noise: float = 0.05, **kwargs):
        if not 0 <= noise <= 1:
            raise ValueError(f"NoisyTitForTat.noise must be in [0, 1], got {noise}")
        self.noise = noise
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        intended = super()._act(first, coop, own_last, state, uniform, n_actions)
        return np.where(uniform < self.noise, 1 - intended, intended)


class Extortion(ScriptedPartner):
    """Press and Dyson's extortionate zero-determinant strategy Extort-3 (chi = 3 in the
    textbook prisoner's dilemma T, R, P, S = 5, 3, 1, 0): after (own, others') moves CC, CD,
    DC, DD it cooperates with probability 11/13, 1/2, 7/26, 0, which forces its surplus over
    mutual defection to be three times its partner's. Cooperates first; "the others
    cooperated" means at least `threshold` of them did."""

    name = "extortion"

    def __init__(self, probs: tuple[float, float, float, float] = (11 / 13, 1 / 2, 7 / 26, 0.0),
                 threshold: float = 0.5, **kwargs):
        self.probs, self.threshold = np.asarray(probs, np.float64), threshold
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        others_cooperated = coop >= self.threshold
        index = 2 * (own_last == 1) + ~others_cooperated  # CC, CD, DC, DD
        cooperate = uniform < self.probs[np.clip(index, 0, 3)]
        return np.where(first | cooperate, 0, 1)


class Alternator(ScriptedPartner):
    """Cooperates, defects, cooperates, ... regardless of what anyone does."""

    name = "alternator"

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        action = state.astype(np.int64).copy()
        state ^= 1
        return action


class RandomCooperator(ScriptedPartner):
    """Cooperates with probability `p` every round, whatever happens (random(p))."""

    name = "random_cooperator"

    def __init__(self, p: float = 0.5, **kwargs):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomCooperator.p must be in [0, 1], got {p}")
        self.p = p
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        return np.where(uniform < self.p, 0, 1)


class FixedMixed(ScriptedPartner):
    """Plays action k with probability `probs[k]` every round, in any game with len(probs)
    actions."""

    name = "fixed_mixed"
    needs_cooperation = False

    def __init__(self, probs: list[float] | tuple[float, ...], **kwargs):
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 1 or probs.size < 2 or (probs < 0).any() or not np.isclose(probs.sum(), 1):
            raise ValueError(f"FixedMixed.probs must be a probability vector, got {probs.tolist()}")
        self.probs = probs
        self._cumulative = np.cumsum(probs)
        super().__init__(**kwargs)

    def supports(self, scenario: Scenario) -> bool:
        return scenario.n_actions == self.probs.size

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        return np.minimum(np.searchsorted(self._cumulative, uniform, side="right"),
                          self.probs.size - 1)


class BiasedRandom(ScriptedPartner):
    """Has a favourite action, drawn uniformly at each episode's start, and plays it with
    probability `bias` (else a uniformly random action): a partner whose tendency can be read
    from its play and exploited, in any game."""

    name = "biased_random"
    needs_cooperation = False

    def __init__(self, bias: float = 0.8, **kwargs):
        if not 0 <= bias <= 1:
            raise ValueError(f"BiasedRandom.bias must be in [0, 1], got {bias}")
        self.bias = bias
        super().__init__(**kwargs)

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        drawn = np.minimum((uniform * n_actions).astype(np.int64), n_actions - 1)
        state[first] = (1 + drawn[first]).astype(np.int8)  # the favourite, 1-based
        favourite = state.astype(np.int64) - 1
        spread = (uniform - self.bias) / max(1.0 - self.bias, 1e-12)
        other = np.minimum((spread * n_actions).astype(np.int64), n_actions - 1)
        return np.where(first | (uniform < self.bias), favourite, other)


class UniformRandom(ScriptedPartner):
    """Plays a uniformly random valid action every round."""

    name = "uniform_random"
    needs_cooperation = False

    def _act(self, first, coop, own_last, state, uniform, n_actions):
        return np.minimum((uniform * n_actions).astype(np.int64), n_actions - 1)


PARTNERS: dict[str, type[ScriptedPartner]] = {
    cls.name: cls for cls in (AlwaysCooperate, AlwaysDefect, TitForTat, GenerousTitForTat,
                              SuspiciousTitForTat, NoisyTitForTat, GrimTrigger,
                              WinStayLoseShift, Extortion, Alternator, RandomCooperator,
                              FixedMixed, BiasedRandom, UniformRandom)
}


def make_partner(name: str, layout: ObsLayout | None = None, **kwargs: Any) -> ScriptedPartner:
    """A scripted partner by name (`PARTNERS`), with its keyword arguments."""
    if name not in PARTNERS:
        raise ValueError(f"unknown scripted partner {name!r} (known: {sorted(PARTNERS)})")
    return PARTNERS[name](layout=layout, **kwargs)
