#!/usr/bin/env bash
# Installs the build into a fresh prefix and builds the out-of-tree consumer
# of test/install/consumer against it with find_package(CkptOpt), then runs
# it on CONFIG. Prints the consumer's output; exits non-zero on any failure.
# usage: check-install.sh BUILD_DIR WORK_DIR CONFIG
set -euo pipefail
BUILD=$1 WORK=$2 CONFIG=$3
SRC=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log"
echo "installed: $(find "$WORK/prefix/lib" -name '*.a' | wc -l) libraries, \
$(find "$WORK/prefix/include" -name '*.h' | wc -l) headers, \
$(find "$WORK/prefix/include" -name '*.td' | wc -l) TableGen files, \
$(find "$WORK/prefix/bin" -type f | wc -l) tools"
compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
# Libraries built with sanitizers need them in the consumer's link too.
flags=""
if grep -q '^CKPT_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
  flags="-fsanitize=address,undefined -fno-sanitize=vptr"
fi
cmake -S "$SRC/test/install/consumer" -B "$WORK/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$compiler" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log"
ninja -C "$WORK/build" > "$WORK/build.log"
# Everything came from the prefix: no include path into the source tree.
if grep -q -- "-I$SRC/include\|-I$SRC/runtime/include" "$WORK/build/build.ninja"; then
  echo "the consumer's build reads the source tree's headers" >&2
  exit 1
fi
"$WORK/build/consumer" "$CONFIG"
"$WORK/build/c-consumer" "$CONFIG"
