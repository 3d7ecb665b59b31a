#!/usr/bin/env bash
# Time and peak memory of each compiler stage against depth: a 32-wide GPT
# (a = 4, s = 16, b = 1) at 100, 1000 and 10,000 layers (or the depths
# given), through import, the training step, and selective remat with the
# schedule and the memory plan. Prints a Markdown table (GNU time: elapsed
# seconds and maximum resident set size).
# usage: bench/depth-scaling.sh [BIN_DIR] [LAYERS...]
set -euo pipefail
BIN=${1:-build/bin}
shift || true
depths=("$@")
[ ${#depths[@]} -eq 0 ] && depths=(100 1000 10000)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

measure() { # label, command...
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > /dev/null
  read -r seconds kib < "$WORK/time"
  printf '| %s | %s | %.2f s | %d MiB |\n' "$layers" "$label" "$seconds" \
    $((kib / 1024))
}

echo "| layers | stage | time | peak RSS |"
echo "|---|---|---|---|"
for layers in "${depths[@]}"; do
  python3 -c "import json, sys; print(json.dumps({'num_layers': int(sys.argv[1]), \
'hidden_size': 32, 'num_attention_heads': 4, 'seq_length': 16, \
'micro_batch_size': 1, 'padded_vocab_size': 128}))" "$layers" > "$WORK/model.json"
  measure "import" "$BIN/ckpt-translate" --import-config "$WORK/model.json" \
    -o "$WORK/forward.mlir"
  measure "training step" "$BIN/ckpt-opt" "$WORK/forward.mlir" \
    --xf-training-step -o "$WORK/step.mlir"
  measure "remat + schedule + plan" "$BIN/ckpt-opt" "$WORK/step.mlir" \
    --ckpt-remat=recompute-granularity=selective --ckpt-schedule \
    --ckpt-plan-memory -o /dev/null
done
