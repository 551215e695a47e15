"""End to end: `python train.py` in a subprocess, then the trackers' stores read back."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ)  # tests/conftest.py made it offline, quiet and free of a user's MLflow server

STEP_METRICS = [
    *(f"reward/{c}/{s}" for c in ("total", "format", "correctness", "length") for s in ("mean", "std", "min", "max")),
    "reward/format_pass_rate", "reward/exact_match_rate", "reward/zero_std_group_frac",
    "reward/scale/format_max", "reward/scale/correctness_max",
    "tools/calls_per_response", "tools/invalid_call_rate",
    "response/length_mean", "response/length_max", "response/clipped_frac",
    "adv/mean", "adv/std", "adv/min", "adv/max",
    "actor/loss", "actor/pg_loss", "actor/kl_ref", "actor/entropy", "actor/clip_frac_low", "actor/clip_frac_high",
    "actor/approx_kl", "actor/grad_norm", "actor/lr",
    "timing/generate", "timing/reward", "timing/update", "timing/step", "perf/tokens_per_s",
]
EVAL_METRICS = ["eval/toolrl_sample/total/mean", "eval/toolrl_sample/format_pass_rate",
                "eval/toolrl_sample/correctness/mean", "eval/toolrl_sample/exact_match_rate"]


def train(tmp: Path, *overrides: str, name: str = "run", preset: str = "experiment=smoke") -> subprocess.CompletedProcess:
    args = [sys.executable, "train.py", preset, f"output_root={tmp}", f"hydra.run.dir={tmp}/{name}", *overrides]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return out


def mlflow_runs(store: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    exp = client.get_experiment_by_name("toolrl")
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def test_smoke_run_logs_everything_to_mlflow_and_wandb(tmp_path):
    out = train(tmp_path, "logger=both", "algo.kl_coef=0.01", "reward/schedule=dynamic", "trainer.save_every=1")
    assert "mlflow ui --backend-store-uri" in out.stdout
    client, runs = mlflow_runs(tmp_path / "mlflow.db")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "grpo-finegrained-dynamic-tiny_random-s0"
    for key, value in {"algo": "grpo", "reward": "finegrained", "schedule": "dynamic", "model": "tiny_random", "seed": "0"}.items():
        assert run.data.tags[key] == value
    assert run.data.params["algo.kl_coef"] == "0.01" and run.data.params["reward.granularity"] == "finegrained"
    missing = [k for k in STEP_METRICS + EVAL_METRICS if k not in run.data.metrics]
    assert not missing, f"missing metrics: {missing}"
    history = client.get_metric_history(run.info.run_id, "reward/total/mean")
    assert sorted(m.step for m in history) == [1, 2]
    evals = client.get_metric_history(run.info.run_id, "eval/toolrl_sample/total/mean")
    assert sorted(m.step for m in evals) == [0, 2]
    # the dynamic schedule's scales move with the step and are logged
    scales = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "reward/scale/correctness_max")}
    assert scales[2] > scales[1] > 2.0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "config.yaml" in artifacts and "samples" in artifacts
    run_dir = tmp_path / "run"
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert (run_dir / "checkpoints" / "step_000001" / "trainer_state.pt").exists()
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_000002"
    assert (run_dir / "checkpoints" / "step_000002" / "model.safetensors").exists()


def test_a_fixed_seed_reproduces_a_cpu_run_exactly(tmp_path):
    train(tmp_path, "logger=mlflow", "seed=3", name="a")
    train(tmp_path, "logger=mlflow", "seed=3", name="b")
    client, runs = mlflow_runs(tmp_path / "mlflow.db")
    assert len(runs) == 2
    keys = [k for k in runs[0].data.metrics if not k.startswith(("timing/", "perf/")) and not k.endswith("/seconds")]
    assert "actor/loss" in keys and "reward/total/mean" in keys
    for key in keys:
        a = [(m.step, m.value) for m in client.get_metric_history(runs[0].info.run_id, key)]
        b = [(m.step, m.value) for m in client.get_metric_history(runs[1].info.run_id, key)]
        assert sorted(a) == sorted(b), key


def test_sft_then_grpo_from_its_checkpoint(tmp_path):
    """The paper's SFT -> RL pipeline in two commands: an SFT run, then GRPO with model.init_from=<that run>."""
    train(tmp_path, "algo=sft", "model=tiny_random", "data=synthetic_tools", "algo.batch_size=4", "algo.micro_batch_size=2", "trainer.total_steps=2",
          "trainer.val_every=2", "rollout.max_new_tokens=16", "data.max_val_rows=2", "logger=mlflow", name="sft", preset="seed=0")
    train(tmp_path, "data=synthetic_tools", f"model.init_from={tmp_path / 'sft'}", "data.max_val_rows=2",
          "logger=mlflow", name="grpo")
    client, runs = mlflow_runs(tmp_path / "mlflow.db")
    sft, grpo = runs
    assert sft.data.tags["algo"] == "sft" and grpo.data.tags["algo"] == "grpo"
    for key in ("train/loss", "train/token_accuracy", "eval/synthetic_tools/loss", "eval/synthetic_tools/token_accuracy",
                "eval/synthetic_tools/total/mean", "actor/lr", "actor/grad_norm"):
        assert key in sft.data.metrics, key
    assert grpo.data.params["model.init_from"] == str(tmp_path / "sft")
    assert "reward/total/mean" in grpo.data.metrics


def test_benchmarks_run_during_training_and_are_logged(tmp_path):
    train(tmp_path, "logger=mlflow", "trainer.eval=[{name: apibank, max_items: 3}]")
    client, (run,) = mlflow_runs(tmp_path / "mlflow.db")
    history = client.get_metric_history(run.info.run_id, "eval/apibank/accuracy")
    assert [m.step for m in history] == [2]
    assert (tmp_path / "run" / "eval" / "apibank" / "step_000002").is_dir()
