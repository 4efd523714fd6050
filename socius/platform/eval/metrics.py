"""The measures of an evaluation, as pure functions of what was played.

- `normalised`: Melting Pot's normalisation: 0 at the worst reference policy's focal return, 1 at
  the best's (the references fixed by the suite), per scenario and partner set; a cell whose
  worst and best references its episodes cannot tell apart is left out (nan).
- `gini` / equality (1 - Gini of the seats' returns), `efficiency` (welfare per step relative to
  the best joint action's), after Perolat et al. 2017; sustainability and peace are counted
  while playing (eval/play.py).
- `conditional_cooperation`: cooperation with reciprocators minus cooperation with
  unconditional defectors.
- `alpha_rank`: OpenSpiel's alpha-rank over agents of a symmetric meta-game.
- `nash_conv`: exploitability of the empirical meta-game's Nash mixture and per agent (zero-sum).
"""

from __future__ import annotations

import itertools

import numpy as np

from socius.envs import BatchedEngine, Scenario


def normalised(value: float, references: dict[str, float],
               samples: dict[str, np.ndarray] | None = None) -> float:
    """0 at the worst reference's value, 1 at the best's; nan when they are equal, or, given
    the references' per-episode returns (`samples`, paired: the same seeds in the same order),
    when the worst and the best are within twice the standard error of their paired difference:
    references that the cell's episodes cannot tell apart give no scale, and dividing by their
    spread divides by noise (on `heldout`, where only the two random references are defined,
    0.04-0.7 apart, cells scored from -37 to +29)."""
    low = min(references, key=references.get)
    high = max(references, key=references.get)
    spread = references[high] - references[low]
    if not np.isfinite(value) or spread < 1e-9:
        return float("nan")
    if samples is not None and len(samples[low]) > 1:
        difference = np.asarray(samples[high], np.float64) - np.asarray(samples[low], np.float64)
        if spread <= 2 * difference.std(ddof=1) / np.sqrt(difference.size):
            return float("nan")
    return float((value - references[low]) / spread)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (shifted to start at 0 when some are negative):
    0 for equal values, (n - 1) / n when one holds everything."""
    x = np.sort(np.asarray(values, np.float64))
    if x.size == 0:
        return float("nan")
    x = x - min(0.0, x[0])
    total = x.sum()
    if total <= 0:
        return 0.0
    n = x.size
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * total))


def best_welfare_per_step(scenario: Scenario, max_joint: int = 4096) -> float:
    """The largest sum of the seats' rewards any joint action earns in the scenario's first
    step (nan when there are more than `max_joint` joint actions)."""
    n, a = scenario.n_players, scenario.n_actions
    if a ** n > max_joint:
        return float("nan")
    joint = np.array(list(itertools.product(range(a), repeat=n)), np.int64).T  # [n, J]
    engine = BatchedEngine([scenario], np.zeros(joint.shape[1], np.intp))
    out = engine.buffers()
    engine.reset(np.arange(joint.shape[1], dtype=np.uint64), out)
    actions = np.zeros((engine.max_players, joint.shape[1]), np.int64)
    actions[:n] = joint
    engine.step(actions, out)
    return float(out.rewards[:n].sum(0).max())


def efficiency(welfare_per_step: float, best: float) -> float:
    """Welfare per step relative to the best joint action's (nan where that is not positive)."""
    return float(welfare_per_step / best) if np.isfinite(best) and best > 1e-9 else float("nan")


def _kind_and_defectors(cooperation_with: dict[str, float], reciprocators: tuple[str, ...],
                        defectors: tuple[str, ...]) -> tuple[float, float] | None:
    """Mean cooperation with the reciprocators and with the defectors met (None when either
    group was not met)."""
    kind = [cooperation_with[p] for p in reciprocators if p in cooperation_with]
    mean = [cooperation_with[p] for p in defectors if p in cooperation_with]
    return (float(np.mean(kind)), float(np.mean(mean))) if kind and mean else None


def conditional_cooperation(cooperation_with: dict[str, float],
                            reciprocators: tuple[str, ...],
                            defectors: tuple[str, ...] = ("always_defect",)) -> float:
    """Mean cooperation with the reciprocators minus mean cooperation with the defectors."""
    means = _kind_and_defectors(cooperation_with, reciprocators, defectors)
    return means[0] - means[1] if means else float("nan")


def reciprocity(cooperation_with: dict[str, float], reciprocators: tuple[str, ...],
                defectors: tuple[str, ...] = ("always_defect",)) -> float:
    """Mean cooperation with the reciprocators times one minus mean cooperation with the
    defectors: 1 for a perfect reciprocator, 0 for both unconditional strategies. Unlike
    conditional cooperation (their difference, 0 for every policy that ignores its partner),
    among policies that ignore their partner it is highest at cooperating half the time, so
    selection on it moves defectors toward cooperating and cooperators toward reading."""
    means = _kind_and_defectors(cooperation_with, reciprocators, defectors)
    return means[0] * (1 - means[1]) if means else float("nan")


def alpha_rank(payoffs: np.ndarray, alpha: float = 100.0) -> np.ndarray:
    """Stationary mass of each agent under alpha-rank (OpenSpiel) for the symmetric meta-game
    `payoffs[i, j]` = agent i's return against agent j. Payoffs are first scaled to [0, 1]
    (alpha's meaning depends on their scale, and returns of long games overflow it)."""
    import warnings

    from open_spiel.python.egt import alpharank

    m = np.asarray(payoffs, np.float64)
    spread = m.max() - m.min()
    m = (m - m.min()) / spread if spread > 0 else np.zeros_like(m)
    with warnings.catch_warnings():  # large alpha overflows exp() harmlessly inside
        warnings.simplefilter("ignore", RuntimeWarning)
        _, _, pi, _, _ = alpharank.compute([m], alpha=alpha)
    return np.asarray(pi, np.float64)


def nash_conv(payoffs: np.ndarray) -> dict[str, object]:
    """For a zero-sum symmetric meta-game `payoffs[i, j]` (i's return against j): a Nash
    mixture of the agents (nashpy), its exploitability (what the best agent earns against it,
    above the game's value), and each agent's exploitability (what the best other agent earns
    against it)."""
    import nashpy

    m = np.asarray(payoffs, np.float64)
    game = nashpy.Game(m, -m)
    sigma, _ = next(game.support_enumeration(non_degenerate=False, tol=1e-9))
    value = float(sigma @ m @ sigma)
    return {"nash": sigma.tolist(), "nash_conv": float((m @ sigma).max() - value),
            "exploitability": [float(m[:, i].max()) for i in range(len(m))]}
