#!/usr/bin/env bash
# Step time of one model against PyTorch eager and JAX (XLA) on the CPU,
# side by side in one run: the same model (bench/peers/gpt_step.py reads it
# from the program ckpt-compile writes), the same threads, and the policies
# none, selective (core attention) and full (every layer; each framework's
# own checkpointing). Rounds run every program once each, interleaved; the
# table gives the fastest and the median over the rounds (each figure the
# fastest of 3 steps), the peers' time over ours, and our model FLOP rate
# (forward and backward FLOPs of the step without recompute, from the
# compiler's report, over the step time) as a share of the machine's sgemm
# limit (oneDNN, n = 2048, measured in each round). Prints markdown.
# usage: bench/peer-step-times.sh BIN_DIR CONFIG WORK_DIR [import flags...]
# ROUNDS (default 3), THREADS (default 2); VENV (default .venv-peers) holds
# torch and jax from PyPI and is made when missing.
set -euo pipefail
BIN=$1 CONFIG=$2 WORK=$3
shift 3
ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${VENV:-$HERE/../.venv-peers}
mkdir -p "$WORK"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch, jax' 2> /dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch jax
fi
PY=$VENV/bin/python
g++ -O2 -DUSE_DNNL "$HERE/SgemmRate.cpp" -ldnnl -o "$WORK/sgemm"

declare -A flags=(
  [none]=""
  [selective]="--recompute-granularity=selective --recompute-modules=core_attn"
  [full]="--recompute-granularity=full --recompute-method=uniform --recompute-num-layers=1"
)
policies=(none selective full)
for p in "${policies[@]}"; do
  # shellcheck disable=SC2086
  "$BIN/ckpt-compile" "$CONFIG" "$@" ${flags[$p]} -o "$WORK/$p.json" \
    --report="$WORK/$p.report.json" --quiet
done

: > "$WORK/times.tsv"
for round in $(seq "$ROUNDS"); do
  OMP_NUM_THREADS=$THREADS "$WORK/sgemm" 2048 | awk '{print "sgemm\t-\t" $7}' >> "$WORK/times.tsv"
  for p in "${policies[@]}"; do
    ms=$("$BIN/ckpt-run" "$WORK/$p.json" --threads="$THREADS" --repeat=3 |
           sed -n 's/^step time: \([0-9.]*\) ms.*/\1/p')
    printf 'ours\t%s\t%s\n' "$p" "$ms" >> "$WORK/times.tsv"
    for fw in torch jax; do
      "$PY" "$HERE/peers/gpt_step.py" "$WORK/$p.json" --framework=$fw \
        --policy="$p" --threads="$THREADS" --steps=3 2> /dev/null |
        "$PY" -c 'import json,sys; r=json.load(sys.stdin); print("%s\t%s\t%.3f" % (r["framework"], r["policy"], 1e3*min(r["seconds"])))' \
        >> "$WORK/times.tsv"
    done
  done
done

"$PY" - "$WORK" "$THREADS" "$ROUNDS" <<'PY'
import collections, json, statistics, sys
work, threads, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
t = collections.defaultdict(list)
for line in open(f"{work}/times.tsv"):
    who, policy, value = line.rstrip("\n").split("\t")
    t[(who, policy)].append(float(value))
report = json.load(open(f"{work}/none.report.json"))
flops = report["forward_flops"] + report["backward_flops"]
sgemm = statistics.median(t[("sgemm", "-")])
print(f"{threads} threads, {rounds} interleaved rounds; step ms as min / median; "
      f"sgemm limit {sgemm:.0f} GFLOP/s (median); model FLOPs per step "
      f"{flops / 1e9:.2f} G\n")
print("| policy | ours | PyTorch eager | JAX (XLA) | PyTorch / ours | "
      "JAX / ours | our model GFLOP/s | share of sgemm |")
print("|---|---|---|---|---|---|---|---|")
for p in ("none", "selective", "full"):
    ours, torch_, jax_ = (t[(w, p)] for w in ("ours", "torch", "jax"))
    mo, mt, mj = (statistics.median(x) for x in (ours, torch_, jax_))
    rate = flops / (mo / 1e3) / 1e9
    print(f"| {p} | {min(ours):.1f} / {mo:.1f} | {min(torch_):.1f} / {mt:.1f} "
          f"| {min(jax_):.1f} / {mj:.1f} | {mt / mo:.2f} | {mj / mo:.2f} "
          f"| {rate:.0f} | {100 * rate / sgemm:.0f}% |")
PY
