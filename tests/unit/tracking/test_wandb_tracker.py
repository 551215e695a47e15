"""W&B for real, offline: the run directory, its .wandb records read back, and how `mode: auto` decides."""

import json
import struct
import time
from pathlib import Path

import pytest

from toolrl.config import LoggerConfig, MlflowConfig, WandbConfig
from toolrl.tracking import build_trackers
from toolrl.tracking.wandb_tracker import CONFIG_YAML, has_api_key, resolve_mode

TAGS = {"algo": "grpo", "reward": "finegrained", "note": "x" * 100}


@pytest.fixture
def no_login(tmp_path, monkeypatch):
    """No W&B credentials anywhere: no env key, and HOME / NETRC / WANDB_CONFIG_DIR in an empty tmp dir."""
    home = tmp_path / "home"
    home.mkdir()
    for key in ("WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL", "NETRC", "WANDB_MODE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    return home


def read_records(path: Path):
    """The protobuf records of a .wandb file (a LevelDB-style log of 32 KiB blocks; 0.31 ships no reader)."""
    from wandb.proto import wandb_internal_pb2

    data, block, header = path.read_bytes(), 32768, 7
    assert data[:4] == b":W&B"
    pos, buf, records = header, b"", []
    while pos + header <= len(data):
        if block - pos % block < header:  # the tail of a block too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + header])
        chunk, pos = data[pos + header : pos + header + length], pos + header + length
        buf = chunk if kind in (1, 2) else buf + chunk  # 1 full, 2 first, 3 middle, 4 last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            records.append(record)
    return records


def finished_records(path: Path, timeout: float = 20.0):
    """The records of a closed run's .wandb file: wandb-core may still be writing it when finish() returns
    (seen with wandb 0.31 on a loaded machine), so wait for its exit record."""
    deadline = time.monotonic() + timeout
    while True:
        records = read_records(path)
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def history(records):
    """{step: {key: value_json}} from the history records."""
    out = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            items = {i.nested_key[0] if i.nested_key else i.key: i.value_json for i in r.history.item}
            out[int(items["_step"])] = items
    return out


def test_auto_without_a_login_logs_offline_under_the_run_dir(no_login, tmp_path):
    assert not has_api_key() and resolve_mode("auto") == "offline"
    run_dir = tmp_path / "run"
    cfg = LoggerConfig(name="wandb", wandb=WandbConfig(mode="auto"))
    trackers = build_trackers(cfg, run_name="grpo-tiny-s0", tags=TAGS, run_dir=run_dir, output_root=tmp_path)
    run_id = trackers.run_ids["wandb"]
    trackers.log_config({"algo": {"lr": 1e-6, "adam_betas": [0.9, 0.999]}}, "algo:\n  lr: 1.0e-06\n")
    for step in (1, 2, 3):
        trackers.log_metrics({"reward/total/mean": 0.25 * step, "eval/pass@4": 1.0, "bad": float("inf")}, step=step)
    trackers.log_table("samples", ["step", "completion", "reward"], [[3, "a()", 0.5], [3, None, 1]], step=3)
    trackers.close()
    trackers.close("FAILED")

    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert offline.name.endswith(run_id)
    assert trackers.where() == f"W&B offline run in {offline.resolve()} — upload: wandb sync {offline.resolve()}"
    assert (offline / "files" / CONFIG_YAML).read_text() == "algo:\n  lr: 1.0e-06\n"
    assert list((offline / "files" / "media" / "table").glob("samples_*.table.json"))
    (wandb_file,) = offline.glob(f"run-{run_id}.wandb")
    records = finished_records(wandb_file)
    steps = history(records)
    assert {s: float(steps[s]["reward/total/mean"]) for s in (1, 2, 3)} == {1: 0.25, 2: 0.5, 3: 0.75}
    assert steps[2]["eval/pass_4"] == "1" and "bad" not in steps[2] and "samples" in steps[3]
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.display_name == "grpo-tiny-s0"
    assert list(run.tags) == ["algo:grpo", "reward:finegrained", ("note:" + "x" * 100)[:64]]
    config = {i.key: i.value_json for r in records if r.WhichOneof("record_type") == "config" for i in r.config.update}
    assert json.loads(config["algo"]) == {"lr": 1e-6, "adam_betas": [0.9, 0.999]}
    (exit_record,) = [r.exit for r in records if r.WhichOneof("record_type") == "exit"]
    assert exit_record.exit_code == 0


def test_mlflow_and_wandb_together_and_a_failed_run(no_login, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = LoggerConfig(name="both", mlflow=MlflowConfig(), wandb=WandbConfig(mode="offline"))
    trackers = build_trackers(cfg, run_name="both", tags=TAGS, run_dir=tmp_path / "run", output_root=tmp_path)
    assert set(trackers.run_ids) == {"mlflow", "wandb"}
    lines = trackers.where().splitlines()
    assert lines[0].startswith("MLflow run ") and "wandb sync" in lines[1]
    trackers.log_metrics({"x": 1.0}, step=1)
    trackers.close("FAILED")
    deadline = time.monotonic() + 20.0  # wandb-core may create the file after finish() returns (loaded machine)
    while not (found := list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    (wandb_file,) = found
    (exit_record,) = [r.exit for r in finished_records(wandb_file) if r.WhichOneof("record_type") == "exit"]
    assert exit_record.exit_code == 1
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path.resolve()}/mlflow.db")
    assert client.get_run(trackers.run_ids["mlflow"]).info.status == "FAILED"


def test_auto_mode_reads_env_and_netrc(no_login, monkeypatch):
    assert resolve_mode("auto") == "offline"
    (no_login / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    assert has_api_key() and resolve_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolve_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("auto") == "disabled"
    (no_login / ".netrc").unlink()
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    assert resolve_mode("auto") == "online"
    assert [resolve_mode(m) for m in ("online", "offline", "disabled")] == ["online", "offline", "disabled"]


def test_disabled_builds_nothing(no_login, tmp_path):
    cfg = LoggerConfig(name="wandb", wandb=WandbConfig(mode="disabled"))
    trackers = build_trackers(cfg, run_name="r", tags={}, run_dir=tmp_path / "run", output_root=tmp_path)
    trackers.log_metrics({"x": 1.0}, step=1)
    trackers.close()
    assert trackers.run_ids == {} and not (tmp_path / "run").exists()


def test_a_resumed_run_continues_the_same_offline_run_id(no_login, tmp_path):
    run_dir = tmp_path / "run"
    cfg = LoggerConfig(name="wandb", wandb=WandbConfig(mode="offline"))
    first = build_trackers(cfg, run_name="r", tags=TAGS, run_dir=run_dir, output_root=tmp_path)
    run_id = first.run_ids["wandb"]
    first.log_metrics({"loss": 1.0}, step=1)
    first.close("FAILED")
    again = build_trackers(cfg, run_name="r", tags=TAGS, run_dir=run_dir, output_root=tmp_path,
                           resume_ids={"wandb": run_id, "mlflow": "ignored: no MLflow tracker"})
    assert again.run_ids == {"wandb": run_id}
    again.log_metrics({"loss": 0.5}, step=2)
    again.close()
    folders = sorted((run_dir / "wandb").glob("offline-run-*"))
    files = [file for f in folders for file in f.glob("run-*.wandb")]  # offline: one folder per session
    assert len(folders) == 2 and [f.name for f in files] == [f"run-{run_id}.wandb"] * 2
    losses = [{s: float(h["loss"]) for s, h in history(finished_records(f)).items()} for f in files]
    assert sorted(losses, key=str) == [{1: 1.0}, {2: 0.5}]
