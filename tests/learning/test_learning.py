"""Proof that it learns (slow): SFT teaches the untrained tiny model the ToolRL format; from the SFT warm start
(model=tiny: 160 SFT steps, format learned, most arguments wrong) GRPO, PPO and LoRA-GRPO each raise mean
correctness; the coarse and fine-grained rewards run side by side with the same metrics.

Margins are set well inside what was measured (docs/tiny_model.md lists the curves); each test is one or two
`python train.py` runs on 2 CPU cores.
"""

import math
import statistics

import pytest

from learning_runs import run_train, values

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # training runs: minutes each, more on a busy machine
EVAL = "eval/synthetic_tools"


def test_sft_teaches_the_untrained_tiny_model_the_format(tmp_path):
    h = run_train(tmp_path, "algo=sft", "model=tiny_random", "algo.batch_size=4", "algo.micro_batch_size=4",
                  "algo.lr=1e-2", "algo.warmup_ratio=0.05", "trainer.total_steps=240", "trainer.val_every=240",
                  "data.max_val_rows=32")
    fmt, corr = values(h, f"{EVAL}/format_pass_rate"), values(h, f"{EVAL}/correctness/mean")
    acc = values(h, f"{EVAL}/token_accuracy")
    assert len(fmt) == 2  # before the first step and after the last
    assert fmt[0] <= 0.05 and corr[0] <= -2.9  # the random init writes nothing parseable
    assert acc[-1] >= 0.8 and acc[-1] > acc[0] + 0.6
    assert fmt[-1] >= 0.6  # measured: 1.0
    assert corr[-1] >= corr[0] + 1.5  # measured: -3.0 -> 0.28


def test_coarse_and_finegrained_runs_log_the_same_metrics(warm_tiny, tmp_path):
    runs = {}
    for reward in ("coarse", "finegrained"):
        runs[reward] = run_train(tmp_path / reward, f"reward={reward}", "trainer.total_steps=3", "trainer.val_every=3",
                                 "data.max_val_rows=8", "algo.prompts_per_step=2", "algo.mini_batch_size=8")
    assert set(runs["coarse"]) == set(runs["finegrained"])
    for reward, h in runs.items():
        for key in ("reward/total/mean", "reward/correctness/mean", "reward/format/mean", f"{EVAL}/correctness/mean"):
            assert key in h and all(math.isfinite(v) for v in values(h, key)), (reward, key)
        assert [s for s, _ in h["reward/total/mean"]] == [1, 2, 3]
    # the coarse reward is all-or-nothing: exact calls earn the maximum, anything else the minimum
    assert set(values(runs["coarse"], "reward/correctness/min")) <= {-3.0, 3.0}


def lift(h, window: int = 15):
    """(train, validation) correctness gains: the mean of the training batches' correctness over the last
    `window` steps minus that over the first `window` (32 samples a step), and the last greedy validation
    (64 held-out rows) minus the one before training."""
    train, val = values(h, "reward/correctness/mean"), values(h, f"{EVAL}/correctness/mean")
    return statistics.mean(train[-window:]) - statistics.mean(train[:window]), val[-1] - val[0]


def test_grpo_the_default_run_raises_correctness(warm_tiny, tmp_path):
    """`python train.py` as a newcomer types it: GRPO from the warm start, conf/model_algo/tiny_grpo.yaml's settings."""
    h = run_train(tmp_path)
    assert len(values(h, "reward/correctness/mean")) == 90
    train_gain, val_gain = lift(h)
    assert train_gain >= 0.5, train_gain  # measured +1.18 and +1.28 (two seeds)
    assert val_gain >= 0.2, val_gain      # measured +0.59; validation dips around step 15 before it rises


def test_ppo_raises_correctness(warm_tiny, tmp_path):
    h = run_train(tmp_path, "algo=ppo")  # conf/model_algo/tiny_ppo.yaml: 60 steps of 32 prompts x 1 sample
    assert len(values(h, "reward/correctness/mean")) == 60
    train_gain, val_gain = lift(h)
    assert train_gain >= 0.4, train_gain  # measured +0.90
    assert val_gain >= 0.15, val_gain     # measured +0.39
    assert values(h, "critic/warmup")[:2] == [1.0, 1.0]


def test_lora_grpo_raises_correctness(warm_tiny, tmp_path):
    h = run_train(tmp_path, "model.lora.enabled=true", "algo.lr=2e-3")
    train_gain, val_gain = lift(h)
    assert train_gain >= 0.3, train_gain  # measured +0.67
    assert val_gain >= 0.2, val_gain      # measured +0.49
