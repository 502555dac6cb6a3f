#!/usr/bin/env bash
# tests/e2e/run_e2e.sh — runs one unmodified CUDA program through the rgpu shim against fresh
# `rgpu-server --backend sim` instances, and judges the result.
#
# Usage: run_e2e.sh --server BIN --shim-dir DIR [--plugin SO]... [--servers N] [--asan]
#                   [--expect REGEX]... [--expect-stderr REGEX]... [--expect-server-log REGEX]...
#                   [--env K=V]... [--server-arg ARG]... [--timeout SEC] [--chain]
#                   [--link "RGPU_LINK ARGS"] -- PROGRAM [ARGS...]
# Starts N servers (default 1) on 127.0.0.1 with random ports (--port-file), runs PROGRAM with
# LD_LIBRARY_PATH=DIR RGPU_SERVER=127.0.0.1:P1[,127.0.0.1:P2...] under `timeout`, then stops the
# servers. Passes (exit 0) only if the program exits 0, prints a line starting with "PASS", its
# stdout matches every --expect, its stderr every --expect-stderr, the servers' logs every
# --expect-server-log, and no sanitizer report appears anywhere. On failure it prints the logs.
# --chain: each server the program talks to is `rgpu-server --cuda-driver DIR/libcuda.so.1`,
# whose cuda backend drives rgpu's own shim onto a sim server behind it (program -> shim ->
# cuda backend -> shim -> sim): the cuda backend's code runs without a GPU. --server-arg and
# --plugin go to the sim servers.
# --link: the program reaches each server through the link emulator (bench/link_emulator.cc,
# rgpu_link beside the server binary) started with those arguments, e.g. "--delay-ms 5
# --rate-mbit 100".
# --asan: the shim was built with RGPU_SANITIZE=ON; nvcc-built programs are not instrumented, so
# the ASan runtime is preloaded (it must come first in the process's library list).
set -u

die() { echo "run_e2e: $*" >&2; exit 2; }

server="" shim_dir="" nservers=1 asan=0 timeout_s=60 chain=0 link_args=""
plugins=() expects=() err_expects=() log_expects=() envs=() server_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --shim-dir) shim_dir="$2"; shift 2 ;;
    --plugin) plugins+=("$2"); shift 2 ;;
    --servers) nservers="$2"; shift 2 ;;
    --asan) asan=1; shift ;;
    --expect) expects+=("$2"); shift 2 ;;
    --expect-stderr) err_expects+=("$2"); shift 2 ;;
    --expect-server-log) log_expects+=("$2"); shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --server-arg) server_args+=("$2"); shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --chain) chain=1; shift ;;
    --link) link_args="$2"; shift 2 ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $# -ge 1 ]] || die "no program given (after --)"
[[ -x "$server" ]] || die "server binary not found or not executable: '$server'"
[[ -e "$shim_dir/libcuda.so.1" ]] || die "no libcuda.so.1 in shim dir '$shim_dir'"
[[ -x "$1" ]] || die "program not found or not executable: '$1'"
for p in "${plugins[@]}"; do [[ -f "$p" ]] || die "sim plugin not found: '$p'"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/rgpu-e2e.XXXXXX") || die "mktemp failed"
pids=()

stop_servers() {
  local pid i
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run_e2e: server pid $pid ignored SIGTERM for 5 s; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  pids=()
}
print_server_logs() {
  local f
  for f in "$work"/server*.log; do
    [[ -e "$f" ]] || continue
    echo "----- server log $f -----"
    cat "$f"
  done
  echo "----- end of server logs -----"
}
# shellcheck disable=SC2317  # invoked through trap
cleanup() { stop_servers; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start the servers, each in its own process group (its session workers go down with it).
# start_server TAG [ENV=V...] -- ARGS...: logs to server$TAG.log, port to port$TAG.
start_server() {
  local tag="$1"; shift
  local env_kv=()
  while [[ "$1" != "--" ]]; do env_kv+=("$1"); shift; done
  shift
  env "${env_kv[@]}" setsid "$server" --listen 127.0.0.1:0 --port-file "$work/port$tag" \
    --image-cache "$work/images$tag" \
    --insecure "$@" >"$work/server$tag.log" 2>&1 &
  pids+=($!)
}
# wait_port TAG PID: prints the port the server wrote, or fails the run.
wait_port() {
  local tag="$1" pid="$2" port="" t
  for ((t = 0; t < 200; t++)); do
    if [[ -s "$work/port$tag" ]]; then
      port=$(tr -d ' \n\r' <"$work/port$tag"); port=${port##*:}
      [[ "$port" =~ ^[0-9]+$ ]] && break
      port=""
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "run_e2e: FAIL: server $tag did not write its port file within 20 s (or exited)" >&2
    return 1
  fi
  echo "$port"
}
sim_args=(--backend sim)
for p in "${plugins[@]}"; do sim_args+=(--sim-plugin "$p"); done
sim_args+=("${server_args[@]}")
endpoints=""
for ((i = 0; i < nservers; i++)); do
  if [[ $chain -eq 1 ]]; then
    start_server "-sim$i" -- "${sim_args[@]}"
    if ! sim_port=$(wait_port "-sim$i" "${pids[-1]}"); then print_server_logs; exit 1; fi
    start_server "$i" "RGPU_SERVER=127.0.0.1:$sim_port" -- --cuda-driver "$shim_dir/libcuda.so.1"
  else
    start_server "$i" -- "${sim_args[@]}"
  fi
  if ! port=$(wait_port "$i" "${pids[-1]}"); then print_server_logs; exit 1; fi
  if [[ -n "$link_args" ]]; then
    link_bin="$(dirname "$server")/rgpu_link"
    [[ -x "$link_bin" ]] || die "--link: no link emulator at $link_bin"
    # shellcheck disable=SC2086  # the arguments are words
    setsid "$link_bin" --to "127.0.0.1:$port" --port-file "$work/port-link$i" $link_args \
      >"$work/server-link$i.log" 2>&1 &
    pids+=($!)
    if ! port=$(wait_port "-link$i" "${pids[-1]}"); then print_server_logs; exit 1; fi
  fi
  endpoints+="${endpoints:+,}127.0.0.1:$port"
done

# Run the program through the shim.
export LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RGPU_SERVER="$endpoints"
if [[ $asan -eq 1 ]]; then
  asan_rt=$(gcc -print-file-name=libasan.so)
  [[ -e "$asan_rt" ]] || die "ASan runtime not found (gcc -print-file-name=libasan.so)"
  export LD_PRELOAD="$asan_rt${LD_PRELOAD:+:$LD_PRELOAD}"
  # Leak detection stays on: cudart itself reports no leaks (tests/e2e/README.md, ASan).
  export ASAN_OPTIONS="${RGPU_E2E_ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
for kv in "${envs[@]}"; do export "${kv?}"; done
echo "run_e2e: RGPU_SERVER=$RGPU_SERVER LD_LIBRARY_PATH=$LD_LIBRARY_PATH${LD_PRELOAD:+ LD_PRELOAD=$LD_PRELOAD}"
echo "run_e2e: running: $*"
timeout --kill-after=5 "$timeout_s" "$@" >"$work/stdout" 2>"$work/stderr"
rc=$?
echo "----- program stdout -----"; cat "$work/stdout"
echo "----- program stderr -----"; cat "$work/stderr"
echo "----- program exit code: $rc -----"
stop_servers

fail=()
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  fail+=("the program timed out after ${timeout_s}s")
elif [[ $rc -ne 0 ]]; then
  fail+=("the program exited with $rc")
fi
grep -q '^PASS' "$work/stdout" || fail+=("the program printed no PASS line")
for re in "${expects[@]}"; do
  grep -Eq -- "$re" "$work/stdout" || fail+=("program stdout does not match /$re/")
done
for re in "${err_expects[@]}"; do
  grep -Eq -- "$re" "$work/stderr" || fail+=("program stderr does not match /$re/")
done
for re in "${log_expects[@]}"; do
  cat "$work"/server*.log | grep -Eq -- "$re" || fail+=("server logs do not match /$re/")
done
san_re='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'
grep -Eq "$san_re" "$work/stderr" && fail+=("a sanitizer report in the program's stderr")
cat "$work"/server*.log | grep -Eq "$san_re" && fail+=("a sanitizer report in a server log")

if [[ ${#fail[@]} -gt 0 ]]; then
  for f in "${fail[@]}"; do echo "run_e2e: FAIL: $f"; done
  print_server_logs
  exit 1
fi
echo "run_e2e: OK"
exit 0
