"""GRPO (Shao et al. 2024) as ToolRL trains with it, in one readable update.

One call of :meth:`GRPO.update` takes a batch of ``prompts_per_step * group_size`` sampled
completions with their scalar rewards (or fewer whole groups, after dynamic sampling) and does:

0. optional DAPO overlong handling: truncated responses out of the loss (``overlong=filter``) or a
   soft length penalty added to the reward (``overlong=penalty``);
1. old log-probs once per batch (skipped when the update is on-policy: one epoch and one
   mini-batch, where the ratio is exactly 1), and reference log-probs once when ``kl_coef > 0``;
2. optional in-reward KL (ToolRL's trainer): ``r <- r - kl_coef * sum_t KL_t``;
3. advantages (``adv_estimator``): group-normalised (grpo; Dr.GRPO with ``scale_by_std=false``),
   leave-one-out (rloo), both broadcast to every sampled token, or per-token returns whitened over
   the batch (reinforce_pp, where an in-reward KL is charged token by token);
4. ``epochs`` passes over shuffled mini-batches (the last one short when the batch does not divide),
   each one optimizer step accumulated over micro-batches with the mini-batch's loss denominators
   (so accumulation equals the full mini-batch);
5. gradient clipping, AdamW, LR schedule.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Dict, List, Optional, Sequence

import torch

from toolrl.algos.functional import (
    aggregate_loss,
    clipped_surrogate,
    entropy_from_logits,
    group_advantages,
    kl_estimate,
    masked_mean,
    overlong_penalty,
    reinforce_pp_advantages,
    rloo_advantages,
    token_logprobs,
)
from toolrl import distributed as dist
from toolrl.rollout.batch import RolloutBatch, position_ids

ADV_ESTIMATORS = ("grpo", "rloo", "reinforce_pp")


def build_scheduler(optimizer, kind: str, warmup_steps: int, total_steps: int):
    """Linear warm-up, then constant, linear or cosine decay to 0 at ``total_steps`` optimizer steps."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 1.0 - progress if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class GRPO:
    data_parallel = True  # update() sums gradients and loss denominators over torchrun ranks (toolrl.distributed)

    def __init__(
        self,
        *,
        policy: torch.nn.Module,
        reference: Optional[torch.nn.Module] = None,
        total_steps: int,
        temperature: float = 1.0,
        norm_len: Optional[int] = None,
        name: str = "grpo",
        group_size: int = 4,
        prompts_per_step: int = 4,
        mini_batch_size: int = 16,
        micro_batch_size: int = 4,
        epochs: int = 1,
        lr: float = 1e-6,
        weight_decay: float = 0.0,
        adam_betas: Sequence[float] = (0.9, 0.999),
        lr_scheduler: str = "constant",
        warmup_steps: int = 0,
        max_grad_norm: float = 1.0,
        clip_low: float = 0.2,
        clip_high: float = 0.2,
        adv_eps: float = 1e-6,
        scale_by_std: bool = True,
        loss_agg: str = "token-mean",
        kl_coef: float = 0.0,
        kl_estimator: str = "k3",
        kl_in: str = "loss",
        entropy_coef: float = 0.0,
        adv_estimator: str = "grpo",
        overlong: str = "none",
        overlong_buffer: Optional[int] = None,
        overlong_penalty_factor: float = 1.0,
        dynamic_sampling: str = "none",
        max_resample_rounds: int = 0,
    ) -> None:
        if kl_coef > 0 and reference is None:
            raise ValueError("algo.kl_coef > 0 needs a reference model")
        if adv_estimator not in ADV_ESTIMATORS:
            raise ValueError(f"algo.adv_estimator={adv_estimator!r}; choose one of {', '.join(ADV_ESTIMATORS)}")
        if overlong == "penalty" and norm_len is None:
            raise ValueError("algo.overlong=penalty needs norm_len (the response cap, rollout.max_new_tokens)")
        self.policy, self.reference = policy, reference
        self.name = name
        self.group_size, self.prompts_per_step = group_size, prompts_per_step
        self.mini_batch_size, self.micro_batch_size, self.epochs = mini_batch_size, micro_batch_size, epochs
        self.max_grad_norm = max_grad_norm
        self.clip_low, self.clip_high = clip_low, clip_high
        self.adv_eps, self.scale_by_std, self.loss_agg = adv_eps, scale_by_std, loss_agg
        self.kl_coef, self.kl_estimator, self.kl_in = kl_coef, kl_estimator, kl_in
        self.entropy_coef, self.temperature, self.norm_len = entropy_coef, temperature, norm_len
        self.adv_estimator = adv_estimator
        if overlong_buffer is None and norm_len is not None:
            overlong_buffer = norm_len // 5  # DAPO's ratio: 4096 of 20480 tokens
        self.overlong, self.overlong_buffer, self.overlong_penalty_factor = overlong, overlong_buffer, overlong_penalty_factor
        # read by the trainer's sampling loop (Trainer.train_step), not by the update
        self.dynamic_sampling, self.max_resample_rounds = dynamic_sampling, max_resample_rounds
        self.last_seq_advantages: Optional[torch.Tensor] = None  # [B] of the last update, for the samples table
        params = [p for p in policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, betas=tuple(adam_betas), weight_decay=weight_decay)
        batch = group_size * prompts_per_step
        self.updates_per_step = epochs * (batch // mini_batch_size)
        self.scheduler = build_scheduler(self.optimizer, lr_scheduler, warmup_steps, total_steps * self.updates_per_step)

    @property
    def batch_size(self) -> int:
        return self.group_size * self.prompts_per_step

    # ------------------------------------------------------------------ forward passes

    def _logprobs(self, model, sub: RolloutBatch, with_entropy: bool):
        width = sub.input_ids.shape[1] - sub.prompt_len
        out = model(
            input_ids=sub.input_ids,
            attention_mask=sub.attention_mask,
            position_ids=position_ids(sub.attention_mask),
            logits_to_keep=width + 1,
            use_cache=False,
        )
        return self._score_logits(out.logits[:, :-1], sub, with_entropy)

    def _score_logits(self, logits, sub: RolloutBatch, with_entropy: bool):
        """Log-probs (and entropies) of ``sub``'s completion tokens from the logits that predict them."""
        if self.temperature != 1.0:
            logits = logits / self.temperature
        logp = token_logprobs(logits, sub.completion_ids)
        if not with_entropy:
            return logp, None
        if self.entropy_coef:
            return logp, entropy_from_logits(logits)
        with torch.no_grad():  # logged only: keep it out of the autograd graph
            return logp, entropy_from_logits(logits)

    def _batch_logprobs(self, model, batch: RolloutBatch) -> torch.Tensor:
        """Log-probs of every completion token under ``model``, in length-bucketed micro-batches."""
        out = torch.zeros(batch.loss_mask.shape, dtype=torch.float32)
        rows = by_length(batch, list(range(len(batch))), self.micro_batch_size)
        for start in range(0, len(rows), self.micro_batch_size):
            idx = rows[start : start + self.micro_batch_size]
            with torch.inference_mode():  # no autograd bookkeeping; `out` stays a normal tensor
                logp, _ = self._logprobs(model, batch.select(idx), with_entropy=False)
            out[idx, : logp.shape[1]] = logp.float().cpu()
        return out

    # ------------------------------------------------------------------ the update

    def update(self, batch: RolloutBatch, rewards: torch.Tensor) -> Dict[str, float]:
        """One step on ``batch`` (whole groups, contiguous; any number of them: the last mini-batch may be short)."""
        device = next(self.policy.parameters()).device
        batch = _to(batch, device)
        metrics: Dict[str, float] = {}
        rewards = rewards.to(device=device, dtype=torch.float32)
        batch, rewards = self._overlong(batch, rewards, metrics)
        mask = batch.loss_mask.float()
        timings: Dict[str, float] = {}
        offset, global_rows = dist.row_offsets(len(batch))  # data parallel: this rank's rows of the global batch
        num_minibatches = math.ceil(global_rows / self.mini_batch_size)
        on_policy = self.epochs == 1 and num_minibatches == 1
        need_old = not on_policy or (self.kl_coef > 0 and self.kl_in == "reward")

        t0 = time.perf_counter()
        self.policy.eval()
        old_logp = self._batch_logprobs(self.policy, batch).to(device) if need_old else None
        timings["timing/old_logprobs"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_logp = self._batch_logprobs(self.reference, batch).to(device) if self.kl_coef > 0 else None
        timings["timing/reference"] = time.perf_counter() - t0
        self.policy.train()

        adv = self._advantages(rewards, mask, old_logp, ref_logp, metrics)

        t0 = time.perf_counter()
        sums: Dict[str, float] = {}
        grad_norms: List[float] = []
        for _ in range(self.epochs):
            order = torch.randperm(global_rows) if num_minibatches > 1 else torch.arange(global_rows)
            order = dist.broadcast_tensor(order)  # data parallel: every rank walks rank 0's global mini-batches
            for mb in order.split(self.mini_batch_size):
                own = dist.local_rows(mb.tolist(), offset, len(batch))  # the rows of this mini-batch this rank holds
                grad_norms.append(self._optimizer_step(batch, own, adv, mask, old_logp, ref_logp, sums, num_seqs=len(mb)))
        timings["timing/update"] = time.perf_counter() - t0
        sums = dist.sum_dict(sums)  # data parallel: token-weighted metrics over the global batch
        tokens = max(sums.pop("tokens"), 1.0)
        metrics.update({k: v / tokens for k, v in sums.items()})
        metrics["actor/grad_norm"] = sum(grad_norms) / len(grad_norms)
        metrics["actor/lr"] = self.scheduler.get_last_lr()[0]
        metrics.update(timings)
        return metrics

    def _overlong(self, batch: RolloutBatch, rewards: torch.Tensor, metrics: Dict[str, float]):
        """DAPO's overlong handling: ``filter`` masks truncated responses out of the loss (their rewards still
        count in the group baselines); ``penalty`` adds the soft length punishment to the reward."""
        if self.overlong == "filter":
            keep = (~batch.truncated.to(batch.loss_mask.device)).to(batch.loss_mask.dtype)
            metrics["overlong/filtered_frac"] = float(1.0 - keep.float().mean())
            batch = dataclasses.replace(batch, loss_mask=batch.loss_mask * keep.unsqueeze(-1))
        elif self.overlong == "penalty":
            penalty = overlong_penalty(batch.response_lengths, self.norm_len, self.overlong_buffer, self.overlong_penalty_factor)
            metrics["overlong/penalised_frac"] = float((penalty < 0).float().mean())
            metrics["overlong/penalty_mean"] = float(penalty.mean())
            rewards = rewards + penalty.to(rewards.device)
        return batch, rewards

    def _advantages(self, rewards, mask, old_logp, ref_logp, metrics: Dict[str, float]) -> torch.Tensor:
        """Advantages per sequence [B] (grpo, rloo) or per token [B, T] (reinforce_pp); sets ``last_seq_advantages``.

        With ``kl_in=reward`` the KL to the reference enters the reward: summed over the sequence for
        grpo/rloo (ToolRL's trainer), token by token for reinforce_pp.
        """
        token_kl = None
        if ref_logp is not None and self.kl_in == "reward":
            token_kl = kl_estimate(old_logp, ref_logp, self.kl_estimator) * mask
            metrics["actor/kl_ref"] = float(masked_mean(token_kl, mask))
            if self.adv_estimator != "reinforce_pp":
                rewards = rewards - self.kl_coef * token_kl.sum(-1)
        std = rewards.view(-1, self.group_size).std(dim=1)
        if self.adv_estimator == "grpo":
            adv, _ = group_advantages(rewards, self.group_size, self.adv_eps, self.scale_by_std)
            seq_adv, values = adv, adv
        elif self.adv_estimator == "rloo":
            adv = rloo_advantages(rewards, self.group_size)
            seq_adv, values = adv, adv
        else:
            adv = reinforce_pp_advantages(rewards, mask, token_kl, self.kl_coef, self.adv_eps)
            seq_adv, values = masked_mean(adv, mask, dim=-1), adv[mask > 0]
        self.last_seq_advantages = seq_adv.detach().cpu()
        if values.numel():
            metrics.update(
                {
                    "adv/mean": float(values.mean()),
                    "adv/std": float(values.std()) if values.numel() > 1 else 0.0,
                    "adv/min": float(values.min()),
                    "adv/max": float(values.max()),
                }
            )
        metrics["reward/zero_std_group_frac"] = float((std < 1e-8).float().mean())
        return adv

    def _optimizer_step(self, batch, mb: List[int], adv, mask, old_logp, ref_logp, sums, num_seqs: int) -> float:
        """One optimizer step on rows ``mb`` of this rank's batch, part of a global mini-batch of ``num_seqs``
        sequences (all of it on one process); the loss denominators are the global mini-batch's."""
        self.optimizer.zero_grad(set_to_none=True)
        mb_tokens = max(dist.sum_across(float(mask[mb].sum())), 1.0)
        mb = by_length(batch, mb, self.micro_batch_size)  # micro-batches of similar lengths: less padding
        for start in range(0, len(mb), self.micro_batch_size):
            idx = mb[start : start + self.micro_batch_size]
            sub = batch.select(idx)
            width = sub.loss_mask.shape[1]
            sub_mask = sub.loss_mask.float()
            logp, ent = self._logprobs(self.policy, sub, with_entropy=True)
            old = old_logp[idx, :width] if old_logp is not None else logp.detach()
            sub_adv = adv[idx, :width] if adv.ndim == 2 else adv[idx]  # per token (reinforce_pp) or per sequence
            pg, low, high = clipped_surrogate(logp, old, sub_adv, self.clip_low, self.clip_high)
            loss_mat = pg
            if sub.sampling_logprobs is not None:  # an engine that reports log-probs (rollout=vllm)
                loss_mat = _engine_correction(loss_mat, old, sub, sub_mask, sums)
            kl = None
            if ref_logp is not None:
                kl = kl_estimate(logp, ref_logp[idx, :width], self.kl_estimator)
                if self.kl_in == "loss":
                    loss_mat = loss_mat + self.kl_coef * kl
            if self.entropy_coef:
                loss_mat = loss_mat - self.entropy_coef * ent
            loss = aggregate_loss(
                loss_mat, sub_mask, self.loss_agg, num_tokens=mb_tokens, num_seqs=num_seqs, norm_len=self.norm_len
            )
            loss.backward()
            with torch.no_grad():
                n_tok = float(sub_mask.sum())
                _acc(sums, "tokens", n_tok)
                _acc(sums, "actor/pg_loss", float(masked_mean(pg, sub_mask)) * n_tok)
                _acc(sums, "actor/loss", float(masked_mean(loss_mat, sub_mask)) * n_tok)
                _acc(sums, "actor/entropy", float(masked_mean(ent, sub_mask)) * n_tok)
                _acc(sums, "actor/clip_frac_low", float(masked_mean(low.float(), sub_mask)) * n_tok)
                _acc(sums, "actor/clip_frac_high", float(masked_mean(high.float(), sub_mask)) * n_tok)
                _acc(sums, "actor/approx_kl", float(masked_mean(kl_estimate(logp, old, "k3"), sub_mask)) * n_tok)
                if kl is not None and self.kl_in == "loss":
                    _acc(sums, "actor/kl_ref", float(masked_mean(kl, sub_mask)) * n_tok)
        limit = self.max_grad_norm if self.max_grad_norm > 0 else float("inf")
        params = [p for p in self.policy.parameters() if p.requires_grad]
        dist.all_reduce_grads(params)  # data parallel: the global mini-batch's gradient, before clipping
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
        self.optimizer.step()
        self.scheduler.step()
        return grad_norm

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def by_length(batch: RolloutBatch, rows: List[int], micro_batch_size: int) -> List[int]:
    """``rows`` ordered by (prompt length, completion length), so that each micro-batch of
    ``micro_batch_size`` rows is trimmed of more padding by ``RolloutBatch.select``; unchanged when
    they fit in one micro-batch. Losses are sums over micro-batches, so the order changes no result."""
    if len(rows) <= micro_batch_size:
        return rows
    att = batch.attention_mask[rows]
    prompt = att[:, : batch.prompt_len].sum(-1).tolist()
    completion = att[:, batch.prompt_len :].sum(-1).tolist()
    return [r for _, _, r in sorted(zip(prompt, completion, rows))]


def _acc(sums: Dict[str, float], key: str, value: float) -> None:
    sums[key] = sums.get(key, 0.0) + value


def _engine_correction(loss_mat, old, sub: RolloutBatch, mask, sums: Dict[str, float]):
    """Log the gap between the trainer's log-probs at sampling time (``old``) and the engine's; with
    ``sub.meta["is_cap"] > 0`` weight each token by the truncated ratio min(exp(old - engine), is_cap)."""
    engine = sub.sampling_logprobs.to(old.device)[:, : old.shape[1]]
    diff = (old.detach() - engine).float()
    n_tok = float(mask.sum())
    _acc(sums, "rollout/logprob_diff_abs_mean", float(masked_mean(diff.abs(), mask)) * n_tok)
    _acc(sums, "rollout/logprob_diff_mean", float(masked_mean(diff, mask)) * n_tok)
    cap = float(sub.meta.get("is_cap", 0.0) or 0.0)
    if cap <= 0:
        return loss_mat
    weight = diff.exp().clamp(max=cap)
    _acc(sums, "rollout/is_weight_mean", float(masked_mean(weight, mask)) * n_tok)
    return loss_mat * weight


def _to(batch: RolloutBatch, device) -> RolloutBatch:
    if batch.input_ids.device == torch.device(device):
        return batch
    batch.input_ids = batch.input_ids.to(device)
    batch.attention_mask = batch.attention_mask.to(device)
    batch.loss_mask = batch.loss_mask.to(device)
    return batch
