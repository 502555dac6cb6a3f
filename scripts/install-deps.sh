#!/usr/bin/env bash
# Installs what rgpu needs to build and test, from Debian 12 packages only (apt-get).
# Idempotent: packages already present are left alone. Needs root or sudo.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config python3 git
      capnproto libcapnp-dev libuv1-dev liblz4-dev libzstd-dev libssl-dev openssl
      googletest libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev sqlite3
      clang-format clang-14 libclang-rt-14-dev nlohmann-json3-dev libcpp-httplib-dev
      chromium chromium-driver  # chromium: the dashboard's browser test (tests/pool)
      postgresql libpq-dev)     # the pool's shared store; tests start private clusters
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "rgpu: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "rgpu: all build dependencies present"
fi
# CUDA 13 toolkit: headers and nvcc come from the toolkit on PATH or CUDA_HOME.
nvcc_path=$(command -v nvcc || true)
if [ -z "$nvcc_path" ] && [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then nvcc_path="$CUDA_HOME/bin/nvcc"; fi
if [ -z "$nvcc_path" ] && [ -x /usr/local/cuda/bin/nvcc ]; then nvcc_path=/usr/local/cuda/bin/nvcc; fi
if [ -z "$nvcc_path" ]; then
  echo "rgpu: the CUDA 13 toolkit was not found (no nvcc on PATH, in CUDA_HOME or /usr/local/cuda)." >&2
  echo "      Install the CUDA 13 toolkit from NVIDIA, then run this again." >&2
  exit 1
fi
echo "rgpu: CUDA toolkit at $(dirname "$(dirname "$nvcc_path")")"
