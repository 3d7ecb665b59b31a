#!/usr/bin/env bash
# The compiler's libraries include only what lies below them
# (docs/architecture.md, "The parts"): prints each include that reaches a
# library above its own, and exits 1 if there is one.
# usage: check-layering.sh [SOURCE_ROOT]
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
status=0
# check PART FORBIDDEN...: PART's sources and headers include none of the
# FORBIDDEN header folders (under include/ckpt/).
check() {
  local part=$1
  shift
  local dirs=()
  for dir in "$ROOT/lib/$part" "$ROOT/include/ckpt/$part"; do
    [[ -d $dir ]] && dirs+=("$dir")
  done
  local forbidden
  for forbidden in "$@"; do
    local hits
    hits=$(grep -rn "#include \"ckpt/$forbidden/" "${dirs[@]}" || true)
    if [[ -n $hits ]]; then
      echo "$part includes $forbidden, which lies above it:"
      echo "$hits"
      status=1
    fi
  done
  (IFS=,; echo "$part: includes none of $*")
}
check Options Plan OpTable Planner Analysis Dialect Rewrite Solver Transforms Report Compiler Target
check Plan Analysis Dialect Rewrite Solver Transforms Report Pipeline Target
check Planner Analysis Dialect Rewrite Solver Transforms Report Pipeline Target
check Rewrite Solver Transforms Report Pipeline Target
check Solver Transforms Report Pipeline Target
check Report Rewrite Solver Transforms Pipeline Target
exit $status
