#!/usr/bin/env bash
# Writes every user-visible output of the compiler on the bundled examples
# into OUT_DIR: the report (table and JSON) and the policy comparison of
# every example under every policy, the budget solver's frontier, the
# planned programs of the tiny model,
# and the gradients of a step under each policy. Run it before and after a
# refactoring and `diff -r` the two folders: a behaviour-preserving change
# leaves them byte-identical. EXTRA_REMAT_OPTIONS are appended to every
# policy (region-ops=all compares against a tree that re-ran whole spans).
# usage: golden-outputs.sh BIN_DIR OUT_DIR [EXTRA_REMAT_OPTIONS]
set -euo pipefail
BIN=$1 OUT=$2 EXTRA=${3:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"

policies=(
  "none:recompute-granularity=none"
  "selective:recompute-granularity=selective"
  "selective-all:recompute-granularity=selective recompute-modules=core_attn,mlp,layernorm"
  "full-uniform-1:recompute-granularity=full recompute-method=uniform recompute-num-layers=1"
  "full-uniform-2:recompute-granularity=full recompute-method=uniform recompute-num-layers=2"
  "full-block-1:recompute-granularity=full recompute-method=block recompute-num-layers=1"
)

# Small overrides keep the large shapes fast to plan; the shapes still differ.
examples=(
  "tiny:$ROOT/examples/tiny-gpt.json:"
  "gpt2:$ROOT/examples/gpt2-small/config.json:--seq-length=64"
  "m13b:$ROOT/examples/megatron-gpt-1.3b.json:--seq-length=128"
  "g175:$ROOT/examples/gpt3-175b.json:--seq-length=64"
  "tiny-tp2sp:$ROOT/examples/tiny-gpt.json:--tensor-model-parallel-size=2 --sequence-parallel"
  "tiny-tp2:$ROOT/examples/tiny-gpt.json:--tensor-model-parallel-size=2"
)

# compile NAME TAG OPTIONS: remat, schedule, plan and report NAME's step
# under the remat OPTIONS, then lower it to a program; outputs are NAME.TAG.*.
compile() {
  local name=$1 tag=$2 options=$3
  "$BIN/ckpt-opt" "$OUT/$name.step.mlir" "--ckpt-remat=$options${EXTRA:+ $EXTRA}" \
    --ckpt-schedule --ckpt-plan-memory \
    "--ckpt-report=json=$OUT/$name.$tag.report.json svg=$OUT/$name.$tag.svg" \
    -o "$OUT/$name.$tag.mlir" 2>"$OUT/$name.$tag.report.txt"
  "$BIN/ckpt-translate" --mlir-to-program "$OUT/$name.$tag.mlir" \
    -o "$OUT/$name.$tag.program.json"
}

for example in "${examples[@]}"; do
  IFS=: read -r name config flags <<<"$example"
  # shellcheck disable=SC2086
  "$BIN/ckpt-translate" --import-config "$config" $flags -o "$OUT/$name.mlir"
  "$BIN/ckpt-opt" "$OUT/$name.mlir" --xf-training-step -o "$OUT/$name.step.mlir"
  "$BIN/ckpt-opt" "$OUT/$name.step.mlir" \
    "--ckpt-compare-policies=json=$OUT/$name.compare.json" -o /dev/null \
    2>"$OUT/$name.compare.txt"
  for policy in "${policies[@]}"; do
    compile "$name" "${policy%%:*}" "${policy#*:}"
  done
  # The budget solver's frontier: its plans at six budgets.
  "$BIN/ckpt-opt" "$OUT/$name.step.mlir" \
    "--ckpt-pareto=points=6 json=$OUT/$name.pareto.json" -o /dev/null \
    2>"$OUT/$name.pareto.txt"
  if [ "$name" = tiny-tp2 ]; then
    compile "$name" distributed "recompute-granularity=full \
recompute-method=uniform recompute-num-layers=1 distribute-saved-activations=true"
  fi
done

# Gradients of one step of the tiny model under each policy.
for policy in "${policies[@]}"; do
  pname=${policy%%:*}
  "$BIN/ckpt-run" "$OUT/tiny.$pname.program.json" \
    --dump-grads="$OUT/grads.$pname" | grep -v '^step time' |
    sed "s|$OUT|OUT|g" >"$OUT/tiny.$pname.run.txt"
done
