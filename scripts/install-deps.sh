#!/usr/bin/env bash
# Installs every Debian package that the build, the tools and the tests need.
# Idempotent: when everything is present it only checks, in well under a second.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ make python3 python3-dev python3-venv clang-format
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-openmp-dev libdnnl-dev ocl-icd-opencl-dev libopenmpi-dev openmpi-bin zlib1g-dev libzstd-dev libedit-dev libcurl4-openssl-dev
  coinor-cbc
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
