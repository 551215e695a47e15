"""The unit of work between generation and the update: prompts, completions, masks and texts.

Layout: ``input_ids = [prompt (left-padded to P) | completion (right-padded to T)]``. The completion
has two masks: ``attention_mask`` marks every real token (sampled or inserted, e.g. tool
observations), ``loss_mask`` only the tokens the policy sampled, which alone enter the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import torch


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # [B, P + T]
    attention_mask: torch.Tensor  # [B, P + T], 1 on real tokens
    prompt_len: int  # P: width of the (left-padded) prompt part
    loss_mask: torch.Tensor  # [B, T], 1 on tokens the policy sampled
    texts: List[str]  # decoded completions (special tokens removed)
    truncated: torch.Tensor  # [B] bool: hit the length cap before EOS
    sampling_logprobs: Optional[torch.Tensor] = None  # [B, T] from the engine, when it reports them
    meta: dict = field(default_factory=dict)

    @property
    def completion_ids(self) -> torch.Tensor:
        return self.input_ids[:, self.prompt_len :]

    @property
    def completion_attention(self) -> torch.Tensor:
        return self.attention_mask[:, self.prompt_len :]

    @property
    def response_lengths(self) -> torch.Tensor:
        """Tokens in each completion (sampled and inserted)."""
        return self.completion_attention.sum(-1)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def select(self, index: torch.Tensor | List[int]) -> "RolloutBatch":
        """Rows ``index``, trimmed of columns that are padding in every selected row."""
        idx = torch.as_tensor(index, dtype=torch.long)
        ids, att, loss = self.input_ids[idx], self.attention_mask[idx], self.loss_mask[idx]
        prompt_att = att[:, : self.prompt_len]
        real_cols = prompt_att.any(0).nonzero()
        start = int(real_cols[0]) if len(real_cols) else self.prompt_len
        comp_cols = att[:, self.prompt_len :].any(0).nonzero()
        end = self.prompt_len + (int(comp_cols[-1]) + 1 if len(comp_cols) else 0)
        t_end = end - self.prompt_len
        return RolloutBatch(
            input_ids=ids[:, start:end],
            attention_mask=att[:, start:end],
            prompt_len=self.prompt_len - start,
            loss_mask=loss[:, :t_end],
            texts=[self.texts[i] for i in idx.tolist()],
            truncated=self.truncated[idx],
            sampling_logprobs=None if self.sampling_logprobs is None else self.sampling_logprobs[idx, :t_end],
            meta=dict(self.meta),
        )

    @staticmethod
    def concat(batches: List["RolloutBatch"], pad_id: int = 0) -> "RolloutBatch":
        """Rows of every batch in order, prompts re-left-padded and completions re-right-padded to common widths.

        ``meta`` is the first batch's (callers merge engine metrics themselves).
        """
        if not batches:
            raise ValueError("RolloutBatch.concat needs at least one batch")
        if len(batches) == 1:
            return batches[0]
        p_width = max(b.prompt_len for b in batches)
        t_width = max(b.input_ids.shape[1] - b.prompt_len for b in batches)
        ids, att, loss, logps = [], [], [], []
        for b in batches:
            left, right = p_width - b.prompt_len, t_width - (b.input_ids.shape[1] - b.prompt_len)
            ids.append(torch.nn.functional.pad(b.input_ids, (left, right), value=pad_id))
            att.append(torch.nn.functional.pad(b.attention_mask, (left, right), value=0))
            loss.append(torch.nn.functional.pad(b.loss_mask, (0, t_width - b.loss_mask.shape[1]), value=0))
            if b.sampling_logprobs is not None:
                logps.append(torch.nn.functional.pad(b.sampling_logprobs, (0, t_width - b.sampling_logprobs.shape[1]), value=0.0))
        return RolloutBatch(
            input_ids=torch.cat(ids),
            attention_mask=torch.cat(att),
            prompt_len=p_width,
            loss_mask=torch.cat(loss),
            texts=[t for b in batches for t in b.texts],
            truncated=torch.cat([b.truncated for b in batches]),
            sampling_logprobs=torch.cat(logps) if len(logps) == len(batches) else None,
            meta=dict(batches[0].meta),
        )


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding, as generate() assigns them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
