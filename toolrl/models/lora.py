"""LoRA through PEFT for every algorithm: ``model.lora.enabled=true``.

- :func:`apply_lora` wraps the loaded policy in a ``PeftModel``; only the adapters (and the biases
  ``model.lora.bias`` names) require grad, so the algorithms' optimizers, which take the parameters
  that require grad, train the adapters alone.
- :class:`AdapterDisabled` is the reference policy of a LoRA run: the policy's own forward with the
  adapters switched off, under ``no_grad``. No second copy of the weights is made.
- A checkpoint of a LoRA run holds the adapter only (``adapter_model.safetensors`` and
  ``adapter_config.json``, as ``PeftModel.save_pretrained`` writes them). Its base is rebuilt from the
  run's ``config.yaml`` beside ``checkpoints/`` (the tiny model from its seed, a hub model from its
  id, a chain of ``model.init_from`` from its start), else from ``base_model_name_or_path`` in the
  adapter config. :func:`load_merged` does that and folds the adapter in: ``model.init_from`` with a
  LoRA run starts from the merged model (SFT with LoRA -> GRPO, with or without a new adapter), and
  ``toolrl merge-lora`` (:func:`merge_lora`) exports it as a plain transformers model.

Simplification: one adapter per model (PEFT's ``default``); a new run on top of a LoRA run merges the
old adapter into its base first, so the reference of that run is the merged model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Tuple

import torch

from toolrl.config import ConfigError
from toolrl.models.errors import ModelLoadError

if TYPE_CHECKING:
    from toolrl.config import LoraConfig, ModelConfig

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"


def apply_lora(model: Any, cfg: "LoraConfig") -> Any:
    """``model`` with LoRA adapters on ``cfg.target_modules`` (a ``PeftModel``; only adapters train)."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_cfg = PeftLoraConfig(
        task_type="CAUSAL_LM",
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        bias=cfg.bias,
    )
    try:
        model = get_peft_model(model, peft_cfg)
    except ValueError as exc:  # "Target modules {...} not found in the base model"
        names = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        raise ConfigError(
            f"model.lora.target_modules={list(cfg.target_modules)} does not match the model's layers "
            f"(its linear layers: {', '.join(names)}): {exc}"
        ) from None
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log.info("LoRA r=%d alpha=%g on %s: %d of %d parameters train (%.2f%%)",
             cfg.r, cfg.alpha, ",".join(cfg.target_modules), trainable, total, 100.0 * trainable / max(total, 1))
    return model


class AdapterDisabled:
    """The reference policy of a LoRA run: ``policy(...)`` with its adapters off, in eval mode, without grad.

    It owns no weights: ``eval()``/``train()`` leave the policy alone and ``parameters()`` are the
    policy's (for device look-ups).
    """

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        was_training = self.policy.training
        self.policy.eval()
        try:
            with torch.no_grad(), self.policy.disable_adapter():
                return self.policy(*args, **kwargs)
        finally:
            self.policy.train(was_training)

    def eval(self) -> "AdapterDisabled":
        return self

    def train(self, mode: bool = True) -> "AdapterDisabled":
        return self

    def parameters(self):
        return self.policy.parameters()


# ----------------------------------------------------------------------------- adapter checkpoints


def adapter_checkpoint(path: str) -> Optional[Path]:
    """The LoRA checkpoint ``path`` names (the checkpoint itself, or a run dir's latest), or None when it is not one."""
    from toolrl.checkpoint import latest_checkpoint

    where = Path(path).expanduser()
    if (where / ADAPTER_CONFIG).exists():
        return where
    latest = latest_checkpoint(where) if where.is_dir() else None
    return latest if latest is not None and (latest / ADAPTER_CONFIG).exists() else None


def run_model_config(checkpoint: Path) -> Optional[Tuple["ModelConfig", int]]:
    """``(ModelConfig, seed)`` of the run that wrote ``checkpoint``, from ``<run>/config.yaml``; None without it."""
    from omegaconf import OmegaConf

    from toolrl.config import ModelConfig

    saved = Path(checkpoint).parent.parent / "config.yaml"
    if not saved.exists():
        return None
    run = OmegaConf.load(saved)
    model = OmegaConf.merge(OmegaConf.structured(ModelConfig), run.model)
    return OmegaConf.to_object(model), int(run.get("seed", 0))


def base_config(checkpoint: Path, like: Optional["ModelConfig"] = None) -> Tuple["ModelConfig", int]:
    """``(ModelConfig, seed)`` that rebuilds the base of a LoRA checkpoint, its adapter off.

    ``like`` (the config of the run loading it) gives dtype and attention implementation.
    """
    from toolrl.config import LoraConfig, ModelConfig

    found = run_model_config(checkpoint)
    if found is not None:
        cfg, seed = found
    else:
        meta = json.loads((Path(checkpoint) / ADAPTER_CONFIG).read_text())
        path = meta.get("base_model_name_or_path")
        if not path:
            raise ModelLoadError(
                f"{checkpoint}: a LoRA checkpoint without its run's config.yaml (expected at "
                f"{Path(checkpoint).parent.parent / 'config.yaml'}) nor base_model_name_or_path in {ADAPTER_CONFIG}; "
                "the base model cannot be rebuilt (toolrl merge-lora takes --base PATH)"
            )
        cfg, seed = ModelConfig(name=Path(path).name, path=path), 0
    cfg = dataclasses.replace(cfg, lora=LoraConfig(enabled=False), gradient_checkpointing=False)
    if like is not None:
        cfg = dataclasses.replace(cfg, dtype=like.dtype, attn_implementation=like.attn_implementation)
    return cfg, seed


def load_merged(checkpoint: Path, tokenizer: Any, like: Optional["ModelConfig"] = None, base: Optional[str] = None) -> Any:
    """The model of a LoRA checkpoint with its adapter merged in (a plain transformers model, on the CPU)."""
    from peft import PeftModel

    from toolrl.config import ModelConfig
    from toolrl.models.loading import load_model

    if base is not None:
        cfg, seed = ModelConfig(name=Path(base).name, path=base), 0
    else:
        cfg, seed = base_config(checkpoint, like)
    log.info("LoRA checkpoint %s: base %s (seed %d) + adapter, merged", checkpoint, cfg.path or cfg.name, seed)
    model = load_model(cfg, tokenizer, seed=seed)
    model = PeftModel.from_pretrained(model, str(checkpoint))
    return model.merge_and_unload()


def merge_lora(checkpoint: str, out_dir: str, base: Optional[str] = None) -> Path:
    """``toolrl merge-lora``: base + adapter of a LoRA checkpoint (or run dir) saved as one model with its tokenizer."""
    from transformers import AutoTokenizer

    found = adapter_checkpoint(checkpoint)
    if found is None:
        raise ModelLoadError(
            f"{checkpoint}: not a LoRA checkpoint ({ADAPTER_CONFIG} not found in it nor in the latest checkpoint "
            "of a run dir); a full checkpoint needs no merging"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(found))
    merged = load_merged(found, tokenizer, base=base)
    out = Path(out_dir)
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
