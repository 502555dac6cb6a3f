#!/usr/bin/env bash
# tests/gpu/run_gpu_suite.sh — the GPU suite: the e2e programs, cuBLAS and PyTorch, run natively
# and through the rgpu shim against `rgpu-server --backend cuda` on loopback; prints a table.
#
# Usage: tests/gpu/run_gpu_suite.sh [--build DIR] [--python PY] [--keep-logs DIR]
# Builds nothing: DIR (default $RGPU_BUILD, else <repo>/build) must already hold bin/rgpu-server,
# lib/rgpu/libcuda.so.1 and tests/e2e/bin/* (ninja rgpu_e2e). Needs a real NVIDIA driver.
# A row matches when both runs pass (exit 0 and a PASS line); the PyTorch row matches when both
# final losses agree within 1e-5. multi_device runs through the shim only, with two servers on
# the same GPU (two vGPUs); natively there is one device. Exit status: 0 only if every row matches.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build="${RGPU_BUILD:-$here/../../build}"
python="${PYTHON:-python3}"
keep=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --keep-logs) keep="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run_gpu_suite: unknown argument $1" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" 2>/dev/null && pwd) || { echo "run_gpu_suite: no build dir" >&2; exit 2; }
server="$build/bin/rgpu-server"
shim_dir="$build/lib/rgpu"
bin="$build/tests/e2e/bin"
for f in "$server" "$shim_dir/libcuda.so.1" "$bin/vecadd_static"; do
  [[ -e "$f" ]] || { echo "run_gpu_suite: missing $f (build it first: ninja rgpu_e2e)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/rgpu-gpu.XXXXXX")
server_pids=()
stop_servers() {
  local pid
  for pid in "${server_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; done
  for pid in "${server_pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  server_pids=()
}
finish() {
  stop_servers
  if [[ -n "$keep" ]]; then mkdir -p "$keep" && cp -r "$work"/. "$keep"/; fi
  rm -rf "$work"
}
trap finish EXIT

# start_server NAME VAR: starts a server, sets VAR=127.0.0.1:PORT (no subshell: keeps the pid).
start_server() {
  local name=$1 port=""
  setsid "$server" --backend cuda --listen 127.0.0.1:0 --port-file "$work/$name.port" --insecure \
    >"$work/$name.log" 2>&1 &
  server_pids+=($!)
  for _ in $(seq 300); do
    if [[ -s "$work/$name.port" ]]; then
      port=$(tr -d ' \n\r' <"$work/$name.port"); port=${port##*:}
      [[ "$port" =~ ^[0-9]+$ ]] && break
    fi
    sleep 0.1
  done
  [[ "$port" =~ ^[0-9]+$ ]] || { echo "run_gpu_suite: server $name did not start:" >&2; cat "$work/$name.log" >&2; return 1; }
  printf -v "$2" '127.0.0.1:%s' "$port"
}

ep_a="" ep_b=""
start_server a ep_a || exit 1
start_server b ep_b || exit 1

rows=()
failures=0
# run_one LOG MODE(native|shim) ENDPOINTS CMD... -> exit code; output in LOG
run_one() {
  local log=$1 mode=$2 eps=$3; shift 3
  if [[ $mode == shim ]]; then
    LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" RGPU_SERVER="$eps" \
      timeout --kill-after=5 300 "$@" >"$log" 2>&1
  else
    timeout --kill-after=5 300 "$@" >"$log" 2>&1
  fi
}
verdict() {  # verdict RC LOG -> pass|FAIL(rc)
  if [[ $1 -eq 0 ]] && grep -q '^PASS' "$2"; then echo pass; else echo "FAIL($1)"; fi
}
add_row() {  # add_row NAME NATIVE SHIM MATCH
  rows+=("$(printf '%-28s %-16s %-16s %s' "$1" "$2" "$3" "$4")")
  [[ $4 == yes ]] || failures=$((failures + 1))
}

programs=(vecadd_static vecadd_shared vecadd_ptx vecadd_compress_all streams streams_ptds threads
          errors cublas_gemm)
for p in "${programs[@]}"; do
  if [[ ! -x "$bin/$p" ]]; then add_row "$p" missing missing no; continue; fi
  run_one "$work/$p.native.log" native "" "$bin/$p"; n=$(verdict $? "$work/$p.native.log")
  run_one "$work/$p.shim.log" shim "$ep_a" "$bin/$p"; s=$(verdict $? "$work/$p.shim.log")
  [[ $n == pass && $s == pass ]] && m=yes || m=no
  add_row "$p" "$n" "$s" "$m"
done

# Two vGPUs on one GPU through two servers.
if [[ -x "$bin/multi_device" ]]; then
  run_one "$work/multi_device.shim.log" shim "$ep_a,$ep_b" "$bin/multi_device"
  s=$(verdict $? "$work/multi_device.shim.log")
  add_row multi_device "n/a(1 GPU)" "$s" "$([[ $s == pass ]] && echo yes || echo no)"
fi

# PyTorch MLP: final losses must agree within 1e-5.
if "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  run_one "$work/torch.native.log" native "" "$python" "$here/torch_mlp.py"; nrc=$?
  run_one "$work/torch.shim.log" shim "$ep_a" "$python" "$here/torch_mlp.py"; src=$?
  nl=$(sed -n 's/^RGPU_TORCH_MLP loss_after_50=//p' "$work/torch.native.log")
  sl=$(sed -n 's/^RGPU_TORCH_MLP loss_after_50=//p' "$work/torch.shim.log")
  m=no
  if [[ $nrc -eq 0 && $src -eq 0 && -n "$nl" && -n "$sl" ]] &&
     "$python" -c "import sys; sys.exit(0 if abs(float('$nl') - float('$sl')) <= 1e-5 else 1)"; then
    m=yes
  fi
  add_row torch_mlp "${nl:-FAIL($nrc)}" "${sl:-FAIL($src)}" "$m"
else
  add_row torch_mlp "skipped" "skipped" "no (no torch with CUDA for $python)"
fi

printf '\n%-28s %-16s %-16s %s\n' program native shim match
printf '%s\n' "${rows[@]}"
if [[ $failures -gt 0 ]]; then
  echo
  echo "run_gpu_suite: $failures row(s) did not match; logs of the failing runs:"
  for f in "$work"/*.log; do
    if ! grep -q '^PASS\|RGPU_TORCH_MLP' "$f" 2>/dev/null; then echo "----- $(basename "$f")"; tail -40 "$f"; fi
  done
  exit 1
fi
echo "run_gpu_suite: all rows match"
