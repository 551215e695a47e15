"""GRPO's variants against hand-computed numbers: RLOO, REINFORCE++, Dr.GRPO advantages; DAPO's overlong
filter and penalty; dynamic sampling (drop, resample, its cap, an all-uniform step) in the real trainer
with a scripted rollout engine whose groups are known to be uniform or not."""

import copy
import math
import statistics
from pathlib import Path
from typing import List

import pytest
import torch

from toolrl.algos.dynamic_sampling import ScoredGroups, collect_groups, informative_groups
from toolrl.algos.functional import (
    aggregate_loss,
    group_advantages,
    masked_whiten,
    overlong_penalty,
    reinforce_pp_advantages,
    returns_to_go,
    rloo_advantages,
    token_rewards,
)
from toolrl.algos.grpo import GRPO
from toolrl.config import ConfigError, ModelConfig
from toolrl.rollout.batch import RolloutBatch

CONF = Path(__file__).resolve().parents[3] / "conf"


def close(t: torch.Tensor, expected) -> bool:
    return torch.allclose(t, torch.tensor(expected, dtype=t.dtype), atol=1e-6)

# ----------------------------------------------------------------------------- advantages


def test_rloo_leaves_each_sample_out_of_its_baseline():
    # group [1, 0, 0, 1]: the others' means are 1/3, 2/3, 2/3, 1/3 -> A = +-2/3
    # group [1, 3]: 1 - 3 = -2, 3 - 1 = 2
    adv = rloo_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), group_size=4)
    assert adv.tolist() == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3], abs=1e-7)
    adv = rloo_advantages(torch.tensor([1.0, 3.0, -2.0, 2.0]), group_size=2)
    assert adv.tolist() == pytest.approx([-2.0, 2.0, -4.0, 4.0])
    assert rloo_advantages(torch.full((4,), 5.0), group_size=2).tolist() == [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="groups of 1"):
        rloo_advantages(torch.zeros(4), group_size=1)


def test_dr_grpo_subtracts_the_group_mean_and_divides_by_a_constant_length():
    adv, _ = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0, 4.0, 2.0]), group_size=3, scale_by_std=False)
    # means 1/3 and 7/3
    assert adv.tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3, -4 / 3, 5 / 3, -1 / 3], abs=1e-6)
    # seq-mean-token-sum-norm: row sums 6 and 4 over norm_len 8, mean of 2 sequences = (0.75 + 0.5) / 2
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert float(aggregate_loss(loss, mask, "seq-mean-token-sum-norm", norm_len=8)) == pytest.approx(0.625)


def test_token_rewards_put_the_outcome_on_the_last_sampled_token_and_kl_on_every_one():
    mask = torch.tensor([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])  # row 0: an observation at t=1
    kl = torch.tensor([[0.2, 5.0, 0.4, 5.0], [0.1, 0.3, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0]])
    out = token_rewards(torch.tensor([1.0, -1.0, 7.0]), mask, kl, kl_coef=0.5)
    assert close(out, [[-0.1, 0.0, 0.8, 0.0], [-0.05, -1.15, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert close(returns_to_go(out), [[0.7, 0.8, 0.8, 0.0], [-1.2, -1.15, 0.0, 0.0], [0.0] * 4])


def test_reinforce_pp_whitens_returns_over_the_whole_batch():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    kl = torch.tensor([[0.1, 0.2, 9.0], [0.0, 0.1, 0.3]])
    # token rewards (coef 0.5): [-0.05, -0.1 + 1, 0] and [0, -0.05, -0.15 + 0]
    # returns to go on sampled tokens: 0.85, 0.9 | -0.2, -0.2, -0.15
    returns = [0.85, 0.9, -0.2, -0.2, -0.15]
    mean, std = statistics.fmean(returns), statistics.pstdev(returns)  # 0.24, sqrt(0.2694)
    adv = reinforce_pp_advantages(torch.tensor([1.0, 0.0]), mask, kl, kl_coef=0.5, eps=0.0)
    expected = [(r - mean) / std for r in returns]
    assert adv[mask > 0].tolist() == pytest.approx(expected, abs=1e-6)
    assert expected[0] == pytest.approx(0.61 / math.sqrt(0.2694), abs=1e-9)
    assert adv[0, 2] == 0.0  # off the mask
    # no group baseline: a batch where every reward is equal has zero advantages, never NaN
    flat = reinforce_pp_advantages(torch.ones(2), mask)
    assert torch.equal(flat, torch.zeros_like(flat))


def test_masked_whiten_ignores_masked_out_values():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    out = masked_whiten(x, torch.tensor([[1, 1, 0]]), eps=0.0)
    assert close(out, [[-1.0, 1.0, 0.0]])


def test_overlong_penalty_ramps_over_the_buffer():
    # cap 10, buffer 4: no penalty up to 6 tokens, -1/4 per token after, -factor at (and past) the cap
    lengths = torch.tensor([5, 6, 7, 8, 10, 12])
    assert overlong_penalty(lengths, 10, 4, 1.0).tolist() == pytest.approx([0, 0, -0.25, -0.5, -1.0, -1.0])
    assert overlong_penalty(lengths, 10, 4, 0.5).tolist() == pytest.approx([0, 0, -0.125, -0.25, -0.5, -0.5])
    assert overlong_penalty(lengths, 10, 0, 1.0).tolist() == pytest.approx([0, 0, 0, 0, -1.0, -1.0])


# ----------------------------------------------------------------------------- the update


@pytest.fixture(scope="module")
def tiny():
    from toolrl.models import load_model, load_tokenizer

    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    return load_model(cfg, tok, seed=0, device="cpu")


def make_batch(rows: int = 4, lengths=None, truncated=None) -> RolloutBatch:
    """``rows`` rows: a 5-token prompt, 12 completion tokens (the first ``lengths[i]`` real)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 400, (rows, 17), generator=g)
    att = torch.ones_like(ids)
    for i, n in enumerate(lengths or [12] * rows):
        att[i, 5 + n :] = 0
    trunc = torch.tensor(truncated or [False] * rows)
    return RolloutBatch(ids, att, 5, att[:, 5:].clone(), ["t"] * rows, trunc)


def grpo(model, **kw) -> GRPO:
    args = dict(total_steps=1, group_size=2, prompts_per_step=2, mini_batch_size=4, micro_batch_size=2, lr=1e-3)
    return GRPO(policy=model, **{**args, **kw})


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_overlong_filter_takes_truncated_rows_out_of_the_loss(tiny):
    truncated = [True, False, False, True]
    a = copy.deepcopy(tiny)
    metrics = grpo(a, overlong="filter").update(make_batch(truncated=truncated), torch.tensor([1.0, 0.0, 0.5, -1.0]))
    assert metrics["overlong/filtered_frac"] == 0.5
    # the same as zeroing those rows' loss masks by hand
    b = copy.deepcopy(tiny)
    batch = make_batch(truncated=truncated)
    batch.loss_mask[[0, 3]] = 0
    grpo(b).update(batch, torch.tensor([1.0, 0.0, 0.5, -1.0]))
    assert all(torch.allclose(x, y) for x, y in zip(params(a), params(b)))


def test_overlong_penalty_enters_the_advantages(tiny):
    # cap 12, buffer 6: lengths 12, 8, 12, 4 -> penalties -1, -1/3, -1, 0
    # rewards 1, 1, 0, 0 -> 0, 2/3, -1, 0; Dr.GRPO advantages -1/3, 1/3 | -1/2, 1/2
    algo = grpo(copy.deepcopy(tiny), norm_len=12, overlong="penalty", overlong_buffer=6, scale_by_std=False)
    metrics = algo.update(make_batch(lengths=[12, 8, 12, 4]), torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert algo.last_seq_advantages.tolist() == pytest.approx([-1 / 3, 1 / 3, -0.5, 0.5], abs=1e-6)
    assert metrics["overlong/penalised_frac"] == 0.75
    assert metrics["overlong/penalty_mean"] == pytest.approx(-7 / 12)
    # the default buffer is a fifth of the cap
    assert grpo(tiny, norm_len=20, overlong="penalty").overlong_buffer == 4


def test_rloo_and_reinforce_pp_set_the_sequence_advantages(tiny):
    algo = grpo(copy.deepcopy(tiny), adv_estimator="rloo")
    algo.update(make_batch(), torch.tensor([1.0, 0.0, 0.5, -1.0]))
    assert algo.last_seq_advantages.tolist() == pytest.approx([1.0, -1.0, 1.5, -1.5])
    algo = grpo(copy.deepcopy(tiny), adv_estimator="reinforce_pp")
    metrics = algo.update(make_batch(lengths=[12, 6, 12, 3]), torch.tensor([1.0, 0.0, 0.5, -1.0]))
    # no KL: every token of a row has the row's return; whitened over the 33 sampled tokens
    rewards = [1.0] * 12 + [0.0] * 6 + [0.5] * 12 + [-1.0] * 3
    mean, std = statistics.fmean(rewards), statistics.pstdev(rewards)
    expected = [(r - mean) / (std + 1e-6) for r in (1.0, 0.0, 0.5, -1.0)]
    assert algo.last_seq_advantages.tolist() == pytest.approx(expected, abs=1e-5)
    assert metrics["adv/mean"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="adv_estimator"):
        grpo(tiny, adv_estimator="ppo")


def test_reinforce_pp_charges_the_kl_token_by_token(tiny):
    policy = copy.deepcopy(tiny)
    reference = copy.deepcopy(tiny).requires_grad_(False)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.05 * torch.randn_like(p))
    algo = grpo(policy, reference=reference, adv_estimator="reinforce_pp", kl_coef=0.1, kl_in="reward",
                kl_estimator="k1")
    metrics = algo.update(make_batch(), torch.tensor([1.0, 1.0, 1.0, 1.0]))
    # equal outcome rewards: only the KL makes advantages differ between tokens
    assert metrics["actor/kl_ref"] != 0.0 and metrics["adv/std"] > 0.5


@pytest.mark.parametrize("rows, steps", [(2, 1), (6, 2)])
def test_a_batch_of_fewer_or_more_groups_than_configured_updates_in_ceil_split_mini_batches(tiny, rows, steps):
    algo = grpo(copy.deepcopy(tiny))
    before = algo.scheduler.last_epoch
    metrics = algo.update(make_batch(rows=rows), torch.arange(rows, dtype=torch.float32))
    assert algo.scheduler.last_epoch - before == steps
    assert math.isfinite(metrics["actor/loss"]) and len(algo.last_seq_advantages) == rows


# ----------------------------------------------------------------------------- dynamic sampling, pure


def scored(rewards: List[List[float]]) -> ScoredGroups:
    n = len(rewards[0])
    flat = [r for g in rewards for r in g]
    batch = make_batch(rows=len(flat))
    return ScoredGroups([f"p{i}" for i in range(len(rewards))], ["g"] * len(flat), batch, list(flat),
                        torch.tensor(flat), n)


def test_informative_groups_are_the_ones_whose_rewards_differ():
    assert informative_groups(torch.tensor([1.0, 1.0, 0.0, 1.0, 0.5, 0.5]), 2) == [1]


def test_collect_groups_drop_resample_and_cap():
    rounds = iter([scored([[1, 1], [0, 1]]), scored([[0, 0], [1, 0]]), scored([[2, 0], [3, 1]])])
    _, kept, m = collect_groups(lambda: next(rounds), "drop", want_groups=2)
    assert kept.num_groups == 1 and kept.rewards.tolist() == [0, 1] and len(kept.batch) == 2
    assert m == {"sampling/kept_groups": 1.0, "sampling/resample_rounds": 0.0, "sampling/dropped_frac": 0.5}

    rounds = iter([scored([[1, 1], [0, 1]]), scored([[0, 0], [1, 0]]), scored([[2, 0], [3, 1]])])
    seen, kept, m = collect_groups(lambda: next(rounds), "resample", want_groups=2, max_resample_rounds=5)
    assert len(seen) == 2 and kept.rewards.tolist() == [0, 1, 1, 0] and kept.prompts == ["p1", "p1"]
    assert m == {"sampling/kept_groups": 2.0, "sampling/resample_rounds": 1.0, "sampling/dropped_frac": 0.5}

    calls = []
    seen, kept, m = collect_groups(lambda: calls.append(1) or scored([[1, 1], [0, 0]]), "resample", 2, 3)
    assert len(calls) == 4 and kept.num_groups == 0 and m["sampling/dropped_frac"] == 1.0
    with pytest.raises(ValueError, match="dynamic_sampling"):
        collect_groups(lambda: scored([[1, 0]]), "sometimes", 1)


# ----------------------------------------------------------------------------- dynamic sampling, in the trainer


class ScriptedGroups:
    """A rollout engine whose k-th generate() call makes each prompt's group ``uniform`` ("bad" n times) or
    ``mixed`` ("good" then "bad"), per ``plans[k]``; the fake reward scores "good" 1 and "bad" 0."""

    name, temperature, max_new_tokens = "scripted", 1.0, 16

    def __init__(self, tokenizer, plans):
        self.tok, self.plans, self.calls = tokenizer, plans, 0

    def generate(self, prompts, n=1, greedy=False, desc=""):
        plan = self.plans[min(self.calls, len(self.plans) - 1)]
        self.calls += 1
        texts = [("good" if kind == "mixed" and j == 0 else "bad") for kind in plan[: len(prompts)] for j in range(n)]
        prompt_ids = [self.tok(p, add_special_tokens=False)["input_ids"][-8:] for p in prompts for _ in range(n)]
        comp_ids = [self.tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        p, t, pad = max(map(len, prompt_ids)), max(map(len, comp_ids)), self.tok.pad_token_id or 0
        ids = torch.tensor([[pad] * (p - len(a)) + a + b + [pad] * (t - len(b)) for a, b in zip(prompt_ids, comp_ids)])
        att = torch.tensor([[0] * (p - len(a)) + [1] * (len(a) + len(b)) + [0] * (t - len(b)) for a, b in zip(prompt_ids, comp_ids)])
        return RolloutBatch(ids, att, p, att[:, p:].clone(), texts, torch.zeros(len(texts), dtype=torch.bool))


def fake_reward(text, gold, step=0, total_steps=None):
    from toolrl.rewards.toolrl import RewardResult

    score = 1.0 if text == "good" else 0.0
    return RewardResult(score, {"format": score, "correctness": 0.0}, {}, False, 0, None, bool(score))


def make_trainer(tmp_path, *overrides):
    from hydra import compose, initialize_config_dir

    from toolrl.config import register_configs, validate
    from toolrl.trainer import Trainer

    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=smoke", "logger=none", "trainer.val_at_start=false",
                                           "trainer.val_every=0", f"output_dir={tmp_path}", *overrides])
    return Trainer(cfg, validate(cfg))


def run_step(trainer, plans):
    trainer.rollout = ScriptedGroups(trainer.tokenizer, plans)
    trainer.reward = fake_reward
    return trainer.train_step(1)


def test_drop_trains_on_the_informative_groups_only(tmp_path):
    trainer = make_trainer(tmp_path, "algo.dynamic_sampling=drop")
    metrics = run_step(trainer, [["uniform", "mixed"]])
    assert trainer.rollout.calls == 1
    assert metrics["sampling/kept_groups"] == 1 and metrics["sampling/dropped_frac"] == 0.5
    assert metrics["sampling/skipped_update"] == 0.0 and math.isfinite(metrics["actor/loss"])
    assert trainer.algo.last_seq_advantages.tolist() == pytest.approx([0.7071, -0.7071], abs=1e-4)  # the kept group
    assert metrics["reward/total/mean"] == 0.25  # every sampled response counts in the reward metrics


def test_resample_draws_more_prompts_until_the_batch_is_full(tmp_path):
    trainer = make_trainer(tmp_path, "algo.dynamic_sampling=resample", "algo.max_resample_rounds=5")
    metrics = run_step(trainer, [["uniform", "uniform"], ["uniform", "mixed"], ["mixed", "mixed"]])
    assert trainer.rollout.calls == 3
    assert metrics["sampling/kept_groups"] == 2 and metrics["sampling/resample_rounds"] == 2
    assert metrics["sampling/dropped_frac"] == 0.5  # 3 of the 6 groups drawn
    assert len(trainer.algo.last_seq_advantages) == 4


def test_resample_stops_at_the_cap_and_an_all_uniform_step_skips_the_update(tmp_path):
    trainer = make_trainer(tmp_path, "algo.dynamic_sampling=resample", "algo.max_resample_rounds=2")
    before = params(trainer.model)
    metrics = run_step(trainer, [["uniform", "uniform"]])
    assert trainer.rollout.calls == 3  # the first round and 2 more
    assert metrics["sampling/skipped_update"] == 1.0 and metrics["sampling/kept_groups"] == 0
    assert "actor/loss" not in metrics
    assert all(torch.equal(a, b) for a, b in zip(before, params(trainer.model)))


def test_dynamic_sampling_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="algo.max_resample_rounds > 0"):
        make_trainer(tmp_path, "algo.dynamic_sampling=resample")
    with pytest.raises(ConfigError, match="algo.overlong_buffer=32 must be <= rollout.max_new_tokens=16"):
        make_trainer(tmp_path, "algo.overlong=penalty", "algo.overlong_buffer=32")
