#!/usr/bin/env bash
# Proof by execution: runs the step of CONFIG without recompute and under
# every recompute policy, each memory-planned and run from its arena (ckpt-run
# fails unless the arena and the measured peak equal the plan), and checks
# that every gradient file is bit-identical to the no-recompute run without
# an arena (each tensor allocated on its own). Prints one line per policy
# with the planned and measured peak; exits non-zero on any difference.
# POLICIES, when given, replace the standard list. CKPT_RUN_FLAGS, when set,
# go to every ckpt-run (--backend=cuda runs the proof on the GPU).
# usage: check-remat-bitwise.sh BIN_DIR CONFIG WORK_DIR [POLICY...]
set -euo pipefail
BIN=$1 CONFIG=$2 WORK=$3
shift 3
mkdir -p "$WORK"
# A policy string of pass options ("recompute-granularity=full
# recompute-num-layers=1") as ckpt-compile flags.
policy_flags() { local kv; for kv in $1; do printf -- '--%s\n' "$kv"; done; }

run() { # name, remat option string, extra ckpt-run flags
  local name=$1
  # shellcheck disable=SC2046
  "$BIN/ckpt-compile" "$CONFIG" -o "$WORK/$name.json" --quiet $(policy_flags "$2")
  rm -rf "$WORK/$name.grads"
  # shellcheck disable=SC2086
  "$BIN/ckpt-run" "$WORK/$name.json" --seed=77 --dump-grads="$WORK/$name.grads" \
    ${CKPT_RUN_FLAGS:-} ${3:-} > "$WORK/$name.out"
}
peak() { sed -n 's/^arena: .*measured peak \([0-9]*\) bytes (planned \([0-9]*\)).*/\1 (planned \2)/p' "$WORK/$1.out"; }

run none "" --no-arena
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
  "recompute-granularity=selective recompute-modules=core_attn,mlp region-ops=all"
  "recompute-granularity=full recompute-method=uniform recompute-num-layers=2 region-ops=all"
  "memory-budget=140KiB"
  "memory-budget=180KiB"
  "memory-budget=250KiB"
)
[ $# -gt 0 ] && policies=("$@")
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
  echo "identical ($files gradients): $policy: arena peak $(peak "p$i") bytes"
done
exit $status
