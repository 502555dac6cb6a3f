#!/usr/bin/env bash
# tests/e2e/server_killed.sh — the provider's machine dies mid-session (rgpu-server and its
# workers SIGKILLed while a CUDA program is busy on it): the program's next call fails within
# a few seconds, naming the server, and the program exits with an error — no hang. A second
# program on another server keeps running to its exact result meanwhile.
# Usage: server_killed.sh --server BIN --shim-dir DIR --plugin SO [--asan] -- PROGRAM
set -uo pipefail
die() { echo "server_killed: $*" >&2; exit 1; }
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
prog="$1"
T=$(mktemp -d /tmp/rgpu-server-killed-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

start_server() {  # $1: name; sets its pid in pids and its port in $T/$1.port
  setsid "$server" --backend sim --insecure --listen 127.0.0.1:0 --port-file "$T/$1.port" \
    --sim-plugin "$plugin" >"$T/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$T/$1.port" ] && return 0; sleep 0.05; done
  die "server $1 did not start: $(cat "$T/$1.log")"
}
start_server victim
start_server bystander
victim_pid=${pids[0]}

export LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
preload=""
if [[ $asan -eq 1 ]]; then  # the runtime goes into the programs only, not this script's helpers
  preload="$(gcc -print-file-name=libasan.so)"
  export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"  # the killed run exits mid-session
fi
VICTIM="127.0.0.1:$(cat "$T/victim.port")"
RGPU_SERVER="$VICTIM" RGPU_JOB_SLEEP_S=60 LD_PRELOAD="$preload" "$prog" sleep >"$T/victim.out" 2>"$T/victim.err" &
vp=$!
RGPU_SERVER="127.0.0.1:$(cat "$T/bystander.port")" RGPU_JOB_SLEEP_S=4 LD_PRELOAD="$preload" "$prog" sleep \
  >"$T/bystander.out" 2>"$T/bystander.err" &
bp=$!
for _ in $(seq 1 300); do grep -q '^running' "$T/victim.out" && break; sleep 0.05; done
grep -q '^running' "$T/victim.out" || die "the program did not start: $(cat "$T/victim.err")"
sleep 0.5
kill -KILL -- "-$victim_pid"  # the supervisor and every worker: the machine is gone
t0=$(date +%s%N)
for _ in $(seq 1 200); do kill -0 "$vp" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$vp" 2>/dev/null; then kill -KILL "$vp"; die "the program still ran 10 s after its server died"; fi
wait "$vp"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $rc -ne 0 && $rc -lt 128 ]] || die "the program exited with $rc (want a plain error exit)"
grep -q "connection to server $VICTIM lost" "$T/victim.err" ||
  die "the error does not name the server: $(cat "$T/victim.err")"
grep -q "FAIL session lost" "$T/victim.err" || die "the program's call did not fail: $(cat "$T/victim.err")"
echo "server_killed: ok the program failed ${ms} ms after its server died, naming $VICTIM"
wait "$bp" || die "the program on the other server failed: $(cat "$T/bystander.err")"
grep -q '^PASS' "$T/bystander.out" || die "the other program did not pass: $(cat "$T/bystander.out")"
echo "server_killed: ok the program on the other server finished with its exact result"
