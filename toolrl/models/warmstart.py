"""The warm-started tiny model (``model=tiny``): a short SFT on the synthetic tool-calling task, done on
first use and cached, so that RL on a CPU starts from a policy that already writes the format.

    path = ensure_warm_start(cfg.model)   # <cache_dir>/<recipe hash>/, a save_pretrained checkpoint

``model.warm_start.cache_dir`` is ``$TOOLRL_WARM_START_CACHE`` when set (tests share one cache that way),
else ``<output_root>/cache/tiny_warm`` (conf/model/tiny.yaml).

The recipe is ``model.warm_start`` (task, steps, batch, LR, seed), the tiny architecture, the tokenizer's
files (vocabulary and chat template), the task's rows themselves and :data:`VERSION` (bumped by hand when
the training code changes what it computes); its hash names the cache folder, so any change to the
recipe trains a new checkpoint and an unchanged one is reused. Training reuses toolrl.algos.sft
(``encode``, ``target_text``, the ``SFT`` update) in a plain loop: no trackers, no validation, no run
directory. It trains on the training split of the
task only (the split ``data=synthetic_tools`` uses), so the validation rows stay unseen.

Simplifications: the cache is never pruned (each recipe is ~5 MB); a file lock (``fcntl``, POSIX)
keeps concurrent jobs from training the same recipe twice, and the checkpoint appears by an atomic
rename, so a killed job leaves nothing half-written behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

import torch

if TYPE_CHECKING:
    from toolrl.config import ModelConfig

log = logging.getLogger("toolrl")

SECONDS_PER_EXAMPLE = 0.08  # one idle CPU core, ~340-token examples: only for the "first use, ~N s" message
RECIPE_FILE = "warm_start.json"
VERSION = 1  # bump when this module or toolrl.algos.sft change the weights a recipe gives: old caches are then unused
_NOT_RECIPE = ("threads", "cache_dir")  # speed and place, not weights


def recipe(cfg: "ModelConfig") -> Dict[str, Any]:
    """Everything the warm-started weights depend on, as plain JSON values."""
    from toolrl.data.sources import read_rows
    from toolrl.models.tokenizer import shipped_tokenizer_dir

    warm = {k: v for k, v in dataclasses.asdict(cfg.warm_start).items() if k not in _NOT_RECIPE}
    tiny = dataclasses.asdict(cfg.tiny)
    tok_dir = Path(tiny.pop("tokenizer") or shipped_tokenizer_dir())
    rows, _ = read_rows(cfg.warm_start.source)
    return {
        "version": VERSION,
        "warm_start": warm,
        "tiny": tiny,
        "dtype": cfg.dtype,
        "tokenizer": _digest(b"".join(p.name.encode() + b"\0" + p.read_bytes() for p in sorted(tok_dir.iterdir()) if p.is_file())),
        "rows": _digest(json.dumps(rows, sort_keys=True).encode()),
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def recipe_hash(cfg: "ModelConfig") -> str:
    return hashlib.sha256(json.dumps(recipe(cfg), sort_keys=True).encode()).hexdigest()[:12]


def ensure_warm_start(cfg: "ModelConfig", cache_root: Optional[Path] = None) -> Path:
    """The cached warm-start checkpoint of ``cfg`` (``model.warm_start``), trained first if absent."""
    root = Path(cache_root or cfg.warm_start.cache_dir).expanduser()
    final = root / recipe_hash(cfg)
    if (final / RECIPE_FILE).exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f"{final.name}.lock"):
        if (final / RECIPE_FILE).exists():  # another job trained it while this one waited
            return final
        warm = cfg.warm_start
        log.info("warm-starting the tiny model (first use, ~%.0f s), cached at %s",
                 warm.steps * warm.batch_size * SECONDS_PER_EXAMPLE, final)
        tmp = root / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        summary = train_warm_start(cfg, tmp)
        (tmp / RECIPE_FILE).write_text(json.dumps({"recipe": recipe(cfg), **summary}, indent=2) + "\n")
        tmp.rename(final)
        log.info("warm start done in %.0f s (train loss %.3f, token accuracy %.3f): %s",
                 summary["seconds"], summary["train/loss"], summary["train/token_accuracy"], final)
    return final


class file_lock:  # also used by toolrl.stages
    """An exclusive ``fcntl`` lock on ``path`` for the ``with`` block (blocks while another process holds it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> "file_lock":
        import fcntl

        self.file = open(self.path, "a+")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def train_warm_start(cfg: "ModelConfig", out: Path) -> Dict[str, float]:
    """SFT the seeded tiny model on the task's training split for ``warm_start.steps`` steps; save to ``out``."""
    from tqdm.auto import tqdm

    from toolrl.algos.sft import SFT, encode, target_text
    from toolrl.config import DataConfig
    from toolrl.data import load_examples, render_prompt
    from toolrl.models.loading import build_tiny
    from toolrl.models.tokenizer import load_tokenizer

    warm = cfg.warm_start
    t0 = time.perf_counter()
    random_init = dataclasses.replace(cfg, warm_start=None, init_from=None, path=None)
    tokenizer = load_tokenizer(random_init)
    data = DataConfig(name="warm_start", source=warm.source, val_fraction=warm.val_fraction, split_seed=warm.split_seed)
    train, _ = load_examples(data)
    rows = []
    for example in train:
        prompt = render_prompt(tokenizer, example)
        rows.append(encode(tokenizer, prompt, target_text(tokenizer, example.messages, prompt, example.ground_truth)))
    model = build_tiny(random_init, tokenizer, warm.seed)
    algo = SFT(policy=model, total_steps=warm.schedule_steps or warm.steps, batch_size=warm.batch_size, micro_batch_size=warm.batch_size,
               lr=warm.lr, lr_scheduler=warm.lr_scheduler, warmup_ratio=warm.warmup_ratio)
    order = random.Random(warm.seed)
    threads = torch.get_num_threads()
    if warm.threads:
        torch.set_num_threads(warm.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(warm.seed)
            bar = tqdm(range(warm.steps), desc="warm start", unit="step")
            for _ in bar:
                metrics = algo.update([rows[i] for i in order.sample(range(len(rows)), warm.batch_size)],
                                      tokenizer.pad_token_id)
                bar.set_postfix(loss=f"{metrics['train/loss']:.3f}", acc=f"{metrics['train/token_accuracy']:.3f}")
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return {"train/loss": metrics["train/loss"], "train/token_accuracy": metrics["train/token_accuracy"],
            "seconds": time.perf_counter() - t0, "examples": warm.steps * warm.batch_size}
