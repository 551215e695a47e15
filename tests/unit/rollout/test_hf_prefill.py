"""Shared prompt prefill: one KV-cache prefill per distinct prompt gives exactly the tokens of a prefill per row."""

import pytest
import torch

from toolrl.config import ModelConfig
from toolrl.rollout.hf import HFRollout, lengths_to_eos

PROMPTS = [
    [{"role": "system", "content": "You can call get_weather(city)."}, {"role": "user", "content": "Weather in Paris?"}],
    [{"role": "system", "content": "Tools: none."}, {"role": "user", "content": "Hi, who are you? Tell me in a few words please."}],
]


@pytest.fixture(scope="module")
def tiny():
    from toolrl.models import load_model, load_tokenizer

    cfg = ModelConfig(name="tiny")
    tok = load_tokenizer(cfg)
    model = load_model(cfg, tok, seed=0, device="cpu")
    return model, tok, [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in PROMPTS]


@pytest.mark.parametrize("greedy", [True, False])
def test_shared_prefill_reproduces_per_row_prefill(tiny, greedy, monkeypatch):
    model, tok, prompts = tiny
    # chunks of 4 rows split the groups unevenly: [p0 p0 p0 p1] [p1 p1]
    engine = HFRollout(model=model, tokenizer=tok, progress=False, max_new_tokens=10, batch_size=4)
    out = {}
    for shared in (False, True):
        monkeypatch.setattr(HFRollout, "prefill_once", shared)
        torch.manual_seed(0)
        out[shared] = engine.generate(prompts, n=3, greedy=greedy)
    assert torch.equal(out[True].input_ids, out[False].input_ids)
    assert torch.equal(out[True].attention_mask, out[False].attention_mask)
    assert out[True].texts == out[False].texts


def test_shared_prefill_builds_one_cache_row_per_distinct_prompt(tiny, monkeypatch):
    model, tok, prompts = tiny
    engine = HFRollout(model=model, tokenizer=tok, progress=False, max_new_tokens=2, batch_size=8)
    seen = []
    forward = model.forward

    def spy(*args, **kwargs):
        seen.append(kwargs["input_ids"].shape[0])
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", spy)
    engine.generate(prompts, n=3)
    assert seen[0] == 2  # the prefill: 2 distinct prompts, not 6 rows
    assert set(seen[1:]) == {6}  # then every row decodes
    seen.clear()
    engine.generate(prompts, n=1)  # nothing repeats: transformers' own prefill over the 2 rows
    assert seen[0] == 2 and set(seen[1:]) == {2}


def test_lengths_to_eos_counts_up_to_the_first_eos():
    new = torch.tensor([[5, 9, 7, 8], [5, 6, 7, 8], [9, 1, 3, 2], [1, 2, 3, 3]])
    assert lengths_to_eos(new, {9, 3}).tolist() == [2, 4, 1, 3]
