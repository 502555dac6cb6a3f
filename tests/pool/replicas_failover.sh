#!/usr/bin/env bash
# tests/pool/replicas_failover.sh — three rgpu-pool replicas on one PostgreSQL database, one of
# them SIGKILLed during a storm of placements, releases and heartbeats.
#
#   replicas_failover.sh --bin DIR --shim-dir DIR --plugin SO [--asan] -- PROGRAM
#
# Run under tests/pool/pg_cluster.sh (RGPU_TEST_PG_URL). Replicas a, b, c share one signing key
# (--key-file); two sim rgpu-servers and every `rgpu run` are given all three
# (--pool a,b,c / RGPU_POOL). Two loops of `rgpu run` run the program while replica a, the one
# every client tries first, is killed, and one session runs across the kill. Asserts: every run
# succeeds or fails with a clear "rgpu:" line; the long session passes; both providers stay registered and active; every lease the database holds was
# printed by exactly one run (none doubled, none lost) and none is left open; every session has
# its final usage receipt; a fourth replica started with another key is refused.
set -uo pipefail
BIN="" SHIM="" PLUGIN="" ASAN=0
die() { echo "replicas_failover: $*" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --shim-dir) SHIM=$2; shift 2 ;;
    --plugin) PLUGIN=$2; shift 2 ;;
    --asan) ASAN=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument $1" ;;
  esac
done
PROG=${1:-}
[[ -n "${RGPU_TEST_PG_URL:-}" ]] || die "run me under tests/pool/pg_cluster.sh"
for b in rgpu-pool rgpu-server rgpu; do [[ -x "$BIN/$b" ]] || die "no $BIN/$b"; done
[[ -x "$PROG" ]] || die "program not found: '$PROG'"
W=$(mktemp -d "${TMPDIR:-/tmp}/rgpu-replicas.XXXXXX") || die "mktemp failed"
export XDG_STATE_HOME="$W/state" RGPU_SHIM_DIR="$SHIM"
PRELOAD=""
if ((ASAN)); then
  PRELOAD=$(gcc -print-file-name=libasan.so)
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
fi
declare -A PID
cleanup() {
  local p
  for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PID[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  [[ -n "${KEEP_W:-}" ]] || rm -rf "$W"
}
trap cleanup EXIT
fail() {
  echo "replicas_failover: FAIL: $*" >&2
  for f in "$W"/*.log "$W"/*.err; do [[ -f "$f" ]] && { echo "----- $f"; tail -40 "$f"; }; done >&2
  exit 1
}
ok() { echo "replicas_failover: ok $*"; }
wait_for() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
start_replica() {  # NAME [flags]
  "$BIN/rgpu-pool" --listen 127.0.0.1:0 --data-dir "$W/$1" --port-file "$W/$1.port" \
    --store "$RGPU_TEST_PG_URL" --replica "$1" --heartbeat-ms 300 --missing-after-ms 5000 \
    --lost-after-ms 20000 "${@:2}" >>"$W/$1.log" 2>&1 &
  PID[$1]=$!
  wait_for 30 test -s "$W/$1.port" || fail "replica $1 did not start"
}
start_replica a
for r in b c; do start_replica $r --key-file "$W/a/pool.key"; done
POOLS="127.0.0.1:$(cat "$W/a.port"),127.0.0.1:$(cat "$W/b.port"),127.0.0.1:$(cat "$W/c.port")"
export RGPU_POOL=$POOLS
ADMIN=$(cat "$W/a/admin.token")
admin() { "$BIN/rgpu" --token "$ADMIN" "$@"; }
[[ ! -e "$W/b/admin.token" ]] || fail "a second replica bootstrapped a second admin"
# A replica with a key of its own would sign leases no server accepts: refused, saying so.
if "$BIN/rgpu-pool" --listen 127.0.0.1:0 --data-dir "$W/d" --store "$RGPU_TEST_PG_URL" \
  --replica d >"$W/d.log" 2>&1; then fail "a replica with another key started"; fi
grep -q "not the one the other replicas of this database sign leases with" "$W/d.log" ||
  fail "the foreign key was not named: $(cat "$W/d.log")"
ok "replicas share one key; a foreign one is refused"

PTOK=$(admin token create --role provider --name providers) || fail "token create"
UTOK=$(admin token create --role user --name storm) || fail "token create"
for i in 1 2; do
  "$BIN/rgpu-server" --backend sim --listen 127.0.0.1:0 --port-file "$W/server$i.port" \
    --pool "$POOLS" --join-token "$PTOK" --name "sim$i" --vram 4GiB --receipt-interval 0.5 \
    --sim-plugin "$PLUGIN" >"$W/server$i.log" 2>&1 &
  PID[s$i]=$!
done
active() { [[ $(admin server list --json | grep -o '"state":"active"' | wc -l) -eq 2 ]]; }
wait_for 60 active || fail "the servers did not register: $(admin server list)"
ok "two providers registered through the replicas"

# The storm: two loops of rgpu run (placement, a session, release), replica a killed mid-way.
storm() {  # LOOP: runs until $W/stop appears (3 s after the kill)
  local k
  for ((k = 0; ; k++)); do
    [[ -e "$W/stop" ]] && break
    if LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --vram 1GiB -- "$PROG" \
      >"$W/run$1-$k.out" 2>"$W/run$1-$k.err"; then
      echo ok >"$W/run$1-$k.rc"
    else
      echo failed >"$W/run$1-$k.rc"
    fi
  done
}
# A session running across the kill: its program sleeps 8 s on its vGPU, then checks its data.
RGPU_JOB_SLEEP_S=8 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --vram 1GiB -- "$PROG" sleep \
  >"$W/long.out" 2>"$W/long.err" &
LONG=$!
wait_for 60 grep -q '^running' "$W/long.out" || fail "the long session did not start"
storm 1 &
L1=$!
storm 2 &
L2=$!
sleep 3
before=$(ls "$W"/run*.rc 2>/dev/null | wc -l)
kill -KILL "${PID[a]}"
unset 'PID[a]'
ok "replica a SIGKILLed during the storm, after $before runs"
sleep 3
touch "$W/stop"
wait $L1 $L2
wait $LONG || fail "the session running across the kill failed: $(cat "$W/long.err")"
grep -q '^PASS' "$W/long.out" || fail "the session running across the kill did not pass"
after=$(( $(ls "$W"/run*.rc | wc -l) - before ))
((before >= 2 && after >= 2)) || fail "the storm did not span the kill ($before runs before, $after after)"
runs=0 good=0
for f in "$W"/run*.rc; do
  runs=$((runs + 1))
  if [[ $(cat "$f") == ok ]]; then
    good=$((good + 1))
  else
    err=${f%.rc}.err
    grep -q '^rgpu' "$err" || fail "a failed run said nothing clear: $(cat "$err")"
  fi
done
((good >= runs - 2)) || fail "only $good of $runs runs succeeded across the failover"
ok "$good of $runs runs succeeded, the rest failed saying why; the session running across the kill passed"
wait_for 30 active || fail "a provider was lost in the failover: $(admin server list)"
ok "both providers stay registered and active"

# Leases: each printed by one run, none open, each session's final receipt in.
grep -ho 'lease [0-9a-f]\{8,\}' "$W"/run*.err | sort >"$W/printed.txt"
[[ $(wc -l <"$W/printed.txt") -ge $good ]] || fail "runs did not print their leases"
[[ -z "$(uniq -d "$W/printed.txt")" ]] || fail "a lease was handed to two runs: $(uniq -d "$W/printed.txt")"
settled() {
  admin session list --all --json | python3 -c '
import json, sys
ls = json.load(sys.stdin)
good, runs = int(sys.argv[1]), int(sys.argv[2])
opened = [l for l in ls if l["state"] in ("granted", "active")]
# A run whose release reached the pool before the heartbeat that reported the session
# leaves the lease "released"; its session still ran and its receipts still count.
ran = [l for l in ls if l["state"] in ("ended", "released") and l.get("receipts", 0) > 0]
finals = [l for l in ran if l.get("usage", {}).get("final")]
states = {}
for l in ls:
    states[l["state"]] = states.get(l["state"], 0) + 1
# One lease per run that got one: none doubled by a retried acquire, none lost.
ok = not opened and good <= len(ls) <= runs and len(ran) >= good and len(finals) == len(ran)
print(len(ls), "leases", states, len(ran), "sessions,", len(finals), "with a final receipt")
sys.exit(0 if ok else 1)' "$((good + 1))" "$((runs + 1))"  # and the long session
}
wait_for 30 settled || fail "leases after the storm: $(settled)"
ok "$(settled)"

# Key rotation: replica b restarts on a new key (--new-key); c still signs with the old one.
# The servers, never restarted, learn both keys from heartbeat answers and take leases of each.
PB=$(cat "$W/b.port") PC=$(cat "$W/c.port")
openssl genpkey -algorithm ed25519 -out "$W/new.key" 2>/dev/null || fail "openssl genpkey"
kill -TERM "${PID[b]}"
wait "${PID[b]}" 2>/dev/null
"$BIN/rgpu-pool" --listen "127.0.0.1:$PB" --data-dir "$W/b" --store "$RGPU_TEST_PG_URL" \
  --replica b --heartbeat-ms 300 --missing-after-ms 5000 --lost-after-ms 20000 \
  --key-file "$W/new.key" --new-key >>"$W/b2.log" 2>&1 &
PID[b]=$!
wait_for 30 grep -q "listening on" "$W/b2.log" || fail "replica b did not restart on the new key"
grep -q "stays published" "$W/b2.log" || fail "the rotation was not announced: $(cat "$W/b2.log")"
sleep 2  # a heartbeat answer (0.3 s) from a replica that caught up (0.5 s)
for via in "$PB" "$PC"; do
  RGPU_POOL=127.0.0.1:$via LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --vram 1GiB -- \
    "$PROG" >"$W/rot$via.out" 2>"$W/rot$via.err" ||
    fail "a lease from the replica on :$via was refused after the rotation: $(cat "$W/rot$via.err")"
done
ok "after a key rotation leases of the new key (b) and the old (c) both run, servers untouched"
echo "replicas_failover: PASS"
