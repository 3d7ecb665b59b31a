#!/usr/bin/env bash
# `make run`: imports the bundled example config into an xf forward graph,
# verifies it, and shows what it holds.
set -euo pipefail
BUILD_DIR=${1:-build}
EXAMPLE=${2:-examples/tiny-gpt.json}
BIN="$BUILD_DIR/bin"
OUT="$BUILD_DIR/run"
mkdir -p "$OUT"
name=$(basename "$EXAMPLE" .json)

echo "== Import $EXAMPLE"
echo "\$ ckpt-translate --import-config $EXAMPLE -o $OUT/$name.mlir"
"$BIN/ckpt-translate" --import-config "$EXAMPLE" -o "$OUT/$name.mlir"
echo "wrote $OUT/$name.mlir ($(wc -l < "$OUT/$name.mlir") lines)"
echo
echo "== Layer 0 of the forward graph (tags: xf.layer, xf.module)"
grep -E 'xf.layer = 0 ' "$OUT/$name.mlir" | sed -E 's/\} : .*/}/' | head -20
echo
echo "== Ops in the graph"
echo "\$ ckpt-opt $OUT/$name.mlir --verify-each --print-op-stats -o /dev/null"
"$BIN/ckpt-opt" "$OUT/$name.mlir" --verify-each --print-op-stats -o /dev/null
