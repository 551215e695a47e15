"""`python train.py rollout=vllm`: a GRPO run of a few steps on the tiny model, the engine synced after
every optimizer step; the logged engine/trainer log-prob gap stays at fp32 noise."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm.sampling_params", reason="needs vLLM: .venv-vllm, docs/vllm.md")  # not tests/vllm itself
pytestmark = pytest.mark.vllm

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("extra", [[], ["rollout.is_cap=2.0"]], ids=["plain", "is-correction"])
def test_grpo_run_with_rollout_vllm(tmp_path, extra):
    args = [
        sys.executable, "train.py", "experiment=smoke", "rollout=vllm", "rollout.kv_cache_memory_bytes=67108864",
        "trainer.total_steps=3", "trainer.val_every=3", "logger=mlflow", "run_name=vllm-e2e",
        f"output_root={tmp_path}", f"hydra.run.dir={tmp_path}/run", *extra,
    ]
    env = dict(os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="0")
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("toolrl").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.data.tags["rollout"] == "vllm"
    gaps = [m.value for m in client.get_metric_history(run.info.run_id, "rollout/logprob_diff_abs_mean")]
    syncs = client.get_metric_history(run.info.run_id, "timing/weight_sync")
    assert len(gaps) == 3 and len(syncs) == 3
    assert max(gaps) < 1e-4, gaps  # step 2 and 3 sample with synced weights: still fp32 noise
    if extra:
        weights = [m.value for m in client.get_metric_history(run.info.run_id, "rollout/is_weight_mean")]
        assert len(weights) == 3 and all(abs(w - 1.0) < 1e-3 for w in weights)
