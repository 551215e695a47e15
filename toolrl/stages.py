"""A first stage trained on demand: ``model.init_stage`` makes SFT -> RL one command (and one sweep row).

    model:
      init_stage: [experiment=toolrl/sft400, model=qwen2.5-3b-instruct, seed=0]

Before the run starts, :func:`ensure_stage` runs ``python train.py <those overrides>`` in a subprocess (a
normal, tracked run) into ``<output_root>/stages/<hash of the overrides>/`` and the run then starts from its
final checkpoint, exactly as ``model.init_from=<that run>``. A stage that finished before is reused, so the
seeds of a sweep, or a second sweep, share it; a file lock keeps parallel jobs (joblib, SLURM on a shared
disk) from training the same stage twice. A stage that failed or was killed is started again from scratch.

The hash covers the override strings only (after interpolation), not the code: delete
``<output_root>/stages/`` after changing what a stage computes. An explicit ``model.init_from`` wins.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

log = logging.getLogger("toolrl")

STAGE_FILE = "stage.json"
TRAIN_PY = Path(__file__).resolve().parents[1] / "train.py"


def stage_hash(overrides: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(overrides)).encode()).hexdigest()[:12]


def stage_dir(overrides: Sequence[str], output_root: Path) -> Path:
    return Path(output_root) / "stages" / stage_hash(overrides)


def stage_command(overrides: Sequence[str], run_dir: Path, output_root: Path) -> List[str]:
    """The ``train.py`` command line of a stage (its config, its run folder, the parent's output root)."""
    for item in overrides:
        if item.split("=", 1)[0].lstrip("+~") in ("hydra.run.dir", "output_root", "output_dir", "model.init_stage"):
            raise ValueError(f"model.init_stage: {item!r} is set by the stage itself; remove it from the list")
    return [sys.executable, str(TRAIN_PY), *overrides, f"output_root={output_root}", f"hydra.run.dir={run_dir}"]


def ensure_stage(overrides: Sequence[str], output_root: Path) -> Path:
    """The run directory of the finished stage ``overrides``; trained now (blocking) unless done before."""
    from toolrl.models.warmstart import file_lock

    overrides = [str(o) for o in overrides]
    final = stage_dir(overrides, output_root)
    if _finished(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(final.parent / f"{final.name}.lock"):
        if _finished(final):  # another job trained it while this one waited
            return final
        shutil.rmtree(final, ignore_errors=True)  # a failed or killed attempt: start over
        final.mkdir(parents=True)
        (final / STAGE_FILE).write_text(json.dumps({"overrides": overrides}, indent=2) + "\n")
        cmd = stage_command(overrides, final, output_root)
        log.info("model.init_stage: training the first stage (%s) in %s", " ".join(overrides), final)
        with open(final / "stage.log", "w") as out:
            proc = subprocess.run(cmd, cwd=TRAIN_PY.parent, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not _finished(final):
            why = f"failed (exit {proc.returncode})" if proc.returncode else "ended without a checkpoint (trainer.save_final=true?)"
            tail = (final / "stage.log").read_text()[-3000:]
            raise RuntimeError(f"model.init_stage: the stage `{' '.join(overrides)}` {why}; its log is "
                               f"{final / 'stage.log'}:\n{tail}")
        log.info("model.init_stage: stage done, starting from %s", final)
    return final


def _finished(run_dir: Path) -> bool:
    """The stage in ``run_dir`` ran to the end (run.json FINISHED) and left a checkpoint."""
    from toolrl.checkpoint import latest_checkpoint
    from toolrl.resume import read_run_record

    return (run_dir / STAGE_FILE).exists() and read_run_record(run_dir).get("status") == "FINISHED" \
        and latest_checkpoint(run_dir) is not None
