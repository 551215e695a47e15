"""The framework's own share of a GRPO step: our step against the raw model calls it needs.

    python bench/overhead.py            # 4 prompts x 8 samples x 128 new tokens, KL off and on
    python bench/overhead.py --quick

"Raw" is the least the step could cost with the same model and the same batch, timed in the same
process right after each of our steps: ``model.generate`` on the same left-padded prompts (same
sampling settings and token budget), one gradient-free forward over the batch when KL is on (the
reference), one forward + backward over the batch with a trivial loss, gradient clipping and one
AdamW step. Overhead ratio = our step / raw sum (1.00: no framework cost at all); everything ours
does beyond the raw calls (rollout bookkeeping, reward, log-prob math, masks, metrics) is in it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import common  # noqa: F401
from common import median, parser, quiet_transformers, report, reps_of, set_threads
from grpo_step import our_step, our_trainer


def raw_step(trainer, prompts: List[str], group: int, new_tokens: int, kl: bool) -> Dict[str, float]:
    """The bare model calls of one step, on the same prompts and model (a scratch optimizer: the policy is untouched)."""
    import torch

    from toolrl.rollout.batch import position_ids

    model, tok = trainer.model, trainer.tokenizer
    rows = [ids for ids in tok(prompts, add_special_tokens=False)["input_ids"] for _ in range(group)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        att[i, width - len(r):] = 1
    out: Dict[str, float] = {}
    model.eval()
    t0 = time.perf_counter()
    with torch.inference_mode():
        seqs = model.generate(input_ids=ids, attention_mask=att, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                              max_new_tokens=new_tokens, pad_token_id=tok.pad_token_id,
                              eos_token_id=sorted(trainer.rollout.eos_ids))
    out["generate"] = time.perf_counter() - t0
    seqs = seqs.clone()  # an ordinary tensor: inference-mode ones cannot enter the backward pass
    full_att = torch.cat([att, torch.ones_like(seqs[:, width:])], dim=1)
    pos = position_ids(full_att)
    keep = seqs.shape[1] - width + 1
    t0 = time.perf_counter()
    if kl:
        with torch.inference_mode():
            trainer.reference(input_ids=seqs, attention_mask=full_att, position_ids=pos, logits_to_keep=keep, use_cache=False)
    out["logprobs"] = time.perf_counter() - t0
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    t0 = time.perf_counter()
    logits = model(input_ids=seqs, attention_mask=full_att, position_ids=pos, logits_to_keep=keep, use_cache=False).logits
    logits.float().mean().backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    saved = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=0.0)
    opt.step()
    with torch.no_grad():  # leave the policy exactly as it was
        for p, s in zip(params, saved):
            p.copy_(s)
    model.zero_grad(set_to_none=True)
    out["update"] = time.perf_counter() - t0
    out["total"] = out["generate"] + out["logprobs"] + out["update"]
    return out


def main(argv=None) -> Dict[str, Any]:
    p = parser(__doc__.split("\n")[0], reps=5, quick_reps=1)
    p.add_argument("--prompts", type=int, default=None, help="prompts per step (default 4; --quick 1)")
    p.add_argument("--group", type=int, default=None, help="samples per prompt (default 8; --quick 2)")
    p.add_argument("--new-tokens", type=int, default=None, help="max new tokens (default 128; --quick 4)")
    p.add_argument("--micro", type=int, default=None, help="our micro-batch (default: the whole batch)")
    p.add_argument("--kl", default="0,0.04", help="comma-separated KL coefficients")
    p.add_argument("--model", default="tiny_random", help="our conf/model option (tiny_random: every row runs to the cap)")
    args = p.parse_args(argv)
    args.prompts = args.prompts or (1 if args.quick else 4)
    args.group = args.group or (2 if args.quick else 8)
    args.new_tokens = args.new_tokens or (4 if args.quick else 128)
    set_threads(args)
    quiet_transformers()
    reps = reps_of(args)
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="bench_overhead_") as tmp:
        for kl in [float(x) for x in args.kl.split(",")]:
            trainer = our_trainer(Path(tmp) / f"kl{kl}", args.prompts, args.group, args.new_tokens, kl,
                                  args.micro or args.prompts * args.group, args.model, 1e-6)
            prompts = [p for _, p in trainer.train]
            ours, raw = [], []
            for rep in range(reps + 1):  # repetition 0 is a warm-up
                pair = [lambda: our_step(trainer, rep + 1), lambda: raw_step(trainer, prompts, args.group, args.new_tokens, kl > 0)]
                a, b = (pair if rep % 2 == 0 else pair[::-1])
                ra, rb = a(), b()
                o, r = (ra, rb) if rep % 2 == 0 else (rb, ra)
                if rep:
                    ours.append(o)
                    raw.append(r)
            trainer.tool.close()
            res = {}
            for phase in ("generate", "logprobs", "update", "total"):
                if phase == "update":  # ours: reward and bookkeeping count as the update's overhead
                    o = median([s["update"] + s["reward"] for s in ours])
                else:
                    o = median([s[phase] for s in ours])
                r = median([s[phase] for s in raw])
                ratio = o / r if r > 1e-4 else float("nan")
                res[phase] = {"ours": o, "raw": r, "ratio": ratio}
                rows.append([f"kl={kl:g}", phase, o, r, ratio])
            results[f"kl={kl:g}"] = res
    notes = [f"{args.prompts} prompts x {args.group} samples, {args.new_tokens} new tokens; "
             "ratio = toolrl / raw model calls (target <= 1.15); ours' update includes the reward"]
    report(args, "overhead", "Framework overhead: our GRPO step vs its raw model calls (seconds, median)",
           ["setting", "phase", "toolrl", "raw", "ratio"], rows, results, notes)
    return results


if __name__ == "__main__":
    main()
