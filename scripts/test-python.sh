#!/usr/bin/env bash
# The Python package's tests (`make test` runs this): installs the build into
# BUILD_DIR/python-prefix, builds and pip-installs python/ into a virtual
# environment BUILD_DIR/python-venv (the one command the README shows, with
# pytest and matplotlib), then runs pytest on python/tests and the examples
# of docs/python.md.
# usage: test-python.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX="$BUILD/python-prefix"
VENV="$BUILD/python-venv"
cmake --install "$BUILD" --prefix "$PREFIX" > "$BUILD/python-install.log"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "$SRC/python[test]" \
  --config-settings=cmake.define.CMAKE_PREFIX_PATH="$PREFIX" \
  --config-settings=build-dir="$BUILD/python-build"
cd "$SRC"
# The runtime's own tool, to compare run_step with (test_api.py).
export CKPT_RUN="$BUILD/bin/ckpt-run"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests \
  --doctest-glob='python.md' docs/python.md --doctest-modules \
  "$VENV"/lib/python3*/site-packages/ckpt_opt/__init__.py \
  "$VENV"/lib/python3*/site-packages/ckpt_opt/_api.py
