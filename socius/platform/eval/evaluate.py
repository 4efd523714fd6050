"""Evaluate agents on a suite: each agent in a focal seat against every partner set of every
scenario — the zoo (all other seats one scripted strategy), learned partners (other seeds' or
runs' checkpoints), and copies of itself — with the suite's reference policies in the same focal
seats against the same partners (same seeds) for normalised scores; across agents, a cross-play
matrix, alpha-rank and (zero-sum suites) NashConv. Everything of one call plays in one batched
engine.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from socius.envs import Scenario
from socius.platform.eval import metrics
from socius.platform.eval.play import Cell, Played, Player, play
from socius.platform.eval.suites import DEFECTORS, RECIPROCATORS, ZOO, Suite
from socius.policies.network import NetConfig
from socius.policies.scripted import PARTNERS, make_partner

SELF = "self"


class EvalError(ValueError):
    """Bad evaluation input (partner, agent, suite); raised before anything is played."""


@dataclass(frozen=True)
class CellResult:
    """One agent against one partner set on one scenario, over the cell's episodes."""

    agent: str
    scenario_id: str
    scenario: str
    family: str
    players: int
    partners: str  # a zoo strategy, `learned:<name>`, or `self`
    episodes: int
    focal_return: float  # mean return per episode of the agent's seat(s)
    normalised: float  # 0: worst reference, 1: best (nan: self-play, or the refs tie within noise)
    cooperation: float  # share of cooperative actions where the game has one (nan: none)
    efficiency: float  # welfare per step / the best joint action's (nan: not positive)
    equality: float  # 1 - Gini of the seats' returns
    sustainability: float  # mean common-pool stock / capacity (nan: no stock game)
    peace: float  # share of steps without a betrayal
    tom_accuracy: float  # the agent's predictions of the others' actions (nan: scripted)
    team_switches: float  # team changes per episode
    coalition_stability: float  # share of steps after which the teams stayed as they were
    cooperation_late: float  # cooperation after the first LATE_FROM (3) moves (nan: none)
    steps: float = float("nan")  # mean episode length (focal_return / steps: reward per step)


@dataclass(frozen=True)
class EvalReport:
    """What `evaluate` measured; `as_dict` is what `socius eval --out` writes."""

    suite: str
    suite_hash: str
    suite_version: int
    agents: tuple[str, ...]
    cells: tuple[CellResult, ...]
    summary: dict[str, dict[str, float]]  # per agent
    cross_play: dict[str, Any] | None = None
    seconds: float = 0.0
    references: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def _supports(name: str, scenario: Scenario) -> bool:
    return make_partner(name).supports(scenario)


def check_inputs(agents: list[Player], suite: Suite, partners: list[str],
                 learned: list[Player]) -> NetConfig | None:
    """Every problem with the inputs as one EvalError naming it, before anything is played;
    returns the networks' common config (None: only scripted players)."""
    for name in partners:
        if name not in ZOO:
            raise EvalError(f"unknown partner {name!r} (the zoo: {', '.join(ZOO)}; learned "
                            "partners are checkpoints or registry references)")
    for player in [*agents, *learned]:
        if player.scripted is not None and player.scripted not in PARTNERS:
            raise EvalError(f"{player.name}: unknown scripted strategy {player.scripted!r} "
                            f"(known: {', '.join(sorted(PARTNERS))})")
    nets = [p for p in [*agents, *learned] if p.net is not None]
    config = nets[0].net.config if nets else None
    for player in nets:
        if player.net.config.max_players < suite.max_players:
            raise EvalError(f"{player.name}: its network seats {player.net.config.max_players} "
                            f"players, the suite {suite.name!r} has scenarios of "
                            f"{suite.max_players} (try suite heldout for 4-seat networks)")
        if player.net.config.layout != config.layout:
            raise EvalError(f"{player.name}: observation layout {player.net.config.layout} "
                            f"differs from {nets[0].name}'s {config.layout}: evaluate them "
                            "separately")
    windows = {s.history_window for s in suite.scenarios}
    if config is not None and windows != {config.layout.history}:
        raise EvalError(f"suite {suite.name!r} uses history windows {sorted(windows)}, the "
                        f"networks {config.layout.history}")
    for player in agents:
        if player.scripted is not None and not any(_supports(player.scripted, s)
                                                   for s in suite.scenarios):
            raise EvalError(f"{player.name} is defined for none of the scenarios of suite "
                            f"{suite.name!r} (it needs a game with a cooperative action)")
    digests = {}
    for player in [*agents, *learned]:
        if player.net is not None:
            digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in
                                             player.net.state_dict().values())).hexdigest()
            if digest in digests and player in learned:
                raise EvalError(f"learned partner {player.name} has the same weights as "
                                f"{digests[digest]}: partners must be other agents (self-play "
                                "copies are evaluated anyway)")
            digests.setdefault(digest, player.name)
    names = [p.name for p in [*agents, *learned]]
    if len(set(names)) != len(names):
        raise EvalError(f"agents and learned partners need distinct names, got {names}")
    return config


def evaluate(agents: list[Player], suite: Suite, partners: list[str] | None = None,
             learned: list[Player] | None = None, cross_play: bool | None = None,
             episodes: int | None = None) -> EvalReport:
    """Agents (nets or scripted strategies) on a suite; see the module docstring. `partners`:
    zoo strategies (default: the suite's); `learned`: partner networks that are not the
    agents; `cross_play` (default: with two agents or more) adds every agent against every
    other; `episodes` per cell (default: the suite's)."""
    import time

    start = time.perf_counter()
    partners = list(suite.partners if partners is None else partners)
    learned = list(learned or [])
    config = check_inputs(agents, suite, partners, learned)
    cross_play = len(agents) > 1 if cross_play is None else cross_play
    episodes = episodes or suite.episodes
    references = list(suite.references)
    zoo = sorted(set(partners) | set(references))
    players = [*agents, *learned, *(Player(f"scripted:{z}", scripted=z) for z in zoo)]
    index = {p.name: i for i, p in enumerate(players)}
    zoo_index = {z: index[f"scripted:{z}"] for z in zoo}
    cells: list[Cell] = []
    focal_seats: list[tuple[int, ...]] = []  # per cell: the seats the focal player holds
    groups: dict[tuple[str, int, str], list[int]] = defaultdict(list)  # -> cell indices

    def add(focal: str, focal_player: int, s: int, set_name: str, partner: int) -> None:
        scenario = suite.scenarios[s]
        n = scenario.n_players
        if set_name == SELF:
            cells.append(Cell(s, (focal_player,) * n, episodes, _seed(suite.seed, s, SELF,
                                                                       focal)))
            focal_seats.append(tuple(range(n)))
            groups[(focal, s, set_name)].append(len(cells) - 1)
            return
        for seat in range(n):  # the focal seat rotates; the seed is the partners' draw
            seats = tuple(focal_player if k == seat else partner for k in range(n))
            cells.append(Cell(s, seats, max(1, episodes // n),
                              _seed(suite.seed, s, set_name, seat)))
            focal_seats.append((seat,))
            groups[(focal, s, set_name)].append(len(cells) - 1)

    for s, scenario in enumerate(suite.scenarios):
        sets = [(z, zoo_index[z]) for z in partners if _supports(z, scenario)]
        sets += [(f"learned:{p.name}", index[p.name]) for p in learned]
        for agent in agents:
            if agent.scripted is not None and not _supports(agent.scripted, scenario):
                continue  # a scripted strategy plays only the games it is defined for
            for set_name, partner in sets:
                add(agent.name, index[agent.name], s, set_name, partner)
            add(agent.name, index[agent.name], s, SELF, -1)
            if cross_play:
                for other in agents:
                    if other.name != agent.name and (other.scripted is None or _supports(
                            other.scripted, scenario)):
                        add(agent.name, index[agent.name], s, f"agent:{other.name}",
                            index[other.name])
        for set_name, partner in sets:  # the references, in the same seats and seeds
            for ref in references:
                if _supports(ref, scenario):
                    add(f"ref:{ref}", zoo_index[ref], s, set_name, partner)
    max_players = config.max_players if config is not None else suite.max_players
    played = play(list(suite.scenarios), players, cells, max_players)
    return _report(agents, suite, focal_seats, groups, played, time.perf_counter() - start)


def _report(agents: list[Player], suite: Suite, focal_seats: list[tuple[int, ...]],
            groups: dict[tuple[str, int, str], list[int]], played: Played,
            seconds: float) -> EvalReport:
    """Per (agent, scenario, partner set): the measures; then summaries and cross-play."""
    best = {s: metrics.best_welfare_per_step(sc) for s, sc in enumerate(suite.scenarios)}
    stats: dict[tuple[str, int, str], dict[str, float]] = {}
    # the references' per-episode returns, for telling them apart: the same seeds, seats and
    # order for every reference of a (scenario, partner set)
    ref_samples: dict[tuple[int, str], dict[str, np.ndarray]] = defaultdict(dict)
    for key, cell_ids in groups.items():
        focal, s, set_name = key
        scenario = suite.scenarios[s]
        n = scenario.n_players
        inst = np.flatnonzero(np.isin(played.cell, cell_ids))
        focal_seat = np.zeros((played.returns.shape[0], inst.size), bool)
        for j, k in enumerate(inst):
            focal_seat[list(focal_seats[played.cell[k]]), j] = True
        returns = played.returns[:, inst]
        steps = np.maximum(played.steps[inst], 1)
        coop = played.cooperated[:, inst][focal_seat].sum()
        could = played.could_cooperate[:, inst][focal_seat].sum()
        coop_late = played.cooperated_late[:, inst][focal_seat].sum()
        could_late = played.could_cooperate_late[:, inst][focal_seat].sum()
        welfare = returns[:n].sum(0) / steps
        tom = played.tom_steps[:, inst][focal_seat].sum()
        if focal.startswith("ref:"):
            ref_samples[(s, set_name)][focal] = (returns * focal_seat).sum(0) / focal_seat.sum(0)
        stats[key] = {
            "focal_return": float(returns[focal_seat].mean()),
            "cooperation": float(coop / could) if could else float("nan"),
            "cooperation_late": float(coop_late / could_late) if could_late else float("nan"),
            "efficiency": metrics.efficiency(float(welfare.mean()), best[s]),
            "equality": float(np.mean([1 - metrics.gini(returns[:n, j])
                                       for j in range(inst.size)])),
            "sustainability": float(np.nanmean(played.stock_fraction[inst]))
            if np.isfinite(played.stock_fraction[inst]).any() else float("nan"),
            "peace": float(1 - (played.betrayal_steps[inst] / steps).mean()),
            "tom_accuracy": float(played.tom_hits[:, inst][focal_seat].sum() / tom)
            if tom else float("nan"),
            "team_switches": float(played.team_changes[inst].mean()),
            "coalition_stability": float(1 - (played.team_changes[inst] / steps).mean()),
            "steps": float(played.steps[inst].mean()) if inst.size else float("nan"),
            "episodes": int(inst.size)}
    refs_of: dict[tuple[int, str], dict[str, float]] = defaultdict(dict)
    for (focal, s, set_name), values in stats.items():
        if focal.startswith("ref:"):
            refs_of[(s, set_name)][focal] = values["focal_return"]
    results = []
    reference_values: dict[str, dict[str, float]] = {}
    for (focal, s, set_name), values in stats.items():
        if focal.startswith("ref:"):
            continue
        scenario = suite.scenarios[s]
        refs = refs_of.get((s, set_name), {})
        if refs:
            reference_values[f"{scenario.id}|{set_name}"] = refs
        results.append(CellResult(
            focal, scenario.id, scenario.name, scenario.games[0].family, scenario.n_players,
            set_name, values["episodes"], values["focal_return"],
            metrics.normalised(values["focal_return"], refs, ref_samples[(s, set_name)])
            if refs else float("nan"),
            values["cooperation"], values["efficiency"], values["equality"],
            values["sustainability"], values["peace"], values["tom_accuracy"],
            values["team_switches"], values["coalition_stability"],
            values["cooperation_late"], values["steps"]))
    summary = {a.name: _summary([r for r in results if r.agent == a.name]) for a in agents}
    cross = _cross_play(agents, suite, results) if any(
        r.partners.startswith("agent:") for r in results) else None
    return EvalReport(suite.name, suite.hash, suite.version, tuple(a.name for a in agents),
                      tuple(results), summary, cross, seconds, reference_values)


def _summary(rows: list[CellResult]) -> dict[str, float]:
    """An agent's figures over the suite: normalised score with the zoo and with learned
    partners, cooperation, conditional cooperation, social outcomes, theory of mind."""
    mean = finite_mean
    rows = [r for r in rows if not r.partners.startswith("agent:")]  # cross-play apart
    zoo = [r for r in rows if r.partners in ZOO]
    learned = [r for r in rows if r.partners.startswith("learned:")]
    coop_with, late_with = {}, {}
    for partner in {r.partners for r in zoo}:
        cooperating = [r for r in zoo if r.partners == partner and np.isfinite(r.cooperation)]
        if cooperating:
            coop_with[partner] = float(np.mean([r.cooperation for r in cooperating]))
            late_with[partner] = mean(r.cooperation_late for r in cooperating)
    out = {"normalised_zoo": mean(r.normalised for r in zoo),
           "normalised_learned": mean(r.normalised for r in learned),
           "focal_return_self": mean(r.focal_return for r in rows if r.partners == SELF),
           "cooperation": mean(r.cooperation for r in rows),
           "conditional_cooperation": metrics.conditional_cooperation(coop_with, RECIPROCATORS,
                                                                      DEFECTORS),
           "reciprocity": metrics.reciprocity(coop_with, RECIPROCATORS, DEFECTORS),
           "efficiency": mean(r.efficiency for r in rows),
           "equality": mean(r.equality for r in rows),
           "sustainability": mean(r.sustainability for r in rows),
           "peace": mean(r.peace for r in rows),
           "tom_accuracy": mean(r.tom_accuracy for r in rows),
           "team_switches": mean(r.team_switches for r in rows),
           "coalition_stability": mean(r.coalition_stability for r in rows)}
    out.update({f"cooperation_with/{p}": c for p, c in sorted(coop_with.items())})
    out.update({f"cooperation_after_3_with/{p}": c for p, c in sorted(late_with.items())})
    return out


def inputs_of(score: str, partners: list[str]) -> tuple[list[str], bool]:
    """What the summary figure `score` reads: the zoo partners among `partners` it needs, and
    whether it needs the references (only the normalised score does). Evaluating only those
    gives the same figure for less play, since a cell plays the same games whatever else shares
    its batch (a league's selection on reciprocity evaluates 4 of the 13 zoo partners and no
    references)."""
    if score in ("conditional_cooperation", "reciprocity"):
        kept = [p for p in partners if p in RECIPROCATORS or p in DEFECTORS]
        return kept or list(partners), False
    return list(partners), score == "normalised_zoo"


def finite_mean(values) -> float:
    """The mean of the finite values (nan when there are none)."""
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _cross_play(agents: list[Player], suite: Suite, rows: list[CellResult]) -> dict[str, Any]:
    """Mean focal return of agent i with every other seat agent j (i = j: self-play); the
    gap between self-play and cross-play; alpha-rank; NashConv when the suite is zero-sum."""
    names = [a.name for a in agents]
    matrix = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            set_name = SELF if a == b else f"agent:{b}"
            values = [r.focal_return for r in rows if r.agent == a and r.partners == set_name]
            matrix[i, j] = float(np.mean(values)) if values else float("nan")
    off = matrix[~np.eye(len(names), dtype=bool)]
    out: dict[str, Any] = {"agents": names, "matrix": matrix.tolist(),
                           "self_play": float(np.mean(np.diag(matrix))),
                           "cross_play": float(np.mean(off)),
                           "gap": float(np.mean(np.diag(matrix)) - np.mean(off))}
    out["alpha_rank"] = metrics.alpha_rank(matrix).tolist()
    if all(s.zero_sum for s in suite.scenarios):
        out["nash"] = metrics.nash_conv(matrix)
    return out


def table(report: EvalReport) -> str:
    """The per-agent summary and the per-partner figures, as text."""
    lines = [f"suite {report.suite} v{report.suite_version} (sha256 {report.suite_hash[:12]}), "
             f"{len(report.cells)} cells, {report.seconds:.1f} s"]
    keys = ("normalised_zoo", "normalised_learned", "cooperation", "conditional_cooperation",
            "efficiency", "equality", "peace", "tom_accuracy")
    lines.append(f"{'agent':<36}" + "".join(f"{k[:14]:>15}" for k in keys))
    for agent, values in report.summary.items():
        lines.append(f"{agent[:35]:<36}" + "".join(f"{values[k]:>15.3f}" for k in keys))
    lines.append("")
    lines.append(f"{'agent':<36}{'partners':<28}{'return':>9}{'norm':>8}{'coop':>8}")
    by = defaultdict(list)
    for r in report.cells:
        by[(r.agent, r.partners)].append(r)
    for (agent, partners), rows in sorted(by.items()):
        lines.append(f"{agent[:35]:<36}{partners[:27]:<28}"
                     f"{finite_mean(r.focal_return for r in rows):>9.2f}"
                     f"{finite_mean(r.normalised for r in rows):>8.2f}"
                     f"{finite_mean(r.cooperation for r in rows):>8.2f}")
    if report.cross_play:
        cp = report.cross_play
        lines += ["", f"cross-play: focal return of the row agent with every other seat the "
                  f"column agent (columns in row order); self-play {cp['self_play']:.2f}, "
                  f"cross-play {cp['cross_play']:.2f}, gap {cp['gap']:.2f}"]
        for name, row, mass in zip(cp["agents"], cp["matrix"], cp["alpha_rank"], strict=True):
            lines.append(f"{name[:35]:<36}" + "".join(f"{v:>9.2f}" for v in row)
                         + f"   alpha-rank {mass:.3f}")
        if "nash" in cp:
            lines.append(f"NashConv of the meta-game's Nash mixture: {cp['nash']['nash_conv']:.3f}")
    return "\n".join(lines)
