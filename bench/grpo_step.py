"""Our GRPO step against TRL's GRPOTrainer on identical work, per phase and in total.

    python bench/grpo_step.py                  # KL off and on, 5 alternated repetitions
    python bench/grpo_step.py --quick          # 2 prompts x 4 samples x 16 tokens, 2 repetitions

The same config-built tiny Qwen2 (saved once; TRL loads it from disk, ours starts from the same
weights), the same ToolRL prompts (the first ``--prompts`` of the shipped sample, rendered by
toolrl), group size, max new tokens, learning rate, one optimizer step per training step, the
ToolRL fine-grained reward on both sides, and KL off (``beta=0``) then on (k3, coefficient 0.04).
TRL runs with ``loss_type=dapo`` (token mean, like ``algo.loss_agg=token-mean``), fp32, no vLLM.

Phases, defined the same way on both sides:
- generate: sampling (TRL: ``_generate``; ours: ``rollout.generate``), tokenization included;
- logprobs: gradient-free forward passes (reference; old log-probs when off-policy);
- reward: the reward function over the batch;
- update: the rest of the step (loss forward, backward, clipping, optimizer, bookkeeping);
- total: wall time of one step (TRL: from ``on_step_begin`` to ``on_step_end``; ours: ``Trainer.train_step``);
- total_cpu: the process's CPU time over the same span; with one torch thread it is the work done,
  and far steadier than wall time on a loaded machine.

TRL is a bench-only dependency (``pip install -e '.[bench]'``); without it the script times ours alone.
Each repetition runs one step of each side, alternating which goes first; the first is a warm-up.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List

import common  # noqa: F401  (puts the repo on sys.path)
from common import median, parser, quiet_transformers, report, reps_of, set_threads

PHASES = ("generate", "logprobs", "reward", "update", "total", "total_cpu")


def our_trainer(out: Path, prompts: int, group: int, new_tokens: int, kl: float, micro: int, model: str, lr: float):
    from toolrl.cli import compose
    from toolrl.config import validate
    from toolrl.trainer import PromptSampler, Trainer

    batch = prompts * group
    cfg = compose([
        f"output_dir={out}", "logger=none", "trainer.val_every=0", "trainer.val_at_start=false",
        "trainer.save_final=false", "trainer.device=cpu", "trainer.total_steps=1000", f"model={model}",
        f"algo.group_size={group}", f"algo.prompts_per_step={prompts}", f"algo.mini_batch_size={batch}",
        f"algo.micro_batch_size={micro}", f"algo.kl_coef={kl}", "algo.kl_estimator=k3", f"algo.lr={lr}",
        f"rollout.max_new_tokens={new_tokens}", f"rollout.batch_size={batch}", "rollout.progress=false",
    ])
    trainer = Trainer(cfg, validate(cfg))
    trainer.train = trainer.train[:prompts]  # the same prompts every step, as TRL's 4-row dataset
    trainer.sampler = PromptSampler(prompts, prompts, seed=0)
    return trainer


def our_step(trainer, step: int) -> Dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    m = trainer.train_step(step)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    logprobs = m["timing/old_logprobs"] + m["timing/reference"]
    out = {"generate": m["timing/generate"], "logprobs": logprobs, "reward": m["timing/reward"], "total": total,
           "total_cpu": cpu, "tokens": float(m["response/length_mean"])}
    out["update"] = total - out["generate"] - logprobs - out["reward"]
    return out


class TRLSide:
    """A GRPOTrainer whose phases are timed by wrapping its methods; ``step()`` runs one optimizer step."""

    def __init__(self, out: Path, model_dir: Path, tokenizer, examples, reward, group: int, new_tokens: int,
                 kl: float, lr: float) -> None:
        import torch
        from datasets import Dataset
        from transformers import TrainerCallback
        from trl import GRPOConfig, GRPOTrainer

        golds = [e.ground_truth for e, _ in examples]
        data = Dataset.from_dict({"prompt": [p for _, p in examples], "ground_truth": golds})

        def toolrl_reward(completions, ground_truth, **kwargs):
            return [reward(c, g, step=1, total_steps=1000).total for c, g in zip(completions, ground_truth)]

        args = GRPOConfig(
            output_dir=str(out), per_device_train_batch_size=len(examples) * group, num_generations=group,
            max_completion_length=new_tokens, beta=kl, learning_rate=lr, max_steps=1, logging_steps=10**6,
            save_strategy="no", report_to="none", use_cpu=True, bf16=False, disable_tqdm=True, temperature=1.0,
            top_p=1.0, top_k=0, seed=0, loss_type="dapo", gradient_accumulation_steps=1, log_completions=False,
            shuffle_dataset=False, dataloader_num_workers=0, max_grad_norm=1.0,
        )
        self.trainer = GRPOTrainer(model=str(model_dir), reward_funcs=toolrl_reward, args=args, train_dataset=data,
                                   processing_class=tokenizer)
        self.phase: Dict[str, float] = defaultdict(float)
        self.steps: List[Dict[str, float]] = []
        tr, phase = self.trainer, self.phase

        def timed(name, fn, only_without_grad=False):
            def wrapper(*a, **k):
                if only_without_grad and torch.is_grad_enabled():
                    return fn(*a, **k)
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    phase[name] += time.perf_counter() - t0
            return wrapper

        tr._generate = timed("generate", tr._generate)
        tr._get_per_token_logps_and_entropies = timed("logprobs", tr._get_per_token_logps_and_entropies, True)
        tr._calculate_rewards = timed("reward", tr._calculate_rewards)
        side = self

        class StepTimer(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                phase.clear()
                self.t0, self.c0 = time.perf_counter(), time.process_time()

            def on_step_end(self, args, state, control, **kwargs):
                step = {k: phase.get(k, 0.0) for k in ("generate", "logprobs", "reward")}
                step["tokens"] = float(tr._metrics["train"]["completions/mean_length"][-1])
                step["total"], step["total_cpu"] = time.perf_counter() - self.t0, time.process_time() - self.c0
                step["update"] = step["total"] - step["generate"] - step["logprobs"] - step["reward"]
                side.steps.append(step)

        tr.add_callback(StepTimer())
        from transformers.trainer_callback import PrinterCallback

        tr.remove_callback(PrinterCallback)  # it prints the metrics dict of every train() call

    def step(self) -> Dict[str, float]:
        self.trainer.train()
        return self.steps[-1]


def run_setting(args, kl: float, tmp: Path, reps: int) -> Dict[str, Any]:
    import torch

    ours = our_trainer(tmp / f"ours_kl{kl}", args.prompts, args.group, args.new_tokens, kl, args.micro or args.prompts * args.group,
                       args.model, args.lr)
    model_dir = tmp / f"model_kl{kl}"  # the same initial weights for both sides
    ours.model.save_pretrained(model_dir)
    ours.tokenizer.save_pretrained(model_dir)
    trl = None
    if not args.no_trl:
        try:
            trl = TRLSide(tmp / f"trl_kl{kl}", model_dir, ours.tokenizer, ours.train, ours.reward, args.group,
                          args.new_tokens, kl, args.lr)
        except ImportError as exc:
            print(f"TRL not installed ({exc}); timing ours alone. pip install -e '.[bench]'")
    samples: Dict[str, List[Dict[str, float]]] = {"ours": [], "trl": []}
    for rep in range(reps + 1):  # repetition 0 warms both up and is dropped
        order = ["ours", "trl"] if rep % 2 == 0 else ["trl", "ours"]
        for side in order:
            if side == "ours":
                torch.manual_seed(rep)
                s = our_step(ours, rep + 1)
            elif trl is not None:
                s = trl.step()
            else:
                continue
            if rep:
                samples[side].append(s)
    ours.tool.close()
    out: Dict[str, Any] = {}
    for side, steps in samples.items():
        if steps:
            out[side] = {p: median([s[p] for s in steps]) for p in (*PHASES, "tokens")}
    if trl is not None:
        out["ratio"] = {p: out["ours"][p] / out["trl"][p] if out["trl"][p] > 1e-4 else float("nan") for p in PHASES}
    return out


def main(argv=None) -> Dict[str, Any]:
    p = parser(__doc__.split("\n")[0], reps=5, quick_reps=2)
    p.add_argument("--prompts", type=int, default=None, help="prompts per step (default 4; --quick 2)")
    p.add_argument("--group", type=int, default=None, help="samples per prompt (default 8; --quick 4)")
    p.add_argument("--new-tokens", type=int, default=None, help="max new tokens (default 128; --quick 16)")
    p.add_argument("--micro", type=int, default=None, help="our micro-batch (default: the whole batch, as TRL's one pass)")
    p.add_argument("--kl", default="0,0.04", help="comma-separated KL coefficients (TRL's beta)")
    p.add_argument("--lr", type=float, default=1e-6, help="learning rate of both")
    p.add_argument("--model", default="tiny_random",
                   help="our conf/model option (tiny_random: never stops early, so both sides generate every token; "
                        "tiny: the SFT warm start; on a GPU the Qwen2.5 presets)")
    p.add_argument("--no-trl", action="store_true", help="time ours alone")
    args = p.parse_args(argv)
    args.prompts = args.prompts or (2 if args.quick else 4)
    args.group = args.group or (4 if args.quick else 8)
    args.new_tokens = args.new_tokens or (16 if args.quick else 128)
    reps = reps_of(args)
    set_threads(args)
    quiet_transformers()
    results: Dict[str, Any] = {"setup": {"prompts": args.prompts, "group": args.group, "new_tokens": args.new_tokens,
                                         "micro": args.micro or args.prompts * args.group, "model": args.model}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_grpo_") as tmp:
        for kl in [float(x) for x in args.kl.split(",")]:
            r = run_setting(args, kl, Path(tmp), reps)
            results[f"kl={kl:g}"] = r
            for phase in (*PHASES, "tokens"):
                ours = r["ours"][phase]
                trl = r.get("trl", {}).get(phase, float("nan"))
                rows.append([f"kl={kl:g}", phase, ours, trl, r.get("ratio", {}).get(phase, float("nan"))])
    try:
        import trl

        results["trl_version"] = trl.__version__
    except ImportError:
        results["trl_version"] = None
    notes = [f"{args.prompts} prompts x {args.group} samples, {args.new_tokens} new tokens, one optimizer step; "
             f"TRL {results['trl_version']}; ratio = ours / TRL (below 1: ours is faster); "
             "tokens: mean completion length per side (equal work when equal)"]
    report(args, "grpo_step", "GRPO step: toolrl vs TRL GRPOTrainer (seconds, median)",
           ["setting", "phase", "toolrl", "trl", "ratio"], rows, results, notes)
    return results


if __name__ == "__main__":
    main()
