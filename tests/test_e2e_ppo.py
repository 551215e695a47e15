"""End to end: `python train.py algo=ppo` (separate and shared critic) on the tiny model, read back from MLflow
and from the checkpoint; a bad PPO value stops the run before anything heavy, naming the key."""

import math
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ)  # tests/conftest.py made it offline, quiet and free of a user's MLflow server


def train(tmp: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "train.py", "experiment=smoke", f"output_root={tmp}", f"hydra.run.dir={tmp}/run", *overrides]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return out


def mlflow_runs(store: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    exp = client.get_experiment_by_name("toolrl")
    return client, client.search_runs([exp.experiment_id])

CRITIC_METRICS = ["critic/value_loss", "critic/vf_clipfrac", "critic/values_mean", "critic/returns_mean",
                  "critic/grad_norm", "critic/lr", "actor/kl_coef", "actor/kl_ref", "actor/pg_loss", "actor/lr",
                  "adv/mean", "adv/std", "reward/total/mean"]


def test_ppo_smoke_run_logs_the_critic_and_checkpoints_it(tmp_path):
    train(tmp_path, "algo=ppo", "logger=mlflow", "trainer.save_every=1")
    client, (run,) = mlflow_runs(tmp_path / "mlflow.db")
    assert run.info.status == "FINISHED" and run.data.tags["algo"] == "ppo"
    assert run.info.run_name == "ppo-finegrained-static-tiny_random-s0"  # experiment=smoke: the untrained tiny model
    missing = [k for k in CRITIC_METRICS if k not in run.data.metrics]
    assert not missing, f"missing metrics: {missing}"
    losses = client.get_metric_history(run.info.run_id, "critic/value_loss")
    assert sorted(m.step for m in losses) == [1, 2] and all(math.isfinite(m.value) for m in losses)
    assert run.data.metrics["actor/kl_coef"] == 0.001  # fixed controller, ToolRL's in-reward KL
    state = torch.load(tmp_path / "run" / "checkpoints" / "step_000002" / "trainer_state.pt", weights_only=False)
    algo = state["algo"]
    assert {"optimizer", "scheduler", "critic", "critic_optimizer", "critic_scheduler", "kl_coef", "steps_done"} <= set(algo)
    assert "head.weight" in algo["critic"] and any(k.startswith("backbone.") for k in algo["critic"])
    assert algo["steps_done"] == 2


def test_ppo_with_a_shared_critic_and_a_critic_warmup(tmp_path):
    train(tmp_path, "algo=ppo", "algo.critic=shared", "algo.critic_warmup_steps=1", "algo.group_size=1",
          "algo.prompts_per_step=4", "algo.kl_coef=0", "logger=mlflow")
    client, (run,) = mlflow_runs(tmp_path / "mlflow.db")
    warmup = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "critic/warmup")}
    assert warmup == {1: 1.0, 2: 0.0}
    assert [m.step for m in client.get_metric_history(run.info.run_id, "actor/pg_loss")] == [2]
    assert math.isfinite(run.data.metrics["critic/value_loss"])
    assert "actor/kl_ref" not in run.data.metrics  # kl_coef=0 loads no reference
    state = torch.load(tmp_path / "run" / "checkpoints" / "step_000002" / "trainer_state.pt", weights_only=False)
    assert sorted(state["algo"]["critic"]) == ["head.bias", "head.weight"]


def test_a_bad_ppo_value_fails_naming_the_key(tmp_path):
    args = [sys.executable, "train.py", "experiment=smoke", "algo=ppo", "algo.lam=2", "algo.critic_lr=0",
            f"output_root={tmp_path}", f"hydra.run.dir={tmp_path}/run"]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "algo.lam=2.0 must be in [0, 1]" in out.stderr and "algo.critic_lr=0.0 must be > 0" in out.stderr
    args = [arg for arg in args if not arg.startswith(("algo.lam", "algo.critic_lr"))] + ["algo.critic=both"]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "algo.critic='both' is not allowed" in out.stderr
