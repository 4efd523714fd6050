"""Stage-game families: each one's N-player payoff formula, parameters, sampler and textbook classics.

Two shapes cover every family, and both compile to the same table-driven engine:

* **pairwise** families: player i's payoff is the mean of a two-player game against every other
  player, ``u_i = 1/(N-1) * sum_{j != i} P[r_i, r_j, a_i, a_j]`` (``r`` are seat roles; most
  families ignore them). For N = 2 this *is* the textbook bimatrix game.
* **aggregate** families: player i's payoff depends on its own action and on ``x_i``, the sum over
  the others of their action index (for example the number of others keeping their endowment).

Actions are numbered so that action 0 is the cooperative one wherever a family has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

MAX_PLAYERS = 8
MAX_ACTIONS = 6
MAX_PAIRWISE_ACTIONS = 4  # pairwise tables grow as N^A; 4 keeps the largest under 40 K entries
HELDOUT_BAND = 0.8  # parameter band [0.8, 1) of every family is held out of `train`


class ScenarioError(ValueError):
    """A scenario or game spec is invalid; the message names the field and the value."""


def _number(params: dict[str, Any], key: str, where: str) -> float:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"{where}.{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ScenarioError(f"{where}.{key} must be finite, got {value!r}")
    return float(value)


def _integer(params: dict[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScenarioError(f"{where}.{key} must be an integer in [{low}, {high}], got {value!r}")
    return value


class Family:
    """One family of stage games; subclasses give the formula, checks, sampler and classics."""

    name: ClassVar[str]
    shape: ClassVar[str]  # "pairwise", "aggregate" or "stock"
    defaults: ClassVar[dict[str, Any]]
    classics: ClassVar[dict[str, dict[str, Any]]] = {}
    roles: ClassVar[int] = 1  # 2 when payoffs depend on seat roles
    role_of_others: ClassVar[bool] = False  # pairwise payoff depends on the partner's role too
    cooperative_action: ClassVar[int | None] = None
    sampled: ClassVar[bool] = True  # ScenarioSpace draws it

    def check(self, params: dict[str, Any], n_players: int, where: str) -> None:
        """Raise ScenarioError naming the first invalid parameter."""
        for key in params:
            if key not in self.defaults:
                raise ScenarioError(
                    f"{where}: unknown parameter {key!r} for family {self.name!r} "
                    f"(known: {sorted(self.defaults)})"
                )
        for key in self.defaults:
            if key not in params:
                raise ScenarioError(f"{where}: missing parameter {key!r} for family {self.name!r}")

    def n_actions(self, params: dict[str, Any]) -> int:
        return 2

    def zero_sum(self, params: dict[str, Any]) -> bool:
        return False

    def pair_matrix(self, params: dict[str, Any]) -> np.ndarray:
        """P[r_i, r_j, a_i, a_j]: the two-player payoff of the row player (pairwise families)."""
        raise NotImplementedError(f"{self.name} is not a pairwise family")

    def aggregate(self, params: dict[str, Any], n_players: int) -> tuple[np.ndarray, np.ndarray]:
        """(level[A], U[R, A, X]) for aggregate families: payoff of own action a given x_i."""
        raise NotImplementedError(f"{self.name} is not an aggregate family")

    def sample(self, rng: np.random.Generator, band: float, n_players: int) -> dict[str, Any]:
        """Parameters for the band coordinate ``band`` in [0, 1); other parameters from rng."""
        raise NotImplementedError

    def band(self, params: dict[str, Any]) -> float:
        """Where these parameters sit in the family's band coordinate (inverse of `sample`)."""
        raise NotImplementedError


def _both_roles(matrix: list[list[float]]) -> np.ndarray:
    """A role-free pairwise matrix as P[r_i, r_j, a_i, a_j]."""
    m = np.asarray(matrix, dtype=np.float64)
    return np.broadcast_to(m, (2, 2, *m.shape)).copy()


class PrisonersDilemma(Family):
    """u_i = mean over j of M[a_i, a_j], M = [[R, S], [T, P]]; actions 0 = cooperate, 1 = defect."""

    name = "prisoners_dilemma"
    shape = "pairwise"
    defaults = {"T": 5.0, "R": 3.0, "P": 1.0, "S": 0.0}
    classics = {"textbook": {"T": 5.0, "R": 3.0, "P": 1.0, "S": 0.0}}
    cooperative_action = 0

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        t, r, p, s = (_number(params, k, where) for k in "TRPS")
        if not t > r > p > s:
            raise ScenarioError(f"{where}: prisoner's dilemma needs T > R > P > S, got {params}")
        if not 2 * r > t + s:
            raise ScenarioError(f"{where}: prisoner's dilemma needs 2R > T + S, got {params}")

    def pair_matrix(self, params):
        return _both_roles([[params["R"], params["S"]], [params["T"], params["P"]]])

    def sample(self, rng, band, n_players):
        return {"T": round(3.2 + 2.7 * band, 4), "R": 3.0, "P": 1.0, "S": 0.0}

    def band(self, params):
        return (params["T"] - 3.2) / 2.7


class StagHunt(Family):
    """Action 0 = stag pays `stag` if at least `threshold` players (self included) hunt stag, else 0;
    action 1 = hare pays `hare` whatever the others do. N = 2, threshold 2: [[4, 0], [3, 3]]."""

    name = "stag_hunt"
    shape = "aggregate"
    defaults = {"stag": 4.0, "hare": 3.0, "threshold": 2}
    classics = {"textbook": {"stag": 4.0, "hare": 3.0, "threshold": 2}}
    cooperative_action = 0

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        stag, hare = _number(params, "stag", where), _number(params, "hare", where)
        _integer(params, "threshold", where, 2, n_players)
        if not stag > hare > 0:
            raise ScenarioError(f"{where}: stag hunt needs stag > hare > 0, got {params}")

    def aggregate(self, params, n_players):
        x = np.arange(n_players)  # number of others hunting hare
        stag = np.where(n_players - x >= params["threshold"], params["stag"], 0.0)
        hare = np.full(n_players, params["hare"])
        table = np.stack([stag, hare])
        return np.array([0, 1]), np.stack([table, table])

    def sample(self, rng, band, n_players):
        return {"stag": 4.0, "hare": round(1.0 + 2.8 * band, 4),
                "threshold": int(rng.integers(2, n_players + 1))}

    def band(self, params):
        return (params["hare"] - 1.0) / 2.8


class Chicken(Family):
    """u_i = mean over j of M[a_i, a_j], M = [[0, -1], [1, -crash]]; 0 = swerve, 1 = straight."""

    name = "chicken"
    shape = "pairwise"
    defaults = {"crash": 10.0}
    classics = {"textbook": {"crash": 10.0}}
    cooperative_action = 0

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        if not _number(params, "crash", where) > 1:
            raise ScenarioError(f"{where}.crash must be > 1, got {params['crash']!r}")

    def pair_matrix(self, params):
        return _both_roles([[0.0, -1.0], [1.0, -params["crash"]]])

    def sample(self, rng, band, n_players):
        return {"crash": round(1.5 + 8.5 * band, 4)}

    def band(self, params):
        return (params["crash"] - 1.5) / 8.5


class Coordination(Family):
    """Pure coordination: u_i = mean over j of [a_i == a_j] * (1 + bonus * a_i / (A - 1))."""

    name = "coordination"
    shape = "pairwise"
    defaults = {"n_actions": 2, "bonus": 0.0}
    classics = {"textbook": {"n_actions": 2, "bonus": 0.0}}

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        _integer(params, "n_actions", where, 2, MAX_PAIRWISE_ACTIONS)
        if not 0 <= _number(params, "bonus", where) <= 2:
            raise ScenarioError(f"{where}.bonus must be in [0, 2], got {params['bonus']!r}")

    def n_actions(self, params):
        return params["n_actions"]

    def pair_matrix(self, params):
        a = params["n_actions"]
        return _both_roles(np.diag(1.0 + params["bonus"] * np.arange(a) / (a - 1)).tolist())

    def sample(self, rng, band, n_players):
        return {"n_actions": int(rng.integers(2, MAX_PAIRWISE_ACTIONS + 1)),
                "bonus": round(band, 4)}

    def band(self, params):
        return params["bonus"]


class BattleOfTheSexes(Family):
    """Role r prefers venue r: matching on your venue pays `high`, on the other `low`, else 0;
    u_i = mean over j. N = 2: [[3, 0], [0, 2]] for role 0 and [[2, 0], [0, 3]] for role 1."""

    name = "battle_of_sexes"
    shape = "pairwise"
    defaults = {"high": 3.0, "low": 2.0}
    classics = {"textbook": {"high": 3.0, "low": 2.0}}
    roles = 2

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        high, low = _number(params, "high", where), _number(params, "low", where)
        if not high > low > 0:
            raise ScenarioError(f"{where}: battle of the sexes needs high > low > 0, got {params}")

    def pair_matrix(self, params):
        p = np.zeros((2, 2, 2, 2))
        for role in range(2):
            p[role, :, role, role] = params["high"]
            p[role, :, 1 - role, 1 - role] = params["low"]
        return p

    def sample(self, rng, band, n_players):
        return {"high": round(2.5 + 2.0 * band, 4), "low": 2.0}

    def band(self, params):
        return (params["high"] - 2.5) / 2.0


class MatchingPennies(Family):
    """Zero-sum: role 0 (matcher) wins `stake` from each role-1 player it matches and loses it
    otherwise; u_i = 1/(N-1) * sum over players of the other role. Same-role pairs pay 0."""

    name = "matching_pennies"
    shape = "pairwise"
    defaults = {"stake": 1.0}
    classics = {"textbook": {"stake": 1.0}}
    roles = 2
    role_of_others = True

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        if not _number(params, "stake", where) > 0:
            raise ScenarioError(f"{where}.stake must be > 0, got {params['stake']!r}")

    def zero_sum(self, params):
        return True

    def pair_matrix(self, params):
        s = params["stake"]
        p = np.zeros((2, 2, 2, 2))
        p[0, 1] = [[s, -s], [-s, s]]
        p[1, 0] = [[-s, s], [s, -s]]
        return p

    def sample(self, rng, band, n_players):
        return {"stake": round(0.5 + 1.5 * band, 4)}

    def band(self, params):
        return (params["stake"] - 0.5) / 1.5


class RockPaperScissors(Family):
    """Zero-sum: u_i = mean over j of M[a_i, a_j], M antisymmetric; a win with rock pays `rock`,
    with paper `paper`, with scissors `scissors` (all 1 in the textbook game)."""

    name = "rock_paper_scissors"
    shape = "pairwise"
    defaults = {"rock": 1.0, "paper": 1.0, "scissors": 1.0}
    classics = {"textbook": {"rock": 1.0, "paper": 1.0, "scissors": 1.0}}

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        for key in self.defaults:
            if not _number(params, key, where) > 0:
                raise ScenarioError(f"{where}.{key} must be > 0, got {params[key]!r}")

    def n_actions(self, params):
        return 3

    def zero_sum(self, params):
        return True

    def pair_matrix(self, params):
        r, p, s = params["rock"], params["paper"], params["scissors"]
        return _both_roles([[0.0, -p, r], [p, 0.0, -s], [-r, s, 0.0]])

    def sample(self, rng, band, n_players):
        return {"rock": round(1.0 + 2.0 * band, 4),
                "paper": round(float(rng.uniform(0.5, 2.0)), 4),
                "scissors": round(float(rng.uniform(0.5, 2.0)), 4)}

    def band(self, params):
        return (params["rock"] - 1.0) / 2.0


class PublicGoods(Family):
    """Action 0 contributes an endowment of 1, action 1 keeps it; u_i = (1 - c_i) + mpcr * sum_j c_j
    (mpcr = r / N, the marginal per-capita return). A social dilemma when 1/N < mpcr < 1."""

    name = "public_goods"
    shape = "aggregate"
    defaults = {"mpcr": 0.75}
    classics = {"textbook": {"mpcr": 0.75}, "four_player": {"mpcr": 0.4}}
    cooperative_action = 0

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        if not 0 < _number(params, "mpcr", where) <= 2:
            raise ScenarioError(f"{where}.mpcr must be in (0, 2], got {params['mpcr']!r}")

    def aggregate(self, params, n_players):
        x = np.arange(n_players)  # number of others keeping their endowment
        contributors = n_players - 1 - x
        contribute = params["mpcr"] * (1 + contributors)
        keep = 1.0 + params["mpcr"] * contributors
        table = np.stack([contribute, keep])
        return np.array([0, 1]), np.stack([table, table])

    def sample(self, rng, band, n_players):
        return {"mpcr": round(0.55 + 0.4 * band, 4)}

    def band(self, params):
        return (params["mpcr"] - 0.55) / 0.4


class Bargaining(Family):
    """Nash demand game: action k demands k/K of a pie of 1 (A = K + 1 actions); everyone gets
    their demand if all demands sum to at most the pie, else everyone gets `disagreement`."""

    name = "bargaining"
    shape = "aggregate"
    defaults = {"levels": 4, "disagreement": 0.0}
    classics = {"textbook": {"levels": 4, "disagreement": 0.0}}

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        _integer(params, "levels", where, 2, MAX_ACTIONS - 1)
        if not 0 <= _number(params, "disagreement", where) < 1:
            raise ScenarioError(
                f"{where}.disagreement must be in [0, 1), got {params['disagreement']!r}")

    def n_actions(self, params):
        return params["levels"] + 1

    def aggregate(self, params, n_players):
        k = params["levels"]
        x = np.arange((n_players - 1) * k + 1)  # sum of the others' demands in 1/K units
        own = np.arange(k + 1)[:, None]
        table = np.where(own + x[None, :] <= k, own / k, params["disagreement"])
        return np.arange(k + 1), np.stack([table, table])

    def sample(self, rng, band, n_players):
        return {"levels": int(rng.integers(2, MAX_ACTIONS)), "disagreement": round(0.25 * band, 4)}

    def band(self, params):
        return params["disagreement"] / 0.25


class CommonPool(Family):
    """Common-pool resource with a regrowing stock S (stateful). Action h harvests h units; if the
    total demand H exceeds S each gets h * S / H. Then S' = min(C, R + growth * R * (1 - R / C)),
    R = S - taken, C = capacity * N. Payoff = units taken. Starts at S = init * C."""

    name = "common_pool"
    shape = "stock"
    defaults = {"levels": 3, "capacity": 4.0, "growth": 0.25, "init": 1.0}
    classics = {"default": {"levels": 3, "capacity": 4.0, "growth": 0.25, "init": 1.0}}
    cooperative_action = None

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        _integer(params, "levels", where, 2, MAX_ACTIONS)
        if not _number(params, "capacity", where) > 0:
            raise ScenarioError(f"{where}.capacity must be > 0, got {params['capacity']!r}")
        if not 0 < _number(params, "growth", where) <= 1:
            raise ScenarioError(f"{where}.growth must be in (0, 1], got {params['growth']!r}")
        if not 0 < _number(params, "init", where) <= 1:
            raise ScenarioError(f"{where}.init must be in (0, 1], got {params['init']!r}")

    def n_actions(self, params):
        return params["levels"]

    def aggregate(self, params, n_players):
        """Payoffs with an ample stock (the table used for rule features and the 2-player check)."""
        h = params["levels"]
        x = np.arange((n_players - 1) * (h - 1) + 1)
        table = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None], (h, x.size))
        return np.arange(h), np.stack([table, table])

    def sample(self, rng, band, n_players):
        return {"levels": int(rng.integers(2, 5)), "capacity": round(float(rng.uniform(2, 6)), 4),
                "growth": round(0.1 + 0.5 * band, 4), "init": 1.0}

    def band(self, params):
        return (params["growth"] - 0.1) / 0.5


class RandomGeneralSum(Family):
    """A random symmetric game: u_i = mean over j of M[a_i, a_j] with
    M = sqrt((1+rho)/2) * Sym + sqrt((1-rho)/2) * Anti (unit-normal entries drawn from `seed`), so
    corr(M[a, b], M[b, a]) = rho: rho = 1 common interest, rho = -1 zero-sum."""

    name = "random_general_sum"
    shape = "pairwise"
    defaults = {"n_actions": 2, "rho": 0.0, "seed": 0}

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        _integer(params, "n_actions", where, 2, MAX_PAIRWISE_ACTIONS)
        _integer(params, "seed", where, 0, 2**31 - 1)
        if not -1 <= _number(params, "rho", where) <= 1:
            raise ScenarioError(f"{where}.rho must be in [-1, 1], got {params['rho']!r}")

    def n_actions(self, params):
        return params["n_actions"]

    def zero_sum(self, params):
        return params["rho"] == -1

    def pair_matrix(self, params):
        a, rho = params["n_actions"], params["rho"]
        z = np.random.default_rng(params["seed"]).standard_normal((2, a, a))
        sym = (z[0] + z[0].T) / math.sqrt(2)
        anti = (z[1] - z[1].T) / math.sqrt(2)
        m = math.sqrt((1 + rho) / 2) * sym + math.sqrt((1 - rho) / 2) * anti
        return _both_roles(m.tolist())

    def sample(self, rng, band, n_players):
        return {"n_actions": int(rng.integers(2, MAX_PAIRWISE_ACTIONS + 1)),
                "rho": round(2.0 * band - 1.0, 4), "seed": int(rng.integers(0, 2**31 - 1))}

    def band(self, params):
        return (params["rho"] + 1.0) / 2.0


class MatrixGame(Family):
    """A user-given symmetric game: u_i = mean over j of matrix[a_i][a_j] (A x A, A <= 4)."""

    name = "matrix_game"
    shape = "pairwise"
    defaults = {"matrix": ((1.0, 0.0), (0.0, 1.0))}
    sampled = False

    def check(self, params, n_players, where):
        super().check(params, n_players, where)
        m = params["matrix"]
        if not isinstance(m, (list, tuple)) or not 2 <= len(m) <= MAX_PAIRWISE_ACTIONS:
            raise ScenarioError(f"{where}.matrix must be an A x A list with 2 <= A <= "
                                f"{MAX_PAIRWISE_ACTIONS}, got {m!r}")
        for row in m:
            if not isinstance(row, (list, tuple)) or len(row) != len(m):
                raise ScenarioError(f"{where}.matrix must be square ({len(m)} x {len(m)}), "
                                    f"got a row {row!r}")
            for value in row:
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not math.isfinite(value):
                    raise ScenarioError(f"{where}.matrix entries must be finite numbers, "
                                        f"got {value!r}")

    def n_actions(self, params):
        return len(params["matrix"])

    def zero_sum(self, params):
        m = np.asarray(params["matrix"], dtype=np.float64)
        return bool(np.array_equal(m, -m.T))

    def pair_matrix(self, params):
        return _both_roles([list(row) for row in params["matrix"]])

    def band(self, params):
        return 0.0


FAMILIES: dict[str, Family] = {
    f.name: f for f in (
        PrisonersDilemma(), StagHunt(), Chicken(), Coordination(), BattleOfTheSexes(),
        PublicGoods(), CommonPool(), Bargaining(), RockPaperScissors(), MatchingPennies(),
        RandomGeneralSum(), MatrixGame(),
    )
}
HELDOUT_FAMILIES = ("chicken", "battle_of_sexes")


def family(name: str, where: str = "game.family") -> Family:
    """The family called `name`, or a ScenarioError listing the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ScenarioError(f"{where}: unknown family {name!r} (known: {sorted(FAMILIES)})") from None


@dataclass(frozen=True)
class GameTable:
    """A stage game compiled for N players: payoff_i = U[r_i, a_i, x_i], x_i = sum_{j!=i} code[r_j, a_j].

    `linear` games have code[r, a] = a, so x_i is just the sum of the others' actions: every
    aggregate family and every role-free two-action pairwise game (x_i = others playing 1)."""

    n_actions: int
    code: np.ndarray  # [2, A] int64
    table: np.ndarray  # [2, A, X] float64
    stock: tuple[float, float, float] | None  # (capacity, growth, init) for common_pool

    @property
    def linear(self) -> bool:
        return bool((self.code == np.arange(self.n_actions)[None, :]).all())


def compile_game(fam: Family, params: dict[str, Any], n_players: int) -> GameTable:
    """Compile a checked game into the engine's table form (see module docstring)."""
    a = fam.n_actions(params)
    if fam.shape == "pairwise" and a == 2 and not fam.role_of_others:
        # x_i = number of others playing 1; the other n - 1 - x_i play 0.
        p = fam.pair_matrix(params)[:, 0]  # [r_i, a_i, a_j]
        x = np.arange(n_players)
        table = (p[:, :, :1] * (n_players - 1 - x) + p[:, :, 1:] * x) / (n_players - 1)
        code = np.tile(np.arange(2, dtype=np.int64), (2, 1))
        return GameTable(a, code, table, None)
    if fam.shape == "pairwise":
        p = fam.pair_matrix(params)  # [R, R, A, A]
        n_bins = 2 * a if fam.role_of_others else a
        radix = n_players  # counts of the others are at most N - 1
        code = np.array([[radix ** (r * a + b if fam.role_of_others else b) for b in range(a)]
                         for r in range(2)], dtype=np.int64)
        x = np.arange(radix ** n_bins)
        counts = (x[:, None] // radix ** np.arange(n_bins)[None, :]) % radix  # [X, bins]
        # bin k stands for partner (role k // A, action k % A), or action k for role-free games
        partner = p.transpose(0, 2, 1, 3).reshape(2, a, -1)  # [r_i, a_i, (r_j, a_j)]
        if not fam.role_of_others:
            partner = partner[:, :, :a]  # role-free: partner role does not matter
        table = partner @ counts.T / (n_players - 1)  # [2, A, X]
        return GameTable(a, code, table, None)
    level, table = fam.aggregate(params, n_players)
    code = np.stack([level, level]).astype(np.int64)
    stock = None
    if fam.shape == "stock":
        stock = (params["capacity"] * n_players, params["growth"], params["init"])
    return GameTable(a, code, np.ascontiguousarray(table, dtype=np.float64), stock)


def two_player_bimatrix(fam: Family, params: dict[str, Any], roles=(0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) payoff matrices of the compiled game at N = 2, for textbook checks."""
    t = compile_game(fam, params, 2)
    a = t.n_actions
    row = np.array([[t.table[roles[0], i, t.code[roles[1], j]] for j in range(a)] for i in range(a)])
    col = np.array([[t.table[roles[1], j, t.code[roles[0], i]] for j in range(a)] for i in range(a)])
    return row, col
