#!/usr/bin/env bash
# bench/figure5.sh — figure 5 on a GPU machine: a PyTorch training step (small MLP, ResNet-18)
# natively and through the rgpu shim against `rgpu-server --backend cuda` on loopback, in
# interleaved rounds; prints each round and the median ratio against the budget (<= 1.05x), and
# the real loop's sync round trips per step (figure 4's budget, <= 4) from RGPU_STATS.
#
# Usage: bench/figure5.sh [--build DIR] [--python PY] [--rounds N] [--models "mlp resnet18"]
# Builds nothing: DIR (default $RGPU_BUILD, else <repo>/build-perf, else <repo>/build) must hold
# bin/rgpu-server and lib/rgpu/libcuda.so.1. Needs a real NVIDIA driver and PyTorch with CUDA.
# Exit status: 0 when every model was measured (a missed budget is reported, not an error),
# 2 when the machine cannot run it.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build="${RGPU_BUILD:-}"
python="${PYTHON:-python3}"
rounds=3
models="mlp resnet18"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "figure5: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$build" ]]; then
  build="$here/../build-perf"
  [[ -x "$build/bin/rgpu-server" ]] || build="$here/../build"
fi
build=$(cd "$build" 2>/dev/null && pwd) || { echo "figure5: no build dir" >&2; exit 2; }
server="$build/bin/rgpu-server"
shim_dir="$build/lib/rgpu"
for f in "$server" "$shim_dir/libcuda.so.1"; do
  [[ -e "$f" ]] || { echo "figure5: missing $f" >&2; exit 2; }
done
if ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "figure5: $python has no PyTorch with a CUDA device; nothing to measure" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rgpu-fig5.XXXXXX")
server_pid=""
finish() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM -- "-$server_pid" 2>/dev/null || kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap finish EXIT
setsid "$server" --backend cuda --listen 127.0.0.1:0 --port-file "$work/port" --insecure \
  >"$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 300); do
  [[ -s "$work/port" ]] && { port=$(tr -d ' \n\r' <"$work/port"); port=${port##*:}; }
  [[ "$port" =~ ^[0-9]+$ ]] && break
  sleep 0.1
done
[[ "$port" =~ ^[0-9]+$ ]] || { echo "figure5: rgpu-server did not start:" >&2; cat "$work/server.log" >&2; exit 2; }

# step_ms MODE MODEL -> median ms per step (empty on failure; the log stays in $work)
step_ms() {
  local mode=$1 model=$2 log="$work/$1.$2.log"
  if [[ $mode == shim ]]; then
    LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" RGPU_SERVER="127.0.0.1:$port" \
      timeout --kill-after=5 600 "$python" "$here/torch_step.py" --model "$model" >"$log" 2>&1
  else
    timeout --kill-after=5 600 "$python" "$here/torch_step.py" --model "$model" >"$log" 2>&1
  fi
  sed -n 's/^RGPU_TORCH_STEP .*ms_per_step=\([0-9.]*\).*/\1/p' "$log"
}

echo "figure 5: PyTorch training step through the shim vs native (same GPU, loopback)"
echo "machine: $(nproc) cores, $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), $(date -u +%Y-%m-%d)"
status=0
for model in $models; do
  ratios=()
  for r in $(seq "$rounds"); do
    n=$(step_ms native "$model"); s=$(step_ms shim "$model")
    if [[ -z "$n" || -z "$s" ]]; then
      echo "  $model round $r: failed (native '${n}', shim '${s}'); log tails:"
      tail -5 "$work/native.$model.log" "$work/shim.$model.log" | sed 's/^/    /'
      status=1
      continue
    fi
    ratio=$("$python" -c "print(f'{$s / $n:.3f}')")
    ratios+=("$ratio")
    echo "  $model round $r: native ${n} ms, shim ${s} ms, ratio ${ratio}x"
  done
  if [[ ${#ratios[@]} -gt 0 ]]; then
    med=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    verdict=$("$python" -c "print('meets' if $med <= 1.05 else 'MISSES')")
    printf '5. %-10s median %sx of native   budget <= 1.05x  %s\n' "$model" "$med" "$verdict"
  fi
  # Figure 4 for the real loop: sync round trips per step, from RGPU_STATS of a 20- and a
  # 70-step run (the difference is 50 steady-state steps).
  syncs=()
  for steps in 20 70; do
    RGPU_STATS=1 RGPU_STATS_FILE="$work/stats.$model.$steps" \
      LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" RGPU_SERVER="127.0.0.1:$port" \
      timeout --kill-after=5 600 "$python" "$here/torch_step.py" --model "$model" --steps "$steps" \
      >"$work/stats.$model.$steps.log" 2>&1
    syncs+=("$(sed -n 's/^rgpu stats: [0-9]* driver calls, \([0-9]*\) sync round trips.*/\1/p' \
      "$work/stats.$model.$steps" 2>/dev/null)")
  done
  if [[ -n "${syncs[0]}" && -n "${syncs[1]}" ]]; then
    per=$("$python" -c "print(f'{(${syncs[1]} - ${syncs[0]}) / 50:.2f}')")
    verdict=$("$python" -c "print('meets' if $per <= 4 else 'MISSES')")
    printf '4. %-10s %s sync round trips per step   budget <= 4  %s\n' "$model" "$per" "$verdict"
  else
    echo "4. $model: no RGPU_STATS report from the shim runs"
  fi
done
exit $status
