"""Sampling with transformers' generate(): n samples per prompt, left padding, KV cache, stop at EOS.

Simplification: one generate() call per chunk of ``batch_size`` sequences; samples of one prompt
are contiguous (``[p0, p0, ..., p1, p1, ...]``), which is the group layout GRPO expects.

Shared prompt prefill: the ``n`` samples of a prompt start from the same tokens, so the prompt's KV
cache is computed once per distinct prompt in a chunk and copied to its rows before sampling
(``prefill_once``); docs/performance.md has what it saves.

:meth:`HFRollout.continue_sequences` is the primitive the multi-turn loop (rollout/multiturn.py)
drives: continue given token sequences until EOS, a per-row stop string or a per-row token budget,
calling back as soon as a row stops at a stop string (so its tool call can start while the other rows
of the chunk keep generating).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch

from toolrl.rollout.batch import RolloutBatch, position_ids

log = logging.getLogger(__name__)

OnStop = Callable[[int, List[int], str], None]  # (row index, new token ids up to the stop, the stop string)


@dataclass(frozen=True)
class Continuation:
    """What one row generated: its new token ids and why it ended."""

    ids: List[int]
    finish: str  # "eos" (ids end with it), "stop" (ids end with the token completing `stop`), "length"
    stop: Optional[str] = None


class _StopWatch:
    """A StoppingCriteria: ends a row at the first of its stop strings (found in its NEW tokens only)
    or at its token budget, and reports a stop at once through ``on_stop``."""

    def __init__(self, tokenizer, width: int, stops: Sequence[Sequence[str]], budgets: Sequence[int], on_stop) -> None:
        self.tokenizer, self.width = tokenizer, width
        self.stops, self.budgets, self.on_stop = [tuple(s) for s in stops], list(budgets), on_stop
        self.tail = max([len(x) for s in self.stops for x in s] or [0]) + 1  # tokens enough to hold any stop string
        self.stopped: dict = {}  # row -> (number of new tokens, stop string)

    def __call__(self, input_ids: torch.Tensor, scores=None, **kwargs) -> torch.Tensor:
        new = input_ids.shape[1] - self.width
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for row in self.stopped:
            done[row] = True
        watched = [row for row in range(input_ids.shape[0]) if row not in self.stopped and self.stops[row]]
        if watched and new > 0:
            start = max(self.width, input_ids.shape[1] - self.tail)
            tails = self.tokenizer.batch_decode(input_ids[watched, start:].tolist())
            for row, text in zip(watched, tails):
                hit = next((s for s in self.stops[row] if s in text), None)
                if hit is None:
                    continue
                self.stopped[row] = (new, hit)
                done[row] = True
                if self.on_stop is not None and new <= self.budgets[row]:
                    self.on_stop(row, input_ids[row, self.width :].tolist(), hit)
        for row in range(input_ids.shape[0]):
            done[row] |= new >= self.budgets[row]
        return done


def lengths_to_eos(new: torch.Tensor, eos_ids) -> torch.Tensor:
    """Tokens of each row of ``new`` [B, T] up to and including its first EOS (T when it has none), without a
    Python loop over tokens."""
    is_eos = torch.isin(new, torch.tensor(sorted(eos_ids), dtype=new.dtype, device=new.device))
    return torch.where(is_eos.any(-1), is_eos.int().argmax(-1) + 1, torch.full_like(new[:, 0], new.shape[1]))


class HFRollout:
    prefill_once = True  # one prompt prefill per distinct prompt of a chunk (False: transformers' own, per row)

    def __init__(
        self,
        *,
        model,
        tokenizer,
        name: str = "hf",
        max_prompt_length: int = 2048,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        batch_size: int = 32,
        progress: bool = True,
    ) -> None:
        if max_new_tokens <= 0 or batch_size <= 0:
            raise ValueError("rollout.max_new_tokens and rollout.batch_size must be > 0")
        self.model, self.tokenizer = model, tokenizer
        self.name = name
        self.max_prompt_length = max_prompt_length
        self.max_new_tokens = max_new_tokens
        self.temperature, self.top_p = temperature, top_p
        self.batch_size, self.progress = batch_size, progress
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self.eos_ids.add(tokenizer.eos_token_id)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def prompt_lengths(self, prompts: Sequence[str]) -> List[int]:
        return [len(ids) for ids in self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], n: int = 1, greedy: bool = False, desc: str = "generate") -> RolloutBatch:
        """Sample ``n`` completions of each prompt (greedy when ``greedy``); returns a RolloutBatch of len(prompts)*n rows."""
        from tqdm.auto import tqdm

        device = next(self.model.parameters()).device
        encoded = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        too_long = [i for i, ids in enumerate(encoded) if len(ids) > self.max_prompt_length]
        if too_long:
            raise ValueError(
                f"prompts {too_long[:5]} exceed rollout.max_prompt_length={self.max_prompt_length} tokens; "
                "filter them at load time or raise the limit"
            )
        rows = [ids for ids in encoded for _ in range(n)]
        was_training = self.model.training
        self.model.eval()
        chunks = []
        starts = range(0, len(rows), self.batch_size)
        bar = tqdm(starts, desc=desc, unit="chunk", disable=not self.progress or len(starts) < 2, leave=False)
        for start in bar:
            chunks.append(self._generate_chunk(rows[start : start + self.batch_size], greedy, device, share=n > 1))
        if was_training:
            self.model.train()
        return self._assemble(chunks, rows)

    def _generate_chunk(self, rows: List[List[int]], greedy: bool, device, max_new_tokens: Optional[int] = None,
                        watch: Optional[Callable[[int], _StopWatch]] = None, share: bool = False) -> List[List[int]]:
        """New tokens of each row, cut after its first EOS (``watch(width)`` builds an extra stopping criterion;
        ``share``: rows may repeat a prompt, whose prefill is then computed once)."""
        from transformers import StoppingCriteriaList

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        att = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            att[i, width - len(r) :] = 1
        kwargs = dict(
            max_new_tokens=max_new_tokens or self.max_new_tokens, pad_token_id=self.pad_id, eos_token_id=sorted(self.eos_ids)
        )
        if watch is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([watch(width)])
        if greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=0)
        if share and self.prefill_once:
            cache = self._shared_prefill(rows, ids, att, device)
            if cache is not None:
                kwargs["past_key_values"] = cache
        out = self.model.generate(input_ids=ids.to(device), attention_mask=att.to(device), use_cache=True, **kwargs)
        new = out[:, width:]
        return [row[:n] for row, n in zip(new.tolist(), lengths_to_eos(new, self.eos_ids).tolist())]

    def _shared_prefill(self, rows: List[List[int]], ids: torch.Tensor, att: torch.Tensor, device):
        """The KV cache of every row's prompt but its last token, computed once per distinct prompt and
        copied to the rows that repeat it; None when no prompt repeats. generate() then starts from it."""
        from transformers import DynamicCache

        first: dict = {}
        index = [first.setdefault(tuple(r), i) for i, r in enumerate(rows)]  # each row -> first row with its prompt
        distinct = sorted(set(index))
        if len(distinct) == len(rows) or ids.shape[1] < 2:
            return None
        position = {row: k for k, row in enumerate(distinct)}
        u_ids, u_att = ids[distinct, :-1], att[distinct, :-1]
        try:
            cache = DynamicCache(config=self.model.config)  # transformers >= 4.56: layer types from the config
        except TypeError:
            cache = DynamicCache()
        self.model(input_ids=u_ids.to(device), attention_mask=u_att.to(device), position_ids=position_ids(u_att).to(device),
                   past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache.reorder_cache(torch.tensor([position[i] for i in index], dtype=torch.long, device=device))
        return cache

    @torch.inference_mode()
    def continue_sequences(
        self,
        contexts: Sequence[List[int]],
        budgets: Sequence[int],
        stop_strings: Sequence[Sequence[str]],
        greedy: bool = False,
        on_stop: Optional[OnStop] = None,
    ) -> List[Continuation]:
        """Continue each token sequence until EOS, one of its stop strings, or its token budget.

        ``stop_strings[i]`` are row i's stop strings (matched in the new text; may be empty); the
        token completing one ends the row (``finish="stop"``) and ``on_stop(i, ids, stop)`` is called
        at once, from inside generate(), when that happens within the row's budget.
        """
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        results: List[Continuation] = []
        try:
            for start in range(0, len(contexts), self.batch_size):
                stop_ = slice(start, start + self.batch_size)
                rows, row_budgets, row_stops = list(contexts[stop_]), list(budgets[stop_]), list(stop_strings[stop_])
                watches: List[_StopWatch] = []

                def watch(width: int, offset: int = start) -> _StopWatch:
                    relay = None if on_stop is None else (lambda i, ids, s: on_stop(offset + i, ids, s))
                    watches.append(_StopWatch(self.tokenizer, width, row_stops, row_budgets, relay))
                    return watches[-1]

                outs = self._generate_chunk(rows, greedy, device, max(row_budgets), watch)
                for i, ids in enumerate(outs):
                    results.append(self._finish(ids, watches[0].stopped.get(i), row_budgets[i]))
        finally:
            if was_training:
                self.model.train()
        return results

    def _finish(self, ids: List[int], stopped, budget: int) -> Continuation:
        if stopped is not None and stopped[0] <= budget and (not ids or stopped[0] <= len(ids)):
            n, stop = stopped
            if not any(t in self.eos_ids for t in ids[: n - 1]):
                return Continuation(ids[:n], "stop", stop)
        if ids and ids[-1] in self.eos_ids and len(ids) <= budget:
            return Continuation(ids, "eos")
        return Continuation(ids[:budget], "length")

    def _assemble(self, chunks: List[List[List[int]]], prompts: List[List[int]]) -> RolloutBatch:
        completions = [c for chunk in chunks for c in chunk]
        p_width = max(len(p) for p in prompts)
        t_width = max(1, max(len(c) for c in completions))
        b = len(prompts)
        ids = torch.full((b, p_width + t_width), self.pad_id, dtype=torch.long)
        att = torch.zeros((b, p_width + t_width), dtype=torch.long)
        truncated = torch.zeros(b, dtype=torch.bool)
        for i, (p, c) in enumerate(zip(prompts, completions)):
            ids[i, p_width - len(p) : p_width] = torch.tensor(p, dtype=torch.long)
            att[i, p_width - len(p) : p_width] = 1
            ids[i, p_width : p_width + len(c)] = torch.tensor(c, dtype=torch.long)
            att[i, p_width : p_width + len(c)] = 1
            truncated[i] = len(c) == 0 or c[-1] not in self.eos_ids
        texts = [self.tokenizer.decode(c, skip_special_tokens=True) for c in completions]
        return RolloutBatch(
            input_ids=ids,
            attention_mask=att,
            prompt_len=p_width,
            loss_mask=att[:, p_width:].clone(),
            texts=texts,
            truncated=truncated,
        )
