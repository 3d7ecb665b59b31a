#!/usr/bin/env bash
# Packs what scripts/device-check.sh needs on a GPU machine that cannot build
# the project (no Debian registry there, so no MLIR, oneDNN or OpenBLAS):
# the runtime's binaries built here with the CUDA backend, the Debian
# libraries they load (compressed), and every program the check runs,
# compiled here (ckpt-compile needs MLIR): the test programs, the tiny GPT
# under the recompute policies of the bitwise proof, and the GPT-3 175B and
# 22B shapes of Korthikanti et al. (a few layers, bf16) under none,
# selective and full recompute with their compiler reports.
# usage: device-bundle.sh BUNDLE_DIR [BUILD_DIR]
set -euo pipefail
BUNDLE=$1 BUILD=${2:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=$BUILD/bin
ninja -C "$BUILD" -j "${JOBS:-2}" ckpt-run ckpt-compile ckpt-test-programs \
  ckpt-cuda-tests ckpt-cuda-gemm-rate > /dev/null \
  || { echo "device-bundle: build the CUDA backend first (nvcc)" >&2; exit 1; }
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE"/{bin,lib,programs,remat,shapes}
BUNDLE=$(cd "$BUNDLE" && pwd)

cp "$BIN"/ckpt-run "$BIN"/ckpt-cuda-tests "$BIN"/ckpt-cuda-gemm-rate "$BUNDLE/bin/"
cp "$BUILD"/test/programs/*.json "$BUNDLE/programs/"
# GPT-2 small (f32, s = 256) for the CPU-against-GPU gradient comparison.
"$BIN/ckpt-compile" "$ROOT/examples/gpt2-small/config.json" \
  -o "$BUNDLE/programs/gpt2-small-s256.json" --quiet --seq-length=256

# Shared libraries from Debian, not CUDA's (the GPU machine has its own
# toolkit) nor glibc's and the compiler's (older here than there).
ldd "$BIN"/ckpt-run "$BIN"/ckpt-cuda-tests "$BIN"/ckpt-cuda-gemm-rate \
  | awk '$3 ~ /^\// {print $3}' | sort -u \
  | grep -Ev '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so|/(libcuda|libcudart|libcublas|libcublasLt|libnccl)\.so' \
  > "$BUNDLE/lib/list"
tar -chJf "$BUNDLE/lib/debian-libs.tar.xz" -T "$BUNDLE/lib/list" 2> /dev/null

# The bitwise proof's programs: the tiny 4-layer GPT without recompute (run
# without an arena) and under each policy (from its arena).
policy_flags() { local kv; for kv in $1; do printf -- '--%s\n' "$kv"; done; }
TINY=$ROOT/test/Runtime/Inputs/tiny-gpt-4layer.json
"$BIN/ckpt-compile" "$TINY" -o "$BUNDLE/remat/none.json" --quiet
i=0
while IFS= read -r policy; do
  # shellcheck disable=SC2046
  "$BIN/ckpt-compile" "$TINY" -o "$BUNDLE/remat/p$i.json" --quiet \
    $(policy_flags "$policy")
  printf '%s\t%s\n' "p$i" "$policy" >> "$BUNDLE/remat/policies.tsv"
  i=$((i + 1))
done <<'POLICIES'
recompute-granularity=selective recompute-modules=core_attn
recompute-granularity=selective recompute-modules=core_attn,mlp,layernorm
recompute-granularity=full recompute-method=uniform recompute-num-layers=1
recompute-granularity=full recompute-method=block recompute-num-layers=2
memory-budget=180KiB
POLICIES

# The paper's shapes, t = 1, b = 1, s = 2048, bf16: GPT-3 175B (h = 12288,
# a = 96) with 2 layers and 22B (h = 6144, a = 64) with 4.
shape() { # name, layers, hidden, heads
  python3 - "$ROOT/examples/gpt3-175b.json" "$BUNDLE/shapes/$1.config.json" \
    "$2" "$3" "$4" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.update(num_layers=int(sys.argv[3]), hidden_size=int(sys.argv[4]),
              num_attention_heads=int(sys.argv[5]))
json.dump(config, open(sys.argv[2], "w"), indent=1)
PY
  local tag policy
  while IFS=: read -r tag policy; do
    # shellcheck disable=SC2046
    "$BIN/ckpt-compile" "$BUNDLE/shapes/$1.config.json" \
      -o "$BUNDLE/shapes/$1-$tag.json" \
      --report="$BUNDLE/shapes/$1-$tag.report.json" --quiet \
      $(policy_flags "$policy")
  done <<'POLICIES'
none:
selective:recompute-granularity=selective recompute-modules=core_attn
full:recompute-granularity=full recompute-method=uniform recompute-num-layers=1
full-spans:recompute-granularity=full recompute-method=uniform recompute-num-layers=1 region-ops=all
POLICIES
}
shape gpt3-175b-2layer 2 12288 96
shape 22b-4layer 4 6144 64
du -sh "$BUNDLE" | awk '{print "device bundle: " $1 " in " $2}'
