#!/usr/bin/env bash
# The README's test command: installs dependencies, builds the normal and the sanitizer
# (ASan/UBSan) builds, and runs the whole test suite in both. Exit status 0 only if all pass.
# Usage: scripts/test.sh [--fast]   (--fast: skip the sanitizer build)
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
[ "${1:-}" = "--fast" ] && fast=1
scripts/install-deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
jobs=$(nproc)
step() { printf '\n=== %s ===\n' "$*"; }

step "release build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
step "release tests"
ctest --preset release -j "$jobs"

if [ "$fast" -eq 0 ]; then
  step "sanitizer build (ASan/UBSan)"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  step "sanitizer tests"
  ctest --preset asan -j "$jobs"
fi
step "self-contained shim (static dependencies)"
scripts/fetch-capnp-source.sh
cmake --preset static >/dev/null
cmake --build --preset static -j "$jobs" --target rgpu_cuda_shim rgpu-server rgpu_interpose_tests \
  rgpu_interpose_isolation_test rgpu_interpose_live_programs
ctest --preset static
step "all tests passed"
