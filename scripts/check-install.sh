#!/usr/bin/env bash
# Installs the build into a fresh prefix and builds the out-of-tree consumer
# of test/Install/Inputs/consumer against it with find_package(CkptOpt), then runs
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
cmake -S "$SRC/test/Install/Inputs/consumer" -B "$WORK/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$compiler" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log"
ninja -C "$WORK/build" > "$WORK/build.log"
# Everything came from the prefix: no include path into the source tree.
if grep -q -- "-I$SRC/include\|-I$SRC/runtime/include" "$WORK/build/build.ninja"; then
  echo "the consumer's build reads the source tree's headers" >&2
  exit 1
fi
# Every exported folder and file lies in the prefix (CKPT_OPT_MLIR_DIR is
# Debian's MLIR, where the build found it) and exists.
prefix=$(cd "$WORK/prefix" && pwd)
while IFS='=' read -r name value; do
  [ -n "$name" ] || continue
  # No plugin in a sanitizer build (it could not load into mlir-opt).
  [ "$name" = CKPT_OPT_PLUGIN ] && [ -z "$value" ] && continue
  if [ "$name" != CKPT_OPT_MLIR_DIR ] && [[ "$value" != "$prefix"/* ]]; then
    echo "$name=$value is not under the prefix $prefix" >&2
    exit 1
  fi
  [ -e "$value" ] || { echo "$name=$value does not exist" >&2; exit 1; }
done < "$WORK/build/ckpt-opt-variables.txt"
echo "variables: $(grep -c . "$WORK/build/ckpt-opt-variables.txt") checked"
"$WORK/build/consumer" "$CONFIG"
"$WORK/build/c-consumer" "$CONFIG"

# The installed tools start and run the whole flow from the prefix alone.
bin=$(sed -n 's/^CKPT_OPT_BIN_DIR=//p' "$WORK/build/ckpt-opt-variables.txt")
"$bin/ckpt-translate" --import-config "$CONFIG" -o "$WORK/graph.mlir"
"$bin/ckpt-opt" --xf-training-step "$WORK/graph.mlir" -o "$WORK/step.mlir"
"$bin/ckpt-compile" "$CONFIG" -o "$WORK/program.json" --quiet
"$bin/ckpt-run" "$WORK/program.json" --threads=1 > "$WORK/run.log"
printf 'id,lower,upper,size\na,0,2,64\nb,1,3,32\n' > "$WORK/buffers.csv"
"$bin/ckpt-dsa" "$WORK/buffers.csv" -o "$WORK/offsets.csv" > /dev/null
echo "tools: $(grep -c '@train_step' "$WORK/step.mlir") step, $(wc -l < "$WORK/offsets.csv") offset lines, $(grep -c 'loss' "$WORK/run.log") loss line"
plugin=$(sed -n 's/^CKPT_OPT_PLUGIN=//p' "$WORK/build/ckpt-opt-variables.txt")
if [ -n "$plugin" ]; then
  /usr/lib/llvm-19/bin/mlir-opt --load-dialect-plugin="$plugin" \
    --load-pass-plugin="$plugin" "$WORK/graph.mlir" --pass-pipeline="builtin.module(xf-training-step)" > /dev/null
  echo "plugin: loaded"
else
  echo "plugin: none in this build"
fi
