"""PPO's update on a tiny Qwen2 and a hand-built batch: where values are read, the critic warm-up,
both critic modes, the KL controller and an exact resume from the state dict."""

import copy

import pytest
import torch

from toolrl.algos.ppo import PPO
from toolrl.rollout.batch import RolloutBatch


def tiny_model(seed: int = 0):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         intermediate_size=64, tie_word_embeddings=True, pad_token_id=0)
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


def make_batch() -> RolloutBatch:
    # prompts left-padded to P=3, completions right-padded to T=4; row 1 has a tool observation at t=1
    # and row 3 stops after two tokens
    prompt = torch.tensor([[0, 5, 6], [7, 8, 9], [0, 0, 4], [3, 2, 1]])
    prompt_att = (prompt != 0).long()
    comp = torch.tensor([[11, 12, 13, 14], [15, 16, 17, 18], [19, 20, 21, 22], [23, 24, 0, 0]])
    comp_att = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]])
    loss_mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]])
    return RolloutBatch(
        input_ids=torch.cat([prompt, comp], 1),
        attention_mask=torch.cat([prompt_att, comp_att], 1),
        prompt_len=3,
        loss_mask=loss_mask,
        texts=["a", "b", "c", "d"],
        truncated=torch.zeros(4, dtype=torch.bool),
    )


REWARDS = torch.tensor([1.0, -1.0, 0.5, 0.0])


def make_ppo(policy, **kw) -> PPO:
    args = dict(total_steps=4, group_size=1, prompts_per_step=4, mini_batch_size=2, micro_batch_size=1, epochs=2,
                lr=1e-3, critic_lr=1e-2, kl_coef=0.0)
    args.update(kw)
    return PPO(policy=policy, **args)


def params(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


@pytest.mark.parametrize("critic", ["separate", "shared"])
def test_a_value_is_read_where_its_token_is_predicted(critic):
    ppo = make_ppo(tiny_model(), critic=critic)
    torch.nn.init.normal_(ppo.critic.head.weight)  # the zero-initialised head would give V = 0 everywhere
    batch = make_batch()
    _, _, before = ppo._forward(batch, with_actor=False)
    assert before.shape == (4, 4)
    batch.input_ids[:, 3 + 2] = 30  # change completion token t=2 of every row
    _, _, after = ppo._forward(batch, with_actor=False)
    # V_t comes from the state predicting token t: tokens 0..2 see no change, token 3 does
    assert torch.equal(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:3, 3], after[:3, 3])


def test_critic_starts_at_zero_and_a_separate_critic_shares_no_weight_with_the_policy():
    policy = tiny_model()
    ppo = make_ppo(policy)
    assert float(ppo.critic.head.weight.detach().abs().sum()) == 0.0
    assert not {id(p) for p in ppo.critic.parameters()} & {id(p) for p in policy.parameters()}
    assert torch.equal(params(ppo.critic.backbone), params(policy.get_decoder()))
    shared = make_ppo(tiny_model(), critic="shared")
    assert [n for n, _ in shared.critic.named_parameters()] == ["head.weight", "head.bias"]


@pytest.mark.parametrize("critic", ["separate", "shared"])
def test_critic_warmup_freezes_the_policy_then_releases_it(critic):
    policy = tiny_model()
    ppo = make_ppo(policy, critic=critic, critic_warmup_steps=1)
    p0, c0 = params(policy), params(ppo.critic)
    m1 = ppo.update(make_batch(), REWARDS)
    assert torch.equal(params(policy), p0), "the policy moved during the critic warm-up"
    assert not torch.equal(params(ppo.critic), c0)
    assert m1["critic/warmup"] == 1.0 and "actor/pg_loss" not in m1
    m2 = ppo.update(make_batch(), REWARDS)
    assert not torch.equal(params(policy), p0)
    assert m2["critic/warmup"] == 0.0 and "actor/pg_loss" in m2 and "actor/grad_norm" in m2


def test_update_logs_the_critic_and_sets_sequence_advantages():
    ppo = make_ppo(tiny_model())
    m = ppo.update(make_batch(), REWARDS)
    for key in ("critic/value_loss", "critic/vf_clipfrac", "critic/values_mean", "critic/returns_mean",
                "critic/explained_variance", "critic/grad_norm", "critic/lr", "actor/pg_loss", "actor/entropy",
                "actor/kl_coef", "adv/mean", "adv/std", "timing/values"):
        assert key in m and m[key] == m[key], key
    # the zero-initialised critic's values are 0, so returns (gamma = lam = 1) are the rewards on every sampled token
    assert m["critic/values_mean"] == 0.0
    assert m["critic/returns_mean"] == pytest.approx((4 * 1.0 + 3 * -1.0 + 4 * 0.5 + 0.0) / 13)
    assert m["critic/lr"] == 1e-2 and m["actor/lr"] == 1e-3
    assert ppo.last_seq_advantages.shape == (4,)
    # whitened advantages: token mean 0, so sequences above the mean reward are positive
    assert m["adv/mean"] == pytest.approx(0.0, abs=1e-6)
    assert ppo.last_seq_advantages[0] > 0 > ppo.last_seq_advantages[1]


def test_adaptive_kl_controller_moves_the_coefficient_with_the_measured_kl():
    policy = tiny_model(0)
    reference = tiny_model(1).eval().requires_grad_(False)  # far from the policy: KL above the target
    ppo = make_ppo(policy, reference=reference, kl_coef=0.1, kl_ctrl="adaptive", target_kl=1e-3, kl_horizon=40,
                   kl_estimator="k3")
    m1 = ppo.update(make_batch(), REWARDS)
    assert m1["actor/kl_coef"] == 0.1 and m1["actor/kl_ref"] > 1e-3
    # error clipped at +0.2, 4 sequences over a horizon of 40: x 1.02
    assert ppo.kl_ctrl.value == pytest.approx(0.102)
    assert ppo.update(make_batch(), REWARDS)["actor/kl_coef"] == pytest.approx(0.102)


def test_state_dict_resumes_exactly():
    policy = tiny_model()
    reference = copy.deepcopy(policy).requires_grad_(False)
    kw = dict(reference=reference, kl_coef=0.05, kl_ctrl="adaptive", target_kl=0.01, kl_horizon=8,
              critic_warmup_steps=1, lr_scheduler="cosine", warmup_steps=1)
    a = make_ppo(policy, **kw)
    torch.manual_seed(1)
    a.update(make_batch(), REWARDS)
    saved_policy, saved_state = copy.deepcopy(policy), copy.deepcopy(a.state_dict())

    b_policy = copy.deepcopy(saved_policy)
    b = make_ppo(b_policy, **kw)
    b.load_state_dict(saved_state)
    assert b.steps_done == 1 and b.kl_ctrl.value == a.kl_ctrl.value
    torch.manual_seed(2)
    ma = a.update(make_batch(), REWARDS)
    torch.manual_seed(2)
    mb = b.update(make_batch(), REWARDS)
    assert torch.equal(params(policy), params(b_policy))
    assert torch.equal(params(a.critic), params(b.critic))
    assert ma["critic/value_loss"] == mb["critic/value_loss"] and ma["actor/kl_coef"] == mb["actor/kl_coef"]
