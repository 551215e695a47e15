"""Runs read back from a tracking store into tidy pandas frames.

Stores (:func:`open_store` picks one from a string):

- MLflow: a SQLite file (``outputs/mlflow.db``), a ``sqlite:///`` / database URI, or a tracking server
  (``http://127.0.0.1:5000``); a folder holding ``mlflow.db`` also works.
- W&B offline: a folder with ``offline-run-*`` directories anywhere below it (a sweep's folder,
  ``outputs/``), or one ``run-*.wandb`` file. Read directly; nothing is uploaded.
- W&B online: ``wandb:<entity>/<project>`` through W&B's public API (needs ``wandb login``).

:func:`load_comparison` selects runs (by sweep, invocation, tags, status), finds the factors the
selection varies and loads the chosen metric histories into a :class:`Comparison`:
``runs`` (one row per run: id, name, seed, variant, one column per factor) and ``history``
(long: run_id, metric, step, value).
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from toolrl.compare.grouping import FACTORS_TAG, NOT_FACTORS, SWEEP_ID_TAG, SWEEP_TAG

log = logging.getLogger("toolrl.compare")

DEFAULT_STORE = "outputs/mlflow.db"
DEFAULT_EXPERIMENT = "toolrl"
# what the ablation table and the curves show unless told otherwise (globs are matched against the runs' metrics)
TABLE_METRICS = (
    "reward/total/mean", "reward/format/mean", "reward/correctness/mean", "eval/*/total/mean", "eval/*/exact_match_rate",
)
PLOT_METRICS = ("reward/total/mean", "reward/*/mean", "eval/*/total/mean")  # the total, every component, eval
# config keys that differ between runs without being an ablation factor
IGNORED_PARAMS = ("output_dir", "output_root", "run_name", "seed", "sweep.", "hydra.", "logger.", "trainer.device",
                  "rollout.progress", "model.tiny.tokenizer", "model.path", "model.warm_start.cache_dir",
                  "model.warm_start.threads", "resume")


class CompareError(RuntimeError):
    """Nothing to compare, a metric that is not there, or a store that cannot be read; the message says what to do."""


@dataclass
class RunInfo:
    """One run as any store describes it."""

    run_id: str
    name: str
    status: str  # FINISHED | FAILED | KILLED | RUNNING | ...
    start_time: float  # seconds since the epoch
    tags: Dict[str, str]
    params: Dict[str, str]  # the flattened config, values as strings (`algo.lr`: `1e-06`)
    metrics: List[str]  # keys of the logged metrics
    source: str = ""
    handle: Any = field(default=None, repr=False)  # the store's own object for this run

    @property
    def sweep(self) -> str:
        name = self.params.get("sweep.name", "")
        return self.tags.get(SWEEP_TAG) or ("" if name in ("None", "null") else name)

    @property
    def sweep_id(self) -> str:
        return self.tags.get(SWEEP_ID_TAG, "")

    @property
    def seed(self) -> str:
        return self.params.get("seed") or self.tags.get("seed", "")


def _flatten(config: Mapping[str, Any]) -> Dict[str, str]:
    from toolrl.tracking.base import flatten_config

    return flatten_config(config)


# ----------------------------------------------------------------------------- stores


class MlflowStore:
    """An MLflow tracking store (SQLite, database or server) and one experiment in it."""

    source = "mlflow"

    def __init__(self, uri: str, experiment: str = DEFAULT_EXPERIMENT):
        from toolrl.tracking.mlflow_tracker import _fail_fast, _unreachable, redact

        self.uri, self.experiment = uri, experiment
        self.description = f"MLflow {redact(uri)} (experiment '{experiment}')"
        reason = _unreachable(uri)
        if reason is not None:
            raise CompareError(f"MLflow store {redact(uri)} is not reachable ({reason}): start the server or check the URI")
        from mlflow import MlflowClient

        try:
            with _fail_fast():
                self.client = MlflowClient(tracking_uri=uri)
                exp = self.client.get_experiment_by_name(experiment)
                names = [e.name for e in self.client.search_experiments()] if exp is None else []
        except Exception as exc:
            raise CompareError(f"cannot read MLflow store {redact(uri)}: {type(exc).__name__}: {exc}") from exc
        if exp is None:
            raise CompareError(
                f"no experiment '{experiment}' in MLflow store {redact(uri)}; experiments there: "
                f"{', '.join(names) or 'none'} (choose one with --experiment)"
            )
        self.experiment_id = exp.experiment_id

    def runs(self, sweep: Optional[str] = None) -> List[RunInfo]:
        # server-side filter when the name is safe to quote; select_runs filters again either way
        filter_string = f"tags.`{SWEEP_TAG}` = '{sweep}'" if sweep and "'" not in sweep and "\\" not in sweep else ""
        out: List[RunInfo] = []
        token = None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string=filter_string, max_results=1000,
                order_by=["attributes.start_time ASC"], page_token=token,
            )
            for r in page:
                tags = {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")}
                out.append(RunInfo(
                    run_id=r.info.run_id, name=r.info.run_name or r.info.run_id, status=r.info.status,
                    start_time=(r.info.start_time or 0) / 1000.0, tags=tags, params=dict(r.data.params),
                    metrics=sorted(r.data.metrics), source=self.source,
                ))
            token = page.token
            if not token:
                return out

    def history(self, run: RunInfo, keys: Sequence[str]) -> List[Tuple[str, int, float]]:
        rows = []
        for key in keys:
            # a resumed run re-logs the steps between its checkpoint and the kill: the latest value of a step wins
            latest: Dict[int, Tuple[int, float]] = {}
            for m in self.client.get_metric_history(run.run_id, key):
                stamp = int(m.timestamp)
                if int(m.step) not in latest or stamp >= latest[int(m.step)][0]:
                    latest[int(m.step)] = (stamp, float(m.value))
            rows.extend((key, step, value) for step, (_, value) in sorted(latest.items()))
        return rows


class WandbOfflineStore:
    """W&B offline run directories under a folder, read from their ``.wandb`` files."""

    source = "wandb-offline"

    def __init__(self, root: Path):
        from toolrl.compare.wandb_offline import find_run_files

        self.root = Path(root)
        self.description = f"W&B offline runs under {self.root}"
        self.files = find_run_files(self.root)
        if not self.files:
            raise CompareError(f"no W&B offline runs (offline-run-*/run-*.wandb) under {self.root}; runs logged with "
                               "logger=mlflow are in the MLflow store (e.g. outputs/mlflow.db)")
        self._parsed: Dict[str, Any] = {}

    def runs(self, sweep: Optional[str] = None) -> List[RunInfo]:
        from toolrl.compare.wandb_offline import WandbFileError, parse_run

        out = []
        for path in self.files:
            try:
                run = parse_run(path)
            except (WandbFileError, OSError) as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            self._parsed[run.run_id] = run
            out.append(RunInfo(
                run_id=run.run_id, name=run.name or run.run_id, status=run.status, start_time=run.start_time or 0.0,
                tags=parse_wandb_tags(run.tags, group=run.group), params=_flatten(run.config),
                metrics=sorted(run.history), source=self.source, handle=run,
            ))
        return sorted(out, key=lambda r: r.start_time)

    def history(self, run: RunInfo, keys: Sequence[str]) -> List[Tuple[str, int, float]]:
        parsed = run.handle
        return [(key, step, value) for key in keys for step, value in parsed.history.get(key, [])]


WANDB_STATES = {"finished": "FINISHED", "crashed": "FAILED", "failed": "FAILED", "killed": "KILLED", "running": "RUNNING"}


class WandbApiStore:
    """Runs of a W&B project through the public API (``wandb:<entity>/<project>``)."""

    source = "wandb"

    def __init__(self, path: str, api: Any = None):
        self.path = path.strip("/")
        self.description = f"W&B project {self.path}"
        if api is None:
            try:
                import wandb

                api = wandb.Api(timeout=30)
            except Exception as exc:
                raise CompareError(
                    f"cannot reach W&B for {self.path} ({type(exc).__name__}: {exc}); log in with `wandb login` "
                    "(or set WANDB_API_KEY), or pass the folder holding the offline-run-* directories instead"
                ) from exc
        self.api = api

    def runs(self, sweep: Optional[str] = None) -> List[RunInfo]:
        filters = {"group": sweep} if sweep else None
        try:
            found = list(self.api.runs(self.path, filters=filters))
        except Exception as exc:
            raise CompareError(f"cannot list the runs of W&B project {self.path}: {type(exc).__name__}: {exc}") from exc
        out = []
        for r in found:
            config = {k: _unwrap(v) for k, v in dict(r.config).items() if not str(k).startswith("_")}
            summary = getattr(r, "summary_metrics", None)
            summary = dict(summary if isinstance(summary, Mapping) else getattr(r, "summary", {}) or {})
            out.append(RunInfo(
                run_id=r.id, name=r.name or r.id, status=WANDB_STATES.get(str(r.state).lower(), str(r.state).upper()),
                start_time=_parse_time(getattr(r, "created_at", None)), tags=parse_wandb_tags(r.tags, group=r.group),
                params=_flatten(config), metrics=sorted(k for k, v in summary.items() if not str(k).startswith("_")
                                                        and _is_number(v)),
                source=self.source, handle=r,
            ))
        return sorted(out, key=lambda r: r.start_time)

    def history(self, run: RunInfo, keys: Sequence[str]) -> List[Tuple[str, int, float]]:
        rows = []
        for key in keys:
            for row in run.handle.scan_history(keys=["_step", key]):
                value = row.get(key)
                if _is_number(value) and row.get("_step") is not None:
                    rows.append((key, int(row["_step"]), float(value)))
        return rows


def _unwrap(value: Any) -> Any:
    """A W&B config value as logged: the API may return ``{"value": v, "desc": ...}`` for each key."""
    if isinstance(value, Mapping) and "value" in value and set(value) <= {"value", "desc"}:
        return value["value"]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _parse_time(value: Any) -> float:
    from datetime import datetime, timezone

    if not value:
        return 0.0
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def parse_wandb_tags(tags: Iterable[str], group: str = "") -> Dict[str, str]:
    """W&B's ``key:value`` tags (as the W&B tracker writes them) back into a dict; the group is the sweep if untagged."""
    out: Dict[str, str] = {}
    for tag in tags:
        key, sep, value = str(tag).partition(":")
        if sep:
            out[key] = value
    if group and SWEEP_TAG not in out:
        out[SWEEP_TAG] = group
    return out


STORE_HELP = (
    "an MLflow SQLite file (outputs/mlflow.db), an MLflow URI (sqlite:///..., http://host:5000), a folder with "
    "W&B offline runs (offline-run-*), or wandb:<entity>/<project>"
)


def open_store(spec: str = DEFAULT_STORE, *, experiment: str = DEFAULT_EXPERIMENT, source: str = "auto"):
    """The store ``spec`` names (see the module docstring); ``source`` = auto | mlflow | wandb forces a kind."""
    spec = str(spec)
    if source not in ("auto", "mlflow", "wandb"):
        raise CompareError(f"source={source!r}; choose auto, mlflow or wandb")
    if spec.startswith("wandb:"):
        return WandbApiStore(spec[len("wandb:"):])
    if "://" in spec or spec.startswith(("sqlite:", "databricks")):
        if spec.startswith("sqlite:"):
            db = Path(spec.split(":///", 1)[-1]) if ":///" in spec else None
            if db is not None and not db.exists():
                raise CompareError(f"no MLflow store at {db} (from {spec}); expected {STORE_HELP}")
        return MlflowStore(spec, experiment)
    path = Path(spec).expanduser()
    if not path.exists():
        raise CompareError(f"no store at {spec}: nothing there; expected {STORE_HELP}")
    if path.is_file():
        if path.suffix == ".wandb":
            return WandbOfflineStore(path)
        with path.open("rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                raise CompareError(f"{spec} is not an MLflow SQLite store; expected {STORE_HELP}")
        return MlflowStore(f"sqlite:///{path.resolve()}", experiment)
    db = path / "mlflow.db"
    if source != "wandb" and db.is_file():
        return MlflowStore(f"sqlite:///{db.resolve()}", experiment)
    if source == "mlflow":
        raise CompareError(f"no mlflow.db in {spec}; expected {STORE_HELP}")
    return WandbOfflineStore(path)


# ----------------------------------------------------------------------------- selection


def sweeps_summary(runs: Sequence[RunInfo]):
    """One row per sweep invocation: sweep, sweep_id, runs, finished, factors, started (oldest first)."""
    import pandas as pd

    from toolrl.compare.wandb_offline import iso_time

    rows: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for r in runs:
        key = (r.sweep or "(no sweep)", r.sweep_id)
        row = rows.setdefault(key, {"sweep": key[0], "sweep_id": key[1], "runs": 0, "finished": 0,
                                    "factors": r.tags.get(FACTORS_TAG, ""), "started": r.start_time})
        row["runs"] += 1
        row["finished"] += r.status == "FINISHED"
        row["started"] = min(row["started"], r.start_time)
    frame = pd.DataFrame(list(rows.values()), columns=["sweep", "sweep_id", "runs", "finished", "factors", "started"])
    frame = frame.sort_values("started", kind="stable").reset_index(drop=True)
    frame["started"] = [iso_time(t) for t in frame["started"]]
    return frame


def parse_tag_filters(items: Sequence[str]) -> Dict[str, str]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CompareError(f"--tag {item!r}: write KEY=VALUE, e.g. --tag reward=coarse")
        out[key] = value
    return out


def select_runs(
    runs: Sequence[RunInfo],
    *,
    sweep: Optional[str] = None,
    sweep_id: Optional[str] = None,
    latest: bool = False,
    tags: Optional[Mapping[str, str]] = None,
    status: Sequence[str] = ("FINISHED",),
    where: str = "the store",
) -> List[RunInfo]:
    """The runs matching every criterion; ``sweep=None`` and no tags means the most recent sweep (or all runs)."""
    runs = list(runs)
    if not runs:
        raise CompareError(f"{where} holds no runs")
    chosen = runs
    if sweep is None and not tags and sweep_id is None:
        swept = [r for r in runs if r.sweep]
        if swept:
            sweep = max(swept, key=lambda r: r.start_time).sweep
            latest = True
            log.info("comparing the most recent sweep, %s (choose another with --sweep; --list shows all)", sweep)
    if sweep is not None:
        chosen = [r for r in chosen if r.sweep == sweep]
    if sweep_id is not None:
        chosen = [r for r in chosen if r.sweep_id == sweep_id]
    for key, value in (tags or {}).items():
        chosen = [r for r in chosen if r.tags.get(key, r.params.get(key)) == value]
    if latest and chosen:
        newest = max(chosen, key=lambda r: r.start_time).sweep_id
        chosen = [r for r in chosen if r.sweep_id == newest]
    wanted = [s.upper() for s in status] if status else []
    with_status = [r for r in chosen if not wanted or "ANY" in wanted or r.status in wanted]
    if not with_status:
        criteria = ", ".join(
            f"{k}={v}" for k, v in {"sweep": sweep, "sweep_id": sweep_id, **(tags or {})}.items() if v is not None
        ) or "all runs"
        summary = sweeps_summary(runs)
        listing = "\n".join(
            f"  {row.sweep} {row.sweep_id or ''} ({row.runs} runs, {row.finished} finished)" for row in summary.itertuples()
        )
        extra = ""
        if chosen:
            states = sorted({r.status for r in chosen})
            extra = (f"; {len(chosen)} run(s) match but none has status {'/'.join(wanted)} "
                     f"(theirs: {', '.join(states)}; --status any takes them)")
        raise CompareError(f"no runs selected in {where} by {criteria}{extra}. Sweeps there:\n{listing}")
    return with_status


# ----------------------------------------------------------------------------- factors


def run_value(run: RunInfo, key: str) -> Optional[str]:
    """``key`` for one run: a tag, a param, or a config group (``reward/schedule`` -> ``reward.schedule.name``)."""
    if key in run.tags:
        return run.tags[key]
    dotted = key.replace("/", ".")
    for candidate in (key, dotted, f"{dotted}.name"):
        if candidate in run.params:
            return run.params[candidate]
    return None


def _declared_factors(runs: Sequence[RunInfo]) -> List[str]:
    out: List[str] = []
    for r in runs:
        keys = [k for k in r.tags.get(FACTORS_TAG, "").split(",") if k]
        if not keys:  # W&B tags are cut at 64 characters; the config has the declared list
            i = 0
            while f"sweep.factors.{i}" in r.params:
                keys.append(r.params[f"sweep.factors.{i}"])
                i += 1
        for k in keys:
            if k not in out:
                out.append(k)
    return out


def _ignored(key: str) -> bool:
    return any(key == p.rstrip(".") or (p.endswith(".") and key.startswith(p)) for p in IGNORED_PARAMS)


def detect_factors(runs: Sequence[RunInfo]) -> List[str]:
    """Config keys whose values differ across ``runs`` (seed, paths and logger settings aside), one per partition.

    Keys that split the runs the same way (``reward.name`` and ``reward.granularity``) are one factor;
    a group's ``name`` is preferred and shown as the group (``reward``, ``reward/schedule``).
    """
    keys = sorted({k for r in runs for k in r.params})
    partitions: Dict[Tuple, List[str]] = {}
    for key in keys:
        if _ignored(key):
            continue
        values = tuple(r.params.get(key, "<unset>") for r in runs)
        if len(set(values)) < 2:
            continue
        index: Dict[str, int] = {}
        signature = tuple(index.setdefault(v, len(index)) for v in values)
        partitions.setdefault(signature, []).append(key)
    factors = []
    for group in partitions.values():
        names = [k for k in group if k.endswith(".name")]
        best = min(names or group, key=lambda k: (k.count("."), len(k)))
        factors.append(best[: -len(".name")].replace(".", "/") if best.endswith(".name") else best)
    return factors


def choose_factors(runs: Sequence[RunInfo], by: Optional[Sequence[str]] = None) -> List[str]:
    """``by``, else the factors the runs' sweep declared, else those :func:`detect_factors` finds."""
    if by:
        missing = [k for k in by if all(run_value(r, k) is None for r in runs)]
        if missing:
            raise CompareError(
                f"--by {', '.join(missing)}: no such tag or config key in the selected runs "
                f"(tags there: {', '.join(sorted({k for r in runs for k in r.tags}))})"
            )
        return list(by)
    declared = [k for k in _declared_factors(runs) if k not in NOT_FACTORS]
    return declared or detect_factors(runs)


# ----------------------------------------------------------------------------- metrics


def expand_metrics(patterns: Sequence[str], runs: Sequence[RunInfo], *, required: bool = True) -> List[str]:
    """Metric names matching ``patterns`` (globs allowed) in the runs' metrics, in pattern order.

    With ``required`` a pattern that matches nothing, or a metric some runs lack, raises
    :class:`CompareError` naming it, the runs and the closest metric names; without it such
    patterns are dropped (used for the default metric lists).
    """
    available = sorted({m for r in runs for m in r.metrics})
    out: List[str] = []
    for pattern in patterns:
        matched = [m for m in available if fnmatch.fnmatchcase(m, pattern)] if any(c in pattern for c in "*?[") else (
            [pattern] if pattern in available else [])
        if not matched:
            if required:
                close = difflib.get_close_matches(pattern, available, n=5, cutoff=0.5)
                hint = f"; closest: {', '.join(close)}" if close else ""
                raise CompareError(
                    f"metric {pattern!r} is not logged by the selected runs ({len(available)} metrics there{hint})"
                )
            continue
        for metric in matched:
            lacking = [r.name for r in runs if metric not in r.metrics]
            if lacking:
                if required:
                    raise CompareError(
                        f"metric {metric!r} is missing from {len(lacking)} of {len(runs)} runs: {', '.join(lacking[:5])}"
                        + (" ..." if len(lacking) > 5 else "")
                    )
                continue
            if metric not in out:
                out.append(metric)
    return out


@dataclass
class Comparison:
    """Selected runs and their metric histories, for :mod:`toolrl.compare.table` and :mod:`toolrl.compare.plots`."""

    # pandas DataFrame, one row per run (index run_id): name, status, start_time, sweep, sweep_id, seed, variant, factors
    runs: Any
    history: Any  # pandas DataFrame: run_id, metric, step, value
    factors: List[str]
    metrics: List[str]
    store: str = ""
    sweep: str = ""

    @property
    def variants(self) -> List[str]:
        return list(dict.fromkeys(self.runs["variant"]))

    @property
    def title(self) -> str:
        what = self.sweep or "runs"
        return f"{what}: {', '.join(self.factors) or 'no varied factor'}"


def load_comparison(
    store: Any = DEFAULT_STORE,
    *,
    sweep: Optional[str] = None,
    sweep_id: Optional[str] = None,
    latest: bool = False,
    tags: Optional[Mapping[str, str]] = None,
    status: Sequence[str] = ("FINISHED",),
    by: Optional[Sequence[str]] = None,
    metrics: Optional[Sequence[str]] = None,
    optional_metrics: Optional[Sequence[str]] = None,
    experiment: str = DEFAULT_EXPERIMENT,
    source: str = "auto",
) -> Comparison:
    """Select runs from ``store`` (a spec string or a store object) and load their metric histories.

    ``metrics`` (names or globs) must be logged by every selected run, else :class:`CompareError`;
    ``optional_metrics`` are loaded where every run has them. With neither, the default table and
    plot metrics (``TABLE_METRICS``, ``PLOT_METRICS``) are loaded as optional.
    """
    import pandas as pd

    st = open_store(store, experiment=experiment, source=source) if isinstance(store, (str, Path)) else store
    found = st.runs(sweep=sweep)
    if sweep and not found:  # nothing under that name: list what is there in the error
        found = st.runs()
    runs = select_runs(found, sweep=sweep, sweep_id=sweep_id, latest=latest, tags=tags, status=status,
                       where=st.description)
    factors = choose_factors(runs, by)
    if optional_metrics is None and not metrics:
        optional_metrics = [*TABLE_METRICS, *PLOT_METRICS]
    names = expand_metrics(list(metrics or ()), runs, required=True)
    names += [m for m in expand_metrics(list(optional_metrics or ()), runs, required=False) if m not in names]
    if not names:
        raise CompareError(f"none of the metrics {', '.join(optional_metrics or ())} is logged by every selected run; "
                           "name some with --metric")
    rows = []
    for r in runs:
        values = {k: (run_value(r, k) or "n/a") for k in factors}
        rows.append({
            "run_id": r.run_id, "name": r.name, "status": r.status, "start_time": r.start_time, "sweep": r.sweep,
            "sweep_id": r.sweep_id, "seed": r.seed,
            "variant": ",".join(f"{k}={v}" for k, v in values.items()) or "all", **values,
        })
    frame = pd.DataFrame(rows).set_index("run_id")
    history = []
    for r in runs:
        history += [(r.run_id, m, s, v) for m, s, v in st.history(r, names)]
    hist = pd.DataFrame(history, columns=["run_id", "metric", "step", "value"])
    _warn_duplicate_seeds(frame)
    sweeps = sorted({s for s in frame["sweep"] if s})
    return Comparison(runs=frame, history=hist, factors=factors, metrics=names, store=st.description,
                      sweep=",".join(sweeps))


def _warn_duplicate_seeds(frame) -> None:
    dup = frame[frame["seed"] != ""].groupby(["variant", "seed"]).size()
    dup = dup[dup > 1]
    for (variant, seed), count in dup.items():
        log.warning("variant %s has %d runs with seed %s (several sweep invocations? --latest keeps the newest)",
                    variant, count, seed)


def default_out_dir(spec: str, sweep: str = "") -> Path:
    """Where ``toolrl compare`` writes by default: ``compare/<sweep>`` beside a local store, else under ``outputs/``.

    ``outputs/mlflow.db`` -> ``outputs/compare/<sweep>``; a W&B offline folder ``X`` -> ``X/compare/<sweep>``.
    """
    name = sweep.replace(",", "+") or "runs"
    path = Path(str(spec)).expanduser()
    if ":" not in str(spec) or path.exists():
        if path.is_file():
            return path.parent / "compare" / name
        if path.is_dir():
            return path / "compare" / name
    if str(spec).startswith("sqlite:///"):
        return Path(str(spec)[len("sqlite:///"):]).parent / "compare" / name
    return Path("outputs") / "compare" / name


def find_store(spec: str = DEFAULT_STORE, start: Optional[Path] = None) -> str:
    """``spec`` as given when it exists or is a URI; a relative path is also looked up in the parents of ``start``.

    Lets a notebook in ``notebooks/`` find the repository's ``outputs/mlflow.db``.
    """
    if ":" in spec and not Path(spec).exists():
        return spec
    path = Path(spec)
    if path.is_absolute() or path.exists():
        return spec
    here = Path(start or Path.cwd()).resolve()
    for parent in [here, *here.parents]:
        if (parent / path).exists():
            return str(parent / path)
    return spec
