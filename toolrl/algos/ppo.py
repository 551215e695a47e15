"""PPO with a learned critic (Schulman et al. 2017): ToolRL's PPO baseline, as veRL trains it.

One call of :meth:`PPO.update` takes ``prompts_per_step * group_size`` sampled completions (one per
prompt by default) with their scalar rewards and does:

1. once per batch: old log-probs, reference log-probs (when ``kl_coef > 0``) and the critic's values
   ``V_old`` of every completion token (from the hidden state at the position that predicts it);
2. token rewards: the scalar reward on each sequence's last sampled token, minus ``β * KL_t`` on every
   sampled token, ``β`` from a fixed or adaptive (Ziegler et al.) controller;
3. GAE over the sampled tokens in order (tool observations, mask 0, are skipped), returns
   ``R = A + V_old``, advantages optionally whitened over the batch;
4. ``epochs`` passes over shuffled mini-batches: the clipped surrogate for the policy and the clipped
   value loss for the critic, each with its own AdamW and LR schedule. During the first
   ``critic_warmup_steps`` trainer steps only the critic learns (veRL's ``critic_warmup``).

The critic is a linear head (zero-initialised: ``V = 0`` at the start) on a copy of the policy's
backbone (``critic: separate``, no extra download) or on the policy's own backbone
(``critic: shared``: one forward pass gives logits and values, and ``vf_coef * value loss`` joins the
policy loss; the head keeps its own optimizer).

Simplifications: the KL to the reference enters the reward only (no KL loss term); the value loss is
reduced with the policy's ``loss_agg``; the critic shares ``max_grad_norm``, ``lr_scheduler`` and
``warmup_steps`` with the actor.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Dict, List, Optional, Sequence

import torch

from toolrl.algos.functional import (
    AdaptiveKLController,
    FixedKLController,
    aggregate_loss,
    clipped_surrogate,
    clipped_value_loss,
    explained_variance,
    gae_advantages,
    kl_estimate,
    masked_mean,
    masked_whiten,
    token_rewards,
)
from toolrl.algos.grpo import GRPO, _acc, _to, build_scheduler
from toolrl.rollout.batch import RolloutBatch, position_ids

CRITIC_MODES = ("separate", "shared")
KL_CONTROLLERS = ("fixed", "adaptive")


class ValueModel(torch.nn.Module):
    """A value head (hidden -> 1) with its own backbone, or none when it reads the policy's hidden states."""

    def __init__(self, backbone: Optional[torch.nn.Module], hidden_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def values(self, hidden: torch.Tensor) -> torch.Tensor:
        """[B, T, H] hidden states -> [B, T] values (computed in float32)."""
        return self.head(hidden.float()).squeeze(-1)


def build_critic(policy: torch.nn.Module, mode: str) -> ValueModel:
    """The critic of ``mode``: ``separate`` deep-copies the policy's backbone (decoder without LM head)."""
    if mode not in CRITIC_MODES:
        raise ValueError(f"algo.critic={mode!r}; choose one of {', '.join(CRITIC_MODES)}")
    backbone = copy.deepcopy(policy.get_decoder()) if mode == "separate" else None
    device = next(policy.parameters()).device
    return ValueModel(backbone, policy.config.hidden_size).to(device)


class PPO(GRPO):
    """PPO with a critic; reuses GRPO's optimizer set-up, forward passes, micro-batching and checkpoint keys."""

    def __init__(
        self,
        *,
        policy: torch.nn.Module,
        reference: Optional[torch.nn.Module] = None,
        total_steps: int,
        temperature: float = 1.0,
        norm_len: Optional[int] = None,
        name: str = "ppo",
        group_size: int = 1,
        prompts_per_step: int = 16,
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
        loss_agg: str = "token-mean",
        kl_coef: float = 0.001,
        kl_estimator: str = "k1",
        kl_ctrl: str = "fixed",
        target_kl: float = 0.1,
        kl_horizon: int = 10000,
        entropy_coef: float = 0.0,
        critic: str = "separate",
        critic_lr: float = 1e-5,
        critic_warmup_steps: int = 0,
        vf_coef: float = 0.5,
        cliprange_value: float = 0.5,
        gamma: float = 1.0,
        lam: float = 1.0,
        whiten_advantages: bool = True,
    ) -> None:
        if kl_ctrl not in KL_CONTROLLERS:
            raise ValueError(f"algo.kl_ctrl={kl_ctrl!r}; choose one of {', '.join(KL_CONTROLLERS)}")
        super().__init__(
            policy=policy, reference=reference, total_steps=total_steps, temperature=temperature, norm_len=norm_len,
            name=name, group_size=group_size, prompts_per_step=prompts_per_step, mini_batch_size=mini_batch_size,
            micro_batch_size=micro_batch_size, epochs=epochs, lr=lr, weight_decay=weight_decay, adam_betas=adam_betas,
            lr_scheduler=lr_scheduler, warmup_steps=warmup_steps, max_grad_norm=max_grad_norm, clip_low=clip_low,
            clip_high=clip_high, loss_agg=loss_agg, kl_coef=kl_coef, kl_estimator=kl_estimator, kl_in="reward",
            entropy_coef=entropy_coef,
        )
        self.shared = critic == "shared"
        self.critic = build_critic(policy, critic)
        self.critic_warmup_steps, self.vf_coef, self.cliprange_value = critic_warmup_steps, vf_coef, cliprange_value
        self.gamma, self.lam, self.whiten_advantages = gamma, lam, whiten_advantages
        self.kl_ctrl = (
            AdaptiveKLController(kl_coef, target_kl, kl_horizon) if kl_ctrl == "adaptive" else FixedKLController(kl_coef)
        )
        self.steps_done = 0  # trainer steps (update calls) so far: the critic warm-up counts them
        params = [p for p in self.critic.parameters() if p.requires_grad]
        self.critic_optimizer = torch.optim.AdamW(params, lr=critic_lr, betas=tuple(adam_betas), weight_decay=weight_decay)
        self.critic_scheduler = build_scheduler(
            self.critic_optimizer, lr_scheduler, warmup_steps, total_steps * self.updates_per_step
        )

    # ------------------------------------------------------------------ forward passes

    def _run(self, model, sub: RolloutBatch, **kwargs):
        return model(
            input_ids=sub.input_ids,
            attention_mask=sub.attention_mask,
            position_ids=position_ids(sub.attention_mask),
            use_cache=False,
            **kwargs,
        )

    def _forward(self, sub: RolloutBatch, with_actor: bool):
        """Values [b, T] of ``sub``'s completion tokens, and their log-probs and entropies when ``with_actor``.

        A value sits at the position whose hidden state predicts the token, as the logit does.
        """
        width = sub.input_ids.shape[1] - sub.prompt_len
        logp = ent = None
        if self.shared:
            out = self._run(self.policy, sub, logits_to_keep=width + 1 if with_actor else 1, output_hidden_states=True)
            hidden = out.hidden_states[-1][:, -(width + 1) : -1]
            if with_actor:
                logp, ent = self._score_logits(out.logits[:, :-1], sub, with_entropy=True)
            else:  # critic warm-up: the shared backbone belongs to the frozen policy
                hidden = hidden.detach()
        else:
            hidden = self._run(self.critic.backbone, sub).last_hidden_state[:, -(width + 1) : -1]
            if with_actor:
                logp, ent = self._logprobs(self.policy, sub, with_entropy=True)
        return logp, ent, self.critic.values(hidden)

    @torch.no_grad()
    def _batch_values(self, batch: RolloutBatch) -> torch.Tensor:
        out = torch.zeros(batch.loss_mask.shape, dtype=torch.float32)
        for start in range(0, len(batch), self.micro_batch_size):
            idx = list(range(start, min(start + self.micro_batch_size, len(batch))))
            _, _, values = self._forward(batch.select(idx), with_actor=False)
            out[idx, : values.shape[1]] = values.cpu()
        return out

    def _train_mode(self, on: bool) -> None:
        self.policy.train(on)
        self.critic.train(on)

    # ------------------------------------------------------------------ the update

    def update(self, batch: RolloutBatch, rewards: torch.Tensor) -> Dict[str, float]:
        device = next(self.policy.parameters()).device
        batch = _to(batch, device)
        mask = batch.loss_mask.float()
        rewards = rewards.to(device=device, dtype=torch.float32)
        metrics: Dict[str, float] = {}
        timings: Dict[str, float] = {}
        num_minibatches = math.ceil(len(batch) / self.mini_batch_size)
        train_actor = self.steps_done >= self.critic_warmup_steps
        on_policy = self.epochs == 1 and num_minibatches == 1
        need_old = (train_actor and not on_policy) or self.kl_coef > 0

        self._train_mode(False)
        t0 = time.perf_counter()
        old_logp = self._batch_logprobs(self.policy, batch).to(device) if need_old else None
        timings["timing/old_logprobs"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_logp = self._batch_logprobs(self.reference, batch).to(device) if self.kl_coef > 0 else None
        timings["timing/reference"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        old_values = self._batch_values(batch).to(device)
        timings["timing/values"] = time.perf_counter() - t0
        self._train_mode(True)

        adv, returns = self._advantages(rewards, mask, old_logp, ref_logp, old_values, metrics, len(batch))

        t0 = time.perf_counter()
        sums: Dict[str, float] = {}
        actor_norms: List[float] = []
        critic_norms: List[float] = []
        for _ in range(self.epochs):
            order = torch.randperm(len(batch)) if num_minibatches > 1 else torch.arange(len(batch))
            for mb in order.split(self.mini_batch_size):
                a, c = self._ppo_step(batch, mb.tolist(), adv, returns, old_values, mask, old_logp, sums, train_actor)
                actor_norms.append(a)
                critic_norms.append(c)
        timings["timing/update"] = time.perf_counter() - t0
        tokens = max(sums.pop("tokens"), 1.0)
        metrics.update({k: v / tokens for k, v in sums.items()})
        if train_actor:
            metrics["actor/grad_norm"] = sum(actor_norms) / len(actor_norms)
        metrics["actor/lr"] = self.scheduler.get_last_lr()[0]
        metrics["critic/grad_norm"] = sum(critic_norms) / len(critic_norms)
        metrics["critic/lr"] = self.critic_scheduler.get_last_lr()[0]
        metrics["critic/warmup"] = float(not train_actor)
        metrics.update(timings)
        self.steps_done += 1
        return metrics

    def _advantages(self, rewards, mask, old_logp, ref_logp, old_values, metrics: Dict[str, float], n: int):
        """Token rewards (KL in the reward), GAE, whitening; updates the KL controller and ``last_seq_advantages``."""
        token_kl = None
        metrics["actor/kl_coef"] = self.kl_ctrl.value
        if ref_logp is not None:
            token_kl = kl_estimate(old_logp, ref_logp, self.kl_estimator) * mask
            metrics["actor/kl_ref"] = float(masked_mean(token_kl, mask))
        scores = token_rewards(rewards, mask, token_kl, self.kl_ctrl.value)
        adv, returns = gae_advantages(scores, old_values, mask, self.gamma, self.lam)
        if self.whiten_advantages:
            adv = masked_whiten(adv, mask)
        if token_kl is not None:
            self.kl_ctrl.update(metrics["actor/kl_ref"], n)
        self.last_seq_advantages = masked_mean(adv, mask, dim=-1).detach().cpu()
        on = mask > 0
        if on.any():
            values = adv[on]
            metrics.update(
                {
                    "adv/mean": float(values.mean()),
                    "adv/std": float(values.std()) if values.numel() > 1 else 0.0,
                    "adv/min": float(values.min()),
                    "adv/max": float(values.max()),
                }
            )
        metrics["critic/values_mean"] = float(masked_mean(old_values, mask))
        metrics["critic/returns_mean"] = float(masked_mean(returns, mask))
        ev = explained_variance(old_values, returns, mask)
        if math.isfinite(ev):  # undefined when every return is equal (e.g. equal rewards, no KL yet)
            metrics["critic/explained_variance"] = ev
        return adv, returns

    def _ppo_step(self, batch, mb: List[int], adv, returns, old_values, mask, old_logp, sums, train_actor: bool):
        """One optimizer step of the critic (and of the policy when ``train_actor``); returns both grad norms."""
        self.optimizer.zero_grad(set_to_none=True)
        self.critic_optimizer.zero_grad(set_to_none=True)
        mb_tokens = float(mask[mb].sum().clamp(min=1.0))
        reduce = dict(num_tokens=mb_tokens, num_seqs=len(mb), norm_len=self.norm_len)
        for start in range(0, len(mb), self.micro_batch_size):
            idx = mb[start : start + self.micro_batch_size]
            sub = batch.select(idx)
            width = sub.loss_mask.shape[1]
            sub_mask = sub.loss_mask.float()
            logp, ent, values = self._forward(sub, with_actor=train_actor)
            vf, vf_clipped = clipped_value_loss(values, old_values[idx, :width], returns[idx, :width], self.cliprange_value)
            vf_loss = aggregate_loss(vf, sub_mask, self.loss_agg, **reduce)
            loss = self.vf_coef * vf_loss if self.shared else vf_loss
            n_tok = float(sub_mask.sum())
            if train_actor:
                old = old_logp[idx, :width] if old_logp is not None else logp.detach()
                pg, low, high = clipped_surrogate(logp, old, adv[idx, :width], self.clip_low, self.clip_high)
                loss_mat = pg - self.entropy_coef * ent if self.entropy_coef else pg
                loss = loss + aggregate_loss(loss_mat, sub_mask, self.loss_agg, **reduce)
                with torch.no_grad():
                    _acc(sums, "actor/pg_loss", float(masked_mean(pg, sub_mask)) * n_tok)
                    _acc(sums, "actor/loss", float(masked_mean(loss_mat, sub_mask)) * n_tok)
                    _acc(sums, "actor/entropy", float(masked_mean(ent, sub_mask)) * n_tok)
                    _acc(sums, "actor/clip_frac_low", float(masked_mean(low.float(), sub_mask)) * n_tok)
                    _acc(sums, "actor/clip_frac_high", float(masked_mean(high.float(), sub_mask)) * n_tok)
                    _acc(sums, "actor/approx_kl", float(masked_mean(kl_estimate(logp, old, "k3"), sub_mask)) * n_tok)
            loss.backward()
            _acc(sums, "tokens", n_tok)
            _acc(sums, "critic/value_loss", float(masked_mean(vf.detach(), sub_mask)) * n_tok)
            _acc(sums, "critic/vf_clipfrac", float(masked_mean(vf_clipped.float(), sub_mask)) * n_tok)
        limit = self.max_grad_norm if self.max_grad_norm > 0 else float("inf")
        critic_params = [p for p in self.critic.parameters() if p.requires_grad]
        critic_norm = float(torch.nn.utils.clip_grad_norm_(critic_params, limit))
        self.critic_optimizer.step()
        self.critic_scheduler.step()
        if not train_actor:
            return 0.0, critic_norm
        params = [p for p in self.policy.parameters() if p.requires_grad]
        actor_norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
        self.optimizer.step()
        self.scheduler.step()
        return actor_norm, critic_norm

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "critic": self.critic.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "critic_scheduler": self.critic_scheduler.state_dict(),
            "kl_coef": self.kl_ctrl.value,
            "steps_done": self.steps_done,
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.critic.load_state_dict(state["critic"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.critic_scheduler.load_state_dict(state["critic_scheduler"])
        self.kl_ctrl.value = state["kl_coef"]
        self.steps_done = state["steps_done"]
