"""End to end with LoRA: SFT with an adapter, GRPO from it with a new adapter and KL to the adapter-off
reference, then `toolrl merge-lora` on the result."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ)  # tests/conftest.py made it offline


def train(tmp: Path, *overrides: str, name: str, preset: str = "experiment=smoke") -> None:
    args = [sys.executable, "train.py", preset, f"output_root={tmp}", f"hydra.run.dir={tmp}/{name}", *overrides]
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]


def mlflow_runs(store: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    exp = client.get_experiment_by_name("toolrl")
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


@pytest.mark.slow  # three subprocess runs, minutes on 2 cores
def test_sft_lora_then_grpo_lora_with_kl_then_merge(tmp_path):
    from transformers import AutoModelForCausalLM

    from toolrl.config import ModelConfig
    from toolrl.models import load_model, load_tokenizer

    train(tmp_path, "algo=sft", "data=synthetic_tools", "model.lora.enabled=true", "algo.lr=1e-3", "algo.batch_size=4",
          "algo.micro_batch_size=2", "trainer.total_steps=2", "trainer.val_every=2", "rollout.max_new_tokens=16",
          "data.max_val_rows=2", "logger=mlflow", name="sft", preset="seed=0")
    sft_ckpt = tmp_path / "sft" / "checkpoints" / "step_000002"
    assert (sft_ckpt / "adapter_model.safetensors").exists() and not (sft_ckpt / "model.safetensors").exists()

    train(tmp_path, "model.lora.enabled=true", "algo.kl_coef=0.01", f"model.init_from={tmp_path / 'sft'}", "algo.lr=1e-3",
          "logger=mlflow", name="grpo")
    client, (sft, grpo) = mlflow_runs(tmp_path / "mlflow.db")
    assert sft.info.status == grpo.info.status == "FINISHED"
    assert "train/loss" in sft.data.metrics
    kl = [m.value for m in client.get_metric_history(grpo.info.run_id, "actor/kl_ref")]
    assert len(kl) == 2 and abs(kl[0]) < 1e-6  # step 1: the fresh adapter is zero, policy == reference
    grpo_ckpt = tmp_path / "grpo" / "checkpoints" / "step_000002"
    assert (grpo_ckpt / "adapter_model.safetensors").exists() and not (grpo_ckpt / "model.safetensors").exists()

    out = subprocess.run([sys.executable, "-m", "toolrl.cli", "merge-lora", str(tmp_path / "grpo"), str(tmp_path / "merged")],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    cont = ModelConfig(name="tiny", init_from=str(tmp_path / "grpo"))  # how a later run starts from the GRPO run
    tok = load_tokenizer(cont)
    again = load_model(cont, tok, seed=0)
    base = load_model(ModelConfig(name="tiny"), tok, seed=0)
    ids = torch.arange(3, 27).reshape(2, 12)
    with torch.no_grad():
        logits = [m(input_ids=ids, attention_mask=torch.ones_like(ids)).logits for m in (merged, again, base)]
    assert torch.allclose(logits[0], logits[1], atol=1e-5)
    assert not torch.allclose(logits[0], logits[2], atol=1e-4)  # SFT and GRPO adapters moved it from the base
