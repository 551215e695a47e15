"""The ToRL loop (rollout/multiturn.py) on the vLLM engine with a budget of C=2 tool calls: a tiny model
taught to write two programs, each stopped at ```output, run in the sandbox, its output inserted (loss
mask 0) before generation continues on vLLM."""

import os

import pytest
import torch

pytest.importorskip("vllm.sampling_params", reason="needs vLLM: .venv-vllm, docs/vllm.md")  # not tests/vllm itself
pytestmark = pytest.mark.vllm
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

from toolrl.config import ModelConfig  # noqa: E402
from toolrl.models import load_model, load_tokenizer  # noqa: E402
from toolrl.rollout.multiturn import MultiTurnRollout  # noqa: E402
from toolrl.rollout.vllm import VllmRollout  # noqa: E402
from toolrl.tools.python import PythonToolBackend  # noqa: E402

ANSWER = ("```python\nprint(6 * 7)\n```\n```output\n42\n```\n"
          "```python\nprint(40 + 2)\n```\n```output\n42\n```\nThe answer is \\boxed{42}.")
PROMPTS = ["Question: What is 6 times 7?\nSolution:\n", "Question: Compute 40 + 2.\nSolution:\n"]


def taught_model(steps: int = 80):
    """The tiny model, trained to answer every prompt of PROMPTS with ANSWER."""
    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    model = load_model(cfg, tok, seed=0, device="cpu")
    target = tok(ANSWER, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    rows = [tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    width = max(len(r) for r in rows) + len(target)
    ids = torch.full((len(rows), width), tok.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    att = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        seq = r + target
        ids[i, : len(seq)], att[i, : len(seq)] = torch.tensor(seq), 1
        labels[i, len(r) : len(seq)] = torch.tensor(target)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=att, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, loss.item()
    return model.eval(), tok


def test_torl_loop_with_two_calls_on_vllm():
    model, tok = taught_model()
    engine = VllmRollout(model=model, tokenizer=tok, max_prompt_length=64, max_new_tokens=128,
                         kv_cache_memory_bytes=64 * 2**20)
    tool = PythonToolBackend(max_calls=2, preload=(), workers=2)
    try:
        rollout = MultiTurnRollout(engine, tool)
        assert rollout.sync_weights == engine.sync_weights  # the trainer's hook reaches the engine
        batch = rollout.generate(PROMPTS, n=2, greedy=True)
    finally:
        tool.close()
    assert len(batch) == 4
    for i, rounds in enumerate(batch.meta["tool_rounds"]):
        assert len(rounds) == 2, (i, rounds)
        assert [r["observations"][0].strip() for r in rounds] == ["42", "42"]
        assert not any(r["error"] or r["sandbox_error"] for r in rounds)
        assert "\\boxed{42}" in batch.texts[i]
        # the tokens with loss mask 0 are the two inserted observations, nothing the policy wrote
        comp, att, loss = batch.completion_ids[i], batch.completion_attention[i], batch.loss_mask[i]
        inserted = tok.decode(comp[(att == 1) & (loss == 0)])
        assert inserted.count("42") == 2 and "python" not in inserted and "print" not in inserted
    assert batch.meta["metrics"]["tools/calls_per_response"] == 2.0
