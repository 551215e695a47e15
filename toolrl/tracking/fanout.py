"""The object the trainer logs to: builds the configured trackers and forwards every call to each.

Metrics are cleaned once here (keys sanitized, non-finite and non-numeric values dropped) so every
backend receives the same numbers. A tracker that fails while logging is warned about once per
(tracker, call) and then counted; training goes on, and the count is reported at ``close``. Only
construction raises. Simplification: no rank awareness; build trackers on rank 0 only.
"""

from __future__ import annotations

import atexit
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from toolrl.tracking.base import STATUSES, Tracker, sanitize_key

log = logging.getLogger("toolrl.tracking")


def _as_float(value: Any) -> Optional[float]:
    if isinstance(value, (str, bytes)):
        return None
    try:
        return float(value)  # int, bool, numpy scalar, one-element tensor
    except (TypeError, ValueError, RuntimeError):
        return None


class Trackers:
    """Fan-out over zero or more :class:`Tracker`; with none it does nothing."""

    def __init__(self, trackers: Sequence[Tracker]):
        self.trackers: List[Tracker] = list(trackers)
        self._warned: Set[Tuple[str, str]] = set()
        self._failures: Counter = Counter()
        self._closed = False
        if self.trackers:
            atexit.register(self._close_at_exit)

    @property
    def run_ids(self) -> Dict[str, str]:
        return {t.name: t.run_id for t in self.trackers}

    def log_config(self, config: Mapping[str, Any], yaml_text: str) -> None:
        self._each("log_config", config, yaml_text)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        clean = self._clean(metrics)
        if clean:
            self._each("log_metrics", clean, int(step))

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        self._each("log_table", sanitize_key(key), list(columns), [list(r) for r in rows], int(step))

    def close(self, status: str = "FINISHED") -> None:
        if status not in STATUSES:
            raise ValueError(f"status={status!r}; choose one of: {', '.join(STATUSES)}")
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._close_at_exit)
        self._each("close", status)
        for (name, method), count in sorted(self._failures.items()):
            log.warning("%s: %d %s call(s) failed during this run; see the first warning above", name, count, method)

    def where(self) -> str:
        if not self.trackers:
            return "No experiment tracker (logger=none): metrics went to the console log only."
        return "\n".join(t.where() for t in self.trackers)

    def _close_at_exit(self) -> None:
        log.warning("trackers were not closed before the interpreter exited; closing the run(s) as FAILED")
        self.close("FAILED")

    def _warn_once(self, kind: str, key: str, message: str, *args: Any) -> None:
        if (kind, key) not in self._warned:
            self._warned.add((kind, key))
            log.warning(message, *args)

    def _clean(self, metrics: Mapping[str, Any]) -> Dict[str, float]:
        out: Dict[str, float] = {}
        for key, value in metrics.items():
            number = _as_float(value)
            if number is None or not math.isfinite(number):
                self._warn_once("drop", key, "metric %r=%r is not a finite number: dropped (warned once per key)",
                                key, value)
                continue
            name = sanitize_key(key)
            if name != key:
                self._warn_once("rename", key, "metric key %r is logged as %r (keys are limited to [A-Za-z0-9_./-])",
                                key, name)
            out[name] = number
        return out

    def _each(self, method: str, *args: Any) -> None:
        if self._closed and method != "close":
            self._warn_once("closed", method, "%s after close() is ignored", method)
            return
        for tracker in self.trackers:
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # a tracker must never stop training
                self._failures[(tracker.name, method)] += 1
                if (tracker.name, method) not in self._warned:
                    self._warned.add((tracker.name, method))
                    log.warning("%s.%s failed, training goes on: %s: %s", tracker.name, method, type(exc).__name__, exc)
                else:
                    log.debug("%s.%s failed again: %s", tracker.name, method, exc)


def build_trackers(
    cfg: Any,
    *,
    run_name: str,
    tags: Mapping[str, str],
    run_dir: Path,
    output_root: Path,
    resume_ids: Optional[Mapping[str, str]] = None,
) -> Trackers:
    """The trackers ``cfg`` (a :class:`toolrl.config.LoggerConfig`) selects; ``mlflow``/``wandb`` None = off.

    ``resume_ids`` (tracker name -> run id, from :attr:`Trackers.run_ids` of a killed run) reopens
    those runs instead of starting new ones; a tracker without an id there starts a new run.

    The W&B group is ``logger.wandb.group``, else the run's ``sweep`` tag (so a sweep's runs group together).
    Raises :class:`toolrl.tracking.TrackerError` when a tracker cannot start; a run already opened
    in another tracker is then closed as FAILED rather than left RUNNING.
    """
    trackers: List[Tracker] = []
    ids = dict(resume_ids or {})
    try:
        if cfg.mlflow is not None:
            from toolrl.tracking.mlflow_tracker import MlflowTracker

            m = cfg.mlflow
            trackers.append(
                MlflowTracker(m.experiment, m.tracking_uri, run_name=run_name, tags=tags, output_root=Path(output_root),
                              run_id=ids.get("mlflow"))
            )
        if cfg.wandb is not None:
            from toolrl.tracking.wandb_tracker import WandbTracker, resolve_mode

            mode = resolve_mode(cfg.wandb.mode)
            if mode == "disabled":
                log.info("W&B disabled (logger.wandb.mode or $WANDB_MODE)")
            else:
                w = cfg.wandb
                group = w.group or tags.get("sweep")
                trackers.append(
                    WandbTracker(w.project, entity=w.entity, group=group, mode=mode, run_name=run_name, tags=tags,
                                 run_dir=Path(run_dir), run_id=ids.get("wandb"))
                )
    except BaseException:
        for tracker in trackers:
            try:
                tracker.close("FAILED")
            except Exception:  # already failing; the original error is the one to show
                log.debug("closing %s after a failed start also failed", tracker.name, exc_info=True)
        raise
    fanout = Trackers(trackers)
    for line in fanout.where().splitlines():
        log.info("tracking: %s", line)
    return fanout
