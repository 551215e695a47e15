"""Resuming a killed run: which run and checkpoint ``resume=auto | <path>`` means, and the run record.

Every run keeps ``<run_dir>/run.json``: its status (``RUNNING`` from the start, then ``FINISHED``,
``FAILED`` or ``KILLED``; a SIGKILLed run stays ``RUNNING``), its tracker run ids (MLflow run id,
W&B id) and the list of resumptions. A resumed run writes into the ORIGINAL run directory, so its
checkpoints, ``latest`` and ``run.json`` continue there; the new Hydra folder of the resuming command
keeps only Hydra's files, that session's log and ``RESUMED.txt`` saying where the run went.

``resume=auto`` picks, under ``<output_root>/runs/*`` and ``<output_root>/sweeps/*/*``, the run
directory that (1) did not finish (``run.json`` status other than ``FINISHED``), (2) saved the same
resolved config, ignoring only ``resume``, ``output_dir`` and ``output_root``, and (3) has a complete
checkpoint; among those, the one whose newest checkpoint was written last. None: a fresh start (one
log line). ``trainer.total_steps`` is compared too: a longer run is a different run (its LR schedule
differs); continue a finished run for more steps with an explicit ``resume=<path>``, which accepts any
config and warns about each key that differs.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import yaml

from toolrl.checkpoint import STATE_FILE, is_complete, latest_checkpoint, load_trainer_state
from toolrl.config import ConfigError

log = logging.getLogger("toolrl")

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
IGNORED_KEYS = ("resume", "output_dir", "output_root")  # keys that may differ between a run and its resumption


@dataclass
class ResumePoint:
    """Where a resumed run continues: its directory, the checkpoint, that checkpoint's trainer state."""

    run_dir: Path
    checkpoint: Path
    state: Dict[str, Any] = field(repr=False)
    trackers: Dict[str, str] = field(default_factory=dict)  # tracker name -> run id to reopen

    @property
    def step(self) -> int:
        return int(self.state["step"])


# ----------------------------------------------------------------------------- the run record


def read_run_record(run_dir: Path) -> Dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_run_record(run_dir: Path, **fields: Any) -> Dict[str, Any]:
    """Merge ``fields`` into ``run.json`` atomically (a kill leaves the old file or the new one)."""
    record = {**read_run_record(run_dir), **fields}
    path = Path(run_dir) / RUN_FILE
    tmp = path.with_name(f".{RUN_FILE}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return record


# ----------------------------------------------------------------------------- config comparison


def _flat(node: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(node, Mapping):
        out: Dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: node}


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> List[str]:
    """Dotted keys whose values differ (or exist on one side only), ``IGNORED_KEYS`` and their children left out."""
    a, b = _flat(saved), _flat(current)
    ignored = lambda k: any(k == i or k.startswith(i + ".") for i in IGNORED_KEYS)  # noqa: E731
    return sorted(k for k in set(a) | set(b) if not ignored(k) and a.get(k, "<unset>") != b.get(k, "<unset>"))


def _saved_config(run_dir: Path) -> Optional[Dict[str, Any]]:
    try:
        return yaml.safe_load((Path(run_dir) / CONFIG_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return None


# ----------------------------------------------------------------------------- finding the checkpoint


def _point(run_dir: Path, checkpoint: Path) -> ResumePoint:
    state = load_trainer_state(checkpoint)
    trackers = dict(state.get("extra", {}).get("trackers") or read_run_record(run_dir).get("trackers") or {})
    return ResumePoint(run_dir=run_dir, checkpoint=checkpoint, state=state, trackers=trackers)


def _candidates(output_root: Path, this_dir: Path) -> List[Path]:
    """Run directories with a run record: Hydra's single runs and multirun jobs, and this command's own
    folder (a job script that restarts the same command with a fixed ``hydra.run.dir``)."""
    root = Path(output_root)
    dirs = {d.resolve() for d in (*root.glob("runs/*"), *root.glob("sweeps/*/*"), Path(this_dir))}
    return sorted(d for d in dirs if d.is_dir() and (d / RUN_FILE).is_file())


def find_auto(current: Mapping[str, Any], output_root: Path, this_dir: Path) -> Optional[ResumePoint]:
    """The unfinished run under ``output_root`` with the same config and a complete checkpoint, newest first."""
    found = []
    for run_dir in _candidates(output_root, this_dir):
        if read_run_record(run_dir).get("status") == "FINISHED":
            continue
        saved = _saved_config(run_dir)
        if saved is None or config_differences(saved, current):
            continue
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is not None:
            found.append(((checkpoint / STATE_FILE).stat().st_mtime, run_dir, checkpoint))
    if not found:
        log.info("resume=auto: no unfinished run with this config and a complete checkpoint under %s; starting fresh",
                 output_root)
        return None
    _, run_dir, checkpoint = max(found, key=lambda item: item[0])
    return _point(run_dir, checkpoint)


def find_path(path: str, current: Mapping[str, Any], this_dir: Path) -> ResumePoint:
    """``resume=<path>``: a run directory (its latest complete checkpoint) or one checkpoint directory."""
    where = Path(path).expanduser()
    if not where.exists():
        raise ConfigError(f"resume={path}: no such directory; give a run directory (outputs/runs/<run>), "
                          "a checkpoint directory (<run>/checkpoints/step_N), or resume=auto")
    if (where / STATE_FILE).exists():
        if not is_complete(where):
            raise ConfigError(f"resume={path}: this checkpoint is incomplete (written while the run was killed?); "
                              "give its run directory to use the newest complete one")
        checkpoint = where
        run_dir = where.parent.parent if where.parent.name == "checkpoints" else Path(this_dir)
    else:
        checkpoint = latest_checkpoint(where)
        if checkpoint is None:
            raise ConfigError(f"resume={path}: no complete checkpoint in {where / 'checkpoints'} (the run was killed "
                              "before its first checkpoint, or trainer.save_every=0); start it again without resume")
        run_dir = where
    saved = _saved_config(run_dir)
    for key in config_differences(saved, current) if saved is not None else []:
        log.warning("resume=%s: %s differs from the resumed run's config; using this command's value", path, key)
    return _point(run_dir, checkpoint)


def find_resume(resume: Optional[str], current: Mapping[str, Any], output_root: Path, this_dir: Path) -> Optional[ResumePoint]:
    """The :class:`ResumePoint` of ``resume`` (None, ``auto`` or a path).

    ``current`` is this command's config as its config.yaml will hold it (``yaml.safe_load`` of the
    resolved YAML), so that values compare with the same types as a saved one.
    """
    if resume is None:
        return None
    if resume == "auto":
        return find_auto(current, output_root, this_dir)
    return find_path(resume, current, this_dir)
