#!/usr/bin/env bash
# tests/pool/e2e_pool.sh — the control plane end to end on loopback: one rgpu-pool, three
# `rgpu-server --backend sim` providers (sim1..sim3, labels n=1..3), CUDA programs run through
# the shim with `rgpu run`.
#
# Usage: e2e_pool.sh --bin DIR --shim-dir DIR --plugin SO [--asan] [--only STEP] -- PROGRAM
#   DIR holds rgpu-pool, rgpu-server and rgpu; PROGRAM is tests/e2e's pool_job (it checks its
#   results, `--cap BYTES` checks a vGPU's memory cap, a last argument `sleep` keeps the session
#   busy and fails as soon as the session is lost); SO is its sim kernel plugin.
#   --asan: the binaries were built with RGPU_SANITIZE=ON (the ASan runtime is preloaded into the
#   uninstrumented nvcc-built program, and every log is checked for sanitizer reports).
# Steps, in order (each prints "e2e_pool: ok <step>"):
#   run       rgpu run places and runs the program; --label picks the provider; the shim alone
#             asks the pool with RGPU_POOL (RGPU_TOKEN, RGPU_VRAM, RGPU_LABELS)
#   receipts  usage receipts reach the pool during a session and a final one at its end (and the
#             provider's own /metrics count them); the
#             session is priced at the rates it started under; --max-price is honoured
#   ledger    export + offline verify; a changed byte is named; receipts carry their
#             provider's signature (verify --provider-key); payouts and balances;
#             consistency with an earlier export; a user's export holds only its own entries
#   binpack   with a slice running on sim1, binpack puts the next slices on the same GPU (one
#             run, then two vGPUs of one run) and each slice's cap holds (the program checks it)
#   spread    spread puts slices on the providers with fewest leases
#   roles     a user token cannot run admin verbs
#   leases    a forged, a replayed and a wrong-server lease are refused by the server
#   drain     a drained server lets its running session finish and gets nothing new; with a
#             deadline, a running program is warned on its stderr and ended at the deadline
#   kill      `rgpu session kill` ends a running session; its program fails; the lease is killed
#   missing   a server killed with SIGKILL turns missing; its session's program fails; the
#             session ends (after --lost-after-ms) dated when the server was last seen
#   restart   the pool restarts on the same data: tokens, providers, leases; an expired lease
#             is refused
#   poolkill  the pool is SIGKILLed mid-session: the program finishes exactly; when the pool
#             comes back the session's end is recorded with the time it really ended
#   tls       a second pool serving the control plane over mutual TLS, a provider joining it
#             over TLS and serving its clients over TLS: the CLI, `rgpu run`, the lease and the
#             program's data plane all over TLS; a client without certificates is refused
# Waits poll for the condition (no fixed sleeps), so a loaded CI machine only makes it slower.
set -uo pipefail

die() { echo "e2e_pool: $*" >&2; exit 2; }
BIN="" SHIM="" PLUGIN="" ASAN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --shim-dir) SHIM="$2"; shift 2 ;;
    --plugin) PLUGIN="$2"; shift 2 ;;
    --asan) ASAN=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $# -ge 1 ]] || die "no program given (after --)"
PROG="$1"
for b in rgpu-pool rgpu-server rgpu; do [[ -x "$BIN/$b" ]] || die "no $BIN/$b"; done
[[ -e "$SHIM/libcuda.so.1" ]] || die "no libcuda.so.1 in $SHIM"
[[ -f "$PLUGIN" ]] || die "sim plugin not found: '$PLUGIN'"
[[ -x "$PROG" ]] || die "program not found: '$PROG'"

W=$(mktemp -d "${TMPDIR:-/tmp}/rgpu-e2e-pool.XXXXXX") || die "mktemp failed"
export XDG_STATE_HOME="$W/state"  # the servers' used-lease lists (--state-dir default)
POOL_PID="" TPOOL_PID="" SERVER_PIDS=() JOB_PIDS=()
export RGPU_SHIM_DIR="$SHIM"
PRELOAD=""
if [[ $ASAN -eq 1 ]]; then
  PRELOAD=$(gcc -print-file-name=libasan.so)
  [[ -e "$PRELOAD" ]] || die "ASan runtime not found (gcc -print-file-name=libasan.so)"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi

stop_pid() {  # SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}
cleanup() {
  local p
  for p in "${JOB_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${SERVER_PIDS[@]}"; do stop_pid "$p"; done
  [[ -n "$POOL_PID" ]] && stop_pid "$POOL_PID"
  [[ -n "$TPOOL_PID" ]] && stop_pid "$TPOOL_PID"
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
show_logs() {
  local f
  for f in "$W"/*.log "$W"/*.out "$W"/*.err; do
    [[ -f "$f" ]] || continue
    echo "----- $f -----"; cat "$f"
  done
}
fail() { echo "e2e_pool: FAIL: $*" >&2; show_logs >&2; exit 1; }
ok() { echo "e2e_pool: ok $*"; }

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
admin() { "$BIN/rgpu" --token "$ADMIN" "$@"; }
user() { "$BIN/rgpu" --token "$UTOK" "$@"; }
# urun ARGS -- CMD...: `rgpu run` as the user, ASan runtime preloaded into the program.
# (Background jobs run the binary directly, so that $! is rgpu's pid and signals reach it.)
urun() { LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run "$@"; }
# lease_where K=V...: the id of the first lease (from `session list --all --json` on stdin)
# whose fields match every K=V (K^=V: the field starts with V).
lease_where() {
  python3 -c '
import json, sys
want = [kv.split("=", 1) for kv in sys.argv[1:]]
def match(l, k, v):
    if k.endswith("^"):
        return str(l.get(k[:-1])).startswith(v)
    return str(l.get(k)) == v
for l in json.load(sys.stdin):
    if all(match(l, k, v) for k, v in want):
        print(l["lease_id"]); break
' "$@"
}
lease_id_where() { admin session list --all --json | lease_where "$@"; }
has_lease_where() { [[ -n "$(lease_id_where "$@")" ]]; }
server_state() {
  admin server info "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}
server_is() { [[ "$(server_state "$1")" == "$2" ]]; }
active_count() { admin server list --json | grep -o '"state":"active"' | wc -l; }
three_active() { [[ $(active_count) -eq 3 ]]; }
# placed FILE: the provider names `rgpu run` printed, one per vGPU, in order.
placed() { sed -n 's/^rgpu: vGPU [0-9]* -> \([^ ]*\) .*/\1/p' "$1"; }
file_has() { grep -q -- "$2" "$1" 2>/dev/null; }

# --- the pool and three providers ------------------------------------------------------------
start_pool() {  # start_pool LISTEN [extra flags]
  rm -f "$W/pool.port"
  "$BIN/rgpu-pool" --listen "$1" --data-dir "$W/pool" --port-file "$W/pool.port" \
    --heartbeat-ms 200 --missing-after-ms 5000 --lost-after-ms 8000 "${@:2}" >>"$W/pool.log" 2>&1 &
  POOL_PID=$!
  wait_for 30 test -s "$W/pool.port" || fail "the pool did not start"
}
start_pool 127.0.0.1:0
POOL_PORT=$(cat "$W/pool.port")
export RGPU_POOL=127.0.0.1:$POOL_PORT
ADMIN=$(cat "$W/pool/admin.token")
PTOK=$(admin token create --role provider --name e2e-providers) || fail "token create"
UTOK=$(admin token create --role user --name e2e-user) || fail "token create"
unset RGPU_TOKEN

for i in 1 2 3; do
  "$BIN/rgpu-server" --backend sim --listen 127.0.0.1:0 --port-file "$W/server$i.port" \
    --pool "$RGPU_POOL" --join-token "$PTOK" --name "sim$i" --label "n=$i" --vram 4GiB \
    --receipt-interval 0.5 --metrics-listen 127.0.0.1:0 \
    --sim-plugin "$PLUGIN" >"$W/server$i.log" 2>&1 &
  SERVER_PIDS+=($!)
done
wait_for 60 three_active || fail "3 servers did not register: $(admin server list)"
ok "3 providers registered"

# --- run ---------------------------------------------------------------------------------------
urun -- "$PROG" >"$W/run1.out" 2>"$W/run1.err" || fail "rgpu run (whole GPU) failed"
file_has "$W/run1.out" '^PASS' || fail "the program did not pass"
urun --label n=2 -- "$PROG" >"$W/run2.out" 2>"$W/run2.err" || fail "rgpu run --label n=2 failed"
[[ "$(placed "$W/run2.err")" == sim2 ]] || fail "--label n=2 was not placed on sim2"
# Without `rgpu run`: the shim asks the pool itself at cuInit (RGPU_POOL, RGPU_TOKEN, ...).
env LD_PRELOAD="$PRELOAD" LD_LIBRARY_PATH="$SHIM" RGPU_TOKEN="$UTOK" RGPU_VRAM=1GiB \
  RGPU_LABELS=n=3 "$PROG" --cap $((1 << 30)) >"$W/shimpool.out" 2>"$W/shimpool.err" ||
  fail "the shim with RGPU_POOL failed"
file_has "$W/shimpool.out" '^PASS' || fail "the program did not pass with RGPU_POOL"
wait_for 30 has_lease_where provider=sim3 client^="libcuda.so.1 pid" ||
  fail "the shim's lease is not on sim3: $(admin session list --all)"
# Without `rgpu run` the shim reports its own count to the pool itself, at exit.
SL=$(lease_id_where provider=sim3 client^="libcuda.so.1 pid")
shim_tally_in() {
  admin session list --all --json | python3 -c '
import json, sys
l = next(l for l in json.load(sys.stdin) if l["lease_id"] == sys.argv[1])
t, u = l["client_tally"], l["usage"]
sys.exit(0 if t["bytes_out"] > 0 and u["final"] and l["dispute"] == "" and
         abs(t["bytes_out"] - u["bytes_in"]) <= max(16384, u["bytes_in"] // 100) else 1)' "$SL"
}
wait_for 30 shim_tally_in || fail "the shim (RGPU_POOL) did not report its tally, or it disagrees: $(admin session list --all --json)"
ok "run (rgpu run, --label, and RGPU_POOL in the shim, which reports its own tally)"

# --- receipts: measured usage reaches the pool during the session and at its end --------------
# usage_of LEASE FIELD: a field of the lease's merged usage ("receipts" for their count).
usage_of() {
  admin session list --all --json | python3 -c '
import json, sys
l = next(l for l in json.load(sys.stdin) if l["lease_id"] == sys.argv[1])
print(l["receipts"] if sys.argv[2] == "receipts" else l["usage"][sys.argv[2]])' "$1" "$2"
}
receipts_running() {
  [[ -n "$(lease_id_where lease_id="$RL" state=active)" && $(usage_of "$RL" receipts) -ge 2 &&
     $(usage_of "$RL" bytes_in) -gt 0 && $(usage_of "$RL" wall_ms) -gt 0 ]]
}
admin rate set --gpu-hour 3.6 --fee 10 2>/dev/null || fail "rate set failed"  # 1 micro per ms
RGPU_JOB_SLEEP_S=4 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --label n=2 -- "$PROG" sleep >"$W/rcpt.out" 2>"$W/rcpt.err" &
RJ=$!
JOB_PIDS+=($RJ)
wait_for 60 file_has "$W/rcpt.out" '^running' || fail "the receipts job did not start"
wait_for 30 has_lease_where provider=sim2 state=active || fail "the pool did not see it start"
RL=$(lease_id_where provider=sim2 state=active)
wait_for 30 receipts_running || fail "no receipts during the session: $(admin session list --all --json)"
MID_WALL=$(usage_of "$RL" wall_ms)
admin rate set --gpu-hour 36 2>/dev/null || fail "rate set (mid-session) failed"
wait "$RJ" || fail "the receipts job failed: $(cat "$W/rcpt.err")"
file_has "$W/rcpt.out" '^PASS' || fail "the receipts job did not pass"
wait_for 30 has_lease_where lease_id="$RL" state=ended || fail "its end was not recorded"
wait_for 30 test "$(usage_of "$RL" final)" = True || fail "no final receipt: $(admin session list --all --json)"
END_WALL=$(usage_of "$RL" wall_ms)
[[ $END_WALL -ge $MID_WALL && $END_WALL -ge 4000 && $END_WALL -lt 60000 ]] ||
  fail "final wall time $END_WALL ms (mid-session $MID_WALL ms) is not the >= 4 s the job held"
[[ $(usage_of "$RL" calls) -gt 0 && $(usage_of "$RL" bytes_out) -gt 0 ]] || fail "no calls or bytes out"
# The shim's own count (reported by rgpu run) agrees with the provider's receipts: no dispute.
wait_for 30 test "$(admin session list --all --json | python3 -c '
import json, sys
l = next(l for l in json.load(sys.stdin) if l["lease_id"] == sys.argv[1])
print(l["client_tally"]["bytes_out"] > 0)' "$RL")" = True || fail "rgpu run did not report the shim's tally"
admin session list --all --json | python3 -c '
import json, sys
l = next(l for l in json.load(sys.stdin) if l["lease_id"] == sys.argv[1])
t, u = l["client_tally"], l["usage"]
ok = l["dispute"] == "" and abs(t["bytes_out"] - u["bytes_in"]) <= max(16384, u["bytes_in"] // 100)
sys.exit(0 if ok else "tally " + json.dumps(t) + " usage " + json.dumps(u) + " dispute " + l["dispute"])
' "$RL" || fail "the shim's tally and the receipts disagree"
# Priced by the rates it started under (version 1: 1 micro-unit per ms), not the mid-session
# change; the pool keeps 10 %, the provider earns the rest.
wait_for 30 test "$(admin session list --all --json | python3 -c '
import json, sys
print(next(l["charge"]["settled"] for l in json.load(sys.stdin) if l["lease_id"] == sys.argv[1]))' "$RL")" != 0 ||
  fail "the session was not settled: $(admin session list --all --json)"
admin session list --all --json | python3 -c '
import json, sys
l = next(l for l in json.load(sys.stdin) if l["lease_id"] == sys.argv[1])
c = l["charge"]
def micro(s): return round(float(s) * 1e6)
ok = (c["rate_version"] == 1 and c["billed_ms"] == l["usage"]["wall_ms"] and
      micro(c["cost"]) == c["billed_ms"] and micro(c["fee"]) == (c["billed_ms"] + 5) // 10 and
      micro(c["cost"]) == micro(c["fee"]) + micro(c["earnings"]))
sys.exit(0 if ok else "charge " + json.dumps(c) + " for usage " + json.dumps(l["usage"]))
' "$RL" || fail "the session's charge is not its receipts at the rates it started under"
if urun --max-price 1 --label n=1 -- true 2>"$W/maxprice.err"; then fail "placed above --max-price"; fi
file_has "$W/maxprice.err" "above your --max-price 1.000000" ||
  fail "the --max-price refusal does not say why: $(cat "$W/maxprice.err")"
# The provider's own /metrics (rgpu-server --metrics-listen) counts what its receipts said.
MURL=$(sed -n 's/.*Prometheus metrics at \(http:[^ ]*\)$/\1/p' "$W/server2.log" | head -1)
[[ -n "$MURL" ]] || fail "sim2 did not say where its metrics are"
python3 - "$MURL" "$(usage_of "$RL" busy_ns)" <<'PY' || fail "sim2's /metrics do not show its sessions"
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
m = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        k, v = line.rsplit(" ", 1); m[k.split("{")[0] + ("{" + k.split("{")[1] if "direction" in k else "")] = float(v)
need = [m["rgpu_vgpu_sessions_started_total"] >= 2, m["rgpu_gpu_memory_lent_bytes"] == 4 * 2**30,
        m["rgpu_gpu_busy_seconds_total"] >= int(sys.argv[2]) / 1e9 > 0,
        m['rgpu_transfer_bytes_total{direction="in"}'] > 0, m["rgpu_calls_total"] > 0,
        m["rgpu_vgpu_sessions"] == 0]
sys.exit(0 if all(need) else "metrics: %s\n%s" % (need, text))
PY
ok "receipts ($(usage_of "$RL" receipts) receipts; mid-session wall ${MID_WALL} ms, final ${END_WALL} ms; priced at the rates it started under; --max-price honoured)"

# --- ledger: receipts, charges, rates and payouts, signed and provable ---------------------------
admin ledger export --out "$W/ledger1.json" 2>/dev/null || fail "ledger export failed"
admin ledger verify "$W/ledger1.json" --pool-key "$W/pool/pool.pub" >"$W/verify1.out" 2>&1 ||
  fail "ledger verify failed on a fresh export: $(cat "$W/verify1.out")"
python3 - "$W/ledger1.json" <<'PY' || fail "the export lacks the session's receipts, charge and rates"
import json, sys
kinds = [e["kind"] for e in json.load(open(sys.argv[1]))["entries"]]
sys.exit(0 if kinds.count("rate") == 2 and "receipt" in kinds and "charge" in kinds else str(kinds))
PY
# Receipts are signed by their provider's receipt key: sim2's key vouches for every receipt
# entry of sim2's (its receipts job ran there); another key vouches for none of them.
SIM2_KEY="$XDG_STATE_HOME/rgpu/receipt-key-127.0.0.1_$(cat "$W/server2.port").pub"
[[ -s "$SIM2_KEY" ]] || fail "sim2 has no receipt key at $SIM2_KEY: $(ls "$XDG_STATE_HOME/rgpu")"
admin ledger verify "$W/ledger1.json" --pool-key "$W/pool/pool.pub" --provider-key "$SIM2_KEY" \
  >"$W/verify_pk.out" 2>&1 || fail "the receipts are not signed by sim2's key: $(cat "$W/verify_pk.out")"
file_has "$W/verify_pk.out" "receipt entries of provider" || fail "no provider-key check: $(cat "$W/verify_pk.out")"
if admin ledger verify "$W/ledger1.json" --pool-key "$W/pool/pool.pub" --provider-key "$(cat "$W/pool/pool.pub")" \
  >"$W/verify_pk_bad.out" 2>&1; then fail "the pool's own key passed as a provider's receipt key"; fi
file_has "$W/verify_pk_bad.out" "no receipt entry in the file is signed by provider key" ||
  fail "a foreign receipt key was not named: $(cat "$W/verify_pk_bad.out")"
# One byte changed in one entry's body: verify fails naming that entry.
python3 - "$W/ledger1.json" "$W/ledger_bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
e = next(e for e in d["entries"] if e["kind"] == "charge")
e["body"] = e["body"].replace('"cost":"0', '"cost":"9', 1)
json.dump(d, open(sys.argv[2], "w"))
open(sys.argv[2] + ".index", "w").write(str(e["index"]))
PY
BAD=$(cat "$W/ledger_bad.json.index")
if admin ledger verify "$W/ledger_bad.json" --pool-key "$W/pool/pool.pub" >"$W/verify_bad.out" 2>&1; then
  fail "ledger verify passed a changed entry"
fi
file_has "$W/verify_bad.out" "entry $BAD: its contents do not match" ||
  fail "ledger verify did not name entry $BAD: $(cat "$W/verify_bad.out")"
# A payout, then the provider's balance; the earlier export's history is a prefix of today's.
EARNED=$(admin earnings --json | python3 -c 'import json,sys; print(next(b["earned"] for b in json.load(sys.stdin) if b["name"] == "sim2"))')
admin payout record sim2 0.000100 --ref e2e-transfer-1 2>/dev/null || fail "payout record failed"
admin earnings --json | python3 -c '
import json, sys
b = next(b for b in json.load(sys.stdin) if b["name"] == "sim2")
def micro(s): return round(float(s) * 1e6)
sys.exit(0 if b["paid"] == "0.000100" and micro(b["pending"]) == micro(b["earned"]) - 100 and b["earned"] == sys.argv[1] else json.dumps(b))
' "$EARNED" || fail "sim2's balance does not show the payout"
"$BIN/rgpu" --token "$PTOK" earnings --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
sys.exit(0 if rows and all(r["kind"] == "provider" for r in rows) else json.dumps(rows))
' || fail "a provider token sees more than its providers' balances"
admin ledger consistency "$W/ledger1.json" --pool-key "$W/pool/pool.pub" >"$W/cons.out" 2>&1 ||
  fail "ledger consistency failed: $(cat "$W/cons.out")"
file_has "$W/cons.out" "is a prefix of today" || fail "consistency did not say so: $(cat "$W/cons.out")"
"$BIN/rgpu" --token "$UTOK" ledger export --out "$W/ledger_user.json" 2>/dev/null || fail "user export failed"
python3 - "$W/ledger_user.json" <<'PY' || fail "a user's export holds entries of other tokens or payouts"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if all(e["kind"] in ("rate", "receipt", "charge") for e in d["entries"]) and d["entries"] else "bad")
PY
admin ledger verify "$W/ledger_user.json" --pool-key "$W/pool/pool.pub" >/dev/null 2>&1 ||
  fail "a user's partial export does not verify"
"$BIN/rgpu" --token "$UTOK" usage --json | python3 -c '
import json, sys
rows = json.load(sys.stdin)
ok = rows and all(r["kind"] == "session" and " / e2e-user" in r["name"] for r in rows)
sys.exit(0 if ok and any(r["cost"] != "0.000000" for r in rows) else json.dumps(rows))
' || fail "a user's usage is not its own sessions, by name, with their cost"
admin usage --by provider --since 1h --json | python3 -c '
import json, sys
sys.exit(0 if any(r["name"] == "sim2" and r["sessions"] >= 1 for r in json.load(sys.stdin)) else 1)
' || fail "usage --by provider --since 1h does not show sim2"
UID_=$(admin token list --json | python3 -c 'import json,sys; print(next(t["id"] for t in json.load(sys.stdin) if t["name"] == "e2e-user"))')
admin token limit "$UID_" 0.000001 2>/dev/null || fail "token limit failed"
if urun --label n=1 -- true 2>"$W/limit.err"; then fail "placed past the user's credit limit"; fi
file_has "$W/limit.err" "credit limit reached" || fail "the credit refusal does not say why: $(cat "$W/limit.err")"
admin token limit "$UID_" 0 2>/dev/null || fail "lifting the limit failed"
ok "ledger (export verifies; every sim2 receipt signed by its receipt key; one changed byte names entry $BAD; payout and balances; consistency with an earlier head; per-token exports; a credit limit refuses placement)"

# --- binpack: slices fill the fullest GPU ------------------------------------------------------
RGPU_JOB_SLEEP_S=120 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --vram 1GiB --label n=1 -- "$PROG" sleep >"$W/bg.out" 2>"$W/bg.err" &
BG=$!
JOB_PIDS+=($BG)
wait_for 60 file_has "$W/bg.out" '^running' || fail "the background slice did not start"
wait_for 30 has_lease_where provider=sim1 state=active || fail "the pool did not see it start"
BGL=$(lease_id_where provider=sim1 state=active)
CAP=$((1 << 30))
urun --vram 1GiB --policy binpack -- "$PROG" --cap $CAP >"$W/bp.out" 2>"$W/bp.err" ||
  fail "binpack run (a 1GiB slice, cap checked) failed"
[[ "$(placed "$W/bp.err")" == sim1 ]] ||
  fail "binpack did not fill sim1's GPU (already holding a slice): $(placed "$W/bp.err")"
file_has "$W/bp.out" '^device 0: .*, 1073741824 bytes' || fail "the slice does not report its 1GiB cap"
# Two vGPUs of one run: both slices on sim1's GPU (beside the running one), each capped.
urun -n 2 --vram 1GiB --policy binpack -- "$PROG" --cap $CAP >"$W/bp2.out" 2>"$W/bp2.err" ||
  fail "binpack -n 2 (two 1GiB slices, caps checked) failed"
[[ "$(placed "$W/bp2.err" | sort -u)" == sim1 ]] ||
  fail "binpack -n 2 did not put both slices on sim1: $(placed "$W/bp2.err" | xargs)"
[[ $(grep -c '^device [01]: .*, 1073741824 bytes' "$W/bp2.out") -eq 2 ]] ||
  fail "the two slices do not each report the 1GiB cap"
ok "binpack (slices share sim1's GPU with a running one; the cap holds)"

# --- spread: fewest leases first ---------------------------------------------------------------
urun --vram 1GiB --policy spread -- "$PROG" --cap $CAP >"$W/sp.out" 2>"$W/sp.err" ||
  fail "spread run failed"
sp=$(placed "$W/sp.err")
[[ "$sp" == sim2 || "$sp" == sim3 ]] || fail "spread placed on '$sp', not away from the busy sim1"
user run -n 2 --vram 1GiB --policy spread -- true 2>"$W/sp2.err" || fail "spread -n 2 failed"
sp=$(placed "$W/sp2.err" | sort | xargs)
[[ "$sp" == "sim2 sim3" ]] || fail "spread -n 2 placed on '$sp', want sim2 and sim3 (sim1 is busy)"
ok "spread (slices go to the providers with fewest leases)"

# --- roles -------------------------------------------------------------------------------------
for verb in "server drain sim1" "server undrain sim1" "server remove sim2" "token create --role admin"; do
  # shellcheck disable=SC2086
  if user $verb >"$W/role.out" 2>&1; then fail "a user token ran admin verb '$verb'"; fi
  grep -qi 'permission\|admin' "$W/role.out" || fail "'$verb' refusal does not say why"
done
server_is sim1 active || fail "sim1 changed state after refused admin verbs"
RTOK=$(admin token create --role user --name e2e-revoked) || fail "token create"
RID=$(admin token list --json | python3 -c '
import json, sys
print(next(t["id"] for t in json.load(sys.stdin) if t["name"] == "e2e-revoked"))')
"$BIN/rgpu" --token "$RTOK" vgpu list >/dev/null 2>&1 || fail "a fresh user token did not work"
admin token revoke "$RID" 2>"$W/revoke.err" || fail "token revoke failed: $(cat "$W/revoke.err")"
if "$BIN/rgpu" --token "$RTOK" vgpu list >"$W/revoked.out" 2>&1; then fail "a revoked token still works"; fi
file_has "$W/revoked.out" "token refused" || fail "the revoked token's refusal does not say so: $(cat "$W/revoked.out")"
[[ $(admin token list --json | python3 -c '
import json, sys
print(next(t["revoked"] for t in json.load(sys.stdin) if t["name"] == "e2e-revoked"))') -gt 0 ]] ||
  fail "token list does not show the revocation"
ok "roles (a user token cannot drain, undrain, remove or create tokens; a revoked token is refused)"

# --- leases: forged, replayed, wrong server ----------------------------------------------------
# A lease that opened a session, captured from `rgpu run`'s environment for the program.
user run --label n=2 -- sh -c 'echo "$RGPU_SERVER" >"$0/used.server"; echo "$RGPU_LEASE" >"$0/used.lease"
  exec env LD_PRELOAD="$2" "$1"' "$W" "$PROG" "$PRELOAD" >"$W/used.out" 2>"$W/used.err" ||
  fail "capturing a lease failed"
USED_SERVER=$(cat "$W/used.server") USED_LEASE=$(cat "$W/used.lease")
# direct SERVER LEASE NAME: runs the program with RGPU_SERVER/RGPU_LEASE, no pool. These runs
# are refused at cuInit; cudart then unloads libcuda.so.1, and LeakSanitizer still reports
# ~1 KiB allocated inside the unloaded shim (24-byte roots under cudart's pthread_once), so it
# is off for these runs only (every passing run and the daemons keep it on).
direct() {
  env -u RGPU_POOL LD_PRELOAD="$PRELOAD" LD_LIBRARY_PATH="$SHIM" RGPU_SERVER="$1" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
    RGPU_LEASE="$2" RGPU_CONNECT_TIMEOUT_MS=20000 "$PROG" >"$W/$3.out" 2>"$W/$3.err"
}
if direct "$USED_SERVER" "$USED_LEASE" replay; then fail "a replayed lease was accepted"; fi
file_has "$W/replay.err" 'already used' || fail "the replay refusal does not say why"
# Forged: one character of the signature changed.
n=${#USED_LEASE} k=$((${#USED_LEASE} - 20))
c=${USED_LEASE:$k:1}; [[ "$c" == A ]] && r=B || r=A
FORGED="${USED_LEASE:0:$k}$r${USED_LEASE:$((k + 1)):$n}"
if direct "$USED_SERVER" "$FORGED" forged; then fail "a forged lease was accepted"; fi
file_has "$W/forged.err" 'bad signature' || fail "the forged-lease refusal does not say why"
# Issued for sim2, presented to sim3.
SIM3="127.0.0.1:$(cat "$W/server3.port")"
if direct "$SIM3" "$USED_LEASE" wrongserver; then fail "sim3 accepted a lease for sim2"; fi
file_has "$W/wrongserver.err" 'issued for server' || fail "the wrong-server refusal does not say why"
# No lease at all.
if direct "$SIM3" "" nolease; then fail "a pool server accepted a Hello without a lease"; fi
file_has "$W/nolease.err" 'lease is required' || fail "the no-lease refusal does not say why"
# sim2 restarts on the same address: the used lease stays used.
SIM2_PORT=$(cat "$W/server2.port")
stop_pid "${SERVER_PIDS[1]}"
rm -f "$W/server2.port"
"$BIN/rgpu-server" --backend sim --listen "127.0.0.1:$SIM2_PORT" --port-file "$W/server2.port" \
  --pool "$RGPU_POOL" --join-token "$PTOK" --name sim2 --label n=2 --vram 4GiB \
  --sim-plugin "$PLUGIN" >>"$W/server2.log" 2>&1 &
SERVER_PIDS[1]=$!
wait_for 60 test -s "$W/server2.port" || fail "sim2 did not restart: $(tail -5 "$W/server2.log")"
wait_for 60 server_is sim2 active || fail "sim2 is not active after its restart"
if direct "$USED_SERVER" "$USED_LEASE" replay2; then
  fail "a used lease was accepted again after the server restarted"
fi
file_has "$W/replay2.err" 'already used' || fail "the replay after restart does not say why: $(cat "$W/replay2.err")"
ok "leases (replayed, also after a server restart, forged, wrong-server and missing leases refused with the reason)"

# --- drain: the running session finishes, nothing new is placed --------------------------------
kill -TERM "$BG" 2>/dev/null; wait "$BG" 2>/dev/null
wait_for 30 has_lease_where lease_id="$BGL" state=ended || fail "the pool did not see $BGL end"
RGPU_JOB_SLEEP_S=4 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --label n=1 -- "$PROG" sleep >"$W/drainjob.out" 2>"$W/drainjob.err" &
DJ=$!
JOB_PIDS+=($DJ)
wait_for 60 file_has "$W/drainjob.out" '^running' || fail "the job on sim1 did not start"
admin server drain sim1 --reason e2e >/dev/null || fail "drain sim1"
if urun --label n=1 -- "$PROG" >"$W/drained.out" 2>"$W/drained.err"; then
  fail "a run was placed on a drained server"
fi
file_has "$W/drained.err" drained || fail "the drain refusal does not say why"
wait "$DJ" || fail "the session running on sim1 did not finish cleanly after the drain"
file_has "$W/drainjob.out" '^PASS' || fail "the drained server's running job did not pass"
admin server undrain sim1 >/dev/null || fail "undrain sim1"
urun --label n=1 -- "$PROG" >"$W/undrained.out" 2>"$W/undrained.err" || fail "undrained sim1 refused"
# A drain with a deadline: the running program is warned on its stderr (by the shim) before
# the deadline, then its session ends at the deadline, saying so.
RGPU_JOB_SLEEP_S=120 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --label n=1 -- "$PROG" sleep >"$W/deadjob.out" 2>"$W/deadjob.err" &
DLJ=$!
JOB_PIDS+=($DLJ)
wait_for 60 file_has "$W/deadjob.out" '^running' || fail "the deadline job on sim1 did not start"
admin server drain sim1 --reason e2e-maintenance --deadline 5 >/dev/null || fail "drain sim1 --deadline"
wait_for 4 file_has "$W/deadjob.err" "rgpu: this GPU's provider is draining its server (e2e-maintenance): the session will be ended at" ||
  fail "the running program was not warned of the drain deadline: $(cat "$W/deadjob.err")"
kill -0 "$DLJ" 2>/dev/null || fail "the warned program ended before the deadline: $(cat "$W/deadjob.err")"
for _ in $(seq 300); do kill -0 "$DLJ" 2>/dev/null || break; sleep 0.1; done
if wait "$DLJ"; then fail "the session past its drain deadline went on"; fi
file_has "$W/deadjob.err" "drain deadline" || fail "the end at the deadline does not say why: $(cat "$W/deadjob.err")"
[[ $(grep -c "is draining its server" "$W/deadjob.err") -eq 1 ]] || fail "the warning was not said once"
admin server undrain sim1 >/dev/null || fail "undrain sim1"
ok "drain (running session finished, new ones refused with the reason, undrain restores; with a deadline the program is warned on stderr, then ended at it)"

# --- kill: through the pool -------------------------------------------------------------------
RGPU_JOB_SLEEP_S=120 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --label n=2 -- "$PROG" sleep >"$W/killjob.out" 2>"$W/killjob.err" &
KJ=$!
JOB_PIDS+=($KJ)
wait_for 60 file_has "$W/killjob.out" '^running' || fail "the job to kill did not start"
wait_for 30 has_lease_where provider=sim2 state=active || fail "the pool did not see it start"
KL=$(lease_id_where provider=sim2 state=active)
admin session kill "$KL" --reason e2e-kill >/dev/null || fail "session kill"
for _ in $(seq 600); do kill -0 "$KJ" 2>/dev/null || break; sleep 0.1; done
if wait "$KJ"; then fail "the killed session's program exited 0"; fi
file_has "$W/killjob.err" 'FAIL session lost' || fail "the killed program did not see its session end"
wait_for 30 has_lease_where lease_id="$KL" state=killed || fail "lease $KL not marked killed"
# Told why, by the shim and by rgpu run's last line; never a variable the user did not set.
file_has "$W/killjob.err" 'session on server .* ended by an admin (bootstrap admin): e2e-kill' ||
  fail "the shim did not say why the session ended: $(cat "$W/killjob.err")"
[[ "$(tail -1 "$W/killjob.err")" == "rgpu: the session on sim2 ended by an admin (bootstrap admin): e2e-kill" ]] ||
  fail "rgpu run's last line does not say why: $(tail -1 "$W/killjob.err")"
if file_has "$W/killjob.err" 'RGPU_SERVER'; then fail "the error names RGPU_SERVER, which the user never set"; fi
ok "kill (the program's next call failed saying an admin ended it and why; rgpu run's last line too; the lease is killed)"

# --- missing: a server dies -------------------------------------------------------------------
RGPU_JOB_SLEEP_S=120 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --label n=3 -- "$PROG" sleep >"$W/lostjob.out" 2>"$W/lostjob.err" &
LJ=$!
JOB_PIDS+=($LJ)
wait_for 60 file_has "$W/lostjob.out" '^running' || fail "the job on sim3 did not start"
wait_for 30 has_lease_where provider=sim3 state=active || fail "the pool did not see the sim3 job start"
LL=$(lease_id_where provider=sim3 state=active)
kill -KILL "${SERVER_PIDS[2]}"
wait "${SERVER_PIDS[2]}" 2>/dev/null
KILLED_AT=$(date +%s)
for _ in $(seq 600); do kill -0 "$LJ" 2>/dev/null || break; sleep 0.1; done
if wait "$LJ"; then fail "the program on the killed server exited 0"; fi
file_has "$W/lostjob.err" 'FAIL session lost' || fail "the program did not see its session end"
wait_for 60 server_is sim3 missing || fail "sim3 is not missing: $(admin server list)"
if urun --label n=3 -- "$PROG" >"$W/missing.out" 2>"$W/missing.err"; then
  fail "placed on a missing server"
fi
file_has "$W/missing.err" missing || fail "the missing refusal does not say why"
# Its session ends once sim3 has been silent for --lost-after-ms, dated when it was last seen.
wait_for 60 has_lease_where lease_id="$LL" state=ended ||
  fail "the lost session was not ended: $(admin session list --all)"
LL_JSON=$(admin session list --all --json)
LL_ENDED=$(python3 -c 'import json,sys; print(next(l["ended"] for l in json.loads(sys.argv[2]) if l["lease_id"] == sys.argv[1]))' "$LL" "$LL_JSON")
[[ $LL_ENDED -ge $((KILLED_AT - 2)) && $LL_ENDED -le $KILLED_AT ]] ||
  fail "the lost session's end ($LL_ENDED) is not when its server died ($KILLED_AT)"
grep -q "provider lost" <<<"$LL_JSON" || fail "the lost session's end reason does not say the provider was lost"
ok "missing (the dead server's program failed; sim3 is missing and gets nothing; its session ended when sim3 died)"

# --- restart: the pool keeps its state ---------------------------------------------------------
stop_pid "$POOL_PID"
start_pool "127.0.0.1:$POOL_PORT" --lease-ttl 8
# A lease granted now (TTL 8 s), used after it expired, below.
user run --wait 60 --label n=1 -- sh -c 'echo "$RGPU_SERVER" >"$0/exp.server"
  echo "$RGPU_LEASE" >"$0/exp.lease"' "$W" >/dev/null 2>"$W/exp.err" || fail "capturing a lease failed"
EXP_AT=$(($(date +%s) + 9))
back() { server_is sim1 active && server_is sim2 active && server_is sim3 missing; }
wait_for 60 back || fail "after the pool restart sim1, sim2 are not active or sim3 not missing"
has_lease_where lease_id="$KL" state=killed || fail "the killed lease was forgotten"
urun --label n=1 -- "$PROG" >"$W/after.out" 2>"$W/after.err" || fail "the user token stopped working"
while [[ $(date +%s) -le $EXP_AT ]]; do sleep 0.2; done
if direct "$(cat "$W/exp.server")" "$(cat "$W/exp.lease")" expired; then
  fail "an expired lease was accepted"
fi
file_has "$W/expired.err" 'expired' || fail "the expired-lease refusal does not say why"
ok "restart (providers, tokens and leases kept; an expired lease is refused)"

# --- poolkill: the pool dies mid-session ---------------------------------------------------------
RGPU_JOB_SLEEP_S=5 LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$UTOK" run --label n=2 -- "$PROG" sleep >"$W/pkjob.out" 2>"$W/pkjob.err" &
PJ=$!
JOB_PIDS+=($PJ)
wait_for 60 file_has "$W/pkjob.out" '^running' || fail "the job for the pool kill did not start"
wait_for 30 has_lease_where provider=sim2 state=active || fail "the pool did not see it start"
PL=$(lease_id_where provider=sim2 state=active)
kill -KILL "$POOL_PID"
wait "$POOL_PID" 2>/dev/null
PK_DOWN=$(date +%s)
wait "$PJ" || fail "the program failed while its pool was down"
file_has "$W/pkjob.out" '^PASS' || fail "the program did not finish with its exact result"
PK_END=$(date +%s)
start_pool "127.0.0.1:$POOL_PORT" --lease-ttl 8
wait_for 60 has_lease_where lease_id="$PL" state=ended ||
  fail "the session's end was not recorded when the pool came back: $(admin session list --all)"
PK_ENDED=$(admin session list --all --json | python3 -c '
import json, sys
print(next(l["ended"] for l in json.load(sys.stdin) if l["lease_id"] == sys.argv[1]))' "$PL")
[[ $PK_ENDED -ge $PK_DOWN && $PK_ENDED -le $((PK_END + 1)) ]] ||
  fail "the session's recorded end ($PK_ENDED) is not when it ended ($PK_DOWN..$PK_END)"
ok "poolkill (a session went on while its pool was down; its end was recorded, at the time it ended, when the pool came back)"

# --- tls: control plane and data plane over mutual TLS ------------------------------------------
T="$W/certs"
mkdir -p "$T"
MK="$(dirname "$0")/../../scripts/make-certs.sh"
{ bash "$MK" --dir "$T" ca &&
  bash "$MK" --dir "$T" pool pool --san DNS:localhost,IP:127.0.0.1 &&
  bash "$MK" --dir "$T" server server --san DNS:localhost,IP:127.0.0.1 &&
  bash "$MK" --dir "$T" client client; } >"$W/certs.log" 2>&1 || fail "making test certificates"
"$BIN/rgpu-pool" --listen 127.0.0.1:0 --data-dir "$W/tpool" --port-file "$W/tpool.port" \
  --heartbeat-ms 200 --tls-cert "$T/pool.pem" --tls-key "$T/pool.key" --tls-ca "$T/ca.pem" \
  >>"$W/tpool.log" 2>&1 &
TPOOL_PID=$!
wait_for 30 test -s "$W/tpool.port" || fail "the TLS pool did not start"
TPOOL=127.0.0.1:$(cat "$W/tpool.port")
TADMIN=$(cat "$W/tpool/admin.token")
tls_env=(RGPU_POOL_TLS_CA="$T/ca.pem" RGPU_POOL_TLS_CERT="$T/client.pem"
         RGPU_POOL_TLS_KEY="$T/client.key" RGPU_TLS_CA="$T/ca.pem" RGPU_TLS_CERT="$T/client.pem"
         RGPU_TLS_KEY="$T/client.key")
tadmin() { env "${tls_env[@]}" "$BIN/rgpu" --pool "$TPOOL" --token "$TADMIN" "$@"; }
TPTOK=$(tadmin token create --role provider) || fail "token create over TLS"
TUTOK=$(tadmin token create --role user) || fail "token create over TLS"
"$BIN/rgpu-server" --backend sim --listen 127.0.0.1:0 --port-file "$W/tserver.port" \
  --pool "$TPOOL" --join-token "$TPTOK" --name tls1 --vram 4GiB --sim-plugin "$PLUGIN" \
  --tls-cert "$T/server.pem" --tls-key "$T/server.key" --tls-ca "$T/ca.pem" \
  --pool-tls-ca "$T/ca.pem" --pool-tls-cert "$T/server.pem" --pool-tls-key "$T/server.key" \
  >"$W/tserver.log" 2>&1 &
SERVER_PIDS+=($!)
tls_active() { tadmin server list --json | grep -q '"state":"active"'; }
wait_for 60 tls_active || fail "the TLS provider did not register: $(tadmin server list 2>&1)"
env "${tls_env[@]}" LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --pool "$TPOOL" --token "$TUTOK" run \
  -- "$PROG" >"$W/tls.out" 2>"$W/tls.err" || fail "rgpu run over TLS failed"
file_has "$W/tls.out" '^PASS' || fail "the program run over TLS did not pass"
if "$BIN/rgpu" --pool "$TPOOL" --token "$TADMIN" server list >"$W/tls-plain.out" \
  2>"$W/tls-plain.err"; then
  fail "a client without TLS was served by the TLS pool"
fi
file_has "$W/tls-plain.err" RGPU_POOL_TLS_CA || fail "the plain client's refusal does not say what to set"
ok "tls (CLI, provider, rgpu run, lease and data plane over mutual TLS; a plain client refused)"

# --- sanitizers (the daemons stopped first, so their exit-time reports are in the logs) --------
for p in "${SERVER_PIDS[@]}"; do stop_pid "$p"; done
SERVER_PIDS=()
stop_pid "$POOL_PID"
POOL_PID=""
stop_pid "$TPOOL_PID"
TPOOL_PID=""
if grep -El 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$W"/*.log "$W"/*.err; then
  fail "a sanitizer report (files above)"
fi
echo "e2e_pool: PASS"
