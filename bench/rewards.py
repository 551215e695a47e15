"""ToolRL reward throughput: fine-grained rewards per second on the validation golds, perturbed.

    python bench/rewards.py             # every reward option, 80 golds x 6 variants, 5 repetitions
    python bench/rewards.py --quick

Golds: the 80-row validation split (``rlla_4k_test.parquet`` in ``../shared/data/toolrl``, or
``--data PATH``; without it the shipped sample). Each gold is scored as itself and in five
perturbed forms a policy produces: a parameter value changed, the tool name changed, a call
dropped (or a spurious one added), the ``<think>`` block missing, and no tool call at all.
Pure Python on one core; medians over repetitions that alternate the reward options.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import common
from common import median, parser, report, reps_of

DEFAULT_DATA = common.ROOT.parent / "shared" / "data" / "toolrl" / "rlla_4k_test.parquet"
OPTIONS = [("finegrained", []), ("finegrained", ["reward.matching=optimal"]), ("finegrained_strict", []),
           ("intermediate", []), ("coarse", [])]
CALLS = re.compile(r"<tool_call>\n?(.*?)\n?</tool_call>", re.S)


def golds(path: Path) -> Tuple[List[str], str]:
    from toolrl.data.rows import to_examples
    from toolrl.data.sources import read_rows

    source = str(path) if path.is_file() else "builtin:rlla_sample.json"
    rows, where = read_rows(source)
    return [e.ground_truth for e in to_examples(rows, where)], source


def _edit_calls(gold: str, edit) -> str:
    match = CALLS.search(gold)
    if not match:
        return gold.replace("<response>", "<response> Sorry,")  # a response-only gold: change the text
    calls = []
    for line in match.group(1).splitlines():
        try:
            calls.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    calls = edit(calls)
    body = "\n".join(json.dumps(c) for c in calls)
    return gold[: match.start(1)] + body + gold[match.end(1):]


def _value(calls):
    for c in calls:
        for k in list(c.get("parameters", {}))[:1]:
            c["parameters"][k] = str(c["parameters"][k]) + "_x"
    return calls


def _name(calls):
    return [{**c, "name": str(c.get("name", "")) + "V2"} for c in calls]


def _drop(calls):
    return calls[:-1] if len(calls) > 1 else calls + [{"name": "Extra", "parameters": {"q": "1"}}]


def perturbed(gold: str) -> List[str]:
    no_think = re.sub(r"<think>.*?</think>\s*", "", gold, flags=re.S)
    no_call = CALLS.sub("", gold).strip() or "<think> no tool </think>"
    return [gold, _edit_calls(gold, _value), _edit_calls(gold, _name), _edit_calls(gold, _drop), no_think, no_call]


def main(argv=None) -> Dict[str, Any]:
    p = parser(__doc__.split("\n")[0], reps=5, quick_reps=1)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="parquet/json with the golds")
    args = p.parse_args(argv)
    from toolrl.cli import compose
    from toolrl.rewards import from_config

    gold_list, source = golds(args.data)
    if args.quick:
        gold_list = gold_list[:10]
    pairs = [(pred, gold) for gold in gold_list for pred in perturbed(gold)]
    fns = {}
    for name, extra in OPTIONS:
        label = " ".join([name, *extra]).replace("reward.", "")
        fns[label] = from_config(compose([f"reward={name}", *extra]).reward)
    rates: Dict[str, List[float]] = {k: [] for k in fns}
    cpu_rates: Dict[str, List[float]] = {k: [] for k in fns}
    means: Dict[str, float] = {}
    labels = list(fns)
    for rep in range(reps_of(args) + 1):
        for label in labels if rep % 2 == 0 else labels[::-1]:
            fn = fns[label]
            t0, c0 = time.perf_counter(), time.process_time()
            totals = [fn(pred, gold, step=1, total_steps=100).total for pred, gold in pairs]
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            if rep:
                rates[label].append(len(pairs) / elapsed)
                cpu_rates[label].append(len(pairs) / max(cpu, 1e-9))
            means[label] = sum(totals) / len(totals)
    rows = [[label, median(r), median(cpu_rates[label]), 1e6 / median(cpu_rates[label]), means[label]]
            for label, r in rates.items()]
    results = {label: {"per_s": median(r), "per_cpu_s": median(cpu_rates[label]), "cpu_us_per_call": 1e6 / median(cpu_rates[label]),
                       "mean_reward": means[label]} for label, r in rates.items()}
    results["pairs"], results["source"] = len(pairs), source
    notes = [f"{len(gold_list)} golds from {source} x 6 variants = {len(pairs)} (prediction, gold) pairs per repetition; "
             "per_cpu_s counts the process's CPU time (what one core does, whatever else runs); target >= 20,000/s on one core"]
    report(args, "rewards", "ToolRL reward throughput (one core)", ["reward", "per_s", "per_cpu_s", "cpu_us_per_call", "mean_reward"],
           rows, results, notes)
    return results


if __name__ == "__main__":
    main()
