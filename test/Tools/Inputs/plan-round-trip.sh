#!/usr/bin/env bash
# For every bundled example under every standard policy: the placement plan
# ckpt-compile saves, applied with --plan, gives byte-identical IR, program,
# report and plan again. Prints one line per example and policy.
# usage: plan-round-trip.sh EXAMPLES_DIR OUT_DIR
set -euo pipefail
EXAMPLES=$1 OUT=$2
mkdir -p "$OUT"

dense=(
  "none:--recompute-granularity=none"
  "selective:--recompute-granularity=selective"
  "selective-all:--recompute-granularity=selective --recompute-modules=core_attn,mlp,layernorm"
  "uniform-1:--recompute-granularity=full --recompute-method=uniform --recompute-num-layers=1"
  "block-1:--recompute-granularity=full --recompute-method=block --recompute-num-layers=1"
)
moe=(
  "none:--recompute-granularity=none"
  "selective:--recompute-granularity=selective"
  "selective-all:--recompute-granularity=selective --recompute-modules=core_attn,moe,layernorm"
  "selective-moe-act:--recompute-granularity=selective --recompute-modules=moe_act"
  "uniform-1:--recompute-granularity=full --recompute-method=uniform --recompute-num-layers=1"
  "block-1:--recompute-granularity=full --recompute-method=block --recompute-num-layers=1"
)
tiny=(
  "${dense[@]}"
  "budget:--memory-budget=150KiB"
)
tensor_parallel=(
  "${dense[@]}"
  "distributed:--recompute-granularity=full --recompute-method=uniform --recompute-num-layers=1 --distribute-saved-activations"
)

# round_trip NAME CONFIG FLAGS POLICY...: compile under each policy saving
# the plan, compile again from the plan, and compare every output.
round_trip() {
  local name=$1 config=$2 flags=$3
  shift 3
  local entry tag options
  for entry in "$@"; do
    tag=${entry%%:*} options=${entry#*:}
    local a=$OUT/$name.$tag b=$OUT/$name.$tag.reloaded
    # shellcheck disable=SC2086
    ckpt-compile "$config" $flags $options --save-plan="$a.plan.json" \
      -o "$a.program.json" --report="$a.report.json" --emit-mlir="$a.mlir" \
      --quiet
    # shellcheck disable=SC2086
    ckpt-compile "$config" $flags --plan="$a.plan.json" \
      --save-plan="$b.plan.json" -o "$b.program.json" \
      --report="$b.report.json" --emit-mlir="$b.mlir" --quiet
    for kind in plan.json program.json report.json mlir; do
      cmp "$a.$kind" "$b.$kind"
    done
    echo "$name $tag: identical"
  done
}

short="--seq-length=64"
round_trip tiny-gpt "$EXAMPLES/tiny-gpt.json" "" "${tiny[@]}"
round_trip tiny-gpt-tp2 "$EXAMPLES/tiny-gpt.json" \
  "--tensor-model-parallel-size=2" "${tensor_parallel[@]}"
round_trip tiny-gpt-tp2-sp "$EXAMPLES/tiny-gpt.json" \
  "--tensor-model-parallel-size=2 --sequence-parallel" "${dense[@]}"
for family in llama mistral qwen2; do
  round_trip "tiny-$family" "$EXAMPLES/tiny-$family.json" "" "${dense[@]}"
done
round_trip tiny-mixtral "$EXAMPLES/tiny-mixtral.json" "" "${moe[@]}"
round_trip gpt2-small "$EXAMPLES/gpt2-small/config.json" "$short" "${dense[@]}"
round_trip megatron-gpt-1.3b "$EXAMPLES/megatron-gpt-1.3b.json" "$short" \
  "${dense[@]}"
round_trip gpt3-175b "$EXAMPLES/gpt3-175b.json" "$short" "${dense[@]}"
# The last of 8 pipeline stages (12 layers, the head), in its schedule.
round_trip gpt3-175b-stage7 "$EXAMPLES/gpt3-175b.json" \
  "$short --pipeline-model-parallel-size=8 --num-microbatches=8 --pipeline-stage=7" \
  "${dense[@]}"
for model in llama3-8b llama3.1-8b llama3.2-1b mistral-7b mistral-7b-v0.3 \
  qwen2-7b qwen2.5-7b; do
  round_trip "$model" "$EXAMPLES/$model/config.json" "$short" "${dense[@]}"
done
round_trip mixtral-8x7b "$EXAMPLES/mixtral-8x7b/config.json" "$short" \
  "${moe[@]}"
