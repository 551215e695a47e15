"""LoRA (model.lora.*): only adapters train, the reference is the base, checkpoints hold the adapter, merging is exact."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from toolrl.algos.grpo import GRPO
from toolrl.checkpoint import save_checkpoint
from toolrl.config import ConfigError, LoraConfig, ModelConfig, register_configs, validate
from toolrl.models import load_model, load_tokenizer
from toolrl.models.lora import AdapterDisabled, apply_lora, merge_lora
from toolrl.rollout.hf import HFRollout

CONF = Path(__file__).resolve().parents[3] / "conf"
TINY = ModelConfig(name="tiny")
LORA = dataclasses.replace(TINY, lora=LoraConfig(enabled=True, r=4, alpha=8.0))


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(TINY)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits


def _ids():
    return torch.arange(3, 3 + 2 * 12).reshape(2, 12)


def _perturb_adapters(model, seed=0):
    """Non-zero lora_B (PEFT starts it at zero), so that the adapter changes the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


def test_only_the_adapters_train_and_the_optimizer_sees_only_them(tok):
    model = load_model(LORA, tok, seed=0)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    # per layer, r * (in + out) of each projection: hidden 128, kv width 2 heads * 32 = 64, MLP 512
    per_layer = 4 * ((128 + 128) + (128 + 64) + (128 + 64) + (128 + 128) + 3 * (128 + 512))
    assert sum(p.numel() for p in trainable.values()) == 2 * per_layer == 22528
    algo = GRPO(policy=model, total_steps=1, lr=1e-3)
    in_optimizer = [p for g in algo.optimizer.param_groups for p in g["params"]]
    assert len(in_optimizer) == len(trainable) and all(p.requires_grad for p in in_optimizer)


def test_the_reference_is_the_base_and_a_grpo_step_moves_only_the_policy(tok):
    base = load_model(TINY, tok, seed=0)
    policy = load_model(LORA, tok, seed=0)
    reference = AdapterDisabled(policy)
    algo = GRPO(policy=policy, reference=reference, total_steps=1, lr=1e-2, group_size=2, prompts_per_step=2,
                mini_batch_size=4, micro_batch_size=2, kl_coef=0.1, kl_estimator="k3")
    rollout = HFRollout(model=policy, tokenizer=tok, max_new_tokens=8, progress=False)
    torch.manual_seed(0)
    batch = rollout.generate(["<|im_start|>user\nhi<|im_end|>\n", "<|im_start|>user\nweather?<|im_end|>\n"], n=2)
    base_logp = algo._batch_logprobs(base, batch)
    assert torch.allclose(algo._batch_logprobs(reference, batch), base_logp, atol=1e-6)
    assert torch.allclose(algo._batch_logprobs(policy, batch), base_logp, atol=1e-6)  # lora_B starts at 0
    frozen = {n: p.detach().clone() for n, p in policy.named_parameters() if not p.requires_grad}

    policy.train()
    metrics = algo.update(batch, torch.tensor([1.0, 0.0, 0.0, 1.0]))
    assert policy.training  # the reference call restored the policy's mode
    assert metrics["actor/kl_ref"] == pytest.approx(0.0, abs=1e-6)  # policy == reference before the step
    assert all(torch.equal(p, frozen[n]) for n, p in policy.named_parameters() if not p.requires_grad)
    assert torch.allclose(algo._batch_logprobs(reference, batch), base_logp, atol=1e-6)
    moved = (algo._batch_logprobs(policy, batch) - base_logp).abs()[batch.loss_mask.bool()]
    assert moved.max() > 1e-3
    out = reference(input_ids=_ids(), attention_mask=torch.ones_like(_ids()))
    assert out.logits.grad_fn is None  # no graph is built for the reference


def test_a_checkpoint_holds_the_adapter_only(tok, tmp_path):
    from safetensors import safe_open

    model = load_model(LORA, tok, seed=0)
    path = save_checkpoint(tmp_path, 1, model, tok, GRPO(policy=model, total_steps=1).state_dict())
    assert (path / "adapter_model.safetensors").exists() and not (path / "model.safetensors").exists()
    with safe_open(str(path / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and all("lora_A" in k or "lora_B" in k for k in keys)
    meta = json.loads((path / "adapter_config.json").read_text())
    assert meta["r"] == 4 and meta["lora_alpha"] == 8.0 and set(meta["target_modules"]) == set(LoraConfig().target_modules)


def _lora_run(tmp_path, tok, seed):
    """A run dir as the trainer leaves it: config.yaml (model + seed) and a checkpoint of a trained adapter."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(OmegaConf.to_yaml({"seed": seed, "model": OmegaConf.structured(LORA)}))
    policy = load_model(LORA, tok, seed=seed)
    _perturb_adapters(policy)
    save_checkpoint(run, 5, policy, tok, {})
    return run, policy


def test_merge_lora_rebuilds_the_seeded_base_and_equals_the_peft_model(tok, tmp_path):
    from transformers import AutoModelForCausalLM

    from toolrl.cli import main

    run, policy = _lora_run(tmp_path, tok, seed=3)
    assert main(["merge-lora", str(run), str(tmp_path / "merged")]) == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert (tmp_path / "merged" / "tokenizer_config.json").exists()
    ids = _ids()
    expected = _logits(policy, ids)
    assert torch.allclose(_logits(merged, ids), expected, atol=1e-5)
    base_other_seed = load_model(TINY, tok, seed=0)
    assert not torch.allclose(_logits(base_other_seed, ids), expected, atol=1e-2)  # the run's seed (3) mattered
    with torch.no_grad(), policy.disable_adapter():
        assert not torch.allclose(_logits(policy, ids), expected, atol=1e-3)  # and so did the adapter
    merged_again = merge_lora(str(run / "checkpoints" / "step_000005"), str(tmp_path / "again"))
    assert torch.allclose(_logits(AutoModelForCausalLM.from_pretrained(merged_again), ids), expected, atol=1e-5)


def test_init_from_a_lora_run_starts_from_the_merged_model_with_a_fresh_adapter(tok, tmp_path):
    run, policy = _lora_run(tmp_path, tok, seed=3)
    ids = _ids()
    expected = _logits(policy, ids)
    start = dataclasses.replace(LORA, init_from=str(run))
    model = load_model(start, load_tokenizer(start), seed=0)  # the new run's seed does not rebuild the old base
    assert torch.allclose(_logits(model, ids), expected, atol=1e-5)  # a new adapter starts at zero
    with torch.no_grad():
        ref = AdapterDisabled(model)(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert torch.allclose(ref, expected, atol=1e-5)  # the reference of SFT-LoRA -> GRPO-LoRA is the SFT model
    full = load_model(dataclasses.replace(TINY, init_from=str(run)), tok, seed=0)  # or full fine-tuning of it
    assert not hasattr(full, "disable_adapter") and torch.allclose(_logits(full, ids), expected, atol=1e-5)


def test_wrong_lora_settings_name_the_key(tok, tmp_path):
    model = load_model(TINY, tok, seed=0)
    with pytest.raises(ConfigError, match=r"model.lora.target_modules=\['c_attn'\].*q_proj"):
        apply_lora(model, LoraConfig(enabled=True, target_modules=["c_attn"]))
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["model.lora.enabled=true", "model.lora.r=0", "model.lora.dropout=1.5",
                                           f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert "model.lora.r=0 must be > 0" in str(err.value) and "model.lora.dropout=1.5 must be in [0, 1)" in str(err.value)


@pytest.mark.parametrize("critic", ["separate", "shared"])
def test_ppo_with_lora_trains_adapters_and_the_value_head_only(tok, critic):
    from toolrl.algos.ppo import PPO

    policy = load_model(LORA, tok, seed=0)
    algo = PPO(policy=policy, reference=AdapterDisabled(policy), total_steps=1, group_size=1, prompts_per_step=4,
               mini_batch_size=4, micro_batch_size=2, lr=1e-2, critic_lr=1e-2, kl_coef=0.01, critic=critic)
    critic_trainable = [n for n, p in algo.critic.named_parameters() if p.requires_grad]
    assert critic_trainable and all(n.startswith("head.") or ".lora_" in n for n in critic_trainable)
    rollout = HFRollout(model=policy, tokenizer=tok, max_new_tokens=8, progress=False)
    torch.manual_seed(0)
    batch = rollout.generate([f"<|im_start|>user\nq{i}<|im_end|>\n" for i in range(4)], n=1)
    frozen = {n: p.detach().clone() for n, p in policy.named_parameters() if not p.requires_grad}
    head = algo.critic.head.weight.detach().clone()
    algo.update(batch, torch.tensor([1.0, -1.0, 0.5, 0.0]))
    assert all(torch.equal(p, frozen[n]) for n, p in policy.named_parameters() if not p.requires_grad)
    assert not torch.equal(algo.critic.head.weight, head)
    lora_b = [p for n, p in policy.named_parameters() if "lora_B" in n]
    assert any(p.abs().max() > 0 for p in lora_b)  # the policy's adapters moved off zero
