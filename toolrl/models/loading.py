"""The policy model of ``model``: a config-built tiny Qwen2 or a pretrained causal LM.

- ``model.path: null`` builds ``Qwen2ForCausalLM`` from ``model.tiny`` (random init, seeded, tied
  embeddings, vocabulary = the tokenizer's); nothing is downloaded.
- Otherwise ``AutoModelForCausalLM.from_pretrained(model.path, revision, dtype, attn_implementation,
  trust_remote_code)``. It is loaded on the CPU and then moved to ``device`` (simple; a 7B model in
  bf16 needs ~15 GB of host memory on the way).

- ``model.warm_start`` (``model=tiny``) loads the tiny model's cached SFT warm start instead, training it on
  first use (toolrl/models/warmstart.py); ``model=tiny_random`` keeps the random init.
- ``model.init_from`` starts from a toolrl checkpoint; one of a LoRA run is its base with the adapter merged in.
- ``model.lora.enabled`` wraps the result in PEFT LoRA adapters (toolrl/models/lora.py).

Either way, generation stops at ``<|im_end|>`` (when the tokenizer has it) and at the tokenizer's eos,
on top of the eos ids the checkpoint's own generation config lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Union

import torch

from toolrl.models.errors import ModelLoadError, load_error

if TYPE_CHECKING:
    from toolrl.config import ModelConfig

IM_END = "<|im_end|>"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _dtype_key() -> str:
    """``dtype`` from transformers 4.56 on, ``torch_dtype`` before."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def build_tiny(cfg: "ModelConfig", tokenizer: Any, seed: int) -> Any:
    """``Qwen2ForCausalLM`` from ``cfg.tiny``; the same seed gives the same weights (the global RNG is untouched)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tiny = cfg.tiny
    if tiny.hidden_size % tiny.num_heads or tiny.num_heads % tiny.num_kv_heads:
        raise ValueError(
            f"model.tiny.hidden_size={tiny.hidden_size} must be a multiple of model.tiny.num_heads={tiny.num_heads}, "
            f"itself a multiple of model.tiny.num_kv_heads={tiny.num_kv_heads}"
        )
    pad_id = tokenizer.pad_token_id
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=tiny.hidden_size,
        num_hidden_layers=tiny.num_layers,
        num_attention_heads=tiny.num_heads,
        num_key_value_heads=tiny.num_kv_heads,
        intermediate_size=tiny.intermediate_size,
        max_position_embeddings=tiny.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else pad_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=pad_id,
        attn_implementation=cfg.attn_implementation,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    return model.to(DTYPES.get(cfg.dtype, torch.float32))


def load_pretrained(cfg: "ModelConfig") -> Any:
    """``AutoModelForCausalLM.from_pretrained`` with the options of ``cfg`` (on the CPU)."""
    from transformers import AutoModelForCausalLM

    kwargs = {
        "revision": cfg.revision,
        "attn_implementation": cfg.attn_implementation,
        "trust_remote_code": cfg.trust_remote_code,
        _dtype_key(): DTYPES.get(cfg.dtype, cfg.dtype),  # "auto" passes through
    }
    return AutoModelForCausalLM.from_pretrained(cfg.path, **kwargs)


def stop_ids(model: Any, tokenizer: Any) -> List[int]:
    """The eos ids generation should stop at: the checkpoint's, the tokenizer's eos, and ``<|im_end|>``."""
    current = model.generation_config.eos_token_id
    ids = list(current) if isinstance(current, (list, tuple)) else [] if current is None else [current]
    im_end = tokenizer.get_vocab().get(IM_END)
    for extra in (tokenizer.eos_token_id, im_end):
        if extra is not None and extra not in ids:
            ids.append(extra)
    return ids


def load_model(cfg: "ModelConfig", tokenizer: Any, *, seed: int, device: Union[torch.device, str] = "cpu") -> Any:
    """The policy of ``cfg`` on ``device``, ready to train; raises :class:`ModelLoadError` when it cannot load."""
    from toolrl.models.lora import adapter_checkpoint, apply_lora, load_merged

    adapter = adapter_checkpoint(cfg.init_from) if cfg.init_from else None
    if cfg.init_from and adapter is None:  # SFT -> RL: the weights of a toolrl checkpoint, the options of cfg
        import dataclasses

        from toolrl.checkpoint import resolve_init_from

        try:
            start = resolve_init_from(cfg.init_from)
        except FileNotFoundError as exc:
            raise ModelLoadError(str(exc)) from exc
        cfg = dataclasses.replace(cfg, path=str(start), revision=None)
    elif cfg.warm_start is not None and cfg.path is None:  # model=tiny: its cached SFT warm start (trained on first use)
        import dataclasses

        from toolrl.models.warmstart import ensure_warm_start

        cfg = dataclasses.replace(cfg, path=str(ensure_warm_start(cfg)))
    if adapter is not None:  # a LoRA run's checkpoint: its base with the adapter merged in
        model = load_merged(adapter, tokenizer, like=cfg)
    else:
        try:
            model = build_tiny(cfg, tokenizer, seed) if cfg.path is None else load_pretrained(cfg)
        except Exception as exc:  # OSError, ValueError, ImportError (flash-attn), hub errors: explained by load_error
            raise load_error(cfg.name, cfg.path, "model", exc) from exc
    vocab = model.get_input_embeddings().weight.shape[0]
    if vocab < len(tokenizer):
        raise ModelLoadError(
            f"model={cfg.name} (model.path={cfg.path}) has {vocab} embeddings but its tokenizer {len(tokenizer)} tokens"
        )
    ids = stop_ids(model, tokenizer)
    model.generation_config.eos_token_id = ids[0] if len(ids) == 1 else ids
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False  # training forward passes; generate() still asks for the cache
    if cfg.lora.enabled:  # only the adapters train; checkpoints hold the adapter
        model = apply_lora(model, cfg.lora)
    return model.to(device)


def describe(model: Any) -> Dict[str, Any]:
    """Parameter counts, dtype and device of ``model``, for logging."""
    params = list(model.parameters())
    return {
        "parameters": sum(p.numel() for p in params),
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "dtype": str(params[0].dtype).replace("torch.", "") if params else None,
        "device": str(params[0].device) if params else None,
    }
