"""The central matchmaker as pure functions: which scenario, who sits where, which seats learn.

For each ticket a learner (a trainable member) gets a scenario from the curriculum and a seat;
its initial teammates come from other populations when there are any (so agents must cooperate
with strangers); the other seats are filled by the learner's role: main agents play themselves
(self-play), the scripted background, or league members drawn by PFSP, uniformly or by the Nash
mixture of the empirical meta-game; main exploiters face the main agents (and their snapshots),
league exploiters anyone, PFSP-weighted. Only the learner's own seats learn.

Speed: who may sit where, with what probability, changes only when results or members do, so
`seat_pools` computes it once per change as arrays, and `issue_tickets` fills the seats of a
whole batch with a few array operations per learner (tens of thousands of tickets per second
for a league of 1,000 members).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from socius.envs import Scenario
from socius.platform.league.metagame import meta_game_nash
from socius.platform.league.pfsp import pfsp_probabilities
from socius.platform.league.roles import Role
from socius.platform.league.state import LeagueState
from socius.platform.types import SCRIPTED_PREFIX, TicketBatch
from socius.policies.scripted import PARTNERS, make_partner

OPPONENT_SAMPLING = ("pfsp", "uniform", "nash")


@dataclass(frozen=True)
class MatchmakingRules:
    """How seats are filled (see the module docstring)."""

    main_self_play: float = 0.35
    main_scripted: float = 0.15  # used only when `scripted` names a background population
    main_opponents: str = "pfsp"  # how main agents draw league opponents: OPPONENT_SAMPLING
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
        if self.main_opponents not in OPPONENT_SAMPLING:
            raise ValueError(f"MatchmakingRules.main_opponents must be one of "
                             f"{OPPONENT_SAMPLING}, got {self.main_opponents!r}")


@dataclass(frozen=True)
class SeatPools:
    """Who may fill each learner's seats, as indices into `names` (members, then scripted
    partners). The learners' pools are concatenated so one array operation serves them all:
    learner l's teammates are `teammates[mate_start[l]: mate_start[l] + mate_count[l]]`; its
    opponents are `opponents[k]` for the k whose `opponent_cdf[k]` lies in (l, l + 1] (its
    cumulative probabilities, shifted by l). Per scenario: the initial team of each seat (-1
    past its players) and the scripted partners defined there (-1 padded)."""

    names: tuple[str, ...]
    learners: np.ndarray  # [L]
    is_main: np.ndarray  # [L] bool
    teammates: np.ndarray
    mate_start: np.ndarray  # [L]
    mate_count: np.ndarray  # [L]
    opponents: np.ndarray
    opponent_cdf: np.ndarray
    team_of: np.ndarray  # [S, M]
    scripted: np.ndarray  # [S, P]
    n_scripted: np.ndarray  # [S]


def opponent_probabilities(learner: str, candidates: Sequence[str], state: LeagueState,
                           sampling: str, weighting: str,
                           nash: Mapping[str, float] | None = None) -> np.ndarray:
    """Probabilities of facing each candidate: PFSP on the learner's win rates, uniform, or the
    meta-game Nash mixture restricted to the candidates (uniform where it puts no weight)."""
    if sampling == "pfsp":
        rates = [state.payoff.win_rate(learner, c) for c in candidates]
        return pfsp_probabilities(rates, weighting)
    if sampling == "nash":
        weights = np.array([(nash or {}).get(c, 0.0) for c in candidates])
        if weights.sum() > 1e-9:
            return weights / weights.sum()
    elif sampling != "uniform":
        raise ValueError(f"unknown opponent sampling {sampling!r} (known: {OPPONENT_SAMPLING})")
    return np.full(len(candidates), 1.0 / len(candidates))


def seat_pools(state: LeagueState, rules: MatchmakingRules, scenarios: Sequence[Scenario]
               ) -> SeatPools:
    """Everything ticket composition needs that changes only with members and results."""
    members = list(state.members.values())
    partners = {name: make_partner(name) for name in rules.scripted}
    names = tuple(m.id for m in members) + tuple(SCRIPTED_PREFIX + p for p in partners)
    index = {name: i for i, name in enumerate(names)}
    mains = [m.id for m in members if m.role is Role.MAIN]
    nash = meta_game_nash(state) if rules.main_opponents == "nash" else None
    learners = state.learners()
    teammates, opponents, cdfs = [], [], []
    for slot, learner in enumerate(learners):
        others = [m.id for m in members if m.id != learner.id]
        strangers = [m.id for m in members if m.population != learner.population]
        mates = (strangers if rules.cross_population and strangers else others) or [learner.id]
        if learner.role is Role.MAIN_EXPLOITER:
            candidates = mains or [learner.id]
            probs = opponent_probabilities(learner.id, candidates, state, "pfsp",
                                           rules.exploiter_weighting)
        elif learner.role is Role.LEAGUE_EXPLOITER:
            candidates = others or [learner.id]
            probs = opponent_probabilities(learner.id, candidates, state, "pfsp", rules.weighting)
        else:  # main agents: league opponents when self-play and the background do not apply
            candidates = others or [learner.id]
            probs = opponent_probabilities(learner.id, candidates, state, rules.main_opponents,
                                           rules.weighting, nash)
        teammates.append(np.array([index[m] for m in mates], np.int64))
        opponents.append(np.array([index[m] for m in candidates], np.int64))
        cdf = np.cumsum(probs) / np.sum(probs)
        cdf[-1] = 1.0  # exactly: draws slot + u, u < 1, then never leave the learner's block
        cdfs.append(slot + cdf)
    seats = max(s.n_players for s in scenarios)
    team_of = np.full((len(scenarios), seats), -1)
    scripted = np.full((len(scenarios), max(len(partners), 1)), -1)
    n_scripted = np.zeros(len(scenarios), np.int64)
    for k, sc in enumerate(scenarios):
        team_of[k, : sc.n_players] = np.repeat(np.arange(len(sc.team_sizes)), sc.team_sizes)
        defined = [index[SCRIPTED_PREFIX + name] for name, p in partners.items() if p.supports(sc)]
        scripted[k, : len(defined)] = defined
        n_scripted[k] = len(defined)
    counts = np.array([len(t) for t in teammates], np.int64)
    return SeatPools(
        names, np.array([index[m.id] for m in learners], np.int64),
        np.array([m.role is Role.MAIN for m in learners], bool),
        np.concatenate(teammates) if teammates else np.zeros(0, np.int64),
        np.cumsum(counts) - counts, counts,
        np.concatenate(opponents) if opponents else np.zeros(0, np.int64),
        np.concatenate(cdfs) if cdfs else np.zeros(0), team_of, scripted, n_scripted)


def scenario_weights(scenarios: Sequence[Scenario], rules: MatchmakingRules,
                     progress: Mapping[str, float] | None = None) -> np.ndarray:
    """The curriculum: uniform, or weighted by recent learning progress (absolute change of
    return per scenario id; unseen scenarios get the largest weight so each is tried)."""
    if rules.curriculum == "uniform" or not progress:
        return np.full(len(scenarios), 1.0 / len(scenarios))
    known = [abs(progress[s.id]) for s in scenarios if s.id in progress]
    top = max(known) if known else 1.0
    weights = np.array([abs(progress.get(s.id, top)) + 1e-3 for s in scenarios])
    return weights / weights.sum()


def issue_tickets(state: LeagueState, pools: SeatPools, scenarios: Sequence[Scenario],
                  rules: MatchmakingRules, rng: np.random.Generator, count: int,
                  progress: Mapping[str, float] | None = None,
                  weights: np.ndarray | None = None) -> TicketBatch:
    """`count` tickets, the learners taking turns, as one `TicketBatch` with `pools.names` and
    `scenarios` attached; `weights` (the curriculum) default to `scenario_weights`. Match ids
    count on from `state.tickets_issued`, so they stay unique over a whole run."""
    if not len(pools.learners):
        raise ValueError("the league has no trainable member to issue tickets for")
    if weights is None:
        weights = scenario_weights(scenarios, rules, progress)
    first, n_learners = state.tickets_issued, len(pools.learners)
    slot = (first + np.arange(count)) % n_learners  # whose turn each ticket is
    cumulative = np.cumsum(weights)
    scenario = np.minimum(np.searchsorted(cumulative, rng.random(count) * cumulative[-1],
                                          side="right"), len(weights) - 1)
    team = pools.team_of[scenario]  # [K, M]
    n_players = (team >= 0).sum(1)
    my_seat = np.minimum((rng.random(count) * n_players).astype(np.int64), n_players - 1)
    seat = np.arange(team.shape[1])[None, :]
    same_team = team == team[np.arange(count), my_seat][:, None]
    u_pick, u_mode, u_scripted = rng.random((3, count, team.shape[1]))
    learner = pools.learners[slot][:, None]
    count_mates = pools.mate_count[slot][:, None]
    mates = pools.teammates[pools.mate_start[slot][:, None] + np.minimum(
        (u_pick * count_mates).astype(np.int64), count_mates - 1)]
    rivals = pools.opponents[np.minimum(np.searchsorted(
        pools.opponent_cdf, slot[:, None] + u_pick, side="right"), len(pools.opponents) - 1)]
    # main agents: self-play, then the scripted background where it is defined, else rivals
    n_scripted = pools.n_scripted[scenario][:, None]
    background = np.take_along_axis(pools.scripted[scenario], np.minimum(
        (u_scripted * n_scripted).astype(np.int64), np.maximum(n_scripted - 1, 0)), axis=1)
    main = pools.is_main[slot][:, None]
    self_play = main & (u_mode < rules.main_self_play)
    use_background = main & (n_scripted > 0) & ~self_play & (
        u_mode < rules.main_self_play + rules.main_scripted)
    rivals = np.where(self_play, learner, np.where(use_background, background, rivals))
    seats = np.where(same_team, mates, rivals)
    seats = np.where(seat == my_seat[:, None], learner, seats)
    seats = np.where(seat < n_players[:, None], seats, -1).astype(np.int32)
    state.tickets_issued = first + count
    return TicketBatch(state.generation, first, scenario.astype(np.int32), seats,
                       seats == learner, rng.integers(2**31, size=count, dtype=np.int64),
                       names=pools.names, scenarios=scenarios)
