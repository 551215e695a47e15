"""Each benchmark runs end to end with --quick and prints its table and JSON (no timing is asserted)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name: str, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, f"bench/{name}.py", "--quick", "--json", str(out), *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "== " in proc.stdout and "machine: " in proc.stdout and "cpu=" in proc.stdout, proc.stdout
    data = json.loads(out.read_text())
    assert data["bench"] == name and data["machine"]["cores"] >= 1
    return data


def test_rewards_bench_scores_every_option(tmp_path):
    data = run_bench("rewards", tmp_path)
    labels = [row[0] for row in data["table"]["rows"]]
    assert labels == ["finegrained", "finegrained matching=optimal", "finegrained_strict", "intermediate", "coarse"]
    assert data["results"]["pairs"] % 6 == 0 and all(row[1] > 0 for row in data["table"]["rows"])


def test_startup_bench_times_each_command(tmp_path):
    data = run_bench("startup", tmp_path)
    assert {"train.py --help", "train.py --cfg job", "import toolrl"} <= set(data["results"])


@pytest.mark.slow
def test_sandbox_bench_compares_warm_and_fresh(tmp_path):
    data = run_bench("sandbox", tmp_path)
    assert {"plain", "sympy"} <= set(data["results"]) and data["results"]["plain"]["ratio"] > 0


@pytest.mark.slow
def test_overhead_bench_reports_each_phase(tmp_path):
    data = run_bench("overhead", tmp_path, "--kl", "0.04")
    assert [row[1] for row in data["table"]["rows"]] == ["generate", "logprobs", "update", "total"]


@pytest.mark.slow
def test_grpo_step_bench_runs_both_sides(tmp_path):
    args = ["--prompts", "1", "--group", "2", "--new-tokens", "4", "--reps", "1", "--kl", "0.04"]
    if importlib.util.find_spec("trl") is None:
        args.append("--no-trl")
    data = run_bench("grpo_step", tmp_path, *args)
    phases = [row[1] for row in data["table"]["rows"]]
    assert phases == ["generate", "logprobs", "reward", "update", "total", "total_cpu", "tokens"]
    assert data["results"]["kl=0.04"]["ours"]["logprobs"] > 0  # the reference pass ran
