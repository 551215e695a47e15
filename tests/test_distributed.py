"""Data parallelism (toolrl.distributed): 2 gloo processes on CPU equal one process on the whole batch;
groups are never split over ranks; `torchrun --nproc_per_node=2 train.py` writes one run and one checkpoint."""

import copy
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from toolrl import distributed as dist
from toolrl.algos.functional import group_advantages
from toolrl.rollout.batch import RolloutBatch

ROOT = Path(__file__).resolve().parents[1]
GROUP, PROMPTS = 2, 4  # a batch of 8 sequences: 4 prompts x 2 completions
SCENARIOS = {
    # one mini-batch (on-policy), token-mean loss, micro-batches of 2
    "on_policy": dict(mini_batch_size=8, micro_batch_size=2, epochs=1, loss_agg="token-mean"),
    # 2 epochs of 2 shuffled mini-batches each, sequence-mean loss, KL in the loss: the ranks hold
    # unequal parts of each mini-batch (sometimes none) and must walk the same global order
    "shuffled_kl": dict(mini_batch_size=4, micro_batch_size=1, epochs=2, loss_agg="seq-mean-token-mean", kl_coef=0.1),
}


# ----------------------------------------------------------------------------- pure helpers


def test_shard_gives_each_rank_whole_prompts_in_order():
    prompts = list(range(8))
    assert dist.shard(prompts, rank_=0, world=2) == [0, 1, 2, 3]
    assert dist.shard(prompts, rank_=1, world=2) == [4, 5, 6, 7]
    assert [dist.shard(prompts, rank_=r, world=4) for r in range(4)] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert dist.shard(prompts) == prompts  # one process: everything


def test_an_uneven_split_raises_naming_the_key_and_the_world_size():
    with pytest.raises(ValueError, match=r"algo.prompts_per_step=3 does not split over 2 data-parallel ranks"):
        dist.shard([0, 1, 2], rank_=0, world=2)
    with pytest.raises(ValueError, match=r"algo.batch_size=5 .* over 4 "):
        dist.check_divisible(5, "algo.batch_size", world=4)


def test_options_that_cannot_be_exact_over_ranks_are_refused_before_training():
    from toolrl.config import ConfigError

    class Declared:
        data_parallel = True
        name, dynamic_sampling, adv_estimator = "grpo", "none", "grpo"

    class Inherited(Declared):  # a subclass must declare support itself (its update may differ)
        name = "ppo"

    dist.check_config(4, "algo.prompts_per_step", Declared(), world=2)
    dist.check_config(4, "algo.prompts_per_step", Inherited(), world=1)  # one process: anything goes
    with pytest.raises(ConfigError, match="algo=ppo does not support 2 data-parallel ranks"):
        dist.check_config(4, "algo.prompts_per_step", Inherited(), world=2)
    for option, value in (("dynamic_sampling", "resample"), ("adv_estimator", "reinforce_pp")):
        algo = Declared()
        setattr(algo, option, value)
        with pytest.raises(ConfigError, match=f"algo.{option}={value} is not supported with 2 data-parallel ranks"):
            dist.check_config(4, "algo.prompts_per_step", algo, world=2)


def test_group_statistics_are_computed_over_whole_groups_on_every_rank():
    rewards = torch.tensor([1.0, 0.0, 2.0, 2.0, 0.5, 1.5, 3.0, -1.0])  # 4 groups of 2, contiguous
    whole, whole_std = group_advantages(rewards, GROUP)
    local_adv, local_std = [], []
    for r in range(2):
        mine = dist.shard(list(range(PROMPTS)), rank_=r, world=2)
        rows = [p * GROUP + i for p in mine for i in range(GROUP)]
        assert len(rows) % GROUP == 0 and all(rows[i] // GROUP == rows[i + 1] // GROUP for i in range(0, len(rows), GROUP))
        adv, std = group_advantages(rewards[rows], GROUP)
        local_adv.append(adv)
        local_std.append(std)
    torch.testing.assert_close(torch.cat(local_adv), whole)
    torch.testing.assert_close(torch.cat(local_std), whole_std)
    # by hand: group (1, 0): mean 0.5, std 0.7071 -> +-0.7071; group (2, 2): std 0 -> 0
    torch.testing.assert_close(whole[:4], torch.tensor([0.70711, -0.70711, 0.0, 0.0]), atol=1e-4, rtol=0)


def test_local_rows_maps_a_global_mini_batch_to_this_ranks_rows():
    assert dist.local_rows([5, 0, 3, 6], offset=4, local=4) == [1, 2]
    assert dist.local_rows([5, 0, 3, 6], offset=0, local=4) == [0, 3]
    assert dist.local_rows([0, 1], offset=4, local=4) == []


def test_metrics_combine_by_kind():
    assert dist.combine("reward/total/mean", [1.0, 2.0]) == 1.5
    assert dist.combine("reward/total/min", [1.0, -2.0]) == -2.0
    assert dist.combine("adv/max", [1.0, 3.0]) == 3.0
    assert dist.combine("timing/step", [0.5, 0.75]) == 0.75
    assert dist.combine("perf/tokens_per_s", [100.0, 120.0]) == 220.0


def test_a_single_process_is_untouched():
    assert (dist.rank(), dist.world_size(), dist.is_main(), dist.active()) == (0, 1, True, False)
    assert dist.row_offsets(6) == (0, 6)
    assert dist.sum_across(3.0) == 3.0
    assert dist.reduce_metrics({"a": 1.0}) == {"a": 1.0}


# ----------------------------------------------------------------------------- 2 processes == 1 process


def _model(seed: int):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=32, max_position_embeddings=64,
                         tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Qwen2ForCausalLM(config).float()


def _batch():
    """A fixed, pre-generated batch: left-padded prompts, right-padded completions, a tool token masked out."""
    g = torch.Generator().manual_seed(0)
    n, p_len, t_len = GROUP * PROMPTS, 5, 6
    ids = torch.randint(2, 40, (n, p_len + t_len), generator=g)
    att = torch.ones(n, p_len + t_len, dtype=torch.long)
    loss = torch.ones(n, t_len, dtype=torch.long)
    for row in range(n):
        pad_left, comp = row % 3, 2 + (row * 5) % 5  # prompt padding and completion length vary by row
        att[row, :pad_left] = 0
        att[row, p_len + comp :] = 0
        loss[row, comp:] = 0
        ids[row][att[row] == 0] = 0
    loss[3, 1] = 0  # an inserted (tool) token: attended, not trained on
    rewards = torch.tensor([1.0, 0.0, 2.0, 0.5, 0.5, 1.5, 3.0, -1.0])
    batch = RolloutBatch(input_ids=ids, attention_mask=att, prompt_len=p_len, loss_mask=loss,
                         texts=[""] * n, truncated=torch.zeros(n, dtype=torch.bool))
    return batch, rewards


def _update(rank: int, world: int, scenario: dict):
    """One GRPO update on this rank's whole prompts of the fixed batch; returns the parameters and metrics."""
    from toolrl.algos.grpo import GRPO

    model = _model(seed=100 + rank)  # different on each rank: broadcast_params must make them equal
    dist.broadcast_params(model)
    reference = copy.deepcopy(model).eval().requires_grad_(False) if scenario.get("kl_coef") else None
    torch.manual_seed(7 + rank)  # different shuffles on each rank: rank 0's order must win
    algo = GRPO(policy=model, reference=reference, total_steps=1, group_size=GROUP, prompts_per_step=PROMPTS,
                lr=1e-3, max_grad_norm=0.5, **scenario)
    batch, rewards = _batch()
    mine = dist.shard(list(range(PROMPTS)), rank_=rank, world=world)
    rows = [p * GROUP + i for p in mine for i in range(GROUP)]
    metrics = algo.update(batch.select(rows), rewards[rows])
    params = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return params, metrics


def _sft_update(rank: int, world: int):
    """One SFT step on this rank's rows of 4 fixed examples of different lengths (token-mean loss)."""
    from toolrl.algos.sft import SFT

    model = _model(seed=100 + rank)
    dist.broadcast_params(model)
    algo = SFT(policy=model, total_steps=1, batch_size=4, micro_batch_size=1, lr=1e-3, warmup_ratio=0.0)
    g = torch.Generator().manual_seed(1)
    rows = []
    for n_prompt, n_target in ((3, 2), (5, 6), (2, 1), (4, 3)):
        ids = torch.randint(2, 40, (n_prompt + n_target,), generator=g).tolist()
        rows.append((ids, [0] * n_prompt + [1] * n_target))
    metrics = algo.update(dist.shard(rows, "algo.batch_size", rank_=rank, world=world), pad_id=0)
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]), metrics


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"})
    torch.set_num_threads(1)
    dist.init("cpu")
    try:
        results = {name: _update(rank, 2, scenario) for name, scenario in SCENARIOS.items()}
        results["sft"] = _sft_update(rank, 2)
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.teardown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_take_the_same_step_as_one_process_on_the_whole_batch(tmp_path):
    torch.multiprocessing.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    start = torch.cat([p.detach().reshape(-1) for p in _model(seed=100).parameters()])
    for name, scenario in SCENARIOS.items():
        torch.manual_seed(7)
        single, metrics = _update(0, 1, scenario)
        assert (single - start).abs().max() > 1e-4, "the update must move the parameters for the test to mean anything"
        for r in range(2):
            params, dp_metrics = ranks[r][name]
            torch.testing.assert_close(params, single, atol=1e-6, rtol=0, msg=f"{name}: rank {r} differs")
            for key in ("actor/grad_norm", "actor/loss", "actor/pg_loss", "actor/entropy"):
                assert dp_metrics[key] == pytest.approx(metrics[key], abs=1e-5), (name, key)
    single, metrics = _sft_update(0, 1)  # algo=sft: the same contract
    assert (single - start).abs().max() > 1e-4
    for r in range(2):
        params, dp_metrics = ranks[r]["sft"]
        torch.testing.assert_close(params, single, atol=1e-6, rtol=0, msg=f"sft: rank {r} differs")
        for key in ("train/loss", "train/token_accuracy", "train/tokens", "actor/grad_norm"):
            assert dp_metrics[key] == pytest.approx(metrics[key], abs=1e-5), ("sft", key)


# ----------------------------------------------------------------------------- torchrun end to end


def test_torchrun_two_ranks_write_one_mlflow_run_and_one_checkpoint(tmp_path):
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py",
            "experiment=smoke", "trainer.device=cpu", "logger=mlflow", f"output_root={tmp_path}",
            f"hydra.run.dir={tmp_path}/run"]
    out = subprocess.run(args, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert "data parallel: 2 ranks (gloo backend)" in out.stdout + out.stderr
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("toolrl").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run_id = runs[0].info.run_id
    assert sorted(m.step for m in client.get_metric_history(run_id, "reward/total/mean")) == [1, 2]
    assert sorted(m.step for m in client.get_metric_history(run_id, "eval/toolrl_sample/total/mean")) == [0, 2]
    assert len(client.get_metric_history(run_id, "actor/grad_norm")) == 2  # the update ran on both steps
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert checkpoints == ["latest", "step_000002"]
    assert (tmp_path / "run" / "checkpoints" / "step_000002" / "model.safetensors").exists()
    assert (tmp_path / "run" / "config.yaml").exists()
