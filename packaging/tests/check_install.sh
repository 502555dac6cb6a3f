#!/bin/bash
# packaging/tests/check_install.sh BUILD_DIR [CMAKE] [CPACK] — the installed layout and the .deb
# packages of a built tree (ctest: packaging_install_layout, label packaging).
#
# 1. `cmake --install BUILD_DIR --prefix TMP`: bin/rgpu, bin/rgpu-server, bin/rgpu-pool and
#    lib/rgpu/libcuda.so.1 (SONAME libcuda.so.1, plus the libcuda.so link) exist, and no file named
#    libcuda* lands anywhere else; each program's --help runs; the installed `rgpu run` finds the
#    shim at <bin>/../lib/rgpu while a copy of rgpu outside the layout reports that it cannot; the
#    installed units start the installed binaries.
# 2. When cpack and dpkg-deb exist: `cpack -G DEB` makes rgpu-client, rgpu-server and rgpu-pool;
#    their file lists hold the same files under /usr and nothing on the system library path
#    (/usr/lib/<multiarch>, /lib), the units start /usr/bin/..., the control fields and maintainer
#    scripts are there, and the packaged rgpu runs from an unpacked client package.
# Prints one line per check; exits 0 when all hold, 1 on the first that does not.
set -uo pipefail
# `producer | grep -q` under pipefail is a race: grep -q exits at the first match, the producer
# may then die of SIGPIPE and the pipeline fails. gq reads all its input.
gq() { grep "$@" >/dev/null; }

BUILD=${1:?usage: check_install.sh BUILD_DIR [CMAKE] [CPACK]}
CMAKE=${2:-cmake}
CPACK=${3:-cpack}
TMP=$(mktemp -d /tmp/rgpu-pkg-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() { echo "ok: $*"; }

# --- 1. cmake --install -------------------------------------------------------------------------
P=$TMP/prefix
"$CMAKE" --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log" >&2; fail "cmake --install $BUILD --prefix $P"; }
ok "cmake --install --prefix $P"

for f in bin/rgpu bin/rgpu-server bin/rgpu-pool; do
  [ -f "$P/$f" ] && [ -x "$P/$f" ] || fail "$f is not an installed executable"
done
[ -f "$P/lib/rgpu/libcuda.so.1" ] && [ ! -L "$P/lib/rgpu/libcuda.so.1" ] ||
  fail "lib/rgpu/libcuda.so.1 is not an installed file"
[ "$(readlink "$P/lib/rgpu/libcuda.so")" = libcuda.so.1 ] ||
  fail "lib/rgpu/libcuda.so is not a link to libcuda.so.1"
if command -v readelf >/dev/null; then
  readelf -d "$P/lib/rgpu/libcuda.so.1" | gq 'SONAME.*\[libcuda\.so\.1\]' ||
    fail "the installed shim's SONAME is not libcuda.so.1"
fi
ok "bin/rgpu, bin/rgpu-server, bin/rgpu-pool, lib/rgpu/libcuda.so.1 (+ libcuda.so link)"

stray=$(find "$P" -name 'libcuda*' ! -path "$P/lib/rgpu/*")
[ -z "$stray" ] || fail "libcuda outside lib/rgpu: $stray"
ok "no libcuda* outside lib/rgpu"

"$P/bin/rgpu" --help >"$TMP/help" 2>&1 || fail "rgpu --help exited $?"
gq '^usage: rgpu' "$TMP/help" || fail "rgpu --help printed no usage"
"$P/bin/rgpu-server" --help >"$TMP/help" 2>&1 || fail "rgpu-server --help exited $?"
gq 'usage: rgpu-server' "$TMP/help" || fail "rgpu-server --help printed no usage"
"$P/bin/rgpu-pool" --help >"$TMP/help" 2>&1 || fail "rgpu-pool --help exited $?"
gq 'usage: rgpu-pool' "$TMP/help" || fail "rgpu-pool --help printed no usage"
ok "rgpu, rgpu-server, rgpu-pool --help run from the install"

# `rgpu run` looks for the shim before it needs a token or a pool, so with no token it stops
# either at "no token" (shim found) or at "the rgpu shim is not at ..." (not found).
run_rgpu() { env -u RGPU_TOKEN -u RGPU_SHIM_DIR -u RGPU_POOL "$1" run -- true 2>&1; }
out=$(run_rgpu "$P/bin/rgpu")
if echo "$out" | gq 'shim is not at'; then fail "installed rgpu run: $out"; fi
echo "$out" | gq 'token' || fail "installed rgpu run did not get to the token check: $out"
mkdir -p "$TMP/elsewhere/bin" && cp "$P/bin/rgpu" "$TMP/elsewhere/bin/"
out=$(run_rgpu "$TMP/elsewhere/bin/rgpu")
echo "$out" | gq "shim is not at $TMP/elsewhere/bin/../lib/rgpu" ||
  fail "rgpu outside the layout should miss the shim, said: $out"
ok "installed rgpu run finds the shim at <bin>/../lib/rgpu (and a stray copy does not)"

for u in rgpu-server rgpu-pool; do
  unit=$P/lib/systemd/system/$u.service
  [ -f "$unit" ] || fail "lib/systemd/system/$u.service not installed"
  gq "^ExecStart=$P/bin/$u " "$unit" || fail "$u.service does not start $P/bin/$u"
done
[ -f "$P/share/rgpu/examples/server.env" ] && [ -f "$P/share/rgpu/examples/rgpu-pool.default" ] ||
  fail "share/rgpu/examples/{server.env,rgpu-pool.default} not installed"
ok "units start <prefix>/bin/..., examples installed"

# systemd-analyze verify exits 0 even for unknown keys; what counts is a complaint naming a unit.
if command -v systemd-analyze >/dev/null; then
  units=("$P/lib/systemd/system/rgpu-server.service" "$P/lib/systemd/system/rgpu-pool.service")
  timeout 30 systemd-analyze verify "${units[@]}" >"$TMP/verify.log" 2>&1
  if grep -E 'rgpu-(server|pool)\.service:' "$TMP/verify.log"; then
    fail "systemd-analyze verify complains about the units"
  fi
  ok "systemd-analyze verify: no complaint about the units"
fi

# --- 2. Debian packages ------------------------------------------------------------------------
if ! command -v "$CPACK" >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "skip: no cpack or dpkg-deb; the .deb checks did not run"
  exit 0
fi
[ -f "$BUILD/CPackConfig.cmake" ] || fail "$BUILD/CPackConfig.cmake missing (packaging/ not configured)"
D=$TMP/deb
"$CPACK" -G DEB --config "$BUILD/CPackConfig.cmake" -B "$D" >"$TMP/cpack.log" 2>&1 ||
  { cat "$TMP/cpack.log" >&2; fail "cpack -G DEB"; }
deb_of() {
  local f
  f=$(ls "$D"/"$1"_*.deb 2>/dev/null | head -1)
  [ -n "$f" ] || fail "no $1 package among: $(ls "$D")"
  echo "$f"
}
CLIENT=$(deb_of rgpu-client) || exit 1
SERVER=$(deb_of rgpu-server) || exit 1
POOL=$(deb_of rgpu-pool) || exit 1
ok "cpack -G DEB: $(basename "$CLIENT") $(basename "$SERVER") $(basename "$POOL")"

# Paths of a package (symlinks listed as "path -> target"; keep the path).
files_of() { dpkg-deb -c "$1" | awk '{ print $6 }'; }
has() { files_of "$1" | gq -x "$2" || fail "$(basename "$1") lacks $2"; }
has "$CLIENT" ./usr/bin/rgpu
has "$CLIENT" ./usr/lib/rgpu/libcuda.so.1
has "$CLIENT" ./usr/lib/rgpu/libcuda.so
has "$SERVER" ./usr/bin/rgpu-server
has "$SERVER" ./usr/lib/systemd/system/rgpu-server.service
has "$SERVER" ./usr/share/rgpu/examples/server.env
has "$POOL" ./usr/bin/rgpu-pool
has "$POOL" ./usr/lib/systemd/system/rgpu-pool.service
has "$POOL" ./usr/share/rgpu/examples/rgpu-pool.default
for deb in "$CLIENT" "$SERVER" "$POOL"; do
  bad=$(files_of "$deb" | grep -E '^\./(usr/)?lib/[^/]*-linux-gnu/|^\./(usr/)?lib(64)?/libcuda' || true)
  [ -z "$bad" ] || fail "$(basename "$deb") installs on the system library path: $bad"
  bad=$(files_of "$deb" | grep libcuda | grep -v '^\./usr/lib/rgpu/' || true)
  [ -z "$bad" ] || fail "$(basename "$deb") has libcuda outside /usr/lib/rgpu: $bad"
done
ok "file lists: programs, shim in /usr/lib/rgpu, units; nothing on the system library path"

for pair in "$SERVER:rgpu-server" "$POOL:rgpu-pool"; do
  deb=${pair%%:*} u=${pair##*:}
  dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./usr/lib/systemd/system/$u.service" |
    gq "^ExecStart=/usr/bin/$u " || fail "$u.service in the package does not start /usr/bin/$u"
  for s in postinst prerm postrm; do
    dpkg-deb -I "$deb" "$s" >/dev/null 2>&1 || fail "$(basename "$deb") has no $s"
  done
  dpkg-deb -f "$deb" Depends | gq -w passwd || fail "$(basename "$deb") does not depend on passwd"
done
[ "$(dpkg-deb -f "$SERVER" Package)" = rgpu-server ] || fail "rgpu-server package name"
ok "packaged units start /usr/bin/...; maintainer scripts and Depends present"

X=$TMP/unpacked
dpkg-deb -x "$CLIENT" "$X"
"$X/usr/bin/rgpu" --help >/dev/null 2>&1 || fail "rgpu from the client package does not run"
out=$(run_rgpu "$X/usr/bin/rgpu")
if echo "$out" | gq 'shim is not at'; then fail "packaged rgpu run: $out"; fi
ok "rgpu from the unpacked client package runs and finds its shim"

# The package strips its files: the shim must still export the driver API (and only that) and
# load. cuDriverGetVersion is answered locally, without a server.
SHIM=$X/usr/lib/rgpu/libcuda.so.1
if command -v nm >/dev/null; then
  syms=$(nm -D --defined-only "$SHIM" | awk '$2 ~ /^[TWi]$/ { print $3 }')
  ncu=$(echo "$syms" | grep -c '^cu')
  other=$(echo "$syms" | grep -v '^cu' | head -3)
  [ "$ncu" -ge 100 ] || fail "the packaged shim exports only $ncu cu* functions"
  [ -z "$other" ] || fail "the packaged shim exports non-CUDA symbols: $other"
  ok "the packaged (stripped) shim exports $ncu cu* functions and nothing else"
fi
if command -v python3 >/dev/null && ! ldd "$SHIM" 2>/dev/null | gq 'lib[at]san'; then
  ver=$(timeout 20 python3 -c '
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
v = ctypes.c_int(0)
r = lib.cuDriverGetVersion(ctypes.byref(v))
print(r, v.value)' "$SHIM" 2>&1)
  case "$ver" in
    "0 "[1-9]*) ok "the packaged shim loads; cuDriverGetVersion -> ${ver#0 }" ;;
    *) fail "the packaged shim did not load or answer cuDriverGetVersion: $ver" ;;
  esac
fi
echo "all packaging checks passed"
