"""DAPO's dynamic sampling (Yu et al. 2025): train only on groups whose rewards differ.

A group whose ``group_size`` rewards are all equal has zero advantage under every group baseline
(grpo, rloo), so it adds no gradient and only shrinks the effective batch. ``drop`` removes such
groups from the step's batch; ``resample`` also draws more prompts (``prompts_per_step`` at a time)
and generates again until ``prompts_per_step`` informative groups are found or ``max_resample_rounds``
extra rounds have run. Surplus informative groups of the last round are left unused. The batch the
update sees is then whole groups only, possibly fewer than ``prompts_per_step`` (none at all: the
trainer skips the update).

Simplification: groups are judged on the reward's total (before any overlong penalty the algorithm
adds), as DAPO's recipe judges them on accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch

from toolrl.rollout.batch import RolloutBatch

MODES = ("none", "drop", "resample")


@dataclass
class ScoredGroups:
    """One generate-and-score round: ``len(prompts)`` groups of ``group_size`` contiguous sequences."""

    prompts: List[str]  # one per group
    golds: List[str]  # one per sequence
    batch: RolloutBatch
    results: list  # reward breakdowns, one per sequence
    rewards: torch.Tensor  # [B] totals
    group_size: int

    @property
    def num_groups(self) -> int:
        return len(self.prompts)

    def select_groups(self, groups: List[int]) -> "ScoredGroups":
        rows = [g * self.group_size + j for g in groups for j in range(self.group_size)]
        return ScoredGroups(
            prompts=[self.prompts[g] for g in groups],
            golds=[self.golds[i] for i in rows],
            batch=self.batch.select(rows),
            results=[self.results[i] for i in rows],
            rewards=self.rewards[rows],
            group_size=self.group_size,
        )

    @staticmethod
    def concat(parts: List["ScoredGroups"], pad_id: int = 0) -> "ScoredGroups":
        parts = [p for p in parts if p.num_groups] or parts[:1]
        return ScoredGroups(
            prompts=[x for p in parts for x in p.prompts],
            golds=[x for p in parts for x in p.golds],
            batch=RolloutBatch.concat([p.batch for p in parts], pad_id=pad_id),
            results=[x for p in parts for x in p.results],
            rewards=torch.cat([p.rewards for p in parts]),
            group_size=parts[0].group_size,
        )


def informative_groups(rewards: torch.Tensor, group_size: int) -> List[int]:
    """Indices of the groups whose rewards are not all equal."""
    groups = rewards.view(-1, group_size)
    return (groups.max(dim=1).values > groups.min(dim=1).values).nonzero().view(-1).tolist()


def collect_groups(
    draw: Callable[[], ScoredGroups],
    mode: str,
    want_groups: int,
    max_resample_rounds: int = 0,
    pad_id: int = 0,
) -> Tuple[List[ScoredGroups], ScoredGroups, Dict[str, float]]:
    """Draw rounds with ``draw`` and keep groups per ``mode``; returns every round, the kept groups and metrics.

    ``mode=none`` keeps the first round whole. Otherwise the kept groups are the first ``want_groups``
    informative ones (``num_groups == 0`` when there are none) and the metrics are
    ``sampling/kept_groups``, ``sampling/resample_rounds`` (extra rounds drawn) and
    ``sampling/dropped_frac`` (share of the drawn groups whose rewards were all equal).
    """
    if mode not in MODES:
        raise ValueError(f"algo.dynamic_sampling={mode!r}; choose one of {', '.join(MODES)}")
    first = draw()
    if mode == "none":
        return [first], first, {}
    rounds, kept, found, dropped = [first], [], 0, 0
    while True:
        scored = rounds[-1]
        useful = informative_groups(scored.rewards, scored.group_size)
        dropped += scored.num_groups - len(useful)
        take = useful[: want_groups - found]
        kept.append(scored.select_groups(take))
        found += len(take)
        if mode == "drop" or found >= want_groups or len(rounds) > max_resample_rounds:
            break
        rounds.append(draw())
    drawn = sum(r.num_groups for r in rounds)
    metrics = {
        "sampling/kept_groups": float(found),
        "sampling/resample_rounds": float(len(rounds) - 1),
        "sampling/dropped_frac": dropped / max(drawn, 1),
    }
    return rounds, ScoredGroups.concat(kept, pad_id=pad_id), metrics
