"""Test-wide settings, applied before any test module is imported (subprocesses inherit them):
never touch the network, keep W&B offline, never log to the user's own MLflow server."""

import os

os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONHASHSEED": "0",
    }
)
os.environ.pop("MLFLOW_TRACKING_URI", None)
# model=tiny's warm start (trained on first use, keyed by its recipe hash) is shared by every test and subprocess
# that needs it, and across sessions, whatever output_root a test gives (toolrl/models/warmstart.py)
os.environ.setdefault("TOOLRL_WARM_START_CACHE", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                              "outputs", "cache", "tiny_warm"))
