"""Evolving populations: fitness, exploit/explore with lineage, as pure functions.

Every `every_generations`, within each population and role, the learning members are ranked by
fitness; each member in the bottom fraction copies the weights and care of a member drawn
from the top fraction (exploit), then explores: each care weight is resampled uniformly from
`care_bounds` with probability `resample_prob`, else moved by plus or minus `care_step` (clipped
to the bounds). Each copy is returned as an `Inheritance`, which the league records in the
child's lineage. (PPO's hyperparameters are the league's, one `ppo` section for every learner:
RLlib's Learner sets each optimizer's learning rate from its own schedule after every update,
so per-member values would be overwritten.)

Fitness is a choice (`FITNESS`), computed from the generation's match results:
`own` - the member's mean return per episode; `team` - its initial team's mean return;
`welfare` - the mean return of everyone in its matches; `rating` - its openskill ordinal;
`eval` - a score the caller measured just before (the run evaluates the learners on its `eval`
suite and passes each one's `eval.score`). Selection on own return in mixed-motive games tends
to erase care; selection on group outcome tends to keep it, and in a prisoner's dilemma also
rewards being exploited (cooperating with always-defect raises the pair's mean return);
selection on an evaluation's conditional cooperation rewards reading the partner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from socius.platform.league.ratings import Rating
from socius.platform.league.state import Member
from socius.platform.types import MatchResult

FITNESS = ("own", "team", "welfare", "rating", "eval")
CARE_KEYS = ("team", "others")


@dataclass(frozen=True)
class EvolutionRules:
    """When and how members copy and mutate (see the module docstring)."""

    every_generations: int = 2
    bottom_fraction: float = 0.25
    top_fraction: float = 0.25
    resample_prob: float = 0.2
    care_step: float = 0.1
    care_bounds: tuple[float, float] = (0.0, 1.0)

    def due(self, generation: int) -> bool:
        """Whether exploit/explore runs at the end of `generation`."""
        return (generation + 1) % self.every_generations == 0

    def __post_init__(self) -> None:
        if self.every_generations < 1:
            raise ValueError(f"EvolutionRules.every_generations must be >= 1, got "
                             f"{self.every_generations}")
        for key in ("bottom_fraction", "top_fraction", "resample_prob"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"EvolutionRules.{key} must be in [0, 1], got "
                                 f"{getattr(self, key)}")
        low, high = self.care_bounds
        if not low <= high:
            raise ValueError(f"EvolutionRules.care_bounds must be (low, high), got "
                             f"{self.care_bounds}")


@dataclass(frozen=True)
class Inheritance:
    """`child` took `parent`'s weights and care, then `changes` (name ->
    [inherited value, new value]) at `generation`; `fitness`: the child's and the parent's, as
    selection saw them."""

    child: str
    parent: str
    generation: int
    changes: dict[str, list[float]]
    fitness: tuple[float, float] = (float("nan"), float("nan"))

    def record(self) -> dict[str, Any]:
        # JSON has no infinities: a member without matches or score is recorded as None
        child, parent = (round(float(f), 4) if np.isfinite(f) else None for f in self.fitness)
        return {"generation": self.generation, "event": "copied", "from": self.parent,
                "changes": self.changes, "fitness": {"child": child, "parent": parent}}


def fitness(results: Iterable[MatchResult], members: Sequence[str], kind: str,
            ratings: Mapping[str, Rating] | None = None,
            scores: Mapping[str, float] | None = None) -> dict[str, float]:
    """Each member's fitness over `results` (members with no matches: -inf, so they rank
    last; `rating`: the openskill ordinal, default rating for the unrated; `eval`: the given
    `scores`, -inf for a member without a finite one)."""
    if kind not in FITNESS:
        raise ValueError(f"unknown fitness {kind!r} (known: {FITNESS})")
    if kind == "rating":
        return {m: (ratings or {}).get(m, Rating()).ordinal for m in members}
    if kind == "eval":
        if scores is None:
            raise ValueError("fitness 'eval' needs the members' evaluation scores")
        return {m: float(scores[m]) if np.isfinite(scores.get(m, np.nan)) else -np.inf
                for m in members}
    wanted = set(members)
    totals = {m: [0.0, 0] for m in members}
    for result in results:
        returns = np.asarray(result.returns, np.float64)
        team_of = np.repeat(np.arange(len(result.team_sizes)), result.team_sizes)
        for seat, member in enumerate(result.seats):
            if member not in wanted:
                continue
            if kind == "own":
                value = returns[seat]
            elif kind == "team":
                value = returns[team_of == team_of[seat]].mean()
            else:
                value = returns.mean()
            totals[member][0] += float(value)
            totals[member][1] += 1
    return {m: total / count if count else -np.inf for m, (total, count) in totals.items()}


def exploit_explore(members: Sequence[Member], fitness_of: Mapping[str, float],
                    rules: EvolutionRules, rng: np.random.Generator, generation: int
                    ) -> list[Inheritance]:
    """Copies and mutations for one group of comparable members (one population and role).
    Pure: the members are not changed; apply the returned inheritances with `inherit`."""
    ranked = sorted(members, key=lambda m: (fitness_of[m.id], m.id))  # worst first
    n = len(ranked)
    if n < 2 or rules.bottom_fraction == 0:
        return []
    # at least one each way, so that two members are already a population that evolves
    n_top = max(1, int(n * rules.top_fraction))
    n_bottom = min(max(1, int(n * rules.bottom_fraction)), n - n_top)
    top = ranked[n - n_top:]
    out = []
    for child in ranked[:n_bottom]:
        parent = top[int(rng.integers(len(top)))]
        changes = {}
        for key in CARE_KEYS:
            old = getattr(parent.care, key)
            changes[f"care.{key}"] = [old, _mutate_care(old, rules, rng)]
        out.append(Inheritance(child.id, parent.id, generation, changes,
                               (fitness_of[child.id], fitness_of[parent.id])))
    return out


def inherit(child: Member, inheritance: Inheritance) -> None:
    """Set the child's care to the inherited, mutated values, and record the event in its
    lineage (its weights are the caller's to copy)."""
    care = {name.removeprefix("care."): new for name, (_, new) in inheritance.changes.items()}
    child.care = replace(child.care, **care)
    child.lineage.append(inheritance.record())


def _mutate_care(value: float, rules: EvolutionRules, rng: np.random.Generator) -> float:
    low, high = rules.care_bounds
    if rng.random() < rules.resample_prob:
        return float(rng.uniform(low, high))
    step = rules.care_step if rng.random() < 0.5 else -rules.care_step
    return float(np.clip(value + step, low, high))


def family_tree(members: Mapping[str, Member], member_id: str) -> str:
    """A member's family tree as text: where it came from (snapshot parent, copies with their
    mutations), then what came from it (its snapshots and the members that copied it)."""
    if member_id not in members:
        raise KeyError(f"no member {member_id!r} (members: {sorted(members)})")
    lines = []

    def ancestors(mid: str, depth: int) -> None:
        member = members.get(mid)
        pad = "  " * depth
        if member is None:
            lines.append(f"{pad}{mid} (not in this league)")
            return
        lines.append(f"{pad}{mid}  [{member.role.value}, {member.population}, care "
                     f"team {member.care.team:.2f} others {member.care.others:.2f}]")
        for event in reversed(member.lineage):
            changed = ", ".join(f"{k} {a:.3g}->{b:.3g}" for k, (a, b) in event["changes"].items())
            fit = event.get("fitness") or {}  # lineage saved before fitness was recorded: none
            if fit.get("child") is not None and fit.get("parent") is not None:
                changed += f"; fitness {fit['child']:.3g} < {fit['parent']:.3g}"
            lines.append(f"{pad}  generation {event['generation']}: copied {event['from']}"
                         f" ({changed})")
        if member.parent is not None and depth < 20:
            lines.append(f"{pad}  snapshot of (generation {member.generation}):")
            ancestors(member.parent, depth + 2)

    ancestors(member_id, 0)
    snapshots = [m.id for m in members.values() if m.parent == member_id]
    copied_by = sorted({(e["generation"], m.id) for m in members.values()
                        for e in m.lineage if e["from"] == member_id})
    if snapshots:
        lines.append(f"snapshots: {', '.join(snapshots)}")
    if copied_by:
        lines.append("copied by: " + ", ".join(f"{mid} (generation {g})" for g, mid in copied_by))
    return "\n".join(lines)


def selection_groups(state_members: Mapping[str, Member]) -> dict[tuple[str, str], list[Member]]:
    """The learners, grouped by population and role: the members selection compares (a group
    of one has no one to copy)."""
    groups: dict[tuple[str, str], list[Member]] = {}
    for member in state_members.values():
        if member.trainable:
            groups.setdefault((member.population, member.role.value), []).append(member)
    return groups


def evolve(state_members: Mapping[str, Member], results: Sequence[MatchResult],
           ratings: Mapping[str, Rating], rules: EvolutionRules, fitness_kind: str,
           rng: np.random.Generator, generation: int,
           scores: Mapping[str, float] | None = None) -> list[Inheritance]:
    """Exploit/explore for every group of learners of one population and role (`scores`:
    fitness `eval`'s measured scores)."""
    out = []
    for _, group in sorted(selection_groups(state_members).items()):
        fit = fitness(results, [m.id for m in group], fitness_kind, ratings, scores)
        out.extend(exploit_explore(group, fit, rules, rng, generation))
    return out


def cooperation_among(results: Iterable[MatchResult], group: set[str]) -> float:
    """Share of cooperative actions in matches whose every seat is in `group` (NaN if none)."""
    cooperated = possible = 0
    for result in results:
        if result.could_cooperate and all(m in group for m in result.seats):
            cooperated += sum(result.cooperated)
            possible += sum(result.could_cooperate)
    return cooperated / possible if possible else float("nan")


def reward_per_step_against(results: Iterable[MatchResult], players: set[str],
                            targets: set[str]) -> float:
    """Mean reward per step of `players`' seats in matches where every other seat is one of
    `targets` (NaN if there are none)."""
    total, steps = 0.0, 0
    for result in results:
        for seat, member in enumerate(result.seats):
            others = result.seats[:seat] + result.seats[seat + 1:]
            if member in players and others and all(o in targets for o in others):
                total += result.returns[seat]
                steps += result.steps
    return total / steps if steps else float("nan")
