#!/usr/bin/env bash
# tests/e2e/image_cache.sh — module images cached on the provider across sessions and restarts
# (server/worker/image_cache.h, ModuleLoadCached in protocol/ops.def). An unmodified program with
# large images (cuBLAS's) runs three times against one cache directory:
#   1. a fresh cache: it sends its images (RGPU_STATS bytes sent), the server files them;
#   2. after a server restart: it sends digests instead, at least 80 % fewer bytes, and the
#      server log says the images came from the cache;
#   3. with one cached file altered on disk: the server deletes it and asks for the bytes, the
#      program still passes, and the file is written again intact.
# Usage: image_cache.sh --server BIN --shim-dir DIR [--asan] -- PROGRAM [ARGS...]
set -uo pipefail
die() { echo "image_cache: FAIL: $*" >&2; exit 1; }
server="" shim_dir="" asan=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --shim-dir) shim_dir="$2"; shift 2 ;;
    --asan) asan=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $# -ge 1 && -x "$1" && -x "$server" ]] || die "usage: see the header"
T=$(mktemp -d /tmp/rgpu-image-cache-XXXXXX)
spid=""
cleanup() { [[ -n "$spid" ]] && kill -TERM "$spid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
preload=""
if [[ $asan -eq 1 ]]; then
  preload="$(gcc -print-file-name=libasan.so)"
  export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
fi
export LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

start_server() {  # a fresh server process on the same cache directory
  [[ -n "$spid" ]] && { kill -TERM "$spid"; wait "$spid" 2>/dev/null; }
  rm -f "$T/port"
  "$server" --backend sim --insecure --listen 127.0.0.1:0 --port-file "$T/port" \
    --image-cache "$T/images" >>"$T/server.log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do [[ -s "$T/port" ]] && return; sleep 0.1; done
  cat "$T/server.log" >&2
  die "the server did not start"
}
run() {  # N: runs the program, prints the bytes it sent (in $(...): callers add || exit 1)
  rm -f "$T/stats"
  if ! RGPU_SERVER="127.0.0.1:$(sed 's/.*://' "$T/port")" RGPU_STATS=1 RGPU_STATS_FILE="$T/stats" \
      LD_PRELOAD="$preload" timeout 120 "$@" >"$T/out$N" 2>"$T/err$N" || ! grep -q '^PASS' "$T/out$N"; then
    cat "$T/out$N" "$T/err$N" "$T/server.log" >&2
    die "run $N of $* failed"
  fi
  local sent
  sent=$(sed -n 's/^rgpu stats: .*, \([0-9]*\) bytes sent,.*/\1/p' "$T/stats")
  [[ "$sent" =~ ^[0-9]+$ ]] || die "run $N wrote no stats"
  echo "$sent"
}

start_server
N=1 first=$(run "$@") || exit 1
files=$(ls "$T/images" 2>/dev/null | wc -l)
((files > 0)) || die "the first run left no image in the cache"
echo "image_cache: run 1 sent $first bytes; $files images cached"

start_server
N=2 second=$(run "$@") || exit 1
echo "image_cache: run 2 (server restarted) sent $second bytes"
((second * 5 <= first)) || die "run 2 sent $second bytes, not 80 % fewer than run 1's $first"
grep -q "bytes from the image cache" "$T/server.log" || die "the server log names no cache hit"

big=$(ls -S "$T/images" | head -1)
printf 'X' | dd of="$T/images/$big" bs=1 seek=100 conv=notrunc status=none
N=3 third=$(run "$@") || exit 1
echo "image_cache: run 3 (one cached image altered) sent $third bytes"
grep -q "does not hold the image its name says; deleted" "$T/server.log" ||
  die "the server did not notice the altered image"
((third > second)) || die "run 3 sent $third bytes: the altered image was not sent again"
[[ "$(sha256sum "$T/images/$big" | cut -d' ' -f1)" == "$big" ]] ||
  die "the altered image was not written again intact"
echo "PASS image_cache"
