"""LocalTrainer: an update depends on the trainer's seed alone."""

import numpy as np
import pytest
import torch

from socius.envs import BatchedEngine, classic
from socius.policies.network import NetConfig
from socius.policies.scripted import make_partner

pytest.importorskip("ray.rllib")
from socius.policies.trainer import LocalTrainer, PPOSettings  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def one_update(seed: int, global_draws: int) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    np.random.seed(1234)
    np.random.random(global_draws)  # other code drawing from np.random's global state
    ipd = classic("prisoners_dilemma__textbook", horizon=8)
    engine = BatchedEngine([ipd], np.zeros(16, np.intp), max_players=8)
    seat_policy = np.full((8, 16), -1)
    seat_policy[0], seat_policy[1] = 0, 1
    trainer = LocalTrainer(engine, seat_policy, [make_partner("tit_for_tat")],
                           NetConfig(core="mlp"),
                           PPOSettings(rollout_steps=512, epochs=2, minibatches=4), seed=seed)
    before = np.random.get_state()[1].copy()
    trainer.iterate()
    assert (np.random.get_state()[1] == before).all()  # the global state is left as it was
    return {k: v.clone() for k, v in trainer.net.state_dict().items()}


def test_an_update_does_not_depend_on_numpys_global_state():
    # RLlib shuffles minibatches with np.random's global state; the trainer seeds it per update
    first, second = one_update(seed=3, global_draws=1), one_update(seed=3, global_draws=7)
    assert all(torch.equal(first[k], second[k]) for k in first)
    other_seed = one_update(seed=4, global_draws=1)
    assert not all(torch.equal(first[k], other_seed[k]) for k in first)
