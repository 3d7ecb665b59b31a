#!/usr/bin/env bash
# Megatron's recompute policies on a pipelined model, per stage: for each
# policy and schedule, the first stage (which limits the job) and the last.
#
# usage: [BUDGET=SIZE] bench/pipeline-policies.sh BIN CONFIG [IMPORT-FLAGS...]
# e.g.   BUDGET=9GiB bench/pipeline-policies.sh build/bin examples/gpt3-175b.json \
#          --tensor-model-parallel-size=8 --sequence-parallel \
#          --pipeline-model-parallel-size=8 --num-microbatches=16
# With BUDGET, the budget solver's plans under that arena budget too (each
# stage planned against its own arena). "recompute" is the stage's recompute
# FLOPs over its forward + backward FLOPs, per micro-batch.
set -euo pipefail
bin=$1 config=$2
shift 2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-34s %-3s %-6s %-10s %-12s %-12s %-12s %-12s %-10s\n' policy v stage \
  "in flight" "kept once" peak arena total recompute
policies=("none" "selective" "full uniform 1" "full block 4")
[ -n "${BUDGET:-}" ] && policies+=("budget $BUDGET")
for policy in "${policies[@]}"; do
  case $policy in
  none) flags=() ;;
  selective) flags=(--recompute-granularity=selective) ;;
  "full uniform 1") flags=(--recompute-granularity=full --recompute-method=uniform --recompute-num-layers=1) ;;
  "full block 4") flags=(--recompute-granularity=full --recompute-method=block --recompute-num-layers=4) ;;
  budget*) flags=(--memory-budget="$BUDGET") ;;
  esac
  for v in 1 2; do
    "$bin/ckpt-compile" "$config" "$@" --virtual-pipeline-model-parallel-size=$v \
      "${flags[@]}" -o "$out/step.json" --report="$out/report.json" >/dev/null
    python3 - "$out/report.json" "$policy" "$v" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
gib = lambda b: "%.2f GiB" % (b / 2**30)
stages = report["stages"]
for s in (stages[0], stages[-1]):
    print("%-34s %-3s %-6s %-10s %-12s %-12s %-12s %-12s %-10s" % (
        sys.argv[2], sys.argv[3], s["stage"], s["in_flight"],
        gib(s["kept_bytes_at_once"]), gib(s["peak_bytes"]),
        gib(s["arena_bytes"]), gib(s["arena_bytes"] + s["persistent_bytes"]),
        "%.2f%%" % (100 * s["recompute_flops_per_micro_batch"] /
                    s["step_flops_per_micro_batch"])))
PY
  done
done
