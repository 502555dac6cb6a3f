#!/usr/bin/env bash
# tests/pool/nearest.sh — latency-aware placement (issue 15 item 5): one rgpu-pool, two sim
# providers, each reached through bench/'s link emulator (rgpu_link) and advertising the
# link's address, so every byte a client sends them crosses the emulated delay.
#
# Usage: nearest.sh --bin DIR   (DIR holds rgpu-pool, rgpu-server, rgpu and rgpu_link)
# Checks, in order:
#   - "far" (25 ms each way) registers first, "near" (2 ms) second; binpack takes the first;
#   - `rgpu run --policy nearest` measures both (its round trips are printed, far's at least
#     50 ms) and is placed on near;
#   - with the delays swapped (far 2 ms, near 25 ms), nearest is placed on far: the choice
#     follows the measurement, not the order;
#   - a pool refuses an unknown policy, naming the ones it has.
set -uo pipefail

die() { echo "nearest: $*" >&2; exit 2; }
BIN=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for b in rgpu-pool rgpu-server rgpu rgpu_link; do [[ -x "$BIN/$b" ]] || die "no $BIN/$b"; done

W=$(mktemp -d "${TMPDIR:-/tmp}/rgpu-nearest.XXXXXX") || die "mktemp failed"
export XDG_STATE_HOME="$W/state"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
show_logs() { local f; for f in "$W"/*.log; do echo "----- $f"; cat "$f"; done; }
fail() { echo "nearest: FAIL: $*" >&2; show_logs >&2; exit 1; }
ok() { echo "nearest: ok $*"; }
wait_for() {
  local limit=$1 i; shift
  for ((i = 0; i < limit * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN/rgpu-pool" --listen 127.0.0.1:0 --data-dir "$W/pool" --port-file "$W/pool.port" \
  >"$W/pool.log" 2>&1 &
PIDS+=($!)
wait_for 30 test -s "$W/pool.port" || fail "the pool did not start"
export RGPU_POOL="127.0.0.1:$(sed 's/.*://' "$W/pool.port")"
ADMIN=$(cat "$W/pool/admin.token")
admin() { "$BIN/rgpu" --token "$ADMIN" "$@"; }
PTOK=$(admin token create --role provider --name nearest-provider 2>/dev/null) || fail "token"
UTOK=$(admin token create --role user --name nearest-user 2>/dev/null) || fail "token"

# provider NAME DELAY_MS: a sim server behind a link of that one-way delay, advertising the link.
declare -A LINK_PID SERVER_PORT
provider() {
  local name=$1 delay=$2 port
  port=$(free_port)
  "$BIN/rgpu_link" --to "127.0.0.1:$port" --delay-ms "$delay" --port-file "$W/$name.link.port" \
    >"$W/$name.link.log" 2>&1 &
  LINK_PID[$name]=$!
  PIDS+=($!)
  wait_for 30 test -s "$W/$name.link.port" || fail "the link for $name did not start"
  "$BIN/rgpu-server" --backend sim --listen "127.0.0.1:$port" --image-cache off \
    --advertise "127.0.0.1:$(sed 's/.*://' "$W/$name.link.port")" \
    --pool "$RGPU_POOL" --join-token "$PTOK" --name "$name" >"$W/$name.log" 2>&1 &
  PIDS+=($!)
  SERVER_PORT[$name]=$port
}
# relink NAME DELAY_MS: the same provider's link, now with another delay, on the same port.
relink() {
  local name=$1 delay=$2 lport
  lport=$(sed 's/.*://' "$W/$name.link.port")
  kill "${LINK_PID[$name]}" 2>/dev/null
  wait "${LINK_PID[$name]}" 2>/dev/null
  "$BIN/rgpu_link" --listen "127.0.0.1:$lport" --to "127.0.0.1:${SERVER_PORT[$name]}" \
    --delay-ms "$delay" >"$W/$name.link2.log" 2>&1 &
  LINK_PID[$name]=$!
  PIDS+=($!)
  wait_for 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$lport" || fail "the new link for $name"
}
active_count() { admin server list --json | grep -o '"state":"active"' | wc -l; }
provider far 25
at_least() { [[ $(active_count) -ge $1 ]]; }
wait_for 60 at_least 1 || fail "far did not become active"
provider near 2
wait_for 60 at_least 2 || fail "near did not become active"

urun() { "$BIN/rgpu" --token "$UTOK" run --vram 1GiB "$@" -- true 2>&1; }
placed() { sed -n 's/^rgpu: vGPU 0 -> \([^ ]*\) .*/\1/p' <<<"$1"; }
rtt_ms() {  # rtt_ms OUTPUT NAME: the round trip printed for NAME's advertised endpoint
  local ep="127.0.0.1:$(sed 's/.*://' "$W/$2.link.port")"
  sed -n "s/^rgpu: round trip to $ep: \([0-9.]*\) ms/\1/p" <<<"$1"
}

out=$(urun) || fail "binpack: $out"
[[ $(placed "$out") == far ]] || fail "binpack took $(placed "$out"), not the first registered"
ok "binpack takes the first registered (far)"

out=$(urun --policy nearest) || fail "nearest: $out"
far_ms=$(rtt_ms "$out" far) near_ms=$(rtt_ms "$out" near)
[[ -n "$far_ms" && -n "$near_ms" ]] || fail "nearest printed no round trips: $out"
python3 -c "import sys; sys.exit(0 if float('$far_ms') >= 50 and float('$near_ms') < 50 else 1)" ||
  fail "round trips far $far_ms ms, near $near_ms ms (far must be >= 50)"
[[ $(placed "$out") == near ]] || fail "nearest took $(placed "$out"): $out"
ok "nearest measured far $far_ms ms and near $near_ms ms and took near"

relink far 2
relink near 25
out=$(urun --policy nearest) || fail "nearest after the swap: $out"
[[ $(placed "$out") == far ]] || fail "after the swap nearest took $(placed "$out"): $out"
ok "with the delays swapped nearest took far ($(rtt_ms "$out" far) ms vs $(rtt_ms "$out" near) ms)"

out=$(urun --policy closest) && fail "an unknown policy was accepted"
grep -q "use binpack, spread or nearest" <<<"$out" || fail "unknown policy: $out"
ok "an unknown policy is refused"
