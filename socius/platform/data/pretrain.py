"""Behaviour cloning from the rollout lake: `socius pretrain --data RUN --where ... --out CKPT`.

Rows of the chosen seats (by member, family, generation, seat) become (observation, action,
team move) examples: the stored token row plus the rule features of the scenario's active stage
game for that seat (rebuilt from the scenario JSON in the match table). A feed-forward
`SociusNet` (MLP core: each step's observation already holds the recent history) is trained
with cross-entropy on the actions and team moves; whole episodes are held out to measure it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import torch

from socius.envs import Scenario
from socius.envs.catalog import Catalog
from socius.platform.data import schema
from socius.platform.data.lake import Lake
from socius.platform.runfolder import RunFolder
from socius.policies.checkpoint import save_checkpoint
from socius.policies.network import NetConfig, SociusNet, flat_observation

WHERE_KEYS = {"member": schema.MEMBER, "family": schema.FAMILY, "seat": schema.SEAT,
              "generation": "generation", "match": schema.MATCH_ID}


@dataclass
class Examples:
    """Observations and targets for behaviour cloning, with a held-out mask by episode."""

    obs: np.ndarray  # [N, L + 64] float32
    actions: np.ndarray  # [N]
    team_moves: np.ndarray  # [N]
    heldout: np.ndarray  # [N] bool
    net_config: NetConfig


def parse_where(clauses: list[str] | None) -> ds.Expression | None:
    """`key=value` clauses (keys: member, family, seat, generation, match), all must hold."""
    expression = None
    for clause in clauses or []:
        key, sep, value = clause.partition("=")
        if not sep or key.strip() not in WHERE_KEYS:
            raise ValueError(f"--where {clause!r}: expected key=value with key one of "
                             f"{sorted(WHERE_KEYS)}")
        key = key.strip()
        typed = int(value) if key in ("seat", "generation") else value
        part = ds.field(WHERE_KEYS[key]) == typed
        expression = part if expression is None else expression & part
    return expression


def load_examples(run_dir: str | Path, where: list[str] | None = None,
                  heldout_fraction: float = 0.2) -> Examples:
    lake = Lake(RunFolder(run_dir).lake, create=False)
    steps = lake.read("steps", filter=parse_where(where), columns=[
        schema.MATCH_ID, schema.EPISODE, schema.SEAT, schema.GAME, schema.OBS, schema.ACTION,
        schema.TEAM_MOVE])
    if steps.num_rows == 0:
        raise ValueError(f"{run_dir}: no stored steps match {where or 'everything'}")
    match_ids = steps.column(schema.MATCH_ID).to_pylist()
    wanted = sorted(set(match_ids))
    # a ticket's "issued" row holds its scenario; its "finished"/"cancelled" rows do not
    matches = lake.read("matches", filter=ds.field(schema.MATCH_ID).isin(wanted) &
                        ds.field(schema.SCENARIO_JSON).is_valid(),
                        columns=[schema.MATCH_ID, schema.SCENARIO_JSON])
    scenario_of = dict(zip(matches.column(schema.MATCH_ID).to_pylist(),
                           matches.column(schema.SCENARIO_JSON).to_pylist(), strict=True))
    missing = set(wanted) - set(scenario_of)
    if missing:
        raise ValueError(f"{run_dir}: {len(missing)} matches have steps but no match record "
                         f"(e.g. {sorted(missing)[0]}); run `socius data verify`")
    rows = steps.column(schema.OBS).to_pylist()
    width = len(rows[0])
    tokens = np.frombuffer(b"".join(rows), np.uint8).reshape(-1, width)
    net_config = _config_for_width(width)
    scenarios = {text: Scenario.from_dict(json.loads(text)) for text in set(scenario_of.values())}
    texts = list(scenarios)
    catalog = Catalog([scenarios[t] for t in texts], net_config.max_players)
    index = {t: k for k, t in enumerate(texts)}
    scenario_index = np.array([index[scenario_of[m]] for m in match_ids])
    game = np.asarray(steps.column(schema.GAME)) + catalog.scenario_game_base[scenario_index]
    seat = np.asarray(steps.column(schema.SEAT)).astype(np.intp)
    rules = catalog.rule_table[catalog.seat_rules[game, seat]]
    episode = steps.column(schema.EPISODE).to_pylist()
    heldout = np.array([zlib.crc32(f"{m}/{e}".encode()) < heldout_fraction * 2**32
                        for m, e in zip(match_ids, episode, strict=True)])
    return Examples(flat_observation(tokens, rules), np.asarray(steps.column(schema.ACTION)),
                    np.asarray(steps.column(schema.TEAM_MOVE)), heldout, net_config)


def _config_for_width(width: int) -> NetConfig:
    for players in range(2, 9):
        config = NetConfig(max_players=players, core="mlp")
        if config.layout.size == width:
            return config
    raise ValueError(f"stored observations are {width} bytes wide: no socius layout matches")


def behaviour_clone(examples: Examples, epochs: int = 30, lr: float = 3e-3,
                    batch_size: int = 256, seed: int = 0,
                    on_progress: Callable[[int, int], None] | None = None
                    ) -> tuple[SociusNet, dict[str, float]]:
    """Train an MLP SociusNet on the training examples; report held-out action accuracy.
    `on_progress(epochs done, epochs)` after each epoch."""
    torch.manual_seed(seed)
    net = SociusNet(examples.net_config)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    train = np.flatnonzero(~examples.heldout)
    if not train.size:
        raise ValueError("every example is held out: store more episodes")
    obs = torch.from_numpy(examples.obs)
    actions = torch.from_numpy(examples.actions.astype(np.int64))
    moves = torch.from_numpy(examples.team_moves.astype(np.int64))
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(train)
        for start in range(0, order.size, batch_size):
            rows = torch.from_numpy(order[start: start + batch_size])
            out = net(obs[rows])
            loss = (torch.nn.functional.cross_entropy(out["action_logits"], actions[rows])
                    + torch.nn.functional.cross_entropy(out["team_logits"], moves[rows]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if on_progress is not None:
            on_progress(epoch + 1, epochs)
    held = np.flatnonzero(examples.heldout)
    with torch.no_grad():
        predicted = net(obs[held])["action_logits"].argmax(-1).numpy() if held.size else []
    accuracy = float(np.mean(predicted == examples.actions[held])) if held.size else float("nan")
    return net.eval(), {"examples": int(train.size), "heldout": int(held.size),
                        "heldout_accuracy": accuracy}


def pretrain(run_dir: str | Path, out: str | Path, where: list[str] | None = None,
             epochs: int = 30, seed: int = 0,
             on_progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Clone the chosen seats of a run's lake into a socius checkpoint at `out`."""
    examples = load_examples(run_dir, where)
    net, stats = behaviour_clone(examples, epochs=epochs, seed=seed, on_progress=on_progress)
    save_checkpoint(net, out, lineage={"behaviour_cloned_from": str(run_dir),
                                       "where": list(where or []), **stats})
    return stats
