#!/usr/bin/env bash
# Run ticker bench over client counts and rates, one JSON file per run, for docs/benchmarks.md.
# Usage: bench/matrix.sh OUTPUT_DIR  (about 20 minutes on 2 cores)
set -euo pipefail
out=${1:?usage: bench/matrix.sh OUTPUT_DIR}
mkdir -p "$out"
ticker=${TICKER:-.venv/bin/ticker}
for rate in 10 500; do
  for clients in 1 10 100 1000; do
    "$ticker" bench --rate "$rate" --symbols 20 --clients "$clients" --duration 20 --warmup 3 \
      --json "$out/rate$rate-clients$clients.json" > "$out/rate$rate-clients$clients.txt"
  done
done
