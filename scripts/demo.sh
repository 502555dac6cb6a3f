#!/usr/bin/env bash
# The README's main-job command: installs dependencies, builds rgpu, starts a local pool and one
# provider (`rgpu-server`: the `cuda` backend when an NVIDIA GPU and driver are present, `sim`
# otherwise), and runs a real nvcc-built CUDA program through the shim with `rgpu run`.
# Everything runs on loopback under a temporary directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
export PATH="$PATH:/usr/local/cuda/bin"
echo "=== building rgpu (release) ==="
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target rgpu_shim rgpu-server rgpu-pool rgpu rgpu_e2e
bin=$root/build/bin
work=$(mktemp -d /tmp/rgpu-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_file() { for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }

echo "=== starting the pool manager ==="
"$bin/rgpu-pool" --listen 127.0.0.1:0 --port-file "$work/pool.port" --data-dir "$work/pool" >"$work/pool.log" 2>&1 &
pids+=($!)
wait_file "$work/pool.port"
export RGPU_POOL="127.0.0.1:$(cat "$work/pool.port")"
export RGPU_TOKEN="$(cat "$work/pool/admin.token")"
provider_token=$("$bin/rgpu" token create --role provider --name demo-provider --quiet)

backend=sim
if [ -e /dev/nvidiactl ] && ldconfig -p | grep -q 'libcuda.so.1 '; then backend=cuda; fi
echo "=== starting a provider (rgpu-server, backend $backend) ==="
server_args=(--backend "$backend" --listen 127.0.0.1:0 --port-file "$work/server.port"
             --pool "$RGPU_POOL" --join-token "$provider_token" --label demo=yes)
if [ "$backend" = sim ]; then
  for p in "$root"/build/tests/e2e/librgpu_e2e_*_plugin.so; do server_args+=(--sim-plugin "$p"); done
fi
"$bin/rgpu-server" "${server_args[@]}" >"$work/server.log" 2>&1 &
pids+=($!)
wait_file "$work/server.port"
for _ in $(seq 1 50); do "$bin/rgpu" server list | grep -q active && break; sleep 0.2; done
"$bin/rgpu" server list

echo "=== running a CUDA program through the shim: rgpu run -n 1 --vram 1GiB -- vecadd ==="
"$bin/rgpu" run -n 1 --vram 1GiB -- "$root/build/tests/e2e/bin/vecadd"
echo "=== done: the program ran on a remote ($backend) GPU through rgpu ==="
