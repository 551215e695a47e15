"""model.init_stage: SFT -> RL in one command. The stage is a real `train.py` run, trained once and reused; the RL
run starts from its final checkpoint; a failing stage stops the run with its log."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolrl import stages
from toolrl.resume import read_run_record

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
       "WANDB_MODE": "offline", "PYTHONHASHSEED": "0"}
SFT = ["algo=sft", "model=tiny_random", "data=synthetic_tools", "trainer.total_steps=2", "algo.batch_size=2", "algo.micro_batch_size=2",
       "trainer.val_every=0", "logger=none", "seed=5"]


def test_a_stage_is_trained_once_then_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", ENV)
    run = stages.ensure_stage(SFT, tmp_path)
    assert run == tmp_path / "stages" / stages.stage_hash(SFT)
    assert read_run_record(run)["status"] == "FINISHED"
    assert (run / "checkpoints" / "latest").exists()
    assert json.loads((run / stages.STAGE_FILE).read_text())["overrides"] == SFT
    assert "seed: 5" in (run / "config.yaml").read_text()  # the stage's own config, from its overrides

    def no_second_run(*args, **kwargs):
        raise AssertionError("a finished stage must be reused")

    monkeypatch.setattr(subprocess, "run", no_second_run)
    assert stages.ensure_stage(SFT, tmp_path) == run
    assert stages.stage_hash(SFT) != stages.stage_hash([*SFT[:-1], "seed=6"])


def test_a_failing_stage_stops_with_its_log_and_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "environ", ENV)
    bad = ["algo=sft", "model=tiny_random", "algo.lr=-1"]
    with pytest.raises(RuntimeError, match=r"(?s)the stage `algo=sft model=tiny_random algo.lr=-1` failed.*algo\.lr"):
        stages.ensure_stage(bad, tmp_path)
    assert read_run_record(stages.stage_dir(bad, tmp_path)).get("status") != "FINISHED"
    no_checkpoint = [*SFT, "trainer.save_final=false"]
    with pytest.raises(RuntimeError, match=r"ended without a checkpoint \(trainer\.save_final=true\?\)"):
        stages.ensure_stage(no_checkpoint, tmp_path)
    with pytest.raises(ValueError, match="hydra.run.dir"):
        stages.stage_command(["hydra.run.dir=/x"], tmp_path, tmp_path)


def test_train_py_runs_the_stage_then_starts_from_it(tmp_path):
    stage = "[" + ",".join(f"'{o}'" for o in SFT) + "]"  # Hydra's grammar: list items with `=` are quoted
    args = [sys.executable, "train.py", "experiment=smoke", "logger=none", f"output_root={tmp_path}",
            f"hydra.run.dir={tmp_path}/rl", f"model.init_stage={stage}", "trainer.total_steps=1", "trainer.val_every=0"]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    run = stages.stage_dir(SFT, tmp_path)
    assert "model.init_stage: training the first stage" in out.stdout + out.stderr
    config = (tmp_path / "rl" / "config.yaml").read_text()
    assert f"init_from: {run}" in config and "init_stage:" in config  # the RL run started from the stage's last checkpoint
