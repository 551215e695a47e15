"""End to end: each GRPO-variant preset (algo=dapo | drgrpo | rloo | reinforce_pp) trains a smoke run,
all four in one `python train.py -m` subprocess, and logs its name, tags and variant metrics to MLflow."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ["dapo", "drgrpo", "rloo", "reinforce_pp"]


def test_every_grpo_variant_preset_trains_a_smoke_run(tmp_path):
    from mlflow import MlflowClient

    args = [sys.executable, "train.py", "-m", f"algo={','.join(PRESETS)}", "experiment=smoke", "logger=mlflow",
            f"output_root={tmp_path}", f"hydra.sweep.dir={tmp_path}/sweep", "trainer.val_at_start=false",
            "algo.max_resample_rounds=2", "trainer.total_steps=1", "trainer.val_every=0", "trainer.save_final=false"]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("toolrl")
    runs = {r.data.tags["algo"]: r for r in client.search_runs([exp.experiment_id])}
    assert sorted(runs) == sorted(PRESETS)
    for name, run in runs.items():
        assert run.info.status == "FINISHED" and run.info.run_name.startswith(f"{name}-"), run.info.run_name
        assert "reward/total/mean" in run.data.metrics
    assert runs["dapo"].data.params["algo.clip_high"] == "0.28"
    dapo = runs["dapo"].data.metrics
    for key in ("sampling/kept_groups", "sampling/resample_rounds", "sampling/dropped_frac", "sampling/skipped_update"):
        assert key in dapo, key
    assert dapo["sampling/resample_rounds"] <= 2
    # the random tiny model's rewards are often equal in every group: then dapo skips its update (after 2 extra
    # rounds), else it updates with the overlong penalty; every other preset always updates
    if dapo["sampling/skipped_update"]:
        assert dapo["sampling/resample_rounds"] == 2 and "actor/loss" not in dapo
    else:
        assert "overlong/penalised_frac" in dapo and "actor/loss" in dapo
    for name in ("drgrpo", "rloo", "reinforce_pp"):
        assert "actor/loss" in runs[name].data.metrics and "sampling/kept_groups" not in runs[name].data.metrics
    assert runs["reinforce_pp"].data.params["algo.adv_estimator"] == "reinforce_pp"
    assert "actor/kl_ref" in runs["reinforce_pp"].data.metrics
