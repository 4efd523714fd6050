"""The central matchmaker as pure functions: which scenario, who sits where, which seats learn.

For each ticket a learner (a trainable member) gets a scenario from the curriculum and a seat;
its initial teammates come from other populations when there are any (so agents must cooperate
with strangers); the other seats are filled by the learner's role: main agents play themselves
(self-play), PFSP-weighted league members, or the scripted background; main exploiters face the
main agents (and their snapshots); league exploiters anyone, PFSP-weighted. Only the learner's
own seats learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from socius.envs import Scenario
from socius.platform.league.pfsp import pfsp_probabilities
from socius.platform.league.roles import Role
from socius.platform.league.state import LeagueState, Member
from socius.platform.training.tickets import SCRIPTED_PREFIX, MatchTicket
from socius.policies.scripted import PARTNERS, make_partner


@dataclass(frozen=True)
class MatchmakingRules:
    """How seats are filled (see the module docstring)."""

    main_self_play: float = 0.35
    main_scripted: float = 0.15  # used only when `scripted` names a background population
    weighting: str = "squared"  # PFSP weighting of main agents and league exploiters
    exploiter_weighting: str = "variance"  # main exploiters against the mains
    cross_population: bool = True
    scripted: tuple[str, ...] = ()  # background partners, e.g. ("tit_for_tat", "always_defect")
    curriculum: str = "uniform"  # or "learning_progress"

    def __post_init__(self) -> None:
        for name in self.scripted:
            if name not in PARTNERS:
                raise ValueError(f"MatchmakingRules.scripted: unknown partner {name!r} "
                                 f"(known: {sorted(PARTNERS)})")
        if not 0 <= self.main_self_play + self.main_scripted <= 1:
            raise ValueError("MatchmakingRules: main_self_play + main_scripted must be in [0, 1]")
        if self.curriculum not in ("uniform", "learning_progress"):
            raise ValueError(f"MatchmakingRules.curriculum must be 'uniform' or "
                             f"'learning_progress', got {self.curriculum!r}")


def pick_scenario(scenarios: Sequence[Scenario], rules: MatchmakingRules,
                  rng: np.random.Generator, progress: Mapping[str, float] | None = None
                  ) -> Scenario:
    """Uniform over the curriculum, or weighted by recent learning progress (absolute change of
    return per scenario id; unseen scenarios get the largest weight so each is tried)."""
    if rules.curriculum == "uniform" or not progress:
        return scenarios[int(rng.integers(len(scenarios)))]
    known = [abs(progress[s.id]) for s in scenarios if s.id in progress]
    top = max(known) if known else 1.0
    weights = np.array([abs(progress.get(s.id, top)) + 1e-3 for s in scenarios])
    return scenarios[int(rng.choice(len(scenarios), p=weights / weights.sum()))]


def _pfsp_pick(learner: Member, candidates: list[str], state: LeagueState, weighting: str,
               rng: np.random.Generator) -> str:
    rates = [state.payoff.win_rate(learner.id, c) for c in candidates]
    return candidates[int(rng.choice(len(candidates), p=pfsp_probabilities(rates, weighting)))]


def choose_opponent(learner: Member, state: LeagueState, rules: MatchmakingRules,
                    rng: np.random.Generator, scenario: Scenario | None = None) -> str:
    """One opponent seat's occupant for this learner, by its role (scripted partners only in
    scenarios where they are defined)."""
    others = [m.id for m in state.members.values() if m.id != learner.id]
    scripted = [s for s in rules.scripted
                if scenario is None or make_partner(s).supports(scenario)]
    if learner.role is Role.MAIN_EXPLOITER:
        mains = [m.id for m in state.members.values() if m.role is Role.MAIN]
        return _pfsp_pick(learner, mains or [learner.id], state, rules.exploiter_weighting, rng)
    if learner.role is Role.LEAGUE_EXPLOITER:
        return _pfsp_pick(learner, others or [learner.id], state, rules.weighting, rng)
    u = rng.random()
    if u < rules.main_self_play or not (others or scripted):
        return learner.id
    if scripted and (u < rules.main_self_play + rules.main_scripted or not others):
        return SCRIPTED_PREFIX + scripted[int(rng.integers(len(scripted)))]
    return _pfsp_pick(learner, others, state, rules.weighting, rng)


def choose_teammate(learner: Member, state: LeagueState, rules: MatchmakingRules,
                    rng: np.random.Generator) -> str:
    """A teammate: a member of another population when the rules ask for strangers."""
    pool = [m.id for m in state.members.values() if m.id != learner.id]
    if rules.cross_population:
        strangers = [m.id for m in state.members.values()
                     if m.population != learner.population]
        pool = strangers or pool
    return pool[int(rng.integers(len(pool)))] if pool else learner.id


def compose_ticket(learner: Member, scenario: Scenario, state: LeagueState,
                   rules: MatchmakingRules, rng: np.random.Generator, match_id: str,
                   seed: int = 0) -> MatchTicket:
    """A ticket for one learner in one scenario (teams are the scenario's initial teams)."""
    if not learner.trainable:
        raise ValueError(f"{learner.id} is a frozen snapshot and cannot be a learner")
    n = scenario.n_players
    team_of = np.repeat(np.arange(len(scenario.team_sizes)), scenario.team_sizes)
    my_seat = int(rng.integers(n))
    seats = []
    for seat in range(n):
        if seat == my_seat:
            seats.append(learner.id)
        elif team_of[seat] == team_of[my_seat]:
            seats.append(choose_teammate(learner, state, rules, rng))
        else:
            seats.append(choose_opponent(learner, state, rules, rng, scenario))
    learn = tuple(s == learner.id for s in seats)
    return MatchTicket(match_id, scenario, tuple(seats), learn, seed)


def issue_tickets(state: LeagueState, scenarios: Sequence[Scenario], rules: MatchmakingRules,
                  rng: np.random.Generator, count: int,
                  progress: Mapping[str, float] | None = None) -> list[MatchTicket]:
    """`count` tickets, the learners taking turns."""
    learners = state.learners()
    if not learners:
        raise ValueError("the league has no trainable member to issue tickets for")
    tickets = []
    for k in range(count):
        learner = learners[k % len(learners)]
        scenario = pick_scenario(scenarios, rules, rng, progress)
        tickets.append(compose_ticket(learner, scenario, state, rules, rng,
                                      f"g{state.generation}-{k}", seed=int(rng.integers(2**31))))
    return tickets
