"""A run killed at any point resumes from its last good checkpoint into the same MLflow and W&B runs,
and on CPU with a fixed seed ends with exactly the metrics and weights of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ)  # tests/conftest.py made it offline, quiet and free of a user's MLflow server
COMMON = ["experiment=smoke", "trainer.total_steps=6", "trainer.save_every=2", "trainer.val_every=2", "trainer.device=cpu"]
NOISY = ("timing/", "perf/")  # wall-clock metrics differ between any two runs


def train(tmp: Path, name: str, *overrides: str, kill: str = "") -> str:
    """``train.py`` in a subprocess, or tests/kill_train.py that SIGKILLs it at ``kill``; returns its output."""
    entry = ["tests/kill_train.py", kill] if kill else ["train.py"]
    args = [sys.executable, *entry, *COMMON, f"output_root={tmp}", f"hydra.run.dir={tmp}/runs/{name}", *overrides]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=1200)
    expected = -signal.SIGKILL if kill else 0
    assert out.returncode == expected, out.stdout[-3000:] + out.stderr[-5000:]
    return out.stdout + out.stderr


def last_value_per_step(client, run_id: str, key: str):
    """MLflow keeps every value logged at a step; the valid one is the last logged (the resumed run's)."""
    points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
    return {m.step: m.value for m in points}


@pytest.mark.slow
def test_a_killed_run_resumes_into_the_same_runs_and_ends_exactly_as_an_uninterrupted_one(tmp_path):
    from mlflow import MlflowClient
    from safetensors.torch import load_file

    train(tmp_path, "full", "logger=mlflow")
    # killed while checkpoint 4 is half written, after steps 1-4 logged their metrics
    train(tmp_path, "killed", "logger=both", kill="in_save=4")
    run_dir = tmp_path / "runs" / "killed"
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step_000002"
    assert (run_dir / "checkpoints" / ".tmp_step_000004" / "model.safetensors").exists()
    # resume=auto skips the finished run and the half-written checkpoint; killed again after step 5
    out = train(tmp_path, "resumed_auto", "logger=both", "resume=auto", kill="after_step=5")
    assert "continuing at step 3 of 6" in out
    # resume=<run dir>: from checkpoint 4, written by the first resumption
    out = train(tmp_path, "resumed_path", "logger=both", f"resume={run_dir}")
    assert "continuing at step 5 of 6" in out

    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "FINISHED" and [r["step"] for r in record["resumes"]] == [2, 4]
    assert (tmp_path / "runs" / "resumed_path" / "RESUMED.txt").exists()
    assert not list((tmp_path / "runs" / "resumed_path").glob("checkpoints"))  # checkpoints went to the run dir

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.get_experiment_by_name("toolrl")
    full, resumed = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    assert resumed.info.run_id == record["trackers"]["mlflow"] and resumed.info.status == "FINISHED"
    # steps 3-4 and 5 ran twice; MLflow keeps both values, the last one is the resumed run's
    assert sorted(m.step for m in client.get_metric_history(resumed.info.run_id, "actor/loss")) == [1, 2, 3, 3, 4, 4, 5, 5, 6]
    keys = sorted(k for k in full.data.metrics if not k.startswith(NOISY) and not k.endswith("/seconds"))
    assert sorted(k for k in resumed.data.metrics if not k.startswith(NOISY) and not k.endswith("/seconds")) == keys
    assert "eval/toolrl_sample/total/mean" in keys and "actor/grad_norm" in keys and "actor/lr" in keys
    for key in keys:
        expected = last_value_per_step(client, full.info.run_id, key)
        assert last_value_per_step(client, resumed.info.run_id, key) == expected, key  # exact, not approximate
    assert sorted(last_value_per_step(client, full.info.run_id, "eval/toolrl_sample/total/mean")) == [0, 2, 4, 6]

    a = load_file(tmp_path / "runs" / "full" / "checkpoints" / "step_000006" / "model.safetensors")
    b = load_file(run_dir / "checkpoints" / "step_000006" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    wandb_runs = sorted((run_dir / "wandb").glob("offline-run-*"))  # one offline folder per session, one run id
    assert len(wandb_runs) == 3
    assert {next(p.glob("run-*.wandb")).stem for p in wandb_runs} == {f"run-{record['trackers']['wandb']}"}


def test_resume_without_a_checkpoint_fails_with_a_clear_message(tmp_path):
    empty = tmp_path / "runs" / "empty"
    empty.mkdir(parents=True)
    args = [sys.executable, "train.py", "experiment=smoke", "logger=none", f"output_root={tmp_path}",
            f"hydra.run.dir={tmp_path}/runs/new", f"resume={empty}"]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1
    assert f"error: resume={empty}: no complete checkpoint in {empty / 'checkpoints'}" in out.stderr
