"""Checkpoints: the model and tokenizer as `save_pretrained` writes them (loadable by any HF tool),
plus `trainer_state.pt` with the optimizer, scheduler, RNG states, step and data position.

Layout: ``<run_dir>/checkpoints/step_000020/``; ``<run_dir>/checkpoints/latest`` names the newest.

Kill safety: a checkpoint is written into ``.tmp_step_N``, its files flushed to disk, then renamed to
``step_N`` (a rename is atomic), and only then is ``latest`` replaced (atomically too). A kill at any
moment leaves the previous checkpoint and pointer intact; a ``.tmp_*`` folder is never read. Readers
(:func:`latest_checkpoint`) still check what they find: a pointer naming a missing or incomplete folder
falls back to the newest complete ``step_*``. Complete = ``trainer_state.pt`` is a whole zip archive
(torch.save's format; a truncated file has no central directory) and the weights are there.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
ADAPTER_FILE = "adapter_model.safetensors"  # what a peft model's save_pretrained writes
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", ADAPTER_FILE)


def rng_state() -> Dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_tree(folder: Path) -> None:
    """Flush every file of ``folder`` (and the folder) to disk, so a rename never publishes unwritten data."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    run_dir: Path, step: int, model, tokenizer, algo_state: Dict[str, Any], extra: Optional[Dict[str, Any]] = None
) -> Path:
    """Write a checkpoint atomically (to a temporary folder, then renamed) and point `latest` at it."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp_step_{step:06d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save({"step": step, "algo": algo_state, "rng": rng_state(), "extra": extra or {}}, tmp / STATE_FILE)
    _fsync_tree(tmp)
    old = root / f".old_step_{step:06d}"
    if final.exists():  # the same step again: move the old one aside first, so a kill never leaves half of it
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    _fsync_dir(root)
    shutil.rmtree(old, ignore_errors=True)
    pointer = root / ".latest.tmp"
    pointer.write_text(final.name + "\n")
    pointer.replace(root / "latest")  # atomic: a kill leaves the old pointer or the new one, never half of one
    log.info("checkpoint written: %s", final)
    return final


def is_complete(checkpoint_dir: Path) -> bool:
    """Whether ``checkpoint_dir`` is a whole checkpoint: a readable trainer_state.pt archive and weights."""
    path = Path(checkpoint_dir)
    if path.name.startswith("."):  # .tmp_step_* / .old_step_*: being written or being replaced
        return False
    state = path / STATE_FILE
    if not state.is_file() or not zipfile.is_zipfile(state):
        return False
    return any((path / name).is_file() for name in WEIGHT_FILES)


def complete_checkpoints(run_dir: Path) -> List[Path]:
    """The complete ``step_*`` checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if p.is_dir() and is_complete(p))


def latest_checkpoint(run_dir: Path) -> Optional[Path]:
    """The checkpoint ``latest`` names if it is complete, else the newest complete ``step_*`` (None if none)."""
    root = Path(run_dir) / "checkpoints"
    pointer = root / "latest"
    if pointer.is_file():
        named = root / (pointer.read_text().strip() or "<empty>")
        if is_complete(named):
            return named
        log.warning("%s names %s, which is missing or incomplete: using the newest complete checkpoint", pointer, named.name)
    found = complete_checkpoints(run_dir)
    return found[-1] if found else None


def load_trainer_state(checkpoint_dir: Path) -> Dict[str, Any]:
    """The optimizer/scheduler/RNG/step state of a checkpoint (the weights load with :func:`restore_weights`)."""
    path = Path(checkpoint_dir) / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: not a toolrl checkpoint directory")
    return torch.load(path, map_location="cpu", weights_only=False)


def _full_state_dict(checkpoint_dir: Path) -> Dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(p for p in Path(checkpoint_dir).glob("model*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{checkpoint_dir}: no model*.safetensors or {ADAPTER_FILE} to restore weights from")
    state: Dict[str, torch.Tensor] = {}
    for f in files:  # one file, or the shards an index.json lists
        state.update(load_file(str(f)))
    return state


def restore_weights(model, checkpoint_dir: Path) -> None:
    """Load a checkpoint's weights into ``model`` in place: a LoRA adapter (adapter_model.safetensors,
    into a peft model) or the full model (model*.safetensors). Raises if a key is missing or unknown."""
    where = Path(checkpoint_dir)
    if (where / ADAPTER_FILE).is_file():
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        result = set_peft_model_state_dict(model, load_file(str(where / ADAPTER_FILE)))
        unexpected = list(getattr(result, "unexpected_keys", []) or [])
        if unexpected:
            raise RuntimeError(f"{where / ADAPTER_FILE}: keys the model does not have: {unexpected[:5]}")
        return
    state = _full_state_dict(where)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise RuntimeError(f"{where}: weights the model does not have: {unexpected[:5]}")
    # save_pretrained drops tied weights (lm_head = embeddings): a missing key is fine if it shares storage
    loaded = {t.data_ptr() for name, t in model.state_dict().items() if name in state}
    params = model.state_dict()
    untied = [k for k in missing if params[k].data_ptr() not in loaded]
    if untied:
        raise RuntimeError(f"{where}: the checkpoint lacks weights of the model: {untied[:5]}")


def resolve_init_from(path: str) -> Path:
    """A checkpoint directory from ``model.init_from``: the directory itself, or a run's latest checkpoint."""
    where = Path(path).expanduser()
    if (where / "config.json").exists() or (where / "adapter_config.json").exists():
        return where
    latest = latest_checkpoint(where)
    if latest is not None:
        return latest
    raise FileNotFoundError(
        f"model.init_from={path}: neither a checkpoint directory (with config.json) nor a run directory "
        "with checkpoints/latest; point it at outputs/runs/<run> or outputs/runs/<run>/checkpoints/step_N"
    )
