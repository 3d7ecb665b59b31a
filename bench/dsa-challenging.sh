#!/usr/bin/env bash
# ckpt-dsa on the five instances of bench/data/dsa-challenging, three runs
# each: without a capacity (the lowest height it proves) and with the
# capacity the instances were made for (1048576). Every packing is checked
# by scripts/check-dsa-plan.py. Prints Markdown tables with the min and
# median wall time of the whole process (reading the file included). With
# MINIMALLOC=PATH (a MiniMalloc binary you built), its three runs at the
# same capacity follow ours on each instance, for a ratio measured in the
# same minutes on the same machine.
# usage: bench/dsa-challenging.sh [BIN_DIR]
set -euo pipefail
BIN=${1:-build/bin}
DATA=$(dirname "$0")/data/dsa-challenging
CHECK=$(dirname "$0")/../scripts/check-dsa-plan.py
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CAPACITY=1048576

field() { grep "^$1:" "$2" | head -1 | sed "s|^$1: ||; s| s$||"; }
timed() { # FILE COMMAND...: appends the seconds the whole process took
  local out=$1 start
  shift
  start=$(date +%s.%N)
  "$@"
  echo "$(date +%s.%N) - $start" | bc >> "$out"
}
ours() { # INPUT ARGS...: three checked runs of ckpt-dsa, times in $WORK/times
  local input=$1
  shift
  : > "$WORK/times"
  for run in 1 2 3; do
    timed "$WORK/times" "$BIN/ckpt-dsa" "$input" "$@" -o "$WORK/out.csv" \
      > "$WORK/log"
    python3 "$CHECK" "$input" "$WORK/out.csv" > /dev/null
  done
}
stats() { # min and median of the numbers on stdin
  sort -g | awk '{v[NR]=$1} END {printf "%.3f s | %.3f s", v[1], v[int((NR+1)/2)]}'
}

echo "Without a capacity (ckpt-dsa IN.csv):"
echo
echo "| instance | buffers | LOAD | height | height / LOAD | proved lower bound | nodes | time (min) | time (median) |"
echo "|---|---|---|---|---|---|---|---|---|"
for name in A B C D E; do
  ours "$DATA/$name.$CAPACITY.csv"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
    "$(field buffers "$WORK/log")" "$(field LOAD "$WORK/log")" \
    "$(field height "$WORK/log")" "$(field height/LOAD "$WORK/log")" \
    "$(field 'proved lower bound' "$WORK/log")" "$(field nodes "$WORK/log")" \
    "$(stats < "$WORK/times")"
done

echo
echo "At the capacity the instances were made for (--capacity=$CAPACITY):"
echo
if [ -n "${MINIMALLOC:-}" ]; then
  echo "| instance | fits | nodes | ckpt-dsa (min) | ckpt-dsa (median) | MiniMalloc (min) | MiniMalloc (median) | median ratio |"
  echo "|---|---|---|---|---|---|---|---|"
else
  echo "| instance | fits | nodes | time (min) | time (median) |"
  echo "|---|---|---|---|---|"
fi
for name in A B C D E; do
  input=$DATA/$name.$CAPACITY.csv
  ours "$input" --capacity=$CAPACITY
  : > "$WORK/peer"
  # The peer's three runs come right after ours, on the same machine state.
  if [ -n "${MINIMALLOC:-}" ]; then
    for run in 1 2 3; do
      timed "$WORK/peer" "$MINIMALLOC" --capacity=$CAPACITY --input="$input" \
        --output="$WORK/peer.csv" > /dev/null 2>&1
      python3 "$CHECK" "$input" "$WORK/peer.csv" > /dev/null
    done
  fi
  fits=$(field fits "$WORK/log")
  if [ -n "${MINIMALLOC:-}" ]; then
    ours=$(sort -g "$WORK/times" | sed -n 2p)
    peer=$(sort -g "$WORK/peer" | sed -n 2p)
    printf '| %s | %s | %s | %s | %s | %.1fx |\n' "$name" "$fits" \
      "$(field nodes "$WORK/log")" "$(stats < "$WORK/times")" \
      "$(stats < "$WORK/peer")" "$(echo "$peer / $ours" | bc -l)"
  else
    printf '| %s | %s | %s | %s |\n' "$name" "$fits" \
      "$(field nodes "$WORK/log")" "$(stats < "$WORK/times")"
  fi
done
