#!/usr/bin/env bash
# tests/fuzz/run_fuzz.sh FUZZER SECONDS WORKDIR INPUT_DIR... — fuzzes for SECONDS, starting from
# the seeds in INPUT_DIR (read only: new inputs go to WORKDIR/corpus), memory bounded
# (-rss_limit_mb, -malloc_limit_mb). A crash leaves its input in WORKDIR/crashes and fails; copy
# it into tests/fuzz/regressions/<target>/ once fixed. Prints execs and coverage at the end.
set -uo pipefail
[[ $# -ge 4 ]] || { echo "usage: run_fuzz.sh FUZZER SECONDS WORKDIR INPUT_DIR..." >&2; exit 2; }
fuzzer=$1 secs=$2 work=$3
shift 3
mkdir -p "$work/corpus" "$work/crashes"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"$fuzzer" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/crashes/" \
  "$work/corpus" "$@" >"$work/log" 2>&1
rc=$?
name=$(basename "$fuzzer")
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
ft=$(grep -o 'ft: [0-9]*' "$work/log" | tail -1)
echo "$name: ${execs:-?} execs in ${secs} s, ${cov:-cov: ?}, ${ft:-ft: ?}, corpus $(ls "$work/corpus" | wc -l) inputs"
if [[ $rc -ne 0 ]]; then
  tail -60 "$work/log"
  echo "$name: FAILED (exit $rc); the input is in $work/crashes/"
  exit 1
fi
