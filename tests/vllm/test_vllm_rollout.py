"""rollout=vllm on vLLM's CPU backend (.venv-vllm, see docs/vllm.md): the engine's log-probs agree with the
trainer's in fp32, before and after an in-place weight sync, for short prompts and for prompts long enough
(128+ tokens) to be served from the prefix cache; a LoRA policy syncs its merged weights.

The tiny model has head size 32 (hidden 128 / 4 heads), one of the sizes vLLM's CPU attention supports.
"""

import os

import pytest
import torch

pytest.importorskip("vllm.sampling_params", reason="needs vLLM: .venv-vllm, docs/vllm.md")  # not tests/vllm itself
pytestmark = pytest.mark.vllm
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

from toolrl.algos.functional import token_logprobs  # noqa: E402
from toolrl.config import LoraConfig, ModelConfig  # noqa: E402
from toolrl.models import load_model, load_tokenizer  # noqa: E402
from toolrl.rollout.batch import position_ids  # noqa: E402
from toolrl.rollout.vllm import VllmRollout, checkpoint_weights  # noqa: E402

TEMPERATURE = 0.7
TOL = 1e-4
SHORT = "What is the capital of France?"
LONG = "The quick brown fox jumps over the lazy dog near the river bank. " * 16  # > 128 tokens
KV_BYTES = 64 * 2**20


def trainer_logprobs(model, batch, temperature=TEMPERATURE) -> torch.Tensor:
    """Log-probs of the sampled tokens as GRPO computes them (fp32, temperature-scaled logits)."""
    with torch.no_grad():
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    position_ids=position_ids(batch.attention_mask))
        logits = out.logits[:, batch.prompt_len - 1 : -1].float() / temperature
        return token_logprobs(logits, batch.completion_ids)


def max_gap(model, batch) -> float:
    mask = batch.loss_mask.bool()
    return float((trainer_logprobs(model, batch) - batch.sampling_logprobs)[mask].abs().max())


def train_a_little(model, tok, steps: int = 3, lr: float = 1e-2) -> None:
    """A few AdamW steps of next-token loss: weights that differ clearly from the engine's."""
    ids = tok([SHORT + " Paris is the capital of France."], return_tensors="pt")["input_ids"]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="module")
def tiny():
    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    model = load_model(cfg, tok, seed=0, device="cpu").eval()
    engine = VllmRollout(model=model, tokenizer=tok, max_prompt_length=512, max_new_tokens=12,
                         temperature=TEMPERATURE, kv_cache_memory_bytes=KV_BYTES)
    return model, tok, engine


def test_the_long_prompt_is_longer_than_a_cache_block(tiny):
    _, tok, _ = tiny
    assert len(tok(LONG, add_special_tokens=False)["input_ids"]) > 128


def test_batch_layout_and_sampled_logprobs_match_the_trainer(tiny):
    model, tok, engine = tiny
    batch = engine.generate([SHORT, LONG], n=3)
    assert len(batch) == 6 and batch.sampling_logprobs.shape == batch.loss_mask.shape
    # rows grouped by prompt: the prompt part of rows 0-2 is SHORT, of rows 3-5 LONG
    prompts = [tok.decode(row[mask.bool()]) for row, mask in zip(batch.input_ids[:, : batch.prompt_len],
                                                                  batch.attention_mask[:, : batch.prompt_len])]
    assert prompts[:3] == [SHORT] * 3 and prompts[3:] == [LONG] * 3
    assert (batch.sampling_logprobs[batch.loss_mask == 0] == 0).all()
    assert (batch.sampling_logprobs[batch.loss_mask == 1] < 0).all()
    assert max_gap(model, batch) < TOL


@pytest.mark.parametrize("prompt", [SHORT, LONG], ids=["short", "long-128+"])
def test_logprobs_match_after_an_in_place_weight_sync(tiny, prompt):
    model, tok, engine = tiny
    engine.generate([prompt], n=2)  # fills the prefix cache with this prompt under the current weights
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_a_little(model, tok)
    engine.sync_weights(model)
    batch = engine.generate([prompt], n=2)
    gap = max_gap(model, batch)
    assert gap < TOL, f"engine and trainer disagree by {gap} after the sync"
    # the sync mattered: the old weights give clearly different log-probs of the same tokens
    stale = load_model(ModelConfig(name="tiny"), tok, seed=0, device="cpu").eval()
    stale.load_state_dict(before)
    assert max_gap(stale, batch) > 1e-2


def test_without_the_cache_reset_a_long_prompt_reads_stale_keys(tiny):
    """Why sync_weights resets the prefix cache: reloading alone leaves old keys/values for cached blocks."""
    model, tok, engine = tiny
    engine.generate([LONG], n=1)
    train_a_little(model, tok)
    weights = list(checkpoint_weights(model))
    engine.llm.collective_rpc("reload_weights", kwargs=dict(weights_iterator=iter(weights), is_checkpoint_format=True))
    stale_gap = max_gap(model, engine.generate([LONG], n=1))
    engine.llm.reset_prefix_cache()
    fresh_gap = max_gap(model, engine.generate([LONG], n=1))
    assert fresh_gap < TOL < stale_gap


def test_greedy_decoding_matches_the_trainers_argmax(tiny):
    model, tok, engine = tiny
    batch = engine.generate([SHORT], n=1, greedy=True)
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                       position_ids=position_ids(batch.attention_mask)).logits[:, batch.prompt_len - 1 : -1]
    mask = batch.loss_mask.bool()
    assert torch.equal(logits.argmax(-1)[mask], batch.completion_ids[mask])


def test_a_lora_policy_syncs_its_merged_weights():
    from toolrl.models.lora import apply_lora

    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    model = apply_lora(load_model(cfg, tok, seed=1, device="cpu"), LoraConfig(enabled=True, r=4, alpha=8.0))
    with torch.no_grad():  # adapters start at zero (B = 0): give them a visible effect
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    model.eval()
    engine = VllmRollout(model=model, tokenizer=tok, max_prompt_length=512, max_new_tokens=8,
                         temperature=TEMPERATURE, kv_cache_memory_bytes=KV_BYTES)
    assert max_gap(model, engine.generate([SHORT], n=2)) < TOL
    train_a_little(model, tok)
    engine.sync_weights(model)
    assert max_gap(model, engine.generate([SHORT], n=2)) < TOL
    assert not any("lora" in n for n, _ in checkpoint_weights(model))
