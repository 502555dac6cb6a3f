#!/usr/bin/env bash
# bench/pool_scale.sh — rgpu-pool at N = 100, 1,000 and 10,000 fake providers heartbeating every
# 5 s while M users place and release vGPUs (bench/pool_load.cc), with 1 replica on SQLite and 1
# and 3 replicas on PostgreSQL (a private cluster, tests/pool/pg_cluster.sh).
#
#   bench/pool_scale.sh [--bin build/bin] [--seconds 20] [--users 4] [--rate 20]
#                       [--sizes "100 1000 10000"]
#                       [--stores "sqlite pg1 pg3"]
#
# One line per run (pool_load.cc says what each figure is); the goal is 10,000 providers with a
# placement p99 under 50 ms on a 2-core machine, at --rate placements/s (0: saturation). Every pool and the generator share this
# machine's cores, so the CPU figures include their contention.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/../build/bin SECONDS_EACH=20 USERS=4 RATE=20 SIZES="100 1000 10000" STORES="sqlite pg1 pg3"
while (($#)); do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --stores) STORES=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "pool_scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for b in rgpu-pool rgpu rgpu_pool_load; do
  [[ -x "$BIN/$b" ]] || { echo "pool_scale.sh: no $BIN/$b (build it: cmake --build --preset release)" >&2; exit 1; }
done
if [[ -z "${RGPU_TEST_PG_URL:-}" && "$STORES" == *pg* ]]; then
  exec bash "$HERE/../tests/pool/pg_cluster.sh" -- bash "$0" --bin "$BIN" --seconds "$SECONDS_EACH" \
    --users "$USERS" --rate "$RATE" --sizes "$SIZES" --stores "$STORES"
fi
W=$(mktemp -d /tmp/rgpu-pool-scale.XXXXXX)
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
trap 'stop_all; rm -rf "$W"' EXIT
db=0
run() {  # STORE N
  local store=$1 n=$2 replicas=1 spec="" eps="" pids="" i
  stop_all
  rm -rf "$W"/r*
  case $store in
    sqlite) ;;
    pg1|pg3)
      replicas=${store#pg}
      db=$((db + 1))
      $RGPU_TEST_PG_PSQL -q -c "CREATE DATABASE bench$db OWNER rgpu" >/dev/null
      spec=${RGPU_TEST_PG_URL%/*}/bench$db ;;
  esac
  for ((i = 0; i < replicas; i++)); do
    local flags=(--listen 127.0.0.1:0 --data-dir "$W/r$i" --port-file "$W/r$i.port" --heartbeat-ms 5000)
    [[ -n "$spec" ]] && flags+=(--store "$spec" --replica "r$i")
    ((i > 0)) && flags+=(--key-file "$W/r0/pool.key")
    "$BIN/rgpu-pool" "${flags[@]}" >"$W/r$i.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do [[ -s "$W/r$i.port" ]] && break; sleep 0.1; done
    [[ -s "$W/r$i.port" ]] || { cat "$W/r$i.log" >&2; exit 1; }
    eps+=${eps:+,}127.0.0.1:$(cat "$W/r$i.port")
    pids+=${pids:+,}${PIDS[-1]}
  done
  local admin ptok utok
  admin=$(cat "$W/r0/admin.token")
  ptok=$("$BIN/rgpu" --pool "$eps" --token "$admin" token create --role provider --name load)
  utok=$("$BIN/rgpu" --pool "$eps" --token "$admin" token create --role user --name load)
  "$BIN/rgpu_pool_load" --pools "$eps" --provider-token "$ptok" --user-token "$utok" \
    --providers "$n" --users "$USERS" --rate "$RATE" --seconds "$SECONDS_EACH" --pids "$pids" \
    --tag "$store" $([[ $n -ge 10000 && "$RATE" != 0 ]] && echo --budget-ms 50)
}
over=0
for store in $STORES; do
  for n in $SIZES; do run "$store" "$n" || over=1; done
done
((over == 0)) || { echo "pool_scale.sh: a run failed or missed its budget (above)" >&2; exit 1; }
