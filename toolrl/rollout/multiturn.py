"""Multi-turn rollouts with executed tools: generate until a stop string, run the call, insert the
observation, continue. Engine-agnostic: any engine with ``continue_sequences`` (rollout/hf.py) works.

    rollout = MultiTurnRollout(HFRollout(...), PythonToolBackend(max_calls=1))
    batch = rollout.generate(prompts, n=16)        # same contract as HFRollout.generate

Per trajectory, a round is one continuation of its token sequence. A round ends at EOS (done), at the
response cap (done, truncated) or at one of the backend's stop strings, only while the trajectory has
stopped fewer than ``tool.max_calls`` times (the budget C; afterwards it generates without them). A
stopped round's calls (``tool.round_calls``) are submitted at once, from inside the engine's
generate() call when the engine reports stops as they happen, so programs run while the other rows
keep generating; trajectories whose results are back join the next chunk the engine generates. A
stopped round with nothing to run keeps its text and continues.

Token ids and masks. The ids trained on are the ids the engine sampled plus the observation's own
tokenisation, never a re-tokenisation of the whole text. After a call the context must read
``before + tool.continuation(before, stop, observations)`` (``before``: the round's text up to the stop
string). We keep the longest prefix of the round's sampled tokens whose text is a prefix of that
target (normally all of them, the stop string included: the policy chose to ask for the output) and
insert the tokenisation of the rest with loss mask 0 and attention 1. Offsets are per trajectory and
cumulative over rounds, so an observation's mask lands on the observation whatever round it is in.

The response cap counts every token after the prompt, observations included; an observation that does
not fit is cut and ends the trajectory (truncated).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch

from toolrl.rollout.batch import RolloutBatch
from toolrl.tools.base import Observation, ToolBackend

log = logging.getLogger(__name__)

SANDBOX_FAILURE_WARN = 0.1  # warn loudly when more than this share of a batch's calls failed in the executor
TAIL = 16  # context tokens decoded with a round so that its text starts as it reads in context


@dataclass
class _Pending:
    ids: List[int]  # the round's sampled tokens, up to and including the stop
    before: str  # the round's text before the stop string
    stop: str
    calls: List[dict]
    future: "Future[List[Observation]]"


@dataclass
class Trajectory:
    """One sample being generated: prompt, response ids and mask so far, and its tool rounds."""

    prompt: List[int]
    response: List[int] = field(default_factory=list)
    mask: List[int] = field(default_factory=list)  # 1: sampled, 0: inserted
    stops: int = 0  # rounds that ended at a stop string
    history: List[dict] = field(default_factory=list)  # calls run so far
    records: List[dict] = field(default_factory=list)  # one per executed round: calls and observations
    pending: Optional[_Pending] = None
    finish: Optional[str] = None  # "eos" | "length" once done
    turns: int = 0  # rounds generated

    @property
    def done(self) -> bool:
        return self.finish is not None


class MultiTurnRollout:
    def __init__(self, engine, tool: ToolBackend, *, max_response_tokens: Optional[int] = None) -> None:
        if not tool.executes:
            raise ValueError(f"tool backend {tool.name!r} does not execute calls: use the engine directly")
        self.engine, self.tool = engine, tool
        self.tokenizer = engine.tokenizer
        self.max_response_tokens = max_response_tokens or engine.max_new_tokens
        self._warned_roundtrip = False

    # the trainer reads these from its rollout engine
    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def temperature(self) -> float:
        return self.engine.temperature

    @property
    def max_new_tokens(self) -> int:
        return self.max_response_tokens

    @property
    def max_prompt_length(self) -> int:
        return self.engine.max_prompt_length

    def __getattr__(self, name: str):
        if name == "sync_weights" and "engine" in self.__dict__ and hasattr(self.engine, "sync_weights"):
            return self.engine.sync_weights  # engines with their own copy of the weights (rollout=vllm)
        raise AttributeError(name)

    # ------------------------------------------------------------------ the loop

    def generate(self, prompts: Sequence[str], n: int = 1, greedy: bool = False, desc: str = "generate") -> RolloutBatch:
        encoded = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        too_long = [i for i, ids in enumerate(encoded) if len(ids) > self.engine.max_prompt_length]
        if too_long:
            raise ValueError(
                f"prompts {too_long[:5]} exceed rollout.max_prompt_length={self.engine.max_prompt_length} tokens; "
                "filter them at load time or raise the limit"
            )
        trajs = [Trajectory(prompt=list(ids)) for ids in encoded for _ in range(n)]
        t_start, waited = time.perf_counter(), 0.0
        chunk = getattr(self.engine, "batch_size", len(trajs)) or len(trajs)
        while not all(t.done for t in trajs):
            self._collect(trajs, block=False)
            ready = [i for i, t in enumerate(trajs) if not t.done and t.pending is None]
            if not ready:
                t0 = time.perf_counter()
                self._collect(trajs, block=True)
                waited += time.perf_counter() - t0
                continue
            self._round(trajs, ready[:chunk], greedy)
        batch = self._assemble(trajs)
        batch.meta["metrics"] = self._metrics(trajs, batch, waited, time.perf_counter() - t_start)
        batch.meta["tool_rounds"] = [t.records for t in trajs]
        return batch

    def _round(self, trajs: List[Trajectory], rows: List[int], greedy: bool) -> None:
        """One engine call over ``rows``: continue each, submit calls as rows stop, then settle each row."""
        contexts = [trajs[i].prompt + trajs[i].response for i in rows]
        budgets = [self.max_response_tokens - len(trajs[i].response) for i in rows]
        stops = [self.tool.stop_strings if trajs[i].stops < self.tool.max_calls else () for i in rows]
        early: Dict[int, _Pending] = {}

        def on_stop(k: int, ids: List[int], stop: str) -> None:  # called from inside generate()
            early[k] = self._submit(trajs[rows[k]], ids, stop)

        outs = self.engine.continue_sequences(contexts, budgets, stops, greedy=greedy, on_stop=on_stop)
        for k, out in enumerate(outs):
            t = trajs[rows[k]]
            t.turns += 1
            if out.finish != "stop":
                self._append(t, out.ids, 1)
                t.finish = "eos" if out.finish == "eos" else "length"
                continue
            t.stops += 1
            pending = early.get(k)
            if pending is None or pending.ids != out.ids:  # an engine that does not report stops early
                pending = self._submit(t, out.ids, out.stop)
            if pending.future is None:  # nothing to run: keep the round as sampled and go on
                self._append(t, out.ids, 1)
                self._check_cap(t)
            else:
                t.pending = pending

    def _submit(self, t: Trajectory, ids: List[int], stop: str) -> _Pending:
        text = self._text_after(t.prompt + t.response, ids)
        at = text.find(stop)
        before = text[:at] if at >= 0 else text
        calls = self.tool.round_calls(before, stop)
        future = self.tool.submit(calls, list(t.history)) if calls else None
        return _Pending(ids=list(ids), before=before, stop=stop, calls=calls, future=future)

    def _collect(self, trajs: List[Trajectory], block: bool) -> None:
        """Insert the observations of every finished call (waiting for at least one when ``block``)."""
        pending = {t.pending.future: t for t in trajs if t.pending is not None}
        if not pending:
            return
        if block:
            wait(list(pending), return_when=FIRST_COMPLETED)
        for future, t in pending.items():
            if future.done():
                self._settle(t, future.result())

    def _settle(self, t: Trajectory, observations: List[Observation]) -> None:
        p, t.pending = t.pending, None
        context = t.prompt + t.response
        target = p.before + self.tool.continuation(p.before, p.stop, observations)
        keep = len(p.ids)
        while keep > 0 and not target.startswith(self._text_after(context, p.ids[:keep])):
            keep -= 1
        kept = p.ids[:keep]
        inserted_text = target[len(self._text_after(context, kept)) :]
        inserted = self.tokenizer(inserted_text, add_special_tokens=False)["input_ids"]
        if not self._warned_roundtrip and self._text_after(context + kept, inserted) != inserted_text:
            self._warned_roundtrip = True
            log.warning("the tokenizer does not decode an observation back to its text; the context may differ from it")
        self._append(t, kept, 1)
        self._append(t, inserted, 0)
        t.history.extend(p.calls)
        t.records.append(
            {
                "calls": p.calls,
                "observations": [o.text for o in observations],
                "error": any(o.error for o in observations),
                "timed_out": any(o.timed_out for o in observations),
                "sandbox_error": any(o.sandbox_error for o in observations),
                "seconds": sum(o.seconds for o in observations),
            }
        )
        self._check_cap(t)

    def _append(self, t: Trajectory, ids: List[int], mask: int) -> None:
        room = self.max_response_tokens - len(t.response)
        t.response += ids[:room]
        t.mask += [mask] * len(ids[:room])

    def _check_cap(self, t: Trajectory) -> None:
        if len(t.response) >= self.max_response_tokens:
            t.finish = "length"

    def _text_after(self, context: List[int], ids: List[int]) -> str:
        """The text ``ids`` add after ``context`` (decoded with the context's tail, so spacing reads as in context)."""
        tail = context[-TAIL:]
        full = self.tokenizer.decode(tail + list(ids))
        head = self.tokenizer.decode(tail)
        return full[len(head) :] if full.startswith(head) else self.tokenizer.decode(list(ids))

    # ------------------------------------------------------------------ batch and metrics

    def _assemble(self, trajs: List[Trajectory]) -> RolloutBatch:
        pad = self.engine.pad_id
        p_width = max(len(t.prompt) for t in trajs)
        t_width = max(1, max(len(t.response) for t in trajs))
        b = len(trajs)
        ids = torch.full((b, p_width + t_width), pad, dtype=torch.long)
        att = torch.zeros((b, p_width + t_width), dtype=torch.long)
        loss = torch.zeros((b, t_width), dtype=torch.long)
        truncated = torch.zeros(b, dtype=torch.bool)
        for i, t in enumerate(trajs):
            ids[i, p_width - len(t.prompt) : p_width] = torch.tensor(t.prompt, dtype=torch.long)
            att[i, p_width - len(t.prompt) : p_width] = 1
            n = len(t.response)
            ids[i, p_width : p_width + n] = torch.tensor(t.response, dtype=torch.long)
            att[i, p_width : p_width + n] = 1
            loss[i, :n] = torch.tensor(t.mask, dtype=torch.long)
            truncated[i] = t.finish == "length"
        texts = [self.tokenizer.decode(t.response, skip_special_tokens=True) for t in trajs]
        return RolloutBatch(ids, att, p_width, loss, texts, truncated)

    def _metrics(self, trajs: List[Trajectory], batch: RolloutBatch, waited: float, seconds: float) -> Dict[str, float]:
        b = max(len(trajs), 1)
        records = [r for t in trajs for r in t.records]
        calls = len(records)
        failures = sum(r["sandbox_error"] for r in records)
        timeouts = sum(r["timed_out"] for r in records)
        ok = sum(not r["error"] for r in records)
        tokens = float(batch.completion_attention.sum())
        observed = tokens - float(batch.loss_mask.sum())
        metrics = {
            "tools/calls_per_response": calls / b,
            "tools/responses_with_call": sum(bool(t.records) for t in trajs) / b,
            "tools/exec_ok_rate": ok / calls if calls else 0.0,
            "tools/exec_error_rate": (calls - ok) / calls if calls else 0.0,
            "tools/timeouts": float(timeouts),
            "tools/timeout_rate": timeouts / calls if calls else 0.0,
            "tools/sandbox_failures": float(failures),
            "tools/sandbox_failure_rate": failures / calls if calls else 0.0,
            "tools/stops_without_call": sum(t.stops - len(t.records) for t in trajs) / b,
            "tools/exec_seconds_mean": sum(r["seconds"] for r in records) / calls if calls else 0.0,
            "tools/exec_seconds_max": max((r["seconds"] for r in records), default=0.0),
            "tools/obs_token_share": observed / tokens if tokens else 0.0,
            "response/turns_mean": sum(t.turns for t in trajs) / b,
            "timing/tools_wait": waited,
            "timing/multiturn": seconds,
        }
        if calls and failures / calls > SANDBOX_FAILURE_WARN:
            examples = {r["observations"][0][:200] for r in records if r["sandbox_error"]}
            log.warning(
                "TOOL EXECUTOR FAILURES: %d of %d calls (%.0f%%) failed in the sandbox, not in the model's code; "
                "rewards that depend on tool output are unreliable. Examples: %s",
                failures, calls, 100 * failures / calls, sorted(examples)[:3],
            )
        return metrics
