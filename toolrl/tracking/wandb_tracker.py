"""Weights & Biases tracker: one run, online when the user is logged in, offline files otherwise.

``mode=auto`` goes online only when an API key is at hand ($WANDB_API_KEY, $WANDB_IDENTITY_TOKEN_FILE,
or a netrc entry for the W&B host, which is what ``wandb login`` writes) and $WANDB_MODE does not say
otherwise; $WANDB_MODE=offline/dryrun or disabled is honoured. Offline runs land in
``<run_dir>/wandb/offline-run-*`` and upload later with ``wandb sync``. Console capture is off: the
trainer's own log already goes to the run directory.
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from toolrl.tracking.base import STATUSES, TrackerError

log = logging.getLogger("toolrl.tracking")

CONFIG_YAML = "resolved_config.yaml"  # W&B writes its own files/config.yaml; keep ours beside it
EXIT_CODES = {"FINISHED": 0, "FAILED": 1, "KILLED": 130}  # 130 = 128 + SIGINT


def has_api_key() -> bool:
    """Whether W&B would find credentials without prompting (env, or a netrc entry for its host)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").netloc
    if os.environ.get("NETRC"):
        path = Path(os.environ["NETRC"]).expanduser()
    else:
        path = next((p for p in (Path("~/.netrc").expanduser(), Path("~/_netrc").expanduser()) if p.exists()), None)
    if path is None:
        return False
    try:
        creds = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(creds and creds[2])


def resolve_mode(mode: str) -> str:
    """``online`` | ``offline`` | ``disabled`` from the configured mode (``auto`` looks at env and login)."""
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env == "disabled":
        return "disabled"
    if env in ("offline", "dryrun"):
        return "offline"
    if has_api_key():
        return "online"
    log.info("W&B: no API key found (WANDB_API_KEY or `wandb login`), logging offline")
    return "offline"


class WandbTracker:
    name = "wandb"

    def __init__(
        self,
        project: str,
        *,
        mode: str,
        run_name: str,
        tags: Mapping[str, str],
        run_dir: Path,
        entity: Optional[str] = None,
        group: Optional[str] = None,
        run_id: Optional[str] = None,
    ):
        """Start a run, or with ``run_id`` continue that run (``resume="allow"``: offline, a new
        ``offline-run-*`` folder with the same id, which ``wandb sync`` appends to the run)."""
        import wandb

        if mode not in ("online", "offline"):
            raise ValueError(f"mode={mode!r}: resolve 'auto' with resolve_mode(); 'disabled' builds no tracker")
        self.mode = mode
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        try:
            self.run = wandb.init(
                project=project,
                entity=entity,
                group=group,
                name=run_name,
                tags=[f"{k}:{v}"[:64] for k, v in tags.items()],
                config=None,
                dir=str(Path(run_dir).resolve()),
                mode=mode,
                id=run_id,
                resume="allow" if run_id else None,
                reinit="create_new",  # several runs in one process (tests, sweeps in-process)
                settings=wandb.Settings(console="off", quiet=True),  # quiet, not silent: keep its warnings
            )
        except Exception as exc:
            hint = " Run `wandb login`, or set logger.wandb.mode=offline." if mode == "online" else ""
            raise TrackerError(f"cannot start a W&B run (mode={mode}, project={project!r}): {exc}.{hint}") from exc
        self.run_id = self.run.id
        self.url = self.run.url if mode == "online" else None  # offline, .url logs a warning
        self.sync_dir = self.run.settings.sync_dir
        self._closed = False

    def log_config(self, config: Mapping[str, Any], yaml_text: str) -> None:
        self.run.config.update(dict(config), allow_val_change=True)
        path = Path(self.run.dir) / CONFIG_YAML
        path.write_text(yaml_text)
        self.run.save(str(path), base_path=self.run.dir, policy="now")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], step: int) -> None:
        import wandb

        table = wandb.Table(columns=list(columns), data=[list(r) for r in rows], allow_mixed_types=True)
        self.run.log({key: table}, step=step)

    def close(self, status: str = "FINISHED") -> None:
        if self._closed:
            return
        if status not in STATUSES:
            raise ValueError(f"status={status!r}; choose one of: {', '.join(STATUSES)}")
        self._closed = True
        self.run.finish(exit_code=EXIT_CODES[status])

    def where(self) -> str:
        if self.mode == "online" and self.url:
            return f"W&B run {self.url}"
        return f"W&B offline run in {self.sync_dir} — upload: wandb sync {self.sync_dir}"
