"""Collects training data from a `BatchedEngine`: one batched forward pass per policy per step,
recurrent state and episode boundaries in arrays, GAE in arrays, non-learning seats masked out.

Every (seat, instance) pair is played by one policy: a `SociusNet` or a scripted partner. Pairs
marked `learn` produce training rows for their net. A share of the learning pairs' episodes
(`explore_prob`) is played with uniformly random actions: those steps train the theory-of-mind
head only (they are off-policy, so PPO's `loss_mask` drops them); a head trained only on the
agent's own play never sees what partners do after unusual moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from socius.envs import BatchedEngine
from socius.policies.care import care_weighted_rewards
from socius.policies.network import SociusNet, flat_observation
from socius.policies.scripted import ScriptedPartner


@dataclass(frozen=True)
class RolloutSettings:
    """How experience becomes training data."""

    gamma: float = 0.99
    lam: float = 0.95
    reward_scale: float = 0.1  # returns near 40 would saturate gradient clipping unscaled
    explore_prob: float = 0.2
    max_seq_len: int = 16  # recurrent chunk length


@dataclass
class RolloutBatch:
    """Training columns for one net, plus what was sampled to make them."""

    columns: dict[str, np.ndarray]
    recurrent: bool
    agent_steps: int  # learning rows (before padding)
    env_agent_steps: int  # seat-steps the engine played for this batch, all seats
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class FinishedEpisode:
    """One episode that ended during `collect`, with per-seat totals."""

    instance: int
    episode: int  # the engine's episode counter of that instance
    returns: np.ndarray  # [n_players]
    steps: int
    team_changes: int  # steps after which the teams differed
    rule_changes: int  # steps after which the stage game differed
    cooperated: np.ndarray  # [n_players] cooperative actions
    could_cooperate: np.ndarray  # [n_players] steps in games that have a cooperative action
    # seats that defected right after a step in which every seat cooperated
    betrayals: int = 0


def seat_pairs(policies: list, seat_policy: np.ndarray, learn: np.ndarray, present: np.ndarray
               ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per policy: the (seats, instances) it plays and which of those pairs learn; checks that
    every present seat has a policy and only nets learn."""
    learn = np.asarray(learn, bool)
    if seat_policy.shape != present.shape or learn.shape != present.shape:
        raise ValueError(f"seat_policy and learn must have shape {present.shape} (seats, "
                         f"instances), got {seat_policy.shape} and {learn.shape}")
    learn = learn & present
    pairs = []
    for p, policy in enumerate(policies):
        seats, inst = np.nonzero((seat_policy == p) & present)
        is_learning = learn[seats, inst]
        if is_learning.any() and not isinstance(policy, SociusNet):
            raise ValueError(f"policy {p} ({type(policy).__name__}) cannot learn")
        pairs.append((seats, inst, is_learning))
    unassigned = present & ~np.isin(seat_policy, np.arange(len(policies)))
    if unassigned.any():
        raise ValueError(f"{int(unassigned.sum())} present seats have no policy")
    return pairs


def sample_actions(out: dict[str, torch.Tensor], explore: torch.Tensor,
                   generator: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sampled (action, team move, log-prob) per row; rows where `explore` act uniformly at
    random over the valid choices (masked logits stay masked; their log-probs stay the
    policy's). No branch on the data, so a device never waits here."""
    explore = explore[:, None]
    action_logits = torch.where(explore & (out["action_logits"] > -1e8), 0.0,
                                out["action_logits"])
    team_logits = torch.where(explore & (out["team_logits"] > -1e8), 0.0, out["team_logits"])
    act = torch.multinomial(torch.softmax(action_logits, -1), 1, generator=generator)[:, 0]
    move = torch.multinomial(torch.softmax(team_logits, -1), 1, generator=generator)[:, 0]
    logp = (torch.log_softmax(out["action_logits"], -1).gather(-1, act[:, None])[:, 0]
            + torch.log_softmax(out["team_logits"], -1).gather(-1, move[:, None])[:, 0])
    return act, move, logp


def training_batch(arrays: dict[str, np.ndarray], last_value: np.ndarray, recurrent: bool,
                   settings: RolloutSettings, env_agent_steps: int) -> RolloutBatch:
    """A net's training columns from its recorded steps (`[T, k, ...]` host arrays: obs,
    actions, logp, dist, value, reward, done, tom_actions, tom_moves, on_policy, state) and
    the value after the last step: GAE, then recurrent chunks or flat rows, RLlib's names."""
    advantages = gae(arrays["reward"], arrays["value"], arrays["done"], last_value,
                     settings.gamma, settings.lam)
    arrays["advantages"] = advantages
    arrays["value_targets"] = advantages + arrays["value"]
    n_rows = arrays["reward"].size
    stats = {"reward_mean": float(arrays["reward"].mean() / settings.reward_scale)}
    if recurrent:
        columns = _chunk(arrays, settings.max_seq_len)
    else:
        columns = {k: v.reshape(-1, *v.shape[2:]) for k, v in arrays.items() if k != "state"}
        columns["loss_mask"] = columns.pop("on_policy")
        columns["tom_mask"] = np.ones(n_rows, bool)
    return RolloutBatch(_rename(columns), recurrent, n_rows, env_agent_steps, stats)


class EpisodeBook:
    """Per-instance episode totals — returns, steps, team and rule changes, cooperation,
    betrayals — fed one step at a time, and the episodes that ended (host arrays: the device
    collector feeds it its recorded steps after each call)."""

    def __init__(self, engine):
        m, b = engine.max_players, engine.batch_size
        self.present = np.asarray(engine.present)
        self.n_players = np.asarray(engine.n_players)
        self.cooperative_action = engine.catalog.game_cooperative_action  # [games], -1: none
        self.episode_returns: list[float] = []
        self.finished_episodes: list[FinishedEpisode] = []
        self._steps = np.zeros(b, np.int64)
        self._team_changes = np.zeros(b, np.int64)
        self._rule_changes = np.zeros(b, np.int64)
        self._episode_cooperated = np.zeros((m, b), np.int64)
        self._episode_could = np.zeros((m, b), np.int64)
        self._betrayals = np.zeros(b, np.int64)
        self._mutual = np.zeros(b, bool)  # every present seat cooperated on the last step
        self._return = np.zeros((m, b))
        # per seat and instance, since the caller last cleared them: steps in games that have a
        # cooperative action, and how many of them the seat cooperated in
        self.cooperation_steps = np.zeros((m, b), np.int64)
        self.cooperated = np.zeros((m, b), np.int64)

    def count_cooperation(self, actions: np.ndarray, game: np.ndarray) -> None:
        """Before a step: the joint action `[M, B]` played in stage games `game` `[B]`."""
        cooperative = self.cooperative_action[game]  # [B]
        defined = self.present & (cooperative >= 0)[None, :]
        cooperated = defined & (actions == cooperative[None, :])
        self.cooperation_steps += defined
        self.cooperated += cooperated
        self._episode_could += defined
        self._episode_cooperated += cooperated
        self._steps += 1
        self._betrayals += (defined & ~cooperated).sum(0) * self._mutual
        self._mutual = (cooperated | ~self.present).all(0) & defined.any(0)

    def record(self, rewards: np.ndarray, done: np.ndarray, episode: np.ndarray,
               teams_changed: np.ndarray, rules_changed: np.ndarray) -> None:
        """After a step: its rewards `[M, B]`, which instances ended and the episode counter
        they were in, and where teams or the stage game changed."""
        self._team_changes += ~done & teams_changed
        self._rule_changes += ~done & rules_changed
        self._return += rewards
        if not done.any():
            return
        finished = np.flatnonzero(done)
        self.episode_returns.extend(self._return[:, finished][self.present[:, finished]].tolist())
        n = self.n_players
        self.finished_episodes.extend(FinishedEpisode(
            int(b), int(episode[b]), self._return[: n[b], b].copy(), int(self._steps[b]),
            int(self._team_changes[b]), int(self._rule_changes[b]),
            self._episode_cooperated[: n[b], b].copy(), self._episode_could[: n[b], b].copy(),
            int(self._betrayals[b])) for b in finished)
        for totals in (self._return, self._episode_cooperated, self._episode_could):
            totals[:, finished] = 0
        for totals in (self._steps, self._team_changes, self._rule_changes, self._betrayals):
            totals[finished] = 0
        self._mutual[finished] = False


class RolloutCollector:
    """Plays `engine` with `policies[seat_policy[seat, b]]` in each seat."""

    def __init__(self, engine: BatchedEngine, policies: list[SociusNet | ScriptedPartner],
                 seat_policy: np.ndarray, learn: np.ndarray,
                 settings: RolloutSettings | None = None, seed: int = 0,
                 log_steps: bool = False):
        self.engine, self.policies = engine, policies
        self.log_steps = log_steps  # keep every seat's step in `step_log` (for the rollout lake)
        self.step_log: dict[str, np.ndarray] = {}
        self.settings = settings or RolloutSettings()
        b = engine.batch_size
        self.present = engine.present
        self.seat_policy = np.asarray(seat_policy)
        # per policy: care for its teammates and for everyone else (policies/care.py)
        self.care = np.zeros((len(policies), 2))
        self.pairs = seat_pairs(policies, self.seat_policy, learn, engine.present)
        self.learn = np.asarray(learn, bool) & engine.present
        self._rng = np.random.default_rng(seed)
        self._torch_rng = torch.Generator().manual_seed(seed)
        self.buffers = engine.buffers()
        engine.reset(self._rng.integers(0, 2**63, b, dtype=np.uint64), self.buffers)
        self._state = [torch.zeros(len(s), p.config.core_size) if isinstance(p, SociusNet)
                       and p.recurrent else None for p, (s, _, _) in zip(policies, self.pairs,
                                                                          strict=True)]
        self._memory = [p.new_state(len(s)) if isinstance(p, ScriptedPartner) else None
                        for p, (s, _, _) in zip(policies, self.pairs, strict=True)]
        self._explore = [(self._rng.random(len(s)) < self.settings.explore_prob) & lrn
                         for s, _, lrn in self.pairs]
        self.book = EpisodeBook(engine)

    def _observe(self, p: int) -> np.ndarray:
        seats, inst, _ = self.pairs[p]
        rows = self.buffers.tokens[seats, :, inst]
        return flat_observation(rows, self.engine.rule_table[self.buffers.rules_index[seats, inst]])

    @torch.inference_mode()
    def collect(self, steps: int) -> dict[int, RolloutBatch]:
        """Play `steps` steps of every instance; return a batch per learning policy."""
        eng, cfg = self.engine, self.settings
        m, b = eng.max_players, eng.batch_size
        learners = [p for p, (_, _, lrn) in enumerate(self.pairs) if lrn.any()]
        record = {p: {k: [] for k in ("obs", "actions", "logp", "dist", "value", "reward", "done",
                                      "tom_actions", "tom_moves", "on_policy", "state")}
                  for p in learners}
        log: dict[str, list] = {}
        caring = bool(np.any(self.care))
        if caring:  # absent seats (policy -1) are masked out by `present`
            care_team = self.care[self.seat_policy, 0]
            care_others = self.care[self.seat_policy, 1]
        for _ in range(steps):
            actions = np.zeros((m, b), np.int64)
            moves = np.zeros((m, b), np.int64)
            logp_all = np.full((m, b), np.nan, np.float32)
            value_all = np.full((m, b), np.nan, np.float32)
            outputs = {}
            for p, policy in enumerate(self.policies):
                seats, inst, lrn = self.pairs[p]
                if not len(seats):
                    continue
                if isinstance(policy, ScriptedPartner):
                    rows = self.buffers.tokens[seats, :, inst]
                    actions[seats, inst] = policy.act_rows(rows, self._memory[p],
                                                           self._rng.random(len(seats)))
                    continue
                obs = self._observe(p)
                state_before = self._state[p]
                out = policy(torch.from_numpy(obs), state_before, tom=False)
                if policy.recurrent:
                    self._state[p] = out["state"]
                act, move, logp = (x.numpy() for x in sample_actions(
                    out, torch.from_numpy(self._explore[p]), self._torch_rng))
                actions[seats, inst], moves[seats, inst] = act, move
                logp_all[seats, inst], value_all[seats, inst] = logp, out["value"].numpy()
                if p in record:
                    outputs[p] = (obs, act, move, logp, out, state_before)
            if self.log_steps:
                game = eng.game - eng.catalog.scenario_game_base[eng.scenario_of]
                before = {"obs": self.buffers.tokens.copy(), "teams": eng.teams.copy(),
                          "episode": eng.episode.copy(), "step": eng.t.copy(), "game": game,
                          "action": actions, "team_move": moves, "action_logp": logp_all,
                          "value": value_all}
            self.book.count_cooperation(actions, eng.game)
            teams, game, episode = eng.teams.copy(), eng.game.copy(), eng.episode.copy()
            eng.step(actions, self.buffers, moves if eng.any_coalition else None)
            done = self.buffers.terminated | self.buffers.truncated
            teams_changed, rules_changed = (teams != eng.teams).any(0), game != eng.game
            train_rewards = care_weighted_rewards(self.buffers.rewards, teams, eng.present,
                                                  care_team, care_others) \
                if caring else self.buffers.rewards
            if self.log_steps:
                before.update(reward=self.buffers.rewards.copy(),
                              terminated=self.buffers.terminated.copy(),
                              truncated=self.buffers.truncated.copy())
                for key, value in before.items():
                    log.setdefault(key, []).append(value)
            for p, (obs, act, move, logp, out, state_before) in outputs.items():
                seats, inst, lrn = self.pairs[p]
                rec = record[p]
                rec["obs"].append(obs[lrn])
                rec["actions"].append(np.stack([act, move], -1)[lrn])
                rec["logp"].append(logp[lrn])
                rec["dist"].append(torch.cat([out["action_logits"], out["team_logits"]],
                                             -1).numpy()[lrn])
                rec["value"].append(out["value"].numpy()[lrn])
                rec["reward"].append(train_rewards[seats, inst][lrn] * cfg.reward_scale)
                rec["done"].append(done[inst][lrn])
                others = (np.arange(m)[None, :] != seats[:, None]) & eng.present[:, inst].T
                rec["tom_actions"].append(np.where(others, actions[:, inst].T, -1)[lrn])
                coalition = eng.coalition[inst][:, None]
                rec["tom_moves"].append(np.where(others & coalition, moves[:, inst].T, -1)[lrn])
                rec["on_policy"].append(~self._explore[p][lrn])
                if state_before is not None:
                    rec["state"].append(state_before.numpy()[lrn])
            self.book.record(self.buffers.rewards, done, episode, teams_changed, rules_changed)
            self._new_episodes(done)
        self.step_log = {k: np.stack(v) for k, v in log.items()}  # [T, M, B, ...] / [T, B]
        return {p: self._finish(p, record[p], steps) for p in learners}

    def _new_episodes(self, done: np.ndarray) -> None:
        """Recurrent states start over and exploration is drawn again where episodes ended."""
        if not done.any():
            return
        for p, (_, inst, lrn) in enumerate(self.pairs):
            ended = done[inst]
            if not ended.any():
                continue
            if self._state[p] is not None:
                self._state[p][torch.from_numpy(ended)] = 0.0
            draw = self._rng.random(int(ended.sum())) < self.settings.explore_prob
            self._explore[p][ended] = draw & lrn[ended]

    @torch.inference_mode()
    def _finish(self, p: int, rec: dict[str, list], steps: int) -> RolloutBatch:
        policy = self.policies[p]
        # bootstrap from the value of the observation after the last step
        obs = self._observe(p)
        last = policy(torch.from_numpy(obs), self._state[p], tom=False)["value"].numpy()
        last = last[self.pairs[p][2]]
        arrays = {k: np.stack(v) for k, v in rec.items() if v}  # [T, k, ...]
        return training_batch(arrays, last, policy.recurrent, self.settings,
                              steps * self.engine.agent_count)


def gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_value: np.ndarray,
        gamma: float, lam: float) -> np.ndarray:
    """Generalized advantage estimates for arrays `[T, k]`; an episode ending at step t (done)
    does not bootstrap across the boundary (truncation is treated as an end too)."""
    advantages = np.zeros_like(rewards, dtype=np.float32)
    running = np.zeros(rewards.shape[1], np.float32)
    next_value = last_value
    for t in range(rewards.shape[0] - 1, -1, -1):
        alive = 1.0 - dones[t].astype(np.float32)
        delta = rewards[t] + gamma * alive * next_value - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
        next_value = values[t]
    return advantages


def _chunk(arrays: dict[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
    """Cut each stream `[T, k]` into zero-padded sequences `[C, length]` that start at episode
    starts (and every `length` steps), with the recurrent state at each sequence's start."""
    dones = arrays["done"]
    t_len, k = dones.shape
    starts = np.zeros((t_len, k), bool)
    starts[0] = True
    starts[1:] = dones[:-1]
    position = np.zeros((t_len, k), np.int64)
    run = np.zeros(k, np.int64)
    for t in range(t_len):
        run = np.where(starts[t], 0, run + 1)
        split = run >= length
        starts[t] |= split
        run[split] = 0
        position[t] = run
    flat_starts = starts.T.ravel()  # stream-major: each stream's steps in order
    chunk = np.cumsum(flat_starts) - 1
    n_chunks = int(chunk[-1]) + 1
    col = position.T.ravel()
    out = {}
    for key, value in arrays.items():
        if key == "state":
            continue
        flat = np.swapaxes(value, 0, 1).reshape(k * t_len, *value.shape[2:])
        padded = np.zeros((n_chunks, length, *value.shape[2:]), value.dtype)
        padded[chunk, col] = flat
        out[key] = padded
    valid = np.zeros((n_chunks, length), bool)
    valid[chunk, col] = True
    out["loss_mask"] = out.pop("on_policy") & valid
    out["tom_mask"] = valid
    out["seq_lens"] = np.bincount(chunk, minlength=n_chunks).astype(np.int32)
    state = np.swapaxes(arrays["state"], 0, 1).reshape(k * t_len, -1)
    out["state_in"] = state[np.flatnonzero(flat_starts)]
    return out


def _rename(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our record names to RLlib's column names."""
    names = {"dist": "action_dist_inputs", "logp": "action_logp"}
    return {names.get(k, k): v for k, v in columns.items() if k not in ("reward", "value", "done")}

