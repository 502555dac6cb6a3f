#!/bin/sh
# tests/interpose/run_live.sh SERVER SHIM_DIR PROGRAM [asan] — starts `rgpu-server --backend sim`
# on a free loopback port, runs PROGRAM through the shim against it, and stops the server. Exits
# with the program's status; prints the server log when the program fails. `asan`: the shim was
# built with RGPU_SANITIZE=ON and PROGRAM (nvcc-built) is not, so the runtime is preloaded.
set -u
server=$1 shim_dir=$2 prog=$3
if [ "${4:-}" = asan ]; then
  asan_rt=$(gcc -print-file-name=libasan.so)
  [ -e "$asan_rt" ] || { echo "ASan runtime not found (gcc -print-file-name=libasan.so)"; exit 1; }
  preload="$asan_rt${LD_PRELOAD:+:$LD_PRELOAD}"
else
  preload="${LD_PRELOAD:-}"
fi
dir=$(mktemp -d)
"$server" --backend sim --listen 127.0.0.1:0 --port-file "$dir/port" --insecure >"$dir/log" 2>&1 &
spid=$!
i=0
while [ ! -s "$dir/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$dir/port" ]; then
  echo "rgpu-server did not start:"; cat "$dir/log"; kill $spid 2>/dev/null; exit 1
fi
RGPU_SERVER=127.0.0.1:$(cat "$dir/port") LD_LIBRARY_PATH="$shim_dir" LD_PRELOAD="$preload" "$prog"
rc=$?
kill $spid 2>/dev/null
wait $spid 2>/dev/null
[ $rc -ne 0 ] && cat "$dir/log"
rm -rf "$dir"
exit $rc
