"""Length-bucketed micro-batches: the order changes the padding each forward sees, never the result."""

import copy

import pytest
import torch

from toolrl.algos.grpo import GRPO, by_length
from toolrl.config import ModelConfig
from toolrl.rollout.batch import RolloutBatch


def ragged_batch() -> RolloutBatch:
    """4 rows: prompts of 3, 6, 2, 6 real tokens (left-padded to 6), completions of 5, 2, 4, 1 (of 5)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 400, (4, 11), generator=g)
    att = torch.zeros_like(ids)
    for i, (p, c) in enumerate([(3, 5), (6, 2), (2, 4), (6, 1)]):
        att[i, 6 - p : 6 + c] = 1
    return RolloutBatch(ids, att, 6, att[:, 6:].clone(), ["t"] * 4, torch.zeros(4, dtype=torch.bool))


def test_rows_are_ordered_by_prompt_then_completion_length():
    batch = ragged_batch()
    assert by_length(batch, [0, 1, 2, 3], 2) == [2, 0, 3, 1]  # (2,4) (3,5) (6,1) (6,2)
    assert by_length(batch, [1, 3], 2) == [1, 3]  # one micro-batch: left alone
    # the bucketed pairs are narrower than the original ones (columns padded in every row are trimmed)
    widths = lambda rows: [batch.select(rows[i : i + 2]).input_ids.shape[1] for i in (0, 2)]  # noqa: E731
    assert widths([2, 0, 3, 1]) == [8, 8] and widths([0, 1, 2, 3]) == [11, 10]


@pytest.fixture(scope="module")
def tiny():
    from toolrl.models import load_model, load_tokenizer

    cfg = ModelConfig(name="tiny")
    return load_model(cfg, load_tokenizer(cfg), seed=0, device="cpu")


def test_bucketed_update_equals_one_full_micro_batch(tiny):
    """Micro-batches of 2 (re-ordered by length) accumulate the same gradient as one pass over 4 (the
    gradients are left on the parameters after the step; Adam's first step would magnify float noise)."""
    models = [copy.deepcopy(tiny), copy.deepcopy(tiny)]
    kw = dict(total_steps=1, group_size=2, prompts_per_step=2, mini_batch_size=4, lr=1e-2, kl_coef=0.1)
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.2])
    for model, micro in zip(models, (2, 4)):
        GRPO(policy=model, reference=copy.deepcopy(tiny), micro_batch_size=micro, **kw).update(ragged_batch(), rewards)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4)


def test_reference_logprobs_are_ordinary_tensors_in_row_order(tiny):
    algo = GRPO(policy=tiny, reference=tiny, total_steps=1, group_size=2, prompts_per_step=2, mini_batch_size=4,
                micro_batch_size=2, kl_coef=0.1)
    batch = ragged_batch()
    bucketed = algo._batch_logprobs(tiny, batch)
    assert not bucketed.is_inference()
    for row in range(4):  # each row scored alone gives the same numbers
        with torch.no_grad():
            alone, _ = algo._logprobs(tiny, batch.select([row]), with_entropy=False)
        n = alone.shape[1]
        torch.testing.assert_close(bucketed[row, :n], alone[0].float(), atol=1e-5, rtol=1e-5)  # padding after n is masked
