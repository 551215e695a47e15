"""rollout=vllm without vLLM installed: the config validates and names bad keys, GRPO logs the engine/trainer
log-prob gap and applies the truncated importance-sampling weight (hand-computed numbers), and a LoRA
policy's weights come out merged under the base model's names."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from toolrl.algos.grpo import _engine_correction
from toolrl.config import ConfigError, VllmRolloutConfig, register_configs, validate
from toolrl.rollout.batch import RolloutBatch

CONF = Path(__file__).resolve().parents[3] / "conf"


def _compose(overrides, tmp_path):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=["rollout=vllm", *overrides, f"output_dir={tmp_path}"])


def test_rollout_vllm_composes_to_its_schema(tmp_path):
    conf = validate(_compose(["rollout.kv_cache_memory_bytes=67108864"], tmp_path))
    assert isinstance(conf.rollout, VllmRolloutConfig)
    assert conf.rollout._target_ == "toolrl.rollout.vllm.VllmRollout" and conf.rollout.kv_cache_memory_bytes == 2**26


@pytest.mark.parametrize(
    "override, message",
    [
        ("rollout.gpu_memory_utilization=1.5", "rollout.gpu_memory_utilization=1.5 must be in (0, 1]"),
        ("rollout.is_cap=-1", "rollout.is_cap=-1.0 must be >= 0"),
        ("rollout.kv_cache_memory_bytes=0", "rollout.kv_cache_memory_bytes=0 must be > 0"),
        ("rollout.dtype=fp8", "rollout.dtype='fp8' is not allowed"),
        ("rollout.max_model_len=100", "rollout.max_model_len=100 must be >= rollout.max_prompt_length"),
        ("rollout.batch_size=-2", "rollout.batch_size=-2 must be >= 0"),
    ],
)
def test_validation_names_the_vllm_key(override, message, tmp_path):
    with pytest.raises(ConfigError) as err:
        validate(_compose([override], tmp_path))
    assert message in str(err.value)


def _batch(engine_logp, is_cap):
    b = RolloutBatch(
        input_ids=torch.zeros((1, 4), dtype=torch.long), attention_mask=torch.ones((1, 4), dtype=torch.long),
        prompt_len=1, loss_mask=torch.tensor([[1, 1, 0]]), texts=[""], truncated=torch.zeros(1, dtype=torch.bool),
        sampling_logprobs=torch.tensor([engine_logp]),
    )
    b.meta["is_cap"] = is_cap
    return b


def test_engine_gap_is_logged_and_the_loss_untouched_without_a_cap():
    old = torch.tensor([[-1.0, -2.0, -3.0]])
    sums = {}
    loss = torch.tensor([[0.5, 0.5, 0.5]])
    out = _engine_correction(loss, old, _batch([-1.5, -1.0, 0.0], 0.0), torch.tensor([[1.0, 1.0, 0.0]]), sums)
    assert torch.equal(out, loss)
    # gaps old - engine: +0.5, -1.0 on the two sampled tokens (the padded third is masked out)
    assert sums["rollout/logprob_diff_abs_mean"] == pytest.approx(0.75 * 2)  # summed over tokens, / tokens later
    assert sums["rollout/logprob_diff_mean"] == pytest.approx(-0.25 * 2)
    assert "rollout/is_weight_mean" not in sums


def test_truncated_importance_weight_multiplies_each_token():
    old = torch.tensor([[-1.0, -2.0, -3.0]])
    sums = {}
    loss = torch.tensor([[1.0, 1.0, 1.0]])
    engine = [-1.0 - torch.log(torch.tensor(4.0)).item(), -2.0 + torch.log(torch.tensor(2.0)).item(), -3.0]
    out = _engine_correction(loss, old, _batch(engine, 2.0), torch.tensor([[1.0, 1.0, 0.0]]), sums)
    # ratios pi_trainer / pi_engine: 4 (capped to 2), 0.5; the masked token's ratio 1 is irrelevant
    assert out[0, :2].tolist() == pytest.approx([2.0, 0.5])
    assert sums["rollout/is_weight_mean"] == pytest.approx(1.25 * 2)


def test_lora_weights_come_out_merged_under_base_names():
    from toolrl.config import LoraConfig, ModelConfig
    from toolrl.models import load_model, load_tokenizer
    from toolrl.models.lora import apply_lora
    from toolrl.rollout.vllm import checkpoint_weights

    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    plain = dict(checkpoint_weights(load_model(cfg, tok, seed=0, device="cpu")))
    model = apply_lora(load_model(cfg, tok, seed=0, device="cpu"), LoraConfig(enabled=True, r=2, alpha=2.0))
    a = model.base_model.model.model.layers[0].self_attn.q_proj
    with torch.no_grad():
        a.lora_B["default"].weight.fill_(0.1)
    merged = dict(checkpoint_weights(model))
    assert set(merged) == set(plain)
    name = "model.layers.0.self_attn.q_proj.weight"
    delta = a.lora_B["default"].weight @ a.lora_A["default"].weight  # scale alpha / r = 1
    assert torch.allclose(merged[name], plain[name] + delta, atol=1e-6)
    assert torch.equal(merged["model.layers.0.mlp.up_proj.weight"], plain["model.layers.0.mlp.up_proj.weight"])
    assert torch.equal(a.base_layer.weight, plain[name])  # the model itself is left unmerged
