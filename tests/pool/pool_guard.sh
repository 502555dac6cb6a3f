#!/usr/bin/env bash
# tests/pool/pool_guard.sh — rgpu-pool keeps its data directory to itself: a second pool on the
# same --data-dir refuses to start and names the running one; pool.db and its -wal/-shm are 0600
# (also when an older pool left them readable); --health-listen answers an HTTP GET with 200.
# Usage: pool_guard.sh --bin DIR   (DIR holds rgpu-pool)
set -uo pipefail
die() { echo "pool_guard: $*" >&2; exit 1; }
[ "${1:-}" = "--bin" ] && [ -n "${2:-}" ] || die "usage: pool_guard.sh --bin DIR"
POOL="$2/rgpu-pool"
T=$(mktemp -d /tmp/rgpu-pool-guard-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 1 250); do [ -s "$1" ] && return 0; sleep 0.02; done; return 1; }
mode_of() { stat -c %a "$1"; }

start_pool() {  # $1: health port
  rm -f "$T/port"
  "$POOL" --listen 127.0.0.1:0 --data-dir "$T/data" --port-file "$T/port" \
          --health-listen "127.0.0.1:$1" >"$T/pool.log" 2>&1 &
  PIDS+=($!)
  wait_file "$T/port" || die "pool did not start: $(cat "$T/pool.log")"
}

HP=$(free_port)
start_pool "$HP"
first=${PIDS[0]}

# A second pool on the same directory refuses, naming the first.
if "$POOL" --listen 127.0.0.1:0 --data-dir "$T/data" >"$T/second.log" 2>&1; then
  die "a second rgpu-pool started on the same --data-dir"
fi
grep -q "another rgpu-pool (pid $first) is serving --data-dir" "$T/second.log" ||
  die "the second pool did not name the first: $(cat "$T/second.log")"
kill -0 "$first" || die "the first pool died"
echo "pool_guard: ok lock"

# The database and its WAL files are private.
for f in pool.db pool.db-wal pool.db-shm admin.token pool.key; do
  [ -e "$T/data/$f" ] || continue
  [ "$(mode_of "$T/data/$f")" = 600 ] || die "$f is $(mode_of "$T/data/$f"), want 600"
done
[ -e "$T/data/pool.db" ] || die "no pool.db"
echo "pool_guard: ok modes"

# Health: an HTTP GET gets 200 ok.
reply=$(python3 - "$HP" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
print(out.decode(errors="replace"))
PY
) || die "cannot GET --health-listen 127.0.0.1:$HP"
[[ "$reply" == "HTTP/1.0 200 OK"* ]] || die "health reply: $reply"
[[ "$reply" == *"ok"* ]] || die "health body: $reply"
echo "pool_guard: ok health"

# An older pool's readable database is made private again at the next start.
kill "$first"; wait "$first" 2>/dev/null
PIDS=()
chmod 644 "$T/data/pool.db"
start_pool "$(free_port)"
[ "$(mode_of "$T/data/pool.db")" = 600 ] || die "pool.db stayed $(mode_of "$T/data/pool.db")"
echo "pool_guard: ok restart"
