#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*.cpp) with clang, AddressSanitizer and
# UBSan, and runs each for SECONDS (default 60) from a seed corpus taken from
# the repository's examples and test inputs. Crashes land in
# build-fuzz/<target>/crashes; each one found becomes a regression test.
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: config program dsa mlir)
# The mlir target is a CMake build of the project with clang
# (build-fuzz/mlir-build, -DCKPT_FUZZ=ON); it needs the main build's
# generated headers no more than any build does.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(config program dsa mlir)
OUT=build-fuzz

need=()
command -v clang++ >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a \
  >/dev/null 2>&1 || need+=(libclang-rt-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$OUT"
CXX=(clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined
  -fno-sanitize-recover=undefined -Iinclude -Iruntime/include)

build() { # target, sources...
  local name=$1
  shift
  [ -x "$OUT/$name-fuzzer" ] && [ -z "${REBUILD:-}" ] && return
  "${CXX[@]}" "$@" -o "$OUT/$name-fuzzer"
}
# The sources of a target, from fuzz/targets.txt (the normal build links
# the same lists, so they stay complete).
sources() { sed -n "s/^$1: //p" fuzz/targets.txt; }

for target in "${targets[@]}"; do
  corpus="$OUT/$target/corpus"
  crashes="$OUT/$target/crashes"
  mkdir -p "$corpus" "$crashes"
  asan_options=""
  case $target in
  config)
    # shellcheck disable=SC2046
    build config $(sources config)
    cp examples/*.json examples/gpt2-small/config.json test/Transforms/Inputs/*.json \
      test/Runtime/Inputs/*.json "$corpus/" 2>/dev/null || true
    max_len=4096 ;;
  program)
    # shellcheck disable=SC2046
    build program $(sources program)
    cp build/test/programs/*.json "$corpus/" 2>/dev/null || true
    max_len=300000 ;;
  dsa)
    # shellcheck disable=SC2046
    build dsa $(sources dsa)
    cp bench/data/dsa-challenging/*.csv "$corpus/"
    max_len=8192 ;;
  mlir)
    if [ ! -f "$OUT/mlir-build/build.ninja" ]; then
      CC=clang CXX=clang++ cmake -S . -B "$OUT/mlir-build" -G Ninja \
        -DCMAKE_BUILD_TYPE=Release -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
        -DCKPT_FUZZ=ON -DCKPT_BUILD_TESTS=OFF -DCKPT_BUILD_BENCHMARKS=OFF \
        >/dev/null
    fi
    ninja -C "$OUT/mlir-build" -j "${JOBS:-2}" ckpt-mlir-fuzzer >/dev/null
    cp "$OUT/mlir-build/fuzz/ckpt-mlir-fuzzer" "$OUT/mlir-fuzzer"
    # Seeds: the tests' MLIR (one case per split) and imported examples.
    for f in $(find test -name '*.mlir'); do
      awk -v dir="$corpus" -v base="$(echo "$f" | tr / _)" \
        '/^\/\/ -----/ { n++; next } { print > (dir "/" base "." n+0) }' "$f"
    done
    for config in examples/tiny-gpt.json test/Transforms/Inputs/gpt-4layer.json; do
      build/bin/ckpt-translate --import-config "$config" \
        -o "$corpus/$(basename "$config" .json).mlir" 2>/dev/null || true
    done
    # As in make test-sanitize: the uninstrumented MLIR libraries keep
    # allocations until exit, and LLVM's header-only allocator poisons slabs
    # that libMLIR then hands out (scripts/test-sanitize.sh).
    asan_options=detect_leaks=0:allow_user_poisoning=0
    max_len=65536 ;;
  *)
    echo "fuzz.sh: unknown target '$target' (config, program, dsa, mlir)" >&2
    exit 2 ;;
  esac
  echo "== $target: ${SECONDS_EACH}s"
  ASAN_OPTIONS=${asan_options:-} \
  "$OUT/$target-fuzzer" "$corpus" -max_total_time="$SECONDS_EACH" \
    -max_len="$max_len" -artifact_prefix="$crashes/" -print_final_stats=1 \
    -timeout=20 \
    2>&1 | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY)" || true
  echo "crashes: $(ls "$crashes" | wc -l)"
done
