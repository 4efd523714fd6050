"""Evaluation of a SociusNet against a scripted partner, on fresh seeds, in batches.

`play_against` runs one episode per instance (the first episode of each) and pools every step:
how often the net played each action, the exact expected payoff of its action distribution
against the partner's, and the accuracy of its theory-of-mind head at predicting the partner's
action in the same step (first steps left out: nothing can be inferred there yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from socius.envs import FAMILIES, BatchedEngine, Scenario
from socius.policies.network import SociusNet, flat_observation
from socius.policies.scripted import ScriptedPartner


@dataclass
class Evaluation:
    """Pooled over every step the net played."""

    steps: int
    action_freq: np.ndarray  # [A] fraction of steps with each game action
    expected_payoff: float  # mean over steps of sum_a pi(a) * sum_b q(b) * u(a, b), 2 players
    tom_accuracy: float  # partner's action predicted, steps after each episode's first
    tom_steps: int


@torch.no_grad()
def play_against(net: SociusNet, scenario: Scenario, partner: ScriptedPartner, episodes: int,
                 seed: int, net_acts_randomly: bool = False,
                 partner_probs: np.ndarray | None = None) -> Evaluation:
    """Net in seat 0 (even instances) or seat 1 (odd), partner in the other seat; one episode
    per instance. `partner_probs`, for a memoryless partner, enables the exact expected payoff."""
    if scenario.n_players != 2:
        raise ValueError("play_against evaluates two-player scenarios")
    m = net.config.max_players
    if partner.layout != net.config.layout:
        raise ValueError(f"the partner reads observations of {partner.layout.max_players} seats, "
                         f"the net of {m}: make the partner with layout=net.config.layout")
    engine = BatchedEngine([scenario], np.zeros(episodes, np.intp), max_players=m)
    out = engine.buffers()
    rng = np.random.default_rng(seed)
    engine.reset(rng.integers(0, 2**63, episodes, dtype=np.uint64), out)
    inst = np.arange(episodes)
    net_seat, partner_seat = inst % 2, 1 - inst % 2
    memory = partner.new_state(episodes)
    generator = torch.Generator().manual_seed(seed)
    state = net.initial_state(episodes) if net.recurrent else None
    active = np.ones(episodes, bool)
    first = np.ones(episodes, bool)
    a = scenario.n_actions
    counts = np.zeros(a)
    payoff_sum, steps, tom_hits, tom_steps = 0.0, 0, 0, 0
    game = FAMILIES[scenario.games[0].family]
    pair = game.pair_matrix(scenario.games[0].param_dict) if game.shape == "pairwise" else None
    while active.any():
        rows = out.tokens[net_seat, :, inst]
        obs = flat_observation(rows, engine.rule_table[out.rules_index[net_seat, inst]])
        result = net(torch.from_numpy(obs), state)
        state = result["state"] if net.recurrent else None
        probs = torch.softmax(result["action_logits"], -1)
        if net_acts_randomly:
            probs = (result["action_logits"] > -1e8).float()
            probs /= probs.sum(-1, keepdim=True)
        mine = torch.multinomial(probs, 1, generator=generator)[:, 0].numpy()
        theirs = partner.act_rows(out.tokens[partner_seat, :, inst], memory, rng.random(episodes))
        predicted = result["tom_action_logits"][torch.arange(episodes),
                                                torch.from_numpy(partner_seat)].argmax(-1).numpy()
        counted = active
        counts += np.bincount(mine[counted], minlength=a)[:a]
        steps += int(counted.sum())
        later = counted & ~first
        tom_hits += int((predicted[later] == theirs[later]).sum())
        tom_steps += int(later.sum())
        if partner_probs is not None and pair is not None:
            roles = np.array(scenario.roles)[net_seat]
            expected = np.einsum("ka,kab,b->k", probs.numpy()[:, :a],
                                 pair[roles, 1 - roles], partner_probs)
            payoff_sum += float(expected[counted].sum())
        actions = np.zeros((m, episodes), np.int64)
        actions[net_seat, inst], actions[partner_seat, inst] = mine, theirs
        engine.step(actions, out)
        first = np.zeros(episodes, bool)
        active &= ~(out.terminated | out.truncated)
    return Evaluation(steps, counts / max(steps, 1), payoff_sum / max(steps, 1),
                      tom_hits / max(tom_steps, 1), tom_steps)


@torch.no_grad()
def first_step_action_probs(net: SociusNet, scenario: Scenario) -> np.ndarray:
    """The net's action distribution at the first step of `scenario`, averaged over its seats
    (nothing has happened yet, so this is the whole policy of a one-shot game)."""
    n = scenario.n_players
    engine = BatchedEngine([scenario], np.zeros(n, np.intp), max_players=net.config.max_players)
    out = engine.buffers()
    engine.reset(np.arange(n, dtype=np.uint64), out)
    seats = np.arange(n)
    obs = flat_observation(out.tokens[seats, :, seats],
                           engine.rule_table[out.rules_index[seats, seats]])
    state = net.initial_state(n) if net.recurrent else None
    logits = net(torch.from_numpy(obs), state)["action_logits"][:, : scenario.n_actions]
    return torch.softmax(logits, -1).mean(0).numpy().astype(np.float64)
