#!/usr/bin/env bash
# tests/pool/e2e_pool.sh BUILD_DIR CUDA_PROGRAM [ARGS...]
# End to end through the control plane: one rgpu-pool, three `rgpu-server --backend sim`
# providers, `rgpu run` placing and running CUDA_PROGRAM through the shim; then drain, kill and a
# missing provider. Needs: BUILD_DIR/bin/{rgpu-pool,rgpu-server,rgpu} and
# BUILD_DIR/lib/rgpu/libcuda.so.1; rgpu-server must accept --backend sim --listen 127.0.0.1:0
# --pool HOST:PORT --join-token T --name NAME [--label k=v] and report sessions via ProviderLink.
# CUDA_PROGRAM should run a few seconds when given "sleep" as its last argument (for the kill).
set -euo pipefail
B=$(cd "$1" && pwd); shift
PROG=("$@")
W=$(mktemp -d /tmp/rgpu-e2e-pool-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "e2e_pool: FAIL: $*" >&2; exit 1; }

"$B/bin/rgpu-pool" --listen 127.0.0.1:0 --data-dir "$W/pool" --port-file "$W/port" \
  --heartbeat-ms 200 --missing-after-ms 1000 >"$W/pool.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$W/port" ] && break; sleep 0.1; done
export RGPU_POOL=127.0.0.1:$(cat "$W/port")
ADMIN=$(cat "$W/pool/admin.token")
PTOK=$("$B/bin/rgpu" --token "$ADMIN" token create --role provider 2>/dev/null)
UTOK=$("$B/bin/rgpu" --token "$ADMIN" token create --role user 2>/dev/null)

for i in 1 2 3; do
  "$B/bin/rgpu-server" --backend sim --listen 127.0.0.1:0 --pool "$RGPU_POOL" \
    --join-token "$PTOK" --name "sim$i" --label "n=$i" >"$W/server$i.log" 2>&1 &
  PIDS+=($!)
done
SERVER3_PID=${PIDS[3]}
for _ in $(seq 100); do
  n=$("$B/bin/rgpu" --token "$ADMIN" server list --json | grep -o '"state":"active"' | wc -l)
  [ "$n" -eq 3 ] && break; sleep 0.1
done
[ "$n" -eq 3 ] || fail "3 servers did not register: $("$B/bin/rgpu" --token "$ADMIN" server list)"
echo "e2e_pool: 3 servers registered"

# 1. Place and run (a slice, then whole GPUs across servers with spread).
RGPU_TOKEN=$UTOK "$B/bin/rgpu" run -n 1 --vram 1GiB -- "${PROG[@]}" || fail "rgpu run -n 1 failed"
RGPU_TOKEN=$UTOK "$B/bin/rgpu" run -n 2 --policy spread -- "${PROG[@]}" || fail "rgpu run -n 2 failed"
RGPU_TOKEN=$UTOK "$B/bin/rgpu" run --label n=2 -- "${PROG[@]}" 2>"$W/run.err" || fail "label run failed"
grep -q "sim2" "$W/run.err" || fail "--label n=2 was not placed on sim2: $(cat "$W/run.err")"
echo "e2e_pool: rgpu run placed and ran on the sim servers"

# 2. Drain: sim1 and sim2 drained, so a label for them fails fast with the reason.
"$B/bin/rgpu" --token "$ADMIN" server drain sim1 --reason e2e
"$B/bin/rgpu" --token "$ADMIN" server drain sim2 --reason e2e
if RGPU_TOKEN=$UTOK "$B/bin/rgpu" run --label n=1 -- "${PROG[@]}" 2>"$W/drain.err"; then
  fail "a run was placed on a drained server"; fi
grep -q "drained" "$W/drain.err" || fail "drain refusal does not say why: $(cat "$W/drain.err")"
RGPU_TOKEN=$UTOK "$B/bin/rgpu" run --label n=3 -- "${PROG[@]}" || fail "undrained sim3 refused"
"$B/bin/rgpu" --token "$ADMIN" server undrain sim1
"$B/bin/rgpu" --token "$ADMIN" server undrain sim2
echo "e2e_pool: drain refuses new sessions, undrain restores"

# 3. Kill: a long run is killed through the pool; rgpu run returns non-zero.
RGPU_TOKEN=$UTOK "$B/bin/rgpu" run --label n=1 -- "${PROG[@]}" sleep >"$W/kill.out" 2>&1 &
RUN_PID=$!
for _ in $(seq 100); do
  SID=$("$B/bin/rgpu" --token "$ADMIN" session list --json | grep -o '"lease_id":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
  [ -n "$SID" ] && "$B/bin/rgpu" --token "$ADMIN" session list --json | grep -q '"state":"active"' && break
  sleep 0.1
done
[ -n "$SID" ] || fail "no active session to kill"
"$B/bin/rgpu" --token "$ADMIN" session kill "$SID" --reason e2e
if wait "$RUN_PID"; then fail "killed run exited 0"; fi
for _ in $(seq 50); do
  "$B/bin/rgpu" --token "$ADMIN" session list --all --json | grep -q '"state":"killed"' && break; sleep 0.1
done
"$B/bin/rgpu" --token "$ADMIN" session list --all --json | grep -q '"state":"killed"' || fail "lease not marked killed"
echo "e2e_pool: session kill ends the session"

# 4. Missing: stop sim3; it is marked missing and gets no new session.
kill "$SERVER3_PID"
sleep 1.5
"$B/bin/rgpu" --token "$ADMIN" server info sim3 --json | grep -q '"state":"missing"' || fail "sim3 not missing"
if RGPU_TOKEN=$UTOK "$B/bin/rgpu" run --label n=3 -- "${PROG[@]}" 2>"$W/missing.err"; then
  fail "placed on a missing server"; fi
grep -q "missing" "$W/missing.err" || fail "missing refusal does not say why"
echo "e2e_pool: missing server skipped"
echo "e2e_pool: PASS"
