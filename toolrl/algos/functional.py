"""The math of policy-gradient updates as pure tensor functions, each unit-tested by hand.

Shapes: ``B`` sequences, ``T`` completion tokens; ``mask`` is 1 on tokens the policy sampled (the
loss mask) and 0 on padding and on tokens it did not sample (tool observations).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

LOSS_AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: Optional[int] = None) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is 1; 0 where the mask is empty (never NaN)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def group_advantages(
    rewards: torch.Tensor, group_size: int, eps: float = 1e-6, scale_by_std: bool = True
) -> Tuple[torch.Tensor, torch.Tensor]:
    """GRPO's outcome advantages: ``(r - mean_group) / (std_group + eps)``, unbiased std (n-1) as ToolRL's code.

    ``rewards`` holds ``B = G * group_size`` values, groups contiguous. With ``scale_by_std=False``
    (Dr.GRPO) only the mean is subtracted. Returns the advantages and each group's std (``G`` values).
    """
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} do not split into groups of {group_size}")
    groups = rewards.view(-1, group_size).to(torch.float64)
    mean = groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True, unbiased=True) if group_size > 1 else torch.zeros_like(mean)
    adv = groups - mean
    if scale_by_std:
        adv = adv / (std + eps)
    return adv.view(-1).to(rewards.dtype), std.view(-1).to(rewards.dtype)


def rloo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO (Ahmadian et al. 2024): ``A_i = r_i - mean_{j != i} r_j`` within each group of ``group_size``.

    Equal to ``n / (n - 1) * (r_i - mean_group)``; no division by the std.
    """
    if rewards.ndim != 1 or rewards.numel() % group_size or group_size < 2:
        raise ValueError(f"rewards of shape {tuple(rewards.shape)} do not split into groups of {group_size} >= 2")
    groups = rewards.view(-1, group_size).to(torch.float64)
    others_mean = (groups.sum(dim=1, keepdim=True) - groups) / (group_size - 1)
    return (groups - others_mean).view(-1).to(rewards.dtype)


def token_rewards(rewards: torch.Tensor, mask: torch.Tensor, kl: Optional[torch.Tensor] = None, kl_coef: float = 0.0) -> torch.Tensor:
    """Per-token rewards [B, T]: ``-kl_coef * KL_t`` on every sampled token, the outcome reward added on the last one.

    Sequences with no sampled token get their outcome reward nowhere (they take no part in the loss).
    """
    mask = mask.to(torch.float32)
    out = torch.zeros_like(mask)
    if kl is not None and kl_coef:
        out = out - kl_coef * kl.to(torch.float32) * mask
    cols = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = torch.where(mask > 0, cols, torch.full_like(cols, -1)).max(dim=1).values  # [B], -1 when empty
    rows = (last >= 0).nonzero().squeeze(-1)
    out[rows, last[rows]] += rewards.to(torch.float32)[rows]
    return out


def returns_to_go(token_rewards: torch.Tensor) -> torch.Tensor:
    """Undiscounted (gamma = 1) return at each token: the sum of this and every later token's reward."""
    return token_rewards.flip(-1).cumsum(-1).flip(-1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` over every masked-in element of the whole tensor (population std); 0 off the mask."""
    mask = mask.to(x.dtype)
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) / (var.sqrt() + eps) * mask


def reinforce_pp_advantages(
    rewards: torch.Tensor,
    mask: torch.Tensor,
    kl: Optional[torch.Tensor] = None,
    kl_coef: float = 0.0,
    eps: float = 1e-6,
) -> torch.Tensor:
    """REINFORCE++ (Hu 2025): per-token advantages [B, T] = returns-to-go of the KL-penalised token rewards,
    whitened over all sampled tokens of the whole batch (no per-group baseline)."""
    return masked_whiten(returns_to_go(token_rewards(rewards, mask, kl, kl_coef)), mask, eps)


def overlong_penalty(lengths: torch.Tensor, max_len: int, buffer: int, factor: float) -> torch.Tensor:
    """DAPO's soft overlong punishment: 0 up to ``max_len - buffer`` tokens, then linear down to ``-factor`` at
    ``max_len`` (and ``-factor`` beyond it)."""
    lengths = lengths.to(torch.float32)
    if buffer <= 0:
        return torch.where(lengths >= max_len, -factor, 0.0)
    over = (lengths - (max_len - buffer)).clamp(min=0.0, max=float(buffer))
    return -factor * over / buffer


def kl_estimate(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from samples of the policy (Schulman's k1/k3)."""
    log_ratio = ref_logp - logp
    if kind == "k1":
        return -log_ratio
    if kind == "k3":
        return torch.exp(log_ratio) - log_ratio - 1.0
    raise ValueError(f"unknown KL estimator {kind!r}; choose k1 or k3")


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    clip_low: float,
    clip_high: float,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped objective as a per-token loss: ``-min(ρA, clip(ρ, 1-εl, 1+εh)A)``.

    ``advantages`` is per token ([B, T]) or per sequence ([B], broadcast). Also returns where the
    clip was active on each side: low (ρ < 1-εl with A < 0) and high (ρ > 1+εh with A > 0).
    """
    if advantages.ndim == logp.ndim - 1:
        advantages = advantages.unsqueeze(-1)
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * advantages
    loss = -torch.minimum(unclipped, clipped)
    low = (ratio < 1.0 - clip_low) & (advantages < 0)
    high = (ratio > 1.0 + clip_high) & (advantages > 0)
    return loss, low, high


def aggregate_loss(
    loss: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "token-mean",
    *,
    num_tokens: Optional[float] = None,
    num_seqs: Optional[float] = None,
    norm_len: Optional[float] = None,
) -> torch.Tensor:
    """Reduce a per-token loss [B, T] to a scalar.

    - ``token-mean``: sum over all tokens / number of tokens (DAPO, ToolRL's default).
    - ``seq-mean-token-mean``: mean over sequences of each sequence's token mean (the GRPO paper).
    - ``seq-mean-token-sum-norm``: mean over sequences of token sum / ``norm_len``, a constant such as
      the response-length cap (Dr.GRPO); defaults to T.

    ``num_tokens`` / ``num_seqs`` override the denominators so that micro-batches of one mini-batch,
    each reduced with the mini-batch's totals, sum to the mini-batch's loss (gradient accumulation).
    """
    mask = mask.to(loss.dtype)
    if mode == "token-mean":
        denom = num_tokens if num_tokens is not None else mask.sum().clamp(min=1.0)
        return (loss * mask).sum() / denom
    seqs = num_seqs if num_seqs is not None else loss.shape[0]
    if mode == "seq-mean-token-mean":
        per_seq = (loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        return per_seq.sum() / seqs
    if mode == "seq-mean-token-sum-norm":
        length = norm_len if norm_len is not None else loss.shape[-1]
        return ((loss * mask).sum(-1) / length).sum() / seqs
    raise ValueError(f"unknown loss aggregation {mode!r}; choose one of {', '.join(LOSS_AGG_MODES)}")


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of each token under ``logits`` ([B, T, V] -> [B, T]), without a [B, T, V] log-softmax copy."""
    logits = logits.float()
    picked = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution at each position ([B, T, V] -> [B, T])."""
    logits = logits.float()
    logz = torch.logsumexp(logits, dim=-1, keepdim=True)
    probs = torch.exp(logits - logz)
    return (logz.squeeze(-1) - (probs * logits).sum(-1))


# ----------------------------------------------------------------------------- PPO (critic, GAE, KL controllers)


def gae_advantages(
    token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over each row's masked tokens, in order ([B, T] -> adv, returns).

    Tokens with mask 0 (tool observations, padding) are not steps of the trajectory: the recursion
    ``δ_t = r_t + γ V_next - V_t``, ``A_t = δ_t + γλ A_next`` jumps over them, ``V_next`` being the value
    of the next *masked* token (0 after the last one). Returns are ``A + V``; both are 0 off the mask.
    """
    mask = mask.to(torch.float32)
    rewards, values = token_rewards.to(torch.float32), values.to(torch.float32)
    adv = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])
    next_adv = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        here = delta + gamma * lam * next_adv
        adv[:, t] = here * m
        next_adv = torch.where(m > 0, here, next_adv)
        next_value = torch.where(m > 0, values[:, t], next_value)
    return adv, (adv + values) * mask


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, cliprange: float
) -> Tuple[torch.Tensor, torch.Tensor]:
    """PPO's value loss per token, ``0.5 * max((V - R)^2, (clip(V, V_old ± c) - R)^2)``, and where the clipped term won."""
    clipped = old_values + (values - old_values).clamp(-cliprange, cliprange)
    plain, capped = (values - returns) ** 2, (clipped - returns) ** 2
    return 0.5 * torch.maximum(plain, capped), capped > plain


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """``1 - Var(R - V) / Var(R)`` over the masked tokens: 1 for a perfect critic, 0 for a constant one (nan if Var(R) = 0)."""
    mask = mask.to(torch.float32)
    var_r = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    diff = returns - values
    var_d = masked_mean((diff - masked_mean(diff, mask)) ** 2, mask)
    return float(1.0 - var_d / var_r) if var_r > 0 else float("nan")


class FixedKLController:
    """A constant KL-in-reward coefficient."""

    def __init__(self, kl_coef: float) -> None:
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Ziegler et al. (2019): ``β <- β (1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon)``.

    ``n`` is the number of sequences the KL was measured on and ``horizon`` is counted in sequences,
    so β moves by at most 20% per ``horizon`` sequences (veRL's and TRL's convention).
    """

    def __init__(self, kl_coef: float, target_kl: float, horizon: int) -> None:
        self.value, self.target, self.horizon = kl_coef, target_kl, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
