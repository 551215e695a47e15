#!/usr/bin/env bash
# Run every benchmark and keep its table and JSON under bench/results/<date>/ (or $1).
#   bash bench/run_all.sh                 # full settings (tens of minutes on 2 CPU cores)
#   QUICK=1 bash bench/run_all.sh         # --quick everywhere (a smoke run)
# Extra arguments for every script go in $BENCH_ARGS (e.g. BENCH_ARGS="--threads 2").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results/$(date -u +%Y-%m-%d_%H%M)}"
mkdir -p "$out"
flags=(${BENCH_ARGS:-})
[[ -n "${QUICK:-}" ]] && flags+=(--quick)
for name in startup rewards sandbox overhead grpo_step; do
  echo "### $name"
  python "bench/$name.py" "${flags[@]}" --json "$out/$name.json" | tee "$out/$name.txt"
done
echo "results in $out"
