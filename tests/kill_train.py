"""Test helper: ``python train.py ...`` that SIGKILLs itself at a chosen point.

A real SIGKILL: no ``finally``, no ``atexit``, trackers left RUNNING, files as the kill left them.

    python tests/kill_train.py after_step=3 <train.py overrides...>  # once step 3 ran and logged its metrics
    python tests/kill_train.py in_save=4 <train.py overrides...>     # checkpoint 4 half written (truncated trainer_state.pt)
"""

import os
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after_step(at: int) -> None:
    from toolrl.trainer import Trainer

    original = Trainer.train_step

    def train_step(self, step):
        out = original(self, step)
        if step == at:
            die()
        return out

    Trainer.train_step = train_step


def kill_in_save(at: int) -> None:
    import torch

    original = torch.save

    def save(obj, f, *args, **kwargs):
        original(obj, f, *args, **kwargs)
        if isinstance(obj, dict) and obj.get("step") == at and "algo" in obj:
            path = Path(f)
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # as if the kill came mid-write
            die()

    torch.save = save


def main() -> None:
    where, at = sys.argv[1].split("=")
    {"after_step": kill_after_step, "in_save": kill_in_save}[where](int(at))
    sys.argv = [str(ROOT / "train.py"), *sys.argv[2:]]
    runpy.run_path(str(ROOT / "train.py"), run_name="__main__")


if __name__ == "__main__":
    main()
