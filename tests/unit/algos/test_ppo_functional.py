"""PPO's math (GAE, value clipping, whitening, KL controllers) against numbers computed by hand."""

import math

import pytest
import torch

from toolrl.algos.functional import (
    AdaptiveKLController,
    FixedKLController,
    clipped_value_loss,
    explained_variance,
    gae_advantages,
    masked_whiten,
    token_rewards,
)


def test_gae_skips_observation_tokens_and_padding():
    # gamma 0.9, lam 0.8 (gamma*lam = 0.72).
    # Row 0: mask [1, 1, 0, 1] (t=2 is a tool observation), reward 1 on the last sampled token t=3,
    #        V = [0.5, 0.6, 9.0 (ignored), 0.7]. The trajectory is t0, t1, t3:
    #   t3: delta = 1 + 0.9*0 - 0.7 = 0.3                 A3 = 0.3
    #   t1: delta = 0 + 0.9*V3 - 0.6 = 0.63 - 0.6 = 0.03  A1 = 0.03 + 0.72*0.3   = 0.246
    #   t0: delta = 0 + 0.9*V1 - 0.5 = 0.54 - 0.5 = 0.04  A0 = 0.04 + 0.72*0.246 = 0.21712
    #   returns = A + V = [0.71712, 0.846, 0, 1.0]
    # Row 1: mask [1, 1, 0, 0] (padding), reward 2 on t=1, V = [1.0, 1.5, 3, 3]:
    #   t1: delta = 2 - 1.5 = 0.5                          A1 = 0.5
    #   t0: delta = 0.9*1.5 - 1.0 = 0.35                   A0 = 0.35 + 0.72*0.5 = 0.71
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    rewards = token_rewards(torch.tensor([1.0, 2.0]), mask)
    assert rewards.tolist() == [[0.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, 0.0]]
    values = torch.tensor([[0.5, 0.6, 9.0, 0.7], [1.0, 1.5, 3.0, 3.0]])
    adv, ret = gae_advantages(rewards, values, mask, gamma=0.9, lam=0.8)
    assert adv[0].tolist() == pytest.approx([0.21712, 0.246, 0.0, 0.3], abs=1e-6)
    assert ret[0].tolist() == pytest.approx([0.71712, 0.846, 0.0, 1.0], abs=1e-6)
    assert adv[1].tolist() == pytest.approx([0.71, 0.5, 0.0, 0.0], abs=1e-6)
    assert ret[1].tolist() == pytest.approx([1.71, 2.0, 0.0, 0.0], abs=1e-6)


def test_gae_with_gamma_lam_one_is_the_monte_carlo_return_minus_the_value():
    # ToolRL's setting: A_t = (sum of this and later rewards) - V_t; the KL penalty enters per token.
    mask = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    kl = torch.tensor([[0.5, 7.0, 1.0, 2.0]])  # the observation's KL is masked out
    rewards = token_rewards(torch.tensor([3.0]), mask, kl, kl_coef=0.1)
    assert rewards[0].tolist() == pytest.approx([-0.05, 0.0, -0.1, 2.8])
    values = torch.tensor([[0.25, 5.0, 0.5, 1.0]])
    adv, ret = gae_advantages(rewards, values, mask, gamma=1.0, lam=1.0)
    # returns-to-go over sampled tokens: [2.65, -, 2.7, 2.8]
    assert ret[0].tolist() == pytest.approx([2.65, 0.0, 2.7, 2.8], abs=1e-6)
    assert adv[0].tolist() == pytest.approx([2.4, 0.0, 2.2, 1.8], abs=1e-6)


def test_gae_lam_zero_is_the_one_step_td_error():
    mask = torch.ones(1, 3)
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.2, 0.4, 0.8]])
    adv, _ = gae_advantages(rewards, values, mask, gamma=0.5, lam=0.0)
    # delta: 0.5*0.4 - 0.2 = 0; 0.5*0.8 - 0.4 = 0; 1 - 0.8 = 0.2
    assert adv[0].tolist() == pytest.approx([0.0, 0.0, 0.2], abs=1e-6)


def test_gae_of_an_empty_row_is_zero():
    adv, ret = gae_advantages(torch.zeros(1, 3), torch.ones(1, 3), torch.zeros(1, 3), gamma=1.0, lam=1.0)
    assert adv.tolist() == [[0.0, 0.0, 0.0]] and ret.tolist() == [[0.0, 0.0, 0.0]]


def test_clipped_value_loss_on_both_sides():
    # cliprange 0.5 around V_old = 0:
    #   V=1,   R=2:  plain (1-2)^2 = 1, clipped (0.5-2)^2 = 2.25   -> 0.5*2.25 = 1.125 (clip wins, upper side)
    #   V=1,   R=0:  plain 1,          clipped 0.5^2 = 0.25        -> 0.5           (plain wins)
    #   V=-1,  R=-2: plain 1,          clipped (-0.5+2)^2 = 2.25   -> 1.125         (clip wins, lower side)
    #   V=-1,  R=0:  plain 1,          clipped 0.25                -> 0.5
    #   V=0.2, R=1:  inside the range, both 0.64                   -> 0.32
    values = torch.tensor([1.0, 1.0, -1.0, -1.0, 0.2])
    old = torch.zeros(5)
    returns = torch.tensor([2.0, 0.0, -2.0, 0.0, 1.0])
    loss, clipped = clipped_value_loss(values, old, returns, cliprange=0.5)
    assert loss.tolist() == pytest.approx([1.125, 0.5, 1.125, 0.5, 0.32], abs=1e-6)
    assert clipped.tolist() == [True, False, True, False, False]


def test_clipped_value_loss_gradient_stops_where_the_clip_wins():
    values = torch.tensor([1.0, 1.0], requires_grad=True)
    loss, _ = clipped_value_loss(values, torch.zeros(2), torch.tensor([2.0, 0.0]), cliprange=0.5)
    loss.sum().backward()
    # clipped term is flat in V; the plain one has gradient V - R = 1
    assert values.grad.tolist() == pytest.approx([0.0, 1.0])


def test_whitening_uses_only_masked_tokens():
    # masked values 1, 2, 3: mean 2, population std sqrt(2/3) = 0.8164966
    x = torch.tensor([[1.0, 2.0, 100.0], [3.0, -50.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    out = masked_whiten(x, mask, eps=0.0)
    z = 1 / math.sqrt(2 / 3)
    assert out.tolist() == [pytest.approx([-z, 0.0, 0.0], abs=1e-6), pytest.approx([z, 0.0, 0.0], abs=1e-6)]


def test_explained_variance():
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    returns = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    assert explained_variance(returns, returns, mask) == pytest.approx(1.0)
    assert explained_variance(torch.full_like(returns, 7.0), returns, mask) == pytest.approx(0.0)
    # R - V = [0, 0, -1]: mean -1/3, variance 2/9; Var(R) = 2/3 -> 1 - 1/3 = 2/3
    assert explained_variance(torch.tensor([[1.0, 2.0, 4.0, 0.0]]), returns, mask) == pytest.approx(2 / 3)
    assert math.isnan(explained_variance(returns, torch.ones_like(returns), mask))


def test_fixed_kl_controller_never_moves():
    ctrl = FixedKLController(0.001)
    ctrl.update(5.0, 64)
    assert ctrl.value == 0.001


def test_adaptive_kl_controller_follows_ziegler():
    # beta 0.1, target 0.05, horizon 100 sequences, batches of 10 sequences:
    #   KL 0.06  -> error  0.2            -> beta *= 1 + 0.2*10/100  = 1.02
    #   KL 1.0   -> error 19 clipped 0.2  -> beta *= 1.02
    #   KL 0.045 -> error -0.1            -> beta *= 1 - 0.1*10/100  = 0.99
    #   KL 0     -> error -1 clipped -0.2 -> beta *= 0.98
    ctrl = AdaptiveKLController(0.1, target_kl=0.05, horizon=100)
    expected = 0.1
    for kl, factor in [(0.06, 1.02), (1.0, 1.02), (0.045, 0.99), (0.0, 0.98)]:
        ctrl.update(kl, n_steps=10)
        expected *= factor
        assert ctrl.value == pytest.approx(expected, rel=1e-12)
