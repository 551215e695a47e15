"""`toolrl`: commands other than training (training is `python train.py ...`).

    toolrl score --pred FILE_OR_TEXT --gold FILE_OR_TEXT [--reward finegrained] [--step 0] [overrides...]
    toolrl build-tokenizer --out DIR
    toolrl merge-lora CHECKPOINT_OR_RUN_DIR OUT_DIR [--base MODEL]
    toolrl info
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def _text(value: str) -> str:
    path = Path(value)
    return path.read_text() if len(value) < 4096 and path.is_file() else value.replace("\\n", "\n")


def compose(overrides: List[str], conf_dir: Optional[Path] = None):
    """The composed training config for ``overrides`` (as `python train.py` would build it)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from toolrl.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir or CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


def cmd_score(args: argparse.Namespace) -> int:
    from toolrl.rewards import from_config

    cfg = compose([f"reward={args.reward}", *args.overrides])
    fn = from_config(cfg.reward)
    result = fn(_text(args.pred), _text(args.gold), step=args.step, total_steps=args.total_steps)
    print(json.dumps({"total": result.total, "components": result.components, "scales": result.scales,
                      "exact_match": result.exact_match, "num_calls": result.num_calls,
                      "parse_error": result.parse_error}, indent=2))
    return 0


def cmd_build_tokenizer(args: argparse.Namespace) -> int:
    from toolrl.models import build_tokenizer

    return build_tokenizer.main(["--out", args.out])


def cmd_merge_lora(args: argparse.Namespace) -> int:
    from toolrl.models.lora import merge_lora

    out = merge_lora(args.checkpoint, args.out_dir, base=args.base)
    print(f"merged model written to {out} (load it with model.path={out} or AutoModelForCausalLM.from_pretrained)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import importlib.metadata as md

    import torch

    for pkg in ("toolrl", "torch", "transformers", "peft", "datasets", "hydra-core", "mlflow", "wandb", "vllm"):
        try:
            print(f"{pkg:14s} {md.version(pkg)}")
        except md.PackageNotFoundError:
            print(f"{pkg:14s} not installed")
    print(f"{'cuda':14s} {torch.cuda.is_available()} ({torch.cuda.device_count()} devices)")
    print(f"{'config dir':14s} {CONF_DIR}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="toolrl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score one prediction against a gold with a configured ToolRL reward")
    score.add_argument("--pred", required=True, help="prediction text, or a file holding it")
    score.add_argument("--gold", required=True, help="gold assistant text, or a file holding it")
    score.add_argument("--reward", default="finegrained", help="reward option (conf/reward/)")
    score.add_argument("--step", type=int, default=0, help="training step (for schedules)")
    score.add_argument("--total-steps", type=int, default=None, help="total training steps (for schedules)")
    score.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. reward/schedule=dynamic")
    score.set_defaults(fn=cmd_score)

    tok = sub.add_parser("build-tokenizer", help="rebuild the tiny model's offline tokenizer")
    tok.add_argument("--out", default=str(Path(__file__).parent / "assets" / "tiny_tokenizer"))
    tok.set_defaults(fn=cmd_build_tokenizer)

    merge = sub.add_parser("merge-lora", help="fold a LoRA checkpoint's adapter into its base and save a plain model")
    merge.add_argument("checkpoint", help="a LoRA checkpoint dir, or a run dir (its latest checkpoint)")
    merge.add_argument("out_dir", help="where to write the merged model and tokenizer")
    merge.add_argument("--base", default=None, help="base model (hub id or dir) instead of the one the run's config.yaml names")
    merge.set_defaults(fn=cmd_merge_lora)

    info = sub.add_parser("info", help="versions, devices and where the configs are")
    info.set_defaults(fn=cmd_info)

    from toolrl.compare.cli import register as register_compare  # `toolrl compare`: tables and curves of a sweep
    register_compare(sub)
    from toolrl.evaluation.cli import register as register_eval  # `toolrl eval`: benchmarks, `toolrl eval setup-bfcl`
    register_eval(sub)

    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
