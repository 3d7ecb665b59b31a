#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer into
# BUILD_DIR and runs every test there (lit and GoogleTest).
# usage: test-sanitize.sh [BUILD_DIR] [JOBS] [LLVM_PREFIX]
set -euo pipefail
BUILD=${1:-build-sanitize} JOBS=${2:-2} LLVM=${3:-/usr/lib/llvm-19}
cd "$(dirname "$0")/.."
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR="$LLVM/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM/build/utils/lit/lit.py" \
    -DCKPT_SANITIZE=ON -DCKPT_BUILD_BENCHMARKS=OFF
fi
# Any UB report or memory error fails the run. Leaks are not checked: Open
# MPI and the uninstrumented MLIR libraries keep allocations until exit by
# design, and every report would be theirs. Manual poisoning is ignored:
# LLVM's BumpPtrAllocator is header code, and its copy compiled into our
# (instrumented) objects poisons slabs that the uninstrumented libMLIR copy
# then hands out without unpoisoning, a false use-after-poison. Set before
# the build too: it runs the instrumented tools to make the test programs.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_poisoning=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ninja -C "$BUILD" -j "$JOBS"
python3 "$LLVM/build/utils/lit/lit.py" -sv "$BUILD/test"
cd "$BUILD" && ctest --output-on-failure -j "$JOBS"
