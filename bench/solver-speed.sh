#!/usr/bin/env bash
# The budget solver's wall time on the shapes #30 names, for two builds
# side by side (interleaved rounds, so that both see the same machine):
# one budget on the 96-layer GPT-3 175B shape; its 10-point frontier, plain
# and with t = 8 and sequence parallelism; one budget on the 2-layer tiny
# MoE (test/Runtime/Inputs/tiny-moe.json); one budget on the 175B shape at
# 1000 layers; and stage 0 of 175B with t = 8, SP and p = 8 at m = 16 and
# m = 64 micro-batches (ckpt-compile --memory-budget=9GiB), and the same
# stage under selective recompute, which lowers, unrolls and plans it once
# without the solver. Each build's
# output (the IR or program, and the frontier it prints) is compared byte
# for byte. Prints a Markdown table: min and median
# per build, and the ratio of medians.
# usage: solver-speed.sh BEFORE_BIN_DIR AFTER_BIN_DIR [ROUNDS] [WORK_DIR]
set -euo pipefail
BEFORE=$1 AFTER=$2 ROUNDS=${3:-3}
WORK=${4:-$(mktemp -d)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK"

step() { # step NAME CONFIG [FLAGS...]: the training step of CONFIG
  local name=$1 config=$2
  shift 2
  "$AFTER/ckpt-translate" --import-config "$config" "$@" |
    "$AFTER/ckpt-opt" --xf-training-step -o "$WORK/$name.mlir"
}
step g175 "$ROOT/examples/gpt3-175b.json"
step g175sp "$ROOT/examples/gpt3-175b.json" --tensor-model-parallel-size=8 \
  --sequence-parallel
step moe "$ROOT/test/Runtime/Inputs/tiny-moe.json"
python3 - "$ROOT/examples/gpt3-175b.json" "$WORK/g1000.json" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
config["num_layers"] = 1000
json.dump(config, open(sys.argv[2], "w"))
EOF
step g1000 "$WORK/g1000.json"

cases=(
  "175B, one budget|ckpt-opt $WORK/g175.mlir --ckpt-remat=memory-budget=85790294016"
  "175B, frontier of 10|ckpt-opt $WORK/g175.mlir --ckpt-pareto=points=10"
  "175B t=8 SP, frontier of 10|ckpt-opt $WORK/g175sp.mlir --ckpt-pareto=points=10"
  "tiny MoE, one budget|ckpt-opt $WORK/moe.mlir --ckpt-remat=memory-budget=300KiB"
  "175B at 1000 layers, one budget|ckpt-opt $WORK/g1000.mlir --ckpt-remat=memory-budget=800GiB"
  "175B t=8 SP p=8, stage 0, m=16|ckpt-compile $ROOT/examples/gpt3-175b.json --tensor-model-parallel-size=8 --sequence-parallel --pipeline-model-parallel-size=8 --num-microbatches=16 --pipeline-stage=0 --memory-budget=9GiB --jobs=1 --quiet"
  "175B t=8 SP p=8, stage 0, m=64|ckpt-compile $ROOT/examples/gpt3-175b.json --tensor-model-parallel-size=8 --sequence-parallel --pipeline-model-parallel-size=8 --num-microbatches=64 --pipeline-stage=0 --memory-budget=9GiB --jobs=1 --quiet"
  "the same, m=16, selective (no solver)|ckpt-compile $ROOT/examples/gpt3-175b.json --tensor-model-parallel-size=8 --sequence-parallel --pipeline-model-parallel-size=8 --num-microbatches=16 --pipeline-stage=0 --recompute-granularity=selective --jobs=1 --quiet"
  "the same, m=64, selective (no solver)|ckpt-compile $ROOT/examples/gpt3-175b.json --tensor-model-parallel-size=8 --sequence-parallel --pipeline-model-parallel-size=8 --num-microbatches=64 --pipeline-stage=0 --recompute-granularity=selective --jobs=1 --quiet"
)

# run BIN_DIR INDEX TAG: one timed run of case INDEX; its output kept.
run() {
  local bin=$1 index=$2 tag=$3 command
  command=${cases[$index]#*|}
  local tool=${command%% *} args=${command#* }
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$bin/$tool" $args -o "$WORK/out.$index.$tag" >"$WORK/log.$index.$tag" 2>&1
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", e - s }' \
    >>"$WORK/times.$index.$tag"
}

rm -f "$WORK"/times.*
for ((round = 0; round < ROUNDS; ++round)); do
  for index in "${!cases[@]}"; do
    run "$BEFORE" "$index" before
    run "$AFTER" "$index" after
  done
done

stats() { # min and median of a file of times
  sort -g "$1" | awk '{v[NR] = $1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
    printf "%.2f %.2f", v[1], m }'
}

echo "| case | before (min / median) | after (min / median) | after / before (medians) | same output |"
echo "|---|---|---|---|---|"
for index in "${!cases[@]}"; do
  read -r bmin bmed <<<"$(stats "$WORK/times.$index.before")"
  read -r amin amed <<<"$(stats "$WORK/times.$index.after")"
  same=yes
  cmp -s "$WORK/out.$index.before" "$WORK/out.$index.after" || same=no
  cmp -s "$WORK/log.$index.before" "$WORK/log.$index.after" || same=no
  ratio=$(awk -v a="$amed" -v b="$bmed" 'BEGIN { printf "%.3f", a / b }')
  echo "| ${cases[$index]%%|*} | $bmin / $bmed s | $amin / $amed s | $ratio | $same |"
done
