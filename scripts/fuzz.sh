#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*.cpp) with clang, AddressSanitizer and
# UBSan, and runs each for SECONDS (default 60) from a seed corpus taken from
# the repository's examples and test inputs. Crashes land in
# build-fuzz/<target>/crashes; each one found becomes a regression test.
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: config program dsa)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(config program dsa)
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
optable=(lib/OpTable/*.cpp)

for target in "${targets[@]}"; do
  corpus="$OUT/$target/corpus"
  crashes="$OUT/$target/crashes"
  mkdir -p "$corpus" "$crashes"
  case $target in
  config)
    build config fuzz/ConfigFuzzer.cpp lib/Target/Config/ModelConfig.cpp
    cp examples/*.json examples/gpt2-small/config.json test/Transforms/Inputs/*.json \
      test/runtime/Inputs/*.json "$corpus/" 2>/dev/null || true
    max_len=4096 ;;
  program)
    build program fuzz/ProgramFuzzer.cpp runtime/lib/Program.cpp \
      runtime/lib/Validate.cpp runtime/lib/DType.cpp "${optable[@]}" \
      lib/Planner/OffsetAssignment.cpp
    cp build/test/programs/*.json "$corpus/" 2>/dev/null || true
    max_len=300000 ;;
  dsa)
    build dsa fuzz/DsaFuzzer.cpp lib/Planner/DsaCsv.cpp \
      lib/Planner/OffsetAssignment.cpp
    cp bench/data/dsa-challenging/*.csv "$corpus/"
    max_len=8192 ;;
  *)
    echo "fuzz.sh: unknown target '$target' (config, program, dsa)" >&2
    exit 2 ;;
  esac
  echo "== $target: ${SECONDS_EACH}s"
  "$OUT/$target-fuzzer" "$corpus" -max_total_time="$SECONDS_EACH" \
    -max_len="$max_len" -artifact_prefix="$crashes/" -print_final_stats=1 \
    2>&1 | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY)" || true
  echo "crashes: $(ls "$crashes" | wc -l)"
done
