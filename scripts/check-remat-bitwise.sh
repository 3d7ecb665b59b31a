#!/usr/bin/env bash
# Proof by execution: runs the step of CONFIG without recompute and under
# every recompute policy, and checks that every gradient file is
# bit-identical to the no-recompute run. Prints one line per policy with the
# measured peak; exits non-zero on the first difference.
# usage: check-remat-bitwise.sh BIN_DIR CONFIG WORK_DIR
set -euo pipefail
BIN=$1 CONFIG=$2 WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK"

run() { # name, remat option string
  local name=$1
  REMAT=$2 "$HERE/build-program.sh" "$BIN" "$CONFIG" "$WORK/$name.json"
  rm -rf "$WORK/$name.grads"
  "$BIN/ckpt-run" "$WORK/$name.json" --seed=77 --dump-grads="$WORK/$name.grads" \
    > "$WORK/$name.out"
}
peak() { sed -n 's/.*peak of activations, temporaries and gradients \([0-9]*\) bytes/\1/p' "$WORK/$1.out"; }

run none ""
layers=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['num_layers'])" "$CONFIG")
echo "none: peak $(peak none) bytes"
policies=(
  "recompute-granularity=selective recompute-modules=core_attn"
  "recompute-granularity=selective recompute-modules=mlp"
  "recompute-granularity=selective recompute-modules=layernorm"
  "recompute-granularity=selective recompute-modules=core_attn,mlp"
  "recompute-granularity=selective recompute-modules=core_attn,mlp,layernorm"
  "recompute-granularity=full recompute-method=uniform recompute-num-layers=1"
  "recompute-granularity=full recompute-method=uniform recompute-num-layers=2"
  "recompute-granularity=full recompute-method=uniform recompute-num-layers=3"
  "recompute-granularity=full recompute-method=block recompute-num-layers=1"
  "recompute-granularity=full recompute-method=block recompute-num-layers=$layers"
)
status=0
for i in "${!policies[@]}"; do
  policy=${policies[$i]}
  run "p$i" "$policy"
  files=0
  for f in "$WORK"/none.grads/*.npy; do
    if ! cmp -s "$f" "$WORK/p$i.grads/$(basename "$f")"; then
      echo "DIFFERENT: $policy: $(basename "$f")"
      status=1
    fi
    files=$((files + 1))
  done
  echo "identical ($files gradients): $policy: peak $(peak "p$i") bytes"
done
exit $status
