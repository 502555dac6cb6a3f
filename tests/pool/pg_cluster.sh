#!/usr/bin/env bash
# tests/pool/pg_cluster.sh — runs a command beside a private PostgreSQL cluster.
#
#   pg_cluster.sh [--keep] -- CMD [ARGS...]
#
# initdb's a cluster in a fresh temporary directory (as the unprivileged `postgres` user when run
# as root: PostgreSQL refuses to run as root), starts it on a free loopback port with its socket
# in that directory, creates database `rgpu`, exports RGPU_TEST_PG_URL
# (postgresql://rgpu@127.0.0.1:PORT/rgpu) and RGPU_TEST_PG_DIR, runs CMD, then stops the cluster
# and removes the directory (--keep leaves it, for a look; RGPU_TEST_PG_OPTS adds server options,
# e.g. "-c log_min_duration_statement=5"). Exits with CMD's status. Needs
# Debian's postgresql-15 (scripts/install-deps.sh); nothing needs to run beforehand.
set -euo pipefail
keep=0
while (($#)); do
  case "$1" in
    --keep) keep=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "pg_cluster.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
(($#)) || { echo "pg_cluster.sh: no command given (pg_cluster.sh -- CMD ...)" >&2; exit 2; }
bin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bin="$d"; done
[ -n "$bin" ] || { echo "pg_cluster.sh: PostgreSQL's initdb was not found; run scripts/install-deps.sh" >&2; exit 1; }
dir=$(mktemp -d /tmp/rgpu-pg.XXXXXX)
as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  if ((keep)); then echo "pg_cluster.sh: left $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
"${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }
# Tests measure rgpu, not the disk: fsync off (a crash loses the test's database, nothing else).
"${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 ${RGPU_TEST_PG_OPTS:-}" start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
"${as[@]}" "$bin/psql" -h "$dir" -p "$port" -U postgres -q -c "CREATE ROLE rgpu LOGIN" -c "CREATE DATABASE rgpu OWNER rgpu" >/dev/null
export RGPU_TEST_PG_URL="postgresql://rgpu@127.0.0.1:$port/rgpu"
export RGPU_TEST_PG_DIR="$dir"
export RGPU_TEST_PG_PSQL="$bin/psql -h $dir -p $port -U postgres"
set +e
"$@"
rc=$?
set -e
exit $rc
