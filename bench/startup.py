"""Start-up times: ``python train.py --help``, ``python train.py --cfg job`` and ``import toolrl``.

    python bench/startup.py            # 5 alternated repetitions of each command
    python bench/startup.py --quick

Each command runs in a fresh interpreter from the repository root, commands alternating; wall
time from ``subprocess`` start to exit. ``import torch`` is shown for scale (what a training run
pays before any work; ``--help`` and ``--cfg job`` must not pay it).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from typing import Any, Dict, Tuple

import common
from common import median, parser, report, reps_of

COMMANDS = {
    "train.py --help": ["train.py", "--help"],
    "train.py --cfg job": ["train.py", "--cfg", "job"],
    "import toolrl": ["-c", "import toolrl"],
    "import torch (scale)": ["-c", "import torch"],
}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args) -> Tuple[float, float]:
    """(wall, CPU) seconds of one run in a fresh interpreter."""
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, *args], cwd=common.ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, _children_cpu() - c0


def main(argv=None) -> Dict[str, Any]:
    p = parser(__doc__.split("\n")[0], reps=5, quick_reps=1)
    args = p.parse_args(argv)
    times: Dict[str, list] = {k: [] for k in COMMANDS}
    cpu: Dict[str, list] = {k: [] for k in COMMANDS}
    names = list(COMMANDS)
    for rep in range(reps_of(args)):
        for name in names if rep % 2 == 0 else names[::-1]:
            wall, used = run_once(COMMANDS[name])
            times[name].append(wall)
            cpu[name].append(used)
    rows = [[name, median(t), min(t), median(cpu[name])] for name, t in times.items()]
    results = {name: {"median_s": median(t), "min_s": min(t), "cpu_s": median(cpu[name]), "all_s": t}
               for name, t in times.items()}
    notes = ["cpu = user + system seconds of the command (less sensitive to a loaded machine than wall time); "
             "target: train.py --help < 1.5 s"]
    report(args, "startup", "Start-up time (seconds)", ["command", "wall_median", "wall_min", "cpu_median"], rows, results, notes)
    return results


if __name__ == "__main__":
    main()
