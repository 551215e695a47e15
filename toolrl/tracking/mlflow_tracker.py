"""MLflow tracker: one run driven through ``MlflowClient``, never the fluent global run.

Where the run goes: ``logger.mlflow.tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else a SQLite store
``<output_root>/mlflow.db`` whose artifacts sit in ``<output_root>/mlartifacts``. Every store is
touched once at construction with HTTP retries turned down, so a wrong URI or a server that is down
fails in seconds with the URI in the message, instead of MLflow's minutes of retries. Later calls
use MLflow's normal retries: a server that blips mid-run is retried, not dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from toolrl.tracking.base import STATUSES, TrackerError, flatten_config, sanitize_key

log = logging.getLogger("toolrl.tracking")

CONFIG_KEY = "logger.mlflow.tracking_uri"
MAX_PARAMS_PER_BATCH = 100  # mlflow.utils.validation.MAX_PARAMS_TAGS_PER_BATCH
MAX_METRICS_PER_BATCH = 1000  # mlflow.utils.validation.MAX_METRICS_PER_BATCH
MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE = 8000  # mlflow.utils.validation.MAX_TAG_VAL_LENGTH
PROBE_TIMEOUT_S = 5.0
DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}  # database stores MLflow reaches with SQLAlchemy
_FAIL_FAST_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def resolve_tracking_uri(configured: Optional[str], output_root: Path) -> str:
    """``configured``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<abs output_root>/mlflow.db``."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{Path(output_root).resolve()}/mlflow.db"


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, fit for logs and error messages."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _server_decides_artifacts(uri: str) -> bool:
    return _is_http(uri) or uri.startswith("databricks")


def _unreachable(uri: str) -> Optional[str]:
    """Why the server behind ``uri`` cannot be reached within a few seconds, or None if it can (or has no server).

    HTTP(S): ``GET <uri>/health``. Databases: a TCP connect, because MLflow's SQLAlchemy store
    retries an unreachable database for about 100 s before it gives up.
    """
    if _is_http(uri):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
                return None
        except urllib.error.HTTPError as exc:  # an answer below 500 is a live server (an auth proxy may refuse /health)
            return None if exc.code < 500 else f"HTTP {exc.code} from {url}"
        except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timeout
            return str(getattr(exc, "reason", exc))
    parts = urlsplit(uri)
    dialect = parts.scheme.split("+")[0]
    if dialect in DB_PORTS and parts.hostname:
        try:
            with socket.create_connection((parts.hostname, parts.port or DB_PORTS[dialect]), timeout=PROBE_TIMEOUT_S):
                return None
        except OSError as exc:
            return str(exc)
    return None


def _probe(uri: str) -> None:
    """Raise :class:`TrackerError` naming the URI and the config key when its server is unreachable."""
    reason = _unreachable(uri)
    if reason is None:
        return
    raise TrackerError(
        f"MLflow tracking store {redact(uri)} is not reachable ({reason}). Start that server, or point "
        f"{CONFIG_KEY} (or $MLFLOW_TRACKING_URI) at a reachable one, or leave both unset to log to a "
        f"local SQLite store under output_root."
    )


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """MLflow's HTTP client without retries and with a short timeout; the previous env is restored."""
    saved = {key: os.environ.get(key) for key in _FAIL_FAST_ENV}
    os.environ.update(_FAIL_FAST_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class MlflowTracker:
    name = "mlflow"

    def __init__(
        self,
        experiment: str,
        tracking_uri: Optional[str],
        *,
        run_name: str,
        tags: Mapping[str, str],
        output_root: Path,
        run_id: Optional[str] = None,
    ):
        """Start a run, or with ``run_id`` reopen that run (a resumed training run) and mark it RUNNING."""
        from mlflow import MlflowClient

        self.uri = resolve_tracking_uri(tracking_uri, output_root)
        self.experiment = experiment
        _probe(self.uri)
        local_artifacts = (Path(output_root) / "mlartifacts").resolve().as_uri()
        artifacts = None if _server_decides_artifacts(self.uri) else local_artifacts
        all_tags = {str(k): str(v)[:MAX_TAG_VALUE] for k, v in tags.items()}
        all_tags["mlflow.runName"] = run_name
        try:
            with _fail_fast():
                self.client = MlflowClient(tracking_uri=self.uri)
                if run_id is not None:
                    run = self._reopen(run_id)
                    self.experiment_id = run.info.experiment_id
                else:
                    self.experiment_id = self._experiment_id(artifacts)
                    run = self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)
        except TrackerError:
            raise
        except Exception as exc:
            raise TrackerError(
                f"cannot start an MLflow run in {redact(self.uri)} ({type(exc).__name__}: {exc}). "
                f"Check {CONFIG_KEY} (or $MLFLOW_TRACKING_URI)."
            ) from exc
        self.run_id = run.info.run_id
        self._closed = False

    def _reopen(self, run_id: str):
        try:
            run = self.client.get_run(run_id)
        except Exception as exc:
            raise TrackerError(
                f"cannot reopen MLflow run {run_id} to resume it: not found in {redact(self.uri)} ({exc}). "
                f"Point {CONFIG_KEY} (or $MLFLOW_TRACKING_URI) at the store the run was logged to."
            ) from exc
        if run.info.lifecycle_stage == "deleted":
            raise TrackerError(
                f"MLflow run {run_id} in {redact(self.uri)} is deleted: restore it (`mlflow runs restore "
                f"--run-id {run_id}`) to resume into it"
            )
        self.client.update_run(run_id, status="RUNNING")
        return run

    def _experiment_id(self, artifact_location: Optional[str]) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is None:
            try:
                return self.client.create_experiment(self.experiment, artifact_location=artifact_location)
            except Exception:  # created by a concurrent run (a parallel sweep) since we looked
                exp = self.client.get_experiment_by_name(self.experiment)
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            raise TrackerError(
                f"MLflow experiment '{self.experiment}' in {redact(self.uri)} is deleted: restore it "
                f"(`mlflow experiments restore --experiment-id {exp.experiment_id}`) or set logger.mlflow.experiment"
            )
        return exp.experiment_id

    def log_config(self, config: Mapping[str, Any], yaml_text: str) -> None:
        from mlflow.entities import Param

        flat = {sanitize_key(k): v[:MAX_PARAM_VALUE] for k, v in flatten_config(config).items()}
        params = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + MAX_PARAMS_PER_BATCH])
        self.client.log_text(self.run_id, yaml_text, "config.yaml")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, value, now, step) for key, value in metrics.items()]
        for i in range(0, len(batch), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=batch[i : i + MAX_METRICS_PER_BATCH])

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        data = {column: [row[i] for row in rows] for i, column in enumerate(columns)}
        self.client.log_table(self.run_id, data=data, artifact_file=f"{key}/step_{step:06d}.json")

    def close(self, status: str = "FINISHED") -> None:
        if self._closed:
            return
        if status not in STATUSES:
            raise ValueError(f"status={status!r}; choose one of: {', '.join(STATUSES)}")
        self._closed = True
        self.client.set_terminated(self.run_id, status=status)

    def where(self) -> str:
        head, uri = f"MLflow run {self.run_id} (experiment '{self.experiment}')", redact(self.uri)
        if _is_http(uri):
            return f"{head} at {uri} — view: {uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        if _server_decides_artifacts(uri):
            return f"{head} in {uri}"
        return f"{head} in {uri} — view: mlflow ui --backend-store-uri {uri}"
