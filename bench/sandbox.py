"""Sandbox throughput: code executions per second, warm pool against a fresh interpreter per call.

    python bench/sandbox.py            # 60 calls per measurement, 3 alternated repetitions
    python bench/sandbox.py --quick

Both sides use the same isolation (``--isolation auto``: bubblewrap, else unshare, else none; printed),
the same limits and the same number of workers; the warm pool forks each call from a zygote that has
numpy and sympy imported, the fresh side starts a new interpreter per call. Programs: a plain
``print(sum(range(1000)))`` and a typical ToRL one that solves an equation with sympy.
"""

from __future__ import annotations

from typing import Any, Dict

import common  # noqa: F401
from common import median, parser, report, reps_of


def main(argv=None) -> Dict[str, Any]:
    p = parser(__doc__.split("\n")[0], reps=3, quick_reps=1)
    p.add_argument("--calls", type=int, default=None, help="calls per measurement (default 60; --quick 6)")
    p.add_argument("--workers", type=int, default=2, help="sandboxes at once, both sides")
    p.add_argument("--isolation", default="auto", help="auto | bwrap | unshare | none")
    args = p.parse_args(argv)
    from toolrl.tools.sandbox import SandboxLimits, SandboxPool
    from toolrl.tools.sandbox.bench import PROGRAMS, measure

    calls = args.calls or (6 if args.quick else 60)
    limits = SandboxLimits(wall_seconds=60, cpu_seconds=60)
    rates: Dict[str, list] = {}
    pools = {
        "warm": SandboxPool(limits, workers=args.workers, warm=True, preload=("numpy", "sympy"), isolation=args.isolation),
        "fresh": SandboxPool(limits, workers=args.workers, warm=False, isolation=args.isolation),
    }
    try:
        isolation = pools["warm"].isolation.describe()
        for rep in range(reps_of(args)):
            for kind in ("warm", "fresh") if rep % 2 == 0 else ("fresh", "warm"):
                for name, code in PROGRAMS.items():
                    rates.setdefault(f"{name}/{kind}", []).append(measure(pools[kind], code, calls))
    finally:
        for pool in pools.values():
            pool.close()
    rows, results = [], {"isolation": isolation, "calls": calls, "workers": args.workers}
    for name in PROGRAMS:
        warm, fresh = median(rates[f"{name}/warm"]), median(rates[f"{name}/fresh"])
        rows.append([name, warm, fresh, warm / fresh])
        results[name] = {"warm_per_s": warm, "fresh_per_s": fresh, "ratio": warm / fresh}
    notes = [f"isolation: {isolation}; {calls} calls x {args.workers} workers per measurement; target: warm >= 10x fresh"]
    report(args, "sandbox", "Sandbox: calls per second, warm pool vs fresh interpreter", ["program", "warm", "fresh", "ratio"],
           rows, results, notes)
    return results


if __name__ == "__main__":
    main()
