"""MLflow for real: a SQLite store in tmp, a live `mlflow server` on 127.0.0.1, and a closed port."""

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from toolrl.config import LoggerConfig, MlflowConfig
from toolrl.tracking import TrackerError, build_trackers

CONFIG = {
    "algo": {"name": "grpo", "lr": 1e-6, "adam_betas": [0.9, 0.999]},
    "data": {"note": "x" * 7000},  # longer than MLflow's 6000-character param limit
    "many": {f"k{i:03d}": i for i in range(250)},  # more than one log_batch of params
}
YAML = "algo:\n  name: grpo\n  lr: 1.0e-06\n"
TAGS = {"algo": "grpo", "reward": "finegrained", "seed": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_logger(uri=None, experiment="toolrl") -> LoggerConfig:
    return LoggerConfig(name="mlflow", mlflow=MlflowConfig(tracking_uri=uri, experiment=experiment))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One output_root (and SQLite store) shared by this module's local tests: creating the schema costs ~2 s."""
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(autouse=True)
def no_env_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_sqlite_store_round_trip(store, caplog):
    trackers = build_trackers(
        mlflow_logger(), run_name="grpo-tiny-s0", tags=TAGS, run_dir=store / "run", output_root=store
    )
    uri = f"sqlite:///{store.resolve()}/mlflow.db"
    assert trackers.where().endswith(f"in {uri} — view: mlflow ui --backend-store-uri {uri}")
    trackers.log_config(CONFIG, YAML)
    with caplog.at_level(logging.WARNING, logger="toolrl.tracking"):
        for step in range(1, 4):
            trackers.log_metrics(
                {"reward/total/mean": 0.5 * step, "eval/bfcl/pass@4(k)": step / 10, "actor/kl": math.nan}, step=step
            )
    rows = [[1, "call a()", 0.5], [2, "call b()", None]]
    trackers.log_table("samples", ["step", "completion", "reward"], rows, step=3)
    trackers.close()
    trackers.close("FAILED")  # idempotent: stays FINISHED
    assert sum("'actor/kl'" in r.getMessage() for r in caplog.records) == 1

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(trackers.run_ids["mlflow"])
    assert run.info.status == "FINISHED" and run.info.run_name == "grpo-tiny-s0"
    assert run.info.artifact_uri.startswith((store / "mlartifacts").resolve().as_uri())
    assert client.get_experiment(run.info.experiment_id).name == "toolrl"
    assert {k: run.data.tags[k] for k in TAGS} == TAGS and run.data.tags["mlflow.runName"] == "grpo-tiny-s0"
    params = run.data.params
    assert params["algo.lr"] == "1e-06" and params["algo.adam_betas.1"] == "0.999" and params["algo.name"] == "grpo"
    assert params["data.note"] == "x" * 6000
    assert len([k for k in params if k.startswith("many.")]) == 250 and params["many.k249"] == "249"
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "reward/total/mean")}
    assert history == {1: 0.5, 2: 1.0, 3: 1.5}
    sanitized = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "eval/bfcl/pass_4_k_")}
    assert sanitized == pytest.approx({1: 0.1, 2: 0.2, 3: 0.3})
    assert "actor/kl" not in run.data.metrics

    local = Path(client.download_artifacts(run.info.run_id, "", str(store / "download")))
    assert (local / "config.yaml").read_text() == YAML
    table = json.loads((local / "samples" / "step_000003.json").read_text())
    assert table["columns"] == ["step", "completion", "reward"]
    assert table["data"] == rows


def test_failed_and_killed_runs_and_two_runs_in_one_process(store):
    runs = []
    for status in ("FAILED", "KILLED"):
        trackers = build_trackers(
            mlflow_logger(experiment="statuses"), run_name=status.lower(), tags={}, run_dir=store, output_root=store
        )
        trackers.log_metrics({"x": 1.0}, step=0)
        trackers.close(status)
        runs.append(trackers.run_ids["mlflow"])
    client = MlflowClient(tracking_uri=f"sqlite:///{store.resolve()}/mlflow.db")
    assert [client.get_run(r).info.status for r in runs] == ["FAILED", "KILLED"]
    assert len(set(runs)) == 2


def test_a_resumed_run_reopens_the_same_mlflow_run(store):
    logger = mlflow_logger(experiment="resume")
    first = build_trackers(logger, run_name="r", tags={"seed": "0"}, run_dir=store, output_root=store)
    run_id = first.run_ids["mlflow"]
    first.log_metrics({"loss": 1.0}, step=1)
    first.log_metrics({"loss": 0.9}, step=2)  # logged after the checkpoint of step 1, then the run was killed
    again = build_trackers(logger, run_name="r", tags={}, run_dir=store, output_root=store, resume_ids={"mlflow": run_id})
    client = MlflowClient(tracking_uri=f"sqlite:///{store.resolve()}/mlflow.db")
    assert again.run_ids == {"mlflow": run_id} and client.get_run(run_id).info.status == "RUNNING"
    time.sleep(0.01)  # the re-logged value gets a later timestamp (ms)
    again.log_metrics({"loss": 0.8}, step=2)
    again.close()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["loss"] == 0.8  # MLflow's latest: the re-logged value
    history = sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, "loss"))
    assert [(s, v) for s, _, v in history] == [(1, 1.0), (2, 0.9), (2, 0.8)]  # both values of step 2 are kept
    assert {s: v for s, _, v in history} == {1: 1.0, 2: 0.8}  # the last value per step is the resumed run's
    with pytest.raises(TrackerError, match="cannot reopen MLflow run nope"):
        build_trackers(logger, run_name="r", tags={}, run_dir=store, output_root=store, resume_ids={"mlflow": "nope"})


def test_unreachable_server_fails_fast_naming_the_uri(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(TrackerError) as info:
        build_trackers(mlflow_logger(uri), run_name="r", tags={}, run_dir=tmp_path, output_root=tmp_path)
    assert time.monotonic() - start < 5
    assert uri in str(info.value) and "logger.mlflow.tracking_uri" in str(info.value)
    assert not list(tmp_path.iterdir())


def test_env_tracking_uri_is_used_and_a_database_down_fails_fast(tmp_path, monkeypatch):
    uri = f"postgresql://toolrl:secret@127.0.0.1:{free_port()}/mlflow"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    start = time.monotonic()
    with pytest.raises(TrackerError, match="logger.mlflow.tracking_uri") as info:
        build_trackers(mlflow_logger(), run_name="r", tags={}, run_dir=tmp_path, output_root=tmp_path)
    assert time.monotonic() - start < 5
    assert uri.replace("secret", "***") in str(info.value) and "secret" not in str(info.value)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on a free port with a SQLite store and proxied artifacts under tmp; stopped at the end."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    log_path = root / "server.log"
    log = open(log_path, "w")
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root}/srv.db", "--artifacts-destination", str(root / "artifacts"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"mlflow server not up after 60 s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group holds the uvicorn worker it spawns
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_tracking_server_round_trip(mlflow_server, tmp_path):
    trackers = build_trackers(
        mlflow_logger(mlflow_server), run_name="remote", tags=TAGS, run_dir=tmp_path, output_root=tmp_path
    )
    run_id = trackers.run_ids["mlflow"]
    assert f"at {mlflow_server} — view: {mlflow_server}/#/experiments/" in trackers.where()
    trackers.log_config({"algo": {"lr": 1e-6}}, YAML)
    for step in (1, 2):
        trackers.log_metrics({"reward/total/mean": float(step), "tools/calls@1": 2.0 * step}, step=step)
    trackers.log_table("samples", ["completion"], [["a()"]], step=2)
    trackers.close()

    client = MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["algo.lr"] == "1e-06"
    assert {m.step: m.value for m in client.get_metric_history(run_id, "reward/total/mean")} == {1: 1.0, 2: 2.0}
    assert {m.step: m.value for m in client.get_metric_history(run_id, "tools/calls_1")} == {1: 2.0, 2: 4.0}
    assert {a.path for a in client.list_artifacts(run_id)} == {"config.yaml", "samples"}
    assert not (tmp_path / "mlartifacts").exists()  # the server keeps the artifacts
