"""Helpers of the learning tests: a `python train.py` run in a subprocess and its metric histories from MLflow.

    h = run_train(tmp_path, "algo=ppo", "trainer.total_steps=20")   # {key: [(step, value), ...]}
    values(h, "eval/synthetic_tools/correctness/mean")                # the values in step order
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[2]
History = Dict[str, List[Tuple[int, float]]]


def run_train(tmp_path: Path, *overrides: str, name: str = "run", timeout: int = 1500) -> History:
    """``python train.py <overrides>`` logging to MLflow under ``tmp_path``; the run's metric histories."""
    args = [sys.executable, "train.py", f"output_root={tmp_path}", f"hydra.run.dir={tmp_path}/{name}", "logger=mlflow",
            "trainer.save_final=false", *overrides]
    out = subprocess.run(args, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return read_history(tmp_path / "mlflow.db", run_name=None)


def read_history(store: Path, run_name: str | None = None) -> History:
    """Metric histories of the newest run (or the newest named ``run_name``) in the MLflow sqlite ``store``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    exp = client.get_experiment_by_name("toolrl")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
    run = next(r for r in runs if run_name is None or r.info.run_name == run_name)
    return {key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
            for key in run.data.metrics}


def values(history: History, key: str) -> List[float]:
    """The values of ``key`` in step order."""
    return [v for _, v in history[key]]
