#!/usr/bin/env bash
# Measured CPU step time of each recompute policy against the FLOP
# prediction of --ckpt-compare-policies, on one model.
# usage: bench/remat-overhead.sh BIN_DIR CONFIG WORK_DIR [import flags...]
# Prints a markdown table; all step times come from this one run.
set -euo pipefail
BIN=$1 CONFIG=$2 WORK=$3
shift 3
HERE=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK"

"$BIN/ckpt-translate" --import-config "$CONFIG" "$@" |
  "$BIN/ckpt-opt" --xf-training-step \
    "--ckpt-compare-policies=json=$WORK/compare.json" -o /dev/null > /dev/null

declare -A remat=(
  ["none"]=""
  ["selective(core_attn)"]="recompute-granularity=selective"
  ["selective(mlp)"]="recompute-granularity=selective recompute-modules=mlp"
  ["selective(core_attn,mlp,layernorm)"]="recompute-granularity=selective recompute-modules=core_attn,mlp,layernorm"
  ["full uniform N=1"]="recompute-granularity=full recompute-method=uniform recompute-num-layers=1"
  ["full uniform N=2"]="recompute-granularity=full recompute-method=uniform recompute-num-layers=2"
  ["full block N=1"]="recompute-granularity=full recompute-method=block recompute-num-layers=1"
)
order=("none" "selective(core_attn)" "selective(mlp)"
  "selective(core_attn,mlp,layernorm)" "full uniform N=1" "full uniform N=2"
  "full block N=1")

# A policy string of pass options ("recompute-granularity=full
# recompute-num-layers=1") as ckpt-compile flags.
policy_flags() { local kv; for kv in $1; do printf -- '--%s\n' "$kv"; done; }
step_ms() { sed -n 's/^step time: \([0-9.]*\) ms.*/\1/p' "$1"; }
for name in "${order[@]}"; do
  # shellcheck disable=SC2046
  "$BIN/ckpt-compile" "$CONFIG" -o "$WORK/prog.json" --quiet --no-plan \
    $(policy_flags "${remat[$name]}") "$@"
  "$BIN/ckpt-run" "$WORK/prog.json" --repeat=3 > "$WORK/$name.out"
done

base=$(step_ms "$WORK/none.out")
echo "| strategy | predicted overhead (FLOPs) | step time (ms) | measured overhead |"
echo "|---|---|---|---|"
for name in "${order[@]}"; do
  predicted=$(python3 -c "
import json, sys
rows = json.load(open(sys.argv[1]))['policies']
row = next(r for r in rows if r['strategy'] == sys.argv[2])
print('%.2f%%' % row['overhead_percent'])" "$WORK/compare.json" "$name")
  ms=$(step_ms "$WORK/$name.out")
  measured=$(python3 -c "print('%.1f%%' % (100 * ($ms / $base - 1)))")
  echo "| $name | $predicted | $ms | $measured |"
done
