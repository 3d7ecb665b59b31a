#!/usr/bin/env bash
# The GPU check of the CUDA backend, in one run (under 8 minutes on an H200):
#  1. the tests labelled `cuda` (ckpt-cuda-tests: every op against the f64
#     reference, the bundled models' gradients against the CPU's, a second
#     step bit for bit, device memory against the plan);
#  2. the proof by execution on the GPU: every recompute policy, from its
#     arena, gives gradients bit-identical to the run without recompute and
#     without an arena, and the measured peak equals the plan;
#  3. GPT-2 small's gradients on the GPU against the CPU's (f32);
#  4. step times of none, selective and full recompute on the GPT-3 175B and
#     22B shapes (bf16), interleaved, with each policy's overhead next to the
#     compiler's FLOP prediction and the paper's Table 4;
#  5. the step's GEMM rate against cuBLAS alone on the same calls.
# Figures go to OUT_DIR/device-figures.md, the whole log to
# OUT_DIR/device-check.log.
#
# usage: device-check.sh BUNDLE_DIR [OUT_DIR]
#   BUNDLE_DIR from scripts/device-bundle.sh (built where the project
#   builds; the GPU machine needs only a driver and CUDA's libraries).
#   CKPT_DEVICE_STEPS picks steps ("2 3"); CKPT_DEVICE_BACKEND=cuda-emulated
#   rehearses the script's plumbing on a machine without a GPU.
set -uo pipefail
BUNDLE=$(cd "$1" && pwd)
OUT_DIR=${2:-${OUT:-device-out}}
mkdir -p "$OUT_DIR" && OUT_DIR=$(cd "$OUT_DIR" && pwd)
exec > >(tee "$OUT_DIR/device-check.log") 2>&1
BIN=$BUNDLE/bin
FIG=$OUT_DIR/device-figures.md
WORK=$(mktemp -d)
status=0
fail() { echo "FAILED: $*"; status=1; }

# Debian's libraries from the bundle; CUDA's from wherever this machine
# keeps them (the toolkit, or the Python wheels of cuBLAS and NCCL).
tar -xJf "$BUNDLE/lib/debian-libs.tar.xz" -C "$WORK"
LIBDIRS=$WORK/lib/x86_64-linux-gnu:$WORK/usr/lib/x86_64-linux-gnu/openblas-openmp
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2; do
  found=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets/*/lib \
            /usr/lib/x86_64-linux-gnu /opt /usr/local/lib -name "$lib" \
            2> /dev/null | head -1)
  [ -n "$found" ] && LIBDIRS=$LIBDIRS:$(dirname "$found")
done
export LD_LIBRARY_PATH=$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if ldd "$BIN/ckpt-run" | grep 'not found'; then
  echo "device-check: libraries missing (above)"; exit 1
fi
BACKEND=${CKPT_DEVICE_BACKEND:-cuda}
STEPS=" ${CKPT_DEVICE_STEPS:-1 2 3 4 5} "
step() { [[ $STEPS == *" $1 "* ]]; }
if [ "$BACKEND" = cuda ]; then
  nvidia-smi -L || { echo "device-check: no GPU"; exit 1; }
  DEVICE=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)
else
  DEVICE="no GPU ($BACKEND)"
fi
RUN=("$BIN/ckpt-run" --backend="$BACKEND")

if step 1; then
echo "== 1. ckpt-cuda-tests (label cuda)"
CKPT_TEST_PROGRAM_DIR=$BUNDLE/programs timeout 300 "$BIN/ckpt-cuda-tests" \
  || fail "ckpt-cuda-tests"
fi

if step 2; then
echo "== 2. the proof by execution on the GPU"
R=$BUNDLE/remat
"${RUN[@]}" "$R/none.json" --seed=77 --no-arena --dump-grads="$WORK/none" > /dev/null \
  || fail "none"
"${RUN[@]}" "$R/none.json" --seed=77 --no-arena --dump-grads="$WORK/none2" > /dev/null \
  || fail "none again"
diff -r "$WORK/none" "$WORK/none2" > /dev/null && echo "a second run: identical" \
  || fail "a second run differs"
while IFS=$'\t' read -r name policy; do
  out=$("${RUN[@]}" "$R/$name.json" --seed=77 --dump-grads="$WORK/$name") \
    || { fail "$policy (ckpt-run)"; continue; }
  if diff -r "$WORK/none" "$WORK/$name" > /dev/null; then
    echo "identical: $policy: $(grep '^arena' <<< "$out")"
  else
    fail "DIFFERENT: $policy"
  fi
done < "$R/policies.tsv"
fi

if step 3; then
echo "== 3. GPT-2 small, f32: GPU gradients against the CPU's"
G=$BUNDLE/programs/gpt2-small-s256.json
"$BIN/ckpt-run" "$G" --dump-grads="$WORK/gpt2-cpu" | grep '^loss' || fail "cpu"
"${RUN[@]}" "$G" --dump-grads="$WORK/gpt2-gpu" | grep -E '^(loss|arena)' || fail "gpu"
python3 - "$WORK/gpt2-cpu" "$WORK/gpt2-gpu" <<'PY' || fail "GPT-2 gradients"
import os, sys
import numpy as np
worst, name = 0.0, ""
for f in sorted(os.listdir(sys.argv[1])):
    a = np.load(os.path.join(sys.argv[1], f)).astype(np.float64)
    b = np.load(os.path.join(sys.argv[2], f)).astype(np.float64)
    err = np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)
    if err > worst:
        worst, name = err, f
print(f"worst relative gradient difference: {worst:.3g} ({name})")
sys.exit(0 if worst < 1e-3 else 1)
PY
fi

if step 4; then
echo "== 4. recompute overhead on the paper's shapes (bf16, interleaved)"
TIMES=$WORK/times.tsv
for round in 1 2; do
  for shape in gpt3-175b-2layer 22b-4layer; do
    for tag in none selective full full-spans; do
      line=$("${RUN[@]}" "$BUNDLE/shapes/$shape-$tag.json" --repeat=3 \
               | grep '^step time') || { fail "$shape $tag"; continue; }
      ms=$(sed 's/^step time: \([0-9.]*\) ms.*/\1/' <<< "$line")
      printf '%s\t%s\t%s\n' "$shape" "$tag" "$ms" >> "$TIMES"
      echo "$shape $tag round $round: $ms ms"
    done
  done
done
python3 - "$TIMES" "$BUNDLE/shapes" "$DEVICE" > "$FIG" <<'PY' || fail "figures"
import collections, datetime, json, statistics, sys
times = collections.defaultdict(list)
for line in open(sys.argv[1]):
    shape, tag, ms = line.split("\t")
    times[(shape, tag)].append(float(ms))
paper = {"none": "", "selective": "+7%", "full": "+39%", "full-spans": "+39%"}
print(f"GPU step times, {datetime.date.today()}, {sys.argv[3]}: "
      "scripts/device-check.sh (each figure the fastest of 3 steps; "
      "min and median over 2 interleaved rounds)\n")
print("| shape | policy | step ms (min) | median | overhead (min) | "
      "predicted (FLOPs) | paper, Table 4 (22B) |")
print("|---|---|---|---|---|---|---|")
for shape in ("gpt3-175b-2layer", "22b-4layer"):
    base = min(times[(shape, "none")])
    for tag in ("none", "selective", "full", "full-spans"):
        t = times[(shape, tag)]
        r = json.load(open(f"{sys.argv[2]}/{shape}-{tag}.report.json"))
        pred = r["recompute_flops"] / (r["forward_flops"] + r["backward_flops"])
        print(f"| {shape} | {tag} | {min(t):.2f} | {statistics.median(t):.2f} "
              f"| {100 * (min(t) / base - 1):+.1f}% | {100 * pred:+.1f}% "
              f"| {paper[tag]} |")
PY
cat "$FIG"
fi

if step 5; then
echo "== 5. GEMM rate against cuBLAS alone"
"$BIN/ckpt-cuda-gemm-rate" "$BUNDLE/shapes/gpt3-175b-2layer-none.json" --repeat=3 \
  | tee -a "$FIG" || fail "gemm rate"
fi

[ $status -eq 0 ] && echo "device-check: all passed" || echo "device-check: FAILED"
exit $status
