#!/usr/bin/env bash
# The budget solver against Megatron's presets: for each preset, its planned
# arena peak and recompute FLOPs, then the solver with that peak as the
# budget (its peak, its FLOPs, and the time of the whole --ckpt-remat +
# --ckpt-plan-memory run). Prints a markdown table.
# usage: bench/budget-vs-presets.sh BIN_DIR WORK_DIR NAME CONFIG [import flags...]
set -euo pipefail
BIN=$1 WORK=$2 NAME=$3 CONFIG=$4
shift 4
mkdir -p "$WORK"
step="$WORK/$NAME.step.mlir"
"$BIN/ckpt-translate" --import-config "$CONFIG" "$@" |
  "$BIN/ckpt-opt" --xf-training-step -o "$step"
layers=$(grep -o 'num_layers = [0-9]*' "$step" | head -1 | grep -o '[0-9]*$')

presets=(
  "selective(core_attn):recompute-granularity=selective"
  "selective(core_attn,mlp,layernorm):recompute-granularity=selective recompute-modules=core_attn,mlp,layernorm"
  "full uniform N=1:recompute-granularity=full recompute-method=uniform recompute-num-layers=1"
  "full uniform N=2:recompute-granularity=full recompute-method=uniform recompute-num-layers=2"
  "full block N=$((layers / 2)):recompute-granularity=full recompute-method=block recompute-num-layers=$((layers / 2))"
)

# plan OPTIONS JSON: remat, schedule and plan; the report as JSON; prints
# the wall time in seconds.
plan() {
  local start end
  start=$(date +%s.%N)
  "$BIN/ckpt-opt" "$step" "--ckpt-remat=$1" --ckpt-schedule --ckpt-plan-memory \
    "--ckpt-report=json=$2 table=false" -o /dev/null || return 1
  end=$(date +%s.%N)
  python3 -c "print('%.2f' % ($end - $start))"
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

echo "| $NAME: preset | preset peak | preset recompute FLOPs | budget solver peak | solver FLOPs | solver / preset | solver time (s) |"
echo "|---|---|---|---|---|---|---|"
for entry in "${presets[@]}"; do
  name=${entry%%:*} options=${entry#*:}
  plan "$options" "$WORK/preset.json" >/dev/null
  peak=$(field "$WORK/preset.json" arena_bytes)
  flops=$(field "$WORK/preset.json" recompute_flops)
  rm -f "$WORK/budget.json"
  if ! seconds=$(plan "memory-budget=$peak" "$WORK/budget.json" 2>"$WORK/budget.err"); then
    lowest=$(grep -o 'solver reaches, [0-9]* bytes' "$WORK/budget.err" | grep -o '[0-9]*')
    echo "| $name | $peak | $flops | does not fit (lowest: $lowest) | - | - | - |"
    continue
  fi
  speak=$(field "$WORK/budget.json" arena_bytes)
  sflops=$(field "$WORK/budget.json" recompute_flops)
  ratio=$(python3 -c "print('%.3f' % ($sflops / $flops))")
  echo "| $name | $peak | $flops | $speak | $sflops | $ratio | $seconds |"
done
