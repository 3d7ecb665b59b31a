#!/usr/bin/env bash
# Proof of a pipelined step by execution: the p stages of CONFIG, each
# compiled on its own (1F1B, or interleaved with v > 1) and run under
# mpirun, give gradients bit-identical to the one-rank step that accumulates
# the same m micro-batches in the same order; every rank's measured peak
# equals its plan (ckpt-run fails otherwise).
#
# usage: check-pipeline.sh BIN CONFIG OUT P V M [REMAT-OPTIONS [T [IMPORT-FLAGS...]]]
# With T > 1 every stage is T tensor-parallel ranks (and the reference runs
# on T ranks); IMPORT-FLAGS go to the import (--sequence-parallel).
set -euo pipefail
bin=$1 config=$2 out=$3 p=$4 v=$5 m=$6 remat=${7:-} t=${8:-1}
shift $(($# < 8 ? $# : 8))
flags=(--tensor-model-parallel-size="$t" "$@")
mkdir -p "$out"
mpi=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
     mpirun --oversubscribe)
compile() { # OUTPUT IMPORT-FLAGS...
  local program=$1
  shift
  "$bin/ckpt-translate" --import-config "$config" --num-microbatches="$m" \
    "${flags[@]}" "$@" |
    "$bin/ckpt-opt" --xf-training-step --ckpt-remat="$remat" --ckpt-schedule \
      --ckpt-pipeline-schedule --ckpt-plan-memory |
    "$bin/ckpt-translate" --mlir-to-program -o "$program"
}

compile "$out/reference.json" --pipeline-model-parallel-size=1
# One thread in every process: the kernels' bits are fixed for a fixed
# thread count (DESIGN.md, Runtime), and mpirun binds each rank to a core,
# so the one-process reference must not use all cores.
reference=("$bin/ckpt-run")
[ "$t" -gt 1 ] && reference=("${mpi[@]}" -np "$t" "$bin/ckpt-run")
"${reference[@]}" "$out/reference.json" --threads=1 --dump-grads="$out/reference" |
  grep '^loss' | sort -u | sed 's/^/reference: /'

stages=()
for ((i = 0; i < p; i++)); do
  compile "$out/stage$i.json" --pipeline-model-parallel-size="$p" \
    --virtual-pipeline-model-parallel-size="$v" --pipeline-stage="$i"
  stages+=("$out/stage$i.json")
done
python3 - "$out/pipeline.json" "${stages[@]}" <<'PY'
import json, sys
programs = [json.load(open(f)) for f in sys.argv[2:]]
json.dump({"format": programs[0]["format"], "version": programs[0]["version"],
           "stages": programs}, open(sys.argv[1], "w"))
PY
"${mpi[@]}" -np $((p * t)) "$bin/ckpt-run" "$out/pipeline.json" --threads=1 \
  --dump-grads="$out/pipeline" >"$out/pipeline.log"
grep '^loss' "$out/pipeline.log" | sort -u | sed "s/^/$p stages: /"
echo "ranks whose measured arena and peak equal the plan: $(grep -c 'arena: .*planned' "$out/pipeline.log" | tr -d ' ')"

count=0 differ=0
for file in $(cd "$out/reference" && find . -name '*.npy' | sort); do
  count=$((count + 1))
  cmp -s "$out/reference/$file" "$out/pipeline/$file" || {
    differ=$((differ + 1))
    echo "DIFFERENT: $file"
  }
done
[ "$(cd "$out/pipeline" && find . -name '*.npy' | wc -l)" -eq "$count" ] ||
  echo "DIFFERENT: file count"
if [ "$differ" -eq 0 ]; then
  tp=""
  [ "$t" -gt 1 ] && tp=" t=$t"
  echo "identical ($count gradients): p=$p v=$v m=$m$tp ${remat:-no recompute}"
fi
