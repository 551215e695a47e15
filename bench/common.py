"""What every benchmark shares: the machine description, medians, the printed table and the JSON file.

Timings on a shared machine are noisy; every script alternates the things it compares within one
process and reports medians and ratios measured in the same run, which are what to compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere imports toolrl and bench
    sys.path.insert(0, str(ROOT))

NOISE_NOTE = ("medians of alternated repetitions in one process; on a shared machine compare the ratios, "
              "not the absolute times")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> Dict[str, Any]:
    """CPU model, cores, load, library versions and the date (UTC) of this measurement."""
    info: Dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def parser(description: str, reps: int, quick_reps: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--reps", type=int, default=None, help=f"repetitions per measurement (default {reps}; --quick: {quick_reps})")
    p.add_argument("--quick", action="store_true", help="a small, fast configuration (smoke test, CI)")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: on a loaded machine 2 threads were 4-9x slower than 1)")
    p.set_defaults(_reps=reps, _quick_reps=quick_reps)
    return p


def set_threads(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)


def quiet_transformers() -> None:
    """No progress bars or info lines from transformers / datasets while timing."""
    import logging

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("toolrl").setLevel(logging.WARNING)


def reps_of(args: argparse.Namespace) -> int:
    return args.reps or (args._quick_reps if args.quick else args._reps)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table(title: str, header: List[str], rows: List[List[Any]], info: Dict[str, Any], notes: Sequence[str] = ()) -> str:
    """A plain-text table with the machine and the notes under it."""
    cells = [[fmt(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    out = [f"== {title} ==", line(cells[0]), "  ".join("-" * w for w in widths), *[line(r) for r in cells[1:]]]
    out.append("machine: " + ", ".join(f"{k}={v}" for k, v in info.items() if v is not None))
    out += [f"note: {n}" for n in [*notes, NOISE_NOTE]]
    return "\n".join(out)


def report(args: argparse.Namespace, name: str, title: str, header: List[str], rows: List[List[Any]],
           results: Dict[str, Any], notes: Sequence[str] = (), info: Optional[Dict[str, Any]] = None) -> None:
    """Print the table; write ``{"bench", "machine", "results", "table"}`` to ``--json`` when given."""
    info = info or machine()
    text = table(title, header, rows, info, notes)
    print(text, flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"bench": name, "machine": info, "reps": reps_of(args), "quick": args.quick, "results": results,
                   "table": {"header": header, "rows": rows}}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
