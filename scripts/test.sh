#!/usr/bin/env bash
# The README's test command: installs dependencies, builds the normal and the sanitizer
# (ASan/UBSan) builds, and runs the whole test suite in both, then every fuzz target for a bounded
# time (clang/libFuzzer) and the self-contained shim's tests. Exit status 0 only if all pass.
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
step "fuzzing (libFuzzer, clang): every target for RGPU_FUZZ_SECONDS, seeds in tests/fuzz/corpus"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
rc=0
ctest --preset fuzz -j "$jobs" -V >build-fuzz/fuzz.log 2>&1 || rc=$?
grep -E '^[0-9]+: fuzz_[a-z_]+: ' build-fuzz/fuzz.log | sed 's/^[0-9]*: //'  # execs, coverage
if [ "$rc" -ne 0 ]; then
  grep -E -B2 -A60 'ERROR: |runtime error|FAILED \(exit' build-fuzz/fuzz.log | tail -150
  echo "fuzzing found a crash (inputs under build-fuzz/tests/fuzz/work/*/crashes/)"
  exit 1
fi
step "self-contained shim (static dependencies)"
scripts/fetch-capnp-source.sh
cmake --preset static >/dev/null
cmake --build --preset static -j "$jobs" --target rgpu_cuda_shim rgpu-server rgpu_interpose_tests \
  rgpu_interpose_isolation_test rgpu_interpose_live_programs
ctest --preset static
step "all tests passed"
