#!/usr/bin/env bash
# The sgemm rate of each GEMM library Debian offers for this machine, side
# by side: OpenBLAS (OpenMP build), oneDNN and BLIS (OpenMP build), on
# N x N matrices with OMP_NUM_THREADS threads (default 2). The three
# binaries run in turn, three rounds, so that the machine's load falls on
# all of them alike. Prints a Markdown table of the median GFLOP/s per round.
# usage: bench/gemm-libraries.sh [N] [THREADS]
set -euo pipefail
N=${1:-2048}
export OMP_NUM_THREADS=${2:-2}
SRC=$(dirname "$0")/SgemmRate.cpp
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ARCH=$(gcc -dumpmachine)
g++ -O2 -fopenmp "$SRC" -I/usr/include/$ARCH/openblas-openmp \
  -L/usr/lib/$ARCH/openblas-openmp -Wl,-rpath,/usr/lib/$ARCH/openblas-openmp \
  -lopenblas -o "$WORK/openblas"
g++ -O2 -DUSE_DNNL "$SRC" -ldnnl -o "$WORK/onednn"
if [ -d /usr/include/$ARCH/blis-openmp ]; then
  g++ -O2 -fopenmp "$SRC" -I/usr/include/$ARCH/blis-openmp \
    -L/usr/lib/$ARCH/blis-openmp -Wl,-rpath,/usr/lib/$ARCH/blis-openmp \
    -lblis -o "$WORK/blis"
fi
libs=(openblas onednn)
[ -x "$WORK/blis" ] && libs+=(blis)
echo "| library | round 1 | round 2 | round 3 |"
echo "|---|---|---|---|"
for lib in "${libs[@]}"; do : > "$WORK/$lib.txt"; done
for round in 1 2 3; do
  for lib in "${libs[@]}"; do
    "$WORK/$lib" "$N" | awk '{print $7}' >> "$WORK/$lib.txt"
  done
done
for lib in "${libs[@]}"; do
  printf '| %s | %s |\n' "$lib" "$(paste -sd'|' "$WORK/$lib.txt" | sed 's/|/ | /g')"
done
