#!/usr/bin/env bash
# `make run`: the whole pipeline on the bundled example. Imports the config,
# builds the training step, prints the activation report, lowers the step to
# a program and runs it on the CPU.
set -euo pipefail
BUILD_DIR=${1:-build}
EXAMPLE=${2:-examples/tiny-gpt.json}
BIN="$BUILD_DIR/bin"
OUT="$BUILD_DIR/run"
mkdir -p "$OUT"
name=$(basename "$EXAMPLE" .json)
# A Hugging Face folder's config.json is named after its folder.
[ "$name" = config ] && name=$(basename "$(dirname "$EXAMPLE")")

step() { echo; echo "== $*"; }
show() { echo "\$ $*"; "$@"; }

step "1. Import $EXAMPLE as an xf forward graph"
show "$BIN/ckpt-translate" --import-config "$EXAMPLE" -o "$OUT/$name.mlir"
echo "layer 0:"
grep -E 'xf.layer = 0 ' "$OUT/$name.mlir" | sed -E 's/\} : .*/}/' | head -6
echo "    ..."

step "2. Build the training step and report what the backward keeps"
show "$BIN/ckpt-opt" "$OUT/$name.mlir" --xf-training-step \
  "--ckpt-report=json=$OUT/$name.report.json" -o "$OUT/$name.step.mlir"
echo "(JSON report: $OUT/$name.report.json)"

step "3. Compare Megatron's recompute policies"
show "$BIN/ckpt-opt" "$OUT/$name.step.mlir" --ckpt-compare-policies -o /dev/null

step "4. Apply the default policy (selective: core attention), plan memory, lower"
show "$BIN/ckpt-opt" "$OUT/$name.step.mlir" \
  "--ckpt-remat=recompute-granularity=selective" --ckpt-schedule \
  --ckpt-plan-memory "--ckpt-report=svg=$OUT/$name.memory.svg" \
  -o "$OUT/$name.selective.mlir"
echo "(memory timeline: $OUT/$name.memory.svg)"
show "$BIN/ckpt-translate" --mlir-to-program "$OUT/$name.selective.mlir" \
  -o "$OUT/$name.program.json"

step "5. Run one training step on the CPU, from the planned arena"
show "$BIN/ckpt-run" "$OUT/$name.program.json" --repeat=3

step "6. Steps 1-4 in one command: ckpt-compile (the compiler library)"
show "$BIN/ckpt-compile" "$EXAMPLE" -o "$OUT/$name.compiled.json" --quiet \
  --recompute-granularity=selective
cmp "$OUT/$name.compiled.json" "$OUT/$name.program.json" &&
  echo "(the same program, byte for byte)"

step "7. A memory budget instead of a preset: the frontier, then the cheapest plan that fits its middle, run"
show "$BIN/ckpt-opt" "$OUT/$name.step.mlir" \
  "--ckpt-pareto=points=6 svg=$OUT/$name.frontier.svg json=$OUT/$name.frontier.json" \
  -o /dev/null
echo "(frontier plot: $OUT/$name.frontier.svg)"
# Halfway between the lowest planned peak and keeping everything.
budget=$(python3 -c "import json,sys; p = json.load(open(sys.argv[1]))['points']; \
print((p[0]['arena_bytes'] + p[-1]['arena_bytes']) // 2)" "$OUT/$name.frontier.json")
show "$BIN/ckpt-compile" "$EXAMPLE" -o "$OUT/$name.budget.json" --quiet \
  --memory-budget="$budget" "--report=$OUT/$name.budget.report.json"
python3 - "$OUT/$name.budget.report.json" "$budget" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"planned arena {r['arena_bytes']} bytes (budget {sys.argv[2]}); recompute "
      f"{r['recompute_flops']} FLOPs in {r['recompute_regions']} regions")
PY
show "$BIN/ckpt-run" "$OUT/$name.budget.json" --repeat=3

step "8. The same model on 2 tensor-parallel ranks (sequence parallel), with MPI"
show "$BIN/ckpt-translate" --import-config "$EXAMPLE" \
  --tensor-model-parallel-size=2 --sequence-parallel -o "$OUT/$name.tp2.mlir"
show "$BIN/ckpt-opt" "$OUT/$name.tp2.mlir" --xf-training-step \
  "--ckpt-remat=recompute-granularity=selective" --ckpt-schedule \
  --ckpt-plan-memory --ckpt-report -o "$OUT/$name.tp2.step.mlir"
show "$BIN/ckpt-translate" --mlir-to-program "$OUT/$name.tp2.step.mlir" \
  -o "$OUT/$name.tp2.json"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "\$ mpirun --oversubscribe -np 2 $BIN/ckpt-run $OUT/$name.tp2.json"
mpirun --oversubscribe -np 2 "$BIN/ckpt-run" "$OUT/$name.tp2.json" |
  grep -E "^(rank|loss|step time|arena)"
