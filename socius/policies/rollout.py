"""Collects training data from a batched engine — the numpy `BatchedEngine`, or `TorchEngine` on
any torch device — in one loop: one batched forward pass per policy per step, recurrent state
and episode boundaries in arrays, every step recorded into tensors preallocated for the call,
then (on the host) GAE, the training columns and the match totals.

Engine instances are *slots* that hold matches across calls: a slot keeps its game, its seats'
recurrent state and scripted partners' memory from one `collect` to the next, so a match runs
to its end however many calls it takes; `start_matches` gives free slots new matches and
`stop_matches` cancels matches in play. A slot whose match ended during a call plays on
unrecorded until it is given the next one. Built with fixed policies, the collector is a plain
vector env: every slot plays match after match (one episode each) with those policies.

Every (seat, slot) pair is played by one policy: a `SociusNet` or a scripted partner. Pairs
marked `learn` produce training rows for their net. A share of the learning pairs' episodes
(`explore_prob`) is played with uniformly random actions: those steps train the
theory-of-mind head only (they are off-policy, so PPO's `loss_mask` drops them); a head trained
only on the agent's own play never sees what partners do after unusual moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from socius.envs import BatchedEngine
from socius.envs.families import MAX_ACTIONS
from socius.policies.book import FinishedMatch, MatchBook
from socius.policies.care import care_weighted_rewards
from socius.policies.network import SociusNet
from socius.policies.scripted import ScriptedPartner
from socius.policies.torch_engine import TorchEngine

__all__ = ["FinishedMatch", "MatchBook", "RolloutBatch", "RolloutCollector", "RolloutSettings",
           "gae", "sample_actions", "seat_pairs", "training_batch"]

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


def seat_pairs(policies: list, seat_policy: np.ndarray, learn: np.ndarray, present: np.ndarray
               ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per policy: the (seats, slots) it plays and which of those pairs learn; checks the
    shapes and that only nets learn. Seats with policy -1 play action 0 (free slots)."""
    seat_policy, learn = np.asarray(seat_policy), np.asarray(learn, bool)
    if seat_policy.shape != present.shape or learn.shape != present.shape:
        raise ValueError(f"seat_policy and learn must have shape {present.shape} (seats, "
                         f"instances), got {seat_policy.shape} and {learn.shape}")
    unknown = present & ((seat_policy < -1) | (seat_policy >= len(policies)))
    if unknown.any():
        raise ValueError(f"seat_policy names policies outside 0..{len(policies) - 1} or -1: "
                         f"{sorted(set(seat_policy[unknown].tolist()))}")
    learn = learn & present & (seat_policy >= 0)
    pairs = []
    for p, policy in enumerate(policies):
        seats, inst = np.nonzero((seat_policy == p) & present)
        is_learning = learn[seats, inst]
        if is_learning.any() and not isinstance(policy, SociusNet):
            raise ValueError(f"policy {p} ({type(policy).__name__}) cannot learn")
        pairs.append((seats, inst, is_learning))
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
    actions, logp, dist, value, reward, done, tom_actions, tom_moves, on_policy, valid, state)
    and the value after the last step: GAE, then recurrent chunks or flat rows, RLlib's names.
    Steps that are not `valid` (a slot whose match had ended) are dropped: they follow a done,
    so no advantage reaches across them, and recurrent chunks start there."""
    advantages = gae(arrays["reward"], arrays["value"], arrays["done"], last_value,
                     settings.gamma, settings.lam)
    arrays["advantages"] = advantages
    arrays["value_targets"] = advantages + arrays["value"]
    valid = arrays.pop("valid")
    n_rows = int(valid.sum())
    reward = arrays["reward"][valid]
    stats = {"reward_mean": float(reward.mean() / settings.reward_scale) if n_rows else 0.0}
    if recurrent:
        columns = _chunk(arrays, settings.max_seq_len, valid)
    else:
        flat_valid = valid.reshape(-1)
        columns = {k: v.reshape(-1, *v.shape[2:])[flat_valid] for k, v in arrays.items()
                   if k != "state"}
        columns["loss_mask"] = columns.pop("on_policy")
        columns["tom_mask"] = np.ones(n_rows, bool)
    return RolloutBatch(_rename(columns), recurrent, n_rows, env_agent_steps, stats)


class RolloutCollector:
    """Plays an engine's slots with `policies[seat_policy[seat, slot]]` in each seat (see the
    module docstring); `engine` is a `BatchedEngine` or a `TorchEngine` (nets on its device).
    Given `policies`, `seat_policy` and `learn` here, every slot plays endlessly with them."""

    def __init__(self, engine: BatchedEngine | TorchEngine,
                 policies: list[SociusNet | ScriptedPartner] | None = None,
                 seat_policy: np.ndarray | None = None, learn: np.ndarray | None = None,
                 settings: RolloutSettings | None = None, seed: int = 0,
                 log_steps: bool = False):
        self.engine = engine
        self.on_torch = isinstance(engine, TorchEngine)
        self.host = host = engine.host if self.on_torch else engine
        self.device = engine.device if self.on_torch else torch.device("cpu")
        self.settings = settings or RolloutSettings()
        self.log_steps = log_steps  # keep every seat's step in `step_log` (for the rollout lake)
        self.step_log: dict[str, np.ndarray] = {}
        m, b = host.max_players, host.batch_size
        self._rng = np.random.default_rng(seed)  # scripted partners and the engine's seeds
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        self.buffers = engine.buffers()
        self.book = MatchBook(host)
        self._rule_table = torch.as_tensor(host.rule_table, dtype=torch.float32,
                                           device=self.device)
        self._explore = torch.zeros((m, b), dtype=torch.bool, device=self.device)
        self._memory = np.zeros((m, b), np.int8)  # scripted partners' per-seat memory
        self._state: torch.Tensor | None = None  # [M, B, H] recurrent state, once a net has one
        self.policies: list = []
        self.care = np.zeros((0, 2))
        self.agent_steps_played = 0  # by the matches in play during the last call
        self.set_policies([], np.full((m, b), -1), np.zeros((m, b), bool))
        if policies is not None:
            engine.reset(self._rng.integers(0, 2**63, b, dtype=np.uint64), self.buffers)
            self.book.start(np.arange(b), 1, endless=True)
            self._explore = self._draw_explore()
            self.set_policies(policies, seat_policy, learn)

    # --- slots ----------------------------------------------------------------------------------
    @torch.inference_mode()  # the recurrent state was made under it
    def start_matches(self, slots: np.ndarray, scenario_index: np.ndarray, seeds: np.ndarray,
                      episodes: np.ndarray | int = 1) -> None:
        """Free `slots` start new matches: scenario `engine.scenarios[scenario_index[k]]`, seed
        `seeds[k]`, lasting `episodes` episodes; their seats' memory starts afresh."""
        slots = np.asarray(slots, np.intp)
        busy = slots[self.book.active[slots]]
        if busy.size:
            raise ValueError(f"slots {busy.tolist()} still hold a match in play")
        self.engine.assign(slots, scenario_index, seeds, self.buffers)
        self.book.start(slots, episodes)
        where = torch.zeros(self.host.batch_size, dtype=torch.bool, device=self.device)
        where[torch.as_tensor(slots, device=self.device)] = True
        if self._state is not None:
            self._state[:, where] = 0.0
        self._explore = torch.where(where[None, :], self._draw_explore(), self._explore)
        self._memory[:, slots] = 0

    def stop_matches(self, slots: np.ndarray) -> None:
        """Cancel the matches in `slots` (no result); the slots are free."""
        self.book.stop(np.asarray(slots, np.intp))

    def set_policies(self, policies: list[SociusNet | ScriptedPartner], seat_policy: np.ndarray,
                     learn: np.ndarray) -> None:
        """Who plays each (seat, slot) from the next `collect` on (-1: nobody, action 0)."""
        host = self.host
        self.pairs = seat_pairs(policies, seat_policy, learn, host.present)
        unassigned = host.present & self.book.active[None, :] & (np.asarray(seat_policy) < 0)
        if unassigned.any():
            raise ValueError(f"{int(unassigned.sum())} present seats have no policy")
        self.policies, self.seat_policy = list(policies), np.asarray(seat_policy)
        self.learn = np.asarray(learn, bool) & host.present & (self.seat_policy >= 0)
        self._pairs = [(torch.as_tensor(s, device=self.device),
                        torch.as_tensor(i, device=self.device),
                        torch.as_tensor(lrn, device=self.device)) for s, i, lrn in self.pairs]
        if len(self.care) != len(policies):
            self.care = np.zeros((len(policies), 2))
        cores = {p.config.core_size for p in policies if isinstance(p, SociusNet) and p.recurrent}
        if len(cores) > 1:
            raise ValueError(f"one collector's recurrent nets share a core size, got {cores}")
        if cores and (self._state is None or self._state.shape[-1] != next(iter(cores))):
            self._state = torch.zeros((host.max_players, host.batch_size, cores.pop()),
                                      device=self.device)

    @property
    def present(self) -> np.ndarray:
        return self.host.present

    # --- the loop -------------------------------------------------------------------------------
    def _draw_explore(self) -> torch.Tensor:
        draw = torch.rand(self._explore.shape, generator=self._generator, device=self.device)
        return draw < self.settings.explore_prob

    def _observe(self, seats: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
        rows = self._tokens[seats, :, inst]
        rules = self._rule_table[self._rules_index[seats, inst].long()]
        return torch.cat([rows.float(), rules], -1)

    def _tensor(self, value) -> torch.Tensor:
        """An engine array as a tensor (numpy: shared memory, uint64 read as int64)."""
        if isinstance(value, torch.Tensor):
            return value
        value = np.asarray(value)
        return torch.from_numpy(value.view(np.int64) if value.dtype == np.uint64 else value)

    def _records(self, steps: int) -> dict[str, torch.Tensor]:
        """Preallocated step records for one call, on the collector's device."""
        m, b, lay, dev = self.host.max_players, self.host.batch_size, self.host.layout, \
            self.device
        nets = [p for p in self.policies if isinstance(p, SociusNet)]
        dist = nets[0].config.team_moves + MAX_ACTIONS if nets else 0

        def empty(shape, dtype, fill=0):
            return torch.full((steps, *shape), fill, dtype=dtype, device=dev)

        rec = {"tokens": empty((m, lay.size, b), torch.uint8),
               "rules_index": empty((m, b), torch.int32),
               "action": empty((m, b), torch.int64), "team_move": empty((m, b), torch.int64),
               "action_logp": empty((m, b), torch.float32, float("nan")),
               "value": empty((m, b), torch.float32, float("nan")),
               "dist": empty((m, b, dist), torch.float32),
               "explore": empty((m, b), torch.bool), "teams": empty((m, b), torch.int8),
               "episode": empty((b,), torch.int64), "step": empty((b,), torch.int64),
               "game": empty((b,), torch.int64), "game_slot": empty((b,), torch.int64),
               "reward": empty((m, b), torch.float32),
               "train_reward": empty((m, b), torch.float32),
               "terminated": empty((b,), torch.bool), "truncated": empty((b,), torch.bool),
               "teams_changed": empty((b,), torch.bool),
               "rules_changed": empty((b,), torch.bool)}
        if self._state is not None:
            rec["state"] = empty(tuple(self._state.shape), torch.float32)
        return rec

    @torch.inference_mode()
    def collect(self, steps: int) -> dict[int, RolloutBatch]:
        """Play `steps` steps of every slot; return a batch per learning policy."""
        eng, dev, out = self.engine, self.device, self.buffers
        m, b = self.host.max_players, self.host.batch_size
        tensor = self._tensor
        self._tokens, self._rules_index = tensor(out.tokens), tensor(out.rules_index)
        rewards, terminated, truncated = tensor(out.rewards), tensor(out.terminated), \
            tensor(out.truncated)
        rec = self._records(steps)
        learn = [lrn for _, _, lrn in self._pairs]
        caring = bool(np.any(self.care))
        if caring:  # seats without a policy (-1) care for nobody
            weights = np.where(self.seat_policy[..., None] >= 0,
                               self.care[np.maximum(self.seat_policy, 0)], 0.0)
            care_team, care_others = (torch.as_tensor(weights[..., i], dtype=torch.float32,
                                                      device=dev) for i in (0, 1))
            present = torch.as_tensor(self.host.present, device=dev)
        for t in range(steps):
            actions = torch.zeros((m, b), dtype=torch.int64, device=dev)
            moves = torch.zeros((m, b), dtype=torch.int64, device=dev)
            rec["tokens"][t] = self._tokens
            rec["rules_index"][t] = self._rules_index
            for p, policy in enumerate(self.policies):
                seats, inst, _ = self._pairs[p]
                if not len(seats):
                    continue
                if isinstance(policy, ScriptedPartner):
                    host_seats, host_inst, _ = self.pairs[p]
                    rows = self._tokens[seats, :, inst].cpu().numpy()
                    memory = self._memory[host_seats, host_inst]
                    chosen = policy.act_rows(rows, memory, self._rng.random(len(host_seats)))
                    self._memory[host_seats, host_inst] = memory
                    actions[seats, inst] = torch.from_numpy(chosen).to(dev)
                    continue
                state = None
                if policy.recurrent:
                    state = self._state[seats, inst]
                    rec["state"][t, seats, inst] = state
                net_out = policy(self._observe(seats, inst), state, tom=False)
                if policy.recurrent:
                    self._state[seats, inst] = net_out["state"]
                act, move, logp = sample_actions(net_out, self._explore[seats, inst] & learn[p],
                                                 self._generator)
                actions[seats, inst], moves[seats, inst] = act, move
                rec["action_logp"][t, seats, inst] = logp
                rec["value"][t, seats, inst] = net_out["value"]
                rec["dist"][t, seats, inst] = torch.cat([net_out["action_logits"],
                                                         net_out["team_logits"]], -1)
            rec["action"][t], rec["team_move"][t] = actions, moves
            rec["explore"][t] = self._explore
            teams, game = tensor(eng.teams).clone(), tensor(eng.game).clone()
            rec["teams"][t], rec["game"][t] = teams, game
            rec["episode"][t], rec["step"][t] = tensor(eng.episode), tensor(eng.t)
            rec["game_slot"][t] = tensor(eng.game_slot)
            if self.on_torch:
                eng.step(actions, out, moves if eng.any_coalition else None)
            else:
                eng.step(actions.numpy(), out, moves.numpy() if eng.any_coalition else None)
            done = terminated | truncated
            rec["reward"][t], rec["terminated"][t], rec["truncated"][t] = \
                rewards, terminated, truncated
            rec["train_reward"][t] = care_weighted_rewards(
                rewards, teams, present, care_team, care_others) if caring else rewards
            rec["teams_changed"][t] = (teams != tensor(eng.teams)).any(0)
            rec["rules_changed"][t] = game != tensor(eng.game)
            # recurrent states start over and exploration is drawn again where episodes ended
            # (masked, so a device never waits here)
            if self._state is not None:
                self._state = torch.where(done[None, :, None], 0.0, self._state)
            self._explore = torch.where(done[None, :], self._draw_explore(), self._explore)
        last_values = {p: self._last_value(p) for p, (_, _, lrn) in enumerate(self.pairs)
                       if lrn.any()}
        return self._finish({k: v.cpu().numpy() for k, v in rec.items()}, last_values, steps)

    def _last_value(self, p: int) -> torch.Tensor:
        """The value of the observation after the call's last step (GAE's bootstrap)."""
        seats, inst, lrn = self._pairs[p]
        state = self._state[seats, inst] if self.policies[p].recurrent else None
        return self.policies[p](self._observe(seats, inst), state, tom=False)["value"][lrn]

    def _finish(self, rec: dict[str, np.ndarray], last_values: dict[int, torch.Tensor],
                steps: int) -> dict[int, RolloutBatch]:
        """The book's match totals, the lake's step log and each learning net's batch."""
        host, cfg = self.host, self.settings
        done = rec["terminated"] | rec["truncated"]
        valid = self.book.feed(rec["action"], rec["game"], rec["reward"], done, rec["episode"],
                               rec["teams_changed"], rec["rules_changed"])
        played = self.agent_steps_played = int((valid * host.n_players[None, :]).sum())
        if self.log_steps:  # (and the recurrent state before each step, for checks)
            self.step_log = {**{k: rec[k] for k in _STEP_LOG if k in rec}, "valid": valid}
        batches = {}
        m = host.max_players
        tokens = rec["tokens"].transpose(0, 1, 3, 2)  # [T, M, B, L]: rows by (seat, slot)
        for p, last in last_values.items():
            all_seats, all_inst, lrn = self.pairs[p]
            seats, inst = all_seats[lrn], all_inst[lrn]
            others = (np.arange(m)[None, :] != seats[:, None]) & host.present[:, inst].T
            coalition = host.coalition[inst][:, None]
            action_all = np.swapaxes(rec["action"][:, :, inst], 1, 2)  # [T, k, M]
            move_all = np.swapaxes(rec["team_move"][:, :, inst], 1, 2)
            arrays = {
                "obs": np.concatenate([
                    tokens[:, seats, inst].astype(np.float32),
                    host.rule_table[rec["rules_index"][:, seats, inst]].astype(np.float32)], -1),
                "actions": np.stack([rec["action"][:, seats, inst],
                                     rec["team_move"][:, seats, inst]], -1),
                "logp": rec["action_logp"][:, seats, inst],
                "dist": rec["dist"][:, seats, inst],
                "value": rec["value"][:, seats, inst],
                "reward": rec["train_reward"][:, seats, inst] * cfg.reward_scale,
                "done": done[:, inst],
                "tom_actions": np.where(others[None], action_all, -1),
                "tom_moves": np.where((others & coalition)[None], move_all, -1),
                "on_policy": ~rec["explore"][:, seats, inst] & valid[:, inst],
                "valid": valid[:, inst],
            }
            if "state" in rec and self.policies[p].recurrent:
                arrays["state"] = rec["state"][:, seats, inst]
            batches[p] = training_batch(arrays, last.cpu().numpy(), self.policies[p].recurrent,
                                        cfg, played)
        return batches


# what the rollout lake stores of each step (`step_log`), as recorded before the step
_STEP_LOG = ("tokens", "teams", "episode", "step", "game_slot", "action", "team_move",
             "action_logp", "value", "reward", "terminated", "truncated", "state")


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


def _chunk(arrays: dict[str, np.ndarray], length: int, valid: np.ndarray
           ) -> dict[str, np.ndarray]:
    """Cut each stream `[T, k]` into zero-padded sequences `[C, length]` that start at episode
    starts (and every `length` steps), with the recurrent state at each sequence's start;
    sequences of steps that are not `valid` are left out (each is wholly valid or not, since
    steps turn invalid only after a done)."""
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
    filled = np.zeros((n_chunks, length), bool)
    filled[chunk, col] = True
    out["loss_mask"] = out.pop("on_policy") & filled
    out["tom_mask"] = filled
    out["seq_lens"] = np.bincount(chunk, minlength=n_chunks).astype(np.int32)
    first = np.flatnonzero(flat_starts)
    state = np.swapaxes(arrays["state"], 0, 1).reshape(k * t_len, -1)
    out["state_in"] = state[first]
    keep = np.swapaxes(valid, 0, 1).reshape(-1)[first]
    return {key: value[keep] for key, value in out.items()}


def _rename(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Our record names to RLlib's column names."""
    names = {"dist": "action_dist_inputs", "logp": "action_logp"}
    return {names.get(k, k): v for k, v in columns.items() if k not in ("reward", "value", "done")}

