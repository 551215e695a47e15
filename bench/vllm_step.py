"""One GRPO step with rollout=hf, with rollout=vllm and with TRL's GRPOTrainer, on identical work, in one run.

    .venv-vllm/bin/python bench/vllm_step.py            # 4 prompts x 8 samples x 128 tokens, 3 repetitions
    .venv-vllm/bin/python bench/vllm_step.py --quick    # 2 x 4 x 16, 2 repetitions

Run it in the vLLM environment (docs/vllm.md; TRL there: ``pip install trl``). The work is that of
bench/grpo_step.py (same tiny model and weights, prompts, group, new tokens, reward, one optimizer step,
KL off); our two trainers differ only in ``rollout=``. Phases as in bench/grpo_step.py, plus ``sync`` (the
in-place weight sync into vLLM after the update, part of ``update`` and ``total``). Each repetition runs
one step of every side, rotating the order; repetition 0 is a warm-up and dropped.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import common  # noqa: F401  (puts the repo on sys.path)
from common import median, parser, quiet_transformers, report, reps_of, set_threads
from grpo_step import TRLSide

PHASES = ("generate", "logprobs", "reward", "update", "sync", "total")

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def trainer(rollout: str, out: Path, args):
    from toolrl.cli import compose
    from toolrl.config import validate
    from toolrl.trainer import PromptSampler, Trainer

    batch = args.prompts * args.group
    extra = [f"rollout.kv_cache_memory_bytes={args.kv_bytes}"] if rollout == "vllm" else []
    cfg = compose([
        f"output_dir={out}", "logger=none", "trainer.val_every=0", "trainer.val_at_start=false",
        "trainer.save_final=false", "trainer.device=cpu", "trainer.total_steps=1000", f"rollout={rollout}",
        f"algo.group_size={args.group}", f"algo.prompts_per_step={args.prompts}", f"algo.mini_batch_size={batch}",
        f"algo.micro_batch_size={batch}", "algo.kl_coef=0", f"algo.lr={args.lr}",
        f"rollout.max_new_tokens={args.new_tokens}", f"rollout.batch_size={batch}", "rollout.progress=false", *extra,
    ])
    t = Trainer(cfg, validate(cfg))
    t.train = t.train[: args.prompts]  # the same prompts every step
    t.sampler = PromptSampler(args.prompts, args.prompts, seed=0)
    return t


def step(t, n: int) -> Dict[str, float]:
    """One ``Trainer.train_step``, split into phases as bench/grpo_step.py does."""
    t0 = time.perf_counter()
    m = t.train_step(n)
    total = time.perf_counter() - t0
    out = {"generate": m["timing/generate"], "logprobs": m["timing/old_logprobs"] + m["timing/reference"],
           "reward": m["timing/reward"], "sync": m.get("timing/weight_sync", 0.0), "total": total}
    out["update"] = total - out["generate"] - out["logprobs"] - out["reward"]
    return out


def main(argv=None) -> Dict[str, Any]:
    import torch

    p = parser(__doc__.split("\n")[0], reps=3, quick_reps=2)
    p.add_argument("--prompts", type=int, default=None, help="prompts per step (default 4; --quick 2)")
    p.add_argument("--group", type=int, default=None, help="samples per prompt (default 8; --quick 4)")
    p.add_argument("--new-tokens", type=int, default=None, help="max new tokens (default 128; --quick 16)")
    p.add_argument("--lr", type=float, default=1e-6, help="learning rate")
    p.add_argument("--kv-bytes", type=int, default=256 * 2**20, help="vLLM KV cache (rollout.kv_cache_memory_bytes)")
    p.add_argument("--no-trl", action="store_true", help="time ours alone")
    args = p.parse_args(argv)
    args.prompts = args.prompts or (2 if args.quick else 4)
    args.group = args.group or (4 if args.quick else 8)
    args.new_tokens = args.new_tokens or (16 if args.quick else 128)
    reps = reps_of(args)
    set_threads(args)
    quiet_transformers()
    results: Dict[str, Any] = {"setup": {"prompts": args.prompts, "group": args.group, "new_tokens": args.new_tokens}}
    with tempfile.TemporaryDirectory(prefix="bench_vllm_") as tmp:
        tmp = Path(tmp)
        sides: Dict[str, Any] = {"hf": trainer("hf", tmp / "hf", args)}
        t0 = time.perf_counter()
        sides["vllm"] = trainer("vllm", tmp / "vllm", args)
        results["vllm_engine_start_s"] = time.perf_counter() - t0
        hf = sides["hf"]
        hf.model.save_pretrained(tmp / "model")  # TRL starts from the same weights
        hf.tokenizer.save_pretrained(tmp / "model")
        if not args.no_trl:
            try:
                sides["trl"] = TRLSide(tmp / "trl", tmp / "model", hf.tokenizer, hf.train, hf.reward, args.group,
                                       args.new_tokens, 0.0, args.lr)
            except ImportError as exc:
                print(f"TRL not installed ({exc}); timing ours alone")
        samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in sides}
        names = list(sides)
        for rep in range(reps + 1):
            order = names[rep % len(names):] + names[: rep % len(names)]
            for name in order:
                torch.manual_seed(rep)
                if name == "trl":
                    s = dict(sides[name].step(), sync=0.0)
                else:
                    s = step(sides[name], rep + 1)
                if rep:
                    samples[name].append(s)
        for name in ("hf", "vllm"):
            sides[name].tool.close()
    for name, steps in samples.items():
        results[name] = {ph: median([s[ph] for s in steps]) for ph in PHASES}
    if "trl" in results:
        results["vllm_over_trl_total"] = results["vllm"]["total"] / results["trl"]["total"]
    results["vllm_over_hf_total"] = results["vllm"]["total"] / results["hf"]["total"]
    results["vllm_over_hf_generate"] = results["vllm"]["generate"] / results["hf"]["generate"]
    rows = [[ph] + [f"{results[n][ph]:.3f}" for n in samples] for ph in PHASES]
    report(args, "vllm_step", "GRPO step: rollout=hf vs rollout=vllm vs TRL (seconds, medians)", ["phase", *samples],
           rows, results)
    return results


if __name__ == "__main__":
    main()
