#!/usr/bin/env bash
# Builds a runtime program from a model config:
#   config --(ckpt-translate --import-config)--> forward graph
#          --(ckpt-opt --xf-training-step [$PASSES])--> training step
#          --(ckpt-translate --mlir-to-program)--> program (JSON)
# usage: build-program.sh BIN_DIR CONFIG OUT [import flags...]
# PASSES (environment) adds ckpt-opt passes after the training step.
set -euo pipefail
BIN=$1 CONFIG=$2 OUT=$3
shift 3
# shellcheck disable=SC2086
"$BIN/ckpt-translate" --import-config "$CONFIG" "$@" |
  "$BIN/ckpt-opt" --xf-training-step ${PASSES:-} |
  "$BIN/ckpt-translate" --mlir-to-program -o "$OUT"
