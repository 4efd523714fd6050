"""The training loop: runners act exactly as the per-agent reference, reuse weights by hash,
and PPO through runner actors and the LearnerGroup still learns the prisoner's dilemma."""

import numpy as np
import pytest
import torch

from socius.envs import ScenarioSpace, classic
from socius.envs.encoding import OBS_VERSION
from socius.platform.training.runner import Runner
from socius.platform.training.weights import WeightPool, WeightsHandle, state_digest
from socius.platform.types import MatchTicket
from socius.policies.evaluate import play_against
from socius.policies.network import NetConfig, SociusNet
from socius.policies.scripted import make_partner


def weights_of(net):
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    return WeightsHandle(state_digest(state), state)


def mixed_tickets(count=24):
    space = ScenarioSpace(max_players=4, p_coalition=0.5, families=(
        "prisoners_dilemma", "public_goods", "stag_hunt", "rock_paper_scissors"))
    tickets = []
    for k in range(count):
        sc = space.sample(k)
        seats = tuple("main_0" if i % 2 == 0 else ("main_1" if sc.n_actions != 2
                                                   else "scripted:tit_for_tat")
                      for i in range(sc.n_players))
        learn = tuple(s == "main_0" for s in seats)
        tickets.append(MatchTicket(f"m{k}", sc, seats, learn, seed=k))
    return tickets


# None: the numpy engine; "cpu" (and "cuda" where there is one): the torch engine, both
# played by the one collector loop
DEVICES = [None, "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("core", ["mlp", "gru"])
def test_runner_matches_the_per_agent_reference(core, device):
    torch.manual_seed(0)
    config = NetConfig(max_players=4, core=core)
    nets = {"main_0": SociusNet(config).eval(), "main_1": SociusNet(config).eval()}
    weights = {m: weights_of(n) for m, n in nets.items()}
    runner = Runner(config, steps=20, seed=3, device=device)
    batch, stats = runner.run(mixed_tickets(), weights)
    assert set(batch.policy_batches) == {"main_0"}  # main_1 plays but never learns here
    columns = {k: (v.numpy() if hasattr(v, "numpy") else v)
               for k, v in batch.policy_batches["main_0"].items() if k != "state_in"}
    net = nets["main_0"]
    values = columns["value_targets"] - columns["advantages"]
    with torch.no_grad():
        if core == "mlp":  # one agent-step at a time
            for i in range(0, len(columns["obs"]), 7):
                out = net(torch.from_numpy(columns["obs"][i:i + 1]))
                logits = torch.cat([out["action_logits"], out["team_logits"]], -1)[0].numpy()
                np.testing.assert_allclose(logits, columns["action_dist_inputs"][i], atol=1e-5)
                a, move = columns["actions"][i]
                logp = (torch.log_softmax(out["action_logits"][0], -1)[a]
                        + torch.log_softmax(out["team_logits"][0], -1)[move])
                assert abs(float(logp) - columns["action_logp"][i]) < 1e-5
                assert abs(float(out["value"][0]) - values[i]) < 1e-5
        else:  # each sequence one step at a time from its recorded starting state
            state_in = batch.policy_batches["main_0"]["state_in"]["h"]
            for c in range(0, len(columns["seq_lens"]), 5):
                state = state_in[c:c + 1]
                for t in range(int(columns["seq_lens"][c])):
                    out = net(torch.from_numpy(columns["obs"][c, t][None]), state)
                    state = out["state"]
                    logits = torch.cat([out["action_logits"], out["team_logits"]], -1)[0]
                    np.testing.assert_allclose(logits.numpy(), columns["action_dist_inputs"][c, t],
                                               atol=1e-5)
                    assert abs(float(out["value"][0]) - values[c, t]) < 1e-5
    assert stats.agent_steps_trainable == int(np.sum(columns["tom_mask"]))


@pytest.mark.parametrize("device", DEVICES)
def test_same_seed_tickets_and_weights_give_the_same_batch(device):
    torch.manual_seed(1)
    config = NetConfig(max_players=4, core="mlp")
    weights = {"main_0": weights_of(SociusNet(config)), "main_1": weights_of(SociusNet(config))}
    first, _ = Runner(config, steps=12, seed=5, device=device).run(mixed_tickets(), weights)
    second, _ = Runner(config, steps=12, seed=5, device=device).run(mixed_tickets(), weights)
    for key in ("obs", "actions", "action_logp", "advantages"):
        assert torch.equal(first.policy_batches["main_0"][key],
                           second.policy_batches["main_0"][key]), key


def test_weight_pool_fetches_each_hash_once():
    config = NetConfig(max_players=2, core="mlp")
    fetched = []
    pool = WeightPool(config, capacity=2, fetch=lambda source: fetched.append(1) or source)
    a, b = weights_of(SociusNet(config)), weights_of(SociusNet(config))
    assert pool.net(a) is pool.net(a) and len(fetched) == 1
    pool.net(b)
    pool.net(a)
    assert len(fetched) == 2
    c = weights_of(SociusNet(config))
    pool.net(c)  # capacity 2: b (least recently used) goes
    pool.net(b)
    assert len(fetched) == 4


def test_tickets_are_validated():
    pd = classic("prisoners_dilemma__textbook")
    with pytest.raises(ValueError, match="2 players need 2 seats"):
        MatchTicket("m", pd, ("a",), (True,))
    with pytest.raises(ValueError, match="cannot learn"):
        MatchTicket("m", pd, ("a", "scripted:tit_for_tat"), (True, True))


ROUNDS = 80  # about 290 K trained agent-steps


def ipd_through_the_loop(device: str | None, seed: int):
    """(cooperation with tit-for-tat, defection against always-defect) of a GRU net trained
    by PPO through runner actors and the loop, among an unlabelled mix of both partners."""
    from socius.platform.training.loop import fixed_plan, training_loop
    from socius.platform.training.runner import RunnerActor
    from socius.policies.trainer import PPOSettings, build_learner_group, learner_weights

    ipd = classic("prisoners_dilemma__textbook", horizon=None, continuation=0.95)
    tickets = []
    for b in range(128):
        partner = "scripted:tit_for_tat" if (b // 2) % 2 == 0 else "scripted:always_defect"
        seats = ("main_0", partner) if b % 2 == 0 else (partner, "main_0")
        # matches of 8 games: a slot idles only after its eighth (matches run to their end)
        tickets.append(MatchTicket(f"m{b}", ipd, seats, tuple(s == "main_0" for s in seats),
                                   episodes=8))
    # the torch engine plays at most 4 seats
    config, ppo = NetConfig(core="gru", max_players=8 if device is None else 2), PPOSettings()
    torch.manual_seed(seed)
    group = build_learner_group(config, ppo, 200_000, module_ids=("main_0",))
    runners = [RunnerActor.remote(config, 32, seed=seed, device=device)]
    result = training_loop(group, runners, fixed_plan([tickets]), ROUNDS, ppo, minibatch_size=1024)
    assert result.agent_steps_trained >= 200_000
    net = SociusNet(config)
    net.load_state_dict(learner_weights(group, "main_0"))
    net.eval()
    group.shutdown()
    with_tft = play_against(net, ipd, make_partner("tit_for_tat", layout=config.layout), 200,
                            seed=1)
    with_alld = play_against(net, ipd, make_partner("always_defect", layout=config.layout), 200,
                             seed=2)
    return with_tft.action_freq[0], with_alld.action_freq[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("device", [None, "cpu"])
def test_prisoners_dilemma_learning_holds_through_the_loop(ray_session, device):
    cooperation, defection = ipd_through_the_loop(device, seed=0)
    assert cooperation >= 0.9 and defection >= 0.9


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("core", ["gru", "mlp"])
def test_several_runners_feed_one_local_learner(ray_session, core):
    """RLlib's local learner takes one batch per update: two runners' batches (recurrent ones
    zero-padded) are concatenated for it, and every trainable step is trained on."""
    from socius.platform.training.loop import fixed_plan, training_loop
    from socius.platform.training.runner import RunnerActor
    from socius.policies.trainer import PPOSettings, build_learner_group

    pd = classic("prisoners_dilemma__textbook", horizon=8)
    tickets = [MatchTicket(f"m{b}", pd, ("main_0", "scripted:tit_for_tat"), (True, False))
               for b in range(16)]
    config, ppo = NetConfig(core=core), PPOSettings(epochs=1, minibatches=1)
    group = build_learner_group(config, ppo, 10_000, module_ids=("main_0",))
    runners = [RunnerActor.remote(config, 8, seed=s) for s in (0, 1)]
    result = training_loop(group, runners, fixed_plan([tickets, tickets]), 2, ppo,
                           minibatch_size=256)
    assert result.agent_steps_trained == 2 * 2 * 16 * 8  # rounds, runners, tickets, steps
    assert all(np.isfinite(it["learner/seconds"]) for it in result.iterations)
    group.shutdown()


@pytest.mark.parametrize("device", DEVICES)
def test_runner_records_every_seat_step_in_the_rollout_schema(device):
    from socius.platform.data import schema

    torch.manual_seed(2)
    config = NetConfig(max_players=4, core="mlp")
    weights = {"main_0": weights_of(SociusNet(config)), "main_1": weights_of(SociusNet(config))}
    tickets = mixed_tickets(12)
    runner = Runner(config, steps=10, seed=1, record=True, run_id="run_a", device=device)
    batch, stats = runner.run(tickets, weights)
    steps = stats.steps
    assert steps.schema.metadata[b"socius.rollout_schema"] == str(schema.SCHEMA_VERSION).encode()
    assert steps.schema == schema.batch_schema(OBS_VERSION, config.layout.size)  # narrow form
    table = steps.to_pydict()
    # every seat of a match until the match ends (one episode), at most the call's 10 steps
    for ticket in tickets:
        rows = [i for i, m in enumerate(table[schema.MATCH_ID]) if m == ticket.match_id]
        played = len(rows) // ticket.scenario.n_players
        assert len(rows) == played * ticket.scenario.n_players and 1 <= played <= 10
        assert sorted(set(table[schema.STEP][i] for i in rows)) == list(range(played))
        ended = any(table[schema.TERMINATED][i] or table[schema.TRUNCATED][i] for i in rows)
        assert ended or played == 10  # a match recorded for fewer steps ended in them
    learn = np.array(table[schema.LEARN])
    assert learn.sum() == stats.agent_steps_trainable
    members = np.array(table[schema.MEMBER])
    assert set(members[learn]) == {"main_0"}
    scripted = np.char.startswith(members.astype(str), "scripted:")
    assert np.isnan(np.array(table[schema.ACTION_LOGP])[scripted]).all()
    assert np.isfinite(np.array(table[schema.ACTION_LOGP])[~scripted]).all()
    # learning rows carry the same log-probs as the training batch, in the same order per step
    logp = np.array(table[schema.ACTION_LOGP])[learn]
    assert np.allclose(np.sort(logp), np.sort(batch.policy_batches["main_0"]["action_logp"].numpy()))
    # each row's observation is the encoding's token row, as long as the layout says
    assert {len(o) for o in table[schema.OBS]} == {config.layout.size}
    assert set(table[schema.MATCH_ID]) == {t.match_id for t in tickets}
    by_match = {t.match_id: t.scenario for t in tickets}
    for match, family, game in zip(table[schema.MATCH_ID], table[schema.FAMILY],
                                   table[schema.GAME], strict=True):
        assert family == by_match[match].games[0].family and game < len(by_match[match].games)


def test_device_and_host_runners_report_the_same_matches():
    """Scripted players that draw no random numbers: the torch engine and the device
    collector's episode book give exactly the host path's match results."""
    space = ScenarioSpace(max_players=4, p_coalition=0.5, p_teams=0.8, p_reteam_range=(0.1, 0.3),
                          p_rule_changes=0.5, families=("prisoners_dilemma", "public_goods",
                                                        "stag_hunt"))
    players = ("scripted:tit_for_tat", "scripted:always_defect", "scripted:grim_trigger",
               "scripted:always_cooperate")
    tickets = []
    for k in range(40):
        sc = space.sample(k)
        seats = tuple(players[(k + i) % 4] for i in range(sc.n_players))
        tickets.append(MatchTicket(f"m{k}", sc, seats, (False,) * sc.n_players, seed=k))
    config = NetConfig(max_players=4, core="mlp")
    host, device = Runner(config, steps=60, seed=4), Runner(config, steps=60, seed=4,
                                                           device="cpu")
    finished = []
    for new in (tickets, []):  # matches continue across calls
        _, expected = host.run(new, {})
        _, got = device.run(new, {})
        assert got.results == expected.results and got.free_slots == \
            expected.free_slots
        assert got.cooperation == expected.cooperation
        assert got.episode_returns == expected.episode_returns
        finished += expected.results
    assert len(finished) >= 35 and len({r.match_id for r in finished}) == len(finished)
    assert sum(r.team_changes for r in finished) > 0


def test_runner_refuses_more_tickets_than_free_slots_and_new_scenarios_mid_match():
    config = NetConfig(max_players=2, core="mlp")
    long_pd = classic("prisoners_dilemma__textbook", horizon=50)
    tickets = [MatchTicket(f"m{k}", long_pd, ("scripted:tit_for_tat", "scripted:always_defect"),
                           (False, False), seed=k) for k in range(3)]
    runner = Runner(config, steps=10, slots=3)
    _, stats = runner.run(tickets, {})
    assert stats.free_slots == 0 and runner.in_flight() == ["m0", "m1", "m2"]
    with pytest.raises(ValueError, match="1 new tickets but 0 free slots of 3"):
        runner.run(tickets[:1], {})
    stag = classic("stag_hunt__textbook", horizon=5)
    new = [MatchTicket("s", stag, tickets[0].seats, (False, False))]
    with pytest.raises(ValueError, match="arrives while matches are in play"):
        runner.run(new, {})
    assert runner.cancel(["scripted:always_defect"]) == ["m0", "m1", "m2"]
    _, stats = runner.run(new, {})
    # rebuilt for the new scenario once nothing was in play; its 5 steps end within the call
    assert [r.match_id for r in stats.results] == ["s"] and stats.free_slots == 3
