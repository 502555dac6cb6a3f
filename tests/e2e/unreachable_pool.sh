#!/usr/bin/env bash
# tests/e2e/unreachable_pool.sh — a CUDA program whose RGPU_POOL names a pool it cannot use
# fails cuInit cleanly: no signal, no hang, one message naming the pool and what went wrong.
# Cases: nothing listens (refused), a listener that never answers (hung), a host that does not
# resolve. Usage: unreachable_pool.sh --shim-dir DIR [--asan] -- PROGRAM
set -uo pipefail
die() { echo "unreachable_pool: $*" >&2; exit 1; }
shim_dir="" asan=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shim-dir) shim_dir="$2"; shift 2 ;;
    --asan) asan=1; shift ;;
    --) shift; break ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $# -ge 1 && -x "$1" ]] || die "no program given (after --)"
[[ -e "$shim_dir/libcuda.so.1" ]] || die "no libcuda.so.1 in '$shim_dir'"
prog="$1"
T=$(mktemp -d /tmp/rgpu-unreachable-XXXXXX)
hung_pid=""
cleanup() { [ -n "$hung_pid" ] && kill "$hung_pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

export LD_LIBRARY_PATH="$shim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RGPU_TOKEN=not-a-real-token
unset RGPU_SERVER RGPU_LEASE
# Under ASan the runtime is preloaded into the program only (not this script's helpers). Leak
# checks are off for these runs: cuInit fails, cudart unloads libcuda.so.1, and LeakSanitizer
# then reports ~1 KiB cudart allocated inside the unloaded shim (as tests/pool/e2e_pool.sh
# notes for its refused runs); every other sanitizer check stays on.
preload=""
if [[ $asan -eq 1 ]]; then
  preload="$(gcc -print-file-name=libasan.so)"
  export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi

# A port nothing listens on, and a listener that accepts and never says a word.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
refused=$(free_port)
python3 - "$T/hung.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
hung_pid=$!
for _ in $(seq 1 100); do [ -s "$T/hung.port" ] && break; sleep 0.05; done
[ -s "$T/hung.port" ] || die "the hung listener did not start"
hung=$(cat "$T/hung.port")

check() {  # $1 case name, $2 RGPU_POOL, $3 regex the message must match
  local start end rc
  start=$(date +%s)
  RGPU_POOL="$2" LD_PRELOAD="$preload" timeout --kill-after=5 60 "$prog" >"$T/out" 2>"$T/err"
  rc=$?
  end=$(date +%s)
  [[ $rc -ne 0 ]] || die "$1: the program succeeded with RGPU_POOL=$2"
  [[ $rc -lt 124 ]] || die "$1: exit $rc (signal or timeout) with RGPU_POOL=$2; stderr: $(cat "$T/err")"
  grep -Eq "rgpu: the pool at $2 placed no vGPU: .*$3" "$T/err" ||
    die "$1: stderr does not say why: $(cat "$T/err")"
  ! grep -Eq "AddressSanitizer|runtime error|terminate called" "$T/err" ||
    die "$1: sanitizer or runtime report: $(cat "$T/err")"
  (( end - start <= 30 )) || die "$1: took $((end - start)) s"
  echo "unreachable_pool: ok $1 ($((end - start)) s, exit $rc)"
}
check refused "127.0.0.1:$refused" "cannot reach the pool at 127.0.0.1:$refused.*refused"
check hung "127.0.0.1:$hung" "did not answer in time"
check unresolvable "no-such-host.invalid:7070" "cannot resolve the pool's host"
