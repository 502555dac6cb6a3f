#!/usr/bin/env bash
# tests/e2e/startup_round_trips.sh — start-up costs no round trip for allocations and function
# lookups (protocol 11: ops.def MemAllocAt, ModuleGetFunctionDeferred). An unmodified cudart
# program (train_loop, one step) runs through the shim with RGPU_STATS:
#   1. by default: its 3 cudaMallocs are MemAllocAt and its kernel lookup is
#      ModuleGetFunctionDeferred (no MemAlloc, no ModuleGetFunction), and its only sync round
#      trips are its 2 device-to-host copies;
#   2. with RGPU_CLIENT_PLACEMENT=0 RGPU_CLIENT_LAYOUT=0: MemAlloc and ModuleGetFunction, 4 more
#      round trips; the program passes both ways.
# Usage: startup_round_trips.sh --server BIN --shim-dir DIR --plugin SO [--asan] -- PROGRAM
set -uo pipefail
die() { echo "startup_round_trips: FAIL: $*" >&2; exit 1; }
server="" shim_dir="" plugin="" asan=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --shim-dir) shim_dir="$2"; shift 2 ;;
    --plugin) plugin="$2"; shift 2 ;;
    --asan) asan=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $# -ge 1 && -x "$1" && -x "$server" && -f "$plugin" ]] || die "usage: see the header"
T=$(mktemp -d /tmp/rgpu-startup-XXXXXX)
spid=""
cleanup() { [[ -n "$spid" ]] && kill -TERM "$spid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
if [[ $asan -eq 1 ]]; then
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
  export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
fi
"$server" --backend sim --sim-plugin "$plugin" --insecure --listen 127.0.0.1:0 \
  --port-file "$T/port" >"$T/server.log" 2>&1 &
spid=$!
for _ in $(seq 100); do [[ -s "$T/port" ]] && break; sleep 0.05; done
[[ -s "$T/port" ]] || { cat "$T/server.log" >&2; die "the server did not start"; }
port=$(tr -d ' \n' <"$T/port" | sed 's/.*://')

run() {  # NAME ENV...: runs the program, leaves its stats in $T/NAME.stats
  local name=$1; shift
  if ! env "$@" LD_LIBRARY_PATH="$shim_dir" RGPU_SERVER="127.0.0.1:$port" RGPU_STATS=1 \
      RGPU_STATS_FILE="$T/$name.stats" "$prog" --steps 1 >"$T/$name.out" 2>&1; then
    cat "$T/$name.out" "$T/server.log" >&2
    die "$name: the program failed"
  fi
  grep -q '^PASS' "$T/$name.out" || die "$name: the program did not say PASS"
}
ops() { awk -v op="$2" '$1 == op { print $2 }' "$T/$1.stats"; }
syncs() { sed -n 's/^rgpu stats: [0-9]* driver calls, \([0-9]*\) sync round trips.*/\1/p' "$T/$1.stats"; }
prog=$1
run placed
[[ "$(ops placed MemAllocAt)" == 3 ]] || die "default: $(ops placed MemAllocAt) MemAllocAt, not 3"
[[ "$(ops placed ModuleGetFunctionDeferred)" == 1 ]] || die "default: no deferred lookup"
[[ -z "$(ops placed MemAlloc)$(ops placed ModuleGetFunction)" ]] ||
  die "default: MemAlloc or ModuleGetFunction round trips remain"
[[ "$(syncs placed)" == 2 ]] || die "default: $(syncs placed) sync round trips, not 2"
echo "startup_round_trips: ok default: 3 MemAllocAt, 1 ModuleGetFunctionDeferred, 2 sync round trips"
run asked RGPU_CLIENT_PLACEMENT=0 RGPU_CLIENT_LAYOUT=0
[[ "$(ops asked MemAlloc)" == 3 && "$(ops asked ModuleGetFunction)" == 1 ]] ||
  die "RGPU_CLIENT_PLACEMENT=0 RGPU_CLIENT_LAYOUT=0: the server was not asked"
[[ -z "$(ops asked MemAllocAt)$(ops asked ModuleGetFunctionDeferred)" ]] ||
  die "RGPU_CLIENT_PLACEMENT=0 RGPU_CLIENT_LAYOUT=0: deferred ops still sent"
[[ "$(syncs asked)" == 6 ]] || die "asked: $(syncs asked) sync round trips, not 6"
echo "startup_round_trips: ok with both off: 3 MemAlloc, 1 ModuleGetFunction, 6 sync round trips"
echo "PASS startup_round_trips"
