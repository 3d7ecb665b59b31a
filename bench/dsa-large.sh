#!/usr/bin/env bash
# ckpt-dsa on large random instances (test/Planner/Inputs/dsa-random.py):
# dense ones beyond the exact search's limit keep the greedy packing; wall
# time and peak memory of each of ROUNDS runs.
# usage: bench/dsa-large.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
BUILD=${1:-build} ROUNDS=${2:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in 300000 1000000; do
  python3 "$SRC/test/Planner/Inputs/dsa-random.py" "$n" 1000000 10000 > "$work/$n.csv"
  for ((r = 0; r < ROUNDS; r++)); do
    /usr/bin/time -f "$n rows: %e s, %M KB" "$BUILD/bin/ckpt-dsa" "$work/$n.csv" \
      --seconds=20 > /dev/null
  done
done
