#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds rgpu, starts a local pool and one
# provider (`rgpu-server`: the `cuda` backend when an NVIDIA GPU and driver are present, `sim`
# otherwise), and runs a real nvcc-built CUDA program (tests/e2e's vecadd) through the shim with
# `rgpu run`. Everything runs on loopback under a temporary directory that is removed at the end.
#
# RGPU_BUILD_DIR=DIR uses an already configured build directory instead of the release preset's
# build/ (it is built, not reconfigured).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
targets=(rgpu_cuda_shim rgpu-server rgpu-pool rgpu rgpu_e2e)
if [ -n "${RGPU_BUILD_DIR:-}" ]; then
  build=$(cd "$RGPU_BUILD_DIR" && pwd)
  echo "=== building rgpu in $build ==="
  cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
else
  build=$root/build
  echo "=== building rgpu (release preset, $build) ==="
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target "${targets[@]}"
fi
bin=$build/bin
work=$(mktemp -d /tmp/rgpu-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
show_log() { echo "--- $1 ---" >&2; cat "$1" >&2 || true; }

# wait_until SECONDS CMD...: polls CMD every 0.2 s.
wait_until() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

echo "=== starting the pool manager: rgpu-pool --listen 127.0.0.1:0 --data-dir $work/pool ==="
"$bin/rgpu-pool" --listen 127.0.0.1:0 --port-file "$work/pool.port" --data-dir "$work/pool" \
  >"$work/pool.log" 2>&1 &
pids+=($!)
wait_until 60 test -s "$work/pool.port" || { show_log "$work/pool.log"; exit 1; }
export RGPU_POOL="127.0.0.1:$(cat "$work/pool.port")"
admin_token=$(cat "$work/pool/admin.token")
provider_token=$("$bin/rgpu" --token "$admin_token" token create --role provider --name demo-provider)
user_token=$("$bin/rgpu" --token "$admin_token" token create --role user --name demo-user)

backend=sim
if [ -e /dev/nvidiactl ] && ldconfig -p | grep 'libcuda.so.1 ' >/dev/null; then backend=cuda; fi
server_args=(--backend "$backend" --listen 127.0.0.1:0 --port-file "$work/server.port"
             --pool "$RGPU_POOL" --join-token "$provider_token" --name demo-gpu --label demo=yes)
if [ "$backend" = sim ]; then
  # The sim backend runs kernels from host implementations (tests/e2e/*_plugin.cc).
  server_args+=(--sim-plugin "$build/tests/e2e/plugins/vecadd_plugin.so")
fi
echo "=== starting a provider: rgpu-server ${server_args[*]/$provider_token/<provider token>} ==="
"$bin/rgpu-server" "${server_args[@]}" >"$work/server.log" 2>&1 &
pids+=($!)
server_active() { "$bin/rgpu" --token "$admin_token" server list --json | grep '"state":"active"' >/dev/null; }
wait_until 60 server_active || { show_log "$work/server.log"; show_log "$work/pool.log"; exit 1; }
"$bin/rgpu" --token "$admin_token" server list

echo "=== running a CUDA program through the shim: rgpu run -n 1 --vram 1GiB -- vecadd ==="
if ! "$bin/rgpu" --token "$user_token" run -n 1 --vram 1GiB -- "$build/tests/e2e/bin/vecadd_static"; then
  show_log "$work/server.log"
  exit 1
fi
"$bin/rgpu" --token "$admin_token" session list --all
echo "=== done: the program ran on a remote ($backend) GPU through rgpu ==="
