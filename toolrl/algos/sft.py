"""Supervised fine-tuning on the gold assistant turns, the ToolRL SFT baselines (SFT400, SFT4k).

Each example becomes ``prompt ids + target ids``, where the target is the gold assistant turn as the
chat template closes it (``gold<|im_end|>`` for Qwen). Prompt and target are tokenised separately and
concatenated, so the loss mask is exact: only target tokens are trained on. The loss is the token
mean over each optimizer batch (micro-batches use the batch's token count, so accumulation equals
one big batch). Validation adds teacher-forced loss and token accuracy to the greedy-generation
reward metrics every RL run logs.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Dict, List, Sequence, Tuple

import torch

from toolrl import distributed as dist
from toolrl.algos.grpo import build_scheduler
from toolrl.trainer import Trainer

log = logging.getLogger("toolrl")


def target_text(tokenizer, messages: Sequence[dict], prompt: str, gold: str) -> str:
    """The text after ``prompt`` when the chat template renders the gold assistant turn (end-of-turn included)."""
    full = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": gold}], tokenize=False)
    if full.startswith(prompt):
        return full[len(prompt) :].rstrip("\n")
    return gold + (tokenizer.eos_token or "")


def encode(tokenizer, prompt: str, target: str) -> Tuple[List[int], List[int]]:
    """Token ids of prompt + target and the loss mask (1 on target tokens)."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    t = tokenizer(target, add_special_tokens=False)["input_ids"]
    return p + t, [0] * len(p) + [1] * len(t)


def collate(rows: Sequence[Tuple[List[int], List[int]]], pad_id: int) -> Dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    att = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, (row, m) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        att[i, : len(row)] = 1
        mask[i, : len(m)] = torch.tensor(m, dtype=torch.float32)
    return {"input_ids": ids, "attention_mask": att, "loss_mask": mask}


def token_loss(model, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token cross-entropy and correctness of the next-token predictions, and their mask ([B, L-1])."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
    logits = out.logits[:, :-1].float()
    labels = batch["input_ids"][:, 1:]
    mask = batch["loss_mask"][:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
    correct = (logits.argmax(-1) == labels).float()
    return ce, correct, mask


class SFT:
    data_parallel = True  # update() sums gradients and token counts over torchrun ranks (toolrl.distributed)

    def __init__(
        self,
        *,
        policy: torch.nn.Module,
        total_steps: int,
        name: str = "sft",
        batch_size: int = 8,
        micro_batch_size: int = 8,
        lr: float = 1e-5,
        weight_decay: float = 0.0,
        adam_betas: Sequence[float] = (0.9, 0.999),
        lr_scheduler: str = "cosine",
        warmup_ratio: float = 0.1,
        max_grad_norm: float = 1.0,
        max_length: int = 4096,
    ) -> None:
        self.policy, self.name = policy, name
        self.batch_size, self.micro_batch_size = batch_size, micro_batch_size
        self.max_grad_norm, self.max_length = max_grad_norm, max_length
        params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, betas=tuple(adam_betas), weight_decay=weight_decay)
        warmup = int(math.ceil(warmup_ratio * total_steps))
        self.scheduler = build_scheduler(self.optimizer, lr_scheduler, warmup, total_steps)

    def update(self, rows: Sequence[Tuple[List[int], List[int]]], pad_id: int) -> Dict[str, float]:
        """One optimizer step on ``rows`` (ids, loss mask), accumulated over micro-batches."""
        device = next(self.policy.parameters()).device
        self.policy.train()
        self.optimizer.zero_grad(set_to_none=True)
        tokens = dist.sum_across(float(sum(sum(m[1:]) for _, m in rows))) or 1.0  # data parallel: the global count
        loss_sum = correct_sum = 0.0
        for start in range(0, len(rows), self.micro_batch_size):
            batch = {k: v.to(device) for k, v in collate(rows[start : start + self.micro_batch_size], pad_id).items()}
            ce, correct, mask = token_loss(self.policy, batch)
            loss = (ce * mask).sum() / tokens
            loss.backward()
            loss_sum += float(loss.detach()) * tokens
            correct_sum += float((correct * mask).sum())
        limit = self.max_grad_norm if self.max_grad_norm > 0 else float("inf")
        params = [p for p in self.policy.parameters() if p.requires_grad]
        dist.all_reduce_grads(params)  # data parallel: the global batch's gradient, before clipping
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
        self.optimizer.step()
        self.scheduler.step()
        total = dist.sum_dict({"loss": loss_sum, "correct": correct_sum})
        loss_sum, correct_sum = total["loss"], total["correct"]
        return {
            "train/loss": loss_sum / tokens,
            "train/token_accuracy": correct_sum / tokens,
            "train/tokens": tokens,
            "actor/grad_norm": grad_norm,
            "actor/lr": self.scheduler.get_last_lr()[0],
        }

    @torch.no_grad()
    def evaluate(self, rows: Sequence[Tuple[List[int], List[int]]], pad_id: int) -> Dict[str, float]:
        """Teacher-forced loss and token accuracy on ``rows``."""
        device = next(self.policy.parameters()).device
        was_training = self.policy.training
        self.policy.eval()
        loss_sum = correct_sum = tokens = 0.0
        for start in range(0, len(rows), self.micro_batch_size):
            batch = {k: v.to(device) for k, v in collate(rows[start : start + self.micro_batch_size], pad_id).items()}
            ce, correct, mask = token_loss(self.policy, batch)
            loss_sum += float((ce * mask).sum())
            correct_sum += float((correct * mask).sum())
            tokens += float(mask.sum())
        self.policy.train(was_training)
        return {"loss": loss_sum / max(tokens, 1.0), "token_accuracy": correct_sum / max(tokens, 1.0)}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


class SFTTrainer(Trainer):
    """The SFT loop: the RL trainer's data, model, tracking, validation and checkpoints; a supervised step."""

    progress_keys = {"loss": "train/loss", "acc": "train/token_accuracy"}
    step_size_key = "algo.batch_size"

    def examples_per_step(self) -> int:
        return self.conf.algo.batch_size

    def build_algo(self, cfg):
        from toolrl.build import instantiate

        self.encoded = self._encode([e for e, _ in self.train], [p for _, p in self.train], "train")
        self.val_encoded = self._encode([e for e, _ in self.val], [p for _, p in self.val], "validation")
        return instantiate(cfg.algo, policy=self.model, total_steps=self.total_steps)

    def _encode(self, examples, prompts, split: str):
        limit = self.conf.algo.max_length
        rows = [encode(self.tokenizer, p, target_text(self.tokenizer, e.messages, p, e.ground_truth)) for e, p in zip(examples, prompts)]
        long = sum(len(ids) > limit for ids, _ in rows)
        if long:
            log.warning("%s: %d of %d examples exceed algo.max_length=%d tokens and are truncated", split, long, len(rows), limit)
        return [(ids[:limit], mask[:limit]) for ids, mask in rows]

    def train_step(self, step: int) -> Dict[str, float]:
        t0 = time.perf_counter()
        rows = [self.encoded[i] for i in dist.shard(self.sampler.next(), self.step_size_key)]  # this rank's rows
        metrics = self.algo.update(rows, self.tokenizer.pad_token_id)
        elapsed = time.perf_counter() - t0
        metrics.update(
            {
                "timing/update": elapsed,
                "timing/step": elapsed,
                "perf/tokens_per_s": sum(len(ids) for ids, _ in rows) / max(elapsed, 1e-9),
                "train/epoch": float(self.sampler.epoch),
            }
        )
        metrics = dist.reduce_metrics(metrics)  # data parallel: one number per key over the ranks
        if step % self.conf.trainer.log_every == 0 or step == self.total_steps:
            self.trackers.log_metrics(metrics, step=step)
        log.info("step %d/%d loss %.4f token accuracy %.3f (%.2fs)", step, self.total_steps,
                 metrics["train/loss"], metrics["train/token_accuracy"], elapsed)
        return metrics

    def validate(self, step: int) -> float:
        if self.val_encoded and dist.is_main():  # data parallel: rank 0 validates
            scores = self.algo.evaluate(self.val_encoded, self.tokenizer.pad_token_id)
            prefix = f"eval/{self.conf.data.name}"
            self.trackers.log_metrics({f"{prefix}/{k}": v for k, v in scores.items()}, step=step)
            log.info("validation at step %d: loss %.4f, token accuracy %.3f", step, scores["loss"], scores["token_accuracy"])
        return super().validate(step)
