#!/usr/bin/env bash
# tests/pool/dashboard_browser.sh — rgpu-pool's dashboard in a real browser: one pool serving
# --http, two `rgpu-server --backend sim` providers (sim1 registered by provider token "lender-a",
# sim2 by "lender-b"), real CUDA programs through the shim with `rgpu run` for two users, rates
# and a payout; then tests/pool/dashboard_browser.py drives headless Chromium through
# chromedriver, logs in as the provider, the user and an admin, and checks the numbers on the
# page against what the CLI's --json answers say, that a user sees no one else's data (page and
# API), and that a screenshot is not blank.
#
# Usage: dashboard_browser.sh --bin DIR --shim-dir DIR --plugin SO [--asan] [--shot PNG] -- PROGRAM
#   as tests/pool/e2e_pool.sh (PROGRAM: tests/e2e's pool_job, SO: its sim kernel plugin).
set -uo pipefail

die() { echo "dashboard_browser: $*" >&2; exit 2; }
BIN="" SHIM="" PLUGIN="" ASAN=0 SHOT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --shim-dir) SHIM="$2"; shift 2 ;;
    --plugin) PLUGIN="$2"; shift 2 ;;
    --shot) SHOT="$2"; shift 2 ;;
    --asan) ASAN=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $# -ge 1 ]] || die "no program given (after --)"
PROG="$1"
for b in rgpu-pool rgpu-server rgpu; do [[ -x "$BIN/$b" ]] || die "no $BIN/$b"; done
[[ -e "$SHIM/libcuda.so.1" ]] || die "no libcuda.so.1 in $SHIM"
[[ -f "$PLUGIN" && -x "$PROG" ]] || die "plugin or program not found"
command -v chromium >/dev/null && command -v chromedriver >/dev/null ||
  die "chromium and chromedriver are needed: run scripts/install-deps.sh (Debian's chromium, chromium-driver)"

W=$(mktemp -d "${TMPDIR:-/tmp}/rgpu-dashboard.XXXXXX") || die "mktemp failed"
export XDG_STATE_HOME="$W/state" RGPU_SHIM_DIR="$SHIM"
PIDS=()
PRELOAD=""
if [[ $ASAN -eq 1 ]]; then
  PRELOAD=$(gcc -print-file-name=libasan.so)
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
  echo "dashboard_browser: FAIL: $*" >&2
  for f in "$W"/*.log "$W"/*.err; do [[ -f "$f" ]] && { echo "----- $f"; tail -40 "$f"; }; done >&2
  exit 1
}
wait_for() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
jget() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"; }

"$BIN/rgpu-pool" --listen 127.0.0.1:0 --data-dir "$W/pool" --port-file "$W/pool.port" \
  --http 127.0.0.1:0 --util-sample-s 1 --heartbeat-ms 200 >"$W/pool.log" 2>&1 &
PIDS+=($!)
wait_for 30 grep -q "dashboard on" "$W/pool.log" || fail "the pool did not start its dashboard"
URL=$(sed -n 's/^rgpu-pool: dashboard on \(http[^ ]*\)$/\1/p' "$W/pool.log")
export RGPU_POOL=127.0.0.1:$(cat "$W/pool.port")
ADMIN=$(cat "$W/pool/admin.token")
admin() { "$BIN/rgpu" --token "$ADMIN" "$@"; }
mk() { admin token create --role "$1" --name "$2" --json; }
PA=$(mk provider lender-a) && PB=$(mk provider lender-b) && UA=$(mk user alice) &&
  UB=$(mk user '<b id="xss">mallory</b>') && UC=$(mk user carol) || fail "token create"
tok() { jget token <<<"$1"; }
tid() { jget id <<<"$1"; }
i=0
for p in "$PA" "$PB"; do
  i=$((i + 1))
  "$BIN/rgpu-server" --backend sim --listen 127.0.0.1:0 --pool "$RGPU_POOL" \
    --join-token "$(tok "$p")" --name "sim$i" --label "n=$i" --vram 4GiB --receipt-interval 0.5 \
    --sim-plugin "$PLUGIN" >"$W/server$i.log" 2>&1 &
  PIDS+=($!)
done
active() { [[ $(admin server list --json | grep -o '"state":"active"' | wc -l) -eq 2 ]]; }
wait_for 60 active || fail "the providers did not register: $(admin server list)"
admin rate set --gpu-hour 36 --gib-hour 1 --fee 10 2>/dev/null || fail "rate set"

run_as() {  # run_as TOKEN LABEL NAME [PROGRAM ARGS]
  LD_PRELOAD="$PRELOAD" "$BIN/rgpu" --token "$1" run --label "$2" -- "$PROG" "${@:4}" >"$W/$3.out" 2>"$W/$3.err" ||
    fail "rgpu run ($3) failed"
  grep -q '^PASS' "$W/$3.out" || fail "the program ($3) did not pass"
}
run_as "$(tok "$UA")" n=1 alice1
# A session held open for 3 s: the utilisation chart samples its leased memory (each second).
RGPU_JOB_SLEEP_S=3 run_as "$(tok "$UA")" n=1 alice2 sleep
run_as "$(tok "$UB")" n=1 mallory1
run_as "$(tok "$UB")" n=2 mallory2
settled() { [[ $(admin earnings --json | python3 -c '
import json, sys; print(sum(r["sessions"] for r in json.load(sys.stdin) if r["kind"] == "provider"))') -eq 4 ]]; }
wait_for 60 settled || fail "the 4 sessions were not settled: $(admin earnings)"
# A payout of half sim1's earnings (so paid and pending both show), on an external rail.
EARNED=$(admin earnings --json | python3 -c '
import json, sys; print(next(r["earned"] for r in json.load(sys.stdin) if r["name"] == "sim1"))')
HALF=$(python3 -c "import sys; from decimal import Decimal as D; print((D('$EARNED') / 2).quantize(D('0.000001')))")
admin payout record sim1 "$HALF" --ref "wire-2026-001" 2>/dev/null || fail "payout record"
REVOKED=$(tok "$UC")
admin token revoke "$(tid "$UC")" 2>/dev/null || fail "token revoke"

# What the page must show, from the CLI (the RPC path, not the dashboard's).
admin session list --all --json >"$W/sessions.json" || fail "session list"
"$BIN/rgpu" --token "$(tok "$PA")" earnings --json >"$W/pa.json" || fail "earnings (provider)"
"$BIN/rgpu" --token "$(tok "$UA")" earnings --json >"$W/ua.json" || fail "earnings (user)"
admin ledger head --json >"$W/head.json" || fail "ledger head"
python3 - "$W" "$(tok "$PA")" "$(tok "$UA")" "$(tid "$UA")" "$(tok "$UB")" "$(tid "$UB")" \
  "$(tok "$ADMIN" 2>/dev/null || echo "$ADMIN")" "$REVOKED" <<'PY' || fail "could not write the expectations"
import json, sys
w, ptok, utok, uid, otok, oid, atok, revoked = sys.argv[1:]
ls = json.load(open(w + "/sessions.json"))
pa = next(r for r in json.load(open(w + "/pa.json")) if r["kind"] == "provider")
ua = next(r for r in json.load(open(w + "/ua.json")) if r["kind"] == "user")
on = lambda f: [l["lease_id"] for l in ls if f(l)]
ex = {
  "provider": {"token": ptok, "provider": "sim1", "earned": pa["earned"], "paid": pa["paid"],
               "pending": pa["pending"], "sessions": pa["sessions"], "payout_ref": "wire-2026-001",
               "peak_leased": "%.2f GiB" % (max(l["vram_bytes"] for l in ls if l["provider"] == "sim1") / 2**30),
               "leases": on(lambda l: l["provider"] == "sim1"),
               "not_leases": on(lambda l: l["provider"] != "sim1")},
  "user": {"token": utok, "token_id": uid, "spent": ua["spent"], "sessions": ua["sessions"],
           "leases": on(lambda l: l["token_id"] == uid),
           "not_leases": on(lambda l: l["token_id"] != uid)},
  "other_user": {"token": otok, "token_id": oid},
  "admin": {"token": atok, "ledger_size": json.load(open(w + "/head.json"))["size"],
            "evil_name": '<b id="xss">mallory</b>'},
  "revoked": revoked,
}
assert len(ex["user"]["leases"]) == 2 and len(ex["provider"]["leases"]) == 3, ex
json.dump(ex, open(w + "/expect.json", "w"))
PY
SHOT_OUT=${SHOT:-$W/dashboard.png}
python3 "$(dirname "$0")/dashboard_browser.py" --url "$URL" --expect "$W/expect.json" \
  --shot "$SHOT_OUT" || fail "the browser checks failed"
# Over HTTPS: a pool with a certificate serves its dashboard with it; plain HTTP is not spoken.
MK="$(dirname "$0")/../../scripts/make-certs.sh"
bash "$MK" --dir "$W/certs" ca >/dev/null 2>&1 && bash "$MK" --dir "$W/certs" pool tpool --san IP:127.0.0.1 >/dev/null 2>&1 ||
  fail "make-certs failed"
"$BIN/rgpu-pool" --listen 127.0.0.1:0 --data-dir "$W/tpool" --http 127.0.0.1:0 \
  --tls-cert "$W/certs/tpool.pem" --tls-key "$W/certs/tpool.key" >"$W/tpool.log" 2>&1 &
PIDS+=($!)
wait_for 30 grep -q "dashboard on" "$W/tpool.log" || fail "the TLS pool did not start its dashboard"
TURL=$(sed -n 's/^rgpu-pool: dashboard on \(https[^ ]*\)$/\1/p' "$W/tpool.log")
[[ -n "$TURL" ]] || fail "the TLS pool's dashboard is not https: $(cat "$W/tpool.log")"
python3 - "$TURL" "$W/certs/ca.pem" "$(cat "$W/tpool/admin.token")" <<'PY' || fail "the dashboard over HTTPS"
import json, ssl, sys, urllib.request
url, ca, tok = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
req = urllib.request.Request(url + "api/v1/whoami", headers={"Authorization": "Bearer " + tok})
me = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))
assert me["role"] == "admin", me
try:
    urllib.request.urlopen(url.replace("https:", "http:") + "api/v1/whoami", timeout=5)
    sys.exit("plain HTTP was answered")
except Exception as e:
    pass
print("dashboard_browser: ok https (the pool's certificate; plain HTTP refused)")
PY
if [[ $ASAN -eq 1 ]] && grep -l "ERROR: AddressSanitizer\|runtime error:" "$W"/*.log "$W"/*.err 2>/dev/null; then
  fail "sanitizer reports"
fi
echo "dashboard_browser: ok"
