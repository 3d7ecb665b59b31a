#!/usr/bin/env bash
# Gradients against Hugging Face transformers' own models, in float64
# (scripts/compare_transformers.py; figures in docs/models.md). Installs
# torch, transformers and numpy from PyPI into their own virtual environment
# (BUILD_DIR/transformers-venv, or $TRANSFORMERS_VENV when set: a few GB,
# so not part of `make test`), then runs every case, or the CASEs given.
# usage: compare-transformers.sh BUILD_DIR [CASE...]
set -euo pipefail
BUILD=$(cd "$1" && pwd)
shift
SRC=$(cd "$(dirname "$0")/.." && pwd)
VENV=${TRANSFORMERS_VENV:-$BUILD/transformers-venv}
if ! "$VENV/bin/python" -c 'import torch, transformers, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch 'transformers>=5' numpy
fi
WORK="$BUILD/compare-transformers"
rm -rf "$WORK"
"$VENV/bin/python" "$SRC/scripts/compare_transformers.py" "$BUILD/bin" "$WORK" "$@"
