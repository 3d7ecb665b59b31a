#!/usr/bin/env bash
# Measured CPU step time of each recompute policy against the FLOP
# prediction of --ckpt-compare-policies, on one model, with regions that
# re-run only what the backward reads (ours) and regions that re-run each
# checkpointed span whole (region-ops=all, as Megatron-LM re-executes).
# usage: bench/remat-overhead.sh BIN_DIR CONFIG WORK_DIR [import flags...]
# ROUNDS (default 5) rounds run every program once each (the fastest of 3
# steps), interleaved; the table gives the fastest and the median step time
# over the rounds and the overheads against no recompute from the same
# statistic. Prints markdown.
set -euo pipefail
BIN=$1 CONFIG=$2 WORK=$3
shift 3
ROUNDS=${ROUNDS:-5}
mkdir -p "$WORK"

"$BIN/ckpt-translate" --import-config "$CONFIG" "$@" |
  "$BIN/ckpt-opt" --xf-training-step \
    "--ckpt-compare-policies=json=$WORK/compare.json" -o /dev/null 2>/dev/null

declare -A remat=(
  ["none"]=""
  ["selective(core_attn)"]="recompute-granularity=selective"
  ["selective(mlp)"]="recompute-granularity=selective recompute-modules=mlp"
  ["selective(core_attn,mlp,layernorm)"]="recompute-granularity=selective recompute-modules=core_attn,mlp,layernorm"
  ["full uniform N=1"]="recompute-granularity=full recompute-method=uniform recompute-num-layers=1"
  ["full uniform N=2"]="recompute-granularity=full recompute-method=uniform recompute-num-layers=2"
)
order=("none" "selective(core_attn)" "selective(mlp)"
  "selective(core_attn,mlp,layernorm)" "full uniform N=1" "full uniform N=2")

# A policy string of pass options ("recompute-granularity=full
# recompute-num-layers=1") as ckpt-compile flags.
policy_flags() { local kv; for kv in $1; do printf -- '--%s\n' "$kv"; done; }

# Programs: none once; every other policy with both kinds of region.
programs=()
for i in "${!order[@]}"; do
  name=${order[$i]}
  for ops in needed all; do
    [ "$name" = none ] && [ "$ops" = all ] && continue
    # shellcheck disable=SC2046
    "$BIN/ckpt-compile" "$CONFIG" -o "$WORK/p$i.$ops.json" --quiet \
      --region-ops=$ops $(policy_flags "${remat[$name]}") "$@"
    programs+=("p$i.$ops")
  done
done

for round in $(seq "$ROUNDS"); do
  for program in "${programs[@]}"; do
    "$BIN/ckpt-run" "$WORK/$program.json" --repeat=3 |
      sed -n 's/^step time: \([0-9.]*\) ms.*/\1/p' >>"$WORK/$program.times"
  done
done

python3 - "$WORK" "$WORK/compare.json" "$ROUNDS" "${order[@]}" <<'EOF'
import json, statistics, sys
work, compare, rounds, order = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = {r['strategy']: r for r in json.load(open(compare))['policies']}
def times(program):
    return [float(t) for t in open(f"{work}/{program}.times").read().split()]
base = times("p0.needed")
bmin, bmed = min(base), statistics.median(base)
def over(ts):
    return (100 * (min(ts) / bmin - 1), 100 * (statistics.median(ts) / bmed - 1))
print(f"{rounds} interleaved rounds; step times in ms, min / median; "
      f"no recompute: {bmin:.1f} / {bmed:.1f}")
print()
print("| strategy | regions | predicted overhead (FLOPs) | step time | measured overhead (min / median) |")
print("|---|---|---|---|---|")
for i, name in enumerate(order):
    if name == "none":
        continue
    row = rows[name]
    for ops, key, label in (("needed", "overhead_percent", "needed ops (ours)"),
                            ("all", "span_overhead_percent", "whole span (Megatron)")):
        ts = times(f"p{i}.{ops}")
        omin, omed = over(ts)
        print(f"| {name} | {label} | {row[key]:.2f}% | "
              f"{min(ts):.1f} / {statistics.median(ts):.1f} | "
              f"{omin:.1f}% / {omed:.1f}% |")
EOF
