"""`RolloutCollector` on a torch device: the engine (`TorchEngine`), the networks, sampling,
care-weighted rewards, recurrent state and exploration all stay on the device step after step;
the host gets each call's records in one transfer at its end, and then computes GAE, the
training columns and the episode totals with the same functions as the host collector.

Scripted partners are host code: where they play, their seats' token rows come to the host
every step (a wait for the device); leagues whose GPU runners should not wait give those
tickets to CPU runners.
"""

from __future__ import annotations

import numpy as np
import torch

from socius.policies.care import care_weighted_rewards
from socius.policies.network import SociusNet
from socius.policies.rollout import (
    EpisodeBook,
    RolloutBatch,
    RolloutSettings,
    sample_actions,
    seat_pairs,
    training_batch,
)
from socius.policies.scripted import ScriptedPartner
from socius.policies.torch_engine import TorchEngine

_RECORDS = ("obs", "actions", "logp", "dist", "value", "reward", "done", "tom_actions",
            "tom_moves", "on_policy", "state")


class DeviceCollector:
    """Plays `engine` with `policies[seat_policy[seat, b]]` in each seat, on the engine's
    device (the nets must be there too); the same contract as `RolloutCollector`."""

    def __init__(self, engine: TorchEngine, policies: list[SociusNet | ScriptedPartner],
                 seat_policy: np.ndarray, learn: np.ndarray,
                 settings: RolloutSettings | None = None, seed: int = 0,
                 log_steps: bool = False):
        self.engine, self.policies = engine, policies
        self.device = device = engine.device
        self.settings = settings or RolloutSettings()
        self.log_steps = log_steps
        self.step_log: dict[str, np.ndarray] = {}
        host = engine.host
        self.present, self.seat_policy = host.present, np.asarray(seat_policy)
        self.care = np.zeros((len(policies), 2))
        self.pairs = seat_pairs(policies, self.seat_policy, learn, host.present)
        self.learn = np.asarray(learn, bool) & host.present
        self._pairs = [tuple(torch.as_tensor(a, device=device) for a in pair)
                       for pair in self.pairs]
        self.book = EpisodeBook(host)
        self._rng = np.random.default_rng(seed)  # scripted partners and the engine's seeds
        self._generator = torch.Generator(device=device).manual_seed(seed)
        self.buffers = engine.buffers()
        engine.reset(self._rng.integers(0, 2**63, host.batch_size, dtype=np.uint64),
                     self.buffers)
        self._rule_table = torch.as_tensor(engine.rule_table, dtype=torch.float32, device=device)
        self._seat_ids = torch.arange(host.max_players, device=device)
        self._coalition = torch.as_tensor(host.coalition, device=device)
        self._present = torch.as_tensor(host.present, device=device)
        self._state = [torch.zeros(len(s), p.config.core_size, device=device)
                       if isinstance(p, SociusNet) and p.recurrent else None
                       for p, (s, _, _) in zip(policies, self.pairs, strict=True)]
        self._memory = [p.new_state(len(s)) if isinstance(p, ScriptedPartner) else None
                        for p, (s, _, _) in zip(policies, self.pairs, strict=True)]
        self._explore = [self._draw_explore(lrn) for _, _, lrn in self._pairs]

    def _draw_explore(self, learn: torch.Tensor) -> torch.Tensor:
        draw = torch.rand(len(learn), generator=self._generator, device=self.device)
        return (draw < self.settings.explore_prob) & learn

    def _observe(self, p: int) -> torch.Tensor:
        seats, inst, _ = self._pairs[p]
        rows = self.buffers.tokens[seats, :, inst]
        rules = self._rule_table[self.buffers.rules_index[seats, inst].long()]
        return torch.cat([rows.float(), rules], -1)

    @torch.inference_mode()
    def collect(self, steps: int) -> dict[int, RolloutBatch]:
        """Play `steps` steps of every instance; return a batch per learning policy."""
        eng, cfg, device = self.engine, self.settings, self.device
        m, b = eng.max_players, eng.batch_size
        learners = [p for p, (_, _, lrn) in enumerate(self.pairs) if lrn.any()]
        record = {p: {k: [] for k in _RECORDS} for p in learners}
        steps_seen = {k: [] for k in ("actions", "game", "reward", "done", "episode",
                                      "teams_changed", "rules_changed")}
        log: dict[str, list] = {}
        caring = bool(np.any(self.care))
        if caring:  # absent seats (policy -1) are masked out by `present`
            care_team = torch.as_tensor(self.care[self.seat_policy, 0], dtype=torch.float32,
                                        device=device)
            care_others = torch.as_tensor(self.care[self.seat_policy, 1], dtype=torch.float32,
                                          device=device)
        for _ in range(steps):
            actions = torch.zeros((m, b), dtype=torch.int64, device=device)
            moves = torch.zeros((m, b), dtype=torch.int64, device=device)
            logp_all = torch.full((m, b), float("nan"), device=device)
            value_all = torch.full((m, b), float("nan"), device=device)
            outputs = {}
            for p, policy in enumerate(self.policies):
                seats, inst, lrn = self._pairs[p]
                if not len(seats):
                    continue
                if isinstance(policy, ScriptedPartner):
                    rows = self.buffers.tokens[seats, :, inst].cpu().numpy()
                    chosen = policy.act_rows(rows, self._memory[p], self._rng.random(len(seats)))
                    actions[seats, inst] = torch.from_numpy(chosen).to(device)
                    continue
                obs = self._observe(p)
                state_before = self._state[p]
                out = policy(obs, state_before, tom=False)
                if policy.recurrent:
                    self._state[p] = out["state"]
                act, move, logp = sample_actions(out, self._explore[p], self._generator)
                actions[seats, inst], moves[seats, inst] = act, move
                logp_all[seats, inst], value_all[seats, inst] = logp, out["value"]
                if p in record:
                    outputs[p] = (obs, act, move, logp, out, state_before)
            if self.log_steps:
                before = {"obs": self.buffers.tokens.clone(), "teams": eng.teams.clone(),
                          "episode": eng.episode.clone(), "step": eng.t.clone(),
                          "game": eng.game_slot.clone(), "action": actions,
                          "team_move": moves, "action_logp": logp_all, "value": value_all}
            teams, game, episode = eng.teams.clone(), eng.game.clone(), eng.episode.clone()
            eng.step(actions, self.buffers, moves if eng.any_coalition else None)
            rewards = self.buffers.rewards.clone()
            done = self.buffers.terminated | self.buffers.truncated
            for key, value in (("actions", actions), ("game", game), ("reward", rewards),
                               ("done", done), ("episode", episode),
                               ("teams_changed", (teams != eng.teams).any(0)),
                               ("rules_changed", game != eng.game)):
                steps_seen[key].append(value)
            train_rewards = care_weighted_rewards(rewards, teams, self._present, care_team,
                                                  care_others) if caring else rewards
            if self.log_steps:
                before.update(reward=rewards, terminated=self.buffers.terminated.clone(),
                              truncated=self.buffers.truncated.clone())
                for key, value in before.items():
                    log.setdefault(key, []).append(value)
            for p, (obs, act, move, logp, out, state_before) in outputs.items():
                seats, inst, lrn = self._pairs[p]
                rec = record[p]
                rec["obs"].append(obs[lrn])
                rec["actions"].append(torch.stack([act, move], -1)[lrn])
                rec["logp"].append(logp[lrn])
                rec["dist"].append(torch.cat([out["action_logits"], out["team_logits"]],
                                             -1)[lrn])
                rec["value"].append(out["value"][lrn])
                rec["reward"].append(train_rewards[seats, inst][lrn] * cfg.reward_scale)
                rec["done"].append(done[inst][lrn])
                others = (self._seat_ids[None, :] != seats[:, None]) & self._present[:, inst].T
                rec["tom_actions"].append(torch.where(others, actions[:, inst].T, -1)[lrn])
                coalition = self._coalition[inst][:, None]
                rec["tom_moves"].append(torch.where(others & coalition, moves[:, inst].T,
                                                    -1)[lrn])
                rec["on_policy"].append(~self._explore[p][lrn])
                if state_before is not None:
                    rec["state"].append(state_before[lrn])
            self._new_episodes(done)
        self._book(steps_seen)
        self.step_log = {k: torch.stack(v).cpu().numpy() for k, v in log.items()}
        return {p: self._finish(p, record[p], steps) for p in learners}

    def _new_episodes(self, done: torch.Tensor) -> None:
        """Recurrent states start over and exploration is drawn again where episodes ended
        (masked, so the step never waits for the device)."""
        for p, (_, inst, lrn) in enumerate(self._pairs):
            if not len(inst):
                continue
            ended = done[inst]
            if self._state[p] is not None:
                self._state[p] = torch.where(ended[:, None], 0.0, self._state[p])
            self._explore[p] = torch.where(ended, self._draw_explore(lrn), self._explore[p])

    def _book(self, steps_seen: dict[str, list[torch.Tensor]]) -> None:
        """The call's steps, in one transfer, into the episode book (as the host collector
        feeds it step by step)."""
        seen = {k: torch.stack(v).cpu().numpy() for k, v in steps_seen.items()}
        for t in range(len(seen["done"])):
            self.book.count_cooperation(seen["actions"][t], seen["game"][t])
            self.book.record(seen["reward"][t], seen["done"][t], seen["episode"][t],
                             seen["teams_changed"][t], seen["rules_changed"][t])

    @torch.inference_mode()
    def _finish(self, p: int, rec: dict[str, list], steps: int) -> RolloutBatch:
        policy = self.policies[p]
        last = policy(self._observe(p), self._state[p], tom=False)["value"][self._pairs[p][2]]
        arrays = {k: torch.stack(v).cpu().numpy() for k, v in rec.items() if v}  # [T, k, ...]
        return training_batch(arrays, last.cpu().numpy(), policy.recurrent, self.settings,
                              steps * self.engine.agent_count)
