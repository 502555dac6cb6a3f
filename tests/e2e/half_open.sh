#!/usr/bin/env bash
# tests/e2e/half_open.sh — a client vanishes without closing (its link goes dead: no FIN, no
# RST, as a power cut or a NAT dropping the flow): its session's worker ends within about
# --peer-timeout (TCP keepalive / TCP_USER_TIMEOUT, protocol/transport.h) instead of holding
# memory and metering forever, and a client on a working link is served meanwhile.
# The dead link is a veth pair between two network namespaces, taken down on the client's
# side. Exits 77 (skipped) where namespaces or veth pairs cannot be made here.
# Usage: half_open.sh --server BIN --shim-dir DIR --plugin SO [--asan] -- PROGRAM
set -uo pipefail
die() { echo "half_open: $*" >&2; exit 1; }
skip() { echo "half_open: skipped: $*"; exit 77; }
server="" shim_dir="" plugin="" asan=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --shim-dir) shim_dir="$2"; shift 2 ;;
    --plugin) plugin="$2"; shift 2 ;;
    --asan) asan=1; shift ;;
    --inside) inside=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $# -ge 1 && -x "$1" && -x "$server" && -f "$plugin" ]] || die "usage: see the header"
prog="$1"

if [[ -z "${inside:-}" ]]; then
  command -v unshare >/dev/null && command -v nsenter >/dev/null && command -v ip >/dev/null ||
    skip "unshare, nsenter or ip is missing"
  unshare -n true 2>/dev/null || skip "cannot make a network namespace (needs CAP_SYS_ADMIN)"
  args=(--server "$server" --shim-dir "$shim_dir" --plugin "$plugin")
  [[ $asan -eq 1 ]] && args+=(--asan)
  exec unshare -n bash "$0" "${args[@]}" --inside -- "$prog"
fi

# Inside namespace A (the server's); namespace B (the client's) is a sleeping child's.
T=$(mktemp -d /tmp/rgpu-half-open-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill -KILL "$p"; wait "$p"; } 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
ip link set lo up
ip link add rgpu-a type veth peer name rgpu-b 2>/dev/null || skip "cannot make a veth pair"
unshare -n sleep 600 &
nsb=$!
pids+=($nsb)
sleep 0.2
ip link set rgpu-b netns "$nsb" || skip "cannot move a veth end into another namespace"
ip addr add 10.77.0.1/24 dev rgpu-a && ip link set rgpu-a up || die "cannot set up rgpu-a"
in_b() { nsenter -t "$nsb" -n "$@"; }
in_b ip link set lo up && in_b ip addr add 10.77.0.2/24 dev rgpu-b && in_b ip link set rgpu-b up ||
  die "cannot set up rgpu-b"

"$server" --backend sim --insecure --listen 10.77.0.1:0 --port-file "$T/port" --peer-timeout 3 \
  --sim-plugin "$plugin" >"$T/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$T/port" ] && break; sleep 0.05; done
[ -s "$T/port" ] || die "the server did not start: $(cat "$T/server.log")"
SERVER="10.77.0.1:$(cat "$T/port")"

export LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
preload=""
if [[ $asan -eq 1 ]]; then
  preload="$(gcc -print-file-name=libasan.so)"
  export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"  # the stranded client is killed
fi
RGPU_SERVER="$SERVER" RGPU_JOB_SLEEP_S=120 LD_PRELOAD="$preload" in_b "$prog" sleep \
  >"$T/victim.out" 2>"$T/victim.err" &
pids+=($!)
for _ in $(seq 1 300); do grep -q '^running' "$T/victim.out" && break; sleep 0.05; done
grep -q '^running' "$T/victim.out" || die "the program did not start: $(cat "$T/victim.err")"
grep -q "session 1 from 10.77.0.2" "$T/server.log" || die "no session from namespace B: $(cat "$T/server.log")"
sleep 0.5
in_b ip link set rgpu-b down  # the client's link is dead: nothing more arrives, nothing closes
t0=$(date +%s%N)

# Meanwhile a client on a working link (namespace A) is served to its exact result.
RGPU_SERVER="$SERVER" LD_PRELOAD="$preload" "$prog" >"$T/bystander.out" 2>"$T/bystander.err" ||
  die "the client on a working link failed: $(cat "$T/bystander.err")"
grep -q '^PASS' "$T/bystander.out" || die "the client on a working link did not pass: $(cat "$T/bystander.out")"
echo "half_open: ok a client on a working link finished with its exact result"

for _ in $(seq 1 300); do grep -q "session 1 .*ended after" "$T/server.log" && break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "session 1 .*ended after" "$T/server.log" ||
  die "the stranded session still ran ${ms} ms after its link died: $(cat "$T/server.log")"
line=$(grep "session 1 .*ended after" "$T/server.log")
grep -q "connection lost" <<<"$line" || die "the session ended for another reason: $line"
echo "half_open: ok the stranded session ended ${ms} ms after its link died (--peer-timeout 3): ${line#*ended}"
