#!/usr/bin/env bash
# bench/figure6.sh — figure 6: training loops over emulated links, against their ideal.
#
#   bench/figure6.sh [--build DIR] [--links "1:1000 20:100 50:20"] [--steps 30]
#                    [--programs "train_loop driver_loop"]
#
# Two programs, against one `rgpu-server --backend sim` with their kernel plugins: train_loop,
# tests/e2e/train_loop.cu (nvcc-built, unmodified, through cudart and the shim), and
# driver_loop, bench/driver_loop.cc (the driver-API training-like loop of figure 4). Each runs
# on loopback and then through rgpu_link (bench/link_emulator.cc) for each link
# ONE_WAY_MS:MBIT. Each case runs the program twice with RGPU_STATS on, for 1 step and for
# 1 + S steps:
#   step      = (wall time, sync round trips, bytes both ways) of the difference, / S
#   ideal     = step syncs x RTT + step bytes / rate + the loopback step (the device's time and
#               the loopback's own round trips)
#   start-up  = the 1-step run less one step: process start, cuInit, context, module, the first
#               kernel, exit
#   its ideal = 3 x RTT + its bytes / rate + loopback start-up
# Budgets (issue 15): step <= 1.1x ideal; start-up <= 1.1x its ideal. Prints one line per link
# and the start-up round trips and bytes. Exit status 0 even when a budget is missed (this is a
# measurement); 1 when a run failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build LINKS="1:1000 20:100 50:20" STEPS=30 PROGRAMS="train_loop driver_loop"
while (($#)); do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --links) LINKS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --programs) PROGRAMS=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "figure6.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
SERVER=$BUILD/bin/rgpu-server LINK=$BUILD/bin/rgpu_link SHIM=$BUILD/lib/rgpu
TRAIN=$BUILD/tests/e2e/bin/train_loop PLUGIN=$BUILD/tests/e2e/plugins/train_loop_plugin.so
DRIVER=$BUILD/bin/rgpu_driver_loop NOOP_PLUGIN=$BUILD/bench/librgpu_bench_noop_plugin.so
for p in $PROGRAMS; do
  case "$p" in train_loop|driver_loop) ;; *) echo "figure6.sh: no program $p (train_loop, driver_loop)" >&2; exit 2 ;; esac
done
NEED=("$SERVER" "$LINK" "$SHIM/libcuda.so.1")
[[ " $PROGRAMS " == *" train_loop "* ]] && NEED+=("$TRAIN" "$PLUGIN")
[[ " $PROGRAMS " == *" driver_loop "* ]] && NEED+=("$DRIVER" "$NOOP_PLUGIN")
for f in "${NEED[@]}"; do
  [[ -e "$f" ]] || { echo "figure6.sh: no $f (build it: cmake --build --preset release)" >&2; exit 1; }
done
W=$(mktemp -d /tmp/rgpu-figure6.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT

wait_port() {  # FILE: prints the port once written
  for _ in $(seq 200); do [[ -s "$1" ]] && { tr -d ' \n' <"$1" | sed 's/.*://'; return; }; sleep 0.05; done
  echo "figure6.sh: nothing listened (see $W)" >&2; exit 1
}
PLUGINS=()
[[ " $PROGRAMS " == *" train_loop "* ]] && PLUGINS+=(--sim-plugin "$PLUGIN")
[[ " $PROGRAMS " == *" driver_loop "* ]] && PLUGINS+=(--sim-plugin "$NOOP_PLUGIN")
"$SERVER" --backend sim "${PLUGINS[@]}" --image-cache off --listen 127.0.0.1:0 --port-file "$W/server.port" \
  --insecure >"$W/server.log" 2>&1 &
PIDS+=($!)
SERVER_PORT=$(wait_port "$W/server.port")

# run PORT STEPS: "wall_s syncs bytes" of one run of the program $PROG.
run() {
  local port=$1 steps=$2 t0 t1 exe=$TRAIN
  [[ $PROG == driver_loop ]] && exe=$DRIVER
  rm -f "$W/stats"
  t0=$(date +%s.%N)
  if ! LD_LIBRARY_PATH=$SHIM RGPU_SERVER=127.0.0.1:$port RGPU_STATS=1 RGPU_STATS_FILE=$W/stats \
      "$exe" --steps "$steps" >"$W/out" 2>"$W/err"; then
    echo "figure6.sh: $PROG --steps $steps through port $port failed:" >&2
    cat "$W/out" "$W/err" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  sed -n 's/^rgpu stats: [0-9]* driver calls, \([0-9]*\) sync round trips, .*, \([0-9]*\) bytes sent, \([0-9]*\) bytes received.*/\1 \2 \3/p' \
    "$W/stats" | awk -v a="$t0" -v b="$t1" '{print b - a, $1, $2 + $3}'
}
# measure PORT: "step_s step_syncs step_bytes start_s start_syncs start_bytes"
measure() {
  local one many
  one=$(run "$1" 1)
  many=$(run "$1" $((1 + STEPS)))
  echo "$one $many" | awk -v s="$STEPS" '{
    st = ($4 - $1) / s; sy = ($5 - $2) / s; by = ($6 - $3) / s;
    print st, sy, by, $1 - st, $2 - sy, $3 - by }'
}

i=0 PORTS=()
for l in $LINKS; do
  delay=${l%%:*} rate=${l##*:}
  "$LINK" --to "127.0.0.1:$SERVER_PORT" --delay-ms "$delay" --rate-mbit "$rate" \
    --port-file "$W/link$i.port" >"$W/link$i.log" 2>&1 &
  PIDS+=($!)
  PORTS+=("$(wait_port "$W/link$i.port")")
  i=$((i + 1))
done
for PROG in $PROGRAMS; do
  read -r base_step _ _ base_start _ _ < <(measure "$SERVER_PORT")
  awk -v p="$PROG" -v s="$STEPS" -v st="$base_step" -v su="$base_start" 'BEGIN {
    printf "figure 6: %s (%d steps), loopback step %.2f ms, start-up %.1f ms\n", p, s, st * 1000, su * 1000 }'
  i=0
  for l in $LINKS; do
    delay=${l%%:*} rate=${l##*:}
    read -r step syncs bytes start ssyncs sbytes < <(measure "${PORTS[$i]}")
    awk -v d="$delay" -v r="$rate" -v st="$step" -v sy="$syncs" -v by="$bytes" -v su="$start" \
        -v ssy="$ssyncs" -v sby="$sbytes" -v bst="$base_step" -v bsu="$base_start" 'BEGIN {
      rtt = 2 * d / 1000; bw = r * 1e6 / 8;
      ideal = sy * rtt + by / bw + bst;
      sideal = 3 * rtt + sby / bw + bsu;
      printf "  %3d ms, %5d Mbit/s: step %8.2f ms vs ideal %8.2f ms = %.2fx (%s 1.1x; %.1f round trips, %.0f KiB)\n",
        d, r, st * 1000, ideal * 1000, st / ideal, st / ideal <= 1.1 ? "within" : "OVER", sy, by / 1024;
      printf "                        start-up %6.0f ms vs ideal %6.0f ms = %.2fx (%s 1.1x; %.0f round trips, %.0f KiB)\n",
        su * 1000, sideal * 1000, su / sideal, su / sideal <= 1.1 ? "within" : "OVER", ssy, sby / 1024 }'
    i=$((i + 1))
  done
done
