"""The RL trainer: one readable loop from a composed config to a tracked, checkpointed run.

    for step in 1..N:
        prompts  <- next prompts_per_step examples (reshuffled every epoch, seeded)
        batch    <- rollout.generate(prompts, n=group_size)
        rewards  <- reward(completion, gold, step)        # breakdown per component
        (dynamic sampling: keep groups whose rewards differ; resample draws more prompts)
        metrics  <- algo.update(batch, rewards)           # advantages, clipped loss, optimizer steps
        log; validate every val_every; checkpoint every save_every

This module is the composition root: it alone turns config nodes into objects (through
toolrl.build.instantiate); everything below it receives plain objects and values.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from toolrl import distributed as dist
from toolrl.build import instantiate
from toolrl.config import Config, validate

log = logging.getLogger("toolrl")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("trainer.device=cuda but no CUDA device is available; use trainer.device=auto or cpu")
    return torch.device(name)


def default_run_name(conf: Config) -> str:
    """``<algo>-<reward>[-<schedule>]-<model>[-<factor>=<value>...]-s<seed>``.

    The schedule appears for rewards that have one (not ToRL's outcome reward); a sweep's factors
    the name does not show yet are added (``-max_calls=2``, ``-scale=equal_max``).
    """
    from toolrl.compare.grouping import name_suffix

    schedule = getattr(getattr(conf.reward, "schedule", None), "name", None)
    parts = [p for p in (conf.algo.name, conf.reward.name, schedule, conf.model.name) if p]
    return "-".join([*parts, *name_suffix(conf, parts), f"s{conf.seed}"])


def run_tags(conf: Config) -> Dict[str, str]:
    from toolrl.compare.grouping import sweep_tags

    reward = conf.reward
    return {
        "algo": conf.algo.name,
        "reward": reward.name,
        "schedule": getattr(getattr(reward, "schedule", None), "name", "n/a"),
        "length": getattr(getattr(reward, "length", None), "name", "n/a"),
        "matching": getattr(reward, "matching", "n/a"),
        "model": conf.model.name,
        "data": conf.data.name,
        "rollout": conf.rollout.name,
        "tool": conf.tool.name,
        "seed": str(conf.seed),
        **sweep_tags(conf),  # sweep, sweep.id, sweep.factors, each factor's value, variant (toolrl.compare.grouping)
    }


def _merge_engine_metrics(rounds) -> Dict[str, float]:
    """Engine/tool metrics of several generate() calls, averaged with each call's sequence count as weight."""
    pairs = [(len(r.batch), r.batch.meta.get("metrics", {})) for r in rounds]
    out: Dict[str, float] = {}
    for key in {k for _, m in pairs for k in m}:
        have = [(n, m[key]) for n, m in pairs if key in m]
        out[key] = sum(n * v for n, v in have) / max(sum(n for n, _ in have), 1)
    return out


class PromptSampler:
    """Yields ``k`` example indices per step, walking a fresh seeded permutation every epoch."""

    def __init__(self, n: int, k: int, seed: int) -> None:
        self.n, self.k = n, k
        self.rng = np.random.RandomState(seed)
        self.order: List[int] = []
        self.epoch = 0

    def next(self) -> List[int]:
        out: List[int] = []
        while len(out) < self.k:
            if not self.order:
                self.order = self.rng.permutation(self.n).tolist()
                self.epoch += 1
            out.append(self.order.pop(0))
        return out

    def state_dict(self) -> Dict[str, Any]:
        return {"order": list(self.order), "epoch": self.epoch, "rng": self.rng.get_state()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.order, self.epoch = list(state["order"]), int(state["epoch"])
        self.rng.set_state(state["rng"])


def run(cfg: DictConfig) -> Optional[float]:
    """Train from a composed config; returns the last validation reward mean (for sweepers)."""
    conf = validate(cfg)
    if conf.model.init_stage and not conf.model.init_from:  # SFT -> RL in one command: train (or reuse) the stage first
        from toolrl.stages import ensure_stage

        cfg.model.init_from = str(ensure_stage(conf.model.init_stage, Path(conf.output_root)))
        conf = validate(cfg)
    from toolrl.config import SFTConfig

    try:
        if isinstance(conf.algo, SFTConfig):
            from toolrl.algos.sft import SFTTrainer

            result = SFTTrainer(cfg, conf).fit()
        else:
            result = Trainer(cfg, conf).fit()
    except BaseException:
        dist.teardown(wait=False)  # torchrun stops the other ranks; do not wait for them
        raise
    dist.teardown()
    return result


class Trainer:
    """The RL loop (GRPO, and any algorithm with the same update contract); SFTTrainer subclasses it."""

    progress_keys = {"reward": "reward/total/mean", "format": "reward/format_pass_rate"}  # shown on the bar
    step_size_key = "algo.prompts_per_step"  # the config key of examples_per_step(), named when it does not shard

    def __init__(self, cfg: DictConfig, conf: Config) -> None:
        from toolrl.data import load_examples, render_prompt
        from toolrl.models import load_model, load_tokenizer
        from toolrl.rewards import from_config
        from toolrl.resume import find_resume
        from toolrl.tracking import Trackers, build_trackers

        dist.init(conf.trainer.device)  # torchrun: join the process group (no-op on one process)
        self.conf = conf
        self.config_yaml = OmegaConf.to_yaml(cfg, resolve=True)
        # resume=auto|<path>: continue a killed run in its own directory (toolrl.resume); None = a fresh run
        self.resume_point = find_resume(
            conf.resume, yaml.safe_load(self.config_yaml), Path(conf.output_root), Path(conf.output_dir)
        )
        self.run_dir = self.resume_point.run_dir if self.resume_point else Path(conf.output_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(conf.seed + dist.rank())  # data parallel: each rank samples its own completions
        self.device = pick_device(conf.trainer.device)
        self.run_name = conf.run_name or default_run_name(conf)

        self.tokenizer = load_tokenizer(conf.model)
        train, val = load_examples(conf.data)
        self.train = self._fit_prompts(train, "train", render_prompt)
        self.val = self._fit_prompts(val, "validation", render_prompt)
        if not self.train:
            raise ValueError(f"data={conf.data.name}: no training example fits rollout.max_prompt_length")
        self.model = load_model(conf.model, self.tokenizer, seed=conf.seed, device=self.device)
        dist.broadcast_params(self.model)  # data parallel: every rank starts from rank 0's weights
        needs_ref = getattr(conf.algo, "kl_coef", 0.0) > 0
        if needs_ref and conf.model.lora.enabled:  # LoRA: the reference is the policy with its adapters off, no copy
            from toolrl.models.lora import AdapterDisabled

            self.reference = AdapterDisabled(self.model)
        else:
            self.reference = copy.deepcopy(self.model).eval().requires_grad_(False) if needs_ref else None

        self.reward = from_config(cfg.reward)
        self.tool = instantiate(cfg.tool)
        # rollout engine: the multi-turn loop wraps it when the tool backend executes calls
        self.rollout = instantiate(cfg.rollout, model=self.model, tokenizer=self.tokenizer)
        if self.tool.executes:
            from toolrl.rollout.multiturn import MultiTurnRollout

            self.rollout = MultiTurnRollout(self.rollout, self.tool)
        steps_per_epoch = math.ceil(len(self.train) / self.examples_per_step())
        self.total_steps = conf.trainer.total_steps or conf.trainer.epochs * steps_per_epoch
        self.algo = self.build_algo(cfg)
        self.sampler = PromptSampler(len(self.train), self.examples_per_step(), conf.seed)  # global list, same on every rank
        dist.check_config(self.examples_per_step(), self.step_size_key, self.algo)  # torchrun: refuse what cannot be exact
        self.trackers = build_trackers(
            conf.logger,
            run_name=self.run_name,
            tags=run_tags(conf),
            run_dir=self.run_dir,
            output_root=Path(conf.output_root),
            resume_ids=self.resume_point.trackers if self.resume_point else None,
        ) if dist.is_main() else Trackers([])  # data parallel: rank 0 alone tracks
        from toolrl.evaluation import bench_config

        self.benchmarks = [bench_config(e) for e in conf.trainer.eval]  # bad entries fail before training
        if self.resume_point is None and dist.is_main():  # a resumed run keeps its config.yaml and its trackers' params
            self.trackers.log_config(OmegaConf.to_container(cfg, resolve=True), self.config_yaml)
            (self.run_dir / "config.yaml").write_text(self.config_yaml)
        from toolrl.resume import write_run_record

        if dist.is_main():
            write_run_record(self.run_dir, status="RUNNING", trackers=self.trackers.run_ids)  # read by resume=auto
        n_params = sum(p.numel() for p in self.model.parameters())
        log.info(
            "run %s: %d train / %d validation prompts, %d steps, model %s (%.2fM params) on %s",
            self.run_name, len(self.train), len(self.val), self.total_steps, conf.model.name, n_params / 1e6, self.device,
        )
        # keep last: the RNG state a checkpoint restores is the one its next step started from
        self.start_step = self._restore(self.resume_point) if self.resume_point else 0
        if self.start_step and dist.world_size() > 1:  # a checkpoint holds rank 0's RNG: each rank its own again
            seed_everything(conf.seed + dist.rank() + 1000 * self.start_step)

    def _restore(self, point) -> int:
        """Weights, optimizer and scheduler, data position and RNG of a checkpoint; returns its step."""
        import datetime

        from toolrl.checkpoint import restore_weights, set_rng_state
        from toolrl.resume import read_run_record, write_run_record

        restore_weights(self.model, point.checkpoint)
        if hasattr(self.rollout, "sync_weights"):  # the engine started from the fresh weights
            self.rollout.sync_weights(self.model)
        self.algo.load_state_dict(point.state["algo"])
        self.sampler.load_state_dict(point.state["extra"]["sampler"])
        set_rng_state(point.state["rng"])
        here = Path(self.conf.output_dir)
        entry = {"step": point.step, "checkpoint": str(point.checkpoint), "session_dir": str(here),
                 "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        if dist.is_main():
            write_run_record(self.run_dir, resumes=[*read_run_record(self.run_dir).get("resumes", []), entry])
        if here.resolve() != self.run_dir.resolve() and here.is_dir():  # Hydra's folder of this command
            (here / "RESUMED.txt").write_text(f"This command resumed {self.run_dir} from {point.checkpoint}; "
                                              "its checkpoints and metrics went there.\n")
        log.info("resumed %s from %s: continuing at step %d of %d", self.run_dir, point.checkpoint.name,
                 point.step + 1, self.total_steps)
        return point.step

    def examples_per_step(self) -> int:
        return self.conf.algo.prompts_per_step

    def build_algo(self, cfg: DictConfig):
        return instantiate(
            cfg.algo,
            policy=self.model,
            reference=self.reference,
            total_steps=self.total_steps,
            temperature=self.rollout.temperature,
            norm_len=self.rollout.max_new_tokens,
        )

    def _fit_prompts(self, examples, split: str, render_prompt):
        prompts = [render_prompt(self.tokenizer, e) for e in examples]
        limit = self.conf.rollout.max_prompt_length
        lengths = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        kept = [(e, p) for e, p, n in zip(examples, prompts, lengths) if n <= limit]
        if len(kept) < len(examples):
            log.warning(
                "%s: dropped %d of %d prompts longer than rollout.max_prompt_length=%d tokens",
                split, len(examples) - len(kept), len(examples), limit,
            )
        return kept

    # ------------------------------------------------------------------ the loop

    def fit(self) -> Optional[float]:
        from tqdm.auto import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        from toolrl.resume import write_run_record

        status, last_val, saved = "FAILED", None, self.start_step  # a resumed run starts after its checkpoint
        try:
            if self.conf.trainer.val_at_start and self.conf.trainer.val_every and self.val and not self.start_step:
                last_val = self.validate(step=0)
            bar = tqdm(range(self.start_step + 1, self.total_steps + 1), desc="train", unit="step",
                       initial=self.start_step, total=self.total_steps, disable=not dist.is_main())
            redirect = logging_redirect_tqdm(loggers=[logging.getLogger()])
            redirect.__enter__()
            for step in bar:
                metrics = self.train_step(step)
                bar.set_postfix({name: f"{metrics[k]:.3f}" for name, k in self.progress_keys.items() if k in metrics})
                every = self.conf.trainer.val_every
                if self.val and every and (step % every == 0 or step == self.total_steps):
                    last_val = self.validate(step)
                bench_every = self.conf.trainer.eval_every or every
                if self.benchmarks and bench_every and (step % bench_every == 0 or step == self.total_steps):
                    self.evaluate_benchmarks(step)
                if self.conf.trainer.save_every and step % self.conf.trainer.save_every == 0:
                    self.save(step)
                    saved = step
            redirect.__exit__(None, None, None)
            if self.conf.trainer.save_final and saved != self.total_steps:
                self.save(self.total_steps)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self.trackers.close(status)
            self.tool.close()
            if dist.is_main():
                write_run_record(self.run_dir, status=status)
        if dist.is_main():
            print(f"\nRun finished: {self.run_dir}\n{self.trackers.where()}")
        return last_val

    def train_step(self, step: int) -> Dict[str, float]:
        from toolrl.algos.dynamic_sampling import ScoredGroups, collect_groups

        t_step = time.perf_counter()
        timings = {"timing/generate": 0.0, "timing/reward": 0.0}
        algo = self.conf.algo
        rounds, kept, sampling = collect_groups(
            lambda: self._generate_and_score(step, timings),
            getattr(algo, "dynamic_sampling", "none"),
            algo.prompts_per_step,
            getattr(algo, "max_resample_rounds", 0),
            pad_id=self.tokenizer.pad_token_id or 0,
        )
        if kept.num_groups:
            metrics = self.algo.update(kept.batch, kept.rewards)
            if hasattr(self.rollout, "sync_weights"):  # an engine holding its own copy of the weights (rollout=vllm)
                t_sync = time.perf_counter()
                self.rollout.sync_weights(self.model)
                metrics["timing/weight_sync"] = time.perf_counter() - t_sync
        else:  # dynamic sampling found no group whose rewards differ: nothing to learn from
            metrics = {}
            log.warning("step %d: every sampled group had equal rewards; update skipped", step)
        if sampling:
            metrics.update(sampling)
            metrics["sampling/skipped_update"] = float(not kept.num_groups)
        seen = rounds[0] if len(rounds) == 1 else ScoredGroups.concat(rounds, pad_id=self.tokenizer.pad_token_id or 0)
        batch = seen.batch
        gen_tokens = float(batch.loss_mask.sum())
        step_time = time.perf_counter() - t_step
        metrics.update(self._batch_metrics(seen.results, batch))  # every sampled response, kept or dropped
        metrics.update(_merge_engine_metrics(rounds))  # engine/tool metrics (e.g. executed calls, timeouts)
        t_gen = timings["timing/generate"]
        metrics.update(
            {
                **timings,
                "timing/step": step_time,
                "perf/generated_tokens_per_s": gen_tokens / max(t_gen, 1e-9),
                "perf/tokens_per_s": float(batch.attention_mask.sum()) / max(step_time, 1e-9),
                "train/epoch": float(self.sampler.epoch),
            }
        )
        metrics = dist.reduce_metrics(metrics)  # data parallel: one number per key over the ranks
        if step % self.conf.trainer.log_every == 0 or step == self.total_steps:
            self.trackers.log_metrics(metrics, step=step)
        every = self.conf.logger.samples_every
        if every and (step % every == 0 or step == 1):
            from toolrl.metrics import sample_rows

            shown = kept if kept.num_groups else seen
            adv = getattr(self.algo, "last_seq_advantages", None) if kept.num_groups else None
            if adv is None or len(adv) != len(shown.results):
                adv = torch.zeros(len(shown.results))
            expanded = [p for p in shown.prompts for _ in range(shown.group_size)]
            columns, rows = sample_rows(step, expanded, shown.batch.texts, shown.golds, shown.results, adv,
                                        self.conf.logger.num_samples)
            self.trackers.log_table("samples", columns, rows, step=step)
        log.info(
            "step %d/%d reward %.3f format %.2f correctness %.3f len %.1f (%.2fs)",
            step, self.total_steps, metrics["reward/total/mean"], metrics["reward/format_pass_rate"],
            metrics["reward/correctness/mean"], metrics["response/length_mean"], step_time,
        )
        return metrics

    def _generate_and_score(self, step: int, timings: Dict[str, float]):
        """Next ``prompts_per_step`` prompts, ``group_size`` responses each, and their rewards."""
        from toolrl.algos.dynamic_sampling import ScoredGroups

        picked = [self.train[i] for i in dist.shard(self.sampler.next())]  # data parallel: this rank's whole prompts
        examples, prompts = [e for e, _ in picked], [p for _, p in picked]
        n = self.conf.algo.group_size
        t0 = time.perf_counter()
        batch = self.rollout.generate(prompts, n=n, desc=f"step {step} generate")
        timings["timing/generate"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        golds = [e.ground_truth for e in examples for _ in range(n)]
        results = [self.reward(text, gold, step=step, total_steps=self.total_steps) for text, gold in zip(batch.texts, golds)]
        rewards = torch.tensor([r.total for r in results], dtype=torch.float32)
        timings["timing/reward"] += time.perf_counter() - t0
        return ScoredGroups(prompts, golds, batch, results, rewards, n)

    def _batch_metrics(self, results, batch, prefix: str = "reward") -> Dict[str, float]:
        from toolrl.metrics import response_metrics, reward_metrics

        out = reward_metrics(results, prefix=prefix)
        out.update(self.tool.stats(batch.texts))
        out.update(response_metrics(batch.response_lengths.float().cpu(), batch.truncated.cpu()))
        return out

    def validate(self, step: int) -> float:
        """Greedy generation on the validation split; logs eval/<data>/... and returns the mean total reward."""
        from toolrl.metrics import response_metrics, reward_metrics

        if not dist.is_main():  # data parallel: rank 0 validates; the others wait at their next collective
            return float("nan")

        t0 = time.perf_counter()
        size = self.conf.trainer.val_batch_size
        results, texts, lengths, truncated, engine = [], [], [], [], []
        for start in range(0, len(self.val), size):
            chunk = self.val[start : start + size]
            batch = self.rollout.generate([p for _, p in chunk], n=1, greedy=True, desc="validate")
            texts += batch.texts
            lengths.append(batch.response_lengths.cpu())
            truncated.append(batch.truncated.cpu())
            engine.append((len(chunk), batch.meta.get("metrics", {})))
            for (example, _), text in zip(chunk, batch.texts):
                results.append(self.reward(text, example.ground_truth, step=step, total_steps=self.total_steps))
        prefix = f"eval/{self.conf.data.name}"
        metrics = reward_metrics(results, prefix=prefix)
        metrics.update({f"{prefix}/{k}": v for k, v in self.tool.stats(texts).items()})
        metrics.update({f"{prefix}/{k}": v for k, v in response_metrics(torch.cat(lengths), torch.cat(truncated)).items()})
        for key in {k for _, m in engine for k in m}:  # engine/tool metrics, weighted by chunk size
            pairs = [(n, m[key]) for n, m in engine if key in m]
            metrics[f"{prefix}/{key}"] = sum(n * v for n, v in pairs) / max(sum(n for n, _ in pairs), 1)
        metrics[f"{prefix}/seconds"] = time.perf_counter() - t0
        self.trackers.log_metrics(metrics, step=step)
        value = metrics[f"{prefix}/total/mean"]
        log.info("validation at step %d: reward %.3f, format %.2f", step, value, metrics[f"{prefix}/format_pass_rate"])
        return value

    def evaluate_benchmarks(self, step: int) -> None:
        """Benchmarks of ``trainer.eval`` (BFCL, API-Bank, ...), logged as eval/<benchmark>/<metric>."""
        from toolrl.evaluation import run_benchmark

        if not dist.is_main():  # data parallel: rank 0 evaluates
            return

        for bench in self.benchmarks:
            run_benchmark(bench, self.model, self.tokenizer, self.rollout, step=step, trackers=self.trackers,
                          out_dir=self.run_dir / "eval" / bench.name / f"step_{step:06d}")

    def save(self, step: int) -> Optional[Path]:
        from toolrl.checkpoint import save_checkpoint

        if not dist.is_main():  # data parallel: the ranks hold the same weights; rank 0 writes them
            return None
        return save_checkpoint(
            self.run_dir, step, self.model, self.tokenizer, self.algo.state_dict(),
            extra={"sampler": self.sampler.state_dict(), "trackers": self.trackers.run_ids},
        )
