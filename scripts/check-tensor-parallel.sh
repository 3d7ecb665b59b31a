#!/usr/bin/env bash
# Runs CONFIG on one rank and on T tensor-parallel ranks (mpirun) with the
# same parameters, and checks that the loss and the gathered gradients agree
# within float tolerance; then that each rank's gradients under recompute
# policies are bit-identical to its own run without recompute, and that
# each rank's measured peak equals its plan (ckpt-run fails otherwise).
# usage: check-tensor-parallel.sh BIN_DIR CONFIG T WORK_DIR [--sequence-parallel]
set -euo pipefail
BIN=$1 CONFIG=$2 T=$3 WORK=$4
SP=${5:-}
HERE=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe -np "$T")
rm -rf "$WORK" && mkdir -p "$WORK"
# A policy string of pass options ("recompute-granularity=full
# recompute-num-layers=1") as ckpt-compile flags.
policy_flags() { local kv; for kv in $1; do printf -- '--%s\n' "$kv"; done; }

"$BIN/ckpt-compile" "$CONFIG" -o "$WORK/single.json" --quiet --no-plan
# A gated MLP's fc1 splits its gate and up halves separately; the program's
# model says whether it has one (whatever the config's format).
GLU=$(python3 -c "import json,sys; m = json.load(open(sys.argv[1]))['model']; \
print('glu' if m.get('gated_linear_unit') == 'true' else '')" "$WORK/single.json")
"$BIN/ckpt-run" "$WORK/single.json" --save-params="$WORK/params" \
  --dump-grads="$WORK/single.grads" > "$WORK/single.out"
python3 "$HERE/tp-shards.py" split "$WORK/params" "$WORK/params" "$T" $GLU

run_tp() { # name, remat
  # shellcheck disable=SC2046,SC2086
  "$BIN/ckpt-compile" "$CONFIG" -o "$WORK/$1.json" --quiet \
    $(policy_flags "$2") --tensor-model-parallel-size="$T" $SP
  "${MPIRUN[@]}" "$BIN/ckpt-run" "$WORK/$1.json" --params="$WORK/params" \
    --dump-grads="$WORK/$1.grads" > "$WORK/$1.out"
}
run_tp tp ""
single=$(sed -n 's/^loss: //p' "$WORK/single.out")
echo "single rank: loss $single"
sed -n 's/^loss: //p' "$WORK/tp.out" | sort -u | while read -r loss; do
  python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); \
print('%d ranks: loss %s (relative difference %.1e)' % ($T, sys.argv[1], abs(a - b) / abs(b))); \
sys.exit(abs(a - b) > 1e-5 * abs(b))" "$loss" "$single"
done
python3 "$HERE/tp-shards.py" compare "$WORK/single.grads" "$WORK/tp.grads" "$T" $GLU
grep -c "^arena: .*(planned .*); measured peak .* (planned" "$WORK/tp.out" |
  sed "s/^/ranks whose measured arena and peak equal the plan: /"

# Sequence parallelism keeps its chunk inputs sharded already; Megatron
# rejects distributed saved activations with it. The budget solver's plan
# (below keeping everything on 2 and 4 ranks) distributes its region inputs
# too when it can.
full="recompute-granularity=full recompute-method=uniform recompute-num-layers=1"
# CKPT_TP_BUDGET and CKPT_TP_DSA_BUDGET size the budget for a larger model.
budget="memory-budget=${CKPT_TP_BUDGET:-70KiB}"
if [ -z "$SP" ]; then
  full="$full distribute-saved-activations=true"
  budget="memory-budget=${CKPT_TP_DSA_BUDGET:-66KiB} distribute-saved-activations=true"
fi
for policy in "recompute-granularity=selective" "$full" "$budget"; do
  run_tp remat "$policy"
  for r in $(seq 0 $((T - 1))); do
    diff -r -q "$WORK/tp.grads/rank$r" "$WORK/remat.grads/rank$r" > /dev/null ||
      { echo "DIFFERENT: rank $r under $policy"; exit 1; }
  done
  echo "bit-identical on every rank: $policy"
done
