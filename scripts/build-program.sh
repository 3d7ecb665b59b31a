#!/usr/bin/env bash
# Builds a runtime program from a model config:
#   config --(ckpt-translate --import-config)--> forward graph
#          --(ckpt-opt --xf-training-step [--ckpt-remat=$REMAT])--> step
#          --(ckpt-translate --mlir-to-program)--> program (JSON)
# usage: [REMAT="recompute-granularity=..."] [PLAN=1] build-program.sh BIN_DIR CONFIG OUT [import flags...]
# PLAN=1 adds --ckpt-schedule --ckpt-plan-memory: the runtime then places
# activations and temporaries in one arena at their planned offsets.
set -euo pipefail
BIN=$1 CONFIG=$2 OUT=$3
shift 3
passes=(--xf-training-step)
if [ -n "${REMAT:-}" ]; then
  passes+=("--ckpt-remat=$REMAT")
fi
if [ -n "${PLAN:-}" ]; then
  passes+=(--ckpt-schedule --ckpt-plan-memory)
fi
"$BIN/ckpt-translate" --import-config "$CONFIG" "$@" |
  "$BIN/ckpt-opt" "${passes[@]}" |
  "$BIN/ckpt-translate" --mlir-to-program -o "$OUT"
